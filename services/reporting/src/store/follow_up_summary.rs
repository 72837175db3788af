//! The counts behind GetFollowUpSummary, taken in SQL: a plan's notices of a window of
//! days by level, all and not acknowledged.

use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::ReportStore;
use crate::entity::notice;

impl ReportStore {
    /// `(level, notices, of them not acknowledged)` for the notices of `plan` whose day is
    /// from `first_day` to `last_day` (`YYYY-MM-DD`, inclusive), one row per level that
    /// has any.
    pub async fn notice_level_counts(
        &self,
        plan: &str,
        first_day: &str,
        last_day: &str,
    ) -> Result<Vec<(String, i64, i64)>, DbErr> {
        use notice::Column as C;
        let count = |unacknowledged: bool| {
            let mut query = notice::Entity::find()
                .select_only()
                .column(C::Level)
                .column_as(C::Id.count(), "notices")
                .filter(C::Plan.eq(plan))
                .filter(C::Day.gte(first_day))
                .filter(C::Day.lte(last_day));
            if unacknowledged {
                query = query.filter(C::AcknowledgeTimeUs.is_null());
            }
            query.group_by(C::Level).into_tuple::<(String, i64)>().all(&self.db)
        };
        let (all, unacknowledged) = futures::try_join!(count(false), count(true))?;
        Ok(all
            .into_iter()
            .map(|(level, notices)| {
                let open = unacknowledged.iter().find(|(l, _)| *l == level).map_or(0, |(_, n)| *n);
                (level, notices, open)
            })
            .collect())
    }
}
