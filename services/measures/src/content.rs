//! What one plan revision stores: the whole plan as one JSON document, and how two
//! revisions are compared (the canonical hash, and the paths that changed).

use std::collections::BTreeMap;

use duban_catalog::Plan;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Most changed paths an import reports.
pub const MAX_CHANGED_PATHS: usize = 1000;

/// The content of one plan revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanContent {
    /// Plan header, actions, measures (units as written), targets. Canonical: each
    /// target's reporters are spelled as in its measure's responsible units, and a
    /// deadline equal to the plan's `effective_to` is left unset.
    pub plan: Plan,
    /// Per measure number, its responsible units resolved, in printed order.
    pub units: BTreeMap<String, Vec<UnitRef>>,
    /// Per target code, explicit expected values (targets the catalog has none of).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target_milestones: BTreeMap<String, Vec<TargetMilestone>>,
}

/// One responsible unit, resolved against the directory at import time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRef {
    /// Department or group code.
    pub code: String,
    /// Whether `code` is a group.
    pub group: bool,
    /// The canonical name in the directory when imported (not part of the hash).
    pub display_name: String,
    /// Whether it leads the measure.
    pub lead: bool,
}

/// An expected value at the end of one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetMilestone {
    /// Year of the period.
    pub year: i32,
    /// Month of the period, 1-12.
    pub month: i32,
    /// The value expected by its last day.
    /// Exact; read from a JSON number (documents of earlier versions) or string.
    pub expected_value: rust_decimal::Decimal,
}

impl PlanContent {
    /// The content as stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads stored content.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Hex SHA-256 of the canonical content: what an import provides, without what
    /// the directory supplies (display names), so an identical import hashes the same.
    pub fn sha256(&self) -> String {
        let mut canonical = self.clone();
        for units in canonical.units.values_mut() {
            for unit in units {
                unit.display_name.clear();
            }
        }
        hex::encode(Sha256::digest(canonical.to_json().as_bytes()))
    }

    /// The resolved units of a measure.
    pub fn units_of(&self, number: &str) -> &[UnitRef] {
        self.units.get(number).map_or(&[], Vec::as_slice)
    }
}

/// Paths, relative to the dataset, of what differs between two revisions: an added or
/// removed element by its key (`measures[4.2]`), a changed one by its field
/// (`targets[new-enterprises].value`). At most [`MAX_CHANGED_PATHS`].
pub fn changed_paths(old: &PlanContent, new: &PlanContent) -> Vec<String> {
    let mut paths = Vec::new();
    let (old_header, new_header) = (json(&old.plan.header), json(&new.plan.header));
    fields("plan", &old_header, &new_header, &mut paths);
    keyed(
        "actions",
        old.plan.actions.iter().map(|a| (a.number.to_string(), json(a))),
        new.plan.actions.iter().map(|a| (a.number.to_string(), json(a))),
        &mut paths,
    );
    let measure = |content: &PlanContent, m: &duban_catalog::Measure| {
        let mut value = json(m);
        if let Value::Object(map) = &mut value {
            let units: Vec<_> = content
                .units_of(&m.number)
                .iter()
                .map(|u| (u.code.clone(), u.lead))
                .collect();
            map.insert("resolved_units".into(), json(&units));
        }
        (m.number.clone(), value)
    };
    keyed(
        "measures",
        old.plan.measures.iter().map(|m| measure(old, m)),
        new.plan.measures.iter().map(|m| measure(new, m)),
        &mut paths,
    );
    let target = |content: &PlanContent, t: &duban_catalog::Target| {
        let mut value = json(t);
        if let (Value::Object(map), Some(milestones)) = (&mut value, content.target_milestones.get(&t.code)) {
            map.insert("milestones".into(), json(milestones));
        }
        (t.code.clone(), value)
    };
    keyed(
        "targets",
        old.plan.targets.iter().map(|t| target(old, t)),
        new.plan.targets.iter().map(|t| target(new, t)),
        &mut paths,
    );
    paths.truncate(MAX_CHANGED_PATHS);
    paths
}

fn json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Elements keyed by number or code: added, removed, or changed field by field.
fn keyed(
    list: &str,
    old: impl Iterator<Item = (String, Value)>,
    new: impl Iterator<Item = (String, Value)>,
    paths: &mut Vec<String>,
) {
    let old: BTreeMap<String, Value> = old.collect();
    let new: Vec<(String, Value)> = new.collect();
    for (key, value) in &new {
        let at = format!("{list}[{key}]");
        match old.get(key) {
            None => paths.push(at),
            Some(before) => fields(&at, before, value, paths),
        }
    }
    for key in old.keys() {
        if !new.iter().any(|(k, _)| k == key) {
            paths.push(format!("{list}[{key}]"));
        }
    }
}

/// The top-level fields of two objects that differ.
fn fields(at: &str, old: &Value, new: &Value, paths: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                if old.get(name) != new.get(name) {
                    let field = if name == "resolved_units" {
                        "responsible_units"
                    } else {
                        name
                    };
                    let path = format!("{at}.{field}");
                    if !paths.contains(&path) {
                        paths.push(path);
                    }
                }
            }
        }
        _ if old != new => paths.push(at.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content() -> PlanContent {
        let (_, plan) = duban_catalog::jiading_2023();
        PlanContent {
            plan,
            units: BTreeMap::new(),
            target_milestones: BTreeMap::new(),
        }
    }

    #[test]
    fn identical_content_hashes_the_same_and_has_no_changes() {
        let (a, b) = (content(), content());
        assert_eq!(a.sha256(), b.sha256());
        assert!(changed_paths(&a, &b).is_empty());
    }

    #[test]
    fn display_names_do_not_change_the_hash() {
        let mut a = content();
        a.units.insert(
            "1.1".into(),
            vec![UnitRef {
                code: "tax-bureau".into(),
                group: false,
                display_name: "区税务局".into(),
                lead: true,
            }],
        );
        let mut b = a.clone();
        b.units.get_mut("1.1").unwrap()[0].display_name = "嘉定区税务局".into();
        assert_eq!(a.sha256(), b.sha256());
        b.units.get_mut("1.1").unwrap()[0].lead = false;
        assert_ne!(a.sha256(), b.sha256());
        assert_eq!(changed_paths(&a, &b), ["measures[1.1].responsible_units"]);
    }

    #[test]
    fn diff_names_changed_fields_and_added_and_removed_elements() {
        let old = content();
        let mut new = old.clone();
        new.plan.header.title_en = "Another title".into();
        new.plan
            .targets
            .iter_mut()
            .find(|t| t.code == "new-enterprises")
            .unwrap()
            .value = 41000.into();
        let removed = new.plan.targets.remove(0).code;
        let mut added = new.plan.targets[0].clone();
        added.code = "brand-new".into();
        new.plan.targets.push(added);
        new.plan
            .measures
            .iter_mut()
            .find(|m| m.number == "4.2")
            .unwrap()
            .title_en = "x".into();
        let paths = changed_paths(&old, &new);
        assert_eq!(
            paths,
            [
                "plan.title_en".to_owned(),
                "measures[4.2].title_en".to_owned(),
                "targets[new-enterprises].value".to_owned(),
                "targets[brand-new]".to_owned(),
                format!("targets[{removed}]"),
            ]
        );
        assert_ne!(old.sha256(), new.sha256());
    }
}
