//! NoticesService: the follow-up notices of a plan (ListNotices, GetNotice), their
//! acknowledgement by the unit addressed (AcknowledgeNotice), and the evaluation of a
//! day (EvaluateNotices, and the daily run in `follow_up_daily`), which stores what the
//! pure rules of [`crate::follow_up`] find due through the writer, each notice once.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use duban_kit::{Principal, auth::Verified, paging::Page};
use duban_proto::reporting::v1 as pb;

use super::journal::{AuditInfo, NoticeChange, WriteJob};
use super::{Reporting, Result, expected_measures, method, parent_plan, role_not_allowed};
use crate::{
    calendar::{self, Month},
    convert,
    error::ReportingError,
    follow_up::{self, Facts, Schedule},
    store::NoticeFilter,
};

/// What one evaluation of a day did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evaluated {
    /// Notices due on the day.
    pub due: usize,
    /// Of those, stored by this evaluation (the rest were stored before).
    pub stored: u64,
}

impl Reporting {
    /// ListNotices.
    pub async fn list_notices(
        &self,
        caller: &Verified,
        request: &pb::ListNoticesRequest,
    ) -> Result<pb::ListNoticesResponse> {
        let mut filter = NoticeFilter {
            department: request.department.clone(),
            acknowledged: request.acknowledged,
            ..Default::default()
        };
        // Authorisation first (AIP-211): a department sees its own notices only.
        if let Principal::Department(own) = &caller.principal {
            if !filter.department.is_empty() {
                Self::check_own(&caller.principal, &filter.department)?;
            }
            filter.department = own.clone();
        }
        let plan_code = parent_plan(&request.parent)?;
        let mut violations = Vec::new();
        filter.level = match pb::NoticeLevel::try_from(request.level) {
            Ok(pb::NoticeLevel::Unspecified) => String::new(),
            Ok(level) => level.as_str_name().to_owned(),
            Err(_) => {
                violations.push(duban_kit::FieldViolation::new("level", "is not a notice level"));
                String::new()
            }
        };
        filter.delivery_state = match pb::NoticeDeliveryState::try_from(request.delivery_state) {
            Ok(pb::NoticeDeliveryState::Unspecified) => String::new(),
            Ok(state) => state.as_str_name().to_owned(),
            Err(_) => {
                violations.push(duban_kit::FieldViolation::new(
                    "delivery_state",
                    "is not a delivery state",
                ));
                String::new()
            }
        };
        if !violations.is_empty() {
            return Err(ReportingError::Invalid(violations));
        }
        self.catalog.plan(&plan_code).await?;
        let fingerprint = format!("{plan_code}|{filter:?}");
        let page = Page::from_request(request.page_size, &request.page_token, &fingerprint)
            .map_err(|v| ReportingError::Invalid(vec![v]))?;
        let rows = self.store.notices(&plan_code, &filter).await?;
        let total = rows.len() as u64;
        Ok(pb::ListNoticesResponse {
            notices: page.window(rows.iter().map(convert::notice)).collect(),
            next_page_token: page.next_token(total, &fingerprint),
            total_size: i32::try_from(total).unwrap_or(i32::MAX),
        })
    }

    /// GetNotice.
    pub async fn get_notice(&self, caller: &Verified, request: &pb::GetNoticeRequest) -> Result<pb::Notice> {
        let (plan, id) = notice_key(&request.name)?;
        let row = self.store.notice(self.store.db(), plan, id).await?.ok_or_else(|| {
            ReportingError::from(duban_kit::error::NotFound::new(
                pb::ErrorReason::NoticeNotFound,
                request.name.clone(),
            ))
        })?;
        if let Principal::Department(own) = &caller.principal
            && !convert::addressed_to(&row, own)
        {
            return Err(ReportingError::NoticeNotAddressed(format!(
                "{} is not addressed to {own}",
                request.name
            )));
        }
        Ok(convert::notice(&row))
    }

