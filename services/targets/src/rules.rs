//! The rules a target's content must follow (the comment on `Target` in the contract),
//! as pure functions that report every broken rule with its field path at once.

use chrono::{Datelike, NaiveDate};
use duban_kit::FieldViolation;
use duban_proto::decimal::{self, Decimal};
use duban_proto::{common::v1 as common, targets::v1 as pb};

use crate::convert::{self, StoredMilestone};

/// The plan's effective period, which bounds deadlines and milestones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First effective day.
    pub from: NaiveDate,
    /// Last effective day: the default deadline.
    pub to: NaiveDate,
}

impl Window {
    /// The latest deadline allowed: 31 December two years after the plan ends.
    pub fn latest_deadline(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.to.year() + 2, 12, 31).unwrap_or(NaiveDate::MAX)
    }
}

/// A target's content as imported or rebaselined: everything but its history.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// Measure number, for example `4.1`.
    pub measure_number: String,
    /// The action number, the part of `measure_number` before the dot.
    pub action_number: i32,
    /// Chinese name.
    pub display_name: String,
    /// English name.
    pub display_name_en: String,
    /// `QuantityUnit` contract name.
    pub unit: String,
    /// The figure.
    pub value: Decimal,
    /// `Comparator` contract name.
    pub comparator: String,
    /// Whether the plan states the figure as an aspiration (力争, 计划).
    pub aspirational: bool,
    /// The deadline, the plan's end when the import left it unset.
    pub deadline: NaiveDate,
    /// The baseline.
    pub baseline: Option<Decimal>,
    /// `Aggregation` contract name.
    pub aggregation: String,
    /// `ValueBasis` contract name.
    pub value_basis: String,
    /// Department or group codes.
    pub reporters: Vec<String>,
    /// Department codes, groups expanded.
    pub reporting_departments: Vec<String>,
    /// The fragment of the measure's text.
    pub source: String,
    /// Reading notes.
    pub note: String,
    /// Milestones in period order.
    pub milestones: Vec<StoredMilestone>,
    /// Digits after the point a reported value may have.
    pub decimal_places: u32,
}

impl Content {
    /// The contract field names whose values differ between `self` and `other`.
    pub fn diff(&self, other: &Content) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let mut check = |differs: bool, field: &'static str| {
            if differs {
                fields.push(field);
            }
        };
        check(self.measure_number != other.measure_number, "measure_number");
        check(self.display_name != other.display_name, "display_name");
        check(self.display_name_en != other.display_name_en, "display_name_en");
        check(self.unit != other.unit, "unit");
        // Decimal equality ignores trailing zeros: 4.50 is 4.5.
        check(self.value != other.value, "value");
        check(self.comparator != other.comparator, "comparator");
        check(self.aspirational != other.aspirational, "aspirational");
        check(self.deadline != other.deadline, "deadline");
        check(self.baseline != other.baseline, "baseline");
        check(self.aggregation != other.aggregation, "aggregation");
        check(self.value_basis != other.value_basis, "value_basis");
        check(self.reporters != other.reporters, "reporters");
        check(
            self.reporting_departments != other.reporting_departments,
            "reporting_departments",
        );
        check(self.source != other.source, "source");
        check(self.note != other.note, "note");
        check(self.milestones != other.milestones, "milestones");
        check(self.decimal_places != other.decimal_places, "decimal_places");
        fields
    }

    /// Whether the trajectory's end is capped rather than reached (AT_MOST).
    pub fn is_at_most(&self) -> bool {
        self.comparator == common::Comparator::AtMost.as_str_name()
    }
}

/// A validated SyncPlanTargets request.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncDraft {
    /// The plan's slug.
    pub plan: String,
    /// The plan's effective period.
    pub window: Window,
    /// Every target's code and content, in request order.
    pub targets: Vec<(String, Content)>,
}

