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

fn write_row(out: &mut impl Write, widths: &[usize], cells: &[String]) -> io::Result<()> {
    let last = cells.len().saturating_sub(1);
    for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
        if index == last {
            write!(out, "{cell}")?;
        } else {
            write!(out, "{cell:<width$}  ")?;
        }
    }
    writeln!(out)
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
    let mut count = 0;
    match format {
        OutputFormat::Json => {
            write!(out, "[")?;
            for row in rows {
                let separator = if count == 0 { "\n  " } else { ",\n  " };
                write!(out, "{separator}")?;
                serde_json::to_writer(&mut out, &row?)?;
                count += 1;
            }
            writeln!(out, "{}]", if count == 0 { "" } else { "\n" })?;
        }
        OutputFormat::Ndjson => {
            for row in rows {
                serde_json::to_writer(&mut out, &row?)?;
                writeln!(out)?;
                count += 1;
            }
        }
        OutputFormat::Csv => {
            let mut writer = csv::Writer::from_writer(&mut out);
            writer.write_record(csv_columns.names)?;
            for row in rows {
                writer.write_record((csv_columns.cells)(&row?))?;
                count += 1;
            }
            writer.flush()?;
        }
        OutputFormat::Table => count = write_table(&mut out, rows, table)?,
    }
    out.flush()?;
    Ok(count)
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
