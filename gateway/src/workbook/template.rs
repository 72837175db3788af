//! The workbook a unit fills in for a period: one row per obligation, one column per target slot, three
//! per milestone, the blocker columns last, the cells to fill in unlocked and validated, the keys and
//! request ids on a hidden sheet.

use std::collections::BTreeMap;

use duban_plan::contract::{date_label, period_label};
use duban_proto::{
    common::v1::{QuantityUnit, ValueBasis},
    reporting::v1::{BlockerSeverity, Obligation, ObligationState, TemplateMilestone, TemplateSlot},
};
use rust_xlsxwriter::{
    Color, DataValidation, DataValidationErrorStyle, DataValidationRule, Format, FormatBorder, FormatPattern, Formula,
    ProtectionOptions, Workbook, Worksheet, XlsxError,
};

use super::{
    BlockerPart, Column, FIXED_COLUMNS, KEYS_SHEET, MILESTONE_LABELS, PROVISIONAL_LABELS, SEVERITY_LABELS, SHEET,
    STATUS_LABELS, TargetKey, basis_label, blocker_columns, blocker_number, column_letters, unit_label,
};

/// Why a template could not be written.
#[derive(Debug, thiserror::Error)]
#[error("the workbook could not be written: {0}")]
pub struct TemplateError(#[from] XlsxError);

/// The longest narrative the server takes (`Report.narrative`).
const MAX_NARRATIVE: u32 = 4000;
/// The longest milestone note and blocker description the server takes.
const MAX_NOTE: u32 = 1000;
/// The longest department code a support-unit cell takes (codes are short slugs; the server checks
/// the directory).
const MAX_UNIT_CODE: u32 = 100;

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
/// the order the obligations first name them, then three per milestone (status, achieve date, note),
/// then the blocker columns.
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
            for column in [
                status,
                Column::AchieveDate(milestone.code.clone()),
                Column::MilestoneNote(milestone.code.clone()),
            ] {
                columns.push(SheetColumn {
                    column,
                    slot: None,
                    milestone: Some(milestone.clone()),
                });
            }
        }
    }
    columns.extend(blocker_columns().into_iter().map(plain));
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
            (Column::MilestoneNote(code), _) => (format!("里程碑说明 milestone note\n{code}"), 28.0),
            (Column::Provisional, _) => ("是否快报（空为正式）\nprovisional (empty: final)".to_owned(), 14.0),
            (Column::OpenBlockers, _) => ("未解决的阻碍（编号）\nopen blockers (number)".to_owned(), 30.0),
            (Column::ResolveBlockers, _) => (
                "解决阻碍：填编号，如 1, 3\nresolve: their numbers, e.g. 1, 3".to_owned(),
                18.0,
            ),
            (Column::NewBlocker(n, BlockerPart::Description), _) => {
                (format!("新阻碍 {n}：问题描述\nnew blocker {n}: description"), 30.0)
            }
            (Column::NewBlocker(n, BlockerPart::Severity), _) => {
                (format!("新阻碍 {n}：严重程度\nnew blocker {n}: severity"), 14.0)
            }
            (Column::NewBlocker(n, BlockerPart::SupportUnit), _) => (
                format!("新阻碍 {n}：协办单位代码（可空）\nnew blocker {n}: support unit code (optional)"),
                22.0,
            ),
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

