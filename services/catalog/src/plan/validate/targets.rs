//! Checks of the `[[targets]]`: each figure must be well-formed, come from a
//! fragment of its measure's text, and be reported by units that the measure
//! actually makes responsible.

use super::Problems;
use crate::directory::{Directory, Resolved};
use crate::error::is_slug;
use crate::plan::{Aggregation, MAX_DECIMAL_PLACES, Measure, Plan, QuantityUnit, Target, default_decimal_places};

/// The word that marks a figure as striven for rather than committed.
const STRIVE_FOR: &str = "力争";

impl Plan {
    pub(super) fn check_target(&self, t: &Target, at: &str, dir: &Directory, p: &mut Problems) {
        if !is_slug(&t.code) {
            p.add(format!("{at}.code"), "must be a lowercase ASCII slug");
        }
        p.require_text(format!("{at}.name"), &t.name);
        p.require_text(format!("{at}.name_en"), &t.name_en);
        p.value(format!("{at}.value"), t.value, t.unit);
        if let Some(baseline) = t.baseline {
            p.value(format!("{at}.baseline"), baseline, t.unit);
        }
        if let Some(places) = t.decimal_places {
            if places > MAX_DECIMAL_PLACES {
                p.add(
                    format!("{at}.decimal_places"),
                    format!("must be at most {MAX_DECIMAL_PLACES}"),
                );
            } else if t.unit.is_whole() && places != 0 {
                p.add(format!("{at}.decimal_places"), "must be 0 for a counted unit");
            } else if places < default_decimal_places([t.value].into_iter().chain(t.baseline)) {
                p.add(
                    format!("{at}.decimal_places"),
                    "is fewer than the target's own figures have",
                );
            }
        }
        if t.unit == QuantityUnit::Percent && t.aggregation == Aggregation::Sum {
            p.add(
                format!("{at}.unit"),
                "percentages cannot be summed across reporters; use aggregation = \"authoritative\"",
            );
        }
        if let Some(deadline) = t.deadline {
            let (_, last) = self.sensible_dates();
            p.date(format!("{at}.deadline"), deadline, (self.header.effective_from, last));
        }
        match (t.aggregation, t.reporters.len()) {
            (_, 0) => p.add(format!("{at}.reporters"), "a target needs at least one reporter"),
            (Aggregation::Authoritative, n) if n > 1 => p.add(
                format!("{at}.reporters"),
                "an authoritative figure comes from exactly one reporter",
            ),
            _ => {}
        }
        p.require_text(format!("{at}.source"), &t.source);
        let Some(measure) = self.measure(&t.measure) else {
            p.add(format!("{at}.measure"), format!("there is no measure {}", t.measure));
            return;
        };
        if !t.source.trim().is_empty() && !measure.text.contains(t.source.as_str()) {
            p.add(
                format!("{at}.source"),
                format!("is not a fragment of the text of measure {}", measure.number),
            );
        }
        // 力争 ("strive to") in the figure's own fragment always makes it an
        // aspiration. 计划 is not checked: it also names things (实现计划新开工11个项目,
        // "the planned new starts"), and 力争 may govern a list whose later
        // fragments do not repeat it, so only this direction is mechanical.
        if t.source.contains(STRIVE_FOR) && !t.aspirational {
            p.add(
                format!("{at}.aspirational"),
                format!("the source says {STRIVE_FOR} (strive for): the figure is aspirational"),
            );
        }
        for (i, reporter) in t.reporters.iter().enumerate() {
            let path = format!("{at}.reporters[{i}]");
            if !is_responsible(measure, reporter, dir) {
                p.add(
                    path,
                    format!(
                        "`{reporter}` is not among the responsible units of measure {}",
                        measure.number
                    ),
                );
            } else if t.aggregation == Aggregation::Authoritative
                && matches!(dir.resolve(reporter), Some(Resolved::Group(_)))
            {
                p.add(
                    path,
                    format!("an authoritative figure comes from one unit, and `{reporter}` is a group"),
                );
            }
        }
    }
}

/// Whether `reporter` names one of the measure's responsible units, by the
/// same spelling or by resolving to the same unit or group.
fn is_responsible(measure: &Measure, reporter: &str, dir: &Directory) -> bool {
    let wanted = dir.resolve(reporter);
    measure.responsible_units.iter().any(|written| {
        crate::normalize_unit_name(written) == crate::normalize_unit_name(reporter)
            || wanted.is_some() && dir.resolve(written) == wanted
    })
}
