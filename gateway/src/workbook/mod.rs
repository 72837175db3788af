//! The unit's report workbook (issue 16 §3), in one place for the gateway's `/my/template.xlsx` and
//! `/my/upload` and for `duban report template|upload`: [`template`] writes a period's workbook from the
//! unit's obligations (ListObligations), [`read`] turns a filled-in workbook back into SubmitReports
//! items, and [`upload`] sends them and says, row by row and cell by cell, what happened.
//!
//! The workbook is an input form, not a second validator: whatever the unit typed goes to the reporting
//! server as typed (text in a number cell included), and the server's field violations are mapped back
//! to the cells they name. The one exception is the provisional flag, a yes or no the contract cannot
//! carry as typed: a cell that is neither is refused at its cell and its row is not sent, rather than
//! guessed (it decides whether the figures count as final). Its layout:
//!
//! - sheet [`SHEET`] (`报送`): row 1 the headers, then one row per obligation. Columns A-D (measure, its
//!   title, period and due day, where the obligation stands) are locked; E (overall status, a list), F
//!   (narrative), G (evidence links, one `title url` a line), H (provisional, 快报: `是 yes` or `否 no`
//!   from a list, empty for a final report), one column per target slot and three per milestone (its
//!   status, a list; the day it was achieved; a note) are for the unit to fill in. A slot's or
//!   milestone's columns are open only on the rows of obligations that have it.
//! - the blockers, last on the same row, so that everything one report says stays on one line: a
//!   locked column listing the obligation's open blockers by number (`#2 用地指标未落实（高 high）`), a
//!   column where the clerk types the numbers of those to resolve (`2` or `1, 3`; open only on rows
//!   that have open blockers), then [`NEW_BLOCKERS`] groups of three columns to raise new ones
//!   (description; severity, a list; the code of the unit whose help is asked, optional). A second
//!   sheet of blocker rows keyed to the report rows was the alternative; it was not chosen because a
//!   clerk would then have to say, on each blocker row, which report row it belongs to (a key typed
//!   by hand, and one more way to go wrong), while a group of columns on the report's own row cannot
//!   be attached to the wrong report. Two groups cover a month's new problems of one measure; more
//!   are raised in the web form or a later upload.
//! - sheet [`KEYS_SHEET`] (hidden, protected): row 1 names what each column of `报送` holds
//!   ([`Column::key`]); each later row carries its `报送` row's keys: plan, measure, department, period
//!   and the `request_id` drawn when the template was made, so that uploading the same file twice stores
//!   nothing new.
//!
//! A column is found by its key, never by its letter, so a workbook made before a column existed (an
//! older template without the provisional, note or blocker columns) still uploads: what it lacks is
//! simply not sent.
//!
//! Sheet protection has no password: it keeps a clerk from typing over headers and keys by mistake, not
//! a unit from its own workbook. What a doctored workbook asks for is decided by the reporting server
//! with the uploader's own token, as any API call is.

mod obligations;
mod read;
mod template;
mod upload;

use duban_proto::{
    common::v1::{QuantityUnit, ValueBasis},
    reporting::v1::{BlockerSeverity, MilestoneStatus, OverallStatus},
};

pub use obligations::period_obligations;
pub use read::{Row, Rows, read};
pub use template::{TemplateError, template};
pub use upload::{CellError, Outcome, RowResult, Upload, upload};

/// The sheet the unit fills in.
pub const SHEET: &str = "报送";
/// The hidden sheet of keys and request ids.
pub const KEYS_SHEET: &str = "duban_keys";
/// The MIME type of an .xlsx workbook.
pub const CONTENT_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// At most this many rows are read: SubmitReports takes at most 1000 items a stream.
pub const MAX_ROWS: usize = 1000;
/// How many new blockers one row can raise: the groups of columns for them.
pub const NEW_BLOCKERS: u8 = 2;

/// Why an uploaded file cannot be read as a Duban report workbook (as opposed to a row the server
/// refused, which [`upload`] reports per cell).
#[derive(Debug, thiserror::Error)]
pub enum WorkbookError {
    /// Not an .xlsx file, or a damaged one.
    #[error("the file is not a readable .xlsx workbook: {0}")]
    Unreadable(String),
    /// An .xlsx file, but not one made by `/my/template.xlsx` or `duban report template`.
    #[error("the workbook is not a Duban report template: {0}")]
    NotATemplate(String),
    /// More rows than one upload takes.
    #[error("the workbook has {0} rows; at most {MAX_ROWS} are taken in one upload")]
    TooManyRows(usize),
}

