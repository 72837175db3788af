//! A writer batch's statements: the reads of every submission of the batch at once
//! (a hundred keys a statement, each OR term naming a whole key or key prefix, so that
//! SQLite looks each up in an index; see `ReportStore::revisions_at`), and the writes of
//! its staged rows, one multi-row statement per table (per chunk of at most
//! [`MAX_PARAMETERS`] bind parameters), whatever the number of jobs. The callers
//! guarantee that no two rows of one write share a primary key.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IdenStatic, Iterable, PrimaryKeyToColumn,
    QueryFilter, sea_query::OnConflict,
};

use super::{Aggregates, ReportStore, aggregate_row, insert_aggregate_rows, revisions_at_query};
use crate::{
    convert::{self, ReportKey},
    entity::{audit_record, blocker, progress_value, report, report_event, report_revision},
    progress::Slot,
};

/// Most bind parameters in one statement: below SQLite's limit (32,766) and
/// PostgreSQL's (65,535).
const MAX_PARAMETERS: usize = 30_000;

/// What a row meets whose primary key is stored already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stored {
    /// The statement fails (and with it the transaction).
    Fails,
    /// The row replaces it.
    IsReplaced,
}

/// Writes `rows` with every column set but `generated` (drawn by the database).
pub(super) async fn write_rows<A, M>(
    db: &impl ConnectionTrait,
    rows: Vec<M>,
    generated: Option<<A::Entity as EntityTrait>::Column>,
    stored: Stored,
) -> Result<(), DbErr>
where
    A: ActiveModelTrait + From<M> + Send,
{
    let rows = rows
        .into_iter()
        .map(|row| {
            let mut active = A::from(row).reset_all();
            if let Some(column) = generated {
                active.not_set(column);
            }
            active
        })
        .collect();
    insert_all(db, rows, stored).await
}

/// Inserts `rows` in as few statements as the parameter limit allows.
async fn insert_all<A>(db: &impl ConnectionTrait, rows: Vec<A>, stored: Stored) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
{
    let columns = <A::Entity as EntityTrait>::Column::iter().count().max(1);
    let per_statement = (MAX_PARAMETERS / columns).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(per_statement).collect();
        let mut insert = <A::Entity as EntityTrait>::insert_many(chunk);
        if stored == Stored::IsReplaced {
            insert = insert.on_conflict(replace_on_conflict::<A::Entity>());
        }
        insert.exec_without_returning(db).await?;
    }
    Ok(())
}

/// `ON CONFLICT (primary key) DO UPDATE SET` every other column to the new row's.
fn replace_on_conflict<E: EntityTrait>() -> OnConflict {
    let key: Vec<E::Column> = E::PrimaryKey::iter().map(PrimaryKeyToColumn::into_column).collect();
    let others = E::Column::iter().filter(|column| !key.iter().any(|k| k.as_str() == column.as_str()));
    OnConflict::columns(key.clone()).update_columns(others).to_owned()
}

/// The submitted slots of the aggregate a new (SUBMITTED, latest) revision fills: both,
/// or only the provisional-including one.
fn new_revision_slots(row: &report_revision::Model) -> Vec<Slot> {
    [Slot::SubmittedAny, Slot::SubmittedFinal]
        .into_iter()
        .filter(|slot| slot.admits(&row.state, row.provisional))
        .collect()
}

/// Keys per read statement.
const KEYS_PER_READ: usize = 100;

impl ReportStore {
    /// The pointer rows of `keys`, in no order; keys without one are left out.
    pub async fn pointers_of(
        &self,
        db: &impl ConnectionTrait,
        keys: &[&ReportKey],
    ) -> Result<Vec<report::Model>, DbErr> {
        use report::Column as C;
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(KEYS_PER_READ) {
            let any = chunk.iter().fold(sea_orm::Condition::any(), |any, key| {
                any.add(
                    sea_orm::Condition::all()
                        .add(C::Plan.eq(key.plan.as_str()))
                        .add(C::MeasureNumber.eq(key.measure.as_str()))
                        .add(C::Department.eq(key.department.as_str()))
                        .add(C::Period.eq(key.period.key())),
                )
            });
            out.extend(report::Entity::find().filter(any).all(db).await?);
        }
        Ok(out)
    }

    /// Every blocker of each `(plan, measure, department)`, in no order.
    pub async fn blockers_of(
        &self,
        db: &impl ConnectionTrait,
        keys: &[(String, String, String)],
    ) -> Result<Vec<blocker::Model>, DbErr> {
        use blocker::Column as C;
        let mut out = Vec::new();
        for chunk in keys.chunks(KEYS_PER_READ) {
            let any = chunk
                .iter()
                .fold(sea_orm::Condition::any(), |any, (plan, measure, department)| {
                    any.add(
                        sea_orm::Condition::all()
                            .add(C::Plan.eq(plan.as_str()))
                            .add(C::MeasureNumber.eq(measure.as_str()))
                            .add(C::Department.eq(department.as_str())),
                    )
                });
            out.extend(blocker::Entity::find().filter(any).all(db).await?);
        }
        Ok(out)
    }

