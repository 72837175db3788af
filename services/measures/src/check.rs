//! The pure check of an imported dataset: read, validated and resolved against a directory, made canonical.

use std::collections::{BTreeMap, BTreeSet};

use duban_catalog::{Directory, Plan, Resolved};
use duban_proto::measures::v1::{self as pb, ImportProblem, ImportProblemKind};

use crate::{
    content::{PlanContent, UnitRef},
    convert, dataset,
};

/// A dataset checked against the directory.
#[derive(Debug)]
pub(crate) struct Checked {
    /// Every problem, in dataset order.
    pub problems: Vec<ImportProblem>,
    /// Responsible units, as written, in neither the directory nor a pinned code.
    pub unresolved: Vec<String>,
    /// The content to store (meaningful only without problems).
    pub content: PlanContent,
}

/// Reads, validates and resolves a dataset against `directory`; pure.
pub(crate) fn check(data: &pb::PlanDataset, read: dataset::Read, directory: &Directory) -> Checked {
    let dataset::Read {
        mut plan,
        target_milestones,
        mut problems,
    } = read;
    let mut unresolved = Vec::new();
    let mut pinned: BTreeSet<String> = BTreeSet::new();
    let mut units = BTreeMap::new();
    for (i, (m, pm)) in plan.measures.iter().zip(&data.measures).enumerate() {
        let key = duban_catalog::entry_key(&m.number, i);
        let any_lead = pm.responsible_units.iter().any(|u| u.lead);
        let mut refs = Vec::new();
        for (j, unit) in pm.responsible_units.iter().enumerate() {
            let path = format!("measures[{key}].responsible_units[{j}]");
            let resolved = if unit.code.is_empty() {
                directory.resolve(&unit.as_written)
            } else if directory.unit(&unit.code).is_some() {
                pinned.insert(path.clone());
                Some(Resolved::Unit(unit.code.clone()))
            } else if directory.group(&unit.code).is_some() {
                pinned.insert(path.clone());
                Some(Resolved::Group(unit.code.clone()))
            } else {
                pinned.insert(path.clone());
                problems.push(dataset::problem(
                    format!("{path}.code"),
                    format!(
                        "pinned code `{}` is not a department or group in the directory",
                        unit.code
                    ),
                    ImportProblemKind::UnresolvedUnit,
                ));
                None
            };
            match resolved {
                Some(Resolved::Unit(code)) => refs.push(UnitRef {
                    display_name: directory.unit(&code).map(|u| u.name.clone()).unwrap_or_default(),
                    code,
                    group: false,
                    lead: if any_lead { unit.lead } else { j == 0 },
                }),
                Some(Resolved::Group(code)) => refs.push(UnitRef {
                    display_name: directory.group(&code).map(|g| g.name.clone()).unwrap_or_default(),
                    code,
                    group: true,
                    lead: if any_lead { unit.lead } else { j == 0 },
                }),
                None => {
                    if !unit.as_written.trim().is_empty() && !unresolved.contains(&unit.as_written) {
                        unresolved.push(unit.as_written.clone());
                    }
                }
            }
        }
        units.insert(m.number.clone(), refs);
    }
    let structural: Vec<String> = problems.iter().map(|p| p.path.clone()).collect();
    for found in plan.validate(directory) {
        // A pinned unit need not resolve by name, and a field already reported as
        // unreadable is not reported again through its placeholder.
        let path = dataset_path(&found.path);
        let pinned_ok = pinned.contains(&path)
            && !problems.iter().any(|p| p.path == format!("{path}.code"))
            && found.message.contains("is not a unit or group");
        if pinned_ok || structural.iter().any(|s| path.starts_with(s.as_str())) {
            continue;
        }
        let kind = dataset::classify(&found);
        problems.push(dataset::problem(path, found.message, kind));
    }
    // Only a valid plan has a canonical form; an invalid one is returned as read.
    if problems.is_empty() {
        canonicalise(&mut plan, &units, directory);
    }
    Checked {
        problems,
        unresolved,
        content: PlanContent {
            plan,
            units,
            target_milestones,
        },
    }
}

