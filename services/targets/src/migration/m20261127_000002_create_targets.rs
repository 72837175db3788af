//! Plans, targets and their revisions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct CreateTargets;

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
                    .col(string(Plan::Code).primary_key())
                    .col(integer(Plan::PlanRevision))
                    .col(string(Plan::EffectiveFrom))
                    .col(string(Plan::EffectiveTo))
                    .col(big_integer(Plan::UpdateTimeUs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Target::Table)
                    .col(string(Target::Plan))
                    .col(string(Target::Code))
                    .col(integer(Target::Revision))
                    .col(integer(Target::ImportRevision))
                    .col(boolean(Target::Retired))
                    .col(big_integer(Target::UpdateTimeUs))
                    .primary_key(Index::create().col(Target::Plan).col(Target::Code))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TargetRevision::Table)
                    .col(string(TargetRevision::Plan))
                    .col(string(TargetRevision::Code))
                    .col(integer(TargetRevision::Revision))
                    .col(string(TargetRevision::MeasureNumber))
                    .col(integer(TargetRevision::ActionNumber))
                    .col(string(TargetRevision::DisplayName))
                    .col(string(TargetRevision::DisplayNameEn))
                    .col(string(TargetRevision::Unit))
                    .col(double(TargetRevision::Value))
                    .col(string(TargetRevision::Comparator))
                    .col(string(TargetRevision::Deadline))
                    .col(double_null(TargetRevision::Baseline))
                    .col(string(TargetRevision::Aggregation))
                    .col(string(TargetRevision::ValueBasis))
                    .col(text(TargetRevision::Reporters))
                    .col(text(TargetRevision::ReportingDepartments))
                    .col(text(TargetRevision::Source))
                    .col(text(TargetRevision::Note))
                    .col(text(TargetRevision::Milestones))
                    .col(integer(TargetRevision::PlanRevision))
                    .col(text(TargetRevision::Reason))
                    .col(string(TargetRevision::RevisedByRole))
                    .col(string(TargetRevision::RevisedByDepartment))
                    .col(string(TargetRevision::RevisedByCredential))
                    .col(boolean(TargetRevision::Rebaselined))
                    .col(double(TargetRevision::OriginalValue))
                    .col(string(TargetRevision::OriginalDeadline))
                    .col(big_integer(TargetRevision::CreateTimeUs))
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
        duban_kit::migration::drop_tables(
            manager,
            [
                TargetRevision::Table.into_iden(),
                Target::Table.into_iden(),
                Plan::Table.into_iden(),
            ],
        )
        .await
    }
}
