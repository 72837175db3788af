//! The Duban gRPC contracts: Rust types and clients/servers generated from `proto/duban`.
//!
//! The module tree mirrors the proto packages (`duban.departments.v1` is
//! [`departments::v1`]), so a v2 of any package would sit beside its v1.

#![allow(clippy::all, missing_docs)]

/// Shared vocabulary: dates, periods, typed quantities.
pub mod common {
    /// Version 1 of `duban.common`.
    pub mod v1 {
        tonic::include_proto!("duban.common.v1");
    }
}

/// The directory of responsible units, groups and credentials.
pub mod departments {
    /// Version 1 of `duban.departments`.
    pub mod v1 {
        tonic::include_proto!("duban.departments.v1");
    }
}

/// The plan catalogue: plans, actions, measures and their responsible units.
pub mod measures {
    /// Version 1 of `duban.measures`.
    pub mod v1 {
        tonic::include_proto!("duban.measures.v1");
    }
}

/// Quantitative targets and their trajectories.
pub mod targets {
    /// Version 1 of `duban.targets`.
    pub mod v1 {
        tonic::include_proto!("duban.targets.v1");
    }
}

/// Progress reports, reviews, progress aggregates and compliance.
pub mod reporting {
    /// Version 1 of `duban.reporting`.
    pub mod v1 {
        tonic::include_proto!("duban.reporting.v1");
    }
}

/// The gateway's dashboard API.
pub mod gateway {
    /// Version 1 of `duban.gateway`.
    pub mod v1 {
        tonic::include_proto!("duban.gateway.v1");
    }
}

/// The encoded `FileDescriptorSet` of every Duban proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/duban_descriptor.bin"));
