//! `blocker`: blockers with stable numbers and a state, so that only an explicit resolve
//! closes one; blockers already stored in revisions are numbered and replayed into it.

use std::collections::BTreeMap;

use sea_orm_migration::{prelude::*, schema::*, sea_orm::ConnectionTrait};
use serde_json::Value;

#[derive(DeriveMigrationName)]
pub struct CreateBlockers;

#[derive(DeriveIden)]
enum Blocker {
    Table,
    Plan,
    MeasureNumber,
    Department,
    Number,
    MeasureKey,
    Description,
    Severity,
    SupportUnit,
    State,
    OpenPeriod,
    OpenTimeUs,
    ResolveTimeUs,
    ResolveReport,
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
    Blockers,
    SubmitTimeUs,
}

const OPEN: &str = "BLOCKER_STATE_OPEN";
const RESOLVED: &str = "BLOCKER_STATE_RESOLVED";

/// A blocker as the replay of stored revisions leaves it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Replayed {
    pub number: i32,
    pub description: String,
    pub severity: String,
    pub support_unit: String,
    pub open: bool,
    pub open_period: String,
    pub open_time_us: i64,
    /// The period, revision and submit time of the revision that left it out.
    pub resolved_by: Option<(String, i32, i64)>,
}

/// Replays one measure and department's revisions, oldest period and revision first,
/// under the rule they were written with: the blockers of the latest revision are the
/// open ones, and leaving one out closed it. A blocker with the same description and
/// support unit as an open one is that blocker carried forward. Returns every blocker,
/// and each revision's blockers JSON with numbers and states.
pub(crate) fn replay(revisions: &[(String, i32, i64, String)]) -> (Vec<Replayed>, Vec<String>) {
    let mut blockers: Vec<Replayed> = Vec::new();
    let mut rewritten = Vec::new();
    for (period, revision, submit_us, json) in revisions {
        let mut entries: Vec<Value> = serde_json::from_str(json).unwrap_or_default();
        let mut mentioned = Vec::new();
        for entry in &mut entries {
            let text = |field: &str| entry.get(field).and_then(Value::as_str).unwrap_or_default().to_owned();
            let (description, severity, support_unit) = (text("description"), text("severity"), text("support_unit"));
            let found = blockers
                .iter_mut()
                .find(|b| b.open && b.description == description && b.support_unit == support_unit);
            let number = match found {
                Some(blocker) => {
                    blocker.severity = severity;
                    blocker.number
                }
                None => {
                    let number = blockers.len() as i32 + 1;
                    blockers.push(Replayed {
                        number,
                        description,
                        severity,
                        support_unit,
                        open: true,
                        open_period: period.clone(),
                        open_time_us: *submit_us,
                        resolved_by: None,
                    });
                    number
                }
            };
            mentioned.push(number);
            if let Some(object) = entry.as_object_mut() {
                object.insert("number".into(), number.into());
                object.insert("state".into(), OPEN.into());
            }
        }
        for blocker in blockers.iter_mut().filter(|b| b.open && !mentioned.contains(&b.number)) {
            blocker.open = false;
            blocker.resolved_by = Some((period.clone(), *revision, *submit_us));
        }
        rewritten.push(serde_json::to_string(&entries).unwrap_or_else(|_| "[]".to_owned()));
    }
    (blockers, rewritten)
}

#[async_trait::async_trait]
impl MigrationTrait for CreateBlockers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Blocker::Table)
                    .col(string(Blocker::Plan))
                    .col(string(Blocker::MeasureNumber))
                    .col(string(Blocker::Department))
                    .col(integer(Blocker::Number))
                    .col(string(Blocker::MeasureKey))
                    .col(text(Blocker::Description))
                    .col(string(Blocker::Severity))
                    .col(string(Blocker::SupportUnit))
                    .col(string(Blocker::State))
                    .col(string(Blocker::OpenPeriod))
                    .col(big_integer(Blocker::OpenTimeUs))
                    .col(big_integer_null(Blocker::ResolveTimeUs))
                    .col(string(Blocker::ResolveReport))
                    .col(big_integer(Blocker::UpdateTimeUs))
                    .primary_key(
                        Index::create()
                            .col(Blocker::Plan)
                            .col(Blocker::MeasureNumber)
                            .col(Blocker::Department)
                            .col(Blocker::Number),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("blocker_support_unit")
                    .table(Blocker::Table)
                    .col(Blocker::Plan)
                    .col(Blocker::SupportUnit)
                    .col(Blocker::State)
                    .to_owned(),
            )
            .await?;
        migrate_stored(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Blocker::Table).to_owned()).await
    }
}

type KeyOf = (String, String, String);

