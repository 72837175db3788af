//! Follow-up (pure): which reminders and escalation notices are due on a day, from a
//! plan's follow-up rules, its calendar and what each unit has submitted. No database,
//! no clock: the caller says which day it is and what was submitted.
//!
//! For each unit and reporting period, over the reports not submitted by the end of the
//! day, the highest level reached is due: DUE_SOON (REMINDER) from
//! `remind_days_before_due` days before the due day until the day before it; OVERDUE
//! (BLUE) from the due day; LATE (YELLOW) from `yellow_after_days_late` days after it;
//! LONG_LATE (RED) from `red_after_days_late` days after it, for [`CATCH_UP_DAYS`] days.
//! Each is due every day of its window and keyed by the day its rule fired, so the
//! caller stores it once (the key is unique) and a day on which nothing ran is caught
//! up the next day.
//!
//! Targets (issue 13's "a target RED for two periods in a row"): RED_PERIODS (RED, to
//! leadership) for a target whose delivery rating was RED at the end of each of the last
//! `red_after_periods_red` periods whose due day has passed ([`due_target_notices`]);
//! the caller rates the targets with `duban_plan::rag` and the trajectory.
//! Supervision orders escalate with the same thresholds ([`due_order_notices`]): a
//! unit's part still owed (OPEN, or RETURNED and not answered again) is BLUE from the
//! day after its response due day, YELLOW and RED after the plan's thresholds, keyed
//! `{day}~{rule}~{department}~order-{number}`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use duban_catalog::FollowUp;
use duban_proto::{departments::v1::Role, reporting::v1 as pb};

use crate::calendar::{Cadence, Month};
use duban_plan::rag::Rag;

/// How long the last level (RED) stays due after its day, so that a week without any
/// server running still issues it; after that a plan's old periods cost nothing.
pub const CATCH_UP_DAYS: i64 = 7;

/// The rules of one plan and the calendar they apply to.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// When reports are due.
    pub cadence: Cadence,
    /// Every reporting period of the plan.
    pub periods: Vec<Month>,
    /// When units are reminded and reports escalated.
    pub rules: FollowUp,
}

/// What is known of the plan's reports: who owes which, and when each was first
/// submitted.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Department code to the measure numbers it reports on, in order.
    pub owed: BTreeMap<String, Vec<String>>,
    /// (measure, department, period) to the first submission's time, microseconds.
    pub first_submits: BTreeMap<(String, String, Month), i64>,
    /// Department code to its name, for the reason text (the code when missing).
    pub names: BTreeMap<String, String>,
}

/// A follow-up rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// REMINDER before the due day.
    DueSoon,
    /// BLUE from the due day.
    Overdue,
    /// YELLOW, late past the yellow threshold.
    Late,
    /// RED, late past the red threshold.
    LongLate,
    /// RED, a target rated RED at the end of `red_after_periods_red` periods in a row
    /// (see [`due_target_notices`]).
    RedPeriods,
    /// BLUE: a supervision order's part unanswered after its response due day.
    OrderOverdue,
    /// YELLOW: the same, past the yellow threshold.
    OrderLate,
    /// RED: the same, past the red threshold.
    OrderLongLate,
}

