//! CSV and TSV tables (optionally gzipped), parsed by the `csv` crate.
//!
//! The first row is the header. A column is numeric when its cells parse as numbers (`.`
//! decimals); a column most of whose cells are not numbers is text, kept as written. A column
//! that is mostly numbers with a few cells that are not is an error naming the first such cell:
//! it is almost always a typo, and one-hot encoding it would hide that. Empty cells and the
//! usual markers (`NA`, `NaN`, …; [`super::MISSING_MARKERS`]) are missing values.
//!
//! The file is read into memory whole and, when it holds no quote character (so a line break
//! always ends a row), its body is cut at line breaks into one chunk per thread, parsed in
//! parallel.

use std::io::Read;
use std::path::Path;

use super::{check_drop, is_missing_marker, printable, Cells, Column, Place, Table, TableError};

/// Reads a CSV/TSV file, parsing on up to `threads` threads.
pub(super) fn read(
    path: &Path,
    gzip: bool,
    delimiter: u8,
    drop: &[String],
    threads: usize,
) -> Result<Table, TableError> {
    let bytes = read_bytes(path, gzip)?;
    parse(path, &bytes, delimiter, drop, threads)
}

fn read_bytes(path: &Path, gzip: bool) -> Result<Vec<u8>, TableError> {
    let raw = std::fs::read(path).map_err(|e| TableError::io(path, e))?;
    if !gzip {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .map_err(|e| TableError::bad(path, Place::default(), format!("corrupt gzip data: {e}")))?;
    Ok(out)
}

/// Parses the bytes of a CSV file read from `path` on up to `threads` threads.
pub(super) fn parse(
    path: &Path,
    bytes: &[u8],
    delimiter: u8,
    drop: &[String],
    threads: usize,
) -> Result<Table, TableError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(TableError::bad(path, Place::default(), "the file is empty (a header row is needed)"));
    }
    let (names, body_start, header_lines) = header(path, bytes, delimiter)?;
    check_drop(path, &names, drop)?;
    let keep: Vec<bool> = names.iter().map(|n| !drop.contains(n)).collect();
    let body = &bytes[body_start..];

    // Pass 1: every kept cell as a number; cells that are not numbers are counted per column.
    let chunks = split_body(body, threads);
    let (width, keep_ref) = (names.len(), &keep);
    let parsed: Vec<Result<NumberChunk, TableError>> = if chunks.len() == 1 {
        vec![parse_numbers(path, body, delimiter, names.len(), &keep)]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|&(a, b)| s.spawn(move || parse_numbers(path, &body[a..b], delimiter, width, keep_ref)))
                .collect();
            handles.into_iter().map(|h| h.join().expect("a CSV parsing thread panicked")).collect()
        })
    };
    let kept: Vec<usize> = (0..names.len()).filter(|&j| keep[j]).collect();
    let mut line_base = header_lines;
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut stats = vec![ColumnStats::default(); names.len()];
    for (chunk, &(a, b)) in parsed.into_iter().zip(&chunks) {
        let chunk = chunk.map_err(|e| shift_line(e, line_base))?;
        for (jj, mut part) in chunk.columns.into_iter().enumerate() {
            let j = kept[jj];
            if columns[j].is_empty() {
                columns[j] = part;
            } else {
                columns[j].append(&mut part);
            }
        }
        for (jj, &j) in kept.iter().enumerate() {
            let part = &chunk.stats[jj];
            stats[j].not_numbers += part.not_numbers;
            if stats[j].first_bad.is_none() {
                stats[j].first_bad = part.first_bad.clone().map(|(line, value)| (line + line_base, value));
            }
        }
        line_base += count_lines(&body[a..b]);
    }
    // The numbers are only needed where a cell was not one (a pass over every column would
    // cost as much as a tenth of the parse).
    for &j in &kept {
        if stats[j].not_numbers > 0 {
            stats[j].numbers = columns[j].iter().filter(|v| !v.is_nan()).count() as u64;
        }
    }
    let rows = columns.iter().zip(&keep).find(|(_, k)| **k).map_or(0, |(c, _)| c.len());

    // A column mostly of non-numbers is text; one mostly of numbers with a stray word is an error.
    let mut text_columns = vec![false; names.len()];
    for (j, s) in stats.iter().enumerate() {
        if !keep[j] || s.not_numbers == 0 {
            continue;
        }
        if s.not_numbers > s.numbers {
            text_columns[j] = true;
        } else {
            let (line, value) = s.first_bad.clone().expect("a non-number was counted, so the first is kept");
            return Err(TableError::bad(
                path,
                Place::cell(line, &names[j]),
                format!(
                    "`{}` is not a number, but {} of the column's other cells are (fix the value, mark it missing with NA, or leave the column out with --drop)",
                    printable(&value),
                    s.numbers
                ),
            ));
        }
    }
    let mut texts: Vec<Vec<Option<String>>> = vec![Vec::new(); names.len()];
    if text_columns.contains(&true) {
        parse_text(body, delimiter, &text_columns, &mut texts);
    }

    let mut out = Vec::new();
    for (j, name) in names.into_iter().enumerate() {
        if !keep[j] {
            continue;
        }
        let cells = if text_columns[j] {
            Cells::Text(std::mem::take(&mut texts[j]))
        } else {
            Cells::Numbers(std::mem::take(&mut columns[j]))
        };
        out.push(Column { name, cells });
    }
    Ok(Table { path: path.to_path_buf(), columns: out, rows })
}

