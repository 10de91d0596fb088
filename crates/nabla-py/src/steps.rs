//! wandb's step rules, without Python: which step each logged value lands on.
//!
//! `log(data)` logs at the current step and moves to the next; `log(data, commit=False)`
//! gathers values for the current step (a key logged twice keeps its last value) until a call
//! commits; `log(data, step=s)` moves to step `s` (committing what was gathered for an earlier
//! step) and, unless `commit=True`, gathers. A step lower than the current one is an error,
//! where wandb warns and drops the data. A metric given a custom x-axis by `define_metric(name,
//! step_metric=axis)` is stored at the axis metric's value (from the same call, else the last
//! one logged) instead of the global step.

use std::collections::HashMap;
use std::fmt;

/// Why a `log` call was refused; nothing of a refused call is logged.
#[derive(Debug, PartialEq)]
pub enum StepError<E> {
    /// `step` is lower than the run's current step.
    Backwards {
        /// The step asked for.
        step: u64,
        /// The run's current step.
        current: u64,
    },
    /// `metric` is plotted against `axis`, which has no value yet.
    AxisMissing {
        /// The metric logged.
        metric: String,
        /// Its step metric.
        axis: String,
    },
    /// `metric` is plotted against `axis`, whose value is not a whole number ≥ 0.
    AxisNotStep {
        /// The metric logged.
        metric: String,
        /// Its step metric.
        axis: String,
        /// The axis value.
        value: f64,
    },
    /// The store refused the points.
    Sink(E),
}

impl<E: fmt::Display> fmt::Display for StepError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepError::Backwards { step, current } => write!(
                f,
                "step {step} is lower than the run's current step {current}; steps must not go back \
                 (wandb would drop these values with a warning)"
            ),
            StepError::AxisMissing { metric, axis } => write!(
                f,
                "`{metric}` is plotted against `{axis}` (define_metric), but `{axis}` has not been logged yet; \
                 log it in the same call"
            ),
            StepError::AxisNotStep { metric, axis, value } => write!(
                f,
                "`{metric}` is plotted against `{axis}` (define_metric), whose value {value} is not a whole \
                 number >= 0; nabla stores steps as integers"
            ),
            StepError::Sink(e) => e.fmt(f),
        }
    }
}

/// A `define_metric(name, step_metric=axis)` rule: `name` is a metric name or a glob with `*`.
#[derive(Clone, Debug)]
struct AxisRule {
    pattern: String,
    axis: String,
}

/// The step state of one run.
#[derive(Debug, Default)]
pub struct Steps {
    step: u64,
    /// Values gathered for `step` by uncommitted calls, in first-logged order.
    pending: Vec<(String, f64)>,
    rules: Vec<AxisRule>,
    /// The last value of every axis metric (only kept when rules exist).
    axis_last: HashMap<String, f64>,
    /// Reused by the custom-axis path: (step, index into the call's points).
    grouped: Vec<(u64, usize)>,
}

impl Steps {
    /// A run at step 0 with no custom axes.
    pub fn new() -> Steps {
        Steps::default()
    }

    /// The current step: where the next value without an explicit step lands.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Plots `pattern` (a name, or a glob such as `val/*`) against `axis`. A later rule for
    /// the same pattern replaces the earlier one.
    pub fn define_axis(&mut self, pattern: &str, axis: &str) {
        self.rules.retain(|r| r.pattern != pattern);
        self.rules.push(AxisRule { pattern: pattern.to_string(), axis: axis.to_string() });
    }

    /// The step at which a `log(.., step, commit)` call stores its values directly, when it
    /// gathers nothing and no custom axis applies (the common `log(data)`): the caller stores
    /// them there and then calls [`Steps::advance`]. `None`: use [`Steps::log`].
    pub fn direct(&self, step: Option<u64>, commit: Option<bool>) -> Option<u64> {
        let commit = commit.unwrap_or(step.is_none());
        let direct = commit && self.pending.is_empty() && self.rules.is_empty() && step.is_none_or(|s| s == self.step);
        direct.then_some(self.step)
    }

