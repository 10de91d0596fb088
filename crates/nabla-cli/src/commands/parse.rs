//! Value parsers for flags: each rejects a bad value with a message that names the rule.

use nabla::{Activation, Init};

/// A whole number ≥ 0.
pub fn non_negative_u64(s: &str) -> Result<u64, String> {
    s.trim().parse::<u64>().map_err(|_| format!("expected a whole number ≥ 0, got `{s}`"))
}

/// A whole number ≥ 1.
pub fn positive_u64(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("expected a whole number ≥ 1, got `{s}`")),
    }
}

/// A whole number ≥ 1.
pub fn positive_usize(s: &str) -> Result<usize, String> {
    positive_u64(s).and_then(|n| usize::try_from(n).map_err(|_| format!("`{s}` is too large")))
}

/// A batch size: a whole number from 1 to [`nabla::limits::MAX_BATCH`].
pub fn batch_size(s: &str) -> Result<usize, String> {
    match positive_usize(s)? {
        n if n > nabla::limits::MAX_BATCH => {
            Err(format!("{n} is more than nabla's limit of {} rows", nabla::limits::MAX_BATCH))
        }
        n => Ok(n),
    }
}

/// A finite number > 0.
pub fn positive_f32(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a finite number > 0, got `{s}`")),
    }
}

/// An activation name.
pub fn activation(s: &str) -> Result<Activation, String> {
    s.parse().map_err(|e: nabla::Error| e.to_string())
}

/// An initialiser name.
pub fn init(s: &str) -> Result<Init, String> {
    s.parse().map_err(|e: nabla::Error| e.to_string())
}

/// A finite number ≥ 0.
pub fn non_negative_f32(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a finite number ≥ 0, got `{s}`")),
    }
}

/// A number in `[0, 1)`.
pub fn unit_interval_f32(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!("expected a number in [0, 1), got `{s}`")),
    }
}

/// A number in `[0, 1)`.
pub fn unit_interval_f64(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!("expected a number in [0, 1), got `{s}`")),
    }
}

/// A whole number ≥ 0 (a count).
pub fn non_negative_usize(s: &str) -> Result<usize, String> {
    s.trim().parse::<usize>().map_err(|_| format!("expected a whole number ≥ 0, got `{s}`"))
}

/// A table's field delimiter: one ASCII character, or `tab` (also `\t`) for a tab.
pub fn delimiter(s: &str) -> Result<u8, String> {
    if matches!(s, "tab" | "\\t" | "\t") {
        return Ok(b'\t');
    }
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii() && !matches!(c, '"' | '\n' | '\r') => Ok(c as u8),
        _ => Err(format!("expected one ASCII character (or `tab`) other than a quote or line break, got `{s}`")),
    }
}