/// What one column of [`SHEET`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// The measure number (locked).
    Measure,
    /// The measure's title (locked).
    Title,
    /// The period and its due day (locked).
    Period,
    /// Where the obligation stands, with a return reason (locked).
    State,
    /// `Report.overall_status`, from a list.
    OverallStatus,
    /// `Report.narrative`.
    Narrative,
    /// `Report.evidence_links`, one `title url` a line.
    Evidence,
    /// `Report.provisional`, from a list; empty is a final report.
    Provisional,
    /// `Report.metric_values` for this target: the value goes with the unit and basis the slot had
    /// when the template was made (a target changed since is refused by the server, naming the cell).
    Target(TargetKey),
    /// `Report.milestone_updates`: the status of this milestone (by code), from a list.
    Milestone(String),
    /// The day this milestone (by code) was achieved: `MilestoneUpdate.achieve_date`.
    AchieveDate(String),
    /// The note on this milestone (by code): `MilestoneUpdate.note`.
    MilestoneNote(String),
    /// The obligation's open blockers, by number (locked: what the resolve column names).
    OpenBlockers,
    /// The numbers of open blockers to resolve: `Report.blockers` entries with `name` and `resolve`.
    ResolveBlockers,
    /// One part of the n-th (1-based) new blocker: a `Report.blockers` entry without `name`.
    NewBlocker(u8, BlockerPart),
}

/// The parts of a new blocker, a column each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockerPart {
    /// `Blocker.description`.
    Description,
    /// `Blocker.severity`, from a list.
    Severity,
    /// `Blocker.support_unit`, a department's code; optional.
    SupportUnit,
}

impl BlockerPart {
    /// Every part, in column order.
    pub const ALL: [BlockerPart; 3] = [
        BlockerPart::Description,
        BlockerPart::Severity,
        BlockerPart::SupportUnit,
    ];

    /// The part's name in a column key, as the contract names the field.
    pub fn field(self) -> &'static str {
        match self {
            BlockerPart::Description => "description",
            BlockerPart::Severity => "severity",
            BlockerPart::SupportUnit => "support_unit",
        }
    }

    fn from_field(field: &str) -> Option<BlockerPart> {
        BlockerPart::ALL.into_iter().find(|part| part.field() == field)
    }
}

/// A target column: the slot's target code, unit and value basis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetKey {
    /// `MetricValue.target_code`.
    pub code: String,
    /// `MetricValue.unit`.
    pub unit: QuantityUnit,
    /// `MetricValue.basis`.
    pub basis: ValueBasis,
}

const TARGET_PREFIX: &str = "target:";
const MILESTONE_PREFIX: &str = "milestone_status:";
const ACHIEVE_DATE_PREFIX: &str = "milestone_achieve_date:";
const MILESTONE_NOTE_PREFIX: &str = "milestone_note:";
const NEW_BLOCKER_PREFIX: &str = "new_blocker:";

impl Column {
    /// How the keys sheet names the column.
    pub fn key(&self) -> String {
        match self {
            Column::Measure => "measure".into(),
            Column::Title => "title".into(),
            Column::Period => "period".into(),
            Column::State => "state".into(),
            Column::OverallStatus => "overall_status".into(),
            Column::Narrative => "narrative".into(),
            Column::Evidence => "evidence_links".into(),
            Column::Provisional => "provisional".into(),
            Column::OpenBlockers => "open_blockers".into(),
            Column::ResolveBlockers => "resolve_blockers".into(),
            Column::Target(target) => format!(
                "{TARGET_PREFIX}{}:{}:{}",
                target.code,
                target.unit.as_str_name(),
                target.basis.as_str_name()
            ),
            Column::Milestone(code) => format!("{MILESTONE_PREFIX}{code}"),
            Column::AchieveDate(code) => format!("{ACHIEVE_DATE_PREFIX}{code}"),
            Column::MilestoneNote(code) => format!("{MILESTONE_NOTE_PREFIX}{code}"),
            Column::NewBlocker(n, part) => format!("{NEW_BLOCKER_PREFIX}{n}:{}", part.field()),
        }
    }

