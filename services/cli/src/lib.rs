//! The `duban` command: runs the suite (`up`) or one server (`serve`), probes health,
//! and calls the services for people and scripts (`departments`, `token`).

pub mod commands;
pub mod output;
pub mod servers;

/// The servers `duban serve <name>` can run, in start-up order: each one's
/// dependencies come before it (measures imports targets through the targets server).
pub const SERVICES: &[&str] = &["departments", "targets", "measures"];
