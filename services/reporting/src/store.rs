//! All SQL of the reporting service, through sea-orm: the reads, and the write steps
//! the writer task runs inside its transactions. Rules live in `service`.

use duban_kit::db::by_key;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, JoinType, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, RelationDef, Select,
    sea_query::{Expr, ExprTrait, SimpleExpr},
};

mod batch;
mod blockers;
mod follow_up_summary;
mod notices;
mod orders;

pub use blockers::BlockerFilter;
pub use notices::{DeliveryUpdate, NoticeFilter};
pub use orders::StoredOrder;

use crate::{
    convert::{self, ReportKey},
    entity::{audit_record, progress_value, report, report_event, report_revision, returned_revision},
    progress::Slot,
};

/// The reporting database.
#[derive(Debug, Clone)]
pub struct ReportStore {
    db: DatabaseConnection,
    /// Whether writes keep the progress aggregate (`progress_values`) current. Always,
    /// except in the benchmark that measures what keeping it costs.
    aggregates: Aggregates,
}

/// Whether a [`ReportStore`] maintains the progress aggregate on every write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Aggregates {
    /// Every write updates the aggregate in its own transaction: progress reads are exact.
    #[default]
    Maintained,
    /// Writes leave the aggregate alone, so progress and the overview go stale. Only for
    /// `duban-bench`, which measures the write cost of live aggregates by comparison.
    SkippedForBenchmark,
}

/// Filters of ListReports.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    /// Measure number, or empty.
    pub measure: String,
    /// Department code, or empty.
    pub department: String,
    /// `YYYY-MM`, or empty.
    pub period: String,
    /// State name, or empty.
    pub state: String,
}

/// Filters of ListAuditRecords.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Department code, or empty.
    pub department: String,
    /// Full method, or empty.
    pub method: String,
    /// Resource prefix, or empty.
    pub resource_prefix: String,
    /// Request id, or empty.
    pub request_id: String,
    /// Status code.
    pub code: Option<i32>,
    /// At or after.
    pub start_us: Option<i64>,
    /// Before.
    pub end_us: Option<i64>,
}

/// One aggregate row: `metric` of the revision `row`, held in `slot`.
fn aggregate_row(slot: Slot, row: &report_revision::Model, metric: &convert::MetricRow) -> progress_value::Model {
    progress_value::Model {
        plan: row.plan.clone(),
        target_code: metric.target_code.clone(),
        department: row.department.clone(),
        period: row.period.clone(),
        slot: slot.key().to_owned(),
        measure_number: row.measure_number.clone(),
        value: metric.value.into(),
        revision: row.revision,
        submit_time_us: row.submit_time_us,
        provisional: row.provisional,
    }
}

/// Inserts aggregate rows in as few statements as possible (none is no statement).
async fn insert_aggregate_rows(db: &impl ConnectionTrait, rows: Vec<progress_value::Model>) -> Result<(), DbErr> {
    batch::write_rows::<progress_value::ActiveModel, _>(db, rows, None, batch::Stored::Fails).await
}

/// `query` narrowed to the revisions `slot` admits ([`Slot::admits`], in SQL).
fn admitted_by(query: Select<report_revision::Entity>, slot: Slot) -> Select<report_revision::Entity> {
    use report_revision::Column as R;
    const RETURNED: &str = "STATE_RETURNED";
    const ACCEPTED: &str = "STATE_ACCEPTED";
    match slot {
        Slot::SubmittedAny => query.filter(R::State.ne(RETURNED)),
        Slot::SubmittedFinal => query.filter(R::State.ne(RETURNED)).filter(R::Provisional.eq(false)),
        Slot::AcceptedAny => query.filter(R::State.eq(ACCEPTED)),
        Slot::AcceptedFinal => query.filter(R::State.eq(ACCEPTED)).filter(R::Provisional.eq(false)),
        Slot::Returned => query.filter(R::State.eq(RETURNED)),
    }
}

fn revision_key(key: &ReportKey) -> sea_orm::Condition {
    use report_revision::Column as C;
    key_condition(key, [C::Plan, C::MeasureNumber, C::Department, C::Period])
}

/// The aggregate rows one report key contributes.
fn progress_key(key: &ReportKey) -> sea_orm::Condition {
    use progress_value::Column as C;
    key_condition(key, [C::Plan, C::MeasureNumber, C::Department, C::Period])
}

