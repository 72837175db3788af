//! The workbook a unit fills in for a period: one row per obligation, one column per target slot, the
//! cells to fill in unlocked and validated, the keys and request ids on a hidden sheet.

use std::collections::BTreeMap;

use duban_plan::contract::{date_label, period_label};
use duban_proto::{
    common::v1::{QuantityUnit, ValueBasis},
    reporting::v1::{Obligation, ObligationState, TemplateMilestone, TemplateSlot},
};
use rust_xlsxwriter::{
    Color, DataValidation, DataValidationErrorStyle, DataValidationRule, Format, FormatBorder, FormatPattern, Formula,
    ProtectionOptions, Workbook, Worksheet, XlsxError,
};

use super::{
    Column, FIXED_COLUMNS, KEYS_SHEET, MILESTONE_LABELS, SHEET, STATUS_LABELS, TargetKey, basis_label, column_letters,
    unit_label,
};

/// Why a template could not be written.
#[derive(Debug, thiserror::Error)]
#[error("the workbook could not be written: {0}")]
pub struct TemplateError(#[from] XlsxError);

/// The longest narrative the server takes (`Report.narrative`).
const MAX_NARRATIVE: u32 = 4000;

/// The .xlsx bytes of the workbook for `obligations` (ListObligations, one period, one department) of
/// the plan `parent` (`plans/{plan}`), each row headed by its measure's title from `titles` (number →
/// title). A fresh `request_id` is drawn for every row.
pub fn template(
    parent: &str,
    obligations: &[Obligation],
    titles: &BTreeMap<String, String>,
) -> Result<Vec<u8>, TemplateError> {
    let columns = columns(obligations);
    let mut book = Workbook::new();
    let formats = Formats::new();
    let sheet = book.add_worksheet();
    sheet.set_name(SHEET)?;
    write_header(sheet, &columns, &formats)?;
    for (i, obligation) in obligations.iter().enumerate() {
        let row = u32::try_from(i + 1).unwrap_or(u32::MAX);
        write_row(sheet, row, obligation, titles, &columns, &formats)?;
    }
    validate(sheet, &columns, obligations.len())?;
    sheet.set_freeze_panes(1, 2)?;
    sheet.protect_with_options(&ProtectionOptions {
        format_columns: true,
        format_rows: true,
        ..ProtectionOptions::default()
    });
    sheet.set_active(true);

    let keys = book.add_worksheet();
    keys.set_name(KEYS_SHEET)?;
    write_keys(keys, parent, obligations, &columns)?;
    keys.set_hidden(true);
    keys.protect();
    Ok(book.save_to_buffer()?)
}

/// A column of the report sheet, with what its header shows.
struct SheetColumn {
    column: Column,
    /// For a target column: its slot (unit, basis, decimal places).
    slot: Option<TemplateSlot>,
    /// For a milestone's columns: the milestone (its description).
    milestone: Option<TemplateMilestone>,
}

/// The fixed columns, then one per target slot of any obligation, with the slot (for its header), in
/// the order the obligations first name them, then two per milestone (status and achieve date).
fn columns(obligations: &[Obligation]) -> Vec<SheetColumn> {
    let plain = |column: Column| SheetColumn {
        column,
        slot: None,
        milestone: None,
    };
    let mut columns: Vec<SheetColumn> = FIXED_COLUMNS.iter().cloned().map(plain).collect();
    for slot in obligations
        .iter()
        .filter_map(|o| o.template.as_ref())
        .flat_map(|t| &t.slots)
    {
        let column = Column::Target(TargetKey {
            code: slot.target_code.clone(),
            unit: QuantityUnit::try_from(slot.unit).unwrap_or_default(),
            basis: ValueBasis::try_from(slot.basis).unwrap_or_default(),
        });
        if !columns.iter().any(|c| c.column == column) {
            columns.push(SheetColumn {
                column,
                slot: Some(slot.clone()),
                milestone: None,
            });
        }
    }
    for milestone in obligations
        .iter()
        .filter_map(|o| o.template.as_ref())
        .flat_map(|t| &t.milestones)
    {
        let status = Column::Milestone(milestone.code.clone());
        if !columns.iter().any(|c| c.column == status) {
            for column in [status, Column::AchieveDate(milestone.code.clone())] {
                columns.push(SheetColumn {
                    column,
                    slot: None,
                    milestone: Some(milestone.clone()),
                });
            }
        }
    }
    columns
}

struct Formats {
    header: Format,
    locked: Format,
    input: Format,
    input_date: Format,
    closed: Format,
}

impl Formats {
    fn new() -> Self {
        let header = Format::new()
            .set_bold()
            .set_text_wrap()
            .set_border(FormatBorder::Thin)
            .set_background_color(Color::RGB(0xD9E1F2));
        let locked = Format::new().set_text_wrap().set_border(FormatBorder::Thin);
        let input = Format::new()
            .set_unlocked()
            .set_text_wrap()
            .set_border(FormatBorder::Thin)
            .set_background_color(Color::RGB(0xFFF9DB));
        let input_date = input.clone().set_num_format("yyyy-mm-dd");
        let closed = Format::new()
            .set_border(FormatBorder::Thin)
            .set_pattern(FormatPattern::Gray125);
        Self {
            header,
            locked,
            input,
            input_date,
            closed,
        }
    }
}

fn col(index: usize) -> u16 {
    u16::try_from(index).unwrap_or(u16::MAX)
}

fn write_header(sheet: &mut Worksheet, columns: &[SheetColumn], formats: &Formats) -> Result<(), XlsxError> {
    for (
        i,
        SheetColumn {
            column,
            slot,
            milestone,
        },
    ) in columns.iter().enumerate()
    {
        let description = milestone.as_ref().map_or("", |m| m.description.as_str());
        let (text, width) = match (column, slot) {
            (Column::Measure, _) => ("措施\nmeasure".to_owned(), 9.0),
            (Column::Title, _) => ("措施内容\ntitle".to_owned(), 36.0),
            (Column::Period, _) => ("月份 · 截止日\nperiod · due".to_owned(), 14.0),
            (Column::State, _) => ("当前状态\nstate".to_owned(), 18.0),
            (Column::OverallStatus, _) => ("总体状态（必填）\noverall status (required)".to_owned(), 20.0),
            (Column::Narrative, _) => ("进展情况\nnarrative".to_owned(), 40.0),
            (Column::Evidence, _) => (
                "佐证材料（每行：标题 网址）\nevidence (a line each: title url)".to_owned(),
                34.0,
            ),
            (Column::Target(target), slot) => (slot_header(&target.code, slot.as_ref()), 22.0),
            (Column::Milestone(code), _) => (
                format!("里程碑状态 milestone status\n{code}\n{}", shortened(description)),
                24.0,
            ),
            (Column::AchieveDate(code), _) => (format!("达成日期 achieved on\n{code}"), 16.0),
        };
        sheet.write_string_with_format(0, col(i), text, &formats.header)?;
        sheet.set_column_width(col(i), width)?;
    }
    sheet.set_row_height(0, 64)?;
    Ok(())
}

/// A target column's header: the code, the unit, the value basis and the decimal places allowed.
fn slot_header(code: &str, slot: Option<&TemplateSlot>) -> String {
    let Some(slot) = slot else { return code.to_owned() };
    let unit = QuantityUnit::try_from(slot.unit).unwrap_or_default();
    let basis = ValueBasis::try_from(slot.basis).unwrap_or_default();
    let places = slot.decimal_places.unwrap_or(0);
    format!(
        "{code}\n{} · {}\n{places} 位小数 decimal places",
        unit_label(unit),
        basis_label(basis)
    )
}

/// A milestone's description, cut to fit a header.
fn shortened(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

fn state_text(obligation: &Obligation) -> String {
    use ObligationState as S;
    let state = match S::try_from(obligation.state).unwrap_or_default() {
        S::NotDue => "未到期 not due",
        S::Due => "待报送 due",
        S::Late => "已逾期 late",
        S::Submitted => "已报送 submitted",
        S::Accepted => "已通过 accepted",
        S::Returned => "已退回 returned",
        S::Unspecified => "",
    };
    if obligation.return_reason.is_empty() {
        state.to_owned()
    } else {
        format!("{state}：{}", obligation.return_reason)
    }
}

fn write_row(
    sheet: &mut Worksheet,
    row: u32,
    obligation: &Obligation,
    titles: &BTreeMap<String, String>,
    columns: &[SheetColumn],
    formats: &Formats,
) -> Result<(), XlsxError> {
    let milestones: Vec<&str> = obligation
        .template
        .iter()
        .flat_map(|t| &t.milestones)
        .map(|m| m.code.as_str())
        .collect();
    let slots: Vec<&str> = obligation
        .template
        .iter()
        .flat_map(|t| &t.slots)
        .map(|s| s.target_code.as_str())
        .collect();
    for (i, SheetColumn { column, .. }) in columns.iter().enumerate() {
        let c = col(i);
        match column {
            Column::Measure => {
                sheet.write_string_with_format(row, c, &obligation.measure_number, &formats.locked)?;
            }
            Column::Title => {
                let title = titles.get(&obligation.measure_number).map_or("", String::as_str);
                sheet.write_string_with_format(row, c, title, &formats.locked)?;
            }
            Column::Period => {
                let period = obligation.period.as_ref().map(period_label).unwrap_or_default();
                let due = obligation.due_date.as_ref().map(date_label).unwrap_or_default();
                sheet.write_string_with_format(row, c, format!("{period}\n截止 due {due}"), &formats.locked)?;
            }
            Column::State => {
                sheet.write_string_with_format(row, c, state_text(obligation), &formats.locked)?;
            }
            Column::OverallStatus | Column::Narrative | Column::Evidence => {
                sheet.write_blank(row, c, &formats.input)?;
            }
            Column::Target(target) if slots.contains(&target.code.as_str()) => {
                sheet.write_blank(row, c, &formats.input)?;
            }
            Column::Milestone(code) if milestones.contains(&code.as_str()) => {
                sheet.write_blank(row, c, &formats.input)?;
            }
            Column::AchieveDate(code) if milestones.contains(&code.as_str()) => {
                sheet.write_blank(row, c, &formats.input_date)?;
            }
            Column::Target(_) | Column::Milestone(_) | Column::AchieveDate(_) => {
                sheet.write_blank(row, c, &formats.closed)?;
            }
        }
    }
    Ok(())
}

/// Data validation of every input column, on rows 2 to `rows + 1`: the status from its list, the
/// narrative's length, each value a number, not negative, with at most its slot's decimal places, a
/// milestone's status from its list and its achieve date a date. Excel enforces these as the clerk
/// types; the server checks everything again on upload.
fn validate(sheet: &mut Worksheet, columns: &[SheetColumn], rows: usize) -> Result<(), XlsxError> {
    if rows == 0 {
        return Ok(());
    }
    let last = u32::try_from(rows).unwrap_or(u32::MAX);
    for (i, SheetColumn { column, slot, .. }) in columns.iter().enumerate() {
        let c = col(i);
        let validation = match column {
            Column::OverallStatus => {
                let labels: Vec<&str> = STATUS_LABELS.iter().map(|(_, label)| *label).collect();
                DataValidation::new()
                    .allow_list_strings(&labels)?
                    .set_error_message("请从列表中选择 / choose from the list")?
            }
            Column::Narrative => DataValidation::new()
                .allow_text_length(DataValidationRule::LessThanOrEqualTo(MAX_NARRATIVE))
                .set_error_message("最多 4000 字 / at most 4000 characters")?,
            Column::Target(_) => {
                let places = slot.as_ref().and_then(|s| s.decimal_places).unwrap_or(0);
                let cell = format!("{}2", column_letters(c));
                DataValidation::new()
                    .allow_custom(Formula::new(format!(
                        "=AND(ISNUMBER({cell}),{cell}>=0,ROUND({cell},{places})={cell})"
                    )))
                    .set_error_message(format!(
                        "请输入不小于 0 的数字，最多 {places} 位小数 / a number, not negative, with at most {places} \
                         decimal places"
                    ))?
            }
            Column::Milestone(_) => {
                let labels: Vec<&str> = MILESTONE_LABELS.iter().map(|(_, label)| *label).collect();
                DataValidation::new()
                    .allow_list_strings(&labels)?
                    .set_error_message("请从列表中选择 / choose from the list")?
            }
            Column::AchieveDate(_) => {
                // A date is a number to Excel.
                let cell = format!("{}2", column_letters(c));
                DataValidation::new()
                    .allow_custom(Formula::new(format!("=ISNUMBER({cell})")))
                    .set_error_message("请输入日期，如 2023-12-20 / a date, for example 2023-12-20")?
            }
            _ => continue,
        };
        let validation = validation.set_error_style(DataValidationErrorStyle::Stop);
        sheet.add_data_validation(1, c, last, c, &validation)?;
    }
    Ok(())
}

/// The keys sheet: row 1 names each column of the report sheet; each later row carries the plan,
/// measure, department, period and a fresh request id of the report sheet's row of the same number.
fn write_keys(
    keys: &mut Worksheet,
    parent: &str,
    obligations: &[Obligation],
    columns: &[SheetColumn],
) -> Result<(), XlsxError> {
    for (i, SheetColumn { column, .. }) in columns.iter().enumerate() {
        keys.write_string(0, col(i), column.key())?;
    }
    for (i, obligation) in obligations.iter().enumerate() {
        let row = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let period = obligation.period.as_ref().map(period_label).unwrap_or_default();
        let request_id = uuid::Uuid::new_v4().to_string();
        for (c, value) in [
            parent,
            obligation.measure_number.as_str(),
            obligation.department.as_str(),
            period.as_str(),
            request_id.as_str(),
        ]
        .into_iter()
        .enumerate()
        {
            keys.write_string(row, col(c), value)?;
        }
    }
    Ok(())
}