    /// AcknowledgeNotice: checked and written in the writer's turn, and audited.
    pub async fn acknowledge_notice(
        &self,
        caller: &Verified,
        request: &pb::AcknowledgeNoticeRequest,
    ) -> Result<pb::Notice> {
        let change = match &caller.principal {
            Principal::Department(own) => Ok(|plan, id| NoticeChange::Acknowledge {
                plan,
                id,
                department: own.clone(),
            }),
            other => Err(role_not_allowed("acknowledging a notice", other)),
        };
        self.change_notice(caller, method::ACKNOWLEDGE_NOTICE, &request.name, change)
            .await
    }

    /// RequeueNotice (ADMIN): a FAILED or DEAD_LETTER notice back to PENDING, checked and written in
    /// the writer's turn, and audited.
    pub async fn requeue_notice(&self, caller: &Verified, request: &pb::RequeueNoticeRequest) -> Result<pb::Notice> {
        let change = match &caller.principal {
            Principal::Admin => Ok(|plan, id| NoticeChange::Requeue { plan, id }),
            other => Err(role_not_allowed("RequeueNotice", other)),
        };
        self.change_notice(caller, method::REQUEUE_NOTICE, &request.name, change)
            .await
    }

    /// One change to the notice `name` by `caller`, written in the writer's turn and audited
    /// as `method`: `change` makes it from the notice's plan and id, or is why the caller may
    /// not (a refusal audited too).
    async fn change_notice(
        &self,
        caller: &Verified,
        method: &'static str,
        name: &str,
        change: Result<impl FnOnce(String, String) -> NoticeChange>,
    ) -> Result<pb::Notice> {
        let audit = AuditInfo {
            principal: Some((caller.principal.clone(), caller.credential.clone())),
            method,
            resource: name.to_owned(),
            ..Default::default()
        };
        let change = match change {
            Ok(change) => change,
            Err(refused) => return Err(self.refuse(audit, refused).await),
        };
        let (plan, id) = match notice_key(name) {
            Ok(key) => key,
            Err(error) => return Err(self.refuse(audit, error).await),
        };
        let change = change(plan.to_owned(), id.to_owned());
        let written = self.writer.write(WriteJob::notices(change, audit)).await?;
        let row = written.notice.ok_or_else(|| {
            ReportingError::from(duban_kit::error::NotFound::new(
                pb::ErrorReason::NoticeNotFound,
                name.to_owned(),
            ))
        })?;
        Ok(convert::notice(&row))
    }

    /// EvaluateNotices (ADMIN): the daily evaluation of one day, by hand.
    pub async fn evaluate_notices(
        &self,
        caller: &Verified,
        request: &pb::EvaluateNoticesRequest,
    ) -> Result<pb::EvaluateNoticesResponse> {
        let audit = AuditInfo {
            principal: Some((caller.principal.clone(), caller.credential.clone())),
            method: method::EVALUATE_NOTICES,
            resource: request.parent.clone(),
            ..Default::default()
        };
        if caller.principal != Principal::Admin {
            return Err(self
                .refuse(audit, role_not_allowed("EvaluateNotices", &caller.principal))
                .await);
        }
        let checked = async {
            let plan_code = parent_plan(&request.parent)?;
            let plan = self.catalog.plan(&plan_code).await?;
            let Some(as_of) = request.as_of.as_ref() else {
                return Err(ReportingError::invalid("as_of", "is required"));
            };
            let day = Self::as_of(Some(as_of), plan.cadence.zone.today())?;
            Ok((plan_code, day))
        };
        let (plan_code, day) = match checked.await {
            Ok(checked) => checked,
            Err(error) => return Err(self.refuse(audit, error).await),
        };
        let evaluated = self.evaluate_day(&plan_code, day, audit).await?;
        Ok(pb::EvaluateNoticesResponse {
            due_count: i32::try_from(evaluated.due).unwrap_or(i32::MAX),
            created_count: i32::try_from(evaluated.stored).unwrap_or(i32::MAX),
        })
    }

