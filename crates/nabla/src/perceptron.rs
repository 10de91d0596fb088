//! Rosenblatt's perceptron on two inputs: `y = step(w·x + b)`, trained with the perceptron
//! learning rule `w ← w + η (t − y) x`, `b ← b + η (t − y)`, one example at a time.
//!
//! If the two classes can be split by a line, the rule finds such a line after finitely many
//! updates (Novikoff 1962). If they cannot — XOR — it never stops updating. Here that is not
//! left to a timeout: the rule is deterministic (examples in a fixed order), so once the
//! weights at the end of an epoch repeat an earlier epoch's, training cycles forever, which
//! proves it will never converge.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A two-input logic gate: the lecture's data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// 1 only for (1, 1).
    And,
    /// 1 unless (0, 0).
    Or,
    /// 0 only for (1, 1).
    Nand,
    /// 1 when the inputs differ: not linearly separable.
    Xor,
}

impl Gate {
    /// All four, in the order the lecture shows them.
    pub const ALL: [Gate; 4] = [Gate::And, Gate::Or, Gate::Nand, Gate::Xor];

    /// The truth table: inputs `(0,0), (0,1), (1,0), (1,1)` and their targets.
    pub fn examples(self) -> [Example; 4] {
        let t = |a: u8, b: u8| -> f64 {
            let (a, b) = (a == 1, b == 1);
            f64::from(u8::from(match self {
                Gate::And => a && b,
                Gate::Or => a || b,
                Gate::Nand => !(a && b),
                Gate::Xor => a != b,
            }))
        };
        [(0, 0), (0, 1), (1, 0), (1, 1)].map(|(a, b)| Example { x: [f64::from(a), f64::from(b)], target: t(a, b) })
    }

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Gate::And => "and",
            Gate::Or => "or",
            Gate::Nand => "nand",
            Gate::Xor => "xor",
        }
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name().to_ascii_uppercase())
    }
}

impl FromStr for Gate {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "and" => Ok(Gate::And),
            "or" => Ok(Gate::Or),
            "nand" => Ok(Gate::Nand),
            "xor" => Ok(Gate::Xor),
            _ => Err(Error::Parse { what: "gate", input: s.into(), reason: "expected and, or, nand or xor".into() }),
        }
    }
}

/// One training example.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Example {
    /// The two inputs.
    pub x: [f64; 2],
    /// The target, 0 or 1.
    pub target: f64,
}

/// The weights and bias of a perceptron.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Perceptron {
    /// One weight per input.
    pub w: [f64; 2],
    /// The bias (the negative threshold).
    pub b: f64,
}

impl Perceptron {
    /// `w·x + b`, the pre-activation.
    pub fn net(&self, x: [f64; 2]) -> f64 {
        self.w[0] * x[0] + self.w[1] * x[1] + self.b
    }

    /// The step function: 1 when `w·x + b > 0`, else 0.
    pub fn predict(&self, x: [f64; 2]) -> f64 {
        if self.net(x) > 0.0 {
            1.0
        } else {
            0.0
        }
    }

    /// One application of the rule: `w += η (t − y) x`, `b += η (t − y)`. Returns whether
    /// the example was misclassified (and the weights moved).
    pub fn update(&mut self, e: &Example, lr: f64) -> bool {
        let error = e.target - self.predict(e.x);
        if error == 0.0 {
            return false;
        }
        self.w[0] += lr * error * e.x[0];
        self.w[1] += lr * error * e.x[1];
        self.b += lr * error;
        true
    }
}

/// The state after one epoch (one pass over the examples, in order).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochRecord {
    /// 1 for the first epoch.
    pub epoch: usize,
    /// Examples misclassified during the pass (each caused an update).
    pub mistakes: usize,
    /// The weights at the end of the epoch.
    pub perceptron: Perceptron,
}

/// How training ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Epoch `epoch` made no mistakes: the line separates the classes.
    Converged {
        /// The first epoch without a mistake.
        epoch: usize,
    },
    /// The weights at the end of epoch `repeat` equal those at the end of epoch `first`:
    /// the rule is cycling and will never converge.
    Cycle {
        /// The earlier epoch.
        first: usize,
        /// The epoch that repeated it.
        repeat: usize,
    },
    /// Neither happened within the epoch limit.
    EpochLimit,
}

/// A training run: the starting weights, every epoch's record, and the outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Training {
    /// The weights before the first epoch.
    pub initial: Perceptron,
    /// One record per epoch run.
    pub epochs: Vec<EpochRecord>,
    /// How it ended.
    pub outcome: Outcome,
}

impl Training {
    /// The final weights.
    pub fn last(&self) -> Perceptron {
        self.epochs.last().map_or(self.initial, |r| r.perceptron)
    }
}

