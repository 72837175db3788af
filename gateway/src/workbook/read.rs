//! A filled-in workbook read back into SubmitReports items, with calamine: every cell is passed on as
//! the clerk typed it (a number as its shortest decimal text, text as text), for the server to judge.

use std::io::Cursor;

use calamine::{Data, Range, Reader, Xlsx};
use duban_proto::{
    common::v1::{Decimal, Period},
    reporting::v1::{EvidenceLink, MetricValue, Report, SubmitReportsRequest},
};

use super::{Column, KEYS_SHEET, MAX_ROWS, SHEET, WorkbookError, status_from_cell};

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
}

impl Row {
    /// The 0-based column of the cell a field violation of this row's item names
    /// (`report.metric_values[1].value`, `report.metric_values[new-enterprises]`,
    /// `report.evidence_links[0].url`, `report.overall_status` …); `None` for a field no cell holds
    /// (the measure, period or department come from the hidden keys).
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
        let mut metric_values = Vec::new();
        let mut value_columns = Vec::new();
        for (code, c, target) in &targets {
            let value = cell(*c);
            if value.is_empty() {
                continue;
            }
            metric_values.push(MetricValue {
                target_code: code.clone(),
                value: Some(Decimal { value }),
                unit: target.unit as i32,
                basis: target.basis as i32,
            });
            value_columns.push((code.clone(), *c));
        }
        if status.is_empty() && narrative.is_empty() && evidence.is_empty() && metric_values.is_empty() {
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
                ..SubmitReportsRequest::default()
            },
            period,
            status_column,
            narrative_column,
            evidence_column,
            value_columns,
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
    fn periods_are_year_and_month() {
        assert_eq!(parse_period("2023-12"), Some(Period { year: 2023, month: 12 }));
        assert_eq!(parse_period("December"), None);
    }
}
