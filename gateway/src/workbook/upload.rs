//! A read workbook sent to the reporting server with SubmitReports, as the uploader (their own token),
//! and the answer told row by row: stored, unchanged (the row's request id was used before: a replay
//! that stores nothing), or refused, with each field violation at the cell it names.

use duban_kit::client::ServiceChannel;
use duban_proto::reporting::v1::{
    GetReportRequest, SubmitReportsResponse, reporting_service_client::ReportingServiceClient,
    submit_reports_result::Outcome as ItemOutcome,
};
use tonic_types::RpcStatusExt;

use super::{Row, Rows, SHEET, column_letters};

/// Where a refused row went wrong and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellError {
    /// The cell, `报送!H3`, or the whole row, `报送!3:3`, when the problem is no one cell's (the
    /// row's keys name a department the uploader may not report for).
    pub cell: String,
    /// The field the server named (`report.metric_values[0].value`); empty for a refusal of the row.
    pub field: String,
    /// The server's description (English), with what the cell held.
    pub message: String,
    /// The same in Chinese where the server gave it (its `localized_message`), for the
    /// upload page in Chinese.
    pub message_zh: Option<String>,
}

impl CellError {
    /// The message for a reader of Chinese (`zh`) or English: Chinese where there is one.
    pub fn text(&self, zh: bool) -> &str {
        match (&self.message_zh, zh) {
            (Some(text), true) => text,
            _ => &self.message,
        }
    }
}

/// What happened to one filled-in row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored as this new revision.
    Stored {
        /// The revision number.
        revision: i32,
    },
    /// Stored before, by an earlier upload of the same workbook: nothing new was stored.
    Unchanged {
        /// The revision that upload stored.
        revision: i32,
    },
    /// Refused; nothing stored.
    Failed(Vec<CellError>),
}

/// One filled-in row's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowResult {
    /// The row's number in the sheet.
    pub row: u32,
    /// The measure number.
    pub measure: String,
    /// The period, `YYYY-MM`.
    pub period: String,
    /// What happened.
    pub outcome: Outcome,
}

/// The result of an upload.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    /// Every filled-in row, in sheet order.
    pub rows: Vec<RowResult>,
    /// Rows left empty, skipped.
    pub empty: usize,
}

impl Upload {
    fn count(&self, wanted: fn(&Outcome) -> bool) -> usize {
        self.rows.iter().filter(|r| wanted(&r.outcome)).count()
    }

    /// Rows stored as new revisions.
    pub fn stored(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Stored { .. }))
    }

    /// Rows an earlier upload had stored.
    pub fn unchanged(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Unchanged { .. }))
    }

    /// Rows refused.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed(_)))
    }

    /// The result as lines of text, one per row and one per error, then the totals (what
    /// `duban report upload` prints).
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for row in &self.rows {
            let place = format!("{SHEET}!{0}:{0}", row.row);
            let what = format!("{} {}", row.measure, row.period);
            match &row.outcome {
                Outcome::Stored { revision } => lines.push(format!("{place}\t{what}\tstored, revision {revision}")),
                Outcome::Unchanged { revision } => {
                    lines.push(format!(
                        "{place}\t{what}\tunchanged (already stored as revision {revision})"
                    ));
                }
                Outcome::Failed(errors) => {
                    for error in errors {
                        let field = if error.field.is_empty() {
                            String::new()
                        } else {
                            format!("{}: ", error.field)
                        };
                        lines.push(format!("{}\t{what}\terror: {field}{}", error.cell, error.message));
                    }
                }
            }
        }
        lines.push(format!(
            "{} stored, {} unchanged, {} failed, {} empty rows skipped",
            self.stored(),
            self.unchanged(),
            self.failed(),
            self.empty
        ));
        lines
    }
}