/// Reads the header row: the column names, where the body starts and how many lines the header
/// took.
fn header(path: &Path, bytes: &[u8], delimiter: u8) -> Result<(Vec<String>, usize, u64), TableError> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).delimiter(delimiter).flexible(true).from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let found = reader.read_byte_record(&mut record).map_err(|e| csv_error(path, &e, 0))?;
    if !found {
        return Err(TableError::bad(path, Place::default(), "the file is empty (a header row is needed)"));
    }
    let mut names = Vec::with_capacity(record.len());
    for (j, field) in record.iter().enumerate() {
        let name = std::str::from_utf8(field)
            .map_err(|_| TableError::bad(path, Place::line(1), format!("header field {} is not UTF-8 text", j + 1)))?
            .trim()
            .to_string();
        if name.is_empty() {
            return Err(TableError::bad(
                path,
                Place::line(1),
                format!("header field {} is empty: every column needs a name", j + 1),
            ));
        }
        if names.contains(&name) {
            return Err(TableError::bad(
                path,
                Place::line(1),
                format!("two columns are called `{}`", printable(&name)),
            ));
        }
        names.push(name);
    }
    let end = reader.position().byte() as usize;
    let lines = reader.position().line() - 1;
    Ok((names, end, lines))
}

#[derive(Debug, Clone, Default)]
struct ColumnStats {
    numbers: u64,
    not_numbers: u64,
    /// The first cell that is not a number: its line (within the chunk) and text.
    first_bad: Option<(u64, String)>,
}

struct NumberChunk {
    /// The kept columns' cells.
    columns: Vec<Vec<f64>>,
    /// Per kept column: the cells that are not numbers (`numbers` is counted later).
    stats: Vec<ColumnStats>,
}

/// Rows parsed into a row-major block before the block is spread over the columns: writing one
/// row at a time into hundreds of column vectors would touch as many cache lines per row.
const BLOCK_ROWS: usize = 64;

