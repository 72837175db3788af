//! The queries of the `blocker` table: a key's blockers when a report is decided, their
//! writes in the writer's transaction, and the listings (ListBlockers, obligations).

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use super::ReportStore;
use crate::entity::blocker;

/// Filters of ListBlockers; empty strings mean "any".
#[derive(Debug, Clone, Default)]
pub struct BlockerFilter {
    /// Raised by this department.
    pub department: String,
    /// Addressed to this department.
    pub support_unit: String,
    /// For a DEPARTMENT caller naming neither: raised by it or addressed to it.
    pub involving: String,
    /// Of this measure.
    pub measure: String,
    /// In this `BlockerState`.
    pub state: String,
}

impl ReportStore {
    /// Every blocker a department raised on a measure, in number order.
    pub async fn key_blockers(
        &self,
        db: &impl ConnectionTrait,
        plan: &str,
        measure: &str,
        department: &str,
    ) -> Result<Vec<blocker::Model>, DbErr> {
        use blocker::Column as C;
        blocker::Entity::find()
            .filter(C::Plan.eq(plan))
            .filter(C::MeasureNumber.eq(measure))
            .filter(C::Department.eq(department))
            .order_by_asc(C::Number)
            .all(db)
            .await
    }

    /// The blockers of a plan that match `filter`, by measure number, department and
    /// number.
    pub async fn blockers(&self, plan: &str, filter: &BlockerFilter) -> Result<Vec<blocker::Model>, DbErr> {
        use blocker::Column as C;
        let mut query = blocker::Entity::find().filter(C::Plan.eq(plan));
        for (column, value) in [
            (C::Department, &filter.department),
            (C::SupportUnit, &filter.support_unit),
            (C::MeasureNumber, &filter.measure),
            (C::State, &filter.state),
        ] {
            if !value.is_empty() {
                query = query.filter(column.eq(value.as_str()));
            }
        }
        if !filter.involving.is_empty() {
            query = query.filter(
                sea_orm::Condition::any()
                    .add(C::Department.eq(filter.involving.as_str()))
                    .add(C::SupportUnit.eq(filter.involving.as_str())),
            );
        }
        query
            .order_by_asc(C::MeasureKey)
            .order_by_asc(C::MeasureNumber)
            .order_by_asc(C::Department)
            .order_by_asc(C::Number)
            .all(&self.db)
            .await
    }

    /// Inserts a new blocker or replaces a stored one.
    pub async fn save_blocker(
        &self,
        db: &impl ConnectionTrait,
        row: blocker::Model,
        exists: bool,
    ) -> Result<(), DbErr> {
        use blocker::Column as C;
        let filter = sea_orm::Condition::all()
            .add(C::Plan.eq(row.plan.clone()))
            .add(C::MeasureNumber.eq(row.measure_number.clone()))
            .add(C::Department.eq(row.department.clone()))
            .add(C::Number.eq(row.number));
        let active: blocker::ActiveModel = row.into();
        if exists {
            blocker::Entity::update_many()
                .set(active.reset_all())
                .filter(filter)
                .exec(db)
                .await?;
        } else {
            blocker::Entity::insert(active.reset_all())
                .exec_without_returning(db)
                .await?;
        }
        Ok(())
    }
}