    /// The revisions `(key, number)`, in no order; missing ones are left out.
    pub async fn revisions_of(
        &self,
        db: &impl ConnectionTrait,
        keys: &[(&ReportKey, i32)],
    ) -> Result<Vec<report_revision::Model>, DbErr> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(KEYS_PER_READ) {
            // revisions_at_query is per plan; a batch is almost always of one.
            let mut plans: Vec<&str> = chunk.iter().map(|(key, _)| key.plan.as_str()).collect();
            plans.sort_unstable();
            plans.dedup();
            for plan in plans {
                let wanted: Vec<_> = chunk
                    .iter()
                    .filter(|(key, _)| key.plan == plan)
                    .map(|(key, revision)| (key.measure.clone(), key.department.clone(), key.period.key(), *revision))
                    .collect();
                out.extend(revisions_at_query(plan, &wanted).all(db).await?);
            }
        }
        Ok(out)
    }

    /// Adds revisions.
    pub async fn insert_revisions(
        &self,
        db: &impl ConnectionTrait,
        rows: Vec<report_revision::Model>,
    ) -> Result<(), DbErr> {
        write_rows::<report_revision::ActiveModel, _>(db, rows, None, Stored::Fails).await
    }

    /// Inserts or replaces pointer rows.
    pub async fn save_pointers(&self, db: &impl ConnectionTrait, rows: Vec<report::Model>) -> Result<(), DbErr> {
        write_rows::<report::ActiveModel, _>(db, rows, None, Stored::IsReplaced).await
    }

    /// Inserts new blockers or replaces stored ones.
    pub async fn save_blockers(&self, db: &impl ConnectionTrait, rows: Vec<blocker::Model>) -> Result<(), DbErr> {
        write_rows::<blocker::ActiveModel, _>(db, rows, None, Stored::IsReplaced).await
    }

    /// The aggregate after `rows`, new revisions of distinct keys, were stored: each is
    /// its key's latest and SUBMITTED, so it now fills the submitted slots that admit it,
    /// while the accepted and returned slots keep the revisions they hold. Same result
    /// as [`Self::refresh_aggregate`] for each key, in two statements for them all and
    /// without reading any history.
    pub async fn aggregate_new_revisions(
        &self,
        db: &impl ConnectionTrait,
        rows: &[report_revision::Model],
    ) -> Result<(), DbErr> {
        use progress_value::Column as P;
        if self.aggregates == Aggregates::SkippedForBenchmark || rows.is_empty() {
            return Ok(());
        }
        // Six parameters a key.
        for chunk in rows.chunks(MAX_PARAMETERS / 8) {
            let mut replaced = sea_orm::Condition::any();
            for row in chunk {
                replaced = replaced.add(
                    sea_orm::Condition::all()
                        .add(P::Plan.eq(row.plan.as_str()))
                        .add(P::MeasureNumber.eq(row.measure_number.as_str()))
                        .add(P::Department.eq(row.department.as_str()))
                        .add(P::Period.eq(row.period.as_str()))
                        .add(P::Slot.is_in(new_revision_slots(row).iter().map(|slot| slot.key()))),
                );
            }
            progress_value::Entity::delete_many().filter(replaced).exec(db).await?;
        }
        let values = rows
            .iter()
            .flat_map(|row| {
                let metrics = convert::metric_rows(row);
                new_revision_slots(row)
                    .into_iter()
                    .flat_map(move |slot| {
                        metrics
                            .iter()
                            .map(|metric| aggregate_row(slot, row, metric))
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        insert_aggregate_rows(db, values).await
    }

    /// Appends events, their sequence numbers drawn in the order given.
    pub async fn insert_events(&self, db: &impl ConnectionTrait, rows: Vec<report_event::Model>) -> Result<(), DbErr> {
        let sequence = Some(report_event::Column::Sequence);
        write_rows::<report_event::ActiveModel, _>(db, rows, sequence, Stored::Fails).await
    }

    /// Appends audit records, in the order given.
    pub async fn insert_audits(&self, db: &impl ConnectionTrait, rows: Vec<audit_record::Model>) -> Result<(), DbErr> {
        write_rows::<audit_record::ActiveModel, _>(db, rows, Some(audit_record::Column::Id), Stored::Fails).await
    }
}
