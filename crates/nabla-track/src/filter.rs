//! Filter expressions (`config.lr>0.01`, `status=finished`, `tags~sweep`) and sort keys
//! (`-summary.test_acc`, `started`) over runs.

use std::cmp::Ordering;
use std::str::FromStr;

use serde_json::Value;

use crate::error::TrackError;
use crate::query::{RunRecord, RUN_FIELDS};

/// A comparison in a [`Filter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    /// `=` or `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `~`: the text contains the value (a list: some item does).
    Contains,
}

impl CompareOp {
    fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Contains => "~",
        }
    }
}

/// `KEY OP VALUE`: `KEY` as [`RunRecord::field`] takes it, `OP` one of `= == != < <= > >= ~`,
/// `VALUE` a number, `true`/`false`, or text (quotes optional).
///
/// Numbers compare as numbers (a numeric text field too), everything else as text. A list
/// field (`tags`) matches `=` and `~` when some item does, and `!=` when none does. A run
/// without the field matches no filter on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    /// The field.
    pub key: String,
    /// The comparison.
    pub op: CompareOp,
    /// The value as written (unquoted).
    pub value: String,
}

fn invalid(what: &'static str, expr: &str, reason: impl Into<String>) -> TrackError {
    TrackError::InvalidExpression { what, expr: expr.to_string(), reason: reason.into() }
}

fn check_key(what: &'static str, expr: &str, key: &str) -> Result<(), TrackError> {
    let ok = match key.split_once('.') {
        Some(("config" | "summary", rest)) => !rest.is_empty(),
        _ => RUN_FIELDS.contains(&key),
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(
            what,
            expr,
            format!("unknown field `{key}` (use config.KEY, summary.KEY or one of {})", RUN_FIELDS.join(", ")),
        ))
    }
}

impl FromStr for Filter {
    type Err = TrackError;

    fn from_str(expr: &str) -> Result<Filter, TrackError> {
        let at = expr
            .find(['=', '!', '<', '>', '~'])
            .ok_or_else(|| invalid("filter", expr, "expected KEY OP VALUE with OP one of = != < <= > >= ~"))?;
        let rest = &expr[at..];
        let (op, len) = [
            ("!=", CompareOp::Ne),
            ("==", CompareOp::Eq),
            ("<=", CompareOp::Le),
            (">=", CompareOp::Ge),
            ("=", CompareOp::Eq),
            ("<", CompareOp::Lt),
            (">", CompareOp::Gt),
            ("~", CompareOp::Contains),
        ]
        .iter()
        .find(|(symbol, _)| rest.starts_with(symbol))
        .map(|(symbol, op)| (*op, symbol.len()))
        .ok_or_else(|| invalid("filter", expr, "`!` must be followed by `=`"))?;
        let key = expr[..at].trim();
        if key.is_empty() {
            return Err(invalid("filter", expr, "missing the field before the operator"));
        }
        check_key("filter", expr, key)?;
        let raw = rest[len..].trim();
        let value = raw
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| raw.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(raw);
        Ok(Filter { key: key.to_string(), op, value: value.to_string() })
    }
}

impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{}", self.key, self.op.symbol(), self.value)
    }
}

/// A field value as a number, if it is one (or a text that reads as one).
fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Filter {
    /// Whether `run` passes this filter (`now` is for `duration`).
    pub fn matches(&self, run: &RunRecord, now: f64) -> bool {
        let Some(field) = run.field(&self.key, now) else { return false };
        match &field {
            Value::Array(items) => {
                let any = items.iter().any(|item| self.compare(item, CompareOp::Eq));
                match self.op {
                    CompareOp::Eq => any,
                    CompareOp::Ne => !any,
                    CompareOp::Contains => items.iter().any(|item| self.compare(item, CompareOp::Contains)),
                    _ => false,
                }
            }
            Value::Null => false,
            _ => self.compare(&field, self.op),
        }
    }

    fn compare(&self, field: &Value, op: CompareOp) -> bool {
        if op == CompareOp::Contains {
            return as_text(field).contains(&self.value);
        }
        let ordering = match (as_number(field), self.value.parse::<f64>()) {
            (Some(a), Ok(b)) => a.partial_cmp(&b),
            _ => Some(as_text(field).as_str().cmp(self.value.as_str())),
        };
        let Some(ordering) = ordering else { return op == CompareOp::Ne };
        match op {
            CompareOp::Eq => ordering == Ordering::Equal,
            CompareOp::Ne => ordering != Ordering::Equal,
            CompareOp::Lt => ordering == Ordering::Less,
            CompareOp::Le => ordering != Ordering::Greater,
            CompareOp::Gt => ordering == Ordering::Greater,
            CompareOp::Ge => ordering != Ordering::Less,
            CompareOp::Contains => false,
        }
    }
}

