//! GetCompliance: who reported which measure for which period, and on time.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use duban_kit::{FieldViolation, Principal, auth::Verified, paging::Page};
use duban_proto::reporting::v1::{self as pb, ComplianceStatus};

use super::{Reporting, Result, measure_order, parent_plan};
use crate::{
    calendar::{self, Month},
    catalog::PlanInfo,
    compliance::{self, Tally},
    convert::{self, ReportKey},
    error::ReportingError,
};

impl Reporting {
    /// GetCompliance.
    pub async fn get_compliance(
        &self,
        caller: &Verified,
        request: &pb::GetComplianceRequest,
    ) -> Result<pb::GetComplianceResponse> {
        let plan_code = parent_plan(&request.parent)?;
        let mut department = request.department.clone();
        if let Principal::Department(own) = &caller.principal {
            Self::check_own(&caller.principal, if department.is_empty() { own } else { &department })?;
            department = own.clone();
        }
        let plan = self.catalog.plan(&plan_code).await?;
        let today = plan.cadence.zone.today();
        let as_of = Self::as_of(request.as_of.as_ref(), today)?;
        let periods = plan.periods();
        let mut violations = Vec::new();
        let first = match &request.start_period {
            None => periods.first().copied(),
            Some(p) => Month::from_proto(Some(p)).filter(|m| periods.contains(m)).or_else(|| {
                violations.push(FieldViolation::new(
                    "start_period",
                    "is not a reporting period of the plan",
                ));
                None
            }),
        };
        let last = match &request.end_period {
            None => periods
                .iter()
                .copied()
                .filter(|m| *m <= Month::of(as_of))
                .max()
                .or(periods.first().copied()),
            Some(p) => Month::from_proto(Some(p)).filter(|m| periods.contains(m)).or_else(|| {
                violations.push(FieldViolation::new(
                    "end_period",
                    "is not a reporting period of the plan",
                ));
                None
            }),
        };
        if let (Some(first), Some(last)) = (first, last)
            && first > last
        {
            violations.push(FieldViolation::new("end_period", "is before start_period"));
        }
        if !request.measure_number.is_empty() && !plan.measures.contains_key(&request.measure_number) {
            violations.push(FieldViolation::new("measure_number", "is not a measure of the plan"));
        }
        if !violations.is_empty() {
            return Err(ReportingError::Invalid(violations));
        }
        let (Some(first), Some(last)) = (first, last) else {
            return Err(ReportingError::invalid("parent", "the plan has no reporting periods"));
        };
        let range: Vec<Month> = periods.into_iter().filter(|m| *m >= first && *m <= last).collect();
        let fingerprint = format!(
            "{plan_code}|{department}|{}|{}|{}|{as_of}",
            request.measure_number,
            first.key(),
            last.key()
        );
        let page = Page::from_request(request.page_size, &request.page_token, &fingerprint)
            .map_err(|v| ReportingError::Invalid(vec![v]))?;
        let (all, totals) = self
            .compliance_of(&plan_code, &plan, &department, &request.measure_number, &range, as_of)
            .await?;
        let total = all.len() as u64;
        let departments = page.window(all).collect();
        Ok(pb::GetComplianceResponse {
            as_of: Some(calendar::date_to_proto(as_of)),
            departments,
            totals: Some(totals),
            next_page_token: page.next_token(total, &fingerprint),
        })
    }

    /// Every expected department's compliance over `range` as of `as_of` (only
    /// `department` and `measure` if not empty), in code order, and the totals.
    pub(super) async fn compliance_of(
        &self,
        plan_code: &str,
        plan: &PlanInfo,
        department: &str,
        measure: &str,
        range: &[Month],
        as_of: NaiveDate,
    ) -> Result<(Vec<pb::DepartmentCompliance>, pb::ComplianceTotals)> {
        let expected = expected_measures(plan, department, measure);
        let pointers = self.store.all_pointers(plan_code).await?;
        let firsts: BTreeMap<(String, String, String), i64> = pointers
            .into_iter()
            .map(|p| ((p.measure_number, p.department, p.period), p.first_submit_time_us))
            .collect();
        let range_keys: Vec<String> = range.iter().map(|m| m.key()).collect();
        let mut returned: BTreeMap<String, i32> = BTreeMap::new();
        for (code, period, count) in self
            .store
            .returned_counts(plan_code, plan.cadence.zone.end_of_day_us(as_of))
            .await?
        {
            if range_keys.contains(&period) {
                *returned.entry(code).or_default() += i32::try_from(count).unwrap_or(i32::MAX);
            }
        }
        let names = self.catalog.departments().await.ok();
        let mut totals = Tally::default();
        let mut overdue = Vec::new();
        let mut all = Vec::new();
        for (code, measures) in &expected {
            let mut tally = Tally::default();
            let mut entry = pb::DepartmentCompliance {
                department: code.clone(),
                display_name: names.as_ref().and_then(|n| n.get(code).cloned()).unwrap_or_default(),
                ..Default::default()
            };
            let mut missing = false;
            for period in range {
                let due = plan.cadence.due_date(*period);
                let mut statuses = Vec::new();
                let mut items = Vec::new();
                for measure in measures {
                    let first_us = firsts.get(&(measure.clone(), code.clone(), period.key())).copied();
                    let received = first_us.filter(|at| *at < plan.cadence.zone.end_of_day_us(as_of));
                    let status = compliance::status(plan.cadence.zone, *period, due, as_of, first_us);
                    tally.add(status, due, as_of);
                    missing |= status == ComplianceStatus::Missing;
                    statuses.push(status);
                    let key = ReportKey {
                        plan: plan_code.to_owned(),
                        measure: measure.clone(),
                        department: code.clone(),
                        period: *period,
                    };
                    items.push(pb::MeasureCompliance {
                        measure_number: measure.clone(),
                        status: status as i32,
                        report: received.map(|_| key.name()).unwrap_or_default(),
                        first_submit_time: received.map(convert::timestamp),
                    });
                }
                entry.periods.push(pb::PeriodCompliance {
                    period: Some(period.to_proto()),
                    due_date: Some(calendar::date_to_proto(due)),
                    status: compliance::worst(statuses) as i32,
                    measures: items,
                });
            }
            entry.expected_count = tally.expected;
            entry.received_count = tally.received;
            entry.on_time_count = tally.on_time;
            entry.reporting_rate = tally.reporting_rate();
            entry.on_time_rate = tally.on_time_rate();
            entry.returned_count = returned.get(code).copied().unwrap_or(0);
            totals.merge(tally);
            if missing {
                overdue.push(code.clone());
            }
            all.push(entry);
        }
        Ok((
            all,
            pb::ComplianceTotals {
                expected_count: totals.expected,
                received_count: totals.received,
                on_time_count: totals.on_time,
                reporting_rate: totals.reporting_rate(),
                on_time_rate: totals.on_time_rate(),
                overdue_departments: overdue,
            },
        ))
    }
}

/// Department code → measure numbers it is expected to report on, in order.
pub fn expected_measures(plan: &PlanInfo, department: &str, measure: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut measures: Vec<_> = plan.measures.values().collect();
    measures.sort_by_key(|m| measure_order(&m.number));
    for m in measures {
        if !measure.is_empty() && m.number != measure {
            continue;
        }
        for code in &m.responsible {
            if department.is_empty() || code == department {
                out.entry(code.clone()).or_default().push(m.number.clone());
            }
        }
    }
    out
}