    /// The column a key names.
    pub fn from_key(key: &str) -> Option<Column> {
        Some(match key {
            "measure" => Column::Measure,
            "title" => Column::Title,
            "period" => Column::Period,
            "state" => Column::State,
            "overall_status" => Column::OverallStatus,
            "narrative" => Column::Narrative,
            "evidence_links" => Column::Evidence,
            "provisional" => Column::Provisional,
            "open_blockers" => Column::OpenBlockers,
            "resolve_blockers" => Column::ResolveBlockers,
            other if other.starts_with(MILESTONE_NOTE_PREFIX) => {
                Column::MilestoneNote(other.strip_prefix(MILESTONE_NOTE_PREFIX)?.to_owned())
            }
            other if other.starts_with(NEW_BLOCKER_PREFIX) => {
                let (n, part) = other.strip_prefix(NEW_BLOCKER_PREFIX)?.split_once(':')?;
                Column::NewBlocker(n.parse().ok()?, BlockerPart::from_field(part)?)
            }
            other if other.starts_with(MILESTONE_PREFIX) => {
                Column::Milestone(other.strip_prefix(MILESTONE_PREFIX)?.to_owned())
            }
            other if other.starts_with(ACHIEVE_DATE_PREFIX) => {
                Column::AchieveDate(other.strip_prefix(ACHIEVE_DATE_PREFIX)?.to_owned())
            }
            other => {
                let mut parts = other.strip_prefix(TARGET_PREFIX)?.split(':');
                let (code, unit, basis) = (parts.next()?, parts.next()?, parts.next()?);
                Column::Target(TargetKey {
                    code: code.to_owned(),
                    unit: QuantityUnit::from_str_name(unit)?,
                    basis: ValueBasis::from_str_name(basis)?,
                })
            }
        })
    }
}

/// The fixed columns, in order; the target columns follow them.
pub const FIXED_COLUMNS: [Column; 8] = [
    Column::Measure,
    Column::Title,
    Column::Period,
    Column::State,
    Column::OverallStatus,
    Column::Narrative,
    Column::Evidence,
    Column::Provisional,
];

/// The blocker columns, in order, last on the sheet: the open ones, those to resolve, then
/// [`NEW_BLOCKERS`] groups of a new one's parts.
pub fn blocker_columns() -> Vec<Column> {
    let mut columns = vec![Column::OpenBlockers, Column::ResolveBlockers];
    for n in 1..=NEW_BLOCKERS {
        columns.extend(BlockerPart::ALL.map(|part| Column::NewBlocker(n, part)));
    }
    columns
}

/// The overall statuses as the list in the workbook offers them (Chinese, then English).
pub const STATUS_LABELS: [(OverallStatus, &str); 5] = [
    (OverallStatus::NotStarted, "未启动 not started"),
    (OverallStatus::OnTrack, "按计划推进 on track"),
    (OverallStatus::AtRisk, "存在风险 at risk"),
    (OverallStatus::OffTrack, "滞后 off track"),
    (OverallStatus::Completed, "已完成 completed"),
];

/// A milestone's statuses as the list in the workbook offers them (Chinese, then English).
pub const MILESTONE_LABELS: [(MilestoneStatus, &str); 4] = [
    (MilestoneStatus::NotStarted, "未启动 not started"),
    (MilestoneStatus::InProgress, "推进中 in progress"),
    (MilestoneStatus::Achieved, "已达成 achieved"),
    (MilestoneStatus::Delayed, "延期 delayed"),
];

/// A blocker's severities as the list in the workbook offers them (Chinese, then English).
pub const SEVERITY_LABELS: [(BlockerSeverity, &str); 4] = [
    (BlockerSeverity::Low, "低 low"),
    (BlockerSeverity::Medium, "中 medium"),
    (BlockerSeverity::High, "高 high"),
    (BlockerSeverity::Critical, "严重 critical"),
];

/// The provisional flag as the list in the workbook offers it (Chinese, then English); an empty cell
/// is a final report.
pub const PROVISIONAL_LABELS: [(bool, &str); 2] = [(true, "是 yes"), (false, "否 no")];

