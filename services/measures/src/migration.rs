//! Schema migrations of the measures database, applied at start-up.

use sea_orm_migration::prelude::*;

/// Every migration of this service, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(duban_kit::idempotency::CreateRequestLog),
            Box::new(CreatePlans),
        ]
    }
}

/// Plans and their revisions.
#[derive(Debug)]
struct CreatePlans;

impl MigrationName for CreatePlans {
    fn name(&self) -> &str {
        "m20261127_000002_create_plans"
    }
}

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
                    .col(ColumnDef::new(Plan::Id).string().not_null().primary_key())
                    .col(ColumnDef::new(Plan::CurrentRevision).integer().not_null())
                    .col(ColumnDef::new(Plan::CreateTimeUs).big_integer().not_null())
                    .col(ColumnDef::new(Plan::UpdateTimeUs).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PlanRevision::Table)
                    .col(ColumnDef::new(PlanRevision::PlanId).string().not_null())
                    .col(ColumnDef::new(PlanRevision::Revision).integer().not_null())
                    .col(ColumnDef::new(PlanRevision::Content).text().not_null())
                    .col(ColumnDef::new(PlanRevision::ContentSha256).string().not_null())
                    .col(ColumnDef::new(PlanRevision::ImportedBy).string().not_null())
                    .col(ColumnDef::new(PlanRevision::CreateTimeUs).big_integer().not_null())
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
