//! Notification endpoints: where each unit wants its notices delivered.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct CreateNotificationEndpoint;

#[derive(DeriveIden)]
enum NotificationEndpoint {
    Table,
    Id,
    Department,
    Slot,
    Kind,
    Target,
    Language,
    Levels,
    Enabled,
    Description,
    Secret,
    Version,
    CreateTimeUs,
    UpdateTimeUs,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateNotificationEndpoint {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NotificationEndpoint::Table)
                    .col(big_integer(NotificationEndpoint::Id).auto_increment().primary_key())
                    .col(string(NotificationEndpoint::Department))
                    .col(integer(NotificationEndpoint::Slot))
                    .col(string(NotificationEndpoint::Kind))
                    .col(text(NotificationEndpoint::Target))
                    .col(string(NotificationEndpoint::Language))
                    .col(text(NotificationEndpoint::Levels))
                    .col(boolean(NotificationEndpoint::Enabled))
                    .col(string(NotificationEndpoint::Description))
                    .col(string_null(NotificationEndpoint::Secret))
                    .col(big_integer(NotificationEndpoint::Version))
                    .col(big_integer(NotificationEndpoint::CreateTimeUs))
                    .col(big_integer(NotificationEndpoint::UpdateTimeUs))
                    .to_owned(),
            )
            .await?;
        // One row per (unit, slot), slots 0 to 9: the database itself keeps a unit at 10
        // endpoints, however many creates race.
        manager
            .create_index(
                Index::create()
                    .name("notification_endpoint_department_slot")
                    .table(NotificationEndpoint::Table)
                    .col(NotificationEndpoint::Department)
                    .col(NotificationEndpoint::Slot)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        duban_kit::migration::drop_tables(manager, [NotificationEndpoint::Table.into_iden()]).await
    }
}
