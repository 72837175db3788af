//! Schema migrations of the departments database, applied at start-up: one dated file each.

mod m20261127_000002_create_directory;

duban_kit::migrator![
    duban_kit::idempotency::CreateRequestLog,
    m20261127_000002_create_directory::CreateDirectory,
];