impl Rule {
    /// The rule's word in notice names.
    pub fn slug(self) -> &'static str {
        match self {
            Rule::DueSoon => "due-soon",
            Rule::Overdue => "overdue",
            Rule::Late => "late",
            Rule::LongLate => "long-late",
            Rule::RedPeriods => "red-periods",
            Rule::OrderOverdue => "order-overdue",
            Rule::OrderLate => "order-late",
            Rule::OrderLongLate => "order-long-late",
        }
    }

    /// The contract's rule.
    pub fn to_proto(self) -> pb::NoticeRule {
        match self {
            Rule::DueSoon => pb::NoticeRule::DueSoon,
            Rule::Overdue => pb::NoticeRule::Overdue,
            Rule::Late => pb::NoticeRule::Late,
            Rule::LongLate => pb::NoticeRule::LongLate,
            Rule::RedPeriods => pb::NoticeRule::TargetRedPeriods,
            Rule::OrderOverdue => pb::NoticeRule::OrderOverdue,
            Rule::OrderLate => pb::NoticeRule::OrderLate,
            Rule::OrderLongLate => pb::NoticeRule::OrderLongLate,
        }
    }

    /// The level its notices have.
    pub fn level(self) -> pb::NoticeLevel {
        match self {
            Rule::DueSoon => pb::NoticeLevel::Reminder,
            Rule::Overdue | Rule::OrderOverdue => pb::NoticeLevel::Blue,
            Rule::Late | Rule::OrderLate => pb::NoticeLevel::Yellow,
            Rule::LongLate | Rule::RedPeriods | Rule::OrderLongLate => pb::NoticeLevel::Red,
        }
    }

    /// Who it goes to besides the unit.
    pub fn roles(self) -> Vec<Role> {
        match self {
            Rule::DueSoon | Rule::Overdue | Rule::OrderOverdue => Vec::new(),
            Rule::Late | Rule::LongLate | Rule::RedPeriods | Rule::OrderLate | Rule::OrderLongLate => {
                vec![Role::Leadership]
            }
        }
    }
}

/// A notice due on the day evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueNotice {
    /// The rule that issued it.
    pub rule: Rule,
    /// The day its rule fired (on or before the day evaluated).
    pub day: NaiveDate,
    /// The unit whose reports it is about.
    pub department: String,
    /// Their period.
    pub period: Month,
    /// Their due day.
    pub due: NaiveDate,
    /// Measure numbers not submitted, in order.
    pub measures: Vec<String>,
    /// Why, in Chinese.
    pub reason: String,
    /// Why, in English.
    pub reason_en: String,
}

impl DueNotice {
    /// The deduplication key and notice id: `{day}~{rule}~{department}~{period}`.
    pub fn id(&self) -> String {
        notice_id(self.day, self.rule, &self.department, self.period)
    }
}

/// `{day}~{rule}~{department}~{period}`.
pub fn notice_id(day: NaiveDate, rule: Rule, department: &str, period: Month) -> String {
    format!(
        "{}~{}~{department}~{}",
        day.format("%Y-%m-%d"),
        rule.slug(),
        period.key()
    )
}

/// The rule due on `day` for a report due on `due`, and the day it fired; `None` before
/// the reminder and after the last level's catch-up.
pub fn rule_on(rules: &FollowUp, due: NaiveDate, day: NaiveDate) -> Option<(Rule, NaiveDate)> {
    let late = (day - due).num_days();
    let fired = |days: u32| due + chrono::Duration::days(i64::from(days));
    if late < 0 {
        let remind = i64::from(rules.remind_days_before_due);
        return (remind > 0 && -late <= remind).then(|| (Rule::DueSoon, due - chrono::Duration::days(remind)));
    }
    let (yellow, red) = (
        i64::from(rules.yellow_after_days_late),
        i64::from(rules.red_after_days_late),
    );
    if late >= red {
        (late < red + CATCH_UP_DAYS).then(|| (Rule::LongLate, fired(rules.red_after_days_late)))
    } else if late >= yellow {
        Some((Rule::Late, fired(rules.yellow_after_days_late)))
    } else {
        Some((Rule::Overdue, due))
    }
}

/// Every notice due on `day`, by period, then department. A report counts as submitted
/// if its first revision was stored before the end of `day` in the plan's zone.
pub fn due_notices(schedule: &Schedule, facts: &Facts, day: NaiveDate) -> Vec<DueNotice> {
    let zone = schedule.cadence.zone;
    let day_end = zone.end_of_day_us(day);
    let mut out = Vec::new();
    for period in &schedule.periods {
        let due = schedule.cadence.due_date(*period);
        let Some((rule, fired)) = rule_on(&schedule.rules, due, day) else {
            continue;
        };
        for (department, measures) in &facts.owed {
            let missing: Vec<String> = measures
                .iter()
                .filter(|measure| {
                    let key = ((*measure).clone(), department.clone(), *period);
                    facts.first_submits.get(&key).is_none_or(|at| *at >= day_end)
                })
                .cloned()
                .collect();
            if missing.is_empty() {
                continue;
            }
            let name = facts.names.get(department).map_or(department.as_str(), String::as_str);
            let (reason, reason_en) = reasons(rule, name, *period, due, fired, &missing);
            out.push(DueNotice {
                rule,
                day: fired,
                department: department.clone(),
                period: *period,
                due,
                measures: missing,
                reason,
                reason_en,
            });
        }
    }
    out
}

