//! Where each report revision came from (`Report.source`, issue 16): a `source` column on
//! `report_revision` and on `audit_record`, holding the `ReportSource` contract name.
//!
//! Every revision stored before sources were recorded came through the API (the gateway
//! had no form and no upload), so existing revisions and the audit records of their
//! submissions (SubmitReport, and SubmitReports items) say API. Every other audit record
//! concerns no submitted report and says UNSPECIFIED. One ALTER per column: SQLite adds
//! one column per statement.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct ReportSources;

#[derive(DeriveIden)]
enum ReportRevision {
    Table,
    Source,
}

#[derive(DeriveIden)]
enum AuditRecord {
    Table,
    Source,
    Method,
    ItemIndex,
}

/// The contract names stored: `duban.reporting.v1.ReportSource`.
const API: &str = "REPORT_SOURCE_API";
const UNSPECIFIED: &str = "REPORT_SOURCE_UNSPECIFIED";

#[async_trait::async_trait]
impl MigrationTrait for ReportSources {
    /// One transaction on SQLite too: all or nothing, and the update on the connection
    /// that added the column.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ReportRevision::Table)
                    .add_column(text(ReportRevision::Source).default(API))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditRecord::Table)
                    .add_column(text(AuditRecord::Source).default(UNSPECIFIED))
                    .to_owned(),
            )
            .await?;
        // A SubmitReports record without an item index is the stream's own refusal,
        // which read no item and so no report.
        let submissions = Query::update()
            .table(AuditRecord::Table)
            .value(AuditRecord::Source, API)
            .cond_where(
                Cond::any()
                    .add(Expr::col(AuditRecord::Method).eq("/duban.reporting.v1.ReportingService/SubmitReport"))
                    .add(
                        Expr::col(AuditRecord::Method)
                            .eq("/duban.reporting.v1.ReportingService/SubmitReports")
                            .and(Expr::col(AuditRecord::ItemIndex).is_not_null()),
                    ),
            )
            .to_owned();
        manager.exec_stmt(submissions).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ReportRevision::Table)
                    .drop_column(ReportRevision::Source)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditRecord::Table)
                    .drop_column(AuditRecord::Source)
                    .to_owned(),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use duban_kit::testing::{Backend, TestDatabase};
    use duban_proto::reporting::v1 as pb;
    use sea_orm_migration::sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};

    use super::*;
    use crate::{
        convert,
        entity::{audit_record, report_revision},
        migration::Migrator,
    };

    /// A revision stored before sources reads back as API; the audit records of
    /// submissions say API, and every other record UNSPECIFIED.
    async fn what_was_stored_before_came_through_the_api(backend: Backend) {
        let Some(database) = TestDatabase::new(backend).await else {
            return;
        };
        let db = duban_kit::db::connect(database.url()).await.unwrap();
        // Every migration before this one (the request log is the first).
        Migrator::up(&db, Some(9)).await.unwrap();
        db.execute_unprepared(
            "INSERT INTO report_revision (plan, measure_number, department, period, revision, state, etag, \
             overall_status, narrative, provisional, backfilled, metric_values, milestone_updates, blockers, \
             evidence_links, submitted_by_role, submitted_by_department, submitted_by_credential, \
             submit_time_us, plan_revision, reviewer_role, reviewer_department, reviewer_credential, \
             review_reason, create_time_us) VALUES ('p', '1.1', 'tax-bureau', '2023-04', 1, \
             'STATE_SUBMITTED', 'e', 'OVERALL_STATUS_ON_TRACK', '', false, false, '[]', '[]', \
             '[]', '[]', 'ROLE_DEPARTMENT', 'tax-bureau', '', 0, 1, '', '', '', '', 0)",
        )
        .await
        .unwrap();
        let calls = [
            ("SubmitReport", "NULL"),
            ("SubmitReports", "0"),
            ("SubmitReports", "NULL"),
            ("AcceptReport", "NULL"),
        ];
        for (method, item_index) in calls {
            db.execute_unprepared(&format!(
                "INSERT INTO audit_record (time_us, role, department, credential, method, request_id, code, \
                 status_message, resource, validate_only, backfill, item_index) VALUES (0, 'ROLE_ADMIN', '', '', \
                 '/duban.reporting.v1.ReportingService/{method}', '', 0, '', '', false, false, {item_index})"
            ))
            .await
            .unwrap();
        }
        Migrator::up(&db, None).await.unwrap();

        let revision = report_revision::Entity::find().one(&db).await.unwrap().unwrap();
        assert_eq!(revision.source, API);
        let records = audit_record::Entity::find()
            .order_by_asc(audit_record::Column::Id)
            .all(&db)
            .await
            .unwrap();
        let sources: Vec<i32> = records.iter().map(|r| convert::audit(r).source).collect();
        let (api, unspecified) = (pb::ReportSource::Api as i32, pb::ReportSource::Unspecified as i32);
        assert_eq!(sources, [api, api, unspecified, unspecified]);
        db.close().await.unwrap();
    }

    duban_kit::backend_tests!(what_was_stored_before_came_through_the_api);
}
