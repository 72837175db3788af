//! A unit's workbook filled in, as a clerk fills the template the gateway hands out
//! (`/my/template.xlsx`, `duban_gateway::workbook`): the value cells of the rows the demo revises,
//! found by the column keys on row 1 of the hidden keys sheet ([`Column::key`]), everything else
//! left as it came.
//!
//! The workbook is read with calamine and written again with rust_xlsxwriter, both already built
//! for the gateway: every cell of both sheets is copied with its value and type, the keys sheet
//! stays hidden and protected, and the filled cells are typed as a clerk types them (numbers as
//! numbers, statuses as the list's labels, days as `YYYY-MM-DD`). What is not copied is what the
//! upload never reads: cell styles, data validation and the report sheet's protection. Columns
//! the demo does not know (added to the template later) are copied and left empty.

use std::{collections::BTreeMap, io::Cursor};

use calamine::{Data, Range, Reader, Xlsx};
use duban_gateway::workbook::{Column, KEYS_SHEET, MILESTONE_LABELS, SHEET, STATUS_LABELS};
use duban_proto::reporting::v1::{MilestoneStatus, OverallStatus};
use rust_xlsxwriter::{Workbook, Worksheet, XlsxError};

/// The column of the keys sheet that holds a row's measure number (after the plan; see
/// `duban_gateway::workbook`'s layout: plan, measure, department, period, request id).
const KEY_MEASURE: u32 = 1;

/// Why a workbook could not be filled in.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FillError {
    /// The gateway's answer is not a readable workbook, or lacks a sheet.
    #[error("the workbook from the gateway cannot be read: {0}")]
    Unreadable(String),
    /// A column the demo fills is not in the workbook.
    #[error("the workbook has no column {0} (row 1 of its keys sheet)")]
    NoColumn(String),
    /// A revised report has no row in the workbook.
    #[error("the workbook has no row for measure {0}")]
    NoRow(String),
    /// rust_xlsxwriter refused to write it.
    #[error("the filled-in workbook could not be written: {0}")]
    Write(#[from] XlsxError),
}

/// What the clerk types into one row (one obligation, by measure).
#[derive(Debug, Clone, Default)]
pub(crate) struct RowFill {
    /// The overall status.
    pub(crate) status: OverallStatus,
    /// The narrative.
    pub(crate) narrative: String,
    /// Evidence links, title and URL.
    pub(crate) evidence: Vec<(String, String)>,
    /// Values by target code, as decimal text.
    pub(crate) values: Vec<(String, String)>,
    /// Milestones by code: status, and the day achieved (`YYYY-MM-DD`) if any.
    pub(crate) milestones: Vec<(String, MilestoneStatus, Option<String>)>,
}