/// Numbers the blockers of every stored revision and fills the `blocker` table.
async fn migrate_stored(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let select = Query::select()
        .columns([
            ReportRevision::Plan,
            ReportRevision::MeasureNumber,
            ReportRevision::Department,
            ReportRevision::Period,
            ReportRevision::Revision,
            ReportRevision::SubmitTimeUs,
            ReportRevision::Blockers,
        ])
        .from(ReportRevision::Table)
        .order_by(ReportRevision::Period, Order::Asc)
        .order_by(ReportRevision::Revision, Order::Asc)
        .to_owned();
    let mut keys: BTreeMap<KeyOf, Vec<(String, i32, i64, String)>> = BTreeMap::new();
    for row in db.query_all(&select).await? {
        let key = (
            row.try_get("", "plan")?,
            row.try_get("", "measure_number")?,
            row.try_get("", "department")?,
        );
        keys.entry(key).or_default().push((
            row.try_get("", "period")?,
            row.try_get("", "revision")?,
            row.try_get("", "submit_time_us")?,
            row.try_get("", "blockers")?,
        ));
    }
    for ((plan, measure, department), revisions) in keys {
        let (blockers, rewritten) = replay(&revisions);
        for ((period, revision, _, before), after) in revisions.iter().zip(rewritten) {
            if *before == after {
                continue;
            }
            let update = Query::update()
                .table(ReportRevision::Table)
                .value(ReportRevision::Blockers, after)
                .and_where(Expr::col(ReportRevision::Plan).eq(plan.as_str()))
                .and_where(Expr::col(ReportRevision::MeasureNumber).eq(measure.as_str()))
                .and_where(Expr::col(ReportRevision::Department).eq(department.as_str()))
                .and_where(Expr::col(ReportRevision::Period).eq(period.as_str()))
                .and_where(Expr::col(ReportRevision::Revision).eq(*revision))
                .to_owned();
            manager.exec_stmt(update).await?;
        }
        for blocker in blockers {
            let (resolve_us, resolve_report) = match &blocker.resolved_by {
                Some((period, revision, at)) => (
                    Some(*at),
                    format!("plans/{plan}/reports/{measure}~{department}~{period}@{revision}"),
                ),
                None => (None, String::new()),
            };
            let insert = Query::insert()
                .into_table(Blocker::Table)
                .columns([
                    Blocker::Plan,
                    Blocker::MeasureNumber,
                    Blocker::Department,
                    Blocker::Number,
                    Blocker::MeasureKey,
                    Blocker::Description,
                    Blocker::Severity,
                    Blocker::SupportUnit,
                    Blocker::State,
                    Blocker::OpenPeriod,
                    Blocker::OpenTimeUs,
                    Blocker::ResolveTimeUs,
                    Blocker::ResolveReport,
                    Blocker::UpdateTimeUs,
                ])
                .values_panic([
                    plan.clone().into(),
                    measure.clone().into(),
                    department.clone().into(),
                    blocker.number.into(),
                    crate::convert::measure_key(&measure).into(),
                    blocker.description.into(),
                    blocker.severity.into(),
                    blocker.support_unit.into(),
                    if blocker.open { OPEN } else { RESOLVED }.into(),
                    blocker.open_period.into(),
                    blocker.open_time_us.into(),
                    resolve_us.into(),
                    resolve_report.into(),
                    resolve_us.unwrap_or(blocker.open_time_us).into(),
                ])
                .to_owned();
            manager.exec_stmt(insert).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(blockers: &[(&str, &str)]) -> String {
        let entries: Vec<Value> = blockers
            .iter()
            .map(|(text, unit)| serde_json::json!({"description": text, "severity": "BLOCKER_SEVERITY_HIGH", "support_unit": unit}))
            .collect();
        serde_json::to_string(&entries).unwrap()
    }

    /// Under the old rule a blocker repeated month to month was one blocker, and leaving
    /// it out closed it: the replay keeps its number and closes it where it was left out.
    #[test]
    fn repeated_blockers_keep_their_number_and_close_where_left_out() {
        let revisions = vec![
            ("2023-04".to_owned(), 1, 10, json(&[("缺地", "planning"), ("缺钱", "")])),
            ("2023-05".to_owned(), 1, 20, json(&[("缺地", "planning")])),
            ("2023-06".to_owned(), 1, 30, json(&[("缺地", "planning"), ("缺人", "")])),
        ];
        let (blockers, rewritten) = replay(&revisions);
        let summary: Vec<_> = blockers
            .iter()
            .map(|b| (b.number, b.description.as_str(), b.open, b.resolved_by.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                (1, "缺地", true, None),
                (2, "缺钱", false, Some(("2023-05".to_owned(), 1, 20))),
                (3, "缺人", true, None),
            ]
        );
        let last: Vec<Value> = serde_json::from_str(&rewritten[2]).unwrap();
        assert_eq!(last[0]["number"], 1);
        assert_eq!(last[1]["number"], 3);
        assert_eq!(last[1]["state"], OPEN);
    }
}
