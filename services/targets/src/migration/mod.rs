//! Schema migrations of the targets database, applied at start-up: one dated file each.

mod m20261127_000002_create_targets;
mod m20261202_000001_add_target_aspirational;
mod m20261215_000003_exact_amounts;

duban_kit::migrator![
    duban_kit::idempotency::CreateRequestLog,
    m20261127_000002_create_targets::CreateTargets,
    m20261202_000001_add_target_aspirational::AddTargetAspirational,
    m20261215_000003_exact_amounts::ExactAmounts,
];
