//! The `duban` command: runs the suite (`up`) or one server (`serve`), probes health,
//! and calls the services for people and scripts (`departments`, `token`).

pub mod commands;
pub mod output;
pub mod servers;

/// The servers `duban serve <name>` can run, in start-up order.
pub const SERVICES: &[&str] = &["departments"];
