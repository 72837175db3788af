//! Schema migrations of the reporting database, applied at start-up.

use sea_orm_migration::prelude::*;

/// Every migration of this service, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(duban_kit::idempotency::CreateRequestLog),
            Box::new(CreateReports),
            Box::new(AddMeasureKey),
        ]
    }
}

/// Reports, revisions, the progress aggregate, events and audit records.
#[derive(Debug)]
struct CreateReports;

impl MigrationName for CreateReports {
    fn name(&self) -> &str {
        "m20261127_000002_create_reports"
    }
}

#[derive(DeriveIden)]
enum Report {
    Table,
    Plan,
    MeasureNumber,
    Department,
    Period,
    Revision,
    State,
    FirstSubmitTimeUs,
    ReturnReason,
    UpdateTimeUs,
}

#[derive(DeriveIden)]
enum ReportRevision {
    Table,
    Plan,
    MeasureNumber,
    Department,
    Period,
    Revision,
    State,
    Etag,
    OverallStatus,
    Narrative,
    Provisional,
    Backfilled,
    MetricValues,
    MilestoneUpdates,
    Blockers,
    EvidenceLinks,
    SubmittedByRole,
    SubmittedByDepartment,
    SubmittedByCredential,
    SubmitTimeUs,
    PlanRevision,
    ReviewerRole,
    ReviewerDepartment,
    ReviewerCredential,
    ReviewTimeUs,
    ReviewReason,
    CreateTimeUs,
}

#[derive(DeriveIden)]
enum ProgressValue {
    Table,
    Plan,
    TargetCode,
    Department,
    Period,
    Slot,
    MeasureNumber,
    Value,
    Revision,
    SubmitTimeUs,
    Provisional,
}

#[derive(DeriveIden)]
enum ReportEvent {
    Table,
    Sequence,
    Plan,
    EventType,
    MeasureNumber,
    Department,
    Period,
    Revision,
    EventTimeUs,
    ActorRole,
    ActorDepartment,
    ActorCredential,
    Backfilled,
}

#[derive(DeriveIden)]
enum AuditRecord {
    Table,
    Id,
    TimeUs,
    Role,
    Department,
    Credential,
    Method,
    RequestId,
    Code,
    StatusMessage,
    Resource,
    ValidateOnly,
    Backfill,
    ItemIndex,
}

fn text(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).text().not_null().to_owned()
}

fn string(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).string().not_null().to_owned()
}

fn big(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).big_integer().not_null().to_owned()
}

fn int(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).integer().not_null().to_owned()
}

