//! Milestone codes in stored revisions: each milestone update stored before milestones had
//! codes gets the code its milestone has in the plan revision it was submitted under.
//!
//! Every such update was judged against a plan revision without codes, where a milestone
//! was known by its position; the measures service's own migration gives the milestones
//! of those revisions the code derived from that position (`milestone-<n>`,
//! `duban_catalog::derived_milestone_code`). The stored number is that position, so the
//! update's code is derived from it, and the revision keeps meaning what it meant even
//! after a re-import reorders the measure's milestones. Nothing else in the document
//! changes.

use sea_orm_migration::{prelude::*, sea_orm::ConnectionTrait};
use serde_json::Value;

#[derive(DeriveMigrationName)]
pub struct MilestoneCodes;

#[derive(DeriveIden)]
enum ReportRevision {
    Table,
    MilestoneUpdates,
}

/// The milestone updates document with a code in every update that names a position;
/// `None` if none lacked one.
pub(crate) fn with_codes(stored: &str) -> Result<Option<String>, DbErr> {
    let mut updates: Vec<Value> = serde_json::from_str(stored)
        .map_err(|e| DbErr::Migration(format!("milestone updates {stored:?} do not read: {e}")))?;
    let mut changed = false;
    for update in &mut updates {
        let Value::Object(fields) = update else {
            continue;
        };
        let has_code = fields
            .get("code")
            .and_then(Value::as_str)
            .is_some_and(|c| !c.is_empty());
        let position = fields
            .get("number")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n >= 1);
        if let (false, Some(position)) = (has_code, position) {
            fields.insert(
                "code".into(),
                Value::String(duban_catalog::derived_milestone_code(position)),
            );
            changed = true;
        }
    }
    Ok(changed.then(|| Value::Array(updates).to_string()))
}

#[async_trait::async_trait]
impl MigrationTrait for MilestoneCodes {
    /// One transaction on SQLite too: all or nothing.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One update per distinct document: equal texts get equal codes, so no keys are
        // needed (most revisions share `[]`).
        let db = manager.get_connection();
        let select = Query::select()
            .distinct()
            .column(ReportRevision::MilestoneUpdates)
            .from(ReportRevision::Table)
            .to_owned();
        for row in db.query_all(&select).await? {
            let stored: String = row.try_get("", "milestone_updates")?;
            let Some(rewritten) = with_codes(&stored)? else {
                continue;
            };
            let update = Query::update()
                .table(ReportRevision::Table)
                .value(ReportRevision::MilestoneUpdates, rewritten)
                .and_where(Expr::col(ReportRevision::MilestoneUpdates).eq(stored))
                .to_owned();
            manager.exec_stmt(update).await?;
        }
        Ok(())
    }

    /// Nothing to undo: the version before reads a stored update with a code (it ignores
    /// the field), and the code is what its number meant.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use duban_kit::testing::{Backend, TestDatabase};
    use duban_proto::reporting::v1 as pb;
    use sea_orm_migration::sea_orm::{EntityTrait, QueryOrder};

    use super::*;
    use crate::{
        calendar::Cadence,
        convert,
        entity::{report, report_revision},
        migration::Migrator,
    };

    #[test]
    fn only_updates_without_a_code_get_one() {
        assert_eq!(with_codes("[]").unwrap(), None);
        let coded = r#"[{"number":2,"description":"开工","status":"MILESTONE_STATUS_IN_PROGRESS","achieve_date":null,"note":"","code":"works-started"}]"#;
        assert_eq!(with_codes(coded).unwrap(), None);
        let old = r#"[{"number":2,"description":"开工","status":"MILESTONE_STATUS_IN_PROGRESS","achieve_date":null,"note":""}]"#;
        let rewritten: Value = serde_json::from_str(&with_codes(old).unwrap().unwrap()).unwrap();
        assert_eq!(rewritten[0]["code"], "milestone-2");
        assert_eq!(rewritten[0]["description"], "开工");
        assert!(with_codes("not json").is_err());
    }

    /// Revisions stored before codes read back with the code of the position they named,
    /// and with the number and description they were stored with.
    async fn stored_updates_get_the_code_of_their_position(backend: Backend) {
        let Some(database) = TestDatabase::new(backend).await else {
            return;
        };
        let db = duban_kit::db::connect(database.url()).await.unwrap();
        Migrator::up(&db, Some(5)).await.unwrap();
        let documents = [
            (
                "tax-bureau",
                r#"[{"number":2,"description":"新能源汽车免征车辆购置税","status":"MILESTONE_STATUS_ACHIEVED","achieve_date":"2023-04-01","note":""},{"number":1,"description":"小规模纳税人减免增值税","status":"MILESTONE_STATUS_IN_PROGRESS","achieve_date":null,"note":"按月"}]"#,
            ),
            ("finance-bureau", "[]"),
        ];
        for (department, milestones) in documents {
            db.execute_unprepared(&format!(
                "INSERT INTO report_revision (plan, measure_number, department, period, revision, state, etag, \
                 overall_status, narrative, provisional, backfilled, metric_values, milestone_updates, blockers, \
                 evidence_links, submitted_by_role, submitted_by_department, submitted_by_credential, \
                 submit_time_us, plan_revision, reviewer_role, reviewer_department, reviewer_credential, \
                 review_reason, create_time_us) VALUES ('p', '1.1', '{department}', '2023-04', 1, \
                 'STATE_SUBMITTED', 'e', 'OVERALL_STATUS_ON_TRACK', '', false, false, '[]', '{milestones}', \
                 '[]', '[]', 'ROLE_DEPARTMENT', '{department}', '', 0, 1, '', '', '', '', 0)"
            ))
            .await
            .unwrap();
        }
        Migrator::up(&db, None).await.unwrap();
        let revisions = report_revision::Entity::find()
            .order_by_desc(report_revision::Column::Department)
            .all(&db)
            .await
            .unwrap();
        assert_eq!(revisions[1].milestone_updates, "[]");
        let pointer = report::Model {
            plan: "p".into(),
            measure_number: "1.1".into(),
            department: "tax-bureau".into(),
            period: "2023-04".into(),
            revision: 1,
            state: "STATE_SUBMITTED".into(),
            first_submit_time_us: 0,
            return_reason: String::new(),
            update_time_us: 0,
            measure_key: convert::measure_key("1.1"),
        };
        let shown = convert::report(&revisions[0], &pointer, Cadence::monthly(5), false);
        let named: Vec<(&str, i32, &str, i32)> = shown
            .milestone_updates
            .iter()
            .map(|u| {
                (
                    u.milestone_code.as_str(),
                    u.milestone_number,
                    u.milestone_description.as_str(),
                    u.status,
                )
            })
            .collect();
        assert_eq!(
            named,
            [
                (
                    "milestone-2",
                    2,
                    "新能源汽车免征车辆购置税",
                    pb::MilestoneStatus::Achieved as i32
                ),
                (
                    "milestone-1",
                    1,
                    "小规模纳税人减免增值税",
                    pb::MilestoneStatus::InProgress as i32
                ),
            ]
        );
        assert_eq!(shown.milestone_updates[1].note, "按月");
        assert!(shown.milestone_updates[0].achieve_date.is_some());
        db.close().await.unwrap();
    }

    duban_kit::backend_tests!(stored_updates_get_the_code_of_their_position);
}
