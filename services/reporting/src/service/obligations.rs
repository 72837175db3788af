//! ListObligations: what a department owes, per measure and period, with the due date,
//! where each report stands today, and a template of what to send.

use std::collections::BTreeMap;

use duban_kit::{FieldViolation, Principal, auth::Verified, paging::Page};
use duban_proto::reporting::v1 as pb;

use super::{Reporting, Result, expected_measures, parent_plan, submission::pointer_etag};
use crate::{
    calendar::{self, Month},
    catalog::PlanInfo,
    convert::{self, ReportKey},
    entity::report,
    error::ReportingError,
    store::BlockerFilter,
    validate,
};

/// Where an obligation stands on `today`, from its pointer row if anything was received.
pub fn state(
    pointer: Option<&report::Model>,
    period: Month,
    due: chrono::NaiveDate,
    today: chrono::NaiveDate,
) -> pb::ObligationState {
    use pb::{ObligationState as O, report::State as S};
    match pointer.map(|p| S::from_str_name(&p.state).unwrap_or_default()) {
        Some(S::Accepted) => O::Accepted,
        Some(S::Returned) => O::Returned,
        Some(_) => O::Submitted,
        None if today <= period.last_day() => O::NotDue,
        None if today <= due => O::Due,
        None => O::Late,
    }
}

/// The template of a report on `measure` by `department`: its slots and milestones
/// (open blockers are added by the caller, from the store).
pub fn template(plan: &PlanInfo, measure: &str, department: &str) -> pb::ReportTemplate {
    let slots = validate::required_targets(plan, measure, department)
        .filter_map(|code| plan.targets.get(code))
        .map(|target| pb::TemplateSlot {
            target_code: target.code.clone(),
            target: target.name.clone(),
            unit: target.unit,
            basis: target.basis,
            decimal_places: i32::try_from(target.decimal_places).ok(),
            required: true,
        })
        .collect();
    let milestones = plan
        .measures
        .get(measure)
        .map(|m| m.milestones.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, milestone)| pb::TemplateMilestone {
            milestone_number: i as i32 + 1,
            description: milestone.description.clone(),
            code: milestone.code.clone(),
        })
        .collect();
    pb::ReportTemplate {
        slots,
        milestones,
        open_blockers: Vec::new(),
    }
}

impl Reporting {
    /// ListObligations.
    pub async fn list_obligations(
        &self,
        caller: &Verified,
        request: &pb::ListObligationsRequest,
    ) -> Result<pb::ListObligationsResponse> {
        // Authorisation first (AIP-211): a department sees only what it owes.
        let department = match &caller.principal {
            Principal::Department(own) => {
                if !request.department.is_empty() {
                    Self::check_own(&caller.principal, &request.department)?;
                }
                own.clone()
            }
            Principal::Admin | Principal::Leadership | Principal::Service => request.department.clone(),
        };
        let plan_code = parent_plan(&request.parent)?;
        let plan = self.catalog.plan(&plan_code).await?;
        let today = plan.cadence.zone.today();
        let periods = plan.periods();
        let mut violations = Vec::new();
        if department.is_empty() {
            violations.push(FieldViolation::new(
                "department",
                "is required unless a department asks for itself",
            ));
        }
        if !request.measure_number.is_empty() && !plan.measures.contains_key(&request.measure_number) {
            violations.push(FieldViolation::new("measure_number", "is not a measure of the plan"));
        }
        let mut bound = |field: &'static str, period: Option<&duban_proto::common::v1::Period>| {
            let month = period.map(|p| Month::from_proto(Some(p)).filter(|m| periods.contains(m)));
            if month == Some(None) {
                violations.push(FieldViolation::new(field, "is not a reporting period of the plan"));
            }
            month.flatten()
        };
        let first = bound("start_period", request.start_period.as_ref());
        let last = bound("end_period", request.end_period.as_ref());
        if !violations.is_empty() {
            return Err(ReportingError::Invalid(violations));
        }
        let last = last.or_else(|| periods.iter().copied().filter(|m| m.first_day() <= today).max());
        let range: Vec<Month> = periods
            .iter()
            .copied()
            .filter(|m| first.is_none_or(|f| *m >= f) && last.is_some_and(|l| *m <= l))
            .rev()
            .collect();
        let fingerprint = format!(
            "{plan_code}|{department}|{}|{:?}|{:?}|{today}",
            request.measure_number,
            range.last().map(|m| m.key()),
            range.first().map(|m| m.key())
        );
        let page = Page::from_request(request.page_size, &request.page_token, &fingerprint)
            .map_err(|v| ReportingError::Invalid(vec![v]))?;
        let measures = expected_measures(&plan, &department, &request.measure_number)
            .remove(&department)
            .unwrap_or_default();
        let pointers: BTreeMap<(String, String), report::Model> = self
            .store
            .all_pointers(&plan_code)
            .await?
            .into_iter()
            .filter(|p| p.department == department)
            .map(|p| ((p.measure_number.clone(), p.period.clone()), p))
            .collect();
        let open = BlockerFilter {
            department: department.clone(),
            state: pb::BlockerState::Open.as_str_name().to_owned(),
            ..Default::default()
        };
        let mut blockers: BTreeMap<String, Vec<pb::Blocker>> = BTreeMap::new();
        for row in self.store.blockers(&plan_code, &open).await? {
            blockers
                .entry(row.measure_number.clone())
                .or_default()
                .push(convert::blocker(&row));
        }
        let templates: BTreeMap<&String, pb::ReportTemplate> = measures
            .iter()
            .map(|m| {
                let mut template = template(&plan, m, &department);
                template.open_blockers = blockers.get(m).cloned().unwrap_or_default();
                (m, template)
            })
            .collect();
        let all: Vec<(Month, &String)> = range
            .iter()
            .flat_map(|p| measures.iter().map(move |m| (*p, m)))
            .collect();
        let total = all.len() as u64;
        let obligations = page
            .window(all)
            .map(|(period, measure)| {
                let key = ReportKey {
                    plan: plan_code.clone(),
                    measure: measure.clone(),
                    department: department.clone(),
                    period,
                };
                let pointer = pointers.get(&(measure.clone(), period.key()));
                let due = plan.cadence.due_date(period);
                let state = state(pointer, period, due, today);
                pb::Obligation {
                    report: key.name(),
                    measure_number: measure.clone(),
                    department: department.clone(),
                    period: Some(period.to_proto()),
                    due_date: Some(calendar::date_to_proto(due)),
                    state: state as i32,
                    return_reason: match state {
                        pb::ObligationState::Returned => pointer.map(|p| p.return_reason.clone()).unwrap_or_default(),
                        _ => String::new(),
                    },
                    revision: pointer.map_or(0, |p| p.revision),
                    etag: pointer.map(pointer_etag).unwrap_or_default(),
                    on_time: pointer.is_some_and(|p| p.first_submit_time_us < plan.cadence.due_end_us(period)),
                    template: templates.get(measure).cloned(),
                }
            })
            .collect();
        let orders = self.order_obligations(&plan_code, &department, today).await?;
        Ok(pb::ListObligationsResponse {
            orders,
            obligations,
            next_page_token: page.next_token(total, &fingerprint),
            total_size: total as i32,
            today: Some(calendar::date_to_proto(today)),
        })
    }
}
