//! The queries of the `notice` table: storing the day's notices once each (ON CONFLICT
//! DO NOTHING on the deduplication key), their acknowledgement in the writer's
//! transaction, and the reads of ListNotices and GetNotice.

use duban_kit::db::by_key;
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
        by_key(notice::Entity::find_by_id((plan.to_owned(), id.to_owned())), db).await
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

/// What one delivery round decided for a notice, written by the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryUpdate {
    /// `NoticeDeliveryState` contract name.
    pub state: String,
    /// Failed rounds so far.
    pub attempts: i32,
    /// When it is looked at again (FAILED, or PENDING waiting for e-mail).
    pub next_attempt_time_us: Option<i64>,
    /// The last failure, or empty.
    pub last_error: String,
    /// Whether it is delivered now (its time is the commit's).
    pub delivered: bool,
    /// JSON array of the endpoints that accepted it so far.
    pub delivered_endpoints: String,
}

impl ReportStore {
    /// The notices of every plan whose delivery is due at `now_us`: PENDING, or FAILED,
    /// with no next attempt time or one passed; oldest first, at most `limit`.
    pub async fn notices_to_deliver(&self, now_us: i64, limit: u64) -> Result<Vec<notice::Model>, DbErr> {
        use duban_proto::reporting::v1::NoticeDeliveryState as S;
        use notice::Column as C;
        use sea_orm::{Condition, QuerySelect};
        notice::Entity::find()
            .filter(C::DeliveryState.is_in([S::Pending.as_str_name(), S::Failed.as_str_name()]))
            .filter(
                Condition::any()
                    .add(C::NextAttemptTimeUs.is_null())
                    .add(C::NextAttemptTimeUs.lte(now_us)),
            )
            .order_by_asc(C::CreateTimeUs)
            .order_by_asc(C::Plan)
            .order_by_asc(C::Id)
            .limit(limit)
            .all(&self.db)
            .await
    }

    /// Puts a FAILED or DEAD_LETTER notice back to PENDING with no failed attempt counted
    /// (its last error and the endpoints that accepted it stay).
    pub async fn requeue_notice(&self, db: &impl ConnectionTrait, plan: &str, id: &str) -> Result<(), DbErr> {
        use duban_proto::reporting::v1::NoticeDeliveryState as S;
        use notice::Column as C;
        notice::Entity::update_many()
            .col_expr(C::DeliveryState, S::Pending.as_str_name().into())
            .col_expr(C::DeliveryAttempts, 0.into())
            .col_expr(C::NextAttemptTimeUs, Option::<i64>::None.into())
            .filter(C::Plan.eq(plan))
            .filter(C::Id.eq(id))
            .filter(C::DeliveryState.is_in([S::DeadLetter.as_str_name(), S::Failed.as_str_name()]))
            .exec(db)
            .await?;
        Ok(())
    }

    /// Records a delivery round's outcome (or one endpoint's acceptance during it),
    /// unless another round (another replica) finished the notice meanwhile: only a
    /// PENDING or FAILED notice changes. The endpoints that accepted it are added to
    /// those stored, never removed, so two replicas' rounds do not forget each other's.
    pub async fn record_delivery(
        &self,
        db: &impl ConnectionTrait,
        plan: &str,
        id: &str,
        update: &DeliveryUpdate,
        now_us: i64,
    ) -> Result<u64, DbErr> {
        use duban_proto::reporting::v1::NoticeDeliveryState as S;
        use notice::Column as C;
        let Some(stored) = self.notice(db, plan, id).await? else {
            return Ok(0);
        };
        let mut accepted: std::collections::BTreeSet<String> =
            serde_json::from_str(&stored.delivered_endpoints).unwrap_or_default();
        accepted.extend(serde_json::from_str::<Vec<String>>(&update.delivered_endpoints).unwrap_or_default());
        let accepted = serde_json::to_string(&accepted).unwrap_or_else(|_| "[]".into());
        let result = notice::Entity::update_many()
            .col_expr(C::DeliveryState, update.state.as_str().into())
            .col_expr(C::DeliveryAttempts, update.attempts.into())
            .col_expr(C::NextAttemptTimeUs, update.next_attempt_time_us.into())
            .col_expr(C::LastError, update.last_error.as_str().into())
            .col_expr(C::DeliveredTimeUs, update.delivered.then_some(now_us).into())
            .col_expr(C::DeliveredEndpoints, accepted.into())
            .filter(C::Plan.eq(plan))
            .filter(C::Id.eq(id))
            .filter(C::DeliveryState.is_in([S::Pending.as_str_name(), S::Failed.as_str_name()]))
            .exec(db)
            .await?;
        Ok(result.rows_affected)
    }
}
