//! Writers for data on stdout: aligned tables, JSON, NDJSON and CSV.
//!
//! Listings stream: JSON arrays, NDJSON and CSV write each row as it comes, and
//! tables align only the first rows they buffer. A closed pipe (`| head`) ends
//! the output quietly.

use std::io::{self, Write};

use serde::Serialize;

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
