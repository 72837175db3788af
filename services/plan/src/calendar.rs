//! The plan's calendar: months, the cadence of reports and their due dates, and the
//! reporting periods between the plan's first and last effective days.

use chrono::{Datelike, NaiveDate};
use duban_catalog::{FollowUp, RagRules, plan::day_of_following_month};
use duban_proto::{
    common::v1::Period,
    measures::v1::{Plan, ReportingFrequency},
};

use crate::{PlanError, PlanZone, contract};

/// A calendar month, the reporting period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    /// Year.
    pub year: i32,
    /// 1-12.
    pub month: u32,
}

impl Month {
    /// A month, if `month` is 1-12 and the month and the one after are in chrono's range.
    pub fn new(year: i32, month: u32) -> Option<Month> {
        let candidate = Month { year, month };
        ((1..=12).contains(&month) && NaiveDate::from_ymd_opt(year, month, 1).is_some())
            .then_some(candidate)
            .filter(|m| m.next().first_day_opt().is_some())
    }

    /// From the contract; `None` if unset or invalid.
    pub fn from_proto(period: Option<&Period>) -> Option<Month> {
        let period = period?;
        Month::new(period.year, u32::try_from(period.month).ok()?)
    }

    /// The contract form.
    pub fn to_proto(self) -> Period {
        Period {
            year: self.year,
            month: self.month as i32,
        }
    }

    /// `YYYY-MM`, as stored and as it appears in resource names.
    pub fn key(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    /// Parses `YYYY-MM`.
    pub fn parse(text: &str) -> Option<Month> {
        let (year, month) = text.split_once('-')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        Month::new(year.parse().ok()?, month.parse().ok()?)
    }

    /// The month after.
    pub fn next(self) -> Month {
        if self.month >= 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    fn first_day_opt(self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.year, self.month, 1)
    }

    /// Its first day ([`NaiveDate::MIN`] for a month outside chrono's range, which
    /// [`Month::new`] never makes).
    pub fn first_day(self) -> NaiveDate {
        self.first_day_opt().unwrap_or(NaiveDate::MIN)
    }

    /// Its last day (see [`Month::first_day`]).
    pub fn last_day(self) -> NaiveDate {
        self.next()
            .first_day_opt()
            .and_then(|d| d.pred_opt())
            .unwrap_or(NaiveDate::MAX)
    }

    /// The month a day is in.
    pub fn of(date: NaiveDate) -> Month {
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    /// Whether it closes a calendar quarter.
    pub fn ends_quarter(self) -> bool {
        self.month.is_multiple_of(3)
    }
}

/// When reports are filed and fall due: every month or every quarter, on a day of the
/// following month, the day ending at midnight in the plan's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Quarterly reports, keyed by the quarter's last month; monthly otherwise.
    pub quarterly: bool,
    /// Day of the following month the report is due, 1-28.
    pub due_day: u32,
    /// The zone whose midnight ends the due day.
    pub zone: PlanZone,
}

impl Cadence {
    /// Monthly reports due on `due_day`, in the legacy zone (for tests and examples).
    pub fn monthly(due_day: u32) -> Cadence {
        Cadence {
            quarterly: false,
            due_day,
            zone: PlanZone::default(),
        }
    }

    /// The cadence as the contract carries it. A stored plan always has one (the import
    /// requires it), so a missing cadence, frequency or due day is an invalid plan, not a
    /// default: guessing a due day would show reports late or on time by invention.
    pub fn from_contract(plan: &Plan) -> Result<Cadence, PlanError> {
        let invalid = |field: &'static str, problem: &str| PlanError::InvalidPlan {
            plan: plan.name.clone(),
            field,
            problem: problem.to_owned(),
        };
        let cadence = plan.cadence.as_ref().ok_or_else(|| invalid("cadence", "is missing"))?;
        let quarterly = match ReportingFrequency::try_from(cadence.frequency) {
            Ok(ReportingFrequency::Monthly) => false,
            Ok(ReportingFrequency::Quarterly) => true,
            _ => return Err(invalid("cadence.frequency", "is not MONTHLY or QUARTERLY")),
        };
        let due_day = u32::try_from(cadence.due_day)
            .ok()
            .filter(|day| (1..=28).contains(day))
            .ok_or_else(|| invalid("cadence.due_day", "is not a day 1-28"))?;
        let zone = PlanZone::from_contract(&plan.time_zone)?;
        Ok(Cadence {
            quarterly,
            due_day,
            zone,
        })
    }

