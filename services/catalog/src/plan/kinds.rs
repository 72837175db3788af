//! The closed vocabularies of a plan file: units of measure, comparators,
//! how reporters' figures combine, and the reporting cadence. Closed enums,
//! so that a typo in a hand-written file fails to parse instead of being
//! carried into reports.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What a target's or a policy parameter's value is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantityUnit {
    /// A plain number of things.
    Count,
    /// Enterprises (家, 户).
    Enterprises,
    /// Projects (个项目).
    Projects,
    /// Yuan.
    Cny,
    /// 万元, ten thousand yuan.
    #[serde(rename = "cny_10k")]
    Cny10k,
    /// 亿元, a hundred million yuan.
    #[serde(rename = "cny_100m")]
    Cny100m,
    /// 亿美元, a hundred million US dollars.
    #[serde(rename = "usd_100m")]
    Usd100m,
    /// Square metres (万平方米 is converted).
    SquareMeters,
    /// Flats or rooms (套、间).
    HousingUnits,
    /// Working days.
    WorkingDays,
    /// A share in percent, 0..=100.
    Percent,
    /// Sites, stations, points of service.
    Sites,
    /// Routes.
    Routes,
    /// People.
    People,
}

impl QuantityUnit {
    /// Whether values are counts of whole things, so a fraction is a typo.
    pub fn is_whole(self) -> bool {
        matches!(
            self,
            Self::Count
                | Self::Enterprises
                | Self::Projects
                | Self::HousingUnits
                | Self::Sites
                | Self::Routes
                | Self::People
        )
    }
}

/// How an actual figure is compared with the target value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparator {
    /// 以上, 不低于, or a plain figure to reach: actual >= value.
    AtLeast,
    /// 超 or 余 ("more than"; 9000余 is nine thousand and some): actual > value.
    MoreThan,
    /// 以内, 内, 不超过: actual <= value.
    AtMost,
    /// 约, 左右: near value; how near is a judgement the plan leaves open.
    Approximately,
}

/// How the figures of several reporters make up the target's figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Each reporter's share adds up to the total.
    Sum,
    /// One unit reports the single official figure.
    Authoritative,
}

/// What a reported value means in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueBasis {
    /// Year-to-date total.
    Cumulative,
    /// The reporting period's own amount.
    Period,
    /// A level measured at period end (a share, an average, a count in place).
    Snapshot,
}

/// When units report. The plan documents do not fix this, so it is data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cadence {
    /// The report for month M is due on `due_day` of month M+1.
    Monthly {
        /// Day of the following month, 1..=28 so that it exists every month.
        due_day: u32,
    },
    /// The report for a calendar quarter is due on `due_day` of the month
    /// after the quarter.
    Quarterly {
        /// Day of the following month, 1..=28.
        due_day: u32,
    },
}

impl Cadence {
    /// The configured day of the month reports fall due.
    pub fn due_day(self) -> u32 {
        match self {
            Self::Monthly { due_day } | Self::Quarterly { due_day } => due_day,
        }
    }

    /// Due date of the report for the period ending with `month` of `year`;
    /// `None` if no period ends that month or the date does not exist.
    pub fn due_date(self, year: i32, month: u32) -> Option<NaiveDate> {
        if matches!(self, Self::Quarterly { .. }) && !month.is_multiple_of(3) {
            return None;
        }
        day_of_following_month(year, month, self.due_day())
    }
}

/// Day `day` of the month after `month` of `year`: the one rule of due dates, which
/// `duban-plan`'s calendar uses too. `None` if `month` is not 1-12 or the day does not
/// exist.
pub fn day_of_following_month(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    if !(1..=12).contains(&month) {
        return None;
    }
    let (y, m) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    NaiveDate::from_ymd_opt(y, m, day)
}