fn boolean(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).boolean().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for CreateReports {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Report::Table)
                    .col(string(Report::Plan))
                    .col(string(Report::MeasureNumber))
                    .col(string(Report::Department))
                    .col(string(Report::Period))
                    .col(int(Report::Revision))
                    .col(string(Report::State))
                    .col(big(Report::FirstSubmitTimeUs))
                    .col(text(Report::ReturnReason))
                    .col(big(Report::UpdateTimeUs))
                    .primary_key(
                        Index::create()
                            .col(Report::Plan)
                            .col(Report::MeasureNumber)
                            .col(Report::Department)
                            .col(Report::Period),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReportRevision::Table)
                    .col(string(ReportRevision::Plan))
                    .col(string(ReportRevision::MeasureNumber))
                    .col(string(ReportRevision::Department))
                    .col(string(ReportRevision::Period))
                    .col(int(ReportRevision::Revision))
                    .col(string(ReportRevision::State))
                    .col(string(ReportRevision::Etag))
                    .col(string(ReportRevision::OverallStatus))
                    .col(text(ReportRevision::Narrative))
                    .col(boolean(ReportRevision::Provisional))
                    .col(boolean(ReportRevision::Backfilled))
                    .col(text(ReportRevision::MetricValues))
                    .col(text(ReportRevision::MilestoneUpdates))
                    .col(text(ReportRevision::Blockers))
                    .col(text(ReportRevision::EvidenceLinks))
                    .col(string(ReportRevision::SubmittedByRole))
                    .col(string(ReportRevision::SubmittedByDepartment))
                    .col(string(ReportRevision::SubmittedByCredential))
                    .col(big(ReportRevision::SubmitTimeUs))
                    .col(int(ReportRevision::PlanRevision))
                    .col(string(ReportRevision::ReviewerRole))
                    .col(string(ReportRevision::ReviewerDepartment))
                    .col(string(ReportRevision::ReviewerCredential))
                    .col(ColumnDef::new(ReportRevision::ReviewTimeUs).big_integer().null())
                    .col(text(ReportRevision::ReviewReason))
                    .col(big(ReportRevision::CreateTimeUs))
                    .primary_key(
                        Index::create()
                            .col(ReportRevision::Plan)
                            .col(ReportRevision::MeasureNumber)
                            .col(ReportRevision::Department)
                            .col(ReportRevision::Period)
                            .col(ReportRevision::Revision),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProgressValue::Table)
                    .col(string(ProgressValue::Plan))
                    .col(string(ProgressValue::TargetCode))
                    .col(string(ProgressValue::Department))
                    .col(string(ProgressValue::Period))
                    .col(string(ProgressValue::Slot))
                    .col(string(ProgressValue::MeasureNumber))
                    .col(ColumnDef::new(ProgressValue::Value).double().not_null())
                    .col(int(ProgressValue::Revision))
                    .col(big(ProgressValue::SubmitTimeUs))
                    .col(boolean(ProgressValue::Provisional))
                    .primary_key(
                        Index::create()
                            .col(ProgressValue::Plan)
                            .col(ProgressValue::TargetCode)
                            .col(ProgressValue::Department)
                            .col(ProgressValue::Period)
                            .col(ProgressValue::Slot),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("progress_value_key")
                    .table(ProgressValue::Table)
                    .col(ProgressValue::Plan)
                    .col(ProgressValue::MeasureNumber)
                    .col(ProgressValue::Department)
                    .col(ProgressValue::Period)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReportEvent::Table)
                    .col(
                        ColumnDef::new(ReportEvent::Sequence)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(string(ReportEvent::Plan))
                    .col(string(ReportEvent::EventType))
                    .col(string(ReportEvent::MeasureNumber))
                    .col(string(ReportEvent::Department))
                    .col(string(ReportEvent::Period))
                    .col(int(ReportEvent::Revision))
                    .col(big(ReportEvent::EventTimeUs))
                    .col(string(ReportEvent::ActorRole))
                    .col(string(ReportEvent::ActorDepartment))
                    .col(string(ReportEvent::ActorCredential))
                    .col(boolean(ReportEvent::Backfilled))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditRecord::Table)
                    .col(
                        ColumnDef::new(AuditRecord::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(big(AuditRecord::TimeUs))
                    .col(string(AuditRecord::Role))
                    .col(string(AuditRecord::Department))
                    .col(string(AuditRecord::Credential))
                    .col(string(AuditRecord::Method))
                    .col(string(AuditRecord::RequestId))
                    .col(int(AuditRecord::Code))
                    .col(text(AuditRecord::StatusMessage))
                    .col(text(AuditRecord::Resource))
                    .col(boolean(AuditRecord::ValidateOnly))
                    .col(boolean(AuditRecord::Backfill))
                    .col(ColumnDef::new(AuditRecord::ItemIndex).integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditRecord::Table.into_iden(),
            ReportEvent::Table.into_iden(),
            ProgressValue::Table.into_iden(),
            ReportRevision::Table.into_iden(),
            Report::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// `report.measure_key`: measure numbers in a form that sorts in number order, so
/// ListReports lists 2.1 before 10.1; filled for the rows already stored.
#[derive(Debug)]
struct AddMeasureKey;

impl MigrationName for AddMeasureKey {
    fn name(&self) -> &str {
        "m20261201_000003_report_measure_key"
    }
}

#[derive(DeriveIden)]
enum ReportMeasureKey {
    #[sea_orm(iden = "report")]
    Table,
    MeasureNumber,
    MeasureKey,
    Plan,
    Period,
    Department,
}

#[async_trait::async_trait]
impl MigrationTrait for AddMeasureKey {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use sea_orm_migration::sea_orm::ConnectionTrait;

        manager
            .alter_table(
                Table::alter()
                    .table(ReportMeasureKey::Table)
                    .add_column(
                        ColumnDef::new(ReportMeasureKey::MeasureKey)
                            .string()
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let select = Query::select()
            .distinct()
            .column(ReportMeasureKey::MeasureNumber)
            .from(ReportMeasureKey::Table)
            .to_owned();
        let numbers = db.query_all(&select).await?;
        for row in numbers {
            let number: String = row.try_get("", "measure_number")?;
            let update = Query::update()
                .table(ReportMeasureKey::Table)
                .value(ReportMeasureKey::MeasureKey, crate::convert::measure_key(&number))
                .and_where(Expr::col(ReportMeasureKey::MeasureNumber).eq(number))
                .to_owned();
            manager.exec_stmt(update).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("report_listing")
                    .table(ReportMeasureKey::Table)
                    .col(ReportMeasureKey::Plan)
                    .col(ReportMeasureKey::Period)
                    .col(ReportMeasureKey::MeasureKey)
                    .col(ReportMeasureKey::Department)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("report_listing")
                    .table(ReportMeasureKey::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ReportMeasureKey::Table)
                    .drop_column(ReportMeasureKey::MeasureKey)
                    .to_owned(),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use sea_orm_migration::sea_orm::{ConnectionTrait, Database, Statement};

    use super::*;

    #[tokio::test]
    async fn measure_keys_are_filled_for_rows_stored_before() {
        let path = std::env::temp_dir().join(format!("duban-reporting-migration-{}.db", std::process::id()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let db = Database::connect(&url).await.unwrap();
        Migrator::up(&db, Some(2)).await.unwrap();
        for number in ["10.1", "2.1"] {
            db.execute_unprepared(&format!(
                "INSERT INTO report (plan, measure_number, department, period, revision, state, \
                 first_submit_time_us, return_reason, update_time_us) \
                 VALUES ('p', '{number}', 'd', '2023-04', 1, 'STATE_SUBMITTED', 0, '', 0)"
            ))
            .await
            .unwrap();
        }
        Migrator::up(&db, None).await.unwrap();
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT measure_number FROM report ORDER BY measure_key",
            ))
            .await
            .unwrap();
        let numbers: Vec<String> = rows.iter().map(|r| r.try_get("", "measure_number").unwrap()).collect();
        assert_eq!(numbers, ["2.1", "10.1"]);
        db.close().await.unwrap();
        let _ = std::fs::remove_file(&path);
    }
}