/// Checks a whole sync request and reports every problem at once, with paths like
/// `targets[new-enterprises].value`.
pub fn validate_sync(request: &pb::SyncPlanTargetsRequest) -> Result<SyncDraft, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let plan = match parse_plan_name(&request.plan) {
        Some(plan) => Some(plan.to_owned()),
        None => {
            violations.push(FieldViolation::new(
                "plan",
                "must be a resource name of the form `plans/{plan}`",
            ));
            None
        }
    };
    if request.plan_revision < 1 {
        violations.push(FieldViolation::new("plan_revision", "must be 1 or more"));
    }
    let from = required_date(request.effective_from.as_ref(), "effective_from", &mut violations);
    let to = required_date(request.effective_to.as_ref(), "effective_to", &mut violations);
    let window = match (from, to) {
        (Some(from), Some(to)) if to < from => {
            violations.push(FieldViolation::new("effective_to", "must not be before effective_from"));
            None
        }
        (Some(from), Some(to)) => Some(Window { from, to }),
        _ => None,
    };
    let mut targets = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (index, target) in request.targets.iter().enumerate() {
        let prefix = if is_slug(&target.code) {
            format!("targets[{}]", target.code)
        } else {
            format!("targets[{index}]")
        };
        if !is_slug(&target.code) {
            violations.push(FieldViolation::new(
                format!("{prefix}.code"),
                "must be a lowercase ascii slug such as `new-enterprises`, at most 63 characters",
            ));
        } else if seen.contains(&target.code.as_str()) {
            violations.push(FieldViolation::new(
                format!("{prefix}.code"),
                "is used by another target of the plan",
            ));
        }
        seen.push(&target.code);
        if let Some(content) = validate_target(target, &prefix, window.as_ref(), &mut violations) {
            targets.push((target.code.clone(), content));
        }
    }
    match (plan, window) {
        (Some(plan), Some(window)) if violations.is_empty() => Ok(SyncDraft { plan, window, targets }),
        _ => Err(violations),
    }
}

/// Checks one imported target; `None` if any of its fields is invalid (each problem is
/// pushed to `violations` under `prefix`). Date rules are checked only with a `window`.
pub fn validate_target(
    target: &pb::Target,
    prefix: &str,
    window: Option<&Window>,
    violations: &mut Vec<FieldViolation>,
) -> Option<Content> {
    let before = violations.len();
    let mut bad = |field: &str, description: &str| {
        violations.push(FieldViolation::new(format!("{prefix}.{field}"), description));
    };
    let action_number = action_of(&target.measure_number);
    if action_number.is_none() {
        bad("measure_number", "must be a measure number such as `4.1`");
    }
    if target.display_name.trim().is_empty() {
        bad("display_name", "is required");
    }
    if target.display_name_en.trim().is_empty() {
        bad("display_name_en", "is required");
    }
    let unit = convert::unit_str(target.unit);
    if unit.is_none() {
        bad("unit", "must be a known unit, not UNSPECIFIED");
    }
    let comparator = convert::comparator_str(target.comparator);
    if comparator.is_none() {
        bad("comparator", "must be a known comparator, not UNSPECIFIED");
    }
    let aggregation = convert::aggregation_str(target.aggregation);
    if aggregation.is_none() {
        bad("aggregation", "must be SUM or AUTHORITATIVE");
    }
    let value_basis = convert::basis_str(target.value_basis);
    if value_basis.is_none() {
        bad("value_basis", "must be CUMULATIVE, PERIOD or SNAPSHOT");
    }
    if target.source.trim().is_empty() {
        bad(
            "source",
            "is required: the fragment of the measure's text the figure comes from",
        );
    }
    if target.reporters.is_empty() {
        bad("reporters", "must name at least one department or group");
    }
    for (index, reporter) in target.reporters.iter().enumerate() {
        if !is_slug(reporter) {
            bad(&format!("reporters[{index}]"), "must be a department or group code");
        } else if target.reporters.iter().take(index).any(|earlier| earlier == reporter) {
            bad(&format!("reporters[{index}]"), "is listed twice");
        }
    }
    for (index, department) in target.reporting_departments.iter().enumerate() {
        if !is_slug(department) {
            bad(&format!("reporting_departments[{index}]"), "must be a department code");
        }
    }
    let authoritative = aggregation == Some(common::Aggregation::Authoritative.as_str_name());
    if authoritative {
        if target.reporters.len() != 1 {
            bad("reporters", "an AUTHORITATIVE target has exactly one reporter");
        } else if !target.reporting_departments.is_empty() && target.reporting_departments != target.reporters {
            bad(
                "reporters",
                "the reporter of an AUTHORITATIVE target must be a department, not a group",
            );
        }
    }
    let unit_enum = common::QuantityUnit::try_from(target.unit).ok();
    if matches!(
        unit_enum,
        Some(common::QuantityUnit::Percent | common::QuantityUnit::WorkingDays)
    ) && aggregation.is_some()
        && !authoritative
    {
        bad(
            "aggregation",
            "PERCENT and WORKING_DAYS targets are AUTHORITATIVE: shares and averages do not add up",
        );
    }
    let figures = Figures {
        unit: unit_enum,
        places: None,
    };
    let value = figures.check(target.value.as_ref(), &format!("{prefix}.value"), violations);
    let baseline = target
        .baseline
        .as_ref()
        .and_then(|baseline| figures.check(Some(baseline), &format!("{prefix}.baseline"), violations));
    let decimal_places = decimal_places(target, unit_enum, &format!("{prefix}.decimal_places"), violations);
    let deadline = match (&target.deadline, window) {
        (None, Some(window)) => Some(window.to),
        (Some(deadline), window) => check_deadline(deadline, window, &format!("{prefix}.deadline"), violations),
        (None, None) => None,
    };
    let at_most = comparator == Some(common::Comparator::AtMost.as_str_name());
    if let (Some(deadline), Some(window)) = (deadline, window) {
        check_milestones(
            &target.milestones,
            at_most,
            Figures {
                unit: unit_enum,
                places: decimal_places,
            },
            deadline,
            window,
            prefix,
            violations,
        );
    }
    if violations.len() > before {
        return None;
    }
    Some(Content {
        measure_number: target.measure_number.clone(),
        action_number: action_number?,
        // As sent, as the measures service stores the plan: a trimmed name would make the
        // export of the current revision differ from what was imported.
        display_name: target.display_name.clone(),
        display_name_en: target.display_name_en.clone(),
        unit: unit?.to_owned(),
        value: value?,
        comparator: comparator?.to_owned(),
        aspirational: target.aspirational,
        deadline: deadline?,
        baseline,
        aggregation: aggregation?.to_owned(),
        value_basis: value_basis?.to_owned(),
        reporters: target.reporters.clone(),
        reporting_departments: target.reporting_departments.clone(),
        source: target.source.clone(),
        note: target.note.clone(),
        milestones: convert::milestones_from_proto(&target.milestones),
        decimal_places: decimal_places?,
    })
}

