//! A filled-in workbook read back into SubmitReports items, with calamine: every cell is passed on as
//! the clerk typed it (a number as its shortest decimal text, text as text), for the server to judge.

use std::io::Cursor;

use calamine::{Data, Range, Reader, Xlsx};
use chrono::{Days, NaiveDate};
use duban_plan::contract::date_to_proto;
use duban_proto::{
    common::v1::{Date, Decimal, Period},
    reporting::v1::{Blocker, EvidenceLink, MetricValue, MilestoneUpdate, Report, ReportSource, SubmitReportsRequest},
};

use super::{
    BlockerPart, Column, KEYS_SHEET, MAX_ROWS, NEW_BLOCKERS, SHEET, WorkbookError, blocker_numbers,
    milestone_status_from_cell, provisional_from_cell, severity_from_cell, status_from_cell,
};

/// The keys columns of each row of the keys sheet.
const KEY_PLAN: u32 = 0;
const KEY_MEASURE: u32 = 1;
const KEY_DEPARTMENT: u32 = 2;
const KEY_PERIOD: u32 = 3;
const KEY_REQUEST_ID: u32 = 4;

/// One filled-in row of the report sheet, as the item it is sent as.
#[derive(Debug, Clone)]
pub struct Row {
    /// The row's number in the sheet, 1-based as a spreadsheet shows it.
    pub number: u32,
    /// What is sent.
    pub item: SubmitReportsRequest,
    /// The report's resource name, for its latest revision before the upload.
    pub report_name: String,
    /// The period as the keys give it, `YYYY-MM`.
    pub period: String,
    /// Cells the reader could not turn into what the contract takes (a provisional flag that is
    /// neither yes nor no): the column, the field it is for and why. A row with any is not sent.
    pub unreadable: Vec<(u16, String, String)>,
    status_column: u16,
    narrative_column: u16,
    evidence_column: u16,
    /// None in a workbook made before the column existed.
    provisional_column: Option<u16>,
    /// The column of each metric value sent, in the order sent, with its target code.
    value_columns: Vec<(String, u16)>,
    /// The column of every target of the sheet, by code.
    target_columns: Vec<(String, u16)>,
    /// The cells of each milestone update sent, in the order sent.
    milestone_columns: Vec<MilestoneCells>,
    /// The cells of each blocker entry sent, in the order sent.
    blocker_columns: Vec<BlockerCells>,
    /// What was typed in the short cells sent (statuses, values, severities, blockers to resolve), by
    /// column, to show beside an error.
    typed: Vec<(u16, String)>,
}

/// The columns of one milestone: its status, achieve date and note (none in an older workbook).
#[derive(Debug, Clone, Copy)]
struct MilestoneCells {
    status: u16,
    date: u16,
    note: Option<u16>,
}

/// Where a blocker entry came from.
#[derive(Debug, Clone, Copy)]
enum BlockerCells {
    /// A number typed in the resolve column.
    Resolve(u16),
    /// A group of new-blocker columns: description, severity, support unit.
    New {
        description: u16,
        severity: u16,
        support_unit: u16,
    },
}