/// `template` (the gateway's .xlsx) with the rows of `fills` (by measure number) filled in.
pub(crate) fn fill(template: &[u8], fills: &BTreeMap<String, RowFill>) -> Result<Vec<u8>, FillError> {
    let mut book = Xlsx::new(Cursor::new(template)).map_err(|e| FillError::Unreadable(e.to_string()))?;
    let mut range = |name: &str| {
        book.worksheet_range(name)
            .map_err(|e| FillError::Unreadable(format!("sheet {name}: {e}")))
    };
    let (report_sheet, keys) = (range(SHEET)?, range(KEYS_SHEET)?);
    let cell_text = |range: &Range<Data>, row: u32, col: u32| match range.get_value((row, col)) {
        Some(Data::String(text)) => text.trim().to_owned(),
        _ => String::new(),
    };
    // What each column holds, by the key on row 1 of the keys sheet.
    let width = keys.end().map_or(0, |(_, col)| col + 1);
    let columns: Vec<Option<Column>> = (0..width).map(|c| Column::from_key(&cell_text(&keys, 0, c))).collect();
    let column = |wanted: &dyn Fn(&Column) -> bool, label: &str| {
        columns
            .iter()
            .position(|c| c.as_ref().is_some_and(wanted))
            .map(|i| u16::try_from(i).unwrap_or(u16::MAX))
            .ok_or_else(|| FillError::NoColumn(label.to_owned()))
    };
    let status_column = column(&|c| *c == Column::OverallStatus, "overall_status")?;
    let narrative_column = column(&|c| *c == Column::Narrative, "narrative")?;
    let evidence_column = column(&|c| *c == Column::Evidence, "evidence_links")?;
    // The report sheet's row of each measure, from the keys sheet's rows (same numbers).
    let last = keys.end().map_or(0, |(row, _)| row);
    let rows: BTreeMap<String, u32> = (1..=last)
        .map(|r| (cell_text(&keys, r, KEY_MEASURE), r))
        .filter(|(measure, _)| !measure.is_empty())
        .collect();

    let mut out = Workbook::new();
    let sheet = out.add_worksheet();
    sheet.set_name(SHEET)?;
    copy(&report_sheet, sheet)?;
    for (measure, fill) in fills {
        let row = *rows.get(measure).ok_or_else(|| FillError::NoRow(measure.clone()))?;
        let status = STATUS_LABELS
            .iter()
            .find(|(status, _)| *status == fill.status)
            .map_or("", |(_, label)| label);
        sheet.write_string(row, status_column, status)?;
        sheet.write_string(row, narrative_column, &fill.narrative)?;
        let evidence: Vec<String> = fill
            .evidence
            .iter()
            .map(|(title, url)| format!("{title} {url}"))
            .collect();
        if !evidence.is_empty() {
            sheet.write_string(row, evidence_column, evidence.join("\n"))?;
        }
        for (code, value) in &fill.values {
            let c = column(
                &|c| matches!(c, Column::Target(target) if target.code == *code),
                &format!("target:{code}"),
            )?;
            // Typed as a number, as in Excel; text only if it is not one (the server judges it).
            match value.parse::<f64>() {
                Ok(number) => sheet.write_number(row, c, number)?,
                Err(_) => sheet.write_string(row, c, value)?,
            };
        }
        for (code, status, achieved) in &fill.milestones {
            let status_column = column(
                &|c| matches!(c, Column::Milestone(m) if m == code),
                &format!("milestone_status:{code}"),
            )?;
            let label = MILESTONE_LABELS
                .iter()
                .find(|(s, _)| s == status)
                .map_or("", |(_, label)| label);
            sheet.write_string(row, status_column, label)?;
            if let Some(day) = achieved {
                let date_column = column(
                    &|c| matches!(c, Column::AchieveDate(m) if m == code),
                    &format!("milestone_achieve_date:{code}"),
                )?;
                sheet.write_string(row, date_column, day)?;
            }
        }
    }
    sheet.set_active(true);
    let keys_sheet = out.add_worksheet();
    keys_sheet.set_name(KEYS_SHEET)?;
    copy(&keys, keys_sheet)?;
    keys_sheet.set_hidden(true);
    keys_sheet.protect();
    Ok(out.save_to_buffer()?)
}