/// A target's decimal places: as declared (0-6, 0 for counted units, and enough for the
/// target's own figures), or else the most places its figures are written with.
fn decimal_places(
    target: &pb::Target,
    unit: Option<common::QuantityUnit>,
    field: &str,
    violations: &mut Vec<FieldViolation>,
) -> Option<u32> {
    let figures = [target.value.as_ref(), target.baseline.as_ref()]
        .into_iter()
        .filter_map(decimal::from_proto);
    let written = duban_catalog::plan::default_decimal_places(figures);
    let Some(declared) = target.decimal_places else {
        return Some(written);
    };
    let problem = match u32::try_from(declared) {
        Ok(places) if places > duban_catalog::plan::MAX_DECIMAL_PLACES => Some("must be 0 to 6"),
        Ok(0) => None,
        Ok(_) if unit.is_some_and(is_counted) => Some("must be 0 for a counted unit"),
        Ok(places) if places < written => Some("is fewer than the target's own figures have"),
        Ok(_) => None,
        Err(_) => Some("must be 0 to 6"),
    };
    match problem {
        Some(problem) => {
            violations.push(FieldViolation::new(field, problem));
            None
        }
        None => u32::try_from(declared).ok(),
    }
}

/// Whether a unit counts things, so its figures are whole.
fn is_counted(unit: common::QuantityUnit) -> bool {
    use common::QuantityUnit as U;
    matches!(
        unit,
        U::Count | U::Enterprises | U::Projects | U::HousingUnits | U::Sites | U::Routes | U::People
    )
}

/// What a target's figures (`value`, `baseline`, milestone values) must fit: its unit,
/// and, once known, its decimal places.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// The target's unit.
    pub unit: Option<common::QuantityUnit>,
    /// The target's decimal places; `None` while they are derived from the figures.
    pub places: Option<u32>,
}

impl Figures {
    /// The rules for a figure: set, a decimal number, not negative, at most 100 for
    /// PERCENT, whole for counted units, and within the decimal places. The number, when
    /// it is one.
    pub fn check(
        &self,
        value: Option<&common::Decimal>,
        field: &str,
        violations: &mut Vec<FieldViolation>,
    ) -> Option<Decimal> {
        let Some(value) = value else {
            violations.push(FieldViolation::new(field, "is required"));
            return None;
        };
        let value = match value.to_decimal() {
            Ok(value) => value,
            Err(problem) => {
                violations.push(FieldViolation::new(field, problem.to_string()));
                return None;
            }
        };
        let problem = if value.is_sign_negative() && !value.is_zero() {
            Some("must not be negative".to_owned())
        } else if self.unit == Some(common::QuantityUnit::Percent) && value > Decimal::ONE_HUNDRED {
            Some("must be at most 100 for PERCENT".to_owned())
        } else if self.unit.is_some_and(is_counted) && !value.fract().is_zero() {
            Some("must be a whole number for a counted unit".to_owned())
        } else {
            self.places
                .filter(|places| decimal::places(value) > *places)
                .map(|places| format!("has more than the target's {places} decimal places"))
        };
        match problem {
            Some(problem) => {
                violations.push(FieldViolation::new(field, problem));
                None
            }
            None => Some(value),
        }
    }
}

