//! A plan as a contract `PlanDataset` and as a catalog [`Plan`], both ways.
//!
//! [`from_catalog`] turns a plan file (for example the embedded Jiading 2023 plan) into
//! the dataset `ImportPlan` takes; [`to_catalog`] reads a dataset back into the catalog
//! model that [`Plan::validate`] checks, reporting every field it cannot read with its
//! path (`measures[3.2].milestones[huijia-car-promotion-extension].date`). Catalog →
//! dataset → catalog is lossless.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use duban_catalog::{
    Action, Cadence, Directory, FollowUp, Measure, Milestone, Plan, PlanHeader, PolicyParameter, Problem, RagRules,
    Resolved, Target,
};
use duban_proto::{
    measures::v1::{self as pb, ImportProblem, ImportProblemKind},
    targets::v1 as tpb,
};

use crate::{
    content::{PlanContent, TargetMilestone},
    convert,
};

/// The dataset of a catalog plan. With a `directory`, each responsible unit also
/// carries its code (which pins it on import), kind and canonical name; targets'
/// reporters stay as written either way.
pub fn from_catalog(plan: &Plan, directory: Option<&Directory>) -> pb::PlanDataset {
    let measures = plan
        .measures
        .iter()
        .map(|m| {
            let units = m
                .responsible_units
                .iter()
                .enumerate()
                .map(|(i, written)| {
                    let mut unit = pb::ResponsibleUnit {
                        as_written: written.clone(),
                        lead: i == 0,
                        position: i as i32 + 1,
                        ..Default::default()
                    };
                    if let Some(directory) = directory {
                        match directory.resolve(written) {
                            Some(Resolved::Unit(code)) => {
                                unit.kind = pb::ResponsibleUnitKind::Department as i32;
                                unit.display_name = directory.unit(&code).map(|u| u.name.clone()).unwrap_or_default();
                                unit.code = code;
                            }
                            Some(Resolved::Group(code)) => {
                                unit.kind = pb::ResponsibleUnitKind::Group as i32;
                                unit.display_name = directory.group(&code).map(|g| g.name.clone()).unwrap_or_default();
                                unit.code = code;
                            }
                            None => {}
                        }
                    }
                    unit
                })
                .collect();
            measure_to_proto(m, units)
        })
        .collect();
    pb::PlanDataset {
        plan: Some(header_to_proto(&plan.header)),
        actions: plan.actions.iter().map(action_to_proto).collect(),
        measures,
        targets: plan
            .targets
            .iter()
            .map(|t| target_to_proto(t, t.reporters.clone(), &[]))
            .collect(),
    }
}

/// Reads a dataset into a catalog plan; every field that cannot be read is a
/// problem. Reporters written as codes are spelled as the measure's responsible unit
/// that carries that code. Only the shape is checked here: run [`Plan::validate`] on
/// the result for the content.
pub fn to_catalog(dataset: &pb::PlanDataset) -> Result<Plan, Vec<ImportProblem>> {
    let read = read(dataset);
    if read.problems.is_empty() {
        Ok(read.plan)
    } else {
        Err(read.problems)
    }
}

/// What [`read`] makes of a dataset: always a plan (unreadable fields take a
/// placeholder), the targets' explicit milestones, and the problems found.
#[derive(Debug)]
pub(crate) struct Read {
    pub plan: Plan,
    pub target_milestones: BTreeMap<String, Vec<TargetMilestone>>,
    pub problems: Vec<ImportProblem>,
}

/// A problem of a dataset.
pub fn problem(path: impl Into<String>, message: impl Into<String>, kind: ImportProblemKind) -> ImportProblem {
    ImportProblem {
        path: path.into(),
        message: message.into(),
        kind: kind as i32,
    }
}

/// The kind of a catalog validation problem, from its path and message.
pub fn classify(problem: &Problem) -> ImportProblemKind {
    let message = problem.message.as_str();
    if message.contains("used twice") || message.contains("must be unique") || message.contains("names `") {
        ImportProblemKind::DuplicateKey
    } else if message.contains("is not a unit or group") || problem.path == "plan.directory" {
        ImportProblemKind::UnresolvedUnit
    } else if message.starts_with("there is no")
        || message.contains("is not among")
        || message.contains("not a fragment")
    {
        ImportProblemKind::UnknownReference
    } else if message.contains("must not be empty") || message.contains("needs at least one") {
        ImportProblemKind::MissingField
    } else {
        ImportProblemKind::InvalidValue
    }
}