fn reasons(
    rule: Rule,
    unit: &str,
    period: Month,
    due: NaiveDate,
    fired: NaiveDate,
    missing: &[String],
) -> (String, String) {
    let (period, count) = (period.key(), missing.len());
    let (list_zh, list_en) = (missing.join("、"), missing.join(", "));
    let late = (fired - due).num_days();
    match rule {
        Rule::DueSoon => (
            format!("{unit}：{period}期报告将于{due}到期，尚有{count}项措施未报送（{list_zh}）。"),
            format!("{unit}: the {period} reports are due on {due}; {count} measure(s) not submitted yet ({list_en})."),
        ),
        Rule::Overdue => (
            format!("{unit}：{period}期报告于{due}到期，尚有{count}项措施未报送（{list_zh}）。"),
            format!("{unit}: the {period} reports were due on {due}; {count} measure(s) not submitted ({list_en})."),
        ),
        // Order and target rules have their own text (`order_reasons`, the target notices)
        // and never reach this.
        Rule::Late | Rule::LongLate | Rule::RedPeriods | Rule::OrderOverdue | Rule::OrderLate | Rule::OrderLongLate => {
            let (colour, colour_en) = if rule == Rule::Late {
                ("黄色", "yellow")
            } else {
                ("红色", "red")
            };
            (
                format!(
                    "{colour}督办：{unit}：{period}期报告已逾期{late}天（到期日{due}），尚有{count}项措施未报送（{list_zh}）。"
                ),
                format!(
                    "Escalated ({colour_en}): {unit}: the {period} reports are {late} days late (due {due}); {count} measure(s) not submitted ({list_en})."
                ),
            )
        }
    }
}

/// A target's delivery rating at the end of each period judged (`duban_plan::rag`, with
/// the plan's tolerances), computed by the caller from reporting's progress aggregates
/// and the target's trajectory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetRatings {
    /// The target's code.
    pub code: String,
    /// Its measure.
    pub measure_number: String,
    /// Its names, Chinese and English, for the reason.
    pub names: (String, String),
    /// The departments that report it (the notice is copied to them).
    pub departments: Vec<String>,
    /// Its rating at the end of each period, for the periods the caller rated.
    pub ratings: BTreeMap<Month, Rag>,
}

/// A RED notice due about a target (rule [`Rule::RedPeriods`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTargetNotice {
    /// The day the rule fired: the day after the latest RED period's due day.
    pub day: NaiveDate,
    /// The target's code.
    pub target: String,
    /// Its measure.
    pub measure_number: String,
    /// The departments that report it.
    pub departments: Vec<String>,
    /// The periods it was RED at the end of, oldest first.
    pub periods: Vec<Month>,
    /// The latest of them's due day.
    pub due: NaiveDate,
    /// Why, in Chinese.
    pub reason: String,
    /// Why, in English.
    pub reason_en: String,
}

/// A unit's part of an open supervision order, as the order escalation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedOrder {
    /// The order's number in its plan.
    pub number: i32,
    /// Its title.
    pub title: String,
    /// The addressed unit.
    pub department: String,
    /// The day the unit's response is due.
    pub due: NaiveDate,
    /// Whether the unit's answer was sent back (RETURNED) rather than never given (OPEN).
    pub returned: bool,
}

/// An escalation due on the day evaluated about an unanswered supervision order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueOrderNotice {
    /// The rule that issued it (`Order*`).
    pub rule: Rule,
    /// The day its rule fired (on or before the day evaluated).
    pub day: NaiveDate,
    /// The unit that owes the answer.
    pub department: String,
    /// The order's number.
    pub order: i32,
    /// The response due day.
    pub due: NaiveDate,
    /// Why, in Chinese.
    pub reason: String,
    /// Why, in English.
    pub reason_en: String,
}

