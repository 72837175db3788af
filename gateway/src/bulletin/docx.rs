//! The bulletin as a Word document (.docx), written with docx-rs in the layout of a government notice
//! (GB/T 9704): A4, the issuing body's line in red, the title centred in 小标宋 二号, the document number
//! and the date of the figures centred under it, headings in 黑体 三号, text in 仿宋_GB2312 三号 with a
//! two-character first-line indent, tables with single borders and a bold header row, the issuer and the
//! date at the end. English text is set in Times New Roman. Fonts are named, not embedded: Word and WPS
//! substitute what a machine lacks.

use docx_rs::{
    AlignmentType, Docx, LineSpacing, LineSpacingType, PageMargin, Paragraph, Run, RunFonts, Table as DocxTable,
    TableCell, TableRow, WidthType,
};

use unicode_width::UnicodeWidthStr;

use super::{Bulletin, Table};
use crate::html::Lang;

/// A4 in twentieths of a point (210 × 297 mm).
const A4: (u32, u32) = (11906, 16838);
/// The text block of GB/T 9704: 156 mm wide, margins 37 mm top, 35 mm bottom, 28 mm left, 26 mm right.
const TEXT_WIDTH: usize = 8845;
const MARGIN: (i32, i32, i32, i32) = (2098, 1984, 1588, 1474);

/// Font sizes in half-points: 二号 22 pt, 三号 16 pt, 四号 14 pt, 五号 10.5 pt.
const TITLE_SIZE: usize = 44;
const TEXT_SIZE: usize = 32;
const NUMBER_SIZE: usize = 32;
const TABLE_SIZE: usize = 21;

/// The fonts of each part, as a notice names them.
const TITLE_FONT: &str = "方正小标宋简体";
const HEADING_FONT: &str = "黑体";
const TEXT_FONT: &str = "仿宋_GB2312";
const LATIN_FONT: &str = "Times New Roman";

/// Why the document could not be written.
#[derive(Debug, thiserror::Error)]
#[error("the bulletin could not be written as .docx: {0}")]
pub struct DocxError(String);

fn fonts(east_asia: &str) -> RunFonts {
    RunFonts::new()
        .east_asia(east_asia)
        .ascii(LATIN_FONT)
        .hi_ansi(LATIN_FONT)
        .cs(LATIN_FONT)
}

fn run(text: &str, font: &str, size: usize) -> Run {
    Run::new().add_text(text).fonts(fonts(font)).size(size)
}

fn centred(run: Run) -> Paragraph {
    Paragraph::new().add_run(run).align(AlignmentType::Center)
}

/// A paragraph of text: 仿宋 三号, the first line indented by two characters, 28-point lines.
fn text(lang: Lang, content: &str) -> Paragraph {
    let paragraph = Paragraph::new()
        .add_run(run(content, TEXT_FONT, TEXT_SIZE))
        .line_spacing(LineSpacing::new().line(560).line_rule(LineSpacingType::Exact));
    match lang {
        Lang::Zh => paragraph.first_line_chars(200),
        Lang::En => paragraph.align(AlignmentType::Both),
    }
}

fn cell(content: &str, header: bool, width: usize) -> TableCell {
    let run = run(content, if header { HEADING_FONT } else { TEXT_FONT }, TABLE_SIZE);
    TableCell::new().width(width, WidthType::Dxa).add_paragraph(
        Paragraph::new()
            .add_run(if header { run.bold() } else { run })
            .align(AlignmentType::Center),
    )
}

/// The columns' widths across the text block, in proportion to their widest text (a CJK character
/// counts double; a long text counts as 24, since it wraps), so that a reader that does not fit
/// columns itself (WPS, older Word) lays the table out as Word does.
fn column_widths(content: &Table) -> Vec<usize> {
    let mut widest: Vec<usize> = content.header.iter().map(|h| h.width().clamp(4, 24)).collect();
    for row in &content.rows {
        for (width, text) in widest.iter_mut().zip(row) {
            *width = (*width).max(text.width().clamp(4, 24));
        }
    }
    let total: usize = widest.iter().sum::<usize>().max(1);
    widest.iter().map(|w| TEXT_WIDTH * w / total).collect()
}

/// A table across the text block, every border single (docx-rs's default table borders).
fn table(content: &Table) -> DocxTable {
    let widths = column_widths(content);
    let row = |texts: &[String], header: bool| {
        TableRow::new(
            texts
                .iter()
                .zip(&widths)
                .map(|(text, width)| cell(text, header, *width))
                .collect(),
        )
        .cant_split()
    };
    let rows = std::iter::once(row(&content.header, true)).chain(content.rows.iter().map(|r| row(r, false)));
    DocxTable::new(rows.collect())
        .set_grid(widths.clone())
        .width(TEXT_WIDTH, WidthType::Dxa)
        .align(docx_rs::TableAlignmentType::Center)
}

/// The bulletin as the bytes of a .docx file.
pub fn to_docx(bulletin: &Bulletin) -> Result<Vec<u8>, DocxError> {
    let lang = bulletin.lang;
    let mut doc = Docx::new()
        .page_size(A4.0, A4.1)
        .page_margin(
            PageMargin::new()
                .top(MARGIN.0)
                .bottom(MARGIN.1)
                .left(MARGIN.2)
                .right(MARGIN.3),
        )
        .default_fonts(fonts(TEXT_FONT))
        .default_size(TEXT_SIZE)
        .add_paragraph(centred(run(&bulletin.issuer, TITLE_FONT, TITLE_SIZE).color("FF0000")))
        .add_paragraph(centred(run(&bulletin.number, TEXT_FONT, NUMBER_SIZE)))
        .add_paragraph(Paragraph::new())
        .add_paragraph(centred(run(&bulletin.title, TITLE_FONT, TITLE_SIZE)))
        .add_paragraph(centred(run(&bulletin.as_of_line, TEXT_FONT, TEXT_SIZE)));
    for note in &bulletin.notes {
        doc = doc.add_paragraph(text(lang, note));
    }
    for section in &bulletin.sections {
        doc = doc.add_paragraph(
            Paragraph::new()
                .add_run(run(&section.heading, HEADING_FONT, TEXT_SIZE))
                .keep_next(true)
                .first_line_chars(if lang == Lang::Zh { 200 } else { 0 }),
        );
        for paragraph in &section.paragraphs {
            doc = doc.add_paragraph(text(lang, paragraph));
        }
        for content in &section.tables {
            doc = doc.add_table(table(content)).add_paragraph(Paragraph::new());
        }
    }
    doc = doc
        .add_paragraph(Paragraph::new())
        .add_paragraph(
            Paragraph::new()
                .add_run(run(&bulletin.issuer, TEXT_FONT, TEXT_SIZE))
                .align(AlignmentType::Right),
        )
        .add_paragraph(
            Paragraph::new()
                .add_run(run(&bulletin.date, TEXT_FONT, TEXT_SIZE))
                .align(AlignmentType::Right),
        );
    let mut bytes = std::io::Cursor::new(Vec::new());
    doc.build()
        .pack(&mut bytes)
        .map_err(|error| DocxError(error.to_string()))?;
    Ok(bytes.into_inner())
}