    /// Moves to the next step after a call stored at [`Steps::direct`]'s step.
    pub fn advance(&mut self) {
        self.step += 1;
    }

    /// Applies one `log(points, step, commit)` call; `sink(step, points)` receives the points
    /// to store, one call per step. `commit` defaults to `step.is_none()`, as in wandb.
    pub fn log<E>(
        &mut self,
        points: &[(&str, f64)],
        step: Option<u64>,
        commit: Option<bool>,
        mut sink: impl FnMut(u64, &[(&str, f64)]) -> Result<(), E>,
    ) -> Result<(), StepError<E>> {
        if let Some(step) = step {
            if step < self.step {
                return Err(StepError::Backwards { step, current: self.step });
            }
        }
        if let Some(at) = self.direct(step, commit) {
            sink(at, points).map_err(StepError::Sink)?;
            self.advance();
            return Ok(());
        }
        let commit = commit.unwrap_or(step.is_none());
        if let Some(step) = step.filter(|&s| s > self.step) {
            self.flush(&mut sink)?;
            self.step = step;
        }
        for &(name, value) in points {
            match self.pending.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value,
                None => self.pending.push((name.to_string(), value)),
            }
        }
        if commit {
            self.flush(&mut sink)?;
            self.step += 1;
        }
        Ok(())
    }

    /// Stores what was gathered for the current step (at the end of a run).
    pub fn flush<E>(&mut self, mut sink: impl FnMut(u64, &[(&str, f64)]) -> Result<(), E>) -> Result<(), StepError<E>> {
        if self.pending.is_empty() {
            return Ok(());
        }
        // A refused flush drops what was gathered: the error reports it, and values kept back
        // would make every later call fail the same way.
        let pending = std::mem::take(&mut self.pending);
        let points: Vec<(&str, f64)> = pending.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        self.store(&points, &mut sink)
    }

    /// Sends `points` to the sink at the current step, or at their axis value.
    fn store<E>(
        &mut self,
        points: &[(&str, f64)],
        sink: &mut impl FnMut(u64, &[(&str, f64)]) -> Result<(), E>,
    ) -> Result<(), StepError<E>> {
        if self.rules.is_empty() {
            return sink(self.step, points).map_err(StepError::Sink);
        }
        // Check every point's axis before storing any, so that a refused call stores nothing.
        self.grouped.clear();
        for (i, &(name, _)) in points.iter().enumerate() {
            let step = match self.axis_of(name) {
                None => self.step,
                Some(axis) => {
                    let value = points
                        .iter()
                        .find(|(n, _)| *n == axis)
                        .map(|&(_, v)| v)
                        .or_else(|| self.axis_last.get(axis).copied())
                        .ok_or_else(|| StepError::AxisMissing { metric: name.into(), axis: axis.into() })?;
                    whole_step(value).ok_or_else(|| StepError::AxisNotStep {
                        metric: name.into(),
                        axis: axis.into(),
                        value,
                    })?
                }
            };
            self.grouped.push((step, i));
        }
        let mut grouped = std::mem::take(&mut self.grouped);
        grouped.sort_by_key(|&(step, i)| (step, i));
        let mut batch = Vec::with_capacity(points.len());
        let mut result = Ok(());
        for chunk in grouped.chunk_by(|a, b| a.0 == b.0) {
            batch.clear();
            batch.extend(chunk.iter().map(|&(_, i)| points[i]));
            if let Err(e) = sink(chunk[0].0, &batch) {
                result = Err(StepError::Sink(e));
                break;
            }
        }
        self.grouped = grouped;
        result?;
        for &(name, value) in points {
            if self.rules.iter().any(|r| r.axis == name) {
                self.axis_last.insert(name.to_string(), value);
            }
        }
        Ok(())
    }

    /// The axis of `name`: an exact rule first, else the last matching glob.
    fn axis_of(&self, name: &str) -> Option<&str> {
        let exact = self.rules.iter().find(|r| r.pattern == name);
        let rule =
            exact.or_else(|| self.rules.iter().rev().find(|r| r.pattern.contains('*') && glob(&r.pattern, name)));
        // An axis metric is itself logged at the global step.
        rule.map(|r| r.axis.as_str()).filter(|axis| *axis != name)
    }
}