/// Every cell of `range` into `sheet`, at the same place, with its value and type.
fn copy(range: &Range<Data>, sheet: &mut Worksheet) -> Result<(), XlsxError> {
    let (top, left) = range.start().unwrap_or((0, 0));
    for (r, c, value) in range.used_cells() {
        let row = top + u32::try_from(r).unwrap_or(u32::MAX);
        let col = u16::try_from(left as usize + c).unwrap_or(u16::MAX);
        match value {
            Data::Empty => {}
            Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text) => {
                sheet.write_string(row, col, text)?;
            }
            Data::Float(number) => {
                sheet.write_number(row, col, *number)?;
            }
            Data::Int(number) => {
                sheet.write_number(row, col, *number as f64)?;
            }
            Data::Bool(flag) => {
                sheet.write_boolean(row, col, *flag)?;
            }
            Data::DateTime(moment) => {
                sheet.write_number(row, col, moment.as_f64())?;
            }
            Data::Error(error) => {
                sheet.write_string(row, col, error.to_string())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use duban_proto::{
        common::v1::{Period, QuantityUnit, ValueBasis},
        reporting::v1::{Obligation, ReportSource, ReportTemplate, TemplateMilestone, TemplateSlot},
    };

    use super::*;

    fn obligation(measure: &str, slots: &[&str], milestones: &[&str]) -> Obligation {
        Obligation {
            measure_number: measure.into(),
            department: "anting-town".into(),
            period: Some(Period { year: 2023, month: 12 }),
            template: Some(ReportTemplate {
                slots: slots
                    .iter()
                    .map(|code| TemplateSlot {
                        target_code: (*code).into(),
                        unit: QuantityUnit::Enterprises as i32,
                        basis: ValueBasis::Cumulative as i32,
                        decimal_places: Some(0),
                        required: true,
                        ..Default::default()
                    })
                    .collect(),
                milestones: milestones
                    .iter()
                    .map(|code| TemplateMilestone {
                        code: (*code).into(),
                        description: "节点".into(),
                        ..Default::default()
                    })
                    .collect(),
                open_blockers: vec![],
            }),
            ..Default::default()
        }
    }

    /// The gateway's own template, filled here, reads back (with the gateway's own reader) as the
    /// rows filled in, each with its request id; the row left alone stays empty.
    #[test]
    fn a_filled_template_reads_back_as_the_rows_filled_in() {
        let obligations = [
            obligation("4.1", &["new-enterprises"], &[]),
            obligation("3.2", &[], &["promotion"]),
            obligation("5.1", &["new-enterprises"], &[]),
        ];
        let titles = BTreeMap::from([("4.1".to_owned(), "招商".to_owned())]);
        let template = duban_gateway::workbook::template("plans/p", &obligations, &titles).unwrap();
        let fills = BTreeMap::from([
            (
                "4.1".to_owned(),
                RowFill {
                    status: OverallStatus::OnTrack,
                    narrative: "正式数据".into(),
                    evidence: vec![("清单".into(), "https://example.org/a.pdf".into())],
                    values: vec![("new-enterprises".into(), "3250".into())],
                    milestones: vec![],
                },
            ),
            (
                "3.2".to_owned(),
                RowFill {
                    status: OverallStatus::Completed,
                    narrative: "完成".into(),
                    milestones: vec![("promotion".into(), MilestoneStatus::Achieved, Some("2023-12-20".into()))],
                    ..Default::default()
                },
            ),
        ]);
        let filled = fill(&template, &fills).unwrap();
        let rows = duban_gateway::workbook::read(&filled).unwrap();
        assert_eq!(rows.empty, 1, "5.1 was left alone");
        assert_eq!(rows.filled.len(), 2);
        let first = rows.filled[0].item.report.clone().unwrap();
        assert_eq!(first.measure_number, "4.1");
        assert_eq!(first.department, "anting-town");
        assert_eq!(first.overall_status(), OverallStatus::OnTrack);
        assert_eq!(first.narrative, "正式数据");
        assert_eq!(first.metric_values[0].value.as_ref().unwrap().value, "3250");
        assert_eq!(first.metric_values[0].unit(), QuantityUnit::Enterprises);
        assert_eq!(first.evidence_links[0].url, "https://example.org/a.pdf");
        assert_eq!(rows.filled[0].item.source(), ReportSource::Workbook);
        assert!(
            !rows.filled[0].item.request_id.is_empty(),
            "the template's request id is kept"
        );
        let second = rows.filled[1].item.report.clone().unwrap();
        assert_eq!(second.milestone_updates[0].milestone_code, "promotion");
        assert_eq!(second.milestone_updates[0].status(), MilestoneStatus::Achieved);
        assert_eq!(second.milestone_updates[0].achieve_date.unwrap().day, 20);

        assert!(matches!(
            fill(&template, &BTreeMap::from([("9.9".to_owned(), RowFill::default())])),
            Err(FillError::NoRow(_))
        ));
        let unknown_target = RowFill {
            values: vec![("nope".into(), "1".into())],
            ..Default::default()
        };
        assert!(matches!(
            fill(&template, &BTreeMap::from([("4.1".to_owned(), unknown_target)])),
            Err(FillError::NoColumn(_))
        ));
    }
}
