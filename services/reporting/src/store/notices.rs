//! The queries of the `notice` table: storing the day's notices once each (ON CONFLICT
//! DO NOTHING on the deduplication key), their acknowledgement in the writer's
//! transaction, and the reads of ListNotices and GetNotice.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, sea_query::OnConflict,
};

use super::ReportStore;
use crate::entity::notice;

/// Rows per INSERT: 18 columns each stays far below SQLite's bound on parameters.
const INSERT_CHUNK: usize = 500;

/// Filters of ListNotices; empty strings mean "any".
#[derive(Debug, Clone, Default)]
pub struct NoticeFilter {
    /// About this unit.
    pub department: String,
    /// `NoticeLevel` contract name.
    pub level: String,
    /// `NoticeDeliveryState` contract name.
    pub delivery_state: String,
    /// Acknowledged or not.
    pub acknowledged: Option<bool>,
}

impl ReportStore {
    /// Stores the notices not stored yet and returns how many that was: a notice whose
    /// plan and key are stored already is left alone (ON CONFLICT DO NOTHING), so two
    /// replicas or two runs of the same day store it once.
    pub async fn insert_notices(&self, db: &impl ConnectionTrait, rows: Vec<notice::Model>) -> Result<u64, DbErr> {
        use notice::Column as C;
        let mut stored = 0;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<notice::ActiveModel> = rows
                .by_ref()
                .take(INSERT_CHUNK)
                .map(|row| notice::ActiveModel::from(row).reset_all())
                .collect();
            stored += notice::Entity::insert_many(chunk)
                .on_conflict(OnConflict::columns([C::Plan, C::Id]).do_nothing().to_owned())
                .exec_without_returning(db)
                .await?;
        }
        Ok(stored)
    }

    /// One notice, if stored.
    pub async fn notice(
        &self,
        db: &impl ConnectionTrait,
        plan: &str,
        id: &str,
    ) -> Result<Option<notice::Model>, DbErr> {
        notice::Entity::find_by_id((plan.to_owned(), id.to_owned()))
            .one(db)
            .await
    }

    /// The notices of a plan that match `filter`, newest day first, then by key.
    pub async fn notices(&self, plan: &str, filter: &NoticeFilter) -> Result<Vec<notice::Model>, DbErr> {
        use notice::Column as C;
        let mut query = notice::Entity::find().filter(C::Plan.eq(plan));
        for (column, value) in [
            (C::Department, &filter.department),
            (C::Level, &filter.level),
            (C::DeliveryState, &filter.delivery_state),
        ] {
            if !value.is_empty() {
                query = query.filter(column.eq(value.as_str()));
            }
        }
        query = match filter.acknowledged {
            Some(true) => query.filter(C::AcknowledgeTimeUs.is_not_null()),
            Some(false) => query.filter(C::AcknowledgeTimeUs.is_null()),
            None => query,
        };
        query.order_by_desc(C::Day).order_by_asc(C::Id).all(&self.db).await
    }

    /// Records the first acknowledgement of a notice; a later one changes nothing.
    pub async fn acknowledge_notice(
        &self,
        db: &impl ConnectionTrait,
        plan: &str,
        id: &str,
        department: &str,
        now_us: i64,
    ) -> Result<(), DbErr> {
        use notice::Column as C;
        notice::Entity::update_many()
            .col_expr(C::AcknowledgeTimeUs, now_us.into())
            .col_expr(C::AcknowledgedBy, department.into())
            .filter(C::Plan.eq(plan))
            .filter(C::Id.eq(id))
            .filter(C::AcknowledgeTimeUs.is_null())
            .exec(db)
            .await?;
        Ok(())
    }
}
