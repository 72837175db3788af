//! `report.measure_key`: measure numbers in a form that sorts in number order, so ListReports lists 2.1 before 10.1; filled for the rows already stored.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct AddMeasureKey;

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
    use crate::migration::Migrator;

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