/// The obligation's open blockers, a line each: `#2 用地指标未落实（高 high） → planning-resources-bureau`.
fn open_blockers_text(obligation: &Obligation) -> String {
    obligation
        .template
        .iter()
        .flat_map(|t| &t.open_blockers)
        .map(|blocker| {
            let severity = BlockerSeverity::try_from(blocker.severity).unwrap_or_default();
            let severity = SEVERITY_LABELS
                .iter()
                .find(|(s, _)| *s == severity)
                .map_or("", |(_, label)| label);
            let support = if blocker.support_unit.is_empty() {
                String::new()
            } else {
                format!(" → {}", blocker.support_unit)
            };
            format!(
                "#{} {}（{severity}）{support}",
                blocker_number(&blocker.name),
                blocker.description
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
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
    let has_open_blockers = obligation
        .template
        .as_ref()
        .is_some_and(|t| !t.open_blockers.is_empty());
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
            Column::OverallStatus
            | Column::Narrative
            | Column::Evidence
            | Column::Provisional
            | Column::NewBlocker(..) => {
                sheet.write_blank(row, c, &formats.input)?;
            }
            Column::OpenBlockers => {
                sheet.write_string_with_format(row, c, open_blockers_text(obligation), &formats.locked)?;
            }
            Column::ResolveBlockers if has_open_blockers => {
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
            Column::MilestoneNote(code) if milestones.contains(&code.as_str()) => {
                sheet.write_blank(row, c, &formats.input)?;
            }
            Column::Target(_)
            | Column::Milestone(_)
            | Column::AchieveDate(_)
            | Column::MilestoneNote(_)
            | Column::ResolveBlockers => {
                sheet.write_blank(row, c, &formats.closed)?;
            }
        }
    }
    Ok(())
}

/// Data validation of every input column, on rows 2 to `rows + 1`: the status and the provisional flag
/// from their lists, the narrative's length, each value a number, not negative, with at most its
/// slot's decimal places, a milestone's status from its list, its achieve date a date and its note's
/// length, the blockers to resolve as numbers, and a new blocker's description length, its severity
/// from its list and its support unit a code without spaces. Excel enforces these as the clerk types;
/// the server checks everything again on upload.
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
            Column::Provisional => {
                let labels: Vec<&str> = PROVISIONAL_LABELS.iter().map(|(_, label)| *label).collect();
                DataValidation::new().allow_list_strings(&labels)?.set_error_message(
                    "请从列表中选择，正式报送请留空 / choose from the list, or leave empty for final",
                )?
            }
            Column::MilestoneNote(_) | Column::NewBlocker(_, BlockerPart::Description) => DataValidation::new()
                .allow_text_length(DataValidationRule::LessThanOrEqualTo(MAX_NOTE))
                .set_error_message("最多 1000 字 / at most 1000 characters")?,
            Column::NewBlocker(_, BlockerPart::Severity) => {
                let labels: Vec<&str> = SEVERITY_LABELS.iter().map(|(_, label)| *label).collect();
                DataValidation::new()
                    .allow_list_strings(&labels)?
                    .set_error_message("请从列表中选择 / choose from the list")?
            }
            Column::NewBlocker(_, BlockerPart::SupportUnit) => {
                let cell = format!("{}2", column_letters(c));
                DataValidation::new()
                    .allow_custom(Formula::new(format!(
                        "=AND(LEN({cell})<={MAX_UNIT_CODE},ISERROR(FIND(\" \",{cell})))"
                    )))
                    .set_error_message(
                        "请填写单位代码（不含空格），如 planning-resources-bureau / a unit's code without spaces, \
                         for example planning-resources-bureau",
                    )?
            }
            Column::ResolveBlockers => {
                // Every character a digit, `#` or a separator: a number typed alone is a number to
                // Excel, whose text is its digits.
                let cell = format!("{}2", column_letters(c));
                DataValidation::new()
                    .allow_custom(Formula::new(format!(
                        "=SUMPRODUCT(--ISERROR(FIND(MID({cell},ROW(INDIRECT(\"1:\"&LEN({cell}))),1),\
                         \"0123456789#, ，、;；\")))=0"
                    )))
                    .set_error_message(
                        "请填写左侧未解决阻碍的编号，如 1, 3 / the numbers of open blockers, e.g. 1, 3",
                    )?
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

#[cfg(test)]
mod tests {
    use duban_proto::reporting::v1::{Blocker, ReportTemplate};

    use super::*;

    fn obligation(measure: &str, milestone: Option<&str>, open_blocker: Option<&str>) -> Obligation {
        Obligation {
            measure_number: measure.into(),
            department: "nanxiang-town".into(),
            template: Some(ReportTemplate {
                milestones: milestone
                    .map(|code| TemplateMilestone {
                        code: code.into(),
                        ..TemplateMilestone::default()
                    })
                    .into_iter()
                    .collect(),
                open_blockers: open_blocker
                    .map(|name| Blocker {
                        name: name.into(),
                        description: "用地指标未落实".into(),
                        severity: BlockerSeverity::High as i32,
                        support_unit: "planning-resources-bureau".into(),
                        ..Blocker::default()
                    })
                    .into_iter()
                    .collect(),
                ..ReportTemplate::default()
            }),
            ..Obligation::default()
        }
    }

    #[test]
    fn the_columns_end_with_the_milestones_then_the_blockers() {
        let keys: Vec<String> = columns(&[obligation("4.1", Some("m1"), None)])
            .iter()
            .map(|c| c.column.key())
            .collect();
        assert_eq!(
            keys[7..],
            [
                "provisional",
                "milestone_status:m1",
                "milestone_achieve_date:m1",
                "milestone_note:m1",
                "open_blockers",
                "resolve_blockers",
                "new_blocker:1:description",
                "new_blocker:1:severity",
                "new_blocker:1:support_unit",
                "new_blocker:2:description",
                "new_blocker:2:severity",
                "new_blocker:2:support_unit",
            ]
        );
    }

    #[test]
    fn open_blockers_are_listed_by_number() {
        let text = open_blockers_text(&obligation("4.1", None, Some("plans/p/blockers/4.1~nanxiang-town~2")));
        assert_eq!(text, "#2 用地指标未落实（高 high） → planning-resources-bureau");
        assert_eq!(open_blockers_text(&obligation("4.1", None, None)), "");
    }

    #[test]
    fn an_untouched_template_reads_back_as_empty_rows() {
        let obligations = [
            obligation("4.1", Some("m1"), Some("plans/p/blockers/4.1~nanxiang-town~1")),
            obligation("4.2", None, None),
        ];
        let bytes = template("plans/p", &obligations, &BTreeMap::new()).unwrap();
        let rows = super::super::read(&bytes).unwrap();
        assert!(rows.filled.is_empty(), "{:?}", rows.filled);
        assert_eq!(rows.empty, 2);
    }
}
