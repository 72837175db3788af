//! Typed model and validation of action plans and of the units responsible for their measures.
//!
//! A district's plan is kept as two TOML files under `plans/<id>/`:
//! `departments.toml` (a [`Directory`] of responsible units and groups) and
//! `plan.toml` (a [`Plan`]: actions, measures, targets). This crate parses
//! and validates them with pure functions: no network, no database, no file
//! system at run time. The Jiading 2023 files are compiled into the binary
//! so that services never depend on where the repository is checked out.

// A panic reachable from a request drops the call without an answer (in the writer's
// task, every call queued behind it too): non-test code handles the error instead.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

mod dates;
pub mod directory;
mod error;
pub mod plan;

pub use directory::{Directory, DirectoryHeader, Group, GroupKind, Resolved, Unit, UnitKind, normalize_unit_name};
pub use error::{CatalogError, Problem};
pub use plan::{
    Action, Aggregation, Cadence, Comparator, FollowUp, Measure, Milestone, Plan, PlanHeader, PolicyParameter,
    QuantityUnit, RagRules, Target, ValueBasis, derived_milestone_code, entry_key,
};

/// `plans/jiading-2023/plan.toml`: 嘉府规〔2023〕1号 as structured data.
pub const JIADING_2023_PLAN: &str = include_str!("../../../plans/jiading-2023/plan.toml");

/// `plans/jiading-2023/departments.toml`: Jiading District's responsible units.
pub const JIADING_DIRECTORY: &str = include_str!("../../../plans/jiading-2023/departments.toml");

/// Parses a directory and a plan and validates the plan against it.
///
/// Fails with [`CatalogError::Invalid`] listing every problem when the plan
/// does not check out, so callers never hold a plan with dangling names.
pub fn load(directory_toml: &str, plan_toml: &str) -> Result<(Directory, Plan), CatalogError> {
    let directory = Directory::from_toml_str(directory_toml)?;
    let plan = Plan::from_toml_str(plan_toml)?;
    let problems = plan.validate(&directory);
    if problems.is_empty() {
        Ok((directory, plan))
    } else {
        Err(CatalogError::Invalid(problems))
    }
}

/// The embedded Jiading directory and 2023 plan, parsed and validated.
///
/// # Panics
///
/// Only if the embedded files are broken, which this crate's tests rule out
/// at build time; a panic here means the data was edited without running
/// `cargo test -p duban-catalog`.
pub fn jiading_2023() -> (Directory, Plan) {
    match load(JIADING_DIRECTORY, JIADING_2023_PLAN) {
        Ok(loaded) => loaded,
        Err(err) => panic!("embedded Jiading 2023 catalogue is invalid: {err}"),
    }
}