impl Row {
    /// What was typed in the short cell of `column` (a status, value, severity or the blockers to
    /// resolve), if anything.
    pub fn typed(&self, column: u16) -> Option<&str> {
        self.typed
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, text)| text.as_str())
    }

    /// The 0-based column of the cell a field violation of this row's item names
    /// (`report.metric_values[1].value`, `report.metric_values[new-enterprises]`,
    /// `report.evidence_links[0].url`, `report.overall_status`, `report.blockers[2].severity` …);
    /// `None` for a field no cell holds (the measure, period or department come from the hidden keys).
    pub fn column_of(&self, field: &str) -> Option<u16> {
        let path = field.strip_prefix("report.")?;
        if path.starts_with("overall_status") {
            return Some(self.status_column);
        }
        if path.starts_with("narrative") {
            return Some(self.narrative_column);
        }
        if path.starts_with("evidence_links") {
            return Some(self.evidence_column);
        }
        if path.starts_with("provisional") {
            return self.provisional_column;
        }
        if let Some(rest) = path.strip_prefix("milestone_updates[") {
            let (index, field) = rest.split_once(']')?;
            let cells = *self.milestone_columns.get(index.parse::<usize>().ok()?)?;
            return Some(if field.starts_with(".achieve_date") {
                cells.date
            } else if field.starts_with(".note") {
                cells.note.unwrap_or(cells.status)
            } else {
                cells.status
            });
        }
        if let Some(rest) = path.strip_prefix("blockers[") {
            let (index, field) = rest.split_once(']')?;
            return Some(match *self.blocker_columns.get(index.parse::<usize>().ok()?)? {
                BlockerCells::Resolve(column) => column,
                BlockerCells::New {
                    description,
                    severity,
                    support_unit,
                } => {
                    if field.starts_with(".severity") {
                        severity
                    } else if field.starts_with(".support_unit") {
                        support_unit
                    } else {
                        description
                    }
                }
            });
        }
        let index = path.strip_prefix("metric_values[")?.split(']').next()?;
        match index.parse::<usize>() {
            // The i-th value sent.
            Ok(i) => self.value_columns.get(i).map(|(_, c)| *c),
            // A target by code: a required value left out, whose cell is empty.
            Err(_) => self
                .target_columns
                .iter()
                .find(|(code, _)| code == index)
                .map(|(_, c)| *c),
        }
    }
}

/// The rows of a workbook: those filled in, and how many were left empty (skipped, not an error).
#[derive(Debug, Clone)]
pub struct Rows {
    /// The rows with anything filled in, in sheet order.
    pub filled: Vec<Row>,
    /// How many obligation rows had nothing filled in.
    pub empty: usize,
}

/// A group of new-blocker columns, found by their keys: description, severity, support unit.
type NewBlockerColumns = (u16, u16, u16);

