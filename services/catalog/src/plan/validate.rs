//! Content checks of a plan against its directory.
//!
//! Each check appends to one list instead of returning early: plan files are
//! transcribed by hand from a government document, and a maintainer wants
//! the whole list of mistakes, each with a path naming the entry by its
//! number or code (`measures[4.2].responsible_units[6]`), not its position.

use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate};

use super::{Measure, Plan, QuantityUnit, entry_key};
use crate::directory::{Directory, Resolved};
use crate::error::{Problem, is_slug};

mod targets;

/// Collects problems, with the checks that every kind of entry repeats.
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem::new(path, message));
    }

    fn require_text(&mut self, path: impl Into<String>, value: &str) {
        if value.trim().is_empty() {
            self.add(path, "must not be empty");
        }
    }

    fn value(&mut self, path: String, value: Decimal, unit: QuantityUnit) {
        if value.is_sign_negative() && !value.is_zero() {
            self.add(path, "must not be negative");
        } else if unit == QuantityUnit::Percent && value > Decimal::ONE_HUNDRED {
            self.add(path, "a percentage cannot exceed 100");
        } else if unit.is_whole() && !value.fract().is_zero() {
            self.add(path, format!("must be a whole number ({unit:?} are counted)"));
        }
    }

    fn date(&mut self, path: String, date: NaiveDate, (first, last): (NaiveDate, NaiveDate)) {
        if date < first || date > last {
            self.add(path, format!("{date} is outside the sensible range {first}..={last}"));
        }
    }
}

impl Plan {
    /// Checks the plan against `directory` and returns every problem found;
    /// an empty list means the plan can be used.
    pub fn validate(&self, directory: &Directory) -> Vec<Problem> {
        let mut p = Problems(Vec::new());
        self.check_header(directory, &mut p);
        self.check_actions(&mut p);
        let mut numbers = HashSet::new();
        let mut codes = HashSet::new();
        for (i, m) in self.measures.iter().enumerate() {
            let at = format!("measures[{}]", entry_key(&m.number, i));
            if !numbers.insert(m.number.as_str()) {
                p.add(format!("{at}.number"), "measure number is used twice");
            }
            self.check_measure(m, &at, directory, &mut codes, &mut p);
        }
        let mut codes = HashSet::new();
        for (i, t) in self.targets.iter().enumerate() {
            let at = format!("targets[{}]", entry_key(&t.code, i));
            if !codes.insert(t.code.as_str()) {
                p.add(format!("{at}.code"), "target code is used twice");
            }
            self.check_target(t, &at, directory, &mut p);
        }
        p.0
    }

    fn check_header(&self, directory: &Directory, p: &mut Problems) {
        let h = &self.header;
        if !is_slug(&h.id) {
            p.add("plan.id", "must be a lowercase ASCII slug");
        }
        p.require_text("plan.document_number", &h.document_number);
        p.require_text("plan.title", &h.title);
        p.require_text("plan.title_en", &h.title_en);
        p.require_text("plan.issuing_body", &h.issuing_body);
        if h.directory != directory.header().code {
            p.add(
                "plan.directory",
                format!(
                    "plan expects directory `{}`, got `{}`",
                    h.directory,
                    directory.header().code
                ),
            );
        }
        for (field, date) in [
            ("issue_date", h.issue_date),
            ("effective_from", h.effective_from),
            ("effective_to", h.effective_to),
        ] {
            if !(2000..=2100).contains(&date.year()) {
                p.add(format!("plan.{field}"), format!("{date} is not a plausible plan date"));
            }
        }
        if h.effective_from > h.effective_to {
            p.add("plan.effective_to", "ends before effective_from");
        } else if (h.effective_to - h.effective_from).num_days() > 10 * 366 {
            p.add(
                "plan.effective_to",
                "a plan in force for more than ten years is probably a typo",
            );
        }
        p.date("plan.issue_date".into(), h.issue_date, self.sensible_dates());
        if h.time_zone.parse::<chrono_tz::Tz>().is_err() {
            p.add(
                "plan.time_zone",
                format!("{:?} is not an IANA time zone such as Asia/Shanghai", h.time_zone),
            );
        }
        if !(1..=28).contains(&h.cadence.due_day()) {
            p.add(
                "plan.cadence.due_day",
                "must be 1..=28 so that the day exists in every month",
            );
        }
        for (field, problem) in h.follow_up.map(|rules| rules.problems()).unwrap_or_default() {
            p.add(format!("plan.follow_up.{field}"), problem);
        }
        for (field, problem) in h.rag.map(|rules| rules.problems()).unwrap_or_default() {
            p.add(format!("plan.rag.{field}"), problem);
        }
    }

