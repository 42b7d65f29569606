//! Writers for data on stdout: aligned tables, JSON, NDJSON and CSV.
//!
//! Listings stream: JSON arrays, NDJSON and CSV write each row as it comes, and
//! tables align only the first rows they buffer. A closed pipe (`| head`) ends
//! the output quietly.

use std::io::{self, Write};

use serde::Serialize;

use crate::cli::OutputFormat;

/// Prints a value as pretty JSON and a newline.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)?;
    writeln!(stdout)
}

/// Prints rows under a header, each column as wide as its widest cell.
pub fn print_table(header: &[&str], rows: Vec<Vec<String>>) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut stdout = io::stdout().lock();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    write_row(&mut stdout, &widths, &header)?;
    for row in &rows {
        write_row(&mut stdout, &widths, row)?;
    }
    stdout.flush()
}

/// One table line; trailing blanks (short or empty last cells) are cut.
fn write_row(out: &mut impl Write, widths: &[usize], cells: &[String]) -> io::Result<()> {
    let mut line = String::new();
    for (cell, width) in cells.iter().zip(widths) {
        line.push_str(&format!("{cell:<width$}  "));
    }
    writeln!(out, "{}", line.trim_end())
}

/// The columns of a listing: their names and how a row fills them.
pub struct Columns<T> {
    pub names: &'static [&'static str],
    pub cells: fn(&T) -> Vec<String>,
}

/// Rows buffered before a table's column widths are fixed.
const TABLE_SAMPLE_ROWS: usize = 500;

/// Writes rows as they come in the chosen format; returns how many.
pub fn write_listing<T: Serialize>(
    format: OutputFormat,
    rows: impl Iterator<Item = anyhow::Result<T>>,
    table: &Columns<T>,
    csv_columns: &Columns<T>,
) -> anyhow::Result<u64> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    let count = write_listing_to(&mut out, format, rows, table, csv_columns)?;
    out.flush()?;
    Ok(count)
}

/// [`write_listing`] to any writer.
fn write_listing_to<T: Serialize>(
    mut out: &mut impl Write,
    format: OutputFormat,
    rows: impl Iterator<Item = anyhow::Result<T>>,
    table: &Columns<T>,
    csv_columns: &Columns<T>,
) -> anyhow::Result<u64> {
    let mut count = 0;
    match format {
        OutputFormat::Json => {
            write!(out, "[")?;
            for row in rows {
                let separator = if count == 0 { "\n  " } else { ",\n  " };
                write!(out, "{separator}")?;
                serde_json::to_writer(&mut out, &row?).map_err(io::Error::from)?;
                count += 1;
            }
            writeln!(out, "{}]", if count == 0 { "" } else { "\n" })?;
        }
        OutputFormat::Ndjson => {
            for row in rows {
                serde_json::to_writer(&mut out, &row?).map_err(io::Error::from)?;
                writeln!(out)?;
                count += 1;
            }
        }
        OutputFormat::Csv => {
            let mut writer = csv::Writer::from_writer(&mut out);
            writer
                .write_record(csv_columns.names)
                .map_err(csv_write_error)?;
            for row in rows {
                writer
                    .write_record((csv_columns.cells)(&row?))
                    .map_err(csv_write_error)?;
                count += 1;
            }
            writer.flush()?;
        }
        OutputFormat::Table => count = write_table(&mut out, rows, table)?,
    }
    Ok(count)
}

/// serde_json and csv keep the `io::Error` of a failed write out of their
/// error's `source()`, which would hide a closed pipe from
/// [`Failure::report`](crate::failure::Failure::report); serde_json's is
/// taken back with `io::Error::from`, csv's here.
fn csv_write_error(error: csv::Error) -> anyhow::Error {
    match error.kind() {
        csv::ErrorKind::Io(io) => io::Error::new(io.kind(), error.to_string()).into(),
        _ => error.into(),
    }
}

