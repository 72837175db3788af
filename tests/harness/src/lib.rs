//! The one way to start the Duban suite for a test or the benchmark: any subset of the
//! five servers in this process, on ephemeral loopback ports, each on a fresh database
//! (SQLite or PostgreSQL), the Jiading 2023 plan imported, with generated clients and
//! tokens at hand; over plaintext, TLS or mutual TLS ([`Transport`]).
//!
//! ```ignore
//! async fn submits_a_report(backend: Backend) {
//!     let Some(suite) = Suite::builder(backend).with(Server::Reporting).start().await else {
//!         return; // PostgreSQL unreachable and not required: skipped
//!     };
//!     let token = suite.issue_token(Role::Department, "tax-bureau").await;
//!     let mut reporting = suite.reporting(&token);
//!     // ...
//!     suite.stop().await;
//! }
//! duban_kit::backend_tests!(submits_a_report);
//! ```
//!
//! It sits above the five servers (it starts them), so only integration tests (as a
//! dev-dependency) and tools use it; the database and settings pieces stay in
//! `duban_kit::testing`, below the servers.

mod builder;
mod plan;
mod proxy;
mod server;
mod suite;
mod tls;

pub use builder::{STARTUP, StartError, SuiteBuilder};
pub use plan::{PLAN, ReportKey, Responsibility, jiading_dataset, read_responsibilities, responsible_departments};
pub use proxy::TcpProxy;
pub use server::Server;
pub use suite::{
    Caller, DashboardClient, DepartmentsClient, MeasuresClient, NoticesClient, Replica, ReportingClient, Suite,
    TargetsClient,
};
pub use tls::{Certificates, Transport};
