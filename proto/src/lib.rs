//! The Duban gRPC contracts: Rust types and clients/servers generated from `proto/duban`.
//!
//! The module tree mirrors the proto packages (`duban.departments.v1` is
//! [`departments::v1`]), so a v2 of any package would sit beside its v1.

#![allow(clippy::all, missing_docs)]

pub mod decimal;

/// Declares `pub mod $name { pub mod v1 { .. } }` holding the code generated for the
/// proto package `$package` (which must be `duban.<name>.v1`).
macro_rules! package {
    ($(#[$doc:meta])* $name:ident => $package:literal) => {
        $(#[$doc])*
        pub mod $name {
            #[doc = concat!("Version 1 of `", $package, "`.")]
            pub mod v1 {
                tonic::include_proto!($package);
            }
        }
    };
}

package!(
    /// Shared vocabulary: dates, periods, typed quantities.
    common => "duban.common.v1"
);
package!(
    /// The directory of responsible units, groups and credentials.
    departments => "duban.departments.v1"
);
package!(
    /// The plan catalogue: plans, actions, measures and their responsible units.
    measures => "duban.measures.v1"
);
package!(
    /// Quantitative targets and their trajectories.
    targets => "duban.targets.v1"
);
package!(
    /// Progress reports, reviews, progress aggregates and compliance.
    reporting => "duban.reporting.v1"
);
package!(
    /// The gateway's dashboard API.
    gateway => "duban.gateway.v1"
);

/// The encoded `FileDescriptorSet` of every Duban proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/duban_descriptor.bin"));