    /// Evaluates the plan `plan_code` on `day` and stores the notices due, each once.
    pub(super) async fn evaluate_day(&self, plan_code: &str, day: NaiveDate, audit: AuditInfo) -> Result<Evaluated> {
        let plan = self.catalog.plan(plan_code).await?;
        let schedule = Schedule {
            cadence: plan.cadence,
            periods: plan.periods(),
            rules: plan.follow_up,
        };
        let first_submits: BTreeMap<(String, String, Month), i64> = self
            .store
            .all_pointers(plan_code)
            .await?
            .into_iter()
            .filter_map(|p| {
                Some((
                    (p.measure_number, p.department, Month::parse(&p.period)?),
                    p.first_submit_time_us,
                ))
            })
            .collect();
        let facts = Facts {
            owed: expected_measures(&plan, "", ""),
            first_submits,
            // Names make the reason readable; codes do when the directory cannot be read.
            names: self
                .catalog
                .departments()
                .await
                .map(|names| names.as_ref().clone())
                .unwrap_or_default(),
        };
        let due = follow_up::due_notices(&schedule, &facts, day);
        let mut rows: Vec<_> = due
            .iter()
            .map(|notice| convert::notice_row(plan_code, notice))
            .collect();
        // A target RED for `red_after_periods_red` periods in a row (issue 13).
        rows.extend(self.due_target_rows(&plan, &schedule, day).await?);
        // Unanswered supervision orders escalate with the same thresholds.
        let owed = self.owed_orders(plan_code).await?;
        rows.extend(
            follow_up::due_order_notices(&schedule.rules, &owed, &facts.names, day)
                .iter()
                .map(|notice| convert::order_notice_row(plan_code, notice)),
        );
        let count = rows.len();
        // The daily run writes (and audits) only when something is due.
        if rows.is_empty() && audit.principal.is_none() {
            return Ok(Evaluated::default());
        }
        let written = self
            .writer
            .write(WriteJob::notices(NoticeChange::Store(rows), audit))
            .await?;
        tracing::info!(
            plan = plan_code,
            day = %calendar::date_key(day),
            due = count,
            stored = written.stored_count,
            "evaluated the follow-up notices"
        );
        Ok(Evaluated {
            due: count,
            stored: written.stored_count,
        })
    }
}

impl Reporting {
    /// The parts of `plan_code`'s open orders whose answer is owed (OPEN or RETURNED).
    async fn owed_orders(&self, plan_code: &str) -> Result<Vec<follow_up::OwedOrder>> {
        use duban_proto::reporting::v1::{OrderPartState as Part, OrderState};
        let mut owed = Vec::new();
        for (order, parts) in self.store.orders(plan_code).await? {
            let Some(due) = calendar::parse_date(&order.response_due) else {
                continue;
            };
            if order.state != OrderState::Open.as_str_name() {
                continue;
            }
            for part in parts {
                let state = Part::from_str_name(&part.state).unwrap_or_default();
                if matches!(state, Part::Open | Part::Returned) {
                    owed.push(follow_up::OwedOrder {
                        number: order.number,
                        title: order.title.clone(),
                        department: part.department,
                        due,
                        returned: state == Part::Returned,
                    });
                }
            }
        }
        Ok(owed)
    }
}

/// The plan and key of a notice name, or INVALID_ARGUMENT naming `name`.
fn notice_key(name: &str) -> Result<(&str, &str)> {
    convert::parse_notice_name(name)
        .ok_or_else(|| ReportingError::invalid("name", "must be `plans/{plan}/notices/{notice}`"))
}

impl Reporting {
    /// The notices whose delivery is due at `now_us` (see
    /// [`crate::store::ReportStore::notices_to_deliver`]).
    pub(crate) async fn notices_to_deliver(
        &self,
        now_us: i64,
        limit: u64,
    ) -> Result<Vec<crate::entity::notice::Model>> {
        Ok(self.store.notices_to_deliver(now_us, limit).await?)
    }

    /// Department codes to names, for the delivery worker's e-mail (empty when the
    /// directory cannot be read: codes are shown then).
    pub(crate) async fn department_names(&self) -> std::sync::Arc<BTreeMap<String, String>> {
        self.catalog.departments().await.unwrap_or_default()
    }

    /// Records a delivery round's outcome for one notice through the writer.
    pub(crate) async fn record_delivery(
        &self,
        plan: &str,
        id: &str,
        update: crate::store::DeliveryUpdate,
    ) -> Result<()> {
        let change = NoticeChange::Deliver {
            plan: plan.to_owned(),
            id: id.to_owned(),
            update,
        };
        self.writer
            .write(WriteJob::notices(change, AuditInfo::default()))
            .await?;
        Ok(())
    }
}
