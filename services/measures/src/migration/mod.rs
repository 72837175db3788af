//! Schema migrations of the measures database, applied at start-up: one dated file each.

mod m20261127_000002_create_plans;
mod m20261216_000003_milestone_codes;

duban_kit::migrator![
    duban_kit::idempotency::CreateRequestLog,
    m20261127_000002_create_plans::CreatePlans,
    m20261216_000003_milestone_codes::MilestoneCodes,
];
