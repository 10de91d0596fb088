//! How a [`Preprocessor`](super::Preprocessor) is fitted: the choices `nabla train TABLE`'s
//! `--impute`, `--unknown` and `--scale` and the estimators' keywords make.

use serde::{Deserialize, Serialize};

use super::Z_LIMIT;

/// How a numeric feature is scaled before the network sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// `(v − mean) / std` with the training split's mean and population deviation, clipped
    /// to ±[`Z_LIMIT`] (as scikit-learn's `StandardScaler`, plus the clip).
    #[default]
    Standard,
    /// `(v − min) / (max − min)` with the training split's extremes: the training values land
    /// in `[0, 1]`; new values outside the training range are not clipped.
    MinMax,
    /// The values as given (already scaled by the caller: pixels in `[0, 1]`, say).
    None,
}

impl Scale {
    /// The words accepted, for messages.
    pub const NAMES: &'static str = "standard, minmax or none";

    /// The word that names it (`standard`, `minmax`, `none`), as `--scale` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Scale::Standard => "standard",
            Scale::MinMax => "minmax",
            Scale::None => "none",
        }
    }

    /// Whether it is the default (a checkpoint leaves the default out of its metadata, so
    /// that a model written before the choice existed reads back the same).
    pub fn is_standard(&self) -> bool {
        *self == Scale::Standard
    }

    /// One value `v` of a feature whose fitted shift and divisor are `shift` and `divisor`
    /// (the mean and deviation, the minimum and range, or 0 and 1): `(v − shift) / divisor`,
    /// clipped to ±[`Z_LIMIT`] when standardising.
    pub fn apply(self, v: f64, shift: f64, divisor: f64) -> f32 {
        let z = (v - shift) / divisor;
        match self {
            Scale::Standard => z.clamp(-Z_LIMIT, Z_LIMIT) as f32,
            Scale::MinMax | Scale::None => z as f32,
        }
    }
}

impl std::str::FromStr for Scale {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standard" => Ok(Scale::Standard),
            "minmax" => Ok(Scale::MinMax),
            "none" => Ok(Scale::None),
            other => Err(format!("unknown scaling `{other}` (expected {})", Scale::NAMES)),
        }
    }
}

/// What to put in place of a missing feature value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Impute {
    /// The training split's mean of the column.
    Mean,
    /// The training split's median of the column.
    Median,
    /// Zero (for a text column: all zeros in its one-hot block).
    Zero,
}

impl Impute {
    /// The word that names it (`mean`, `median`, `zero`), as `--impute` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Impute::Mean => "mean",
            Impute::Median => "median",
            Impute::Zero => "zero",
        }
    }
}

impl std::str::FromStr for Impute {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mean" => Ok(Impute::Mean),
            "median" => Ok(Impute::Median),
            "zero" => Ok(Impute::Zero),
            other => Err(format!("unknown imputation `{other}` (expected mean, median or zero)")),
        }
    }
}

/// What to do with a category the training split never had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unknown {
    /// Refuse, naming the column and the value.
    #[default]
    Error,
    /// Encode it as all zeros.
    Ignore,
}

impl Unknown {
    /// The word that names it (`error`, `ignore`), as `--unknown` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Unknown::Error => "error",
            Unknown::Ignore => "ignore",
        }
    }
}

/// How to fit a [`Preprocessor`](super::Preprocessor).
#[derive(Debug, Clone, Default)]
pub struct PreprocessOptions {
    /// Fill missing feature values; `None` makes a missing value an error.
    pub impute: Option<Impute>,
    /// Unseen categories at prediction time.
    pub unknown: Unknown,
    /// How numeric features are scaled.
    pub scale: Scale,
}