struct Reader {
    problems: Vec<ImportProblem>,
}

impl Reader {
    fn missing(&mut self, path: String, what: &str) {
        self.problems.push(problem(
            path,
            format!("{what} is required"),
            ImportProblemKind::MissingField,
        ));
    }

    fn invalid(&mut self, path: String, message: String) {
        self.problems
            .push(problem(path, message, ImportProblemKind::InvalidValue));
    }

    fn date(&mut self, path: String, date: Option<&duban_proto::common::v1::Date>, fallback: NaiveDate) -> NaiveDate {
        match date {
            None => {
                self.missing(path, "a date");
                fallback
            }
            Some(date) => self.optional_date(path, Some(date)).unwrap_or(fallback),
        }
    }

    fn optional_date(&mut self, path: String, date: Option<&duban_proto::common::v1::Date>) -> Option<NaiveDate> {
        let date = date?;
        let parsed = convert::naive_date(date);
        if parsed.is_none() {
            self.invalid(
                path,
                format!("{}-{}-{} is not a calendar date", date.year, date.month, date.day),
            );
        }
        parsed
    }

    /// A required exact figure; a missing or malformed one is a problem at `path` and
    /// reads as 0 so that checking goes on.
    fn decimal(&mut self, path: String, value: Option<&duban_proto::common::v1::Decimal>) -> rust_decimal::Decimal {
        match value.map(duban_proto::common::v1::Decimal::to_decimal) {
            Some(Ok(value)) => value,
            Some(Err(problem)) => {
                self.invalid(path, problem.to_string());
                rust_decimal::Decimal::ZERO
            }
            None => {
                self.invalid(path, "is required".into());
                rust_decimal::Decimal::ZERO
            }
        }
    }

    /// An optional comparator: UNSPECIFIED is none, a value the contract does not list
    /// is a problem (it would otherwise be stored as none).
    fn optional_comparator(&mut self, path: String, value: i32) -> Option<duban_catalog::Comparator> {
        let comparator = convert::comparator_from_proto(value);
        if comparator.is_none() && value != 0 {
            self.invalid(path, format!("{value} is not a comparator"));
        }
        comparator
    }

    fn number(&mut self, path: String, value: i32) -> u32 {
        u32::try_from(value).unwrap_or_else(|_| {
            self.invalid(path, format!("{value} is negative"));
            0
        })
    }

    fn required<T>(&mut self, path: String, value: Option<T>, what: &str, fallback: T) -> T {
        value.unwrap_or_else(|| {
            self.missing(path, what);
            fallback
        })
    }
}

/// How a path names an element of a keyed list, as the catalog's problems do.
fn key(key: &str, index: usize) -> String {
    duban_catalog::entry_key(key, index)
}

/// Reads a dataset; see [`Read`].
pub(crate) fn read(dataset: &pb::PlanDataset) -> Read {
    let mut r = Reader { problems: Vec::new() };
    let placeholder = NaiveDate::default();
    let header = match &dataset.plan {
        None => {
            r.missing("plan".into(), "the plan");
            None
        }
        Some(p) => Some(p),
    };
    let p = header.cloned().unwrap_or_default();
    let cadence = p.cadence.unwrap_or_default();
    let due_day = r.number("plan.cadence.due_day".into(), cadence.due_day);
    let cadence = match pb::ReportingFrequency::try_from(cadence.frequency) {
        Ok(pb::ReportingFrequency::Monthly) => Cadence::Monthly { due_day },
        Ok(pb::ReportingFrequency::Quarterly) => Cadence::Quarterly { due_day },
        _ => {
            if header.is_some() {
                r.missing("plan.cadence.frequency".into(), "a reporting frequency");
            }
            Cadence::Monthly { due_day }
        }
    };
    let follow_up = p.follow_up.as_ref().map(|rules| follow_up_from_proto(&mut r, rules));
    let rag = p.rag.as_ref().map(|rules| rag_from_proto(&mut r, rules));
    let (issue_date, effective_from, effective_to) = if header.is_some() {
        (
            r.date("plan.issue_date".into(), p.issue_date.as_ref(), placeholder),
            r.date("plan.effective_from".into(), p.effective_from.as_ref(), placeholder),
            r.date("plan.effective_to".into(), p.effective_to.as_ref(), placeholder),
        )
    } else {
        (placeholder, placeholder, placeholder)
    };
    let header = PlanHeader {
        id: p.id,
        document_number: p.document_number,
        title: p.title,
        title_en: p.title_en,
        issuing_body: p.issuing_body,
        issuing_body_en: p.issuing_body_en,
        issue_date,
        effective_from,
        effective_to,
        directory: p.directory,
        time_zone: p.time_zone,
        cadence,
        follow_up,
        rag,
    };
    let actions = dataset
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| Action {
            number: r.number(format!("actions[#{i}].number"), a.number),
            title: a.title.clone(),
            title_en: a.title_en.clone(),
        })
        .collect();
    let measures = dataset
        .measures
        .iter()
        .enumerate()
        .map(|(i, m)| read_measure(&mut r, m, &key(&m.number, i)))
        .collect();
    let mut target_milestones = BTreeMap::new();
    let targets = dataset
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let at = format!("targets[{}]", key(&t.code, i));
            let milestones: Vec<TargetMilestone> = t
                .milestones
                .iter()
                .enumerate()
                .map(|(j, ms)| {
                    let period = ms.period.unwrap_or_default();
                    if ms.period.is_none() || !(1..=12).contains(&period.month) {
                        r.invalid(
                            format!("{at}.milestones[{j}].period"),
                            "must be a month such as 2023-06".into(),
                        );
                    }
                    TargetMilestone {
                        year: period.year,
                        month: period.month,
                        expected_value: r.decimal(
                            format!("{at}.milestones[{j}].expected_value"),
                            ms.expected_value.as_ref(),
                        ),
                    }
                })
                .collect();
            if !milestones.is_empty() {
                target_milestones.insert(t.code.clone(), milestones);
            }
            read_target(&mut r, dataset, t, &at)
        })
        .collect();
    Read {
        plan: Plan {
            header,
            actions,
            measures,
            targets,
        },
        target_milestones,
        problems: r.problems,
    }
}

