//! A filled-in workbook read back into SubmitReports items, with calamine: every cell is passed on as
//! the clerk typed it (a number as its shortest decimal text, text as text), for the server to judge.

use std::io::Cursor;

use calamine::{Data, Range, Reader, Xlsx};
use chrono::{Days, NaiveDate};
use duban_plan::contract::date_to_proto;
use duban_proto::{
    common::v1::{Date, Decimal, Period},
    reporting::v1::{EvidenceLink, MetricValue, MilestoneUpdate, Report, ReportSource, SubmitReportsRequest},
};

use super::{Column, KEYS_SHEET, MAX_ROWS, SHEET, WorkbookError, milestone_status_from_cell, status_from_cell};

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
    status_column: u16,
    narrative_column: u16,
    evidence_column: u16,
    /// The column of each metric value sent, in the order sent, with its target code.
    value_columns: Vec<(String, u16)>,
    /// The column of every target of the sheet, by code.
    target_columns: Vec<(String, u16)>,
    /// The status and achieve-date columns of each milestone update sent, in the order sent.
    milestone_columns: Vec<(u16, u16)>,
    /// What was typed in the short cells sent (statuses and values), by column, to show beside an error.
    typed: Vec<(u16, String)>,
}

impl Row {
    /// The 0-based column of the cell a field violation of this row's item names
    /// (`report.metric_values[1].value`, `report.metric_values[new-enterprises]`,
    /// `report.evidence_links[0].url`, `report.overall_status` …); `None` for a field no cell holds
    /// (the measure, period or department come from the hidden keys).
    /// What was typed in the status or value cell of `column`, if anything.
    pub fn typed(&self, column: u16) -> Option<&str> {
        self.typed
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, text)| text.as_str())
    }

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
        if let Some(rest) = path.strip_prefix("milestone_updates[") {
            let (index, field) = rest.split_once(']')?;
            let (status, date) = *self.milestone_columns.get(index.parse::<usize>().ok()?)?;
            return Some(if field.starts_with(".achieve_date") {
                date
            } else {
                status
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

/// Reads the workbook `bytes` made by [`super::template`] and filled in.
pub fn read(bytes: &[u8]) -> Result<Rows, WorkbookError> {
    let mut book = Xlsx::new(Cursor::new(bytes)).map_err(|e| WorkbookError::Unreadable(e.to_string()))?;
    let keys = sheet(&mut book, KEYS_SHEET)?;
    let sheet = sheet(&mut book, SHEET)?;
    let columns = column_keys(&keys)?;
    let position = |wanted: &Column| {
        columns
            .iter()
            .position(|c| c == wanted)
            .and_then(|i| u16::try_from(i).ok())
            .ok_or_else(|| WorkbookError::NotATemplate(format!("no {} column", wanted.key())))
    };
    let status_column = position(&Column::OverallStatus)?;
    let narrative_column = position(&Column::Narrative)?;
    let evidence_column = position(&Column::Evidence)?;
    let targets: Vec<(String, u16, &super::TargetKey)> = columns
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match c {
            Column::Target(target) => Some((target.code.clone(), u16::try_from(i).ok()?, target)),
            _ => None,
        })
        .collect();
    // Each milestone's status column, with its achieve-date column.
    let milestones: Vec<(String, u16, u16)> = columns
        .iter()
        .filter_map(|c| match c {
            Column::Milestone(code) => {
                let status = position(c).ok()?;
                let date = position(&Column::AchieveDate(code.clone())).ok()?;
                Some((code.clone(), status, date))
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
        let cell = |c: u16| cell_text(sheet.get_value((r, u32::from(c))));
        let status = cell(status_column);
        let narrative = cell(narrative_column);
        let evidence = cell(evidence_column);
        let mut typed = vec![(status_column, status.clone())];
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
        for (code, status_column, date_column) in &milestones {
            let status = cell(*status_column);
            let achieve_date = cell_date(sheet.get_value((r, u32::from(*date_column))));
            if status.is_empty() && achieve_date.is_none() {
                continue;
            }
            typed.push((*status_column, status.clone()));
            milestone_updates.push(MilestoneUpdate {
                milestone_code: code.clone(),
                status: milestone_status_from_cell(&status) as i32,
                achieve_date,
                ..MilestoneUpdate::default()
            });
            milestone_columns.push((*status_column, *date_column));
        }
        if status.is_empty()
            && narrative.is_empty()
            && evidence.is_empty()
            && metric_values.is_empty()
            && milestone_updates.is_empty()
        {
            out.empty += 1;
            continue;
        }
        let (measure, department, period) = (key(KEY_MEASURE), key(KEY_DEPARTMENT), key(KEY_PERIOD));
        let report = Report {
            measure_number: measure.clone(),
            department: department.clone(),
            period: parse_period(&period),
            overall_status: status_from_cell(&status) as i32,
            narrative,
            metric_values,
            milestone_updates,
            evidence_links: evidence_links(&evidence),
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
            status_column,
            narrative_column,
            evidence_column,
            value_columns,
            milestone_columns,
            typed: typed.into_iter().filter(|(_, text)| !text.is_empty()).collect(),
            target_columns: targets.iter().map(|(code, c, _)| (code.clone(), *c)).collect(),
        });
    }
    Ok(out)
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
    use super::*;

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
