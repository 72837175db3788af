//! GetProgress: each target's progress from the maintained aggregates, as of a day.

use std::collections::{BTreeMap, BTreeSet};

use duban_kit::{FieldViolation, Principal, auth::Verified};
use duban_proto::reporting::v1 as pb;

use super::{Reporting, Result, measure_order, parent_plan, role_not_allowed};
use crate::{
    calendar::{self, Month},
    convert::{self, ReportKey},
    error::ReportingError,
    progress::{self, DepartmentValues, PeriodValue, Slot},
};

impl Reporting {
    /// GetProgress: reads only the aggregate table (plus, for an `as_of` before a
    /// value's latest change, that one report key's revisions).
    pub async fn get_progress(
        &self,
        caller: &Verified,
        request: &pb::GetProgressRequest,
    ) -> Result<pb::GetProgressResponse> {
        if matches!(caller.principal, Principal::Department(_)) {
            return Err(role_not_allowed("GetProgress", &caller.principal));
        }
        let plan_code = parent_plan(&request.parent)?;
        let plan = self.catalog.plan(&plan_code).await?;
        let mut violations = Vec::new();
        let today = plan.cadence.zone.today();
        let as_of = match Self::as_of(request.as_of.as_ref(), today) {
            Ok(day) => day,
            Err(ReportingError::Invalid(mut v)) => {
                violations.append(&mut v);
                today
            }
            Err(other) => return Err(other),
        };
        if request.target_codes.len() > 500 {
            violations.push(FieldViolation::new("target_codes", "has more than 500 codes"));
        }
        if !request.measure_number.is_empty() && !plan.measures.contains_key(&request.measure_number) {
            violations.push(FieldViolation::new("measure_number", "is not a measure of the plan"));
        }
        for (i, code) in request.target_codes.iter().enumerate() {
            if !plan.targets.contains_key(code) {
                violations.push(FieldViolation::new(
                    format!("target_codes[{i}]"),
                    "is not a target of the plan",
                ));
            }
        }
        let through = match &request.through_period {
            None => None,
            Some(p) => match Month::from_proto(Some(p)) {
                Some(m) => Some(m),
                None => {
                    violations.push(FieldViolation::new("through_period", "is not a valid month"));
                    None
                }
            },
        };
        if !violations.is_empty() {
            return Err(ReportingError::Invalid(violations));
        }
        let mut targets: Vec<_> = plan
            .targets
            .values()
            .filter(|t| request.target_codes.is_empty() || request.target_codes.contains(&t.code))
            .filter(|t| request.measure_number.is_empty() || t.measure_number == request.measure_number)
            .collect();
        targets.sort_by(|a, b| {
            (measure_order(&a.measure_number), &a.code).cmp(&(measure_order(&b.measure_number), &b.code))
        });
        let codes: Vec<String> = targets.iter().map(|t| t.code.clone()).collect();
        let counted = Slot::counted(self.count_submitted, request.include_provisional);
        // With `count_submitted`, a value whose revision leadership has not accepted
        // counts but is marked provisional; the accepted twin slot tells which.
        let twin = counted.accepted_twin();
        let mut slots = vec![counted, counted.with_provisional(), Slot::Returned];
        slots.extend(twin);
        let (accepted_rows, rows): (Vec<_>, Vec<_>) = self
            .store
            .progress_rows(&plan_code, &codes, &slots)
            .await?
            .into_iter()
            .partition(|row| twin.is_some_and(|t| t.key() == row.slot));
        let accepted: BTreeSet<(&str, &str, &str, i32)> = accepted_rows
            .iter()
            .map(|r| {
                (
                    r.target_code.as_str(),
                    r.department.as_str(),
                    r.period.as_str(),
                    r.revision,
                )
            })
            .collect();
        let cutoff = plan.cadence.zone.end_of_day_us(as_of);
        let mut values: BTreeMap<&str, BTreeMap<String, DepartmentValues>> = BTreeMap::new();
        for row in &rows {
            let Some(period) = Month::parse(&row.period) else {
                continue;
            };
            if period.first_day() > as_of || through.is_some_and(|t| period > t) {
                continue;
            }
            let key = ReportKey {
                plan: plan_code.clone(),
                measure: row.measure_number.clone(),
                department: row.department.clone(),
                period,
            };
            let slot = Slot::ALL.into_iter().find(|s| s.key() == row.slot);
            let entry = values
                .entry(
                    targets
                        .iter()
                        .find(|t| t.code == row.target_code)
                        .map_or("", |t| t.code.as_str()),
                )
                .or_default()
                .entry(row.department.clone())
                .or_default();
            // For an as_of before the row's revision, ask that key's history.
            let value = if row.submit_time_us < cutoff {
                let unreviewed = twin.is_some()
                    && !accepted.contains(&(
                        row.target_code.as_str(),
                        row.department.as_str(),
                        row.period.as_str(),
                        row.revision,
                    ));
                Some((row.value.0, row.revision, row.provisional || unreviewed))
            } else if let Some(slot) = slot {
                self.store.revision_before(&key, cutoff, slot).await?.and_then(|r| {
                    let unreviewed = twin.is_some() && r.state != pb::report::State::Accepted.as_str_name();
                    convert::metric_rows(&r)
                        .into_iter()
                        .find(|m| m.target_code == row.target_code)
                        .map(|m| (m.value, r.revision, r.provisional || unreviewed))
                })
            } else {
                None
            };
            let Some((value, revision, provisional)) = value else {
                continue;
            };
            match slot {
                Some(s) if s == counted => entry.values.push(PeriodValue {
                    period,
                    value,
                    report: key.revision_name(revision),
                    provisional,
                }),
                Some(Slot::Returned) => entry.returned = true,
                Some(_) => entry.provisional_excluded = true,
                None => {}
            }
        }
        let empty = BTreeMap::new();
        let progress = targets
            .iter()
            .map(|t| progress::evaluate(t, values.get(t.code.as_str()).unwrap_or(&empty)))
            .collect();
        Ok(pb::GetProgressResponse {
            as_of: Some(calendar::date_to_proto(as_of)),
            provisional_included: request.include_provisional,
            targets: progress,
        })
    }
}
