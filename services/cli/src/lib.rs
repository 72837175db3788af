//! The `duban` command: runs the suite (`up`) or one server (`serve`), probes health,
//! and calls the services for people and scripts (`departments`, `token`, `plan`,
//! `report`, `audit`, `demo`, `dashboard`, `bulletin`).

// A panic reachable from a request drops the call without an answer (in the writer's
// task, every call queued behind it too): non-test code handles the error instead.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod commands;
pub mod output;
pub mod prng;
pub mod servers;

/// The servers `duban serve <name>` can run, in start-up order: each one's
/// dependencies come before it (measures imports targets through the targets server;
/// reporting reads departments, measures and targets; the gateway, the front door,
/// calls all four).
pub const SERVICES: &[&str] = &["departments", "targets", "measures", "reporting", "gateway"];
