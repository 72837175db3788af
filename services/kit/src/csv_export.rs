//! CSV exports, written once for the gateway's downloads and `duban plan export`: the `csv` crate quotes what
//! needs it, and every line ends with LF.

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
/// with LF, for the dashboard's downloads and the command line alike.
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
        self.writer.write_record(fields.iter().map(|f| f.as_ref().as_bytes()))?;
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
    fn line_breaks_are_quoted_and_lines_end_with_lf() {
        let mut table = CsvExport::new(["a", "b"]).unwrap();
        table.record(["two\nlines", "cr\r"]).unwrap();
        assert_eq!(table.finish().unwrap(), "a,b\n\"two\nlines\",\"cr\r\"\n");
    }
}