impl DueTargetNotice {
    /// The latest RED period.
    pub fn period(&self) -> Option<Month> {
        self.periods.last().copied()
    }

    /// The deduplication key and notice id: `{day}~red-periods~{target}~{period}`.
    pub fn id(&self) -> String {
        match self.period() {
            Some(period) => notice_id(self.day, Rule::RedPeriods, &self.target, period),
            None => format!(
                "{}~{}~{}",
                self.day.format("%Y-%m-%d"),
                Rule::RedPeriods.slug(),
                self.target
            ),
        }
    }
}

/// The periods whose rating a target notice on `day` looks at: the last
/// `red_after_periods_red` periods whose due day has passed by `day`, oldest first;
/// none unless that many have, and none once the latest one's notice is past its
/// [`CATCH_UP_DAYS`] (it fires the day after that period's due day).
pub fn rated_periods(schedule: &Schedule, day: NaiveDate) -> Vec<Month> {
    let count = usize::try_from(schedule.rules.red_after_periods_red).unwrap_or(usize::MAX);
    let judged: Vec<Month> = schedule
        .periods
        .iter()
        .copied()
        .filter(|period| schedule.cadence.due_date(*period) < day)
        .collect();
    let Some(latest) = judged.last() else {
        return Vec::new();
    };
    let fired = schedule.cadence.due_date(*latest) + chrono::Duration::days(1);
    if count == 0 || judged.len() < count || (day - fired).num_days() >= CATCH_UP_DAYS {
        return Vec::new();
    }
    judged
        .get(judged.len() - count..)
        .map(<[Month]>::to_vec)
        .unwrap_or_default()
}

/// The RED notices due on `day` about targets rated RED at the end of each of the
/// [`rated_periods`], in the order of `targets`.
pub fn due_target_notices(schedule: &Schedule, targets: &[TargetRatings], day: NaiveDate) -> Vec<DueTargetNotice> {
    let periods = rated_periods(schedule, day);
    let Some(latest) = periods.last().copied() else {
        return Vec::new();
    };
    let due = schedule.cadence.due_date(latest);
    targets
        .iter()
        .filter(|target| periods.iter().all(|p| target.ratings.get(p) == Some(&Rag::Red)))
        .map(|target| {
            let keys: Vec<String> = periods.iter().map(|p| p.key()).collect();
            let (name, name_en) = &target.names;
            let count = periods.len();
            DueTargetNotice {
                day: due + chrono::Duration::days(1),
                target: target.code.clone(),
                measure_number: target.measure_number.clone(),
                departments: target.departments.clone(),
                periods: periods.clone(),
                due,
                reason: format!(
                    "红色督办：措施{}指标“{name}”连续{count}期滞后（{}），请领导关注。",
                    target.measure_number,
                    keys.join("、")
                ),
                reason_en: format!(
                    "Escalated (red): measure {} target \"{name_en}\" has been red for {count} periods in a row ({}).",
                    target.measure_number,
                    keys.join(", ")
                ),
            }
        })
        .collect()
}

impl DueOrderNotice {
    /// The deduplication key and notice id: `{day}~{rule}~{department}~order-{order}`.
    pub fn id(&self) -> String {
        order_notice_id(self.day, self.rule, &self.department, self.order)
    }
}

/// `{day}~{rule}~{department}~order-{order}`: the order in place of a report key's
/// period, told apart by its `order-` prefix (a period is `YYYY-MM`) and its rule.
pub fn order_notice_id(day: NaiveDate, rule: Rule, department: &str, order: i32) -> String {
    format!("{}~{}~{department}~order-{order}", day.format("%Y-%m-%d"), rule.slug())
}

/// The order number of an order notice's id (`…~order-{n}`); `None` for a report's.
pub fn order_of_notice_id(id: &str) -> Option<i32> {
    id.rsplit('~').next()?.strip_prefix("order-")?.parse().ok()
}

