//! The digits CSV: 8x8 images of 0..16 ink counts, one image and its label per line.
//!
//! Accepted forms: an optional header line (`p0,…,p63,label`), then lines of 65
//! comma-separated numbers. The numbers may be written as integers (`5`, the copy in
//! `shared/data`) or as floats with an integral value (`5.000000000000000000e+00`, as numpy's
//! `savetxt` writes scikit-learn's file).

use std::path::Path;

use crate::content::read_content;
use crate::DataError;

/// Pixels per digits image (8x8).
pub const DIGITS_PIXELS: usize = 64;
/// The largest pixel value.
pub const DIGITS_MAX: u8 = 16;

/// The examples of a digits CSV in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitsRows {
    /// `[n, 64]` pixels, each 0..=16.
    pub pixels: Vec<u8>,
    /// `[n]` labels, each 0..=9.
    pub labels: Vec<u8>,
}

/// Reads a digits CSV file (gzip or plain).
pub fn read_digits_csv(path: &Path) -> Result<DigitsRows, DataError> {
    parse_digits_csv(path, &read_content(path)?)
}

/// A field as a small non-negative integer, or `None` when it is not one.
fn parse_value(field: &str) -> Option<u32> {
    let field = field.trim();
    if let Ok(v) = field.parse::<u32>() {
        return Some(v);
    }
    let v = field.parse::<f64>().ok()?;
    (v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v)).then_some(v as u32)
}

/// Parses the text of a digits CSV; `path` is only used in errors (with 1-based line numbers).
pub fn parse_digits_csv(path: &Path, text: &[u8]) -> Result<DigitsRows, DataError> {
    let csv_error = |line: usize, message: String| DataError::Csv { path: path.to_path_buf(), line, message };
    let mut rows = DigitsRows { pixels: Vec::new(), labels: Vec::new() };
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let line = std::str::from_utf8(raw).map_err(|_| csv_error(line_no, "not UTF-8 text".to_string()))?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let first = line.split(',').next().unwrap_or("");
        if i == 0 && parse_value(first).is_none() {
            // The header line.
            continue;
        }
        let start = rows.pixels.len();
        let mut fields = 0;
        for (col, field) in line.split(',').enumerate() {
            fields += 1;
            if col > DIGITS_PIXELS {
                continue;
            }
            let value = parse_value(field).ok_or_else(|| {
                csv_error(line_no, format!("column {}: `{}` is not a whole number", col + 1, field.trim()))
            })?;
            if col < DIGITS_PIXELS {
                if value > u32::from(DIGITS_MAX) {
                    return Err(csv_error(line_no, format!("column {}: pixel {value} is outside 0..=16", col + 1)));
                }
                rows.pixels.push(value as u8);
            } else if value > 9 {
                return Err(csv_error(line_no, format!("column {}: label {value} is outside 0..=9", col + 1)));
            } else {
                rows.labels.push(value as u8);
            }
        }
        if fields != DIGITS_PIXELS + 1 {
            rows.pixels.truncate(start);
            return Err(csv_error(
                line_no,
                format!("expected {} comma-separated values, found {fields}", DIGITS_PIXELS + 1),
            ));
        }
    }
    if rows.labels.is_empty() {
        return Err(csv_error(1, "no data rows".to_string()));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: u8) -> String {
        let mut fields: Vec<String> = (0..64).map(|k| (k % 17).to_string()).collect();
        fields.push(label.to_string());
        fields.join(",")
    }

    fn p() -> &'static Path {
        Path::new("digits.csv")
    }

    #[test]
    fn header_integers_and_floats() {
        let header: Vec<String> = (0..64).map(|k| format!("p{k}")).chain(["label".to_string()]).collect();
        let floats: Vec<String> =
            (0..64).map(|k| format!("{:.18e}", f64::from(k % 17))).chain(["7.0e+00".into()]).collect();
        let text = format!("{}\n{}\r\n{}\n\n", header.join(","), row(3), floats.join(","));
        let rows = parse_digits_csv(p(), text.as_bytes()).unwrap();
        assert_eq!(rows.labels, vec![3, 7]);
        assert_eq!(rows.pixels.len(), 128);
        assert_eq!(&rows.pixels[..64], &rows.pixels[64..]);
        assert_eq!(rows.pixels[16], 16);
    }

    #[test]
    fn a_bad_line_is_named_with_its_number() {
        let short = row(1).rsplit_once(',').unwrap().0.to_string();
        let text = format!("{}\n{}\n{short}\n", row(1), row(2));
        let msg = parse_digits_csv(p(), text.as_bytes()).unwrap_err().to_string();
        assert_eq!(msg, "digits.csv:3: expected 65 comma-separated values, found 64");

        let text = format!("{}\n{}\n", row(1), row(2).replacen("0,", "x,", 1));
        let msg = parse_digits_csv(p(), text.as_bytes()).unwrap_err().to_string();
        assert_eq!(msg, "digits.csv:2: column 1: `x` is not a whole number");

        let text = row(1).replacen("0,", "17,", 1);
        let msg = parse_digits_csv(p(), text.as_bytes()).unwrap_err().to_string();
        assert!(msg.contains("digits.csv:1: column 1: pixel 17"), "{msg}");

        let msg = parse_digits_csv(p(), row(10).as_bytes()).unwrap_err().to_string();
        assert!(msg.contains("label 10"), "{msg}");

        let msg = parse_digits_csv(p(), b"p0,p1\n").unwrap_err().to_string();
        assert!(msg.contains("no data rows"), "{msg}");
    }
}
