//! The targets service: the quantified targets of a plan, every revision of them, and
//! the trajectory each is expected to follow until its deadline.

// A panic reachable from a request drops the call without an answer (in the writer's
// task, every call queued behind it too): non-test code handles the error instead.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

pub mod convert;
pub mod entity;
pub mod error;
pub mod grpc;
pub mod migration;
mod reading;
mod rebaseline;
mod revision;
pub mod rules;
pub mod service;
pub mod store;
mod sync;
/// The trajectory rules, shared with the gateway.
pub use duban_plan::trajectory;

use duban_kit::{Authenticator, GrpcServer, Ready, Settings, metrics::Metrics};
use duban_proto::{
    departments::v1::departments_service_client::DepartmentsServiceClient,
    targets::v1::{
        targets_internal_service_server::TargetsInternalServiceServer, targets_service_server::TargetsServiceServer,
    },
};

pub use error::TargetsError;
pub use service::Targets;

/// The fully qualified gRPC service name, as health checks and reflection know it.
pub use duban_proto::targets::v1::targets_service_server::SERVICE_NAME;

/// The fully qualified name of the internal service (SyncPlanTargets), for health checks.
pub use duban_proto::targets::v1::targets_internal_service_server::SERVICE_NAME as INTERNAL_SERVICE_NAME;

/// Starts the targets server on `settings.targets.listen`. It answers NOT_SERVING until
/// its database is migrated. Tokens are checked by the departments server at
/// `settings.departments`.
pub async fn start(settings: &Settings) -> std::io::Result<GrpcServer> {
    let ready = Ready::default();
    let limits = &settings.server;
    let grpc = grpc::TargetsGrpc { ready: ready.clone() };
    // The internal service is served here, beside the public one, but the gateway's
    // front door does not forward it.
    let internal = TargetsInternalServiceServer::new(grpc.clone())
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
    let service = TargetsServiceServer::new(grpc)
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
    let routes = tonic::service::Routes::new(service).add_service(internal);
    let channel = duban_kit::client::service_channel(settings, &settings.departments.endpoint_url())?;
    let metrics = Metrics::new();
    let server = GrpcServer::start(
        "targets",
        settings.targets.addresses(),
        limits,
        &[SERVICE_NAME, INTERNAL_SERVICE_NAME],
        routes,
        &metrics,
    )
    .await?;

    let url = settings.targets.database_url_in(&settings.data_dir, "targets");
    let auth = Authenticator::asking_departments(settings, channel.clone());
    let stopping = server.stopping();
    // NOT_SERVING while the database does not answer, SERVING again when it does.
    server.watch_database(ready.clone(), |state: &grpc::State| {
        duban_kit::idempotency::RequestLogged::request_log_db(&state.targets)
    });
    server.bring_up(ready, move || {
        let stopping = stopping.clone();
        let (url, auth, channel, metrics) = (url.clone(), auth.clone(), channel.clone(), metrics.clone());
        async move {
            let db = duban_kit::db::connect_and_migrate::<migration::Migrator>(&url).await?;
            metrics.watch_pool(&db);
            duban_kit::idempotency::keep_pruned(db.clone(), stopping);
            let targets = Targets::new(
                store::TargetStore::new(db),
                Some(DepartmentsServiceClient::new(channel)),
            );
            Ok::<_, TargetsError>(grpc::State { targets, auth })
        }
    });
    Ok(server)
}