/// The order rule due on `day` for an answer due on `due`, and the day it fired: BLUE
/// from the day after `due` (an answer on the due day is on time), YELLOW and RED after
/// the plan's thresholds (counted from `due`, as for reports, and never before the day
/// after it), RED for [`CATCH_UP_DAYS`] days; `None` otherwise.
pub fn order_rule_on(rules: &FollowUp, due: NaiveDate, day: NaiveDate) -> Option<(Rule, NaiveDate)> {
    let late = (day - due).num_days();
    let threshold = |days: u32| i64::from(days).max(1);
    let (yellow, red) = (
        threshold(rules.yellow_after_days_late),
        threshold(rules.red_after_days_late),
    );
    let fired = |days: i64| due + chrono::Duration::days(days);
    if late < 1 {
        None
    } else if late >= red {
        (late < red + CATCH_UP_DAYS).then(|| (Rule::OrderLongLate, fired(red)))
    } else if late >= yellow {
        Some((Rule::OrderLate, fired(yellow)))
    } else {
        Some((Rule::OrderOverdue, fired(1)))
    }
}

/// Every escalation due on `day` about the unanswered parts in `owed`, in their order.
/// `names` makes the reason readable (the code when missing).
pub fn due_order_notices(
    rules: &FollowUp,
    owed: &[OwedOrder],
    names: &BTreeMap<String, String>,
    day: NaiveDate,
) -> Vec<DueOrderNotice> {
    owed.iter()
        .filter_map(|part| {
            let (rule, fired) = order_rule_on(rules, part.due, day)?;
            let unit = names
                .get(&part.department)
                .map_or(part.department.as_str(), String::as_str);
            let (reason, reason_en) = order_reasons(rule, unit, part, fired);
            Some(DueOrderNotice {
                rule,
                day: fired,
                department: part.department.clone(),
                order: part.number,
                due: part.due,
                reason,
                reason_en,
            })
        })
        .collect()
}