/// Fields the catalog model (and a plan file) names differently from the dataset: the
/// list whose element has the field, the catalog's name, and the dataset's.
const RENAMED_FIELDS: [(&str, &str, &str); 6] = [
    ("measures", "action", "action_number"),
    ("milestones", "from", "start_date"),
    ("targets", "measure", "measure_number"),
    ("targets", "name", "display_name"),
    ("targets", "name_en", "display_name_en"),
    ("targets", "basis", "value_basis"),
];

/// A catalog problem's path in the dataset's field names (`measures[4.2].action` is
/// `measures[4.2].action_number`), so that it names a field of the request.
fn dataset_path(path: &str) -> String {
    for (list, catalog, field) in RENAMED_FIELDS {
        let renamed = path
            .strip_suffix(catalog)
            .and_then(|element| element.strip_suffix('.'))
            .filter(|element| element.ends_with(']'))
            .and_then(|element| element.rfind('[').map(|open| (element, open)))
            .filter(|(element, open)| element.get(..*open).is_some_and(|before| before.ends_with(list)));
        if let Some((element, _)) = renamed {
            return format!("{element}.{field}");
        }
    }
    path.to_owned()
}

/// Puts a valid plan in canonical form: actions, measures and targets in number (then
/// code) order, since their order carries no meaning (the targets service lists them
/// in its own order); each reporter spelled as the responsible unit it names; and a
/// deadline equal to the plan's end left unset.
fn canonicalise(plan: &mut Plan, units: &BTreeMap<String, Vec<UnitRef>>, directory: &Directory) {
    plan.actions.sort_by_key(|a| a.number);
    plan.measures.sort_by_key(|m| convert::measure_order(&m.number));
    plan.targets.sort_by(|a, b| {
        (convert::measure_order(&a.measure), &a.code).cmp(&(convert::measure_order(&b.measure), &b.code))
    });
    let effective_to = plan.header.effective_to;
    let measures = plan.measures.clone();
    for t in &mut plan.targets {
        if t.deadline == Some(effective_to) {
            t.deadline = None;
        }
        let Some(measure) = measures.iter().find(|m| m.number == t.measure) else {
            continue;
        };
        let refs = units.get(&t.measure).map_or(&[][..], Vec::as_slice);
        for reporter in &mut t.reporters {
            let code = directory.resolve(reporter).map(|r| r.code().to_owned());
            let position = measure
                .responsible_units
                .iter()
                .position(|w| duban_catalog::normalize_unit_name(w) == duban_catalog::normalize_unit_name(reporter))
                .or_else(|| code.and_then(|code| refs.iter().position(|u| u.code == code)));
            if let Some(written) = position.and_then(|i| measure.responsible_units.get(i)) {
                reporter.clone_from(written);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content;

    fn jiading() -> (Directory, pb::PlanDataset) {
        let (directory, plan) = duban_catalog::jiading_2023();
        let data = dataset::from_catalog(&plan, None);
        (directory, data)
    }

    fn run(data: &pb::PlanDataset, directory: &Directory) -> Checked {
        check(data, dataset::read(data), directory)
    }

    #[test]
    fn the_jiading_plan_checks_out_and_resolves_every_unit() {
        let (directory, data) = jiading();
        let checked = run(&data, &directory);
        assert!(checked.problems.is_empty(), "{:?}", checked.problems);
        assert_eq!(checked.content.units.len(), 29);
        for (number, refs) in &checked.content.units {
            let m = checked.content.plan.measure(number).unwrap();
            assert_eq!(refs.len(), m.responsible_units.len(), "{number}");
            assert!(refs[0].lead);
        }
    }

    #[test]
    fn export_with_codes_hashes_as_the_import_did() {
        let (directory, data) = jiading();
        let first = run(&data, &directory).content;
        // As exported: units pinned by code, reporters as codes, deadlines filled.
        let mut exported = dataset::from_catalog(&first.plan, Some(&directory));
        for t in &mut exported.targets {
            let stored = first.plan.target(&t.code).unwrap();
            t.reporters = dataset::reporter_codes(&first, stored);
            t.deadline.get_or_insert(convert::date(first.plan.header.effective_to));
        }
        exported.targets.reverse();
        exported.measures.reverse();
        let second = run(&exported, &directory).content;
        assert_eq!(first.sha256(), second.sha256());
        assert!(content::changed_paths(&first, &second).is_empty());
    }

    #[test]
    fn every_problem_is_reported_with_its_path_and_kind() {
        let (directory, mut data) = jiading();
        let m42 = data.measures.iter_mut().find(|m| m.number == "4.2").unwrap();
        m42.responsible_units.push(pb::ResponsibleUnit {
            as_written: "区不存在局".into(),
            ..Default::default()
        });
        let position = m42.responsible_units.len() - 1;
        let copy = data.measures.iter().find(|m| m.number == "1.1").unwrap().clone();
        data.measures.push(copy);
        data.targets[0].measure_number = "9.9".into();
        let code = data.targets[0].code.clone();
        let checked = run(&data, &directory);
        let found: Vec<(String, i32)> = checked.problems.iter().map(|p| (p.path.clone(), p.kind)).collect();
        for (path, kind) in [
            (
                format!("measures[4.2].responsible_units[{position}]"),
                ImportProblemKind::UnresolvedUnit,
            ),
            ("measures[1.1].number".to_owned(), ImportProblemKind::DuplicateKey),
            (
                format!("targets[{code}].measure_number"),
                ImportProblemKind::UnknownReference,
            ),
        ] {
            assert!(
                found.contains(&(path.clone(), kind as i32)),
                "{path} missing in {found:?}"
            );
        }
        assert_eq!(checked.unresolved, ["区不存在局"]);
    }

    /// Found by the ImportPlan property (issue 12): problems the catalog found were
    /// named by the catalog's fields (`measures[1.1].action`), which the request does
    /// not have.
    #[test]
    fn problems_name_the_fields_of_the_dataset() {
        let (directory, mut data) = jiading();
        let m11 = data.measures.iter_mut().find(|m| m.number == "1.1").unwrap();
        m11.action_number = 2;
        let code = m11.milestones[0].code.clone();
        m11.milestones[0].start_date = Some(convert::date(chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()));
        let target = &mut data.targets[0];
        target.display_name = " ".into();
        target.display_name_en.clear();
        let target = target.code.clone();
        let paths: Vec<String> = run(&data, &directory).problems.into_iter().map(|p| p.path).collect();
        for path in [
            "measures[1.1].action_number".to_owned(),
            format!("measures[1.1].milestones[{code}].start_date"),
            format!("targets[{target}].display_name"),
            format!("targets[{target}].display_name_en"),
        ] {
            assert!(paths.contains(&path), "{path} missing from {paths:?}");
        }
        assert_eq!(dataset_path("targets[a.name].name"), "targets[a.name].display_name");
        assert_eq!(dataset_path("plan.title"), "plan.title");
        assert_eq!(
            dataset_path("measures[1.1].policy_parameters[x].name"),
            "measures[1.1].policy_parameters[x].name"
        );
    }

    #[test]
    fn a_pinned_code_stands_in_for_an_unknown_spelling() {
        let (directory, mut data) = jiading();
        let m11 = data.measures.iter_mut().find(|m| m.number == "1.1").unwrap();
        m11.responsible_units[0].as_written = "嘉定税务".into();
        m11.responsible_units[0].code = "tax-bureau".into();
        let checked = run(&data, &directory);
        // Reporters written as the old spelling no longer match: only those remain.
        assert!(
            checked.problems.iter().all(|p| p.path.starts_with("targets[")),
            "{:?}",
            checked.problems
        );
        m11_pin_unknown(&directory);
    }

    fn m11_pin_unknown(directory: &Directory) {
        let (_, mut data) = jiading();
        data.measures[0].responsible_units[0].code = "no-such-unit".into();
        let checked = run(&data, directory);
        assert_eq!(
            checked.problems[0].path,
            format!("measures[{}].responsible_units[0].code", data.measures[0].number)
        );
    }
}
