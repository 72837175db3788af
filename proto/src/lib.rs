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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value of `duban.common.v1.ErrorReason`, from the generated enum.
    fn suite_reasons() -> Vec<common::v1::ErrorReason> {
        (1..100)
            .filter_map(|n| common::v1::ErrorReason::try_from(n).ok())
            .collect()
    }

    /// Each package's ErrorReason repeats the suite-wide reasons with the same names and
    /// numbers, and keeps its own from 100 on, so a client needs only its service's enum.
    #[test]
    fn every_package_lists_the_suite_wide_reasons_unchanged() {
        let suite = suite_reasons();
        assert!(suite.len() >= 10, "{suite:?}");
        /// (name → number, number → name) of a package's ErrorReason.
        macro_rules! lookups {
            ($($package:ident),+) => {
                [$((
                    stringify!($package),
                    (|name| $package::v1::ErrorReason::from_str_name(name).map(|r| r as i32))
                        as fn(&str) -> Option<i32>,
                    (|n| $package::v1::ErrorReason::try_from(n).ok().map(|r| r.as_str_name()))
                        as fn(i32) -> Option<&'static str>,
                )),+]
            };
        }
        let packages = lookups!(departments, measures, targets, reporting, gateway);
        for (package, number_of, name_of) in packages {
            for reason in &suite {
                assert_eq!(
                    number_of(reason.as_str_name()),
                    Some(*reason as i32),
                    "duban.{package}.v1.ErrorReason must list {} = {}",
                    reason.as_str_name(),
                    *reason as i32
                );
            }
            for number in 1..100 {
                if let Some(name) = name_of(number) {
                    assert!(
                        suite.iter().any(|r| r.as_str_name() == name),
                        "duban.{package}.v1.ErrorReason {name} = {number}: 1-99 are the suite-wide reasons"
                    );
                }
            }
        }
    }
}