/// `value` as a step, if it is a whole number that fits.
fn whole_step(value: f64) -> Option<u64> {
    (value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value < 9.0e18).then_some(value as u64)
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.len() >= part.len() && rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    type Stored = Vec<(u64, Vec<(String, f64)>)>;

    fn log(steps: &mut Steps, stored: &mut Stored, points: &[(&str, f64)], step: Option<u64>, commit: Option<bool>) {
        steps
            .log(points, step, commit, |s, p| {
                stored.push((s, p.iter().map(|(n, v)| (n.to_string(), *v)).collect()));
                Ok::<(), String>(())
            })
            .unwrap();
    }

    fn owned(step: u64, points: &[(&str, f64)]) -> (u64, Vec<(String, f64)>) {
        (step, points.iter().map(|(n, v)| (n.to_string(), *v)).collect())
    }

    #[test]
    fn plain_calls_log_at_consecutive_steps() {
        let (mut steps, mut stored) = (Steps::new(), Stored::new());
        log(&mut steps, &mut stored, &[("loss", 1.0), ("acc", 0.5)], None, None);
        log(&mut steps, &mut stored, &[("loss", 0.5)], None, None);
        assert_eq!(stored, vec![owned(0, &[("loss", 1.0), ("acc", 0.5)]), owned(1, &[("loss", 0.5)])]);
        assert_eq!(steps.step(), 2);
    }

    #[test]
    fn uncommitted_values_gather_and_the_last_value_of_a_key_wins() {
        let (mut steps, mut stored) = (Steps::new(), Stored::new());
        log(&mut steps, &mut stored, &[("loss", 1.0)], None, Some(false));
        log(&mut steps, &mut stored, &[("loss", 2.0), ("acc", 0.1)], None, Some(false));
        assert!(stored.is_empty());
        log(&mut steps, &mut stored, &[("lr", 0.01)], None, None);
        assert_eq!(stored, vec![owned(0, &[("loss", 2.0), ("acc", 0.1), ("lr", 0.01)])]);
        assert_eq!(steps.step(), 1);
    }

    #[test]
    fn an_explicit_step_gathers_until_a_later_step_or_a_flush() {
        let (mut steps, mut stored) = (Steps::new(), Stored::new());
        log(&mut steps, &mut stored, &[("loss", 1.0)], Some(5), None);
        log(&mut steps, &mut stored, &[("acc", 0.3)], Some(5), None);
        assert!(stored.is_empty());
        assert_eq!(steps.step(), 5);
        log(&mut steps, &mut stored, &[("loss", 0.5)], Some(7), None);
        assert_eq!(stored, vec![owned(5, &[("loss", 1.0), ("acc", 0.3)])]);
        steps
            .flush(|s, p| {
                stored.push(owned(s, p));
                Ok::<(), String>(())
            })
            .unwrap();
        assert_eq!(stored[1], owned(7, &[("loss", 0.5)]));
        log(&mut steps, &mut stored, &[("loss", 0.25)], Some(8), Some(true));
        assert_eq!(stored[2], owned(8, &[("loss", 0.25)]));
        assert_eq!(steps.step(), 9);
    }

    #[test]
    fn a_step_that_goes_back_is_refused_and_logs_nothing() {
        let (mut steps, mut stored) = (Steps::new(), Stored::new());
        log(&mut steps, &mut stored, &[("loss", 1.0)], Some(3), Some(true));
        let err = steps.log(&[("loss", 2.0)], Some(2), None, |_, _| Ok::<(), String>(())).unwrap_err();
        assert_eq!(err, StepError::Backwards { step: 2, current: 4 });
        assert!(err.to_string().contains("step 2 is lower than the run's current step 4"));
        assert_eq!(stored.len(), 1);
    }

    #[test]
    fn a_custom_axis_stores_metrics_at_the_axis_value() {
        let (mut steps, mut stored) = (Steps::new(), Stored::new());
        steps.define_axis("epoch", "epoch");
        steps.define_axis("val/*", "epoch");
        log(&mut steps, &mut stored, &[("train/loss", 1.0)], None, None);
        log(&mut steps, &mut stored, &[("train/loss", 0.9), ("epoch", 0.0), ("val/acc", 0.5)], None, None);
        log(&mut steps, &mut stored, &[("train/loss", 0.8)], None, None);
        log(&mut steps, &mut stored, &[("epoch", 1.0)], None, None);
        // Without the axis in the call, its last value is used.
        log(&mut steps, &mut stored, &[("val/acc", 0.7), ("val/loss", 0.3)], None, None);
        assert_eq!(
            stored,
            vec![
                owned(0, &[("train/loss", 1.0)]),
                owned(0, &[("val/acc", 0.5)]),
                owned(1, &[("train/loss", 0.9), ("epoch", 0.0)]),
                owned(2, &[("train/loss", 0.8)]),
                owned(3, &[("epoch", 1.0)]),
                owned(1, &[("val/acc", 0.7), ("val/loss", 0.3)]),
            ]
        );
    }

    #[test]
    fn a_custom_axis_without_a_whole_value_is_refused() {
        let mut steps = Steps::new();
        steps.define_axis("val/acc", "epoch");
        let sink = |_: u64, _: &[(&str, f64)]| Ok::<(), String>(());
        let err = steps.log(&[("val/acc", 0.5)], None, None, sink).unwrap_err();
        assert_eq!(err, StepError::AxisMissing { metric: "val/acc".into(), axis: "epoch".into() });
        let err = steps.log(&[("val/acc", 0.5), ("epoch", 1.5)], None, None, sink).unwrap_err();
        assert!(err.to_string().contains("value 1.5 is not a whole number"), "{err}");
        assert_eq!(steps.step(), 0);
    }

    #[test]
    fn a_refused_flush_drops_the_gathered_values_and_the_run_goes_on() {
        let mut steps = Steps::new();
        steps.define_axis("val/acc", "epoch");
        let ok = |_: u64, _: &[(&str, f64)]| Ok::<(), String>(());
        steps.log(&[("val/acc", 0.5)], None, Some(false), ok).unwrap();
        let err = steps.log(&[("loss", 1.0)], None, None, ok).unwrap_err();
        assert!(matches!(err, StepError::AxisMissing { .. }), "{err}");
        let mut stored = Stored::new();
        log(&mut steps, &mut stored, &[("loss", 2.0)], None, None);
        assert_eq!(stored, vec![owned(0, &[("loss", 2.0)])]);
        let err = steps.flush(|_, _| Err("disk full".to_string()));
        assert_eq!(err, Ok(()));
    }

    #[test]
    fn only_plain_committed_calls_are_direct() {
        let mut steps = Steps::new();
        assert_eq!(steps.direct(None, None), Some(0));
        assert_eq!(steps.direct(Some(0), Some(true)), Some(0));
        assert_eq!(steps.direct(Some(0), None), None); // an explicit step gathers
        assert_eq!(steps.direct(None, Some(false)), None);
        steps.advance();
        assert_eq!(steps.direct(Some(0), Some(true)), None); // backwards: `log` refuses it
        steps.log(&[("a", 1.0)], None, Some(false), |_, _| Ok::<(), String>(())).unwrap();
        assert_eq!(steps.direct(None, None), None); // something is gathered
        let mut axes = Steps::new();
        axes.define_axis("val/*", "epoch");
        assert_eq!(axes.direct(None, None), None);
    }

    #[test]
    fn globs_match_any_run_of_characters() {
        assert!(glob("val/*", "val/acc"));
        assert!(glob("*", "anything"));
        assert!(glob("*/acc", "val/acc"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("val/*", "train/acc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(!glob("val/acc", "val/accx"));
    }
}
