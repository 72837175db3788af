//! GetProgress: each target's progress from the maintained aggregates, as of a day.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use duban_kit::{FieldViolation, auth::Verified};
use duban_proto::reporting::v1 as pb;
use rust_decimal::Decimal;

use super::{Reporting, Result, measure_order};
use crate::{
    calendar::{self, Month},
    catalog::{PlanInfo, TargetInfo},
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
        let (plan_code, plan) = self.leadership_plan(caller, "GetProgress", &request.parent).await?;
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
        let targets: Vec<&TargetInfo> = plan
            .targets
            .values()
            .filter(|t| request.target_codes.is_empty() || request.target_codes.contains(&t.code))
            .filter(|t| request.measure_number.is_empty() || t.measure_number == request.measure_number)
            .collect();
        let progress = self
            .progress_through(
                &plan_code,
                &plan,
                targets,
                as_of,
                request.include_provisional,
                &[through],
            )
            .await?
            .pop()
            .unwrap_or_default();
        Ok(pb::GetProgressResponse {
            as_of: Some(calendar::date_to_proto(as_of)),
            provisional_included: request.include_provisional,
            targets: progress,
        })
    }

    /// Each target's progress as of `as_of`, through each of `throughs` (`None`: every
    /// period that began by `as_of`), from one read of the aggregate table: one answer
    /// per entry of `throughs`, each in measure-number then code order.
    pub(super) async fn progress_through(
        &self,
        plan_code: &str,
        plan: &PlanInfo,
        mut targets: Vec<&TargetInfo>,
        as_of: NaiveDate,
        include_provisional: bool,
        throughs: &[Option<Month>],
    ) -> Result<Vec<Vec<pb::TargetProgress>>> {
        targets.sort_by(|a, b| {
            (measure_order(&a.measure_number), &a.code).cmp(&(measure_order(&b.measure_number), &b.code))
        });
        let codes: Vec<String> = targets.iter().map(|t| t.code.clone()).collect();
        let counted = Slot::counted(self.count_submitted, include_provisional);
        // With `count_submitted`, a value whose revision leadership has not accepted
        // counts but is marked provisional; the accepted twin slot tells which.
        let twin = counted.accepted_twin();
        let mut slots = vec![counted, counted.with_provisional(), Slot::Returned];
        slots.extend(twin);
        let (accepted_rows, rows): (Vec<_>, Vec<_>) = self
            .store
            .progress_rows(plan_code, &codes, &slots)
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
        // Each row's value as of `as_of`, resolved once for every `through`.
        // A row without a value as of then still names its department (as a contributor
        // with nothing counted).
        type Resolved<'a> = (&'a str, &'a str, Month, Slot, Option<(Decimal, String, bool)>);
        let mut resolved: Vec<Resolved> = Vec::with_capacity(rows.len());
        for row in &rows {
            let Some(period) = Month::parse(&row.period) else {
                continue;
            };
            let Some(slot) = Slot::ALL.into_iter().find(|s| s.key() == row.slot) else {
                continue;
            };
            if period.first_day() > as_of {
                continue;
            }
            let key = ReportKey {
                plan: plan_code.to_owned(),
                measure: row.measure_number.clone(),
                department: row.department.clone(),
                period,
            };
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
            } else {
                self.store.revision_before(&key, cutoff, slot).await?.and_then(|r| {
                    let unreviewed = twin.is_some() && r.state != pb::report::State::Accepted.as_str_name();
                    convert::metric_rows(&r)
                        .into_iter()
                        .find(|m| m.target_code == row.target_code)
                        .map(|m| (m.value, r.revision, r.provisional || unreviewed))
                })
            };
            resolved.push((
                row.target_code.as_str(),
                row.department.as_str(),
                period,
                slot,
                value.map(|(value, revision, provisional)| (value, key.revision_name(revision), provisional)),
            ));
        }
        let empty = BTreeMap::new();
        Ok(throughs
            .iter()
            .map(|through| {
                let mut values: BTreeMap<&str, BTreeMap<String, DepartmentValues>> = BTreeMap::new();
                for (target, department, period, slot, value) in &resolved {
                    if through.is_some_and(|t| *period > t) {
                        continue;
                    }
                    let entry = values
                        .entry(*target)
                        .or_default()
                        .entry((*department).to_owned())
                        .or_default();
                    let Some((value, report, provisional)) = value else {
                        continue;
                    };
                    match slot {
                        s if *s == counted => entry.values.push(PeriodValue {
                            period: *period,
                            value: *value,
                            report: report.clone(),
                            provisional: *provisional,
                        }),
                        Slot::Returned => entry.returned = true,
                        _ => entry.provisional_excluded = true,
                    }
                }
                targets
                    .iter()
                    .map(|t| progress::evaluate(t, values.get(t.code.as_str()).unwrap_or(&empty)))
                    .collect()
            })
            .collect())
    }
}
