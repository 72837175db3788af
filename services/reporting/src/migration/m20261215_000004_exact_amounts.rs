//! Exact amounts: `progress_value.value` becomes `NUMERIC` (decimal text on SQLite) and the metric values of stored revisions decimal strings, converted from the doubles stored before without loss.

use sea_orm_migration::{prelude::*, sea_orm::ConnectionTrait};

use crate::convert::MetricRow;

#[derive(DeriveMigrationName)]
pub struct ExactAmounts;

#[derive(DeriveIden)]
enum ReportRevision {
    Table,
    MetricValues,
}

#[async_trait::async_trait]
impl MigrationTrait for ExactAmounts {
    /// One transaction on SQLite too: all or nothing, and every statement on the one
    /// connection that made the new columns (a pooled connection could still see the
    /// schema from before them).
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        duban_kit::migration::double_to_exact(manager, "progress_value", "value", true).await?;
        // One update per distinct document: equal texts convert alike, so no keys are
        // needed. A JSON number reads as the shortest decimal that is that double.
        let db = manager.get_connection();
        let select = Query::select()
            .distinct()
            .column(ReportRevision::MetricValues)
            .from(ReportRevision::Table)
            .to_owned();
        for row in db.query_all(&select).await? {
            let stored: String = row.try_get("", "metric_values")?;
            let metrics: Vec<MetricRow> = serde_json::from_str(&stored)
                .map_err(|e| DbErr::Migration(format!("metric values {stored:?} do not read: {e}")))?;
            let update = Query::update()
                .table(ReportRevision::Table)
                .value(ReportRevision::MetricValues, duban_kit::columns::to_json(&metrics))
                .and_where(Expr::col(ReportRevision::MetricValues).eq(stored))
                .to_owned();
            manager.exec_stmt(update).await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        duban_kit::migration::exact_amounts_are_one_way()
    }
}

#[cfg(test)]
mod tests {
    use duban_kit::testing::{Backend, TestDatabase};
    use sea_orm_migration::sea_orm::{EntityTrait, QueryOrder};

    use super::*;
    use crate::{
        entity::{progress_value, report_revision},
        migration::Migrator,
    };

    /// Aggregates and revisions written with doubles by the earlier schema read back as
    /// the decimals that were submitted.
    async fn doubles_become_the_decimals_that_were_submitted(backend: Backend) {
        let Some(database) = TestDatabase::new(backend).await else {
            return;
        };
        let db = duban_kit::db::connect(database.url()).await.unwrap();
        Migrator::up(&db, Some(3)).await.unwrap();
        for (department, value) in [("anting", "0.7"), ("jiangqiao", "0.1")] {
            db.execute_unprepared(&format!(
                "INSERT INTO progress_value (plan, target_code, department, period, slot, measure_number, \
                 value, revision, submit_time_us, provisional) \
                 VALUES ('p', 'fdi', '{department}', '2023-04', 'counted', '6.1', {value}, 1, 0, false)"
            ))
            .await
            .unwrap();
            db.execute_unprepared(&format!(
                "INSERT INTO report_revision (plan, measure_number, department, period, revision, state, etag, \
                 overall_status, narrative, provisional, backfilled, metric_values, milestone_updates, blockers, \
                 evidence_links, submitted_by_role, submitted_by_department, submitted_by_credential, \
                 submit_time_us, plan_revision, reviewer_role, reviewer_department, reviewer_credential, \
                 review_reason, create_time_us) VALUES ('p', '6.1', '{department}', '2023-04', 1, \
                 'STATE_SUBMITTED', 'e', 'OVERALL_STATUS_ON_TRACK', '', false, false, \
                 '[{{\"target_code\":\"fdi\",\"value\":{value},\"unit\":\"QUANTITY_UNIT_USD_100M\",\
                 \"basis\":\"VALUE_BASIS_CUMULATIVE\"}}]', '[]', '[]', '[]', 'ROLE_DEPARTMENT', '{department}', \
                 '', 0, 1, '', '', '', '', 0)"
            ))
            .await
            .unwrap();
        }
        Migrator::up(&db, None).await.unwrap();
        let values = progress_value::Entity::find()
            .order_by_asc(progress_value::Column::Department)
            .all(&db)
            .await
            .unwrap();
        let exact: Vec<_> = values.iter().map(|row| row.value.0).collect();
        assert_eq!(exact, ["0.7".parse().unwrap(), "0.1".parse().unwrap()]);
        assert_eq!(exact.iter().sum::<rust_decimal::Decimal>().to_string(), "0.8");
        let revisions = report_revision::Entity::find()
            .order_by_asc(report_revision::Column::Department)
            .all(&db)
            .await
            .unwrap();
        let documents: Vec<&str> = revisions.iter().map(|row| row.metric_values.as_str()).collect();
        assert_eq!(
            documents,
            [
                r#"[{"target_code":"fdi","value":"0.7","unit":"QUANTITY_UNIT_USD_100M","basis":"VALUE_BASIS_CUMULATIVE"}]"#,
                r#"[{"target_code":"fdi","value":"0.1","unit":"QUANTITY_UNIT_USD_100M","basis":"VALUE_BASIS_CUMULATIVE"}]"#,
            ]
        );
        db.close().await.unwrap();
    }

    duban_kit::backend_tests!(doubles_become_the_decimals_that_were_submitted);
}