/// Reads the workbook `bytes` made by [`super::template`] and filled in. The columns are found by
/// their keys: those a template made before them lacks (provisional, milestone notes, blockers) are
/// simply not read.
pub fn read(bytes: &[u8]) -> Result<Rows, WorkbookError> {
    let mut book = Xlsx::new(Cursor::new(bytes)).map_err(|e| WorkbookError::Unreadable(e.to_string()))?;
    let keys = sheet(&mut book, KEYS_SHEET)?;
    let sheet = sheet(&mut book, SHEET)?;
    let columns = column_keys(&keys)?;
    let find = |wanted: &Column| {
        columns
            .iter()
            .position(|c| c == wanted)
            .and_then(|i| u16::try_from(i).ok())
    };
    let position = |wanted: &Column| {
        find(wanted).ok_or_else(|| WorkbookError::NotATemplate(format!("no {} column", wanted.key())))
    };
    let status_column = position(&Column::OverallStatus)?;
    let narrative_column = position(&Column::Narrative)?;
    let evidence_column = position(&Column::Evidence)?;
    let provisional_column = find(&Column::Provisional);
    let resolve_column = find(&Column::ResolveBlockers);
    let new_blockers: Vec<NewBlockerColumns> = (1..=NEW_BLOCKERS.max(max_group(&columns)))
        .filter_map(|n| {
            let part = |part| find(&Column::NewBlocker(n, part));
            Some((
                part(BlockerPart::Description)?,
                part(BlockerPart::Severity)?,
                part(BlockerPart::SupportUnit)?,
            ))
        })
        .collect();
    let targets: Vec<(String, u16, &super::TargetKey)> = columns
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match c {
            Column::Target(target) => Some((target.code.clone(), u16::try_from(i).ok()?, target)),
            _ => None,
        })
        .collect();
    // Each milestone's columns: its status, achieve date and (since they were added) note.
    let milestones: Vec<(String, MilestoneCells)> = columns
        .iter()
        .filter_map(|c| match c {
            Column::Milestone(code) => {
                let cells = MilestoneCells {
                    status: find(c)?,
                    date: find(&Column::AchieveDate(code.clone()))?,
                    note: find(&Column::MilestoneNote(code.clone())),
                };
                Some((code.clone(), cells))
            }
            _ => None,
        })
        .collect();

    let last_row = keys.end().map_or(0, |(row, _)| row);
    let rows = usize::try_from(last_row).unwrap_or(usize::MAX);
    if rows > MAX_ROWS {
        return Err(WorkbookError::TooManyRows(rows));
    }
    let mut out = Rows {
        filled: Vec::new(),
        empty: 0,
    };
    for r in 1..=last_row {
        let key = |c: u32| cell_text(keys.get_value((r, c)));
        let parent = key(KEY_PLAN);
        if parent.is_empty() {
            continue;
        }
        let (measure, department, period) = (key(KEY_MEASURE), key(KEY_DEPARTMENT), key(KEY_PERIOD));
        let cell = |c: u16| cell_text(sheet.get_value((r, u32::from(c))));
        let status = cell(status_column);
        let narrative = cell(narrative_column);
        let evidence = cell(evidence_column);
        let provisional = provisional_column.map(cell).unwrap_or_default();
        let mut typed = vec![(status_column, status.clone())];
        let mut unreadable = Vec::new();
        let provisional_flag = match (provisional_column, provisional_from_cell(&provisional)) {
            (_, Some(flag)) => flag,
            (Some(column), None) => {
                typed.push((column, provisional.clone()));
                unreadable.push((
                    column,
                    "report.provisional".to_owned(),
                    "must be 是 yes (provisional) or 否 no, or left empty for a final report".to_owned(),
                ));
                false
            }
            (None, None) => false,
        };
        let mut metric_values = Vec::new();
        let mut value_columns = Vec::new();
        for (code, c, target) in &targets {
            let value = cell(*c);
            if value.is_empty() {
                continue;
            }
            typed.push((*c, value.clone()));
            metric_values.push(MetricValue {
                target_code: code.clone(),
                value: Some(Decimal { value }),
                unit: target.unit as i32,
                basis: target.basis as i32,
            });
            value_columns.push((code.clone(), *c));
        }
        let mut milestone_updates = Vec::new();
        let mut milestone_columns = Vec::new();
        for (code, cells) in &milestones {
            let status = cell(cells.status);
            let achieve_date = cell_date(sheet.get_value((r, u32::from(cells.date))));
            let note = cells.note.map(cell).unwrap_or_default();
            if status.is_empty() && achieve_date.is_none() && note.is_empty() {
                continue;
            }
            typed.push((cells.status, status.clone()));
            milestone_updates.push(MilestoneUpdate {
                milestone_code: code.clone(),
                status: milestone_status_from_cell(&status) as i32,
                achieve_date,
                note,
                ..MilestoneUpdate::default()
            });
            milestone_columns.push(*cells);
        }
        // The blockers as the web form sends them: those resolved first, then those raised.
        let mut blockers = Vec::new();
        let mut blocker_columns = Vec::new();
        if let Some(column) = resolve_column {
            let text = cell(column);
            typed.push((column, text.clone()));
            for number in blocker_numbers(&text) {
                blockers.push(Blocker {
                    name: format!("{parent}/blockers/{measure}~{department}~{number}"),
                    resolve: true,
                    ..Blocker::default()
                });
                blocker_columns.push(BlockerCells::Resolve(column));
            }
        }
        for &(description, severity, support_unit) in &new_blockers {
            let (text, level, unit) = (cell(description), cell(severity), cell(support_unit));
            if text.is_empty() && level.is_empty() && unit.is_empty() {
                continue;
            }
            typed.push((severity, level.clone()));
            blockers.push(Blocker {
                description: text,
                severity: severity_from_cell(&level) as i32,
                support_unit: unit,
                ..Blocker::default()
            });
            blocker_columns.push(BlockerCells::New {
                description,
                severity,
                support_unit,
            });
        }
        if status.is_empty()
            && narrative.is_empty()
            && evidence.is_empty()
            && provisional.is_empty()
            && metric_values.is_empty()
            && milestone_updates.is_empty()
            && blockers.is_empty()
        {
            out.empty += 1;
            continue;
        }
        let report = Report {
            measure_number: measure.clone(),
            department: department.clone(),
            period: parse_period(&period),
            overall_status: status_from_cell(&status) as i32,
            narrative,
            metric_values,
            milestone_updates,
            blockers,
            evidence_links: evidence_links(&evidence),
            provisional: provisional_flag,
            ..Report::default()
        };
        out.filled.push(Row {
            number: r + 1,
            report_name: format!("{parent}/reports/{measure}~{department}~{period}"),
            item: SubmitReportsRequest {
                parent,
                report: Some(report),
                request_id: key(KEY_REQUEST_ID),
                // Declared for leadership's statistics of where reports come from (issue 16 §4),
                // whether the gateway's page or `duban report upload` sends the workbook.
                source: ReportSource::Workbook as i32,
                ..SubmitReportsRequest::default()
            },
            period,
            unreadable,
            status_column,
            narrative_column,
            evidence_column,
            provisional_column,
            value_columns,
            milestone_columns,
            blocker_columns,
            typed: typed.into_iter().filter(|(_, text)| !text.is_empty()).collect(),
            target_columns: targets.iter().map(|(code, c, _)| (code.clone(), *c)).collect(),
        });
    }
    Ok(out)
}