/// A deadline that exists and lies within the window's bounds; `None` otherwise.
pub fn check_deadline(
    deadline: &common::Date,
    window: Option<&Window>,
    field: &str,
    violations: &mut Vec<FieldViolation>,
) -> Option<NaiveDate> {
    let Some(date) = convert::date_from_proto(deadline) else {
        violations.push(FieldViolation::new(field, "is not a valid calendar date"));
        return None;
    };
    let window = window?;
    if date < window.from {
        violations.push(FieldViolation::new(
            field,
            format!("must not be before the plan's effective_from {}", window.from),
        ));
        return None;
    }
    if date > window.latest_deadline() {
        violations.push(FieldViolation::new(
            field,
            format!("must not be after {}", window.latest_deadline()),
        ));
        return None;
    }
    Some(date)
}

/// The milestone rules: none for AT_MOST; periods set, unique, within the plan's
/// reporting periods and not after the deadline's period; values as for `value`.
pub fn check_milestones(
    milestones: &[pb::TargetMilestone],
    at_most: bool,
    figures: Figures,
    deadline: NaiveDate,
    window: &Window,
    prefix: &str,
    violations: &mut Vec<FieldViolation>,
) {
    let dot = if prefix.is_empty() { "" } else { "." };
    if at_most && !milestones.is_empty() {
        violations.push(FieldViolation::new(
            format!("{prefix}{dot}milestones"),
            "AT_MOST targets have no milestones",
        ));
        return;
    }
    let first = (window.from.year(), window.from.month() as i32);
    let last = (window.to.year(), window.to.month() as i32);
    let deadline_period = (deadline.year(), deadline.month() as i32);
    let mut seen = Vec::new();
    for (index, milestone) in milestones.iter().enumerate() {
        let field = format!("{prefix}{dot}milestones[{index}]");
        match milestone.period {
            None => violations.push(FieldViolation::new(format!("{field}.period"), "is required")),
            Some(period) if !(1..=12).contains(&period.month) => {
                violations.push(FieldViolation::new(format!("{field}.period"), "month must be 1 to 12"))
            }
            Some(period) => {
                let key = (period.year, period.month);
                if key < first || key > last {
                    violations.push(FieldViolation::new(
                        format!("{field}.period"),
                        "must be one of the plan's reporting periods",
                    ));
                } else if key > deadline_period {
                    violations.push(FieldViolation::new(
                        format!("{field}.period"),
                        "must not be after the deadline's period",
                    ));
                } else if seen.contains(&key) {
                    violations.push(FieldViolation::new(
                        format!("{field}.period"),
                        "is given by another milestone",
                    ));
                }
                seen.push(key);
            }
        }
        figures.check(
            milestone.expected_value.as_ref(),
            &format!("{field}.expected_value"),
            violations,
        );
    }
}

/// The action number of a measure number such as `4.1`; `None` if malformed.
pub fn action_of(measure_number: &str) -> Option<i32> {
    let (action, item) = measure_number.split_once('.')?;
    let all_digits = |part: &str| !part.is_empty() && part.len() <= 4 && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(action) || !all_digits(item) {
        return None;
    }
    action.parse().ok().filter(|action| *action >= 1)
}

/// Whether `code` is a lowercase ASCII slug.
pub fn is_slug(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 63
        && code
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// The `{plan}` of `plans/{plan}`.
pub fn parse_plan_name(name: &str) -> Option<&str> {
    name.strip_prefix("plans/").filter(|plan| is_slug(plan))
}

fn required_date(date: Option<&common::Date>, field: &str, violations: &mut Vec<FieldViolation>) -> Option<NaiveDate> {
    match date.map(convert::date_from_proto) {
        Some(Some(date)) => Some(date),
        Some(None) => {
            violations.push(FieldViolation::new(field, "is not a valid calendar date"));
            None
        }
        None => {
            violations.push(FieldViolation::new(field, "is required"));
            None
        }
    }
}

#[cfg(test)]
mod tests;