    fn check_actions(&self, p: &mut Problems) {
        let mut seen = HashSet::new();
        for a in &self.actions {
            let at = format!("actions[{}]", a.number);
            if a.number == 0 || !seen.insert(a.number) {
                p.add(format!("{at}.number"), "action numbers must be unique and start at 1");
            }
            p.require_text(format!("{at}.title"), &a.title);
            p.require_text(format!("{at}.title_en"), &a.title_en);
            // A measure dropped or misnumbered in transcription shows up as a
            // gap in the action's item numbers.
            let mut items: Vec<u32> = self.measures_of(a.number).filter_map(|m| item_of(&m.number)).collect();
            items.sort_unstable();
            if items.is_empty() {
                p.add(at, "has no measures");
            } else if items.iter().zip(1..).any(|(&item, expected)| item != expected) {
                p.add(
                    at,
                    format!("measures are numbered {items:?}; expected 1..={}", items.len()),
                );
            }
        }
    }

    fn check_measure<'a>(
        &self,
        m: &'a Measure,
        at: &str,
        dir: &Directory,
        param_codes: &mut HashSet<&'a str>,
        p: &mut Problems,
    ) {
        match m.number.split_once('.').map(|(a, _)| a.parse::<u32>()) {
            Some(Ok(a)) if item_of(&m.number).is_some() => {
                if a != m.action {
                    p.add(
                        format!("{at}.action"),
                        format!("is {} but the number says action {a}", m.action),
                    );
                }
            }
            _ => p.add(format!("{at}.number"), "must be \"<action>.<item>\", e.g. \"4.2\""),
        }
        if self.action(m.action).is_none() {
            p.add(format!("{at}.action"), format!("there is no action {}", m.action));
        }
        p.require_text(format!("{at}.title"), &m.title);
        p.require_text(format!("{at}.title_en"), &m.title_en);
        p.require_text(format!("{at}.text"), &m.text);
        if !m.text.starts_with(&m.title) {
            p.add(format!("{at}.text"), "should begin with the title sentence");
        }
        if m.text.contains("\n\n") || m.text.contains("\r\n\r\n") {
            p.add(
                format!("{at}.text"),
                "contains a blank line, probably a page-break artefact",
            );
        }
        if m.responsible_units.is_empty() {
            p.add(
                format!("{at}.responsible_units"),
                "a measure needs at least one responsible unit",
            );
        }
        let mut resolved: HashMap<Resolved, usize> = HashMap::new();
        for (i, written) in m.responsible_units.iter().enumerate() {
            let path = format!("{at}.responsible_units[{i}]");
            match dir.resolve(written) {
                None => p.add(
                    path,
                    format!(
                        "`{written}` is not a unit or group of directory `{}`",
                        dir.header().code
                    ),
                ),
                Some(r) => {
                    if let Some(first) = resolved.insert(r.clone(), i) {
                        p.add(
                            path,
                            format!(
                                "`{written}` names `{}` again (see responsible_units[{first}])",
                                r.code()
                            ),
                        );
                    }
                }
            }
        }
        let window = self.sensible_dates();
        let (mut codes, mut descriptions) = (HashSet::new(), HashSet::new());
        for (i, ms) in m.milestones.iter().enumerate() {
            let mat = format!("{at}.milestones[{}]", entry_key(&ms.code, i));
            if ms.code.trim().is_empty() {
                p.require_text(format!("{mat}.code"), &ms.code);
            } else if !is_slug(&ms.code) {
                p.add(format!("{mat}.code"), "must be a lowercase ASCII slug");
            } else if !codes.insert(ms.code.as_str()) {
                p.add(format!("{mat}.code"), "milestone code is used twice in the measure");
            }
            if !ms.description.trim().is_empty() && !descriptions.insert(ms.description.as_str()) {
                p.add(
                    format!("{mat}.description"),
                    "milestone description is used twice in the measure",
                );
            }
            p.date(format!("{mat}.date"), ms.date, window);
            if let Some(from) = ms.from {
                p.date(format!("{mat}.from"), from, window);
                if from > ms.date {
                    p.add(format!("{mat}.from"), "starts after its end date");
                }
            }
            p.require_text(format!("{mat}.description"), &ms.description);
            p.require_text(format!("{mat}.description_en"), &ms.description_en);
        }
        for (i, pp) in m.policy_parameters.iter().enumerate() {
            let pat = format!("{at}.policy_parameters[{}]", entry_key(&pp.code, i));
            if !is_slug(&pp.code) {
                p.add(format!("{pat}.code"), "must be a lowercase ASCII slug");
            }
            if !param_codes.insert(&pp.code) {
                p.add(format!("{pat}.code"), "policy parameter code is used twice in the plan");
            }
            p.require_text(format!("{pat}.name"), &pp.name);
            p.require_text(format!("{pat}.name_en"), &pp.name_en);
            p.value(format!("{pat}.value"), pp.value, pp.unit);
        }
    }
}

/// The item part of a measure number ("4.2" → 2); `None` if malformed.
fn item_of(number: &str) -> Option<u32> {
    let (action, item) = number.split_once('.')?;
    action.parse::<u32>().ok()?;
    item.parse::<u32>().ok().filter(|&i| i > 0)
}
