//! GetDepartmentScorecard: one department's measures, report calendar and contributions to targets.

use duban_kit::Principal;
use duban_proto::decimal;
use duban_proto::gateway::v1::ErrorReason;
use duban_proto::{gateway::v1 as pb, reporting::v1 as rpb};
use rust_decimal::{Decimal, RoundingStrategy, prelude::ToPrimitive as _};
use tonic::Code;

use chrono::NaiveDate;
use duban_kit::paging::{READ_ALL_PAGE_SIZE, read_all_pages};

use super::{Caller, Dashboard, plan_id, resolve_as_of, responsible_departments};
use crate::{calendar::to_date, error::GatewayError};

impl Dashboard {
    /// GetDepartmentScorecard.
    pub async fn scorecard(
        &self,
        caller: &Caller,
        request: &pb::GetDepartmentScorecardRequest,
    ) -> Result<pb::GetDepartmentScorecardResponse, GatewayError> {
        if let Principal::Department(own) = &caller.principal {
            if own != &request.department {
                return Err(GatewayError::NotOwnDepartment(caller.principal.label()));
            }
        } else {
            caller.require_reader("GetDepartmentScorecard")?;
        }
        let plan_id = plan_id(&request.plan, "plan")?;
        if request.department.is_empty() {
            return Err(GatewayError::invalid("department", "is required"));
        }
        let catalogue = self.backends.catalogue(&plan_id).await?;
        let (as_of, basis) = resolve_as_of(request.as_of.as_ref(), &catalogue.calendar)?;
        let code = request.department.as_str();
        if !catalogue.department_names.is_empty() && !catalogue.department_names.contains_key(code) {
            return Err(duban_kit::error::NotFound::new(ErrorReason::DepartmentNotFound, code).into());
        }
        let parent = format!("plans/{plan_id}");
        // The department's own calendar, orders and notices are read with the caller's
        // own token: reporting decides what this reader may see.
        let (snap, own, follow_up) = futures::join!(
            self.snapshot(&catalogue, as_of, false),
            self.compliance(&parent, as_of, caller, Some(code)),
            self.follow_up(&parent, as_of, caller, code),
        );
        let (open_orders, recent_notices, follow_up_unreachable) = match follow_up {
            Ok((orders, notices)) => (orders, notices, None),
            Err(status) if matches!(status.code(), Code::PermissionDenied | Code::Unauthenticated) => {
                return Err(GatewayError::Downstream(status));
            }
            Err(status) => {
                tracing::warn!(%status, "the follow-up services did not answer");
                (Vec::new(), Vec::new(), Some(FOLLOW_UP_SERVICES))
            }
        };
        let overview = self.assemble(&catalogue, &snap, as_of);
        let own = match own {
            Ok(own) => own.departments.into_iter().find(|d| d.department == code),
            Err(status) if matches!(status.code(), Code::PermissionDenied | Code::Unauthenticated) => {
                return Err(GatewayError::Downstream(status));
            }
            Err(_) => None,
        };
        let own = own.as_ref();
        let measures = catalogue
            .measures
            .iter()
            .zip(&overview.measures)
            .filter_map(|(m, status)| {
                let (_, lead, via) = responsible_departments(m).into_iter().find(|(c, ..)| c == code)?;
                Some(pb::ScorecardMeasure {
                    measure_number: m.number.clone(),
                    title: m.title.clone(),
                    title_en: m.title_en.clone(),
                    lead,
                    via_group: via,
                    rag: status.rag,
                    discipline: status.discipline,
                    own_status: status.units.iter().find(|u| u.department == code).cloned(),
                })
            })
            .collect();
        let contributions = overview
            .targets
            .iter()
            .filter_map(|t| {
                let target = t.target.as_ref()?;
                let progress = snap.progress.as_ref()?.get(&target.code)?;
                let contribution = progress.contributions.iter().find(|c| c.department == code)?.clone();
                let counted = contribution.status == rpb::ContributionStatus::Counted as i32;
                let sum = target.aggregation == duban_proto::common::v1::Aggregation::Sum as i32;
                let share = match (
                    decimal::from_proto(contribution.value.as_ref()),
                    decimal::from_proto(t.actual.as_ref()),
                ) {
                    (Some(v), Some(a)) if counted && sum && !a.is_zero() => Some(percent(v, a)),
                    _ => None,
                };
                Some(pb::ScorecardContribution {
                    target_code: target.code.clone(),
                    target_display_name: target.display_name.clone(),
                    unit: target.unit,
                    target_value: target.value.clone(),
                    target_actual: t.actual.clone(),
                    contribution: Some(contribution),
                    share_percent: share,
                })
            })
            .collect();
        Ok(pb::GetDepartmentScorecardResponse {
            as_of_basis: basis as i32,
            department: code.to_owned(),
            display_name: own
                .map(|d| d.display_name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| catalogue.department_name(code)),
            as_of: Some(to_date(as_of)),
            measures,
            calendar: own.map(|d| d.periods.clone()).unwrap_or_default(),
            reporting_rate: own.and_then(|d| d.reporting_rate),
            on_time_rate: own.and_then(|d| d.on_time_rate),
            contributions,
            unreachable: overview
                .unreachable
                .into_iter()
                .chain(follow_up_unreachable.into_iter().flatten().map(|s| (*s).to_owned()))
                .collect(),
            open_orders,
            recent_notices,
        })
    }

    /// The department's open supervision orders (oldest first) and its notices of the
    /// 30 days up to `as_of` (newest first), as `caller` may read them.
    async fn follow_up(
        &self,
        parent: &str,
        as_of: NaiveDate,
        caller: &Caller,
        code: &str,
    ) -> Result<(Vec<rpb::Order>, Vec<rpb::Notice>), tonic::Status> {
        let notices = self.backends.notices(caller.token.as_deref());
        let (orders, notices) = futures::try_join!(
            self.backends.all_orders(
                caller.token.as_deref(),
                rpb::ListOrdersRequest {
                    parent: parent.to_owned(),
                    department: code.to_owned(),
                    state: rpb::OrderState::Open as i32,
                    ..Default::default()
                },
            ),
            read_all_pages(|page_token| {
                let mut client = notices.clone();
                let request = rpb::ListNoticesRequest {
                    parent: parent.to_owned(),
                    department: code.to_owned(),
                    page_size: READ_ALL_PAGE_SIZE,
                    page_token,
                    ..Default::default()
                };
                async move {
                    let page = client.list_notices(request).await?.into_inner();
                    Ok::<_, tonic::Status>((page.notices, page.next_page_token))
                }
            }),
        )?;
        let since = as_of - chrono::Days::new(RECENT_NOTICE_DAYS);
        let mut recent: Vec<rpb::Notice> = notices
            .into_iter()
            .filter(|notice| {
                notice
                    .day
                    .as_ref()
                    .and_then(crate::calendar::to_naive)
                    .is_some_and(|day| day > since && day <= as_of)
            })
            .collect();
        recent.sort_by(|a, b| b.name.cmp(&a.name));
        Ok((orders, recent))
    }
}

/// How far back the department page shows notices.
const RECENT_NOTICE_DAYS: u64 = 30;

/// What the page names when the follow-up could not be read.
const FOLLOW_UP_SERVICES: &[&str] = &[
    "duban.reporting.v1.SupervisionOrdersService",
    "duban.reporting.v1.NoticesService",
];

/// `part` as a percentage of `whole`, in decimal, rounded to 2 places for display.
fn percent(part: Decimal, whole: Decimal) -> f64 {
    (part * Decimal::ONE_HUNDRED / whole)
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
        .to_f64()
        .unwrap_or_default()
}