fn order_reasons(rule: Rule, unit: &str, part: &OwedOrder, fired: NaiveDate) -> (String, String) {
    let (number, title, due) = (part.number, &part.title, part.due);
    let late = (fired - due).num_days();
    let (colour, colour_en) = match rule {
        Rule::OrderLongLate => ("红色督办", "red"),
        Rule::OrderLate => ("黄色督办", "yellow"),
        _ => ("蓝色督办", "blue"),
    };
    let (what, what_en) = if part.returned {
        (
            "答复被退回后尚未重新答复",
            "its answer was sent back and not answered again",
        )
    } else {
        ("尚未答复", "not answered")
    };
    (
        format!("{colour}：{unit}：督办单第{number}号《{title}》答复已逾期{late}天（答复期限{due}），{what}。"),
        format!(
            "Escalated ({colour_en}): {unit}: supervision order {number} \"{title}\" is {late} day(s) past its response due date ({due}); {what_en}."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2023, m, d).unwrap()
    }

    /// Monthly reports due on the 5th, March to May 2023, Duban's default rules (remind
    /// 3 days before, YELLOW 5 and RED 15 days late); two units owe measures 4.1 and 4.2.
    fn schedule() -> Schedule {
        Schedule {
            cadence: Cadence::monthly(5),
            periods: (3..=5).map(|m| Month::new(2023, m).unwrap()).collect(),
            rules: FollowUp::default(),
        }
    }

    /// (measure, department, period month, day submitted).
    type Submitted<'a> = &'a [(&'a str, &'a str, u32, NaiveDate)];

    fn facts(submitted: Submitted<'_>) -> Facts {
        let zone = Cadence::monthly(5).zone;
        Facts {
            owed: ["anting-town", "nanxiang-town"]
                .into_iter()
                .map(|d| (d.to_owned(), vec!["4.1".to_owned(), "4.2".to_owned()]))
                .collect(),
            first_submits: submitted
                .iter()
                .map(|(measure, department, month, on)| {
                    (
                        (
                            (*measure).to_owned(),
                            (*department).to_owned(),
                            Month::new(2023, *month).unwrap(),
                        ),
                        zone.start_of_day_us(*on) + 3_600_000_000,
                    )
                })
                .collect(),
            names: BTreeMap::from([("anting-town".to_owned(), "安亭镇".to_owned())]),
        }
    }

    /// (rule, day fired, department, period month, missing measures) of each notice.
    fn summary(notices: &[DueNotice]) -> Vec<(Rule, NaiveDate, &str, u32, String)> {
        notices
            .iter()
            .map(|n| {
                (
                    n.rule,
                    n.day,
                    n.department.as_str(),
                    n.period.month,
                    n.measures.join(","),
                )
            })
            .collect()
    }

    #[test]
    fn the_rules_as_a_table() {
        use Rule::*;
        let none: Submitted<'_> = &[];
        // anting filed both March reports on 4-03; nanxiang filed 4.1 late on 4-12.
        let some = &[
            ("4.1", "anting-town", 3, day(4, 3)),
            ("4.2", "anting-town", 3, day(4, 3)),
            ("4.1", "nanxiang-town", 3, day(4, 12)),
        ];
        let both = |rule, fired, month, measures: &str| {
            vec![
                (rule, fired, "anting-town", month, measures.to_owned()),
                (rule, fired, "nanxiang-town", month, measures.to_owned()),
            ]
        };
        let on_the_day = &[
            ("4.1", "anting-town", 3, day(4, 3)),
            ("4.2", "anting-town", 3, day(4, 3)),
        ];
        let table: Vec<(&str, NaiveDate, Submitted<'_>, Vec<_>)> = vec![
            ("long before the due day: nothing", day(3, 20), none, vec![]),
            (
                "3 days before: a reminder",
                day(4, 2),
                none,
                both(DueSoon, day(4, 2), 3, "4.1,4.2"),
            ),
            (
                "the day before: the same reminder",
                day(4, 4),
                none,
                both(DueSoon, day(4, 2), 3, "4.1,4.2"),
            ),
            (
                "the due day: BLUE",
                day(4, 5),
                none,
                both(Overdue, day(4, 5), 3, "4.1,4.2"),
            ),
            (
                "4 days late: still the BLUE",
                day(4, 9),
                none,
                both(Overdue, day(4, 5), 3, "4.1,4.2"),
            ),
            (
                "5 days late: YELLOW",
                day(4, 10),
                none,
                both(Late, day(4, 10), 3, "4.1,4.2"),
            ),
            (
                "15 days late: RED",
                day(4, 20),
                none,
                both(LongLate, day(4, 20), 3, "4.1,4.2"),
            ),
            (
                "RED is due for a week, then nothing",
                day(4, 26),
                none,
                both(LongLate, day(4, 20), 3, "4.1,4.2"),
            ),
            ("a week after RED: nothing for March", day(4, 27), none, vec![]),
            (
                "submitted on time: no BLUE; submitted late stops the escalation",
                day(4, 12),
                some,
                vec![(Late, day(4, 10), "nanxiang-town", 3, "4.2".to_owned())],
            ),
            (
                "submitted on the evaluated day counts as submitted",
                day(4, 3),
                on_the_day,
                vec![(DueSoon, day(4, 2), "nanxiang-town", 3, "4.1,4.2".to_owned())],
            ),
            (
                "a new period: BLUE for April, nothing more for March",
                day(5, 5),
                none,
                // March is 30 days late: its RED (4-20) was due until 4-26.
                both(Overdue, day(5, 5), 4, "4.1,4.2"),
            ),
            ("the plan ended: nothing after its last period", day(7, 1), none, vec![]),
        ];
        for (case, on, submitted, expected) in table {
            let notices = due_notices(&schedule(), &facts(submitted), on);
            assert_eq!(summary(&notices), expected, "{case}");
        }
    }

    #[test]
    fn ids_are_the_dedup_key_and_reasons_name_the_unit_and_the_lateness() {
        let notices = due_notices(&schedule(), &facts(&[]), day(4, 11));
        let anting = &notices[0];
        assert_eq!(anting.id(), "2023-04-10~late~anting-town~2023-03");
        assert_eq!(
            anting.reason,
            "黄色督办：安亭镇：2023-03期报告已逾期5天（到期日2023-04-05），尚有2项措施未报送（4.1、4.2）。"
        );
        assert!(anting.reason_en.contains("5 days late"), "{}", anting.reason_en);
        assert_eq!(notices[1].reason_en.split(':').nth(1).unwrap().trim(), "nanxiang-town");
        // The same notice on the next day: the same key.
        assert_eq!(due_notices(&schedule(), &facts(&[]), day(4, 12))[0].id(), anting.id());
    }

    #[test]
    fn no_reminder_when_the_rules_say_zero_days() {
        let mut schedule = schedule();
        schedule.rules.remind_days_before_due = 0;
        assert!(due_notices(&schedule, &facts(&[]), day(4, 4)).is_empty());
        assert_eq!(
            rule_on(&schedule.rules, day(4, 5), day(4, 5)),
            Some((Rule::Overdue, day(4, 5)))
        );
    }

    /// A target rated at the end of March, April and May.
    fn rated(code: &str, march: Rag, april: Rag, may: Rag) -> TargetRatings {
        let month = |m| Month::new(2023, m).unwrap();
        TargetRatings {
            code: code.to_owned(),
            measure_number: "4.2".to_owned(),
            names: ("全社会固定资产投资".to_owned(), "Fixed-asset investment".to_owned()),
            departments: vec!["construction-commission".to_owned()],
            ratings: BTreeMap::from([(month(3), march), (month(4), april), (month(5), may)]),
        }
    }

    #[test]
    fn a_target_red_for_two_periods_in_a_row_as_a_table() {
        use Rag::{Amber, Green, NoData, Red};
        let targets = [
            rated("red-march-april", Red, Red, Green),
            rated("red-april-may", Green, Red, Red),
            rated("red-throughout", Red, Red, Red),
            rated("amber-then-red", Amber, Red, Red),
            rated("no-data", NoData, Red, NoData),
        ];
        /// (case, day evaluated, targets notified, day fired, periods)
        type Case<'a> = (&'a str, NaiveDate, Vec<&'a str>, Option<NaiveDate>, Vec<u32>);
        let table: Vec<Case<'_>> = vec![
            ("only March is judged: no streak yet", day(5, 1), vec![], None, vec![]),
            (
                "April's due day: April is not judged yet",
                day(5, 5),
                vec![],
                None,
                vec![],
            ),
            (
                "the day after April's due day: March and April",
                day(5, 6),
                vec!["red-march-april", "red-throughout"],
                Some(day(5, 6)),
                vec![3, 4],
            ),
            (
                "six days later: the same notices, the same day",
                day(5, 12),
                vec!["red-march-april", "red-throughout"],
                Some(day(5, 6)),
                vec![3, 4],
            ),
            ("a week later: caught up no more", day(5, 13), vec![], None, vec![]),
            (
                "after May's due day: April and May",
                day(6, 6),
                vec!["red-april-may", "red-throughout", "amber-then-red"],
                Some(day(6, 6)),
                vec![4, 5],
            ),
        ];
        for (case, on, expected, fired, periods) in table {
            let notices = due_target_notices(&schedule(), &targets, on);
            let codes: Vec<&str> = notices.iter().map(|n| n.target.as_str()).collect();
            assert_eq!(codes, expected, "{case}");
            for notice in &notices {
                assert_eq!(Some(notice.day), fired, "{case}");
                let months: Vec<u32> = notice.periods.iter().map(|p| p.month).collect();
                assert_eq!(months, periods, "{case}");
            }
        }
    }

    #[test]
    fn the_threshold_is_the_plans_and_the_notice_names_the_target() {
        use Rag::{Green, Red};
        let targets = [
            rated("fixed-asset-investment", Green, Red, Red),
            rated("t", Red, Red, Red),
        ];
        let mut three = schedule();
        three.rules.red_after_periods_red = 3;
        let codes = |schedule: &Schedule, on| {
            due_target_notices(schedule, &targets, on)
                .into_iter()
                .map(|n| n.target)
                .collect::<Vec<_>>()
        };
        assert_eq!(codes(&three, day(6, 6)), ["t"]);
        assert!(codes(&three, day(5, 6)).is_empty(), "two periods judged of three");
        let mut one = schedule();
        one.rules.red_after_periods_red = 1;
        assert_eq!(codes(&one, day(5, 6)), ["fixed-asset-investment", "t"]);

        let notice = &due_target_notices(&schedule(), &targets, day(6, 7))[0];
        assert_eq!(notice.id(), "2023-06-06~red-periods~fixed-asset-investment~2023-05");
        assert_eq!(notice.due, day(6, 5));
        assert_eq!(
            notice.reason,
            "红色督办：措施4.2指标“全社会固定资产投资”连续2期滞后（2023-04、2023-05），请领导关注。"
        );
        assert!(
            notice.reason_en.contains("red for 2 periods in a row"),
            "{}",
            notice.reason_en
        );
        assert_eq!(Rule::RedPeriods.level(), pb::NoticeLevel::Red);
        assert_eq!(Rule::RedPeriods.roles(), [Role::Leadership]);
    }

    #[test]
    fn unanswered_orders_escalate_as_a_table() {
        use Rule::*;
        let rules = FollowUp::default();
        let due = day(6, 1);
        let owed = |returned| OwedOrder {
            number: 7,
            title: "整改".into(),
            department: "anting-town".into(),
            due,
            returned,
        };
        let names = BTreeMap::from([("anting-town".to_owned(), "安亭镇".to_owned())]);
        type Fired = Option<(Rule, NaiveDate)>;
        let table: Vec<(&str, NaiveDate, Fired)> = vec![
            ("before the due day: nothing", day(5, 30), None),
            ("the due day itself: still on time", day(6, 1), None),
            ("the day after: BLUE", day(6, 2), Some((OrderOverdue, day(6, 2)))),
            ("4 days late: the same BLUE", day(6, 5), Some((OrderOverdue, day(6, 2)))),
            ("5 days late: YELLOW", day(6, 6), Some((OrderLate, day(6, 6)))),
            ("15 days late: RED", day(6, 16), Some((OrderLongLate, day(6, 16)))),
            ("RED for a week", day(6, 22), Some((OrderLongLate, day(6, 16)))),
            ("then nothing", day(6, 23), None),
        ];
        for (case, on, expected) in table {
            let notices = due_order_notices(&rules, &[owed(false)], &names, on);
            let got = notices.first().map(|n| (n.rule, n.day));
            assert_eq!(got, expected, "{case}");
            assert_eq!(order_rule_on(&rules, due, on), expected, "{case}");
        }
        let blue = &due_order_notices(&rules, &[owed(false)], &names, day(6, 3))[0];
        assert_eq!(blue.id(), "2023-06-02~order-overdue~anting-town~order-7");
        assert_eq!(order_of_notice_id(&blue.id()), Some(7));
        assert_eq!(order_of_notice_id("2023-04-05~overdue~anting-town~2023-03"), None);
        assert_eq!(
            blue.reason,
            "蓝色督办：安亭镇：督办单第7号《整改》答复已逾期1天（答复期限2023-06-01），尚未答复。"
        );
        assert_eq!(
            (OrderOverdue.level(), OrderLate.level(), OrderLongLate.level()),
            (pb::NoticeLevel::Blue, pb::NoticeLevel::Yellow, pb::NoticeLevel::Red)
        );
        assert_eq!(OrderLate.roles(), vec![Role::Leadership]);
        let returned = &due_order_notices(&rules, &[owed(true)], &names, day(6, 6))[0];
        assert!(returned.reason.starts_with("黄色督办：安亭镇"), "{}", returned.reason);
        assert!(returned.reason_en.contains("sent back"), "{}", returned.reason_en);
        // An order notice and a report notice of the same day and unit never share a key.
        assert_ne!(
            blue.id(),
            notice_id(day(6, 2), Overdue, "anting-town", Month::new(2023, 7).unwrap())
        );
    }
}
