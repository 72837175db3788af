//! The action plan: header, actions, measures with their responsible units,
//! and the quantitative targets units report against.
//!
//! Parsing only checks the shape; [`Plan::validate`] checks the content
//! against a [`Directory`](crate::Directory) and reports every problem.

mod follow_up;
mod kinds;
mod rag;
mod validate;

pub use follow_up::FollowUp;
pub use kinds::{Aggregation, Cadence, Comparator, QuantityUnit, ValueBasis, day_of_following_month};
pub use rag::RagRules;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::CatalogError;

/// The `[plan]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanHeader {
    /// Slug, e.g. `jiading-2023`.
    pub id: String,
    /// The document number, e.g. 嘉府规〔2023〕1号.
    pub document_number: String,
    /// Title as issued.
    pub title: String,
    /// English title.
    pub title_en: String,
    /// Who issued the plan.
    pub issuing_body: String,
    /// English name of the issuer.
    pub issuing_body_en: String,
    /// Date of issue (印发).
    #[serde(deserialize_with = "crate::dates::required")]
    pub issue_date: NaiveDate,
    /// First day in force.
    #[serde(deserialize_with = "crate::dates::required")]
    pub effective_from: NaiveDate,
    /// Last day in force; also the default target deadline.
    #[serde(deserialize_with = "crate::dates::required")]
    pub effective_to: NaiveDate,
    /// Code of the directory unit names resolve against.
    pub directory: String,
    /// The IANA time zone whose midnights end the plan's days and due dates, for example
    /// `Asia/Shanghai`; [`Plan::validate`] checks that the name is known. Empty when
    /// missing, so that plans stored as JSON before the field existed still read.
    #[serde(default)]
    pub time_zone: String,
    /// Reporting cadence.
    pub cadence: Cadence,
    /// When units are reminded and missing reports escalated (`[plan.follow_up]`);
    /// `None` when the file has no such section, which follows [`FollowUp::default`].
    /// Left out of the JSON when `None`, so plans stored before it hash the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<FollowUp>,
    /// The tolerances of the red-amber-green ratings (`[plan.rag]`); `None` when the
    /// file has no such section, which follows [`RagRules::default`]. Left out of the
    /// JSON when `None`, so plans stored before it hash the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rag: Option<RagRules>,
}

impl PlanHeader {
    /// The follow-up rules in force: the file's, or the defaults.
    pub fn follow_up_rules(&self) -> FollowUp {
        self.follow_up.unwrap_or_default()
    }

    /// The RAG rules in force: the file's, or the defaults.
    pub fn rag_rules(&self) -> RagRules {
        self.rag.unwrap_or_default()
    }
}

/// One of the plan's actions (一、… 十、).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// 1-based number.
    pub number: u32,
    /// Title without the ordinal prefix.
    pub title: String,
    /// English title.
    pub title_en: String,
}

/// A dated commitment inside a measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    /// Slug, unique within the measure, for example `huijia-car-promotion-extension`:
    /// what reports name the milestone by, so it keeps its meaning when the list is
    /// reordered or the text reworded. [`Plan::validate`] requires it. Empty when
    /// missing, so that plans stored as JSON before the field existed still read; such
    /// a milestone is known by [`derived_milestone_code`] of its position.
    #[serde(default)]
    pub code: String,
    /// Start of a validity period, when the text gives one.
    #[serde(
        default,
        deserialize_with = "crate::dates::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub from: Option<NaiveDate>,
    /// Deadline, or the end of the validity period.
    #[serde(deserialize_with = "crate::dates::required")]
    pub date: NaiveDate,
    /// What is due, in Chinese.
    pub description: String,
    /// What is due, in English.
    pub description_en: String,
}

/// The code of the `position`-th (1-based) milestone of a measure in a plan revision
/// stored before milestones had codes: `milestone-<position>`. In such a revision a
/// milestone was known by its position (reports named it by number), which never
/// changes within one revision, so the derived code means what the number meant.
pub fn derived_milestone_code(position: usize) -> String {
    format!("milestone-{position}")
}

/// A number that defines a policy (a rate, a cap, a subsidy) rather than a
/// result to report on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyParameter {
    /// Slug, unique within the plan.
    pub code: String,
    /// Chinese name.
    pub name: String,
    /// English name.
    pub name_en: String,
    /// The figure, in `unit`, exact.
    pub value: Decimal,
    /// What `value` is measured in.
    pub unit: QuantityUnit,
    /// Whether the figure is a ceiling (最高) or a floor (不低于).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparator: Option<Comparator>,
    /// Scope and wording, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One numbered measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    /// Number of the action it belongs to.
    pub action: u32,
    /// "action.item", e.g. "4.2".
    pub number: String,
    /// First sentence of the measure.
    pub title: String,
    /// English title.
    pub title_en: String,
    /// Full text, without the 责任单位 parenthesis.
    pub text: String,
    /// Unit strings as written; the first is the lead unit.
    pub responsible_units: Vec<String>,
    /// Dated commitments.
    #[serde(default)]
    pub milestones: Vec<Milestone>,
    /// Policy numbers that are not targets.
    #[serde(default)]
    pub policy_parameters: Vec<PolicyParameter>,
}

impl Measure {
    /// The lead unit (牵头单位), as written.
    pub fn lead_unit(&self) -> Option<&str> {
        self.responsible_units.first().map(String::as_str)
    }