    /// The reporting periods of the days `from` to `to`: every month that overlaps them,
    /// or for quarterly reports every quarter that overlaps them (keyed by its last
    /// month, even when that month is after `to`), oldest first.
    pub fn periods(&self, from: NaiveDate, to: NaiveDate) -> Vec<Month> {
        let (mut month, mut last) = (Month::of(from), Month::of(to));
        if self.quarterly {
            while !last.ends_quarter() {
                last = last.next();
            }
        }
        let mut out = Vec::new();
        while month <= last {
            if !self.quarterly || month.ends_quarter() {
                out.push(month);
            }
            month = month.next();
        }
        out
    }

    /// The day the report for `period` is due: day `due_day` (clamped to 1-28, so it
    /// exists every month) of the next month.
    pub fn due_date(&self, period: Month) -> NaiveDate {
        day_of_following_month(period.year, period.month, self.due_day.clamp(1, 28)).unwrap_or(NaiveDate::MAX)
    }

    /// The first microsecond after the due day of `period`: a report filed before it is
    /// on time.
    pub fn due_end_us(&self, period: Month) -> i64 {
        self.zone.end_of_day_us(self.due_date(period))
    }
}

/// A plan's reporting calendar: its effective days, its cadence, when its reports
/// are followed up, and the tolerances its targets are rated with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanCalendar {
    /// First effective day.
    pub effective_from: NaiveDate,
    /// Last effective day.
    pub effective_to: NaiveDate,
    /// When reports are due.
    pub cadence: Cadence,
    /// When units are reminded and missing reports escalated.
    pub follow_up: FollowUp,
    /// The tolerances and options of its red-amber-green ratings ([`crate::rag`]).
    pub rag: RagRules,
}

/// The RAG rules as the contract carries them: a plan without them (imported without
/// `[plan.rag]`, or stored before the field existed) follows [`RagRules::default`], as
/// does an unset percentage; rules that are set but invalid make an invalid plan (the
/// import refuses them, so only a damaged store has them).
pub fn rag_from_contract(plan: &Plan) -> Result<RagRules, PlanError> {
    let Some(rules) = plan.rag.as_ref() else {
        return Ok(RagRules::default());
    };
    let invalid = |field: &'static str, problem: String| PlanError::InvalidPlan {
        plan: plan.name.clone(),
        field,
        problem,
    };
    let defaults = RagRules::default();
    let percent = |field: &'static str, value: Option<&duban_proto::common::v1::Decimal>, default| match value {
        None => Ok(default),
        Some(value) => value
            .to_decimal()
            .map_err(|problem| invalid(field, problem.to_string())),
    };
    let read = RagRules {
        amber_shortfall_percent: percent(
            "rag.amber_shortfall_percent",
            rules.amber_shortfall_percent.as_ref(),
            defaults.amber_shortfall_percent,
        )?,
        amber_at_most_percent: percent(
            "rag.amber_at_most_percent",
            rules.amber_at_most_percent.as_ref(),
            defaults.amber_at_most_percent,
        )?,
        approximately_percent: percent(
            "rag.approximately_percent",
            rules.approximately_percent.as_ref(),
            defaults.approximately_percent,
        )?,
        missing_report_turns_delivery_red: rules.missing_report_turns_delivery_red,
    };
    match read.problems().first() {
        Some((_, problem)) => Err(invalid("rag", (*problem).to_owned())),
        None => Ok(read),
    }
}

/// The follow-up rules as the contract carries them: a plan without them (imported
/// without `[plan.follow_up]`, or stored before the field existed) follows
/// [`FollowUp::default`]; rules that are set but invalid make an invalid plan (the
/// import refuses them, so only a damaged store has them).
pub fn follow_up_from_contract(plan: &Plan) -> Result<FollowUp, PlanError> {
    let Some(rules) = plan.follow_up.as_ref() else {
        return Ok(FollowUp::default());
    };
    let invalid = |field: &'static str, problem: &str| PlanError::InvalidPlan {
        plan: plan.name.clone(),
        field,
        problem: problem.to_owned(),
    };
    let days = |field: &'static str, value: i32| u32::try_from(value).map_err(|_| invalid(field, "is negative"));
    let read = FollowUp {
        remind_days_before_due: days("follow_up.remind_days_before_due", rules.remind_days_before_due)?,
        yellow_after_days_late: days("follow_up.yellow_after_days_late", rules.yellow_after_days_late)?,
        red_after_days_late: days("follow_up.red_after_days_late", rules.red_after_days_late)?,
        red_after_periods_red: days("follow_up.red_after_periods_red", rules.red_after_periods_red)?,
        run_at: FollowUp::parse_run_at(&rules.run_at)
            .ok_or_else(|| invalid("follow_up.run_at", "is not a time of day such as 09:00"))?,
    };
    match read.problems().first() {
        Some((_, problem)) => Err(invalid("follow_up", problem)),
        None => Ok(read),
    }
}