/// Which of `labels` a cell names: the whole label, its Chinese or its English part, or the
/// contract's name without `prefix` (`ON_TRACK`), whatever the case, `_` or `-`.
fn labelled<T: Copy>(
    labels: &[(T, &str)],
    contract_name: fn(&T) -> &'static str,
    prefix: &str,
    text: &str,
) -> Option<T> {
    let wanted = text.trim();
    let normalised = wanted.to_ascii_lowercase().replace(['_', '-'], " ");
    labels
        .iter()
        .find(|(value, label)| {
            let (zh, en) = label.split_once(' ').unwrap_or((*label, ""));
            *label == wanted
                || zh == wanted
                || en == normalised
                || contract_name(value)
                    .trim_start_matches(prefix)
                    .to_ascii_lowercase()
                    .replace('_', " ")
                    == normalised
        })
        .map(|(value, _)| *value)
}

/// The overall status a cell names (see [`labelled`]); anything else is UNSPECIFIED, which the server
/// refuses.
pub fn status_from_cell(text: &str) -> OverallStatus {
    labelled(&STATUS_LABELS, OverallStatus::as_str_name, "OVERALL_STATUS_", text).unwrap_or_default()
}

/// The milestone status a cell names (see [`labelled`]); anything else is UNSPECIFIED, which the server
/// refuses.
pub fn milestone_status_from_cell(text: &str) -> MilestoneStatus {
    labelled(
        &MILESTONE_LABELS,
        MilestoneStatus::as_str_name,
        "MILESTONE_STATUS_",
        text,
    )
    .unwrap_or_default()
}

/// The blocker severity a cell names (see [`labelled`]); anything else is UNSPECIFIED, which the server
/// refuses for a new blocker.
pub fn severity_from_cell(text: &str) -> BlockerSeverity {
    labelled(
        &SEVERITY_LABELS,
        BlockerSeverity::as_str_name,
        "BLOCKER_SEVERITY_",
        text,
    )
    .unwrap_or_default()
}

/// The provisional flag a cell names: empty is final (`Some(false)`); `是 yes`, `是`, `yes`, `y`,
/// `true` or `1` is provisional and `否 no`, `否`, `no`, `n`, `false` or `0` final, whatever the case
/// (Excel's TRUE and FALSE included); anything else is `None`, for the reader to refuse at its cell
/// rather than guess: the flag decides whether the figures count as final.
pub fn provisional_from_cell(text: &str) -> Option<bool> {
    let wanted = text.trim();
    if wanted.is_empty() {
        return Some(false);
    }
    let lower = wanted.to_lowercase();
    if let Some((flag, _)) = PROVISIONAL_LABELS.iter().find(|(_, label)| {
        let (zh, en) = label.split_once(' ').unwrap_or((*label, ""));
        *label == wanted || zh == wanted || en == lower
    }) {
        return Some(*flag);
    }
    match lower.as_str() {
        "y" | "true" | "1" | "快报" => Some(true),
        "n" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// The numbers a resolve cell names (`2`, `1, 3`, `#1、#2`): each piece between commas, semicolons,
/// `、` or spaces, without a leading `#`. A piece that is not a number is returned as typed, for the
/// server to refuse as a blocker name naming the cell.
pub fn blocker_numbers(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || ",，、;；".contains(c))
        .map(|piece| piece.trim_start_matches(['#', '＃']))
        .filter(|piece| !piece.is_empty())
        // `2.0`, as some spreadsheets write a whole number kept as text, is the number 2.
        .map(|piece| piece.strip_suffix(".0").unwrap_or(piece).to_owned())
        .collect()
}

/// A blocker's number, the last part of its name (`plans/p/blockers/4.1~town~2` → `2`).
pub fn blocker_number(name: &str) -> &str {
    name.rsplit('~').next().unwrap_or(name)
}

/// What a value basis means, in Chinese and English, for the headers.
pub fn basis_label(basis: ValueBasis) -> &'static str {
    match basis {
        ValueBasis::Cumulative => "累计值 year to date",
        ValueBasis::Period => "当月值 this month",
        ValueBasis::Snapshot => "月末值 at month end",
        ValueBasis::Unspecified => "",
    }
}

