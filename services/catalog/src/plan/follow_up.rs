//! The follow-up rules of a plan (`[plan.follow_up]`): when a unit is reminded of a
//! report, and when a missing report is escalated. The plan documents do not say, so
//! these are data; a plan without the section follows [`FollowUp::default`].

use chrono::NaiveTime;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// When reminders and escalation notices are sent for a plan's reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FollowUp {
    /// A REMINDER goes to a unit this many days before a report's due day if nothing
    /// was submitted yet; 0 sends none. At most 28.
    pub remind_days_before_due: u32,
    /// A report still missing this many days after its due day is escalated to
    /// YELLOW (copied to leadership). At least 1.
    pub yellow_after_days_late: u32,
    /// A report still missing this many days after its due day is escalated to RED
    /// (to leadership). More than `yellow_after_days_late`.
    pub red_after_days_late: u32,
    /// A target rated RED for this many consecutive reporting periods is escalated to
    /// RED (to leadership). At least 1.
    pub red_after_periods_red: u32,
    /// The local time of day, in the plan's time zone, at which the day's notices are
    /// evaluated, written `HH:MM`.
    #[serde(serialize_with = "write_time", deserialize_with = "read_time")]
    pub run_at: NaiveTime,
}

impl Default for FollowUp {
    /// Duban's defaults: remind 3 days before, YELLOW 5 and RED 15 days late, RED after
    /// 2 periods RED, evaluated at 09:00.
    fn default() -> Self {
        Self {
            remind_days_before_due: 3,
            yellow_after_days_late: 5,
            red_after_days_late: 15,
            red_after_periods_red: 2,
            run_at: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(NaiveTime::MIN),
        }
    }
}

impl FollowUp {
    /// Every problem of the rules, as (field under `plan.follow_up`, problem).
    pub fn problems(&self) -> Vec<(&'static str, &'static str)> {
        let mut problems = Vec::new();
        if self.remind_days_before_due > 28 {
            problems.push(("remind_days_before_due", "must be 0..=28 (0 sends no reminder)"));
        }
        if self.yellow_after_days_late == 0 {
            problems.push(("yellow_after_days_late", "must be at least 1"));
        }
        if self.red_after_days_late <= self.yellow_after_days_late {
            problems.push(("red_after_days_late", "must be more than yellow_after_days_late"));
        }
        if self.red_after_days_late > 366 {
            problems.push(("red_after_days_late", "must be at most 366"));
        }
        if !(1..=12).contains(&self.red_after_periods_red) {
            problems.push(("red_after_periods_red", "must be 1..=12"));
        }
        problems
    }

    /// `run_at` as written, `HH:MM`.
    pub fn run_at_text(&self) -> String {
        self.run_at.format(TIME_FORMAT).to_string()
    }

    /// Reads `HH:MM`.
    pub fn parse_run_at(text: &str) -> Option<NaiveTime> {
        NaiveTime::parse_from_str(text, TIME_FORMAT)
            .ok()
            .filter(|_| text.len() == 5)
    }
}

const TIME_FORMAT: &str = "%H:%M";

fn write_time<S: Serializer>(time: &NaiveTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.format(TIME_FORMAT).to_string())
}

fn read_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveTime, D::Error> {
    let text = String::deserialize(deserializer)?;
    FollowUp::parse_run_at(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("run_at `{text}` is not a time of day such as 09:00")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sound_and_bad_rules_are_named() {
        assert!(FollowUp::default().problems().is_empty());
        assert_eq!(FollowUp::default().run_at_text(), "09:00");
        let bad = FollowUp {
            remind_days_before_due: 40,
            yellow_after_days_late: 0,
            red_after_days_late: 0,
            red_after_periods_red: 0,
            ..FollowUp::default()
        };
        let fields: Vec<_> = bad.problems().into_iter().map(|(field, _)| field).collect();
        assert_eq!(
            fields,
            [
                "remind_days_before_due",
                "yellow_after_days_late",
                "red_after_days_late",
                "red_after_periods_red"
            ]
        );
        assert_eq!(FollowUp::parse_run_at("9:00"), None);
        assert_eq!(FollowUp::parse_run_at("25:00"), None);
        assert_eq!(FollowUp::parse_run_at("07:30"), NaiveTime::from_hms_opt(7, 30, 0));
    }
}