/// Trains from `initial` with learning rate `lr` for at most `max_epochs` epochs, stopping
/// at the first epoch without a mistake or when the weights repeat an earlier epoch's.
pub fn train(examples: &[Example], initial: Perceptron, lr: f64, max_epochs: usize) -> Result<Training> {
    if !(lr.is_finite() && lr > 0.0) {
        return Err(Error::Invalid { name: "learning rate", value: lr.to_string(), reason: "must be > 0".into() });
    }
    if examples.is_empty() {
        return Err(Error::Invalid { name: "examples", value: "none".into(), reason: "need at least one".into() });
    }
    let mut p = initial;
    let mut epochs: Vec<EpochRecord> = Vec::new();
    for epoch in 1..=max_epochs {
        let mistakes = examples.iter().filter(|e| p.update(e, lr)).count();
        epochs.push(EpochRecord { epoch, mistakes, perceptron: p });
        if mistakes == 0 {
            return Ok(Training { initial, epochs, outcome: Outcome::Converged { epoch } });
        }
        // The epoch is a fixed function of the starting weights, so a repeated state means
        // the same epochs will follow forever. (Compared with a tolerance for the rounding
        // of a fractional learning rate.)
        let same = |a: &Perceptron| {
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs()));
            close(a.w[0], p.w[0]) && close(a.w[1], p.w[1]) && close(a.b, p.b)
        };
        let mut earlier =
            std::iter::once((0, initial)).chain(epochs[..epochs.len() - 1].iter().map(|r| (r.epoch, r.perceptron)));
        if let Some((first, _)) = earlier.find(|(_, q)| same(q)) {
            return Ok(Training { initial, epochs, outcome: Outcome::Cycle { first, repeat: epoch } });
        }
    }
    Ok(Training { initial, epochs, outcome: Outcome::EpochLimit })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(gate: Gate) -> Training {
        train(&gate.examples(), Perceptron::default(), 1.0, 100).unwrap()
    }

    fn separates(p: Perceptron, gate: Gate) -> bool {
        gate.examples().iter().all(|e| p.predict(e.x) == e.target)
    }

    #[test]
    fn truth_tables() {
        let targets = |g: Gate| g.examples().map(|e| e.target);
        assert_eq!(targets(Gate::And), [0.0, 0.0, 0.0, 1.0]);
        assert_eq!(targets(Gate::Or), [0.0, 1.0, 1.0, 1.0]);
        assert_eq!(targets(Gate::Nand), [1.0, 1.0, 1.0, 0.0]);
        assert_eq!(targets(Gate::Xor), [0.0, 1.0, 1.0, 0.0]);
        assert_eq!("NAND".parse::<Gate>().unwrap(), Gate::Nand);
        assert!("nor".parse::<Gate>().is_err());
    }

    /// AND, OR and NAND converge, and the final line classifies all four points; worked by
    /// hand from zero weights with η = 1: AND's epoch 6 is the first without a mistake, at
    /// w = (2, 1), b = −2; OR's is epoch 4, at w = (1, 1), b = 0.
    #[test]
    fn and_or_nand_converge() {
        let and = run(Gate::And);
        assert_eq!(and.outcome, Outcome::Converged { epoch: 6 });
        assert_eq!(and.last(), Perceptron { w: [2.0, 1.0], b: -2.0 });
        let or = run(Gate::Or);
        assert_eq!(or.outcome, Outcome::Converged { epoch: 4 });
        assert_eq!(or.last(), Perceptron { w: [1.0, 1.0], b: 0.0 });
        for gate in [Gate::And, Gate::Or, Gate::Nand] {
            let t = run(gate);
            assert!(matches!(t.outcome, Outcome::Converged { .. }), "{gate}: {:?}", t.outcome);
            assert!(separates(t.last(), gate), "{gate}");
            assert_eq!(t.epochs.last().unwrap().mistakes, 0);
        }
    }

    /// XOR never converges: the weights return to an earlier epoch's, and no epoch in a long
    /// run is free of mistakes.
    #[test]
    fn xor_cycles_and_never_converges() {
        let t = run(Gate::Xor);
        let Outcome::Cycle { first, repeat } = t.outcome else { panic!("XOR: {:?}", t.outcome) };
        assert!(first < repeat);
        assert!(t.epochs.iter().all(|r| r.mistakes > 0));
        // Without the cycle check it would go on making mistakes: follow it for 1000 epochs.
        let mut p = Perceptron::default();
        for _ in 0..1000 {
            let mistakes = Gate::Xor.examples().iter().filter(|e| p.update(e, 1.0)).count();
            assert!(mistakes > 0);
        }
        // And a fractional learning rate cycles too (states compared with a tolerance).
        let t = train(&Gate::Xor.examples(), Perceptron::default(), 0.1, 1000).unwrap();
        assert!(matches!(t.outcome, Outcome::Cycle { .. }), "{:?}", t.outcome);
    }

    #[test]
    fn bad_settings_are_errors() {
        assert!(train(&Gate::And.examples(), Perceptron::default(), 0.0, 10).is_err());
        assert!(train(&Gate::And.examples(), Perceptron::default(), f64::NAN, 10).is_err());
        assert!(train(&[], Perceptron::default(), 1.0, 10).is_err());
        let t = train(&Gate::And.examples(), Perceptron::default(), 1.0, 2).unwrap();
        assert_eq!((t.outcome, t.epochs.len()), (Outcome::EpochLimit, 2));
    }
}