fn read_measure(r: &mut Reader, m: &pb::Measure, key: &str) -> Measure {
    let at = format!("measures[{key}]");
    let mut responsible_units = Vec::new();
    for (i, unit) in m.responsible_units.iter().enumerate() {
        if unit.as_written.trim().is_empty() {
            r.missing(format!("{at}.responsible_units[{i}].as_written"), "the unit as written");
        }
        responsible_units.push(unit.as_written.clone());
    }
    let milestones = m
        .milestones
        .iter()
        .enumerate()
        .map(|(i, ms)| {
            let mat = format!("{at}.milestones[{}]", key_of(&ms.code, i));
            Milestone {
                code: ms.code.clone(),
                from: r.optional_date(format!("{mat}.start_date"), ms.start_date.as_ref()),
                date: r.date(format!("{mat}.date"), ms.date.as_ref(), NaiveDate::default()),
                description: ms.description.clone(),
                description_en: ms.description_en.clone(),
            }
        })
        .collect();
    let policy_parameters = m
        .policy_parameters
        .iter()
        .enumerate()
        .map(|(i, pp)| {
            let pat = format!("{at}.policy_parameters[{}]", key_of(&pp.code, i));
            PolicyParameter {
                code: pp.code.clone(),
                name: pp.name.clone(),
                name_en: pp.name_en.clone(),
                value: r.decimal(format!("{pat}.value"), pp.value.as_ref()),
                unit: r.required(
                    format!("{pat}.unit"),
                    convert::unit_from_proto(pp.unit),
                    "a unit",
                    duban_catalog::QuantityUnit::Count,
                ),
                comparator: r.optional_comparator(format!("{pat}.comparator"), pp.comparator),
                note: non_empty(&pp.note),
            }
        })
        .collect();
    Measure {
        action: r.number(format!("{at}.action_number"), m.action_number),
        number: m.number.clone(),
        title: m.title.clone(),
        title_en: m.title_en.clone(),
        text: m.text.clone(),
        responsible_units,
        milestones,
        policy_parameters,
    }
}

fn key_of(code: &str, index: usize) -> String {
    key(code, index)
}