/// Pass 1 over a chunk of the body: every kept cell parsed as a number (NaN when missing or
/// not a number). Lines in errors and `first_bad` count from the chunk's start.
fn parse_numbers(
    path: &Path,
    body: &[u8],
    delimiter: u8,
    width: usize,
    keep: &[bool],
) -> Result<NumberChunk, TableError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).delimiter(delimiter).flexible(true).from_reader(body);
    let mut record = csv::ByteRecord::new();
    let kept = keep.iter().filter(|&&k| k).count();
    // Every cell takes at least two bytes (the value or nothing, and a separator).
    let rows_estimate = body.len() / 2 / width.max(1);
    let mut columns: Vec<Vec<f64>> = (0..kept).map(|_| Vec::with_capacity(rows_estimate)).collect();
    let mut block: Vec<f64> = Vec::with_capacity(BLOCK_ROWS * kept);
    let mut stats = vec![ColumnStats::default(); kept];
    let spread = |block: &mut Vec<f64>, columns: &mut [Vec<f64>]| {
        let rows = block.len() / kept.max(1);
        for (jj, column) in columns.iter_mut().enumerate() {
            // A range mapped has an exact length: one reservation, no check per value.
            column.extend((0..rows).map(|r| block[r * kept + jj]));
        }
        block.clear();
    };
    let all_kept = kept == width;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(path, &e, 0)),
        }
        if record.len() != width {
            if record.len() == 1 && record[0].iter().all(u8::is_ascii_whitespace) {
                continue; // a blank line
            }
            let line = record.position().map_or(0, |p| p.line());
            return Err(TableError::bad(
                path,
                Place::line(line),
                format!("{} fields, but the header has {width}", record.len()),
            ));
        }
        // A small unsigned integer (pixels, counts, labels) needs no trimming and no float
        // parser; anything else takes the general path.
        let mut cell = |jj: usize, field: &[u8]| {
            let value = parse_small_integer(field).unwrap_or_else(|| {
                let trimmed = field.trim_ascii();
                parse_number(trimmed).unwrap_or_else(|| {
                    let text = String::from_utf8_lossy(trimmed);
                    if !is_missing_marker(&text) {
                        stats[jj].not_numbers += 1;
                        if stats[jj].first_bad.is_none() {
                            let line = record.position().map_or(0, |p| p.line());
                            stats[jj].first_bad = Some((line, text.into_owned()));
                        }
                    }
                    f64::NAN
                })
            });
            block.push(value);
        };
        if all_kept {
            record.iter().enumerate().for_each(|(jj, field)| cell(jj, field));
        } else {
            record.iter().zip(keep).filter(|(_, &k)| k).enumerate().for_each(|(jj, (field, _))| cell(jj, field));
        }
        if block.len() == BLOCK_ROWS * kept {
            spread(&mut block, &mut columns);
        }
    }
    spread(&mut block, &mut columns);
    Ok(NumberChunk { columns, stats })
}

/// A number as a CSV cell writes it: `12`, `-0.5`, `1e-3`. `NaN` and `inf` are not numbers
/// here (the first is a missing marker; an infinite feature cannot be standardised).
fn parse_number(field: &[u8]) -> Option<f64> {
    if let Some(v) = parse_small_integer(field) {
        return Some(v);
    }
    let first = *field.first()?;
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return None;
    }
    let v: f64 = std::str::from_utf8(field).ok()?.parse().ok()?;
    v.is_finite().then_some(v)
}

/// A short unsigned integer (at most 9 digits, so it fits a `u32`), the common case of pixel
/// values and counts, read in one pass without the float parser; `None` for anything else.
fn parse_small_integer(field: &[u8]) -> Option<f64> {
    if field.is_empty() || field.len() > 9 {
        return None;
    }
    let mut acc = 0u32;
    for &b in field {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        acc = acc * 10 + u32::from(digit);
    }
    Some(f64::from(acc))
}

/// Pass 2, only for the text columns: their cells as written (`None` when missing).
fn parse_text(body: &[u8], delimiter: u8, text_columns: &[bool], out: &mut [Vec<Option<String>>]) {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).delimiter(delimiter).flexible(true).from_reader(body);
    let mut record = csv::ByteRecord::new();
    // Pass 1 read the same bytes without error, so every record here is well-formed.
    while reader.read_byte_record(&mut record).unwrap_or(false) {
        if record.len() != text_columns.len() {
            continue; // a blank line, as pass 1 skipped it
        }
        for (j, field) in record.iter().enumerate() {
            if text_columns[j] {
                let text = String::from_utf8_lossy(field.trim_ascii());
                out[j].push(if is_missing_marker(&text) { None } else { Some(text.into_owned()) });
            }
        }
    }
}

