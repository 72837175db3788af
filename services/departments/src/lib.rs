//! The departments service: the directory of responsible units and groups, the
//! per-measure designations of "relevant" groups, and the credentials every caller
//! authenticates with.

// A panic reachable from a request drops the call without an answer (in the writer's
// task, every call queued behind it too): non-test code handles the error instead.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

pub mod convert;
pub mod credentials;
pub mod entity;
pub mod error;
pub mod grpc;
pub mod migration;
pub mod seed;
pub mod service;
pub mod store;

use std::sync::Arc;

use duban_catalog::directory::Directory;
use duban_kit::{Authenticator, GrpcServer, Ready, Settings, auth::ServiceCredential, metrics::Metrics};
use duban_proto::departments::v1::{
    departments_internal_service_server::DepartmentsInternalServiceServer,
    departments_service_server::DepartmentsServiceServer,
};

pub use error::DepartmentsError;
pub use service::Departments;

/// The fully qualified gRPC service name, as health checks and reflection know it.
pub use duban_proto::departments::v1::departments_service_server::SERVICE_NAME;

/// The fully qualified name of the internal service (AuthenticateToken), for health checks.
pub use duban_proto::departments::v1::departments_internal_service_server::SERVICE_NAME as INTERNAL_SERVICE_NAME;

/// Starts the departments server on `settings.departments.listen` (metrics on
/// `metrics_listen`). It answers NOT_SERVING until its database is migrated and
/// `directory` is loaded.
pub async fn start(settings: &Settings, directory: Directory) -> std::io::Result<GrpcServer> {
    let ready = Ready::default();
    let limits = &settings.server;
    let grpc = grpc::DepartmentsGrpc { ready: ready.clone() };
    // The internal service is served here, beside the public one, but the gateway's
    // front door does not forward it.
    let internal = DepartmentsInternalServiceServer::new(grpc.clone())
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
    let service = DepartmentsServiceServer::new(grpc)
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
    let routes = tonic::service::Routes::new(service).add_service(internal);
    let metrics = Metrics::new();
    let server = GrpcServer::start(
        "departments",
        settings.departments.addresses(),
        limits,
        &[SERVICE_NAME, INTERNAL_SERVICE_NAME],
        routes,
        &metrics,
    )
    .await?;

    let url = settings.departments.database_url_in(&settings.data_dir, "departments");
    let auth_settings = settings.auth.clone();
    let service = ServiceCredential::from_settings(settings);
    let directory = Arc::new(directory);
    let stopping = server.stopping();
    // NOT_SERVING while the database does not answer, SERVING again when it does.
    server.watch_database(ready.clone(), |state: &grpc::State| {
        duban_kit::idempotency::RequestLogged::request_log_db(&state.departments)
    });
    server.bring_up(ready, move || {
        let stopping = stopping.clone();
        let (url, auth_settings, directory, service, metrics) = (
            url.clone(),
            auth_settings.clone(),
            directory.clone(),
            service.clone(),
            metrics.clone(),
        );
        async move {
            let db = duban_kit::db::connect_and_migrate::<migration::Migrator>(&url).await?;
            metrics.watch_pool(&db);
            let departments = Departments::new(store::DirectoryStore::new(db.clone()));
            departments.seed(&directory).await?;
            departments
                .ensure_bootstrap_admin(&auth_settings.bootstrap_admin_token)
                .await?;
            let verifier = Arc::new(credentials::LocalVerifier(departments.clone()));
            // No cache here: this service owns the credentials, so it checks them fresh.
            let auth = Authenticator::new(service, verifier, std::time::Duration::ZERO);
            let header = directory.header();
            let directory = duban_proto::departments::v1::Directory {
                code: header.code.clone(),
                display_name: header.name.clone(),
                display_name_en: header.name_en.clone(),
            };
            // Last: an attempt that failed above is retried, and must not leave a pruner behind.
            duban_kit::idempotency::keep_pruned(db, stopping);
            Ok::<_, DepartmentsError>(grpc::State {
                departments,
                auth,
                token_cache_ttl: auth_settings.cache_ttl(),
                directory,
            })
        }
    });
    Ok(server)
}