impl PlanCalendar {
    /// The calendar of a plan as the contract carries it.
    pub fn from_contract(plan: &Plan) -> Result<PlanCalendar, PlanError> {
        let day = |field: &'static str, date: Option<&duban_proto::common::v1::Date>| {
            date.and_then(contract::date_from_proto)
                .ok_or_else(|| PlanError::InvalidPlan {
                    plan: plan.name.clone(),
                    field,
                    problem: "is not a valid date".to_owned(),
                })
        };
        Ok(PlanCalendar {
            effective_from: day("effective_from", plan.effective_from.as_ref())?,
            effective_to: day("effective_to", plan.effective_to.as_ref())?,
            cadence: Cadence::from_contract(plan)?,
            follow_up: follow_up_from_contract(plan)?,
            rag: rag_from_contract(plan)?,
        })
    }

    /// Every reporting period of the plan, oldest first.
    pub fn periods(&self) -> Vec<Month> {
        self.cadence.periods(self.effective_from, self.effective_to)
    }

    /// The plan's time zone.
    pub fn zone(&self) -> PlanZone {
        self.cadence.zone
    }

    /// The day a view shows when none is asked for, given `today` in the plan's zone:
    /// today while the plan runs, its last effective day once it has ended (so that a
    /// finished plan opens on its final state, and lateness is counted up to its end).
    pub fn default_view_day(&self, today: NaiveDate) -> NaiveDate {
        today.min(self.effective_to)
    }

    /// Whether the first reporting period's due day has passed by `as_of`.
    pub fn first_due_passed(&self, as_of: NaiveDate) -> bool {
        self.periods()
            .first()
            .is_some_and(|first| self.cadence.due_date(*first) < as_of)
    }
}

#[cfg(test)]
mod tests {
    use duban_proto::{common::v1::Date, measures::v1::ReportingCadence};

    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn plan(frequency: ReportingFrequency) -> Plan {
        Plan {
            effective_from: Some(Date {
                year: 2023,
                month: 3,
                day: 3,
            }),
            effective_to: Some(Date {
                year: 2023,
                month: 12,
                day: 31,
            }),
            cadence: Some(ReportingCadence {
                frequency: frequency as i32,
                due_day: 5,
            }),
            ..Plan::default()
        }
    }

    #[test]
    fn periods_and_due_dates_follow_the_cadence() {
        let monthly = Cadence::monthly(5);
        let periods = monthly.periods(day(2023, 3, 3), day(2023, 12, 31));
        assert_eq!(periods.len(), 10);
        assert_eq!(periods[0].key(), "2023-03");
        assert_eq!(monthly.due_date(Month::new(2023, 3).unwrap()), day(2023, 4, 5));
        assert_eq!(monthly.due_date(Month::new(2023, 12).unwrap()), day(2024, 1, 5));
        let quarterly = Cadence {
            quarterly: true,
            due_day: 10,
            ..Cadence::monthly(10)
        };
        let keys: Vec<_> = quarterly
            .periods(day(2023, 3, 3), day(2023, 12, 31))
            .into_iter()
            .map(Month::key)
            .collect();
        assert_eq!(keys, ["2023-03", "2023-06", "2023-09", "2023-12"]);
        // A quarter that overlaps the plan's last days is one of its periods.
        let keys: Vec<_> = quarterly
            .periods(day(2023, 2, 1), day(2023, 11, 15))
            .into_iter()
            .map(Month::key)
            .collect();
        assert_eq!(keys, ["2023-03", "2023-06", "2023-09", "2023-12"]);
        assert_eq!(Month::parse("2023-04"), Month::new(2023, 4));
        assert_eq!(Month::parse("2023-4"), None);
        assert_eq!(Month::new(i32::MAX, 1), None);
    }

