//! The measures service: plans, their actions (行动) and measures (措施), the units
//! responsible for each measure, and the import and export of a whole plan.
//!
//! # Storage
//!
//! A plan is stored as revisions (AIP-162). The `plan` table has one row per plan id
//! naming its current revision; `plan_revision` keeps every revision ever imported,
//! each as ONE JSON document ([`content::PlanContent`]): the plan header, actions,
//! measures (text, units as written, milestones, policy parameters), targets, and each
//! measure's responsible units resolved to department or group codes at import time.
//! A document per revision rather than normalised tables because a revision is
//! written once, never updated, always read whole (a plan is about 100 KB), and must
//! be compared whole with the next import: the `content_sha256` of its canonical form
//! is what makes an identical import UNCHANGED. What changes at read time (the members
//! of groups, designations) is not stored but asked from the departments service.
//!
//! # Import
//!
//! `ImportPlan` reads the dataset into the catalog model ([`dataset`]), validates it
//! with `duban_catalog::Plan::validate` against the directory read from the
//! departments service ([`directory`]), resolves every unit, hands the targets to the
//! targets service (`SyncPlanTargets`, idempotent) and only then commits the new
//! revision, so a failure in between is safe to retry.

// A panic reachable from a request drops the call without an answer (in the writer's
// task, every call queued behind it too): non-test code handles the error instead.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

mod check;
pub mod content;
pub mod convert;
pub mod dataset;
pub mod directory;
pub mod entity;
pub mod error;
pub mod grpc;
mod import;
pub mod migration;
mod reading;
pub mod service;
pub mod store;

use duban_kit::{Authenticator, GrpcServer, Ready, Settings, client::service_channel, metrics::Metrics};
use duban_proto::measures::v1::measures_service_server::MeasuresServiceServer;

pub use dataset::{from_catalog, to_catalog};
pub use error::MeasuresError;
pub use service::Measures;

/// The fully qualified gRPC service name, as health checks and reflection know it.
pub use duban_proto::measures::v1::measures_service_server::SERVICE_NAME;

/// Starts the measures server on `settings.measures.listen`. It answers NOT_SERVING
/// until its database is migrated. It reaches the departments service (tokens, the
/// directory, designations) and the targets service at their configured endpoints.
pub async fn start(settings: &Settings) -> std::io::Result<GrpcServer> {
    let ready = Ready::default();
    let limits = &settings.server;
    let service = MeasuresServiceServer::new(grpc::MeasuresGrpc { ready: ready.clone() })
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
    let routes = tonic::service::Routes::new(service);

    let departments = service_channel(settings, &settings.departments.endpoint_url())?;
    let targets = service_channel(settings, &settings.targets.endpoint_url())?;
    let metrics = Metrics::new();
    let server = GrpcServer::start(
        "measures",
        settings.measures.addresses(),
        limits,
        &[SERVICE_NAME],
        routes,
        &metrics,
    )
    .await?;

    let url = settings.measures.database_url_in(&settings.data_dir, "measures");
    let auth = Authenticator::asking_departments(settings, departments.clone());
    let directory = directory::DirectoryClient::new(departments, directory::DIRECTORY_TTL);
    let stopping = server.stopping();
    // NOT_SERVING while the database does not answer, SERVING again when it does.
    server.watch_database(ready.clone(), |state: &grpc::State| {
        duban_kit::idempotency::RequestLogged::request_log_db(&state.measures)
    });
    server.bring_up(ready, move || {
        let stopping = stopping.clone();
        let (url, auth, directory, targets, metrics) = (
            url.clone(),
            auth.clone(),
            directory.clone(),
            targets.clone(),
            metrics.clone(),
        );
        async move {
            let db = duban_kit::db::connect_and_migrate::<migration::Migrator>(&url).await?;
            metrics.watch_pool(&db);
            duban_kit::idempotency::keep_pruned(db.clone(), stopping);
            let measures = Measures::new(store::PlanStore::new(db), directory, targets);
            Ok::<_, MeasuresError>(grpc::State { measures, auth })
        }
    });
    Ok(server)
}