    /// The milestone with this code.
    pub fn milestone(&self, code: &str) -> Option<&Milestone> {
        self.milestones.iter().find(|m| m.code == code)
    }
}

/// A quantitative target units report progress against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Slug, unique within the plan.
    pub code: String,
    /// Number of the measure that sets it.
    pub measure: String,
    /// Chinese name.
    pub name: String,
    /// English name.
    pub name_en: String,
    /// What `value` is measured in.
    pub unit: QuantityUnit,
    /// The target figure, exact (TOML `4.47` reads as the decimal 4.47).
    pub value: Decimal,
    /// How the actual figure must relate to `value`.
    pub comparator: Comparator,
    /// Whether the text qualifies the figure as striven for or planned (力争, 计划)
    /// rather than committed (实现, 确保, 完成, or a plain figure). The figure is
    /// still tracked the same way; readers are told it is an aspiration.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub aspirational: bool,
    /// Defaults to the plan's `effective_to`.
    #[serde(
        default,
        deserialize_with = "crate::dates::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub deadline: Option<NaiveDate>,
    /// Starting level; defaults to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Decimal>,
    /// How many digits after the point a reported value may have (0-6). Unset: the
    /// most places `value` or `baseline` is written with (555 -> 0, 4.47 -> 2); see
    /// [`Target::decimal_places`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimal_places: Option<u32>,
    /// How reporters' figures combine.
    pub aggregation: Aggregation,
    /// What a reported value means in time.
    pub basis: ValueBasis,
    /// Unit strings from the measure's responsible units.
    pub reporters: Vec<String>,
    /// The fragment of the measure's text the figure comes from.
    pub source: String,
    /// Reading notes, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Target {
    /// The baseline, 0 when the plan gives none.
    pub fn baseline_or_zero(&self) -> Decimal {
        self.baseline.unwrap_or(Decimal::ZERO)
    }

    /// The decimal places a reported value may have: as declared, or else the most
    /// places the plan writes `value` or `baseline` with.
    pub fn decimal_places(&self) -> u32 {
        self.decimal_places
            .unwrap_or_else(|| default_decimal_places([self.value].into_iter().chain(self.baseline)))
    }
}

/// A whole plan file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The `[plan]` table.
    #[serde(rename = "plan")]
    pub header: PlanHeader,
    /// `[[actions]]`.
    pub actions: Vec<Action>,
    /// `[[measures]]`.
    pub measures: Vec<Measure>,
    /// `[[targets]]`.
    #[serde(default)]
    pub targets: Vec<Target>,
}

impl Plan {
    /// Parses a plan file. Only the shape is checked here, so that
    /// [`Plan::validate`] can report every content problem at once.
    pub fn from_toml_str(text: &str) -> Result<Self, CatalogError> {
        Ok(toml::from_str(text)?)
    }

    /// The action with this number.
    pub fn action(&self, number: u32) -> Option<&Action> {
        self.actions.iter().find(|a| a.number == number)
    }

    /// The measure with this number, e.g. "4.2".
    pub fn measure(&self, number: &str) -> Option<&Measure> {
        self.measures.iter().find(|m| m.number == number)
    }

    /// The measures of one action, in file order.
    pub fn measures_of(&self, action: u32) -> impl Iterator<Item = &Measure> {
        self.measures.iter().filter(move |m| m.action == action)
    }

    /// The target with this code.
    pub fn target(&self, code: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.code == code)
    }

    /// A target's deadline, the plan's end when it has none of its own.
    pub fn deadline_of(&self, target: &Target) -> NaiveDate {
        target.deadline.unwrap_or(self.header.effective_to)
    }

    /// Dates outside this window are taken as typos: a year before the plan
    /// starts (policies often run from 1 January) to two years after it ends
    /// (some measures extend beyond the plan, 从其规定).
    pub fn sensible_dates(&self) -> (NaiveDate, NaiveDate) {
        let first = NaiveDate::from_ymd_opt(self.header.effective_from.year() - 1, 1, 1);
        let last = NaiveDate::from_ymd_opt(self.header.effective_to.year() + 2, 12, 31);
        (first.unwrap_or(NaiveDate::MIN), last.unwrap_or(NaiveDate::MAX))
    }
}

/// Most characters of a key that names an entry in a problem's path: longer than any code
/// or number, short enough for the path to be read (and sent) whole.
pub const MAX_KEY_CHARS: usize = 64;

/// How a problem's path names an entry of a keyed list (measures by number; targets,
/// milestones and policy parameters by code): by its key, or by `#<index>` (0-based)
/// when the key cannot name it: blank, longer than [`MAX_KEY_CHARS`], or with a bracket
/// or a control character. `measures[4.2]`, `targets[#3]`.
pub fn entry_key(key: &str, index: usize) -> String {
    let unusable = key.trim().is_empty()
        || key.chars().count() > MAX_KEY_CHARS
        || key.chars().any(|c| c == '[' || c == ']' || c.is_control());
    if unusable { format!("#{index}") } else { key.to_owned() }
}

/// The largest number of decimal places a target may accept.
pub const MAX_DECIMAL_PLACES: u32 = 6;

/// The default decimal places of a target: the most places any of its figures is
/// written with (555 -> 0, 4.47 -> 2; trailing zeros do not count).
pub fn default_decimal_places(figures: impl IntoIterator<Item = Decimal>) -> u32 {
    figures.into_iter().map(|f| f.normalize().scale()).max().unwrap_or(0)
}
