//! `returned_revision`: every returned revision with its submit time, so that compliance
//! counts a date's returns without reading the plan's whole history (issue 15). Filled
//! from the revisions already returned, in the migration's own transaction.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct ReturnedRevisions;

#[derive(DeriveIden)]
enum ReturnedRevision {
    Table,
}

/// `report_revision` and the columns `returned_revision` copies from it, by the same names.
#[derive(Clone, Copy, DeriveIden)]
enum ReportRevision {
    Table,
    Plan,
    MeasureNumber,
    Department,
    Period,
    Revision,
    SubmitTimeUs,
    State,
}

/// The contract name a returned revision's state is stored as.
const RETURNED: &str = "STATE_RETURNED";

#[async_trait::async_trait]
impl MigrationTrait for ReturnedRevisions {
    /// One transaction on SQLite too: the table and its rows, or neither.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ReportRevision::{Department, MeasureNumber, Period, Plan, Revision, SubmitTimeUs};
        manager
            .create_table(
                Table::create()
                    .table(ReturnedRevision::Table)
                    .col(string(Plan))
                    .col(string(MeasureNumber))
                    .col(string(Department))
                    .col(string(Period))
                    .col(integer(Revision))
                    .col(big_integer(SubmitTimeUs))
                    .primary_key(
                        Index::create()
                            .col(Plan)
                            .col(MeasureNumber)
                            .col(Department)
                            .col(Period)
                            .col(Revision),
                    )
                    .to_owned(),
            )
            .await?;
        let columns = [Plan, MeasureNumber, Department, Period, Revision, SubmitTimeUs];
        let returned = Query::select()
            .columns(columns)
            .from(ReportRevision::Table)
            .and_where(Expr::col(ReportRevision::State).eq(RETURNED))
            .to_owned();
        let fill = Query::insert()
            .into_table(ReturnedRevision::Table)
            .columns(columns)
            .select_from(returned)
            .map_err(|e| DbErr::Migration(e.to_string()))?
            .to_owned();
        manager.exec_stmt(fill).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReturnedRevision::Table).to_owned())
            .await
    }
}

#[cfg(test)]
mod tests {
    use duban_kit::testing::{Backend, TestDatabase};
    use sea_orm_migration::sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};

    use super::*;
    use crate::{entity::returned_revision, migration::Migrator};

    /// Revisions returned before the table existed are in it after the migration, with
    /// their submit times; revisions in any other state are not.
    async fn revisions_returned_before_are_counted(backend: Backend) {
        let Some(database) = TestDatabase::new(backend).await else {
            return;
        };
        let db = duban_kit::db::connect(database.url()).await.unwrap();
        // Every migration before this one (the request log is the first).
        Migrator::up(&db, Some(10)).await.unwrap();
        for (revision, state, submit_us) in [
            (1, "STATE_RETURNED", 100),
            (2, "STATE_ACCEPTED", 200),
            (3, "STATE_RETURNED", 300),
            (4, "STATE_SUBMITTED", 400),
        ] {
            db.execute_unprepared(&format!(
                "INSERT INTO report_revision (plan, measure_number, department, period, revision, state, etag, \
                 overall_status, narrative, provisional, backfilled, metric_values, milestone_updates, blockers, \
                 evidence_links, submitted_by_role, submitted_by_department, submitted_by_credential, \
                 submit_time_us, plan_revision, reviewer_role, reviewer_department, reviewer_credential, \
                 review_reason, create_time_us, source) VALUES ('p', '1.1', 'tax-bureau', '2023-04', {revision}, \
                 '{state}', 'e', 'OVERALL_STATUS_ON_TRACK', '', false, false, '[]', '[]', '[]', '[]', \
                 'ROLE_DEPARTMENT', 'tax-bureau', '', {submit_us}, 1, '', '', '', '', 0, 'REPORT_SOURCE_API')"
            ))
            .await
            .unwrap();
        }
        Migrator::up(&db, None).await.unwrap();

        let rows = returned_revision::Entity::find()
            .order_by_asc(returned_revision::Column::Revision)
            .all(&db)
            .await
            .unwrap();
        let returned: Vec<(i32, i64)> = rows.iter().map(|r| (r.revision, r.submit_time_us)).collect();
        assert_eq!(returned, [(1, 100), (3, 300)]);
        assert!(
            rows.iter()
                .all(|r| (r.plan.as_str(), r.period.as_str()) == ("p", "2023-04"))
        );
        db.close().await.unwrap();
    }

    duban_kit::backend_tests!(revisions_returned_before_are_counted);
}