/// Where to cut the body for parallel parsing: into `threads` chunks of about equal size, each
/// ending at a line break, when no quote character (which could hide a line break inside a
/// field) occurs and the body is large enough to gain (at least [`CHUNK_FROM`] per chunk).
fn split_body(body: &[u8], threads: usize) -> Vec<(usize, usize)> {
    let chunks = threads.min(body.len() / CHUNK_FROM).max(1);
    if chunks == 1 || body.contains(&b'"') {
        return vec![(0, body.len())];
    }
    let mut cuts = vec![0];
    for i in 1..chunks {
        let from = (body.len() * i / chunks).max(*cuts.last().expect("starts with 0"));
        match body[from..].iter().position(|&b| b == b'\n') {
            Some(p) if from + p + 1 < body.len() => cuts.push(from + p + 1),
            _ => break,
        }
    }
    cuts.push(body.len());
    cuts.windows(2).map(|w| (w[0], w[1])).collect()
}

/// The smallest chunk worth a thread of its own.
const CHUNK_FROM: usize = 1 << 19;

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Moves a chunk-relative line in an error to the file's line.
fn shift_line(error: TableError, base: u64) -> TableError {
    match error {
        TableError::Bad { path, mut place, message } => {
            place.line = place.line.map(|l| l + base);
            TableError::Bad { path, place, message }
        }
        other => other,
    }
}

