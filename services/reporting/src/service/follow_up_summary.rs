//! GetFollowUpSummary: a plan's follow-up in figures, in one call, for the dashboard's
//! overview (the gateway would otherwise page through every notice and order).

use chrono::Days;
use duban_kit::{Principal, auth::Verified};
use duban_proto::reporting::v1 as pb;

use super::{Reporting, Result, orders::UNCLOSED, parent_plan, role_not_allowed};
use crate::{calendar, convert, error::ReportingError, service::order_rules};

/// The window when the request leaves it unset, and the longest one.
const DEFAULT_WINDOW_DAYS: i32 = 30;
const MAX_WINDOW_DAYS: i32 = 366;

impl Reporting {
    /// GetFollowUpSummary.
    pub async fn get_follow_up_summary(
        &self,
        caller: &Verified,
        request: &pb::GetFollowUpSummaryRequest,
    ) -> Result<pb::FollowUpSummary> {
        if !matches!(
            caller.principal,
            Principal::Leadership | Principal::Admin | Principal::Service
        ) {
            return Err(role_not_allowed("GetFollowUpSummary", &caller.principal));
        }
        let plan_code = parent_plan(&request.parent)?;
        let window_days = match request.window_days {
            0 => DEFAULT_WINDOW_DAYS,
            days if (1..=MAX_WINDOW_DAYS).contains(&days) => days,
            _ => {
                return Err(ReportingError::invalid(
                    "window_days",
                    format!("must be from 1 to {MAX_WINDOW_DAYS} (0 means {DEFAULT_WINDOW_DAYS})"),
                ));
            }
        };
        let plan = self.catalog.plan(&plan_code).await?;
        let today = plan.cadence.zone.today();
        let as_of = Self::as_of(request.as_of.as_ref(), today)?;
        let first = as_of - Days::new(u64::try_from(window_days - 1).unwrap_or(0));
        let (first, last) = (first.to_string(), as_of.to_string());
        let (counts, orders) = futures::try_join!(
            self.store.notice_level_counts(&plan_code, &first, &last),
            self.store.orders(&plan_code),
        )?;
        let mut notices: Vec<pb::NoticeLevelCount> = counts
            .into_iter()
            .filter_map(|(level, count, unacknowledged)| {
                Some(pb::NoticeLevelCount {
                    level: pb::NoticeLevel::from_str_name(&level)? as i32,
                    count: i32::try_from(count).unwrap_or(i32::MAX),
                    unacknowledged_count: i32::try_from(unacknowledged).unwrap_or(i32::MAX),
                })
            })
            .collect();
        notices.sort_by_key(|n| n.level);
        let mut summary = pb::FollowUpSummary {
            as_of: Some(calendar::date_to_proto(as_of)),
            window_days,
            notices,
            ..Default::default()
        };
        let mut by_level: std::collections::BTreeMap<i32, i32> = std::collections::BTreeMap::new();
        for (order, parts) in &orders {
            if order.state != pb::OrderState::Open.as_str_name() {
                continue;
            }
            *by_level
                .entry(pb::OrderLevel::from_str_name(&order.level).unwrap_or_default() as i32)
                .or_default() += 1;
            let Some(due) = convert::due_date(order) else { continue };
            for part in parts {
                let state = convert::part_state(part);
                if UNCLOSED.contains(&state) {
                    summary.open_order_part_count += 1;
                    summary.overdue_order_part_count += i32::from(order_rules::overdue(state, due, today));
                }
            }
        }
        summary.open_orders = by_level
            .into_iter()
            .map(|(level, count)| pb::OrderLevelCount { level, count })
            .collect();
        Ok(summary)
    }
}
