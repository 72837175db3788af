//! The red-amber-green rules of a plan (`[plan.rag]`): how far behind its trajectory a
//! target may be before it is AMBER or RED, and whether a missing report turns the
//! delivery colour RED. The plan documents do not say, so these are data; a plan
//! without the section follows [`RagRules::default`].

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The tolerances and options of a plan's RAG ratings (the rules themselves are
/// `duban_plan::rag`). Percentages are exact decimals: `10` is 10 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RagRules {
    /// A target to reach is AMBER, not RED, while its shortfall is at most this
    /// percentage of the planned change (of the value itself when no change is
    /// planned). 0..=100.
    pub amber_shortfall_percent: Decimal,
    /// An AT_MOST target is AMBER, not RED, while the actual is at most this percentage
    /// above the value. 0..=100.
    pub amber_at_most_percent: Decimal,
    /// An APPROXIMATELY (左右/约) target is judged against this percentage of its
    /// expected value. More than 0, at most 100.
    pub approximately_percent: Decimal,
    /// `true`: a unit's missing report for the latest due period also turns the
    /// measure's *delivery* colour RED (the rule before delivery and reporting
    /// discipline were rated apart). `false` (the default): it shows in the
    /// discipline colour only.
    pub missing_report_turns_delivery_red: bool,
}

impl Default for RagRules {
    /// Duban's defaults: AMBER within 10 % of the planned change, or 10 % above an
    /// AT_MOST value; APPROXIMATELY judged against 95 %; a missing report does not turn
    /// delivery RED.
    fn default() -> Self {
        Self {
            amber_shortfall_percent: Decimal::TEN,
            amber_at_most_percent: Decimal::TEN,
            approximately_percent: Decimal::from(95),
            missing_report_turns_delivery_red: false,
        }
    }
}

impl RagRules {
    /// Every problem of the rules, as (field under `plan.rag`, problem).
    pub fn problems(&self) -> Vec<(&'static str, &'static str)> {
        let mut problems = Vec::new();
        let percent = |value: Decimal| (Decimal::ZERO..=Decimal::ONE_HUNDRED).contains(&value);
        if !percent(self.amber_shortfall_percent) {
            problems.push(("amber_shortfall_percent", "must be 0..=100"));
        }
        if !percent(self.amber_at_most_percent) {
            problems.push(("amber_at_most_percent", "must be 0..=100"));
        }
        if !percent(self.approximately_percent) || self.approximately_percent.is_zero() {
            problems.push(("approximately_percent", "must be more than 0 and at most 100"));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sound_and_bad_rules_are_named() {
        assert!(RagRules::default().problems().is_empty());
        let bad = RagRules {
            amber_shortfall_percent: Decimal::from(-1),
            amber_at_most_percent: Decimal::from(101),
            approximately_percent: Decimal::ZERO,
            missing_report_turns_delivery_red: true,
        };
        let fields: Vec<_> = bad.problems().into_iter().map(|(field, _)| field).collect();
        assert_eq!(
            fields,
            [
                "amber_shortfall_percent",
                "amber_at_most_percent",
                "approximately_percent"
            ]
        );
    }
}