/// The unit of a slot, in Chinese and English, for the headers.
pub fn unit_label(unit: QuantityUnit) -> String {
    format!(
        "{} {}",
        duban_plan::quantity::unit_label_zh(unit),
        duban_plan::quantity::unit_label_en(unit)
    )
}

/// A column's letters, from its 0-based index: 0 → `A`, 27 → `AB`.
pub fn column_letters(index: u16) -> String {
    let mut n = u32::from(index) + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_lettered_as_spreadsheets_do() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(7), "H");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }

    #[test]
    fn column_keys_read_back() {
        let mut columns = FIXED_COLUMNS.to_vec();
        columns.push(Column::Milestone("sme-works".into()));
        columns.push(Column::AchieveDate("sme-works".into()));
        columns.push(Column::MilestoneNote("sme-works".into()));
        columns.extend(blocker_columns());
        columns.push(Column::Target(TargetKey {
            code: "new-enterprises".into(),
            unit: QuantityUnit::Enterprises,
            basis: ValueBasis::Cumulative,
        }));
        for column in columns {
            assert_eq!(Column::from_key(&column.key()), Some(column));
        }
        assert_eq!(Column::from_key("nonsense"), None);
        assert_eq!(Column::from_key("target:x:NOT_A_UNIT:VALUE_BASIS_PERIOD"), None);
        assert_eq!(Column::from_key("new_blocker:1:colour"), None);
        assert_eq!(Column::from_key("new_blocker:x:severity"), None);
        assert_eq!(
            Column::from_key("new_blocker:2:support_unit"),
            Some(Column::NewBlocker(2, BlockerPart::SupportUnit))
        );
    }

    #[test]
    fn statuses_are_read_in_either_language() {
        assert_eq!(status_from_cell("按计划推进 on track"), OverallStatus::OnTrack);
        assert_eq!(status_from_cell(" 存在风险 "), OverallStatus::AtRisk);
        assert_eq!(status_from_cell("Off track"), OverallStatus::OffTrack);
        assert_eq!(status_from_cell("COMPLETED"), OverallStatus::Completed);
        assert_eq!(status_from_cell("not_started"), OverallStatus::NotStarted);
        assert_eq!(status_from_cell("fine"), OverallStatus::Unspecified);
        assert_eq!(status_from_cell(""), OverallStatus::Unspecified);
        assert_eq!(milestone_status_from_cell("已达成 achieved"), MilestoneStatus::Achieved);
        assert_eq!(milestone_status_from_cell("in-progress"), MilestoneStatus::InProgress);
        assert_eq!(milestone_status_from_cell("done"), MilestoneStatus::Unspecified);
        assert_eq!(severity_from_cell("高 high"), BlockerSeverity::High);
        assert_eq!(severity_from_cell("严重"), BlockerSeverity::Critical);
        assert_eq!(severity_from_cell("MEDIUM"), BlockerSeverity::Medium);
        assert_eq!(severity_from_cell("很严重"), BlockerSeverity::Unspecified);
    }

    #[test]
    fn the_provisional_flag_is_yes_no_or_empty() {
        for yes in ["是 yes", "是", "YES", "true", "TRUE", "1", "y"] {
            assert_eq!(provisional_from_cell(yes), Some(true), "{yes}");
        }
        for no in ["否 no", "否", "No", "FALSE", "0", "", "  "] {
            assert_eq!(provisional_from_cell(no), Some(false), "{no}");
        }
        assert_eq!(provisional_from_cell("maybe"), None);
        assert_eq!(provisional_from_cell("可能"), None);
    }

    #[test]
    fn blockers_to_resolve_are_numbers_in_any_separator() {
        assert_eq!(blocker_numbers("2"), ["2"]);
        assert_eq!(blocker_numbers("2.0"), ["2"]);
        assert_eq!(blocker_numbers(" #1, 3、4；＃5 6 "), ["1", "3", "4", "5", "6"]);
        assert_eq!(blocker_numbers("one"), ["one"]);
        assert!(blocker_numbers(" , ").is_empty());
        assert_eq!(blocker_number("plans/p/blockers/4.1~town~12"), "12");
    }
}