    #[test]
    fn monthly_and_quarterly_plans_from_the_contract() {
        let monthly = PlanCalendar::from_contract(&plan(ReportingFrequency::Monthly)).unwrap();
        let periods = monthly.periods();
        assert_eq!(periods.len(), 10);
        assert_eq!(monthly.cadence.due_date(periods[9]), day(2024, 1, 5));
        assert_eq!(periods[9].last_day(), day(2023, 12, 31));
        assert_eq!(monthly.default_view_day(day(2023, 9, 30)), day(2023, 9, 30));
        assert_eq!(monthly.default_view_day(day(2023, 12, 31)), day(2023, 12, 31));
        assert_eq!(monthly.default_view_day(day(2026, 11, 30)), day(2023, 12, 31));
        assert!(!monthly.first_due_passed(day(2023, 4, 5)));
        assert!(monthly.first_due_passed(day(2023, 4, 6)));
        let quarterly = PlanCalendar::from_contract(&plan(ReportingFrequency::Quarterly)).unwrap();
        let keys: Vec<_> = quarterly.periods().into_iter().map(Month::key).collect();
        assert_eq!(keys, ["2023-03", "2023-06", "2023-09", "2023-12"]);
        assert_eq!(quarterly.zone(), PlanZone::default());
    }

    #[test]
    fn follow_up_rules_default_when_absent_and_are_read_when_set() {
        let mut plan = plan(ReportingFrequency::Monthly);
        assert_eq!(
            PlanCalendar::from_contract(&plan).unwrap().follow_up,
            FollowUp::default()
        );
        plan.follow_up = Some(duban_proto::measures::v1::FollowUpRules {
            remind_days_before_due: 0,
            yellow_after_days_late: 2,
            red_after_days_late: 9,
            red_after_periods_red: 3,
            run_at: "07:45".into(),
        });
        let rules = PlanCalendar::from_contract(&plan).unwrap().follow_up;
        assert_eq!(
            (
                rules.remind_days_before_due,
                rules.yellow_after_days_late,
                rules.red_after_days_late
            ),
            (0, 2, 9)
        );
        assert_eq!(
            (rules.red_after_periods_red, rules.run_at_text()),
            (3, "07:45".to_owned())
        );
        plan.follow_up.as_mut().unwrap().red_after_days_late = 1;
        assert!(PlanCalendar::from_contract(&plan).is_err());
    }

    #[test]
    fn rag_rules_default_when_absent_and_are_read_when_set() {
        let mut plan = plan(ReportingFrequency::Monthly);
        assert_eq!(PlanCalendar::from_contract(&plan).unwrap().rag, RagRules::default());
        plan.rag = Some(duban_proto::measures::v1::RagRules {
            amber_shortfall_percent: Some("7.5".parse().unwrap()),
            missing_report_turns_delivery_red: true,
            ..Default::default()
        });
        let rules = PlanCalendar::from_contract(&plan).unwrap().rag;
        assert_eq!(rules.amber_shortfall_percent, "7.5".parse().unwrap());
        assert_eq!(rules.approximately_percent, RagRules::default().approximately_percent);
        assert!(rules.missing_report_turns_delivery_red);
        plan.rag.as_mut().unwrap().approximately_percent = Some("0".parse().unwrap());
        assert!(PlanCalendar::from_contract(&plan).is_err());
    }

    #[test]
    fn a_plan_without_a_cadence_has_no_invented_due_day() {
        let mut plan = plan(ReportingFrequency::Monthly);
        plan.cadence = None;
        let error = PlanCalendar::from_contract(&plan).unwrap_err();
        assert!(
            matches!(error, PlanError::InvalidPlan { field: "cadence", .. }),
            "{error:?}"
        );
        plan.cadence = Some(ReportingCadence {
            frequency: ReportingFrequency::Unspecified as i32,
            due_day: 5,
        });
        assert!(PlanCalendar::from_contract(&plan).is_err());
        plan.time_zone = "Asia/Tokyo".into();
        plan.cadence = Some(ReportingCadence {
            frequency: ReportingFrequency::Monthly as i32,
            due_day: 10,
        });
        assert_eq!(PlanCalendar::from_contract(&plan).unwrap().zone().name(), "Asia/Tokyo");
    }
}
