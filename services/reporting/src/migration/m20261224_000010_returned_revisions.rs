//! An index of revisions by plan, state and submit time, covering department, period
//! and revision: GetCompliance and the plan summary count the RETURNED revisions of each
//! (department, period) submitted before a date (`ReportStore::returned_counts`), which
//! without it read every revision of the plan, so the overview slowed with history
//! (BENCHMARKS.md, "Fourth run").

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct ReturnedRevisions;

#[derive(DeriveIden)]
enum ReportRevision {
    Table,
    Plan,
    State,
    SubmitTimeUs,
    Department,
    Period,
    Revision,
}

/// The index's name.
const INDEX: &str = "report_revision_by_state";

#[async_trait::async_trait]
impl MigrationTrait for ReturnedRevisions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(ReportRevision::Table)
                    .col(ReportRevision::Plan)
                    .col(ReportRevision::State)
                    .col(ReportRevision::SubmitTimeUs)
                    .col(ReportRevision::Department)
                    .col(ReportRevision::Period)
                    .col(ReportRevision::Revision)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(ReportRevision::Table).to_owned())
            .await
    }
}
