//! `notice`: the follow-up notices (reminders and escalations), one row per notice. Its
//! primary key is the plan and the notice's deduplication key
//! (`{day}~{rule}~{department}~{period}`), so the same notice is stored once whatever
//! replicas and restarts do: every insert is `ON CONFLICT DO NOTHING`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct CreateNotices;

#[derive(DeriveIden)]
enum Notice {
    Table,
    Plan,
    Id,
    Level,
    Rule,
    Day,
    Department,
    Period,
    DueDate,
    Reports,
    RecipientDepartments,
    RecipientRoles,
    Reason,
    ReasonEn,
    CreateTimeUs,
    DeliveryState,
    AcknowledgeTimeUs,
    AcknowledgedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateNotices {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Notice::Table)
                    .col(string(Notice::Plan))
                    .col(string(Notice::Id))
                    .col(string(Notice::Level))
                    .col(string(Notice::Rule))
                    .col(string(Notice::Day))
                    .col(string(Notice::Department))
                    .col(string(Notice::Period))
                    .col(string(Notice::DueDate))
                    .col(text(Notice::Reports))
                    .col(text(Notice::RecipientDepartments))
                    .col(text(Notice::RecipientRoles))
                    .col(text(Notice::Reason))
                    .col(text(Notice::ReasonEn))
                    .col(big_integer(Notice::CreateTimeUs))
                    .col(string(Notice::DeliveryState))
                    .col(big_integer_null(Notice::AcknowledgeTimeUs))
                    .col(string(Notice::AcknowledgedBy))
                    .primary_key(Index::create().col(Notice::Plan).col(Notice::Id))
                    .to_owned(),
            )
            .await?;
        // ListNotices by unit, newest day first.
        manager
            .create_index(
                Index::create()
                    .name("notice_department_day")
                    .table(Notice::Table)
                    .col(Notice::Plan)
                    .col(Notice::Department)
                    .col(Notice::Day)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Notice::Table).to_owned()).await
    }
}
