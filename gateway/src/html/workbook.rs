//! The unit's upload page (`/my/upload`): the form, and what an upload did, row by row.

use askama::Template;

use super::Lang;
use crate::workbook::{Outcome, SHEET, Upload};

/// What `base.html` needs of the frame: the language and the title.
#[derive(Debug)]
struct PlainFrame {
    lang: Lang,
    title: String,
}

/// One line of the result table.
#[derive(Debug)]
struct ResultLine {
    cell: String,
    measure: String,
    period: String,
    text: String,
    /// `stored`, `unchanged` or `error`, for the style sheet.
    class: &'static str,
}

#[derive(Template)]
#[template(path = "my_upload.html")]
struct UploadPage<'a> {
    frame: PlainFrame,
    csrf: &'a str,
    period: &'a str,
    problem: Option<&'a str>,
    summary: Option<String>,
    lines: Vec<ResultLine>,
}

/// The upload page: the template's month (`YYYY-MM`) pre-filled, the form with the session's CSRF
/// token (empty for a bearer token, which needs none), a problem with the file if any, and the result
/// of an upload if there was one.
pub fn upload_page(
    lang: Lang,
    csrf: &str,
    period: &str,
    problem: Option<&str>,
    upload: Option<&Upload>,
) -> Result<String, askama::Error> {
    let summary = upload.map(|u| {
        format!(
            "{}：{}　{}：{}　{}：{}　{}：{}",
            lang.pick("已保存", "stored"),
            u.stored(),
            lang.pick("未变化", "unchanged"),
            u.unchanged(),
            lang.pick("有错误", "failed"),
            u.failed(),
            lang.pick("空行跳过", "empty rows skipped"),
            u.empty
        )
    });
    let lines = upload.map(|u| result_lines(lang, u)).unwrap_or_default();
    UploadPage {
        frame: PlainFrame {
            lang,
            title: lang.pick("督办 · Excel 报送", "Duban · Report by workbook").to_owned(),
        },
        csrf,
        period,
        problem,
        summary,
        lines,
    }
    .render()
}

fn result_lines(lang: Lang, upload: &Upload) -> Vec<ResultLine> {
    let mut lines = Vec::new();
    for row in &upload.rows {
        let line = |cell: String, text: String, class| ResultLine {
            cell,
            measure: row.measure.clone(),
            period: row.period.clone(),
            text,
            class,
        };
        let whole_row = format!("{SHEET}!{0}:{0}", row.row);
        match &row.outcome {
            Outcome::Stored { revision } => lines.push(line(
                whole_row,
                format!("{} {revision}", lang.pick("已保存，修订", "stored, revision")),
                "stored",
            )),
            Outcome::Unchanged { revision } => lines.push(line(
                whole_row,
                format!(
                    "{} {revision}",
                    lang.pick("未变化，此前已保存为修订", "unchanged, already stored as revision")
                ),
                "unchanged",
            )),
            Outcome::Failed(errors) => {
                for error in errors {
                    let message = error.text(lang == Lang::Zh);
                    let text = if error.field.is_empty() {
                        message.to_owned()
                    } else {
                        format!("{}: {message}", error.field)
                    };
                    lines.push(line(error.cell.clone(), text, "error"));
                }
            }
        }
    }
    lines
}
