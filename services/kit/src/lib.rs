//! What every Duban server needs, written once: settings, telemetry, the database,
//! start-up and shutdown, request bounds, metrics, authentication, outgoing calls, pagination, error statuses and CSV exports.

// A panic reachable from a request drops the call without an answer (in the writer's
// task, every call queued behind it too): non-test code handles the error instead.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

pub mod auth;
pub mod bounds;
pub mod client;
pub mod closable;
pub mod columns;
pub mod csv_export;
pub mod db;
pub mod error;
pub mod flow;
pub mod idempotency;
pub mod incoming;
pub mod layer;
pub mod metrics;
pub mod migration;
pub mod net;
pub mod paging;
pub mod rate;
pub mod server;
pub mod settings;
pub mod status;
pub mod streams;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;

pub use auth::{Authenticator, Principal};
pub use server::{GrpcServer, Ready};
pub use settings::Settings;
pub use status::FieldViolation;
