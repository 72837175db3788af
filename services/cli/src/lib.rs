//! The `duban` command: runs the suite (`up`) or one server (`serve`), probes health,
//! and calls the services for people and scripts (`departments`, `token`, `plan`,
//! `report`, `demo`, `dashboard`).

pub mod commands;
pub mod output;
pub mod prng;
pub mod servers;

/// The servers `duban serve <name>` can run, in start-up order: each one's
/// dependencies come before it (measures imports targets through the targets server;
/// reporting reads departments, measures and targets; the gateway, the front door,
/// calls all four).
pub const SERVICES: &[&str] = &["departments", "targets", "measures", "reporting", "gateway"];
