//! How `nabla runs` shows values to people: flattened JSON leaves, numbers, times,
//! durations, plurals and left-aligned tables.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::Value;

/// A JSON object's scalar leaves as `a.b.c` -> display text.
pub(super) fn flatten(value: &Value) -> BTreeMap<String, String> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            other if !prefix.is_empty() => {
                out.insert(prefix.to_string(), format_value(other));
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}

fn format_value(value: &Value) -> String {
    match value {
        Value::Number(n) => {
            n.as_i64().map_or_else(|| format_six_significant(n.as_f64().unwrap_or(f64::NAN)), |i| i.to_string())
        }
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A number in at most about 6 significant digits (a table cell; `nabla_plot::graph::format_number`
/// writes labels with at most 4 decimals).
pub(super) fn format_six_significant(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    if x.abs() >= 1e-3 && x.abs() < 1e6 {
        let text = format!("{x:.6}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        // Keep about 6 significant digits.
        let digits = text.chars().filter(char::is_ascii_digit).skip_while(|&c| c == '0').count();
        if digits <= 6 {
            return text.to_string();
        }
        let decimals = 6usize.saturating_sub(x.abs().log10().floor().max(0.0) as usize + 1);
        return format!("{x:.decimals$}").trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{x:.4e}")
}

/// Writes `rows` as left-aligned columns, each line after `indent`.
pub(super) fn write_table(out: &mut impl Write, rows: &[Vec<String>], indent: &str) -> io::Result<()> {
    const MAX_CELL: usize = 28;
    let clip = |s: &str| -> String {
        if s.chars().count() > MAX_CELL {
            let mut t: String = s.chars().take(MAX_CELL - 1).collect();
            t.push('…');
            t
        } else {
            s.to_string()
        }
    };
    let cells: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| clip(c)).collect()).collect();
    let columns = cells.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| cells.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0))
        .collect();
    for row in &cells {
        let line: Vec<String> = row.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        writeln!(out, "{indent}{}", line.join("  ").trim_end())?;
    }
    Ok(())
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` UTC.
pub(crate) fn format_time(secs: f64) -> String {
    let secs = secs.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Seconds as `850ms`, `12.3s`, `4m05s` or `2h03m`.
pub(super) fn format_duration(secs: f64) -> String {
    if secs < 1.0 {
        return format!("{:.0}ms", secs * 1000.0);
    }
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let whole = secs.round() as u64;
    if whole < 3600 {
        return format!("{}m{:02}s", whole / 60, whole % 60);
    }
    format!("{}h{:02}m", whole / 3600, whole % 3600 / 60)
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_as_utc() {
        assert_eq!(format_time(0.0), "1970-01-01 00:00:00");
        assert_eq!(format_time(951_782_400.0), "2000-02-29 00:00:00");
        assert_eq!(format_time(1_798_761_599.5), "2026-12-31 23:59:59");
    }

    #[test]
    fn durations_and_numbers_read_well() {
        assert_eq!(format_duration(0.25), "250ms");
        assert_eq!(format_duration(12.34), "12.3s");
        assert_eq!(format_duration(245.0), "4m05s");
        assert_eq!(format_duration(7380.0), "2h03m");
        assert_eq!(format_six_significant(0.1), "0.1");
        assert_eq!(format_six_significant(3.0), "3");
        assert_eq!(format_six_significant(0.123_456_789), "0.123457");
        assert_eq!(format_six_significant(1_234.567_89), "1234.57");
        assert_eq!(format_six_significant(1e-5), "1.0000e-5");
    }
}