/// The highest new-blocker group the keys name, so that a workbook with more groups than this
/// version makes is read whole.
fn max_group(columns: &[Column]) -> u8 {
    columns
        .iter()
        .filter_map(|c| match c {
            Column::NewBlocker(n, _) => Some(*n),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

fn sheet(book: &mut Xlsx<Cursor<&[u8]>>, name: &str) -> Result<Range<Data>, WorkbookError> {
    if !book.sheet_names().iter().any(|n| n == name) {
        return Err(WorkbookError::NotATemplate(format!("it has no sheet {name}")));
    }
    book.worksheet_range(name)
        .map_err(|e| WorkbookError::Unreadable(e.to_string()))
}

/// What each column of the report sheet holds, from row 1 of the keys sheet.
fn column_keys(keys: &Range<Data>) -> Result<Vec<Column>, WorkbookError> {
    let width = keys.end().map_or(0, |(_, col)| col + 1);
    (0..width)
        .map(|c| {
            let key = cell_text(keys.get_value((0, c)));
            Column::from_key(&key)
                .ok_or_else(|| WorkbookError::NotATemplate(format!("its keys name an unknown column `{key}`")))
        })
        .collect()
}

/// A cell as text: a number as the shortest decimal that reads back as the same double (what Excel
/// shows for a typed number), text trimmed, an error as its code (`#VALUE!`).
fn cell_text(cell: Option<&Data>) -> String {
    match cell {
        None | Some(Data::Empty) => String::new(),
        Some(Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text)) => text.trim().to_owned(),
        Some(Data::Float(number)) => number.to_string(),
        Some(Data::Int(number)) => number.to_string(),
        Some(Data::Bool(flag)) => flag.to_string().to_uppercase(),
        Some(Data::DateTime(moment)) => moment.as_f64().to_string(),
        Some(Data::Error(error)) => error.to_string(),
    }
}

/// The first day Excel counts dates from (serial 0; serial 60 is the 29 February 1900 that never was,
/// which no plan's date comes near).
const EXCEL_EPOCH: (i32, u32, u32) = (1899, 12, 30);

/// A date cell: a date (Excel's day number) or text `YYYY-MM-DD`; empty is none. Anything else is the
/// invalid date 0000-00-00, which the server refuses naming the cell, rather than dropped here.
fn cell_date(cell: Option<&Data>) -> Option<Date> {
    let serial = |days: f64| {
        let (year, month, day) = EXCEL_EPOCH;
        let whole = days.floor();
        (0.0..1e6)
            .contains(&whole)
            .then(|| NaiveDate::from_ymd_opt(year, month, day)?.checked_add_days(Days::new(whole as u64)))
            .flatten()
    };
    let day = match cell? {
        Data::Empty => return None,
        Data::DateTime(moment) => serial(moment.as_f64()),
        Data::Float(days) => serial(*days),
        Data::Int(days) => serial(*days as f64),
        Data::String(text) | Data::DateTimeIso(text) => {
            let text = text.trim();
            if text.is_empty() {
                return None;
            }
            let day = text.get(..10).unwrap_or(text).replace('/', "-");
            NaiveDate::parse_from_str(&day, "%Y-%m-%d").ok()
        }
        Data::Bool(_) | Data::DurationIso(_) | Data::Error(_) => None,
    };
    Some(day.map_or_else(Date::default, date_to_proto))
}

/// `YYYY-MM` as a period; anything else is none, which the server refuses.
fn parse_period(text: &str) -> Option<Period> {
    let (year, month) = text.split_once('-')?;
    Some(Period {
        year: year.parse().ok()?,
        month: month.parse().ok()?,
    })
}

/// One link a line: the title, then the URL (`2023年12月签约清单 https://…`); a line without a URL is
/// sent with an empty one, which the server refuses naming the link.
fn evidence_links(text: &str) -> Vec<EvidenceLink> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let start = line.find("https://").or_else(|| line.find("http://"));
            let (title, url) = start.map_or((line, ""), |at| line.split_at(at));
            EvidenceLink {
                title: title
                    .trim_end_matches(|c: char| c.is_whitespace() || "|:：-–,，".contains(c))
                    .to_owned(),
                url: url.trim().to_owned(),
                sha256: String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use duban_proto::reporting::v1::{BlockerSeverity, OverallStatus};
    use rust_xlsxwriter::Workbook;

    use super::*;

    /// A workbook whose keys sheet names `columns` (by key) and whose row 2 holds `typed` (column,
    /// text), keyed to measure 4.1 of nanxiang-town in 2023-12.
    fn workbook(columns: &[&str], typed: &[(u16, &str)]) -> Vec<u8> {
        let mut book = Workbook::new();
        let sheet = book.add_worksheet().set_name(SHEET).unwrap();
        for (c, text) in typed {
            sheet.write_string(1, *c, *text).unwrap();
        }
        let keys = book.add_worksheet().set_name(KEYS_SHEET).unwrap();
        for (c, key) in columns.iter().enumerate() {
            keys.write_string(0, u16::try_from(c).unwrap(), *key).unwrap();
        }
        for (c, key) in ["plans/p", "4.1", "nanxiang-town", "2023-12", "request-1"]
            .iter()
            .enumerate()
        {
            keys.write_string(1, u16::try_from(c).unwrap(), *key).unwrap();
        }
        book.save_to_buffer().unwrap()
    }

    /// The columns of a template made before the provisional, note and blocker columns existed.
    const OLDER: [&str; 10] = [
        "measure",
        "title",
        "period",
        "state",
        "overall_status",
        "narrative",
        "evidence_links",
        "target:firms:QUANTITY_UNIT_ENTERPRISES:VALUE_BASIS_CUMULATIVE",
        "milestone_status:m1",
        "milestone_achieve_date:m1",
    ];

    #[test]
    fn an_older_template_still_reads() {
        let bytes = workbook(&OLDER, &[(4, "按计划推进 on track"), (7, "3"), (8, "推进中")]);
        let rows = read(&bytes).unwrap();
        let row = &rows.filled[0];
        let report = row.item.report.as_ref().unwrap();
        assert_eq!(report.overall_status, OverallStatus::OnTrack as i32);
        assert!(!report.provisional, "no provisional column: a final report");
        assert!(report.blockers.is_empty());
        assert_eq!(report.milestone_updates[0].note, "");
        assert_eq!(row.column_of("report.provisional"), None);
        assert_eq!(row.column_of("report.milestone_updates[0].note"), Some(8));
        assert!(row.unreadable.is_empty());
    }

    #[test]
    fn provisional_notes_and_blockers_are_read_and_traced_to_their_cells() {
        let mut columns = OLDER.to_vec();
        columns.extend([
            "milestone_note:m1",
            "provisional",
            "open_blockers",
            "resolve_blockers",
            "new_blocker:1:description",
            "new_blocker:1:severity",
            "new_blocker:1:support_unit",
            "new_blocker:2:description",
            "new_blocker:2:severity",
            "new_blocker:2:support_unit",
        ]);
        let bytes = workbook(
            &columns,
            &[
                (4, "存在风险 at risk"),
                (8, "延期 delayed"),
                (10, "审批延后，预计 1 月完成"),
                (11, "是 yes"),
                (12, "#1 旧问题（低 low）"),
                (13, "1, #3"),
                (17, "用地指标未落实"),
                (18, "很严重"),
                (19, "planning-resources-bureau"),
            ],
        );
        let row = &read(&bytes).unwrap().filled[0];
        let report = row.item.report.as_ref().unwrap();
        assert!(report.provisional);
        assert_eq!(report.milestone_updates[0].note, "审批延后，预计 1 月完成");
        let names: Vec<(&str, bool)> = report.blockers.iter().map(|b| (b.name.as_str(), b.resolve)).collect();
        assert_eq!(
            names,
            [
                ("plans/p/blockers/4.1~nanxiang-town~1", true),
                ("plans/p/blockers/4.1~nanxiang-town~3", true),
                ("", false)
            ],
            "the resolved first, then the raised; the empty first group is not sent"
        );
        let raised = &report.blockers[2];
        assert_eq!(raised.description, "用地指标未落实");
        assert_eq!(
            raised.severity,
            BlockerSeverity::Unspecified as i32,
            "not a severity of the list"
        );
        assert_eq!(raised.support_unit, "planning-resources-bureau");

        assert_eq!(row.column_of("report.provisional"), Some(11));
        assert_eq!(row.column_of("report.milestone_updates[0].note"), Some(10));
        assert_eq!(row.column_of("report.milestone_updates[0].status"), Some(8));
        assert_eq!(row.column_of("report.blockers[1].name"), Some(13));
        // The second group, the first left empty.
        assert_eq!(row.column_of("report.blockers[2].description"), Some(17));
        assert_eq!(row.column_of("report.blockers[2].severity"), Some(18));
        assert_eq!(row.column_of("report.blockers[2].support_unit"), Some(19));
        assert_eq!(row.column_of("report.blockers[3].severity"), None);
        assert_eq!(row.typed(18), Some("很严重"));
        assert_eq!(row.typed(13), Some("1, #3"));
    }

    #[test]
    fn a_provisional_flag_neither_yes_nor_no_is_refused_at_its_cell() {
        let mut columns = OLDER.to_vec();
        columns.push("provisional");
        let bytes = workbook(&columns, &[(4, "按计划推进 on track"), (10, "maybe")]);
        let row = &read(&bytes).unwrap().filled[0];
        assert_eq!(row.unreadable.len(), 1);
        assert_eq!(row.unreadable[0].0, 10);
        assert_eq!(row.unreadable[0].1, "report.provisional");
        assert_eq!(row.typed(10), Some("maybe"));
    }

    #[test]
    fn numbers_are_passed_on_as_typed() {
        assert_eq!(cell_text(Some(&Data::Float(4.47))), "4.47");
        assert_eq!(cell_text(Some(&Data::Float(3200.0))), "3200");
        assert_eq!(cell_text(Some(&Data::Float(1.234))), "1.234");
        assert_eq!(cell_text(Some(&Data::Int(12))), "12");
        assert_eq!(cell_text(Some(&Data::String(" 十二 ".into()))), "十二");
        assert_eq!(cell_text(None), "");
    }

    #[test]
    fn evidence_is_a_title_and_a_url_a_line() {
        let links = evidence_links("签约清单 https://example.org/a.pdf\n\n照片：http://example.org/p\n无链接");
        let pairs: Vec<(&str, &str)> = links.iter().map(|l| (l.title.as_str(), l.url.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("签约清单", "https://example.org/a.pdf"),
                ("照片", "http://example.org/p"),
                ("无链接", "")
            ]
        );
    }

    #[test]
    fn dates_are_day_numbers_or_text() {
        let day = |y, m, d| {
            Some(Date {
                year: y,
                month: m,
                day: d,
            })
        };
        assert_eq!(cell_date(Some(&Data::Float(45280.0))), day(2023, 12, 20));
        assert_eq!(cell_date(Some(&Data::String("2023-12-20".into()))), day(2023, 12, 20));
        assert_eq!(cell_date(Some(&Data::String("2023/12/20".into()))), day(2023, 12, 20));
        assert_eq!(cell_date(Some(&Data::String("soon".into()))), Some(Date::default()));
        assert_eq!(cell_date(Some(&Data::Empty)), None);
        assert_eq!(cell_date(None), None);
    }

    #[test]
    fn periods_are_year_and_month() {
        assert_eq!(parse_period("2023-12"), Some(Period { year: 2023, month: 12 }));
        assert_eq!(parse_period("December"), None);
    }
}