fn csv_error(path: &Path, e: &csv::Error, base: u64) -> TableError {
    let place = e.position().map_or_else(Place::default, |p| Place::line(p.line() + base));
    let message = match e.kind() {
        csv::ErrorKind::Io(io) => io.to_string(),
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("{len} fields, but the header has {expected_len}")
        }
        _ => e.to_string(),
    };
    TableError::bad(path, place, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<Table, TableError> {
        parse(Path::new("t.csv"), text.as_bytes(), b',', &[], 2)
    }

    fn numbers(t: &Table, name: &str) -> Vec<f64> {
        match &t.column(name).unwrap().cells {
            Cells::Numbers(v) => v.clone(),
            Cells::Text(_) => panic!("{name} is text"),
        }
    }

    #[test]
    fn numbers_text_quotes_and_missing_values() {
        let t = table("a,b,\"c, d\"\n1,x,2.5\n-3e1,\"y, z\",NA\n,x,\n").unwrap();
        assert_eq!(t.rows, 3);
        assert_eq!(t.names(), ["a", "b", "c, d"]);
        let a = numbers(&t, "a");
        assert_eq!(&a[..2], &[1.0, -30.0]);
        assert!(a[2].is_nan());
        let c = numbers(&t, "c, d");
        assert_eq!(c[0], 2.5);
        assert!(c[1].is_nan() && c[2].is_nan());
        assert_eq!(
            t.column("b").unwrap().cells,
            Cells::Text(vec![Some("x".into()), Some("y, z".into()), Some("x".into())])
        );
    }

    #[test]
    fn a_stray_word_in_a_numeric_column_names_line_column_and_value() {
        let e = table("a,b\n1,2\n3,4\n5,oops\n7,8\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "t.csv, line 4, column `b`: `oops` is not a number, but 3 of the column's other cells are (fix the value, mark it missing with NA, or leave the column out with --drop)"
        );
    }

    #[test]
    fn a_ragged_row_names_its_line() {
        let e = table("a,b\n1,2\n3\n").unwrap_err().to_string();
        assert_eq!(e, "t.csv, line 3: 1 fields, but the header has 2");
        let e = table("a,b\n1,2\n3,4,5\n").unwrap_err().to_string();
        assert_eq!(e, "t.csv, line 3: 3 fields, but the header has 2");
    }

    #[test]
    fn empty_files_and_bad_headers_are_errors() {
        assert_eq!(table("").unwrap_err().to_string(), "t.csv: the file is empty (a header row is needed)");
        assert_eq!(table("  \n").unwrap_err().to_string(), "t.csv: the file is empty (a header row is needed)");
        assert!(table("a,,b\n1,2,3\n").unwrap_err().to_string().contains("header field 2 is empty"));
        assert!(table("a,a\n1,2\n").unwrap_err().to_string().contains("two columns are called `a`"));
    }

    #[test]
    fn dropped_columns_are_not_read() {
        let t = parse(Path::new("t.csv"), b"a,b\n1,oops\n2,3\n", b',', &["b".to_string()], 1).unwrap();
        assert_eq!(t.names(), ["a"]);
        let e = parse(Path::new("t.csv"), b"a,b\n1,2\n", b',', &["c".to_string()], 1).unwrap_err();
        assert!(e.to_string().contains("--drop: no column `c` (the columns are: a, b)"), "{e}");
    }

    #[test]
    fn the_chunks_of_a_large_file_give_the_same_table_and_lines() {
        // Large enough to be split; the line of an error in the second half counts from the file's top.
        let mut text = String::from("x,y,label\n");
        for i in 0..120_000 {
            text.push_str(&format!("{i},{}.5,{}\n", i % 7, i % 3));
        }
        let t = table(&text).unwrap();
        assert_eq!(t.rows, 120_000);
        let x = numbers(&t, "x");
        assert!(x.iter().enumerate().all(|(i, &v)| v == i as f64));
        assert_eq!(split_body(text.as_bytes(), 2).len(), 2);
        for threads in [1, 3, 5] {
            let chunks = split_body(text.as_bytes(), threads);
            assert_eq!(chunks.len(), threads.min(text.len() / CHUNK_FROM));
            assert!(chunks.iter().all(|&(a, _)| a == 0 || text.as_bytes()[a - 1] == b'\n'), "{chunks:?}");
            let again = parse(Path::new("t.csv"), text.as_bytes(), b',', &[], threads).unwrap();
            assert_eq!(again, t, "{threads} threads");
        }
        let bad = text.replacen("100000,", "1e0e0,", 1);
        for threads in [1, 2, 5] {
            let e = parse(Path::new("t.csv"), bad.as_bytes(), b',', &[], threads).unwrap_err().to_string();
            assert!(e.starts_with("t.csv, line 100002, column `x`: `1e0e0` is not a number"), "{threads}: {e}");
        }
    }

    #[test]
    fn numbers_parse_as_written() {
        assert_eq!(parse_number(b"0"), Some(0.0));
        assert_eq!(parse_number(b"255"), Some(255.0));
        assert_eq!(parse_number(b"1234567890123"), Some(1_234_567_890_123.0));
        assert_eq!(parse_number(b"-0.25"), Some(-0.25));
        assert_eq!(parse_number(b".5"), Some(0.5));
        assert_eq!(parse_number(b"+1E3"), Some(1000.0));
        assert_eq!(parse_number(b"1,5"), None);
        assert_eq!(parse_number(b"inf"), None);
        assert_eq!(parse_number(b"NaN"), None);
        assert_eq!(parse_number(b"1e999"), None);
        assert_eq!(parse_number(b""), None);
        assert_eq!(parse_small_integer(b"007"), Some(7.0));
        assert_eq!(parse_small_integer(b"999999999"), Some(999_999_999.0));
        assert_eq!(parse_small_integer(b"1234567890"), None);
        assert_eq!(parse_number(b"1234567890"), Some(1_234_567_890.0));
        assert_eq!(parse_small_integer(b" 7"), None);
        assert_eq!(parse_small_integer(b"-7"), None);
        assert_eq!(parse_small_integer(b"7/"), None);
    }
}