/// The rows of one report key in a table whose key columns are `[plan, measure number,
/// department, period]`.
fn key_condition<C: ColumnTrait>(key: &ReportKey, [plan, measure, department, period]: [C; 4]) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(plan.eq(key.plan.clone()))
        .add(measure.eq(key.measure.clone()))
        .add(department.eq(key.department.clone()))
        .add(period.eq(key.period.key()))
}

/// `query` filtered by `condition`, unless the filter field `value` is empty, which
/// in every listing means "any".
fn unless_empty<E: EntityTrait>(query: Select<E>, condition: SimpleExpr, value: &str) -> Select<E> {
    if value.is_empty() {
        query
    } else {
        query.filter(condition)
    }
}

impl ReportStore {
    /// Wraps a migrated connection.
    pub fn new(db: DatabaseConnection) -> Self {
        Self::with_aggregates(db, Aggregates::Maintained)
    }

    /// Wraps a migrated connection, maintaining the progress aggregate or not.
    pub fn with_aggregates(db: DatabaseConnection, aggregates: Aggregates) -> Self {
        Self { db, aggregates }
    }

    /// The connection.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// A report key's pointer row.
    pub async fn pointer(&self, db: &impl ConnectionTrait, key: &ReportKey) -> Result<Option<report::Model>, DbErr> {
        let select = report::Entity::find_by_id((
            key.plan.clone(),
            key.measure.clone(),
            key.department.clone(),
            key.period.key(),
        ));
        by_key(select, db).await
    }

    /// A report key's pointer row with one of its revisions (`None`: the current one), in
    /// one statement: GetReport's read. `None` when the key has no pointer; the revision
    /// is `None` when the key has no such revision.
    pub async fn pointer_and_revision(
        &self,
        key: &ReportKey,
        revision: Option<i32>,
    ) -> Result<Option<(report::Model, Option<report_revision::Model>)>, DbErr> {
        use report::Column as P;
        use report_revision::Column as R;
        let of_the_key: RelationDef = report::Entity::belongs_to(report_revision::Entity)
            .from((P::Plan, P::MeasureNumber, P::Department, P::Period))
            .to((R::Plan, R::MeasureNumber, R::Department, R::Period))
            .into();
        let which = match revision {
            Some(number) => R::Revision.eq(number),
            None => Expr::col((report_revision::Entity, R::Revision)).equals((report::Entity, P::Revision)),
        };
        let select = report::Entity::find_by_id((
            key.plan.clone(),
            key.measure.clone(),
            key.department.clone(),
            key.period.key(),
        ))
        .join(
            JoinType::LeftJoin,
            of_the_key.on_condition(move |_, _| which.clone().into()),
        )
        .select_also(report_revision::Entity);
        let mut rows = select.all(&self.db).await?;
        if rows.len() > 1 {
            return Err(DbErr::Custom(format!(
                "{} revisions matched one of {}",
                rows.len(),
                key.name()
            )));
        }
        Ok(rows.pop())
    }

    /// One revision.
    pub async fn revision(
        &self,
        db: &impl ConnectionTrait,
        key: &ReportKey,
        revision: i32,
    ) -> Result<Option<report_revision::Model>, DbErr> {
        let select = report_revision::Entity::find_by_id((
            key.plan.clone(),
            key.measure.clone(),
            key.department.clone(),
            key.period.key(),
            revision,
        ));
        by_key(select, db).await
    }

