//! Learning-rate schedules: the learning rate as a function of the step.

use std::fmt;
use std::str::FromStr;

/// How the learning rate changes over a run (after the warm-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Divided by 10 at 50 % and again at 75 % of the run (the classic step decay).
    Step,
    /// Half a cosine from the peak rate down to 0 at the last step (Loshchilov & Hutter 2017,
    /// without restarts).
    Cosine,
}

impl Schedule {
    /// The learning rate at `step` (0-based) of `total` steps, with a linear warm-up from 0
    /// to `peak` over the first `warmup` steps.
    pub fn lr(self, peak: f32, step: u64, total: u64, warmup: u64) -> f32 {
        if step < warmup {
            return peak * (step + 1) as f32 / warmup as f32;
        }
        let span = total.saturating_sub(warmup).max(1);
        let t = (step - warmup) as f64 / span as f64;
        match self {
            Schedule::Constant => peak,
            Schedule::Step => {
                let factor = if t >= 0.75 {
                    0.01
                } else if t >= 0.5 {
                    0.1
                } else {
                    1.0
                };
                peak * factor
            }
            Schedule::Cosine => (f64::from(peak) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())) as f32,
        }
    }
}

impl FromStr for Schedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "constant" => Ok(Schedule::Constant),
            "step" => Ok(Schedule::Step),
            "cosine" => Ok(Schedule::Cosine),
            _ => Err(format!("invalid schedule `{s}`: expected constant, step or cosine")),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Schedule::Constant => "constant",
            Schedule::Step => "step",
            Schedule::Cosine => "cosine",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_the_schedules() {
        assert_eq!(Schedule::Constant.lr(0.1, 50, 100, 0), 0.1);
        assert_eq!(Schedule::Step.lr(1.0, 49, 100, 0), 1.0);
        assert_eq!(Schedule::Step.lr(1.0, 50, 100, 0), 0.1);
        assert_eq!(Schedule::Step.lr(1.0, 80, 100, 0), 0.01);
        assert_eq!(Schedule::Cosine.lr(1.0, 0, 100, 0), 1.0);
        assert!((Schedule::Cosine.lr(1.0, 50, 100, 0) - 0.5).abs() < 1e-6);
        assert!(Schedule::Cosine.lr(1.0, 99, 100, 0) < 0.001);
        // Warm-up: linear to the peak, then the schedule starts from the peak.
        assert!((Schedule::Cosine.lr(1.0, 0, 110, 10) - 0.1).abs() < 1e-6);
        assert!((Schedule::Cosine.lr(1.0, 9, 110, 10) - 1.0).abs() < 1e-6);
        assert_eq!(Schedule::Cosine.lr(1.0, 10, 110, 10), 1.0);
        for s in ["constant", "step", "cosine"] {
            assert_eq!(s.parse::<Schedule>().unwrap().to_string(), s);
        }
        assert!("linear".parse::<Schedule>().is_err());
    }
}