/// A table whose widths come from the first rows; later rows stream.
fn write_table<T>(
    out: &mut impl Write,
    mut rows: impl Iterator<Item = anyhow::Result<T>>,
    columns: &Columns<T>,
) -> anyhow::Result<u64> {
    let header: Vec<String> = columns.names.iter().map(|name| name.to_string()).collect();
    let mut sample = Vec::new();
    for row in rows.by_ref().take(TABLE_SAMPLE_ROWS) {
        sample.push((columns.cells)(&row?));
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for cells in &sample {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    write_row(out, &widths, &header)?;
    let mut count = sample.len() as u64;
    for cells in &sample {
        write_row(out, &widths, cells)?;
    }
    for row in rows {
        write_row(out, &widths, &(columns.cells)(&row?))?;
        count += 1;
    }
    Ok(count)
}

/// An optional timestamp as RFC 3339, or empty.
pub fn time_cell(time: Option<jiff::Timestamp>) -> String {
    time.map(|t| t.to_string()).unwrap_or_default()
}

/// A JSON value as compact text, for CSV cells.
pub fn json_cell<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `key n, key n` of the non-zero counts, or `none`: counts by reason in
/// summaries a person reads.
pub fn join_counts(counts: &std::collections::BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(key, n)| format!("{key} {n}"))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Serialize)]
    struct Row {
        id: u32,
        name: &'static str,
    }

    const TABLE: Columns<Row> = Columns {
        names: &["ID", "NAME"],
        cells: |row| vec![row.id.to_string(), row.name.to_string()],
    };
    const CSV: Columns<Row> = Columns {
        names: &["id", "name"],
        cells: |row| vec![row.id.to_string(), row.name.to_string()],
    };

    fn rows() -> Vec<Row> {
        vec![
            Row {
                id: 7,
                name: "web-01",
            },
            Row {
                id: 1234,
                name: "a \"quoted\", name",
            },
        ]
    }

    fn render(format: OutputFormat, rows: Vec<Row>) -> String {
        let mut out = Vec::new();
        let n_rows = rows.len() as u64;
        let written =
            write_listing_to(&mut out, format, rows.into_iter().map(Ok), &TABLE, &CSV).unwrap();
        assert_eq!(written, n_rows);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_format_writes_the_rows_in_column_order() {
        assert_eq!(
            render(OutputFormat::Table, rows()),
            "ID    NAME\n7     web-01\n1234  a \"quoted\", name\n"
        );
        assert_eq!(
            render(OutputFormat::Csv, rows()),
            "id,name\n7,web-01\n1234,\"a \"\"quoted\"\", name\"\n"
        );
        assert_eq!(
            render(OutputFormat::Ndjson, rows()),
            "{\"id\":7,\"name\":\"web-01\"}\n{\"id\":1234,\"name\":\"a \\\"quoted\\\", name\"}\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(OutputFormat::Json, rows())).unwrap();
        assert_eq!(
            json,
            json!([{ "id": 7, "name": "web-01" }, { "id": 1234, "name": "a \"quoted\", name" }])
        );
    }

    #[test]
    fn a_table_line_has_no_trailing_blanks() {
        let rows = vec![Row { id: 1, name: "" }, Row { id: 22, name: "x" }];
        assert_eq!(render(OutputFormat::Table, rows), "ID  NAME\n1\n22  x\n");
    }

    #[test]
    fn an_empty_listing_is_still_well_formed() {
        assert_eq!(render(OutputFormat::Json, Vec::new()), "[]\n");
        assert_eq!(render(OutputFormat::Ndjson, Vec::new()), "");
        assert_eq!(render(OutputFormat::Csv, Vec::new()), "id,name\n");
        assert_eq!(render(OutputFormat::Table, Vec::new()), "ID  NAME\n");
    }

    /// A pipe whose reader goes away after `room` bytes, as with `| head -1`.
    struct ClosingPipe {
        room: usize,
    }

    impl Write for ClosingPipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let taken = buf.len().min(self.room);
            self.room -= taken;
            Ok(taken)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_surfaces_as_broken_pipe_in_every_format() {
        for format in [
            OutputFormat::Table,
            OutputFormat::Json,
            OutputFormat::Ndjson,
            OutputFormat::Csv,
        ] {
            // The pipe closes inside the first JSON row (written by
            // serde_json) and long before csv's own 8 KiB buffer fills.
            let rows = (0..2000).map(|id| Ok(Row { id, name: "web" }));
            let mut pipe = ClosingPipe { room: 4 };
            let error = write_listing_to(&mut pipe, format, rows, &TABLE, &CSV)
                .expect_err("the write fails");
            let broken = error.chain().any(|cause| {
                cause
                    .downcast_ref::<io::Error>()
                    .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            });
            assert!(broken, "{format:?}: {error:#}");
        }
    }
}
