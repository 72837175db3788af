//! Schema migrations of the targets database, applied at start-up.

use sea_orm_migration::prelude::*;

/// Every migration of this service, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(duban_kit::idempotency::CreateRequestLog),
            Box::new(CreateTargets),
        ]
    }
}

/// Plans, targets and their revisions.
#[derive(Debug)]
struct CreateTargets;

impl MigrationName for CreateTargets {
    fn name(&self) -> &str {
        "m20261127_000002_create_targets"
    }
}

// `PlanRevision` is the column `plan_revision`, not a variant of the plan.
#[allow(clippy::enum_variant_names)]
#[derive(DeriveIden)]
enum Plan {
    Table,
    Code,
    PlanRevision,
    EffectiveFrom,
    EffectiveTo,
    UpdateTimeUs,
}

#[derive(DeriveIden)]
enum Target {
    Table,
    Plan,
    Code,
    Revision,
    ImportRevision,
    Retired,
    UpdateTimeUs,
}

#[derive(DeriveIden)]
enum TargetRevision {
    Table,
    Plan,
    Code,
    Revision,
    MeasureNumber,
    ActionNumber,
    DisplayName,
    DisplayNameEn,
    Unit,
    Value,
    Comparator,
    Deadline,
    Baseline,
    Aggregation,
    ValueBasis,
    Reporters,
    ReportingDepartments,
    Source,
    Note,
    Milestones,
    PlanRevision,
    Reason,
    RevisedByRole,
    RevisedByDepartment,
    RevisedByCredential,
    Rebaselined,
    OriginalValue,
    OriginalDeadline,
    CreateTimeUs,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTargets {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Plan::Table)
                    .col(ColumnDef::new(Plan::Code).string().not_null().primary_key())
                    .col(ColumnDef::new(Plan::PlanRevision).integer().not_null())
                    .col(ColumnDef::new(Plan::EffectiveFrom).string().not_null())
                    .col(ColumnDef::new(Plan::EffectiveTo).string().not_null())
                    .col(ColumnDef::new(Plan::UpdateTimeUs).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Target::Table)
                    .col(ColumnDef::new(Target::Plan).string().not_null())
                    .col(ColumnDef::new(Target::Code).string().not_null())
                    .col(ColumnDef::new(Target::Revision).integer().not_null())
                    .col(ColumnDef::new(Target::ImportRevision).integer().not_null())
                    .col(ColumnDef::new(Target::Retired).boolean().not_null())
                    .col(ColumnDef::new(Target::UpdateTimeUs).big_integer().not_null())
                    .primary_key(Index::create().col(Target::Plan).col(Target::Code))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TargetRevision::Table)
                    .col(ColumnDef::new(TargetRevision::Plan).string().not_null())
                    .col(ColumnDef::new(TargetRevision::Code).string().not_null())
                    .col(ColumnDef::new(TargetRevision::Revision).integer().not_null())
                    .col(ColumnDef::new(TargetRevision::MeasureNumber).string().not_null())
                    .col(ColumnDef::new(TargetRevision::ActionNumber).integer().not_null())
                    .col(ColumnDef::new(TargetRevision::DisplayName).string().not_null())
                    .col(ColumnDef::new(TargetRevision::DisplayNameEn).string().not_null())
                    .col(ColumnDef::new(TargetRevision::Unit).string().not_null())
                    .col(ColumnDef::new(TargetRevision::Value).double().not_null())
                    .col(ColumnDef::new(TargetRevision::Comparator).string().not_null())
                    .col(ColumnDef::new(TargetRevision::Deadline).string().not_null())
                    .col(ColumnDef::new(TargetRevision::Baseline).double().null())
                    .col(ColumnDef::new(TargetRevision::Aggregation).string().not_null())
                    .col(ColumnDef::new(TargetRevision::ValueBasis).string().not_null())
                    .col(ColumnDef::new(TargetRevision::Reporters).text().not_null())
                    .col(ColumnDef::new(TargetRevision::ReportingDepartments).text().not_null())
                    .col(ColumnDef::new(TargetRevision::Source).text().not_null())
                    .col(ColumnDef::new(TargetRevision::Note).text().not_null())
                    .col(ColumnDef::new(TargetRevision::Milestones).text().not_null())
                    .col(ColumnDef::new(TargetRevision::PlanRevision).integer().not_null())
                    .col(ColumnDef::new(TargetRevision::Reason).text().not_null())
                    .col(ColumnDef::new(TargetRevision::RevisedByRole).string().not_null())
                    .col(ColumnDef::new(TargetRevision::RevisedByDepartment).string().not_null())
                    .col(ColumnDef::new(TargetRevision::RevisedByCredential).string().not_null())
                    .col(ColumnDef::new(TargetRevision::Rebaselined).boolean().not_null())
                    .col(ColumnDef::new(TargetRevision::OriginalValue).double().not_null())
                    .col(ColumnDef::new(TargetRevision::OriginalDeadline).string().not_null())
                    .col(ColumnDef::new(TargetRevision::CreateTimeUs).big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(TargetRevision::Plan)
                            .col(TargetRevision::Code)
                            .col(TargetRevision::Revision),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TargetRevision::Table.into_iden(),
            Target::Table.into_iden(),
            Plan::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
