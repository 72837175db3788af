//! The `aspirational` flag of target revisions (力争 / 计划 in the plan's text).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct AddTargetAspirational;

#[derive(DeriveIden)]
enum TargetRevision {
    Table,
    Aspirational,
}

#[async_trait::async_trait]
impl MigrationTrait for AddTargetAspirational {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Revisions stored before the flag existed were all read as commitments, so
        // they default to false; the next import that marks a target aspirational
        // makes a new revision, as any other change of the target does.
        manager
            .alter_table(
                Table::alter()
                    .table(TargetRevision::Table)
                    .add_column(boolean(TargetRevision::Aspirational).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TargetRevision::Table)
                    .drop_column(TargetRevision::Aspirational)
                    .to_owned(),
            )
            .await
    }
}