/// Sends the filled-in `rows` with SubmitReports through `client` (which carries the uploader's token)
/// and tells what became of each; a row with a cell the reader could not read (see [`Row::unreadable`])
/// is not sent and fails at that cell. A row's latest revision is read first (GetReport), so that a row
/// answered with a revision no newer than that is known to be a replay of an earlier upload. Fails
/// only when the stream as a whole is refused (an unknown token, a role that may not submit).
pub async fn upload(client: &mut ReportingServiceClient<ServiceChannel>, rows: Rows) -> Result<Upload, tonic::Status> {
    let mut upload = Upload {
        rows: Vec::new(),
        empty: rows.empty,
    };
    if rows.filled.is_empty() {
        return Ok(upload);
    }
    // A row with a cell the reader could not turn into the contract's type is not sent: it fails
    // here, at that cell, and the others go.
    let sent: Vec<&Row> = rows.filled.iter().filter(|row| row.unreadable.is_empty()).collect();
    let mut before = Vec::with_capacity(sent.len());
    for row in &sent {
        // Not found, or not the uploader's to read: nothing earlier, and SubmitReports will say why.
        let latest = client
            .get_report(GetReportRequest {
                name: row.report_name.clone(),
            })
            .await
            .map_or(0, |answer| answer.into_inner().revision);
        before.push(latest);
    }
    let answer = if sent.is_empty() {
        SubmitReportsResponse::default()
    } else {
        let items: Vec<_> = sent.iter().map(|row| row.item.clone()).collect();
        client.submit_reports(tokio_stream::iter(items)).await?.into_inner()
    };
    // The rows sent are the filled-in rows without unreadable cells, in order: the i-th of them is
    // item i of the stream.
    let mut sent_index = 0;
    for row in &rows.filled {
        let outcome = if row.unreadable.is_empty() {
            let i = sent_index;
            sent_index += 1;
            sent_outcome(row, i, &answer, before.get(i).copied().unwrap_or(0))
        } else {
            Outcome::Failed(unreadable_errors(row))
        };
        upload.rows.push(RowResult {
            row: row.number,
            measure: row
                .item
                .report
                .as_ref()
                .map(|r| r.measure_number.clone())
                .unwrap_or_default(),
            period: row.period.clone(),
            outcome,
        });
    }
    Ok(upload)
}

/// What became of the `i`-th row sent, from the stream's `answer`: stored if its revision is newer
/// than the latest before the upload (`before`), else unchanged (a replay), or refused.
fn sent_outcome(row: &Row, i: usize, answer: &SubmitReportsResponse, before: i32) -> Outcome {
    let result = answer
        .results
        .iter()
        .find(|r| usize::try_from(r.index).is_ok_and(|index| index == i));
    match result.and_then(|r| r.outcome.as_ref()) {
        Some(ItemOutcome::Report(report)) if report.revision > before => Outcome::Stored {
            revision: report.revision,
        },
        Some(ItemOutcome::Report(report)) => Outcome::Unchanged {
            revision: report.revision,
        },
        Some(ItemOutcome::Error(status)) => Outcome::Failed(cell_errors(row, status)),
        None => Outcome::Failed(vec![CellError {
            cell: format!("{SHEET}!{0}:{0}", row.number),
            field: String::new(),
            message: "the server gave no result for this row".into(),
            message_zh: Some("服务器未返回本行的结果".into()),
        }]),
    }
}

/// The cells of a row the reader could not read, each at its cell, with what was typed.
fn unreadable_errors(row: &Row) -> Vec<CellError> {
    row.unreadable
        .iter()
        .map(|(column, field, message)| CellError {
            cell: format!("{SHEET}!{}{}", column_letters(*column), row.number),
            field: field.clone(),
            message: match row.typed(*column) {
                Some(typed) => format!("{message} (typed: “{typed}”)"),
                None => message.clone(),
            },
            message_zh: None,
        })
        .collect()
}

/// A refused row's errors: each field violation at its cell, or the refusal itself at the row.
fn cell_errors(row: &Row, status: &tonic_types::pb::Status) -> Vec<CellError> {
    let whole_row = format!("{SHEET}!{0}:{0}", row.number);
    let violations = status
        .get_details_bad_request()
        .map(|bad| bad.field_violations)
        .unwrap_or_default();
    if violations.is_empty() {
        return vec![CellError {
            cell: whole_row,
            field: String::new(),
            message: status.message.clone(),
            message_zh: None,
        }];
    }
    violations
        .into_iter()
        .map(|violation| {
            let column = row.column_of(&violation.field);
            let cell = column.map_or_else(
                || whole_row.clone(),
                |c| format!("{SHEET}!{}{}", column_letters(c), row.number),
            );
            // What the cell held, so that the clerk sees what the server read.
            let typed = column.and_then(|c| row.typed(c));
            let zh = violation
                .localized_message
                .filter(|m| m.locale == duban_kit::status::ZH_LOCALE)
                .map(|m| match typed {
                    Some(typed) => format!("{}（填写内容：“{typed}”）", m.message),
                    None => m.message,
                });
            let message = match typed {
                Some(typed) => format!("{} (typed: “{typed}”)", violation.description),
                None => violation.description,
            };
            CellError {
                cell,
                field: violation.field,
                message,
                message_zh: zh,
            }
        })
        .collect()
}
