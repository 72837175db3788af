//! What every reader of a plan needs, written once: its calendar and time zone, the order
//! of measure numbers, dates between the contract and chrono, target trajectories, the
//! red-amber-green rules with the plan's tolerances, and a
//! cached view of a plan, its targets and its directory fetched over gRPC.
//!
//! It sits above `duban-kit` and `duban-catalog` and below the servers: the targets
//! service, reporting and the gateway all answer questions about the plan through it, so
//! no two of them can disagree on a due date, a day's end or an expected value.

// A panic reachable from a request drops the call without an answer (in the writer's
// task, every call queued behind it too): non-test code handles the error instead.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

pub mod cache;
pub mod calendar;
pub mod contract;
mod error;
pub mod listing;
pub mod order;
pub mod quantity;
pub mod rag;
pub mod trajectory;
pub mod view;
mod zone;

pub use calendar::{Cadence, Month, PlanCalendar};
pub use error::{Owner, PlanError};
pub use order::{compare_measures, measure_order, measure_sort_key};
pub use zone::{LEGACY_TIME_ZONE, PlanZone};