    /// Given revisions of a plan's keys, `(measure, department, period, revision)`, by
    /// primary key, a hundred per query (order not kept; missing ones left out).
    ///
    /// Each term of the OR names the whole primary key, the plan too, so that SQLite looks
    /// each one up in the key's index. With the plan factored out of the OR, SQLite
    /// (without ANALYZE statistics) walked every revision of the plan instead, testing
    /// each against every term, so a ListReports page slowed with every revision stored
    /// (BENCHMARKS.md, "Third run").
    pub async fn revisions_at(
        &self,
        plan: &str,
        keys: &[(String, String, String, i32)],
    ) -> Result<Vec<report_revision::Model>, DbErr> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            out.extend(revisions_at_query(plan, chunk).all(&self.db).await?);
        }
        Ok(out)
    }

    /// Each of `pointers` with the revision it points at, in the pointers' order, read in one
    /// query per hundred (revisions_at): the current report of each key without a query
    /// each. A pointer whose revision is missing is left out.
    pub async fn current_revisions<'p>(
        &self,
        plan: &str,
        pointers: impl IntoIterator<Item = &'p report::Model>,
    ) -> Result<Vec<(&'p report::Model, report_revision::Model)>, DbErr> {
        let pointers: Vec<&report::Model> = pointers.into_iter().collect();
        let wanted: Vec<_> = pointers
            .iter()
            .map(|p| {
                (
                    p.measure_number.clone(),
                    p.department.clone(),
                    p.period.clone(),
                    p.revision,
                )
            })
            .collect();
        let mut rows: std::collections::HashMap<_, _> = self
            .revisions_at(plan, &wanted)
            .await?
            .into_iter()
            .map(|row| {
                (
                    (row.measure_number.clone(), row.department.clone(), row.period.clone()),
                    row,
                )
            })
            .collect();
        Ok(pointers
            .into_iter()
            .filter_map(|p| {
                let row = rows.remove(&(p.measure_number.clone(), p.department.clone(), p.period.clone()))?;
                Some((p, row))
            })
            .collect())
    }

    /// A page of a key's revisions, newest first, and their count.
    pub async fn revisions(
        &self,
        key: &ReportKey,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<report_revision::Model>, u64), DbErr> {
        let query = report_revision::Entity::find().filter(revision_key(key));
        let total = query.clone().count(&self.db).await?;
        let rows = query
            .order_by_desc(report_revision::Column::Revision)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((rows, total))
    }

    /// A page of pointer rows: newest period first, then measure number (in number
    /// order) and department code.
    pub async fn pointers(
        &self,
        plan: &str,
        filter: &ReportFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<report::Model>, u64), DbErr> {
        use report::Column as C;
        let mut query = report::Entity::find().filter(C::Plan.eq(plan));
        query = unless_empty(query, C::MeasureNumber.eq(&filter.measure), &filter.measure);
        query = unless_empty(query, C::Department.eq(&filter.department), &filter.department);
        query = unless_empty(query, C::Period.eq(&filter.period), &filter.period);
        query = unless_empty(query, C::State.eq(&filter.state), &filter.state);
        let total = query.clone().count(&self.db).await?;
        // `measure_key` sorts measure numbers in number order ("2.1" before "10.1");
        // the primary key's columns complete the order, so pages never overlap.
        let rows = query
            .order_by_desc(C::Period)
            .order_by_asc(C::MeasureKey)
            .order_by_asc(C::MeasureNumber)
            .order_by_asc(C::Department)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((rows, total))
    }

    /// Every pointer row of a plan (one per report key, never per revision).
    pub async fn all_pointers(&self, plan: &str) -> Result<Vec<report::Model>, DbErr> {
        report::Entity::find()
            .filter(report::Column::Plan.eq(plan))
            .all(&self.db)
            .await
    }

    /// The aggregate rows of some targets in two slots (counted and, to tell why a
    /// value is missing, the provisional-including and returned ones).
    pub async fn progress_rows(
        &self,
        plan: &str,
        targets: &[String],
        slots: &[Slot],
    ) -> Result<Vec<progress_value::Model>, DbErr> {
        let mut out = Vec::new();
        for chunk in targets.chunks(100) {
            let rows = progress_value::Entity::find()
                .filter(progress_value::Column::Plan.eq(plan))
                .filter(progress_value::Column::TargetCode.is_in(chunk.iter().cloned()))
                .filter(progress_value::Column::Slot.is_in(slots.iter().map(|s| s.key())))
                .all(&self.db)
                .await?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// For an `as_of` in the past: the latest revision of a key submitted before
    /// `cutoff_us` that `slot` admits now. Reads only that key's revisions.
    pub async fn revision_before(
        &self,
        key: &ReportKey,
        cutoff_us: i64,
        slot: Slot,
    ) -> Result<Option<report_revision::Model>, DbErr> {
        // One row, the slot's condition in SQL: the key's revisions are walked newest
        // first in its index and the walk stops at the first admitted. Reading them all
        // made the overview of a past date slow with history (BENCHMARKS.md, "Fourth run").
        admitted_by(report_revision::Entity::find().filter(revision_key(key)), slot)
            .filter(report_revision::Column::SubmitTimeUs.lt(cutoff_us))
            .order_by_desc(report_revision::Column::Revision)
            .one(&self.db)
            .await
    }

    /// Events of a plan after a sequence, oldest first.
    pub async fn events_after(&self, plan: &str, after: i64, limit: u64) -> Result<Vec<report_event::Model>, DbErr> {
        report_event::Entity::find()
            .filter(report_event::Column::Plan.eq(plan))
            .filter(report_event::Column::Sequence.gt(after))
            .order_by_asc(report_event::Column::Sequence)
            .limit(limit)
            .all(&self.db)
            .await
    }

    /// Events of every plan after a sequence, oldest first: what the live feed reads.
    pub async fn events_since(&self, after: i64, limit: u64) -> Result<Vec<report_event::Model>, DbErr> {
        report_event::Entity::find()
            .filter(report_event::Column::Sequence.gt(after))
            .order_by_asc(report_event::Column::Sequence)
            .limit(limit)
            .all(&self.db)
            .await
    }

    /// The newest event's sequence (any plan), 0 if there is none.
    pub async fn newest_event(&self) -> Result<i64, DbErr> {
        Ok(report_event::Entity::find()
            .order_by_desc(report_event::Column::Sequence)
            .one(&self.db)
            .await?
            .map_or(0, |e| e.sequence))
    }

    /// The oldest event (any plan) a watcher may still resume from: the first one at or
    /// after `cutoff_us`, or else the newest of all, which pruning keeps as the
    /// high-water mark. Decided by time, not by what pruning has removed so far, so
    /// the answer does not depend on when the feed last pruned.
    pub async fn oldest_kept_event(&self, cutoff_us: i64) -> Result<Option<i64>, DbErr> {
        let fresh = report_event::Entity::find()
            .filter(report_event::Column::EventTimeUs.gte(cutoff_us))
            .order_by_asc(report_event::Column::Sequence)
            .one(&self.db)
            .await?;
        match fresh {
            Some(event) => Ok(Some(event.sequence)),
            None => Ok(Some(self.newest_event().await?).filter(|sequence| *sequence > 0)),
        }
    }

    /// Removes events older than `before_us`, except the newest event of all: it
    /// stays as the high-water mark, so that a watcher resuming from a pruned sequence
    /// is told EVENTS_EXPIRED even when every event has expired.
    pub async fn prune_events(&self, db: &impl ConnectionTrait, before_us: i64) -> Result<u64, DbErr> {
        let Some(newest) = report_event::Entity::find()
            .order_by_desc(report_event::Column::Sequence)
            .one(db)
            .await?
        else {
            return Ok(0);
        };
        Ok(report_event::Entity::delete_many()
            .filter(report_event::Column::EventTimeUs.lt(before_us))
            .filter(report_event::Column::Sequence.lt(newest.sequence))
            .exec(db)
            .await?
            .rows_affected)
    }

    /// A page of audit records, newest first, and the count.
    pub async fn audit_records(
        &self,
        filter: &AuditFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<audit_record::Model>, u64), DbErr> {
        use audit_record::Column as C;
        let mut query = audit_record::Entity::find();
        query = unless_empty(query, C::Department.eq(&filter.department), &filter.department);
        query = unless_empty(query, C::Method.eq(&filter.method), &filter.method);
        query = unless_empty(
            query,
            C::Resource.starts_with(&filter.resource_prefix),
            &filter.resource_prefix,
        );
        query = unless_empty(query, C::RequestId.eq(&filter.request_id), &filter.request_id);
        if let Some(code) = filter.code {
            query = query.filter(C::Code.eq(code));
        }
        if let Some(start) = filter.start_us {
            query = query.filter(C::TimeUs.gte(start));
        }
        if let Some(end) = filter.end_us {
            query = query.filter(C::TimeUs.lt(end));
        }
        let total = query.clone().count(&self.db).await?;
        let rows = query
            .order_by_desc(C::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((rows, total))
    }

    /// How many audit records are older than `end_us`.
    pub async fn count_audit_before(&self, db: &impl ConnectionTrait, end_us: i64) -> Result<u64, DbErr> {
        audit_record::Entity::find()
            .filter(audit_record::Column::TimeUs.lt(end_us))
            .count(db)
            .await
    }

    // ---- write steps, run by the writer inside its transaction ----

    /// Deletes the audit records older than `end_us` (an archived range).
    pub async fn delete_audit_before(&self, db: &impl ConnectionTrait, end_us: i64) -> Result<u64, DbErr> {
        Ok(audit_record::Entity::delete_many()
            .filter(audit_record::Column::TimeUs.lt(end_us))
            .exec(db)
            .await?
            .rows_affected)
    }

    // Writes are single statements that return nothing: the caller holds the row
    // already, so reading it back (as `ActiveModel::insert` and `update` do) would only
    // cost time in the writer's transaction.

    /// Replaces a revision's review columns and state.
    pub async fn update_revision(&self, db: &impl ConnectionTrait, row: report_revision::Model) -> Result<(), DbErr> {
        use report_revision::Column as C;
        let filter = sea_orm::Condition::all()
            .add(C::Plan.eq(row.plan.clone()))
            .add(C::MeasureNumber.eq(row.measure_number.clone()))
            .add(C::Department.eq(row.department.clone()))
            .add(C::Period.eq(row.period.clone()))
            .add(C::Revision.eq(row.revision));
        let active: report_revision::ActiveModel = row.into();
        report_revision::Entity::update_many()
            .set(active.reset_all())
            .filter(filter)
            .exec(db)
            .await?;
        Ok(())
    }

    /// Records that `row` was returned, for [`Self::returned_counts`].
    pub async fn record_return(&self, db: &impl ConnectionTrait, row: &report_revision::Model) -> Result<(), DbErr> {
        let returned = returned_revision::Model {
            plan: row.plan.clone(),
            measure_number: row.measure_number.clone(),
            department: row.department.clone(),
            period: row.period.clone(),
            revision: row.revision,
            submit_time_us: row.submit_time_us,
        };
        let active: returned_revision::ActiveModel = returned.into();
        returned_revision::Entity::insert(active)
            .exec_without_returning(db)
            .await?;
        Ok(())
    }

    /// Inserts or replaces a pointer row.
    pub async fn save_pointer(&self, db: &impl ConnectionTrait, row: report::Model, exists: bool) -> Result<(), DbErr> {
        use report::Column as C;
        let filter = sea_orm::Condition::all()
            .add(C::Plan.eq(row.plan.clone()))
            .add(C::MeasureNumber.eq(row.measure_number.clone()))
            .add(C::Department.eq(row.department.clone()))
            .add(C::Period.eq(row.period.clone()));
        let active: report::ActiveModel = row.into();
        if exists {
            report::Entity::update_many()
                .set(active.reset_all())
                .filter(filter)
                .exec(db)
                .await?;
        } else {
            report::Entity::insert(active.reset_all())
                .exec_without_returning(db)
                .await?;
        }
        Ok(())
    }

    /// Rewrites the aggregate rows of one report key from its revisions: for each
    /// slot, the latest revision the slot admits contributes its metric values.
    pub async fn refresh_aggregate(&self, db: &impl ConnectionTrait, key: &ReportKey) -> Result<(), DbErr> {
        if self.aggregates == Aggregates::SkippedForBenchmark {
            return Ok(());
        }
        progress_value::Entity::delete_many()
            .filter(progress_key(key))
            .exec(db)
            .await?;
        for slot in Slot::ALL {
            use report_revision::Column as R;
            let query = admitted_by(report_revision::Entity::find().filter(revision_key(key)), slot);
            let Some(row) = query.order_by_desc(R::Revision).one(db).await? else {
                continue;
            };
            let metrics = convert::metric_rows(&row);
            let rows = metrics.iter().map(|metric| aggregate_row(slot, &row, metric)).collect();
            insert_aggregate_rows(db, rows).await?;
        }
        Ok(())
    }

    /// Appends an event; returns it with its sequence.
    pub async fn insert_event(
        &self,
        db: &impl ConnectionTrait,
        mut row: report_event::Model,
    ) -> Result<report_event::Model, DbErr> {
        let mut active: report_event::ActiveModel = row.clone().into();
        active = active.reset_all();
        active.sequence = sea_orm::ActiveValue::NotSet;
        let result = report_event::Entity::insert(active).exec(db).await?;
        row.sequence = result.last_insert_id;
        Ok(row)
    }

    /// How many revisions of each (department, period) of `plan` submitted before
    /// `before_us` are RETURNED: one row per pair with at least one. By submit time, not
    /// review time: a view of a past date counts what was filed by then and found wanting,
    /// and backfilled history is reviewed after the fact. Reads `returned_revision`, so
    /// its cost grows with the plan's returns, not with its revisions.
    pub async fn returned_counts(&self, plan: &str, before_us: i64) -> Result<Vec<(String, String, i64)>, DbErr> {
        use returned_revision::Column as C;
        returned_revision::Entity::find()
            .select_only()
            .column(C::Department)
            .column(C::Period)
            .column_as(C::Revision.count(), "returned")
            .filter(C::Plan.eq(plan))
            .filter(C::SubmitTimeUs.lt(before_us))
            .group_by(C::Department)
            .group_by(C::Period)
            .into_tuple()
            .all(&self.db)
            .await
    }

    /// Number of revision rows (for tests and diagnostics).
    pub async fn revision_count(&self) -> Result<u64, DbErr> {
        report_revision::Entity::find().count(&self.db).await
    }

    /// Blanks every stored revision's values, to prove that progress is read from the
    /// aggregate alone. Destructive: only test builds (the `testing` feature) have it.
    #[cfg(feature = "testing")]
    pub async fn blank_revision_bodies(&self) -> Result<u64, DbErr> {
        use sea_orm::sea_query::Expr;

        Ok(report_revision::Entity::update_many()
            .col_expr(report_revision::Column::MetricValues, Expr::value("[]"))
            .exec(&self.db)
            .await?
            .rows_affected)
    }
}

/// The query of [`ReportStore::revisions_at`] for one chunk of keys.
fn revisions_at_query(plan: &str, keys: &[(String, String, String, i32)]) -> Select<report_revision::Entity> {
    use report_revision::Column as C;
    let any = keys.iter().fold(
        sea_orm::Condition::any(),
        |any, (measure, department, period, revision)| {
            any.add(
                sea_orm::Condition::all()
                    .add(C::Plan.eq(plan))
                    .add(C::MeasureNumber.eq(measure.as_str()))
                    .add(C::Department.eq(department.as_str()))
                    .add(C::Period.eq(period.as_str()))
                    .add(C::Revision.eq(*revision)),
            )
        },
    );
    report_revision::Entity::find().filter(any)
}

#[cfg(test)]
mod tests {
    use duban_kit::testing::{Backend, TestDatabase};
    use sea_orm::{DbBackend, QueryTrait, Statement};

    use super::*;

    /// SQLite's plan of `query` on a migrated reporting database (the `detail` lines).
    async fn query_plan(query: Select<impl EntityTrait>) -> Vec<String> {
        let database = TestDatabase::new(Backend::Sqlite)
            .await
            .expect("SQLite needs no server");
        let db = duban_kit::db::connect_and_migrate::<crate::migration::Migrator>(database.url())
            .await
            .expect("migrated");
        let query = query.build(DbBackend::Sqlite);
        let explain = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!("EXPLAIN QUERY PLAN {}", query.sql),
            query.values.map(|v| v.0).unwrap_or_default(),
        );
        db.query_all_raw(explain)
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<String>("", "detail").unwrap())
            .collect()
    }

    /// SQLite looks every key of a revisions_at query up in the primary key's index
    /// rather than walking the plan's revisions, whatever their number (there are no
    /// ANALYZE statistics to steer it).
    #[tokio::test]
    async fn revisions_at_looks_each_key_up_in_the_index() {
        let keys: Vec<_> = (1..=50)
            .map(|i| (format!("{}.1", i % 29 + 1), format!("unit{i}"), "2023-05".to_owned(), i))
            .collect();
        let plan = query_plan(revisions_at_query("JD2023", &keys)).await;
        let searches: Vec<_> = plan.iter().filter(|line| line.contains("SEARCH")).collect();
        assert!(!searches.is_empty(), "no index search in {plan:?}");
        for line in &searches {
            assert!(
                line.contains("revision=?"),
                "a search that does not name the whole key, so it walks the plan's revisions: {plan:?}"
            );
        }
        assert!(!plan.iter().any(|line| line.starts_with("SCAN")), "a scan in {plan:?}");
    }
}
