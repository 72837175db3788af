//! Schema migrations of the departments database, applied at start-up: one dated file each.

mod m20261127_000002_create_directory;
mod m20261201_000003_create_notification_endpoint;

duban_kit::migrator![
    duban_kit::idempotency::CreateRequestLog,
    m20261127_000002_create_directory::CreateDirectory,
    m20261201_000003_create_notification_endpoint::CreateNotificationEndpoint,
];
