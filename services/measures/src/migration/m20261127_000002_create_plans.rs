//! Plans and their revisions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct CreatePlans;

#[derive(DeriveIden)]
enum Plan {
    Table,
    Id,
    CurrentRevision,
    CreateTimeUs,
    UpdateTimeUs,
}

#[derive(DeriveIden)]
enum PlanRevision {
    Table,
    PlanId,
    Revision,
    Content,
    ContentSha256,
    ImportedBy,
    CreateTimeUs,
}

#[async_trait::async_trait]
impl MigrationTrait for CreatePlans {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Plan::Table)
                    .col(string(Plan::Id).primary_key())
                    .col(integer(Plan::CurrentRevision))
                    .col(big_integer(Plan::CreateTimeUs))
                    .col(big_integer(Plan::UpdateTimeUs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PlanRevision::Table)
                    .col(string(PlanRevision::PlanId))
                    .col(integer(PlanRevision::Revision))
                    .col(text(PlanRevision::Content))
                    .col(string(PlanRevision::ContentSha256))
                    .col(string(PlanRevision::ImportedBy))
                    .col(big_integer(PlanRevision::CreateTimeUs))
                    .primary_key(Index::create().col(PlanRevision::PlanId).col(PlanRevision::Revision))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [PlanRevision::Table.into_iden(), Plan::Table.into_iden()] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