fn read_target(r: &mut Reader, dataset: &pb::PlanDataset, t: &tpb::Target, at: &str) -> Target {
    // A reporter may be a code (as exported): spell it as the measure's unit with it.
    let measure = dataset.measures.iter().find(|m| m.number == t.measure_number);
    let reporters = t
        .reporters
        .iter()
        .map(|reporter| {
            measure
                .and_then(|m| {
                    m.responsible_units
                        .iter()
                        .find(|u| !u.code.is_empty() && u.code == *reporter)
                })
                .map_or_else(|| reporter.clone(), |u| u.as_written.clone())
        })
        .collect();
    let target = Target {
        code: t.code.clone(),
        measure: t.measure_number.clone(),
        name: t.display_name.clone(),
        name_en: t.display_name_en.clone(),
        unit: r.required(
            format!("{at}.unit"),
            convert::unit_from_proto(t.unit),
            "a unit",
            duban_catalog::QuantityUnit::Count,
        ),
        value: r.decimal(format!("{at}.value"), t.value.as_ref()),
        comparator: r.required(
            format!("{at}.comparator"),
            convert::comparator_from_proto(t.comparator),
            "a comparator",
            duban_catalog::Comparator::AtLeast,
        ),
        aspirational: t.aspirational,
        deadline: r.optional_date(format!("{at}.deadline"), t.deadline.as_ref()),
        baseline: t
            .baseline
            .as_ref()
            .map(|baseline| r.decimal(format!("{at}.baseline"), Some(baseline))),
        decimal_places: t.decimal_places.and_then(|places| {
            u32::try_from(places)
                .map_err(|_| r.invalid(format!("{at}.decimal_places"), "must be 0 to 6".into()))
                .ok()
        }),
        aggregation: r.required(
            format!("{at}.aggregation"),
            convert::aggregation_from_proto(t.aggregation),
            "an aggregation",
            duban_catalog::Aggregation::Sum,
        ),
        basis: r.required(
            format!("{at}.value_basis"),
            convert::basis_from_proto(t.value_basis),
            "a value basis",
            duban_catalog::ValueBasis::Cumulative,
        ),
        reporters,
        source: t.source.clone(),
        note: non_empty(&t.note),
    };
    // A declared number of places equal to the default rule is the default: stored
    // unset, so that a plan exported with its places resolved imports back unchanged.
    let default = duban_catalog::plan::default_decimal_places([target.value].into_iter().chain(target.baseline));
    Target {
        decimal_places: target.decimal_places.filter(|places| *places != default),
        ..target
    }
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// The plan header in the contract (output-only fields unset).
pub fn header_to_proto(h: &PlanHeader) -> pb::Plan {
    let (frequency, due_day) = match h.cadence {
        Cadence::Monthly { due_day } => (pb::ReportingFrequency::Monthly, due_day),
        Cadence::Quarterly { due_day } => (pb::ReportingFrequency::Quarterly, due_day),
    };
    pb::Plan {
        id: h.id.clone(),
        document_number: h.document_number.clone(),
        title: h.title.clone(),
        title_en: h.title_en.clone(),
        issuing_body: h.issuing_body.clone(),
        issuing_body_en: h.issuing_body_en.clone(),
        directory: h.directory.clone(),
        time_zone: h.time_zone.clone(),
        issue_date: Some(convert::date(h.issue_date)),
        effective_from: Some(convert::date(h.effective_from)),
        effective_to: Some(convert::date(h.effective_to)),
        cadence: Some(pb::ReportingCadence {
            frequency: frequency as i32,
            due_day: due_day as i32,
        }),
        follow_up: h.follow_up.as_ref().map(follow_up_to_proto),
        rag: h.rag.as_ref().map(rag_to_proto),
        ..Default::default()
    }
}

/// A plan's follow-up rules in the contract.
pub fn follow_up_to_proto(rules: &FollowUp) -> pb::FollowUpRules {
    let days = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    pb::FollowUpRules {
        remind_days_before_due: days(rules.remind_days_before_due),
        yellow_after_days_late: days(rules.yellow_after_days_late),
        red_after_days_late: days(rules.red_after_days_late),
        red_after_periods_red: days(rules.red_after_periods_red),
        run_at: rules.run_at_text(),
    }
}

/// The contract's follow-up rules, every field as given (the catalog's validation
/// judges the values); a malformed `run_at` is a problem at its path.
fn follow_up_from_proto(r: &mut Reader, rules: &pb::FollowUpRules) -> FollowUp {
    let run_at = FollowUp::parse_run_at(&rules.run_at).unwrap_or_else(|| {
        r.invalid(
            "plan.follow_up.run_at".into(),
            format!("{:?} is not a time of day such as 09:00", rules.run_at),
        );
        FollowUp::default().run_at
    });
    FollowUp {
        remind_days_before_due: r.number(
            "plan.follow_up.remind_days_before_due".into(),
            rules.remind_days_before_due,
        ),
        yellow_after_days_late: r.number(
            "plan.follow_up.yellow_after_days_late".into(),
            rules.yellow_after_days_late,
        ),
        red_after_days_late: r.number("plan.follow_up.red_after_days_late".into(), rules.red_after_days_late),
        red_after_periods_red: r.number(
            "plan.follow_up.red_after_periods_red".into(),
            rules.red_after_periods_red,
        ),
        run_at,
    }
}

/// A plan's RAG rules in the contract.
pub fn rag_to_proto(rules: &RagRules) -> pb::RagRules {
    pb::RagRules {
        amber_shortfall_percent: Some(rules.amber_shortfall_percent.into()),
        amber_at_most_percent: Some(rules.amber_at_most_percent.into()),
        approximately_percent: Some(rules.approximately_percent.into()),
        missing_report_turns_delivery_red: rules.missing_report_turns_delivery_red,
    }
}

/// The contract's RAG rules: an unset percentage takes its default, a malformed one is
/// a problem at its path (the catalog's validation judges the values).
fn rag_from_proto(r: &mut Reader, rules: &pb::RagRules) -> RagRules {
    let defaults = RagRules::default();
    let mut percent = |field: &str, value: Option<&duban_proto::common::v1::Decimal>, default| match value {
        None => default,
        Some(value) => r.decimal(format!("plan.rag.{field}"), Some(value)),
    };
    RagRules {
        amber_shortfall_percent: percent(
            "amber_shortfall_percent",
            rules.amber_shortfall_percent.as_ref(),
            defaults.amber_shortfall_percent,
        ),
        amber_at_most_percent: percent(
            "amber_at_most_percent",
            rules.amber_at_most_percent.as_ref(),
            defaults.amber_at_most_percent,
        ),
        approximately_percent: percent(
            "approximately_percent",
            rules.approximately_percent.as_ref(),
            defaults.approximately_percent,
        ),
        missing_report_turns_delivery_red: rules.missing_report_turns_delivery_red,
    }
}

/// An action in the contract (output-only fields unset).
pub fn action_to_proto(a: &Action) -> pb::Action {
    pb::Action {
        number: a.number as i32,
        title: a.title.clone(),
        title_en: a.title_en.clone(),
        ..Default::default()
    }
}

/// A measure in the contract with the given units (output-only fields unset).
pub fn measure_to_proto(m: &Measure, responsible_units: Vec<pb::ResponsibleUnit>) -> pb::Measure {
    pb::Measure {
        action_number: m.action as i32,
        number: m.number.clone(),
        title: m.title.clone(),
        title_en: m.title_en.clone(),
        text: m.text.clone(),
        responsible_units,
        milestones: m
            .milestones
            .iter()
            .map(|ms| pb::Milestone {
                code: ms.code.clone(),
                date: Some(convert::date(ms.date)),
                description: ms.description.clone(),
                description_en: ms.description_en.clone(),
                start_date: ms.from.map(convert::date),
            })
            .collect(),
        policy_parameters: m
            .policy_parameters
            .iter()
            .map(|pp| pb::PolicyParameter {
                code: pp.code.clone(),
                name: pp.name.clone(),
                name_en: pp.name_en.clone(),
                value: Some(pp.value.into()),
                unit: convert::unit_to_proto(pp.unit) as i32,
                note: pp.note.clone().unwrap_or_default(),
                comparator: pp.comparator.map_or(0, |c| convert::comparator_to_proto(c) as i32),
            })
            .collect(),
        ..Default::default()
    }
}

/// A target in the contract with the given reporters (output-only fields unset).
pub fn target_to_proto(t: &Target, reporters: Vec<String>, milestones: &[TargetMilestone]) -> tpb::Target {
    tpb::Target {
        code: t.code.clone(),
        measure_number: t.measure.clone(),
        display_name: t.name.clone(),
        display_name_en: t.name_en.clone(),
        unit: convert::unit_to_proto(t.unit) as i32,
        value: Some(t.value.into()),
        comparator: convert::comparator_to_proto(t.comparator) as i32,
        aspirational: t.aspirational,
        deadline: t.deadline.map(convert::date),
        baseline: t.baseline.map(Into::into),
        // As the plan declares it: unset means the default rule, which the targets
        // service applies (so a plan exports and imports back unchanged).
        decimal_places: t.decimal_places.and_then(|places| i32::try_from(places).ok()),
        aggregation: convert::aggregation_to_proto(t.aggregation) as i32,
        value_basis: convert::basis_to_proto(t.basis) as i32,
        reporters,
        source: t.source.clone(),
        note: t.note.clone().unwrap_or_default(),
        milestones: milestones
            .iter()
            .map(|ms| tpb::TargetMilestone {
                period: Some(duban_proto::common::v1::Period {
                    year: ms.year,
                    month: ms.month,
                }),
                expected_value: Some(ms.expected_value.into()),
            })
            .collect(),
        ..Default::default()
    }
}

/// A stored target in the contract, reporters as codes.
pub fn stored_target_to_proto(content: &PlanContent, t: &Target) -> tpb::Target {
    let reporters = reporter_codes(content, t);
    let milestones = content.target_milestones.get(&t.code).map_or(&[][..], Vec::as_slice);
    target_to_proto(t, reporters, milestones)
}

/// A target's reporters as codes: each one is spelled as one of its measure's units.
pub fn reporter_codes(content: &PlanContent, t: &Target) -> Vec<String> {
    let measure = content.plan.measure(&t.measure);
    let units = content.units_of(&t.measure);
    t.reporters
        .iter()
        .map(|reporter| {
            measure
                .and_then(|m| m.responsible_units.iter().position(|w| w == reporter))
                .and_then(|i| units.get(i))
                .map_or_else(|| reporter.clone(), |u| u.code.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jiading_plan_round_trips_losslessly() {
        let (directory, plan) = duban_catalog::jiading_2023();
        for directory in [None, Some(&directory)] {
            let dataset = from_catalog(&plan, directory);
            assert_eq!(dataset.actions.len(), 10);
            assert_eq!(dataset.measures.len(), 29);
            let back = to_catalog(&dataset).unwrap();
            assert_eq!(back, plan);
        }
    }

    #[test]
    fn units_carry_codes_kinds_names_leads_and_positions() {
        let (directory, plan) = duban_catalog::jiading_2023();
        let dataset = from_catalog(&plan, Some(&directory));
        for m in &dataset.measures {
            for (i, u) in m.responsible_units.iter().enumerate() {
                assert!(!u.code.is_empty(), "{} {} unresolved", m.number, u.as_written);
                assert_eq!(u.position, i as i32 + 1);
                assert_eq!(u.lead, i == 0);
                assert!(!u.display_name.is_empty());
            }
        }
        let m21 = dataset.measures.iter().find(|m| m.number == "2.1").unwrap();
        let towns = m21.responsible_units.last().unwrap();
        assert_eq!(towns.as_written, "各街镇");
        assert_eq!(towns.kind, pb::ResponsibleUnitKind::Group as i32);
    }

    #[test]
    fn reporters_written_as_codes_read_as_the_measures_spelling() {
        let (directory, plan) = duban_catalog::jiading_2023();
        let mut dataset = from_catalog(&plan, Some(&directory));
        let target = dataset
            .targets
            .iter_mut()
            .find(|t| t.code == "new-enterprises")
            .unwrap();
        target.reporters = vec!["all-towns".into()];
        let back = to_catalog(&dataset).unwrap();
        assert_eq!(back.target("new-enterprises").unwrap().reporters, ["各街镇"]);
    }

    /// Found by the ImportPlan property (issue 12): a policy parameter's comparator the
    /// contract does not list was stored as UNSPECIFIED instead of refused.
    #[test]
    fn an_unknown_parameter_comparator_is_a_problem() {
        let (_, plan) = duban_catalog::jiading_2023();
        let mut dataset = from_catalog(&plan, None);
        let m12 = dataset.measures.iter_mut().find(|m| m.number == "1.2").unwrap();
        m12.policy_parameters[0].comparator = 99;
        m12.policy_parameters[1].comparator = 0;
        let code = m12.policy_parameters[0].code.clone();
        let problems = to_catalog(&dataset).unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, [format!("measures[1.2].policy_parameters[{code}].comparator")]);
    }

    #[test]
    fn every_unreadable_field_is_reported_with_its_path() {
        let (_, plan) = duban_catalog::jiading_2023();
        let mut dataset = from_catalog(&plan, None);
        dataset.plan.as_mut().unwrap().effective_to = None;
        dataset.measures[1].milestones.push(pb::Milestone {
            code: "leap-day".into(),
            date: Some(duban_proto::common::v1::Date {
                year: 2023,
                month: 2,
                day: 30,
            }),
            ..Default::default()
        });
        dataset.targets[0].unit = 0;
        let code = dataset.targets[0].code.clone();
        let problems = to_catalog(&dataset).unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        let number = &dataset.measures[1].number;
        assert_eq!(
            paths,
            [
                "plan.effective_to".to_owned(),
                format!("measures[{number}].milestones[leap-day].date"),
                format!("targets[{code}].unit"),
            ]
        );
    }
}
