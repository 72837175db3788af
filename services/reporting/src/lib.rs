//! The reporting service: typed progress reports per measure, department and month,
//! their review, the progress aggregates derived from them, compliance, a live event
//! stream and an audit trail. Writes go through one writer task that commits
//! concurrent submissions together (group commit, see [`writer`]).

// A panic reachable from a request drops the call without an answer (in the writer's
// task, every call queued behind it too): non-test code handles the error instead.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

pub mod calendar;
pub mod catalog;
pub mod compliance;
pub mod convert;
pub mod delivery;
pub mod entity;
pub mod error;
pub mod follow_up;
pub mod grpc;
pub mod metrics;
pub mod migration;
pub mod progress;
pub mod service;
pub mod store;
pub mod validate;
pub mod writer;

use std::{sync::Arc, time::Duration};

use duban_kit::{Authenticator, GrpcServer, Ready, Settings, client::service_channel, metrics::Metrics};
use duban_plan::{cache::Freshness, view::PlanView};
use duban_proto::reporting::v1::{
    notices_service_server::NoticesServiceServer, reporting_service_server::ReportingServiceServer,
    supervision_orders_service_server::SupervisionOrdersServiceServer,
};

pub use error::ReportingError;
pub use service::Reporting;

/// The fully qualified name of the follow-up notices' service, served beside it.
pub use duban_proto::reporting::v1::notices_service_server::SERVICE_NAME as NOTICES_SERVICE_NAME;
/// The fully qualified gRPC service name, as health checks and reflection know it.
pub use duban_proto::reporting::v1::reporting_service_server::SERVICE_NAME;
/// The name of the supervision orders service, served beside it.
pub use duban_proto::reporting::v1::supervision_orders_service_server::SERVICE_NAME as ORDERS_SERVICE_NAME;
pub use service::follow_up_daily::Clock;

/// What `start` does not read from [`Settings`]: tuning with production defaults, which
/// tests shorten.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long the catalog cache of the measures, targets and departments services
    /// trusts an answer ([`duban_plan::cache::DEFAULT_TTL`]).
    pub catalog_ttl: Duration,
    /// After a failed refresh, how long the stale answer is served before the next
    /// attempt ([`duban_plan::cache::DEFAULT_RETRY`]).
    pub catalog_retry: Duration,
    /// The clock of the daily follow-up run (the system clock; a fixed one in tests, so
    /// that "the day" is known).
    pub follow_up_clock: Clock,
    /// The delivery worker's clock and timing (tests shorten its interval and backoff).
    pub delivery: delivery::DeliveryOptions,
    /// Whether writes maintain the progress aggregate. Not a setting: only `duban-bench`
    /// turns it off, to measure what live aggregates cost a submission.
    pub aggregates: store::Aggregates,
}

impl Default for Options {
    fn default() -> Self {
        let freshness = Freshness::default();
        Self {
            catalog_ttl: freshness.ttl,
            catalog_retry: freshness.retry,
            follow_up_clock: Clock::default(),
            delivery: delivery::DeliveryOptions::default(),
            aggregates: store::Aggregates::Maintained,
        }
    }
}

/// Starts the reporting server on `settings.reporting.listen` (metrics on
/// `metrics_listen`). It answers NOT_SERVING
/// until its database is migrated. It reads tokens, departments and designations from
/// the departments service, and plans, measures and targets from the measures and
/// targets services, each with the service token.
pub async fn start(settings: &Settings) -> std::io::Result<GrpcServer> {
    start_with(settings, Options::default()).await
}

/// [`start`] with explicit [`Options`].
pub async fn start_with(settings: &Settings, options: Options) -> std::io::Result<GrpcServer> {
    let ready: Ready<grpc::State> = Ready::default();
    let limits = &settings.server;
    let service = ReportingServiceServer::new(grpc::ReportingGrpc {
        ready: ready.clone(),
        streams: duban_kit::streams::OpenStreams::new(limits),
        revocation_window: settings.auth.cache_ttl(),
    })
    .max_decoding_message_size(limits.max_message_bytes)
    .max_encoding_message_size(limits.max_message_bytes);
    let orders = SupervisionOrdersServiceServer::new(grpc::OrdersGrpc { ready: ready.clone() })
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
    let notices = NoticesServiceServer::new(grpc::NoticesGrpc { ready: ready.clone() })
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
    let routes = tonic::service::Routes::new(service)
        .add_service(orders)
        .add_service(notices);

    let url = settings.reporting.database_url_in(&settings.data_dir, "reporting");
    // One reporting server per SQLite file: its writer and event feed assume so.
    let single_copy = duban_kit::db::claim_sqlite_file(&url)?.map(std::sync::Arc::new);
    let departments = service_channel(settings, &settings.departments.endpoint_url())?;
    let measures = service_channel(settings, &settings.measures.endpoint_url())?;
    let targets = service_channel(settings, &settings.targets.endpoint_url())?;
    // A misconfigured relay stops the start, before the port is bound.
    let mailer = delivery::mail::Mailer::from_settings(&settings.smtp, options.delivery.timeout)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let metrics = Metrics::new();
    let server = GrpcServer::start(
        "reporting",
        settings.reporting.addresses(),
        limits,
        &[SERVICE_NAME, ORDERS_SERVICE_NAME, NOTICES_SERVICE_NAME],
        routes,
        &metrics,
    )
    .await?;
    let reporting_metrics = metrics::ReportingMetrics::register(&metrics);

    let auth = Authenticator::asking_departments(settings, departments.clone());
    let freshness = Freshness {
        ttl: options.catalog_ttl,
        retry: options.catalog_retry,
    };
    let delivery_channel = departments.clone();
    let view = Arc::new(PlanView::remote(measures, targets, departments, freshness));
    view.register_metrics(&metrics);
    let catalog = catalog::Catalog::new(view);
    let count_submitted = settings.progress.count_submitted;
    let quota = duban_kit::rate::WriteQuota::new(&settings.server);
    let stopping = server.stopping();
    // NOT_SERVING while the database does not answer, SERVING again when it does.
    server.watch_database(ready.clone(), |state: &grpc::State| state.reporting.database());
    server.bring_up(ready, move || {
        let (url, auth, catalog, stopping, metrics, reporting_metrics) = (
            url.clone(),
            auth.clone(),
            catalog.clone(),
            stopping.clone(),
            metrics.clone(),
            reporting_metrics.clone(),
        );
        let quota = quota.clone();
        let single_copy = single_copy.clone();
        let clock = options.follow_up_clock.clone();
        let aggregates = options.aggregates;
        let (delivery_options, delivery_channel, mailer) =
            (options.delivery.clone(), delivery_channel.clone(), mailer.clone());
        async move {
            let db = duban_kit::db::connect_and_migrate::<migration::Migrator>(&url).await?;
            metrics.watch_pool(&db);
            duban_kit::db::keep_planner_statistics(db.clone(), stopping.clone());
            let reporting = Reporting::new(
                store::ReportStore::with_aggregates(db, aggregates),
                catalog,
                quota,
                count_submitted,
                stopping.clone(),
                reporting_metrics,
            );
            service::follow_up_daily::start(reporting.clone(), clock, stopping.clone());
            delivery::start(reporting.clone(), delivery_channel, mailer, delivery_options, stopping);
            Ok::<_, ReportingError>(grpc::State {
                reporting,
                auth,
                _single_copy: single_copy,
            })
        }
    });
    Ok(server)
}
