//! Exact amounts: `value`, `baseline` and `original_value` become `NUMERIC` (decimal text on SQLite), milestone values decimal strings, and each revision gets its `decimal_places`, all converted from the doubles stored before without loss.

use duban_kit::columns::ExactDecimal;
use sea_orm_migration::{prelude::*, sea_orm::ConnectionTrait};

use crate::convert::StoredMilestone;

#[derive(DeriveMigrationName)]
pub struct ExactAmounts;

#[derive(DeriveIden)]
enum TargetRevision {
    Table,
    Plan,
    Code,
    Revision,
    Value,
    Baseline,
    Milestones,
    DecimalPlaces,
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
        for (column, required) in [("value", true), ("baseline", false), ("original_value", true)] {
            duban_kit::migration::double_to_exact(manager, "target_revision", column, required).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(TargetRevision::Table)
                    .add_column(
                        ColumnDef::new(TargetRevision::DecimalPlaces)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        // The places a revision's figures are written with (the import default), and its
        // milestones rewritten with decimal strings.
        let db = manager.get_connection();
        let select = Query::select()
            .columns([
                TargetRevision::Plan,
                TargetRevision::Code,
                TargetRevision::Revision,
                TargetRevision::Value,
                TargetRevision::Baseline,
                TargetRevision::Milestones,
            ])
            .from(TargetRevision::Table)
            .to_owned();
        for row in db.query_all(&select).await? {
            let (plan, code, revision): (String, String, i32) = (
                row.try_get("", "plan")?,
                row.try_get("", "code")?,
                row.try_get("", "revision")?,
            );
            let value: ExactDecimal = row.try_get("", "value")?;
            let baseline: Option<ExactDecimal> = row.try_get("", "baseline")?;
            let milestones: Vec<StoredMilestone> =
                duban_kit::columns::json_list(&row.try_get::<String>("", "milestones")?);
            let places = duban_catalog::plan::default_decimal_places(
                [value.0]
                    .into_iter()
                    .chain(baseline.map(|b| b.0))
                    .chain(milestones.iter().map(|m| m.expected_value)),
            );
            let update = Query::update()
                .table(TargetRevision::Table)
                .value(TargetRevision::DecimalPlaces, places as i32)
                .value(TargetRevision::Milestones, duban_kit::columns::to_json(&milestones))
                .and_where(Expr::col(TargetRevision::Plan).eq(plan))
                .and_where(Expr::col(TargetRevision::Code).eq(code))
                .and_where(Expr::col(TargetRevision::Revision).eq(revision))
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
    use crate::{entity::target_revision, migration::Migrator};

    /// Rows written as doubles by the first schema read back as the decimals that were
    /// typed, with their places.
    async fn doubles_become_the_decimals_that_were_typed(backend: Backend) {
        let Some(database) = TestDatabase::new(backend).await else {
            return;
        };
        let db = duban_kit::db::connect(database.url()).await.unwrap();
        Migrator::up(&db, Some(2)).await.unwrap();
        for (code, value, baseline, milestones) in [
            (
                "fdi",
                "4.47",
                "NULL",
                r#"[{"year":2023,"month":6,"expected_value":2.1}]"#,
            ),
            ("fai", "555", "0.1", "[]"),
            ("sum", "0.7999999999999999", "NULL", "[]"),
        ] {
            db.execute_unprepared(&format!(
                "INSERT INTO target_revision (plan, code, revision, measure_number, action_number, \
                 display_name, display_name_en, unit, value, comparator, deadline, baseline, aggregation, \
                 value_basis, reporters, reporting_departments, source, note, milestones, plan_revision, \
                 reason, revised_by_role, revised_by_department, revised_by_credential, rebaselined, \
                 original_value, original_deadline, create_time_us) VALUES ('p', '{code}', 1, '6.1', 6, \
                 'n', 'n', 'QUANTITY_UNIT_USD_100M', {value}, 'COMPARATOR_AT_LEAST', '2023-12-31', {baseline}, \
                 'AGGREGATION_AUTHORITATIVE', 'VALUE_BASIS_CUMULATIVE', '[]', '[]', 's', '', '{milestones}', 1, \
                 'r', 'ROLE_ADMIN', '', '', false, {value}, '2023-12-31', 0)"
            ))
            .await
            .unwrap();
        }
        Migrator::up(&db, None).await.unwrap();
        let rows = target_revision::Entity::find()
            .order_by_asc(target_revision::Column::Code)
            .all(&db)
            .await
            .unwrap();
        let read: Vec<(String, String, Option<String>, String, i32, String)> = rows
            .iter()
            .map(|row| {
                (
                    row.code.clone(),
                    duban_proto::decimal::canonical(row.value.0),
                    row.baseline.map(|b| duban_proto::decimal::canonical(b.0)),
                    duban_proto::decimal::canonical(row.original_value.0),
                    row.decimal_places,
                    row.milestones.clone(),
                )
            })
            .collect();
        let text = |s: &str| s.to_owned();
        assert_eq!(
            read,
            [
                (text("fai"), text("555"), Some(text("0.1")), text("555"), 1, text("[]")),
                (
                    text("fdi"),
                    text("4.47"),
                    None,
                    text("4.47"),
                    2,
                    text(r#"[{"year":2023,"month":6,"expected_value":"2.1"}]"#)
                ),
                (
                    text("sum"),
                    text("0.7999999999999999"),
                    None,
                    text("0.7999999999999999"),
                    16,
                    text("[]")
                ),
            ]
        );
        db.close().await.unwrap();
    }

    duban_kit::backend_tests!(doubles_become_the_decimals_that_were_typed);
}