/// A sort key: a field as [`RunRecord::field`] takes it, `-` in front for descending.
/// Numbers sort as numbers, before texts; runs without the field come last either way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortKey {
    /// The field.
    pub key: String,
    /// Largest first.
    pub descending: bool,
}

impl FromStr for SortKey {
    type Err = TrackError;

    fn from_str(expr: &str) -> Result<SortKey, TrackError> {
        let trimmed = expr.trim();
        let (descending, key) = match trimmed.strip_prefix('-') {
            Some(key) => (true, key),
            None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
        };
        check_key("sort key", expr, key)?;
        Ok(SortKey { key: key.to_string(), descending })
    }
}

impl SortKey {
    /// Sorts `runs` by this key (stable; ties keep their order).
    pub fn sort(&self, runs: &mut [RunRecord], now: f64) {
        let mut keyed: Vec<(Option<Value>, usize)> =
            runs.iter().enumerate().map(|(i, r)| (r.field(&self.key, now).filter(|v| !v.is_null()), i)).collect();
        keyed.sort_by(|(a, ia), (b, ib)| {
            let order = match (a, b) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => return Ordering::Greater,
                (Some(_), None) => return Ordering::Less,
                (Some(a), Some(b)) => compare_values(a, b),
            };
            let order = if self.descending { order.reverse() } else { order };
            order.then(ia.cmp(ib))
        });
        let order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
        let sorted: Vec<RunRecord> = order.iter().map(|&i| runs[i].clone()).collect();
        runs.clone_from_slice(&sorted);
    }
}

fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().unwrap_or(f64::NAN).total_cmp(&y.as_f64().unwrap_or(f64::NAN))
        }
        (Value::Number(_), _) => Ordering::Less,
        (_, Value::Number(_)) => Ordering::Greater,
        _ => as_text(a).cmp(&as_text(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_their_operator_and_value() {
        let f: Filter = "config.lr>0.01".parse().unwrap();
        assert_eq!((f.key.as_str(), f.op, f.value.as_str()), ("config.lr", CompareOp::Gt, "0.01"));
        let f: Filter = "summary.test_acc >= 0.98".parse().unwrap();
        assert_eq!((f.key.as_str(), f.op, f.value.as_str()), ("summary.test_acc", CompareOp::Ge, "0.98"));
        let f: Filter = "status=finished".parse().unwrap();
        assert_eq!(f.op, CompareOp::Eq);
        let f: Filter = "name != 'a b'".parse().unwrap();
        assert_eq!((f.op, f.value.as_str()), (CompareOp::Ne, "a b"));
        assert!("config.lr".parse::<Filter>().is_err());
        assert!("=3".parse::<Filter>().is_err());
        assert!("colour=red".parse::<Filter>().is_err());
        assert!("lr!3".parse::<Filter>().is_err());
    }

    #[test]
    fn sort_keys_parse_direction() {
        assert_eq!("-summary.acc".parse::<SortKey>().unwrap(), SortKey { key: "summary.acc".into(), descending: true });
        assert_eq!("started".parse::<SortKey>().unwrap(), SortKey { key: "started".into(), descending: false });
        assert!("-bogus".parse::<SortKey>().is_err());
    }
}
