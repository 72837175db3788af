//! Progress arithmetic (pure): which stored revision counts, each department's
//! contribution, and a target's actual, following its aggregation and value basis.

use rust_decimal::Decimal;
use std::collections::BTreeMap;

use duban_proto::{
    common::v1::{Aggregation, ValueBasis},
    reporting::v1::{self as pb, ContributionStatus},
};

use crate::{calendar::Month, catalog::TargetInfo};

/// Which revision of a report key an aggregate row holds. Each is kept up to date in
/// the transaction that changes the key, so reads pick one without scanning history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    /// The latest revision not RETURNED.
    SubmittedAny,
    /// The latest revision not RETURNED and not provisional.
    SubmittedFinal,
    /// The latest ACCEPTED revision.
    AcceptedAny,
    /// The latest ACCEPTED revision not provisional.
    AcceptedFinal,
    /// The latest RETURNED revision (to tell "returned" from "no value").
    Returned,
}

impl Slot {
    /// Every slot.
    pub const ALL: [Slot; 5] = [
        Slot::SubmittedAny,
        Slot::SubmittedFinal,
        Slot::AcceptedAny,
        Slot::AcceptedFinal,
        Slot::Returned,
    ];

    /// The stored name.
    pub fn key(self) -> &'static str {
        match self {
            Slot::SubmittedAny => "submitted",
            Slot::SubmittedFinal => "submitted_final",
            Slot::AcceptedAny => "accepted",
            Slot::AcceptedFinal => "accepted_final",
            Slot::Returned => "returned",
        }
    }

    /// The slot that counts: `count_submitted` (settings) and `include_provisional`
    /// (request).
    pub fn counted(count_submitted: bool, include_provisional: bool) -> Slot {
        match (count_submitted, include_provisional) {
            (true, true) => Slot::SubmittedAny,
            (true, false) => Slot::SubmittedFinal,
            (false, true) => Slot::AcceptedAny,
            (false, false) => Slot::AcceptedFinal,
        }
    }

    /// The same slot with provisional revisions allowed.
    pub fn with_provisional(self) -> Slot {
        match self {
            Slot::SubmittedFinal => Slot::SubmittedAny,
            Slot::AcceptedFinal => Slot::AcceptedAny,
            other => other,
        }
    }

    /// For a submitted slot, the accepted slot that holds the same revision exactly
    /// when that revision is ACCEPTED: the latest revision not returned (and not
    /// provisional) is accepted iff it is also the latest accepted one (and not
    /// provisional), since any later accepted revision would be the later one. `None`
    /// for the other slots.
    pub fn accepted_twin(self) -> Option<Slot> {
        match self {
            Slot::SubmittedAny => Some(Slot::AcceptedAny),
            Slot::SubmittedFinal => Some(Slot::AcceptedFinal),
            _ => None,
        }
    }

    /// Whether a revision in `state` (contract name) with `provisional` fills it.
    pub fn admits(self, state: &str, provisional: bool) -> bool {
        let returned = state == "STATE_RETURNED";
        let accepted = state == "STATE_ACCEPTED";
        match self {
            Slot::SubmittedAny => !returned,
            Slot::SubmittedFinal => !returned && !provisional,
            Slot::AcceptedAny => accepted,
            Slot::AcceptedFinal => accepted && !provisional,
            Slot::Returned => returned,
        }
    }
}

/// One period's value of one department.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodValue {
    /// The period.
    pub period: Month,
    /// The value, exact.
    pub value: Decimal,
    /// Name of the revision it comes from, `...@{n}`.
    pub report: String,
    /// Whether that revision is provisional.
    pub provisional: bool,
}

/// What is known of one department for one target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DepartmentValues {
    /// Counted values, any period order.
    pub values: Vec<PeriodValue>,
    /// Whether provisional values exist that were not included.
    pub provisional_excluded: bool,
    /// Whether returned revisions with a value exist.
    pub returned: bool,
}

/// A department's contribution: CUMULATIVE and SNAPSHOT take the latest period, PERIOD
/// sums them.
pub fn contribution(basis: i32, values: &[PeriodValue]) -> Option<(Decimal, Month, Vec<String>, bool)> {
    let latest = values.iter().max_by_key(|v| v.period)?;
    if basis == ValueBasis::Period as i32 {
        let mut sorted: Vec<_> = values.iter().collect();
        sorted.sort_by_key(|v| v.period);
        let sum = sorted.iter().map(|v| v.value).sum();
        let reports = sorted.iter().map(|v| v.report.clone()).collect();
        Some((sum, latest.period, reports, sorted.iter().any(|v| v.provisional)))
    } else {
        Some((
            latest.value,
            latest.period,
            vec![latest.report.clone()],
            latest.provisional,
        ))
    }
}

/// A target's progress from its departments' values (keyed by department code).
pub fn evaluate(target: &TargetInfo, departments: &BTreeMap<String, DepartmentValues>) -> pb::TargetProgress {
    let authoritative = target.aggregation == Aggregation::Authoritative as i32;
    let mut codes: Vec<&String> = target.reporting_departments.iter().chain(departments.keys()).collect();
    codes.sort();
    codes.dedup();
    let mut progress = pb::TargetProgress {
        target: target.name.clone(),
        target_code: target.code.clone(),
        measure_number: target.measure_number.clone(),
        unit: target.unit,
        comparator: target.comparator,
        target_value: Some(target.value.into()),
        aggregation: target.aggregation,
        value_basis: target.basis,
        baseline: target.baseline.map(Into::into),
        ..Default::default()
    };
    // Decimal sums: 0.7 + 0.1 is 0.8 here, so an AT_LEAST 0.8 target is met.
    let mut actual: Option<Decimal> = None;
    let mut latest: Option<Month> = None;
    for code in codes {
        let reporter = target.reporting_departments.contains(code);
        let empty = DepartmentValues::default();
        let known = departments.get(code).unwrap_or(&empty);
        let mut entry = pb::DepartmentContribution {
            department: code.clone(),
            ..Default::default()
        };
        match contribution(target.basis, &known.values) {
            Some((value, period, reports, provisional)) => {
                entry.value = Some(value.into());
                entry.latest_period = Some(period.to_proto());
                entry.reports = reports;
                entry.provisional = provisional;
                let counts = !authoritative || reporter;
                entry.status = if counts {
                    ContributionStatus::Counted
                } else {
                    ContributionStatus::NotAuthoritative
                } as i32;
                if counts {
                    actual = Some(actual.unwrap_or_default() + value);
                    latest = latest.max(Some(period));
                    progress.includes_provisional |= provisional;
                }
            }
            None => {
                entry.status = if known.provisional_excluded {
                    ContributionStatus::ProvisionalExcluded
                } else if known.returned {
                    ContributionStatus::Returned
                } else {
                    ContributionStatus::NoValue
                } as i32;
            }
        }
        progress.contributions.push(entry);
    }
    if target.basis == ValueBasis::Period as i32
        && let (Some(sum), Some(baseline)) = (actual, target.baseline)
    {
        actual = Some(sum + baseline);
    }
    progress.actual = actual.map(Into::into);
    progress.latest_period = latest.map(Month::to_proto);
    progress
}

#[cfg(test)]
mod tests;
