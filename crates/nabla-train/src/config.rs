//! The trainer's settings: one typed struct with its defaults, filled from a TOML file and
//! command-line flags, and stored whole with every checkpoint and tracked run.

use std::path::Path;
use std::str::FromStr;

use nabla::loss::Loss;
use nabla::optim::{OptimizerConfig, OptimizerKind};
use nabla::{Activation, Dropout, Init, Regularizer};
use nabla_data::table::Task;
use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;

/// Everything that decides what `nabla train` computes. Keys in a TOML file are the flag
/// names without `--` (`batch-size = 128`, `hidden = [512, 256]`, `activation = "relu"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct TrainConfig {
    /// Widths of the hidden layers; input and output widths come from the data set.
    pub hidden: Vec<usize>,
    /// Activation of every hidden layer.
    #[serde(with = "as_text")]
    pub activation: Activation,
    /// Weight initialiser.
    #[serde(with = "as_text")]
    pub init: Init,
    /// Optimiser.
    #[serde(with = "as_text")]
    pub optimizer: OptimizerKind,
    /// Peak learning rate.
    pub lr: f32,
    /// Momentum (momentum and Nesterov).
    pub momentum: f32,
    /// Weight decay (decoupled for AdamW, added to the gradient otherwise).
    pub weight_decay: f32,
    /// L1 penalty λ on the weights.
    pub l1: f32,
    /// L2 penalty λ on the weights (`½λΣw²`).
    pub l2: f32,
    /// Dropout probability of hidden units.
    pub dropout: f32,
    /// Dropout probability of input features.
    pub input_dropout: f32,
    /// Examples per step; the last batch of an epoch may be smaller.
    pub batch_size: usize,
    /// Passes over the training data.
    pub epochs: usize,
    /// Learning-rate schedule over the run.
    #[serde(with = "as_text")]
    pub schedule: Schedule,
    /// Epochs of linear warm-up from 0 to `lr` (fractions allowed).
    pub warmup_epochs: f32,
    /// Seed of every random draw (initial weights, split, shuffling, dropout).
    pub seed: u64,
    /// Threads for the matrix kernels (results are bit-identical for the same count).
    pub threads: usize,
    /// Share of the training set held out for validation (0 = validate on the test set).
    pub val_split: f64,
    /// Standardise inputs with the training set's pixel mean and standard deviation.
    pub standardize: bool,
    /// A regression's loss on the standardised target: mse, mae or huber (a classification
    /// always trains on softmax cross-entropy).
    #[serde(with = "as_text")]
    pub loss: Loss,
    /// Early stopping: end training when the evaluation loss has not improved for this many
    /// epochs, and keep the weights of its best epoch (0: train every epoch).
    pub patience: usize,
}

impl Default for TrainConfig {
    /// The recipe `nabla train` uses when no flag is given: a 512-256 ReLU MLP, He
    /// initialisation, Adam at 1e-3 with a cosine decay, batches of 128, light dropout.
    fn default() -> Self {
        Self {
            hidden: vec![512, 256],
            activation: Activation::Relu,
            init: Init::HeNormal,
            optimizer: OptimizerKind::Adam,
            lr: 1e-3,
            momentum: 0.9,
            weight_decay: 0.0,
            l1: 0.0,
            l2: 0.0,
            dropout: 0.2,
            input_dropout: 0.0,
            batch_size: 128,
            epochs: 15,
            schedule: Schedule::Cosine,
            warmup_epochs: 0.0,
            seed: 0,
            threads: 1,
            val_split: 0.1,
            standardize: false,
            loss: Loss::Mse,
            patience: 0,
        }
    }
}

/// A setting that is out of its range, naming the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid {key} = {value}: {reason}")]
pub struct ConfigError {
    /// The key (as in the TOML file and the flag).
    pub key: &'static str,
    /// The value given.
    pub value: String,
    /// What is allowed.
    pub reason: String,
}

impl TrainConfig {
    /// The defaults for a data set: the same recipe everywhere, with more epochs where they
    /// pay: Fashion-MNIST keeps improving to about 25 epochs, and the small digits set
    /// (1,438 training images) needs smaller batches and 60 epochs for enough steps.
    pub fn for_dataset(name: &str) -> Self {
        let mut c = Self::default();
        match name {
            "fashion-mnist" => c.epochs = 25,
            "digits" => {
                c.epochs = 60;
                c.batch_size = 32;
            }
            _ => {}
        }
        c
    }

    /// The defaults for a table of `rows` rows whose target is learnt as `task`.
    ///
    /// A small table (under 10,000 rows, the UCI sets' size) gets one hidden layer, batches
    /// of 32, no dropout, and up to 300 epochs with early stopping after 20 without a better
    /// validation loss. Classes: 128 wide, an L2 penalty of 3e-3, 10% of the rows to validate
    /// on. A regression overfits a small noisy table sooner (diabetes' best epoch is about the
    /// 10th at 1e-4): 64 wide, an L2 penalty of 0.05, and 20% to validate on, so that early
    /// stopping's choice is less noisy. These were chosen by 5-fold cross-validation on the
    /// four UCI tables (docs/RECIPES.md). A large table gets the image recipe (512-256,
    /// dropout 0.2, 15 epochs of 128) with an L2 penalty of 1e-4 and early stopping after 3:
    /// on MNIST written as a table it reaches the image run's accuracy (docs/RECIPES.md).
    pub fn for_table(rows: usize, task: Task) -> Self {
        let mut c = Self::default();
        if rows < 10_000 {
            c.batch_size = 32;
            c.epochs = 300;
            c.patience = 20;
            c.dropout = 0.0;
            match task {
                Task::Classify => {
                    c.hidden = vec![128];
                    c.l2 = 3e-3;
                    c.val_split = 0.1;
                }
                Task::Regress => {
                    c.hidden = vec![64];
                    c.l2 = 0.05;
                    c.val_split = 0.2;
                }
            }
        } else {
            c.patience = 3;
            c.l2 = 1e-4;
        }
        c
    }

    /// Reads a TOML file over `self`: keys present in the file replace the current values.
    pub fn merge_toml_file(&self, path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        self.merge_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads TOML text over `self`. Errors name the key at fault.
    pub fn merge_toml(&self, text: &str) -> Result<Self, String> {
        let overrides: toml::Table = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let base = toml::Table::try_from(self).map_err(|e| e.to_string())?;
        let convert = |table: toml::Table| -> Result<TrainConfig, String> {
            toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| e.message().to_string())
        };
        // Try each key on its own first, so that a wrong type is reported with its key.
        for (key, value) in &overrides {
            let mut one = base.clone();
            one.insert(key.clone(), value.clone());
            convert(one).map_err(|e| if e.contains(key.as_str()) { e } else { format!("{key}: {e}") })?;
        }
        let mut merged = base;
        merged.extend(overrides);
        let merged = convert(merged)?;
        merged.validate().map_err(|e| e.to_string())?;
        Ok(merged)
    }

    /// Checks every range; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |key: &'static str, value: String, reason: &str| ConfigError { key, value, reason: reason.into() };
        if self.hidden.contains(&0) {
            return Err(err("hidden", format!("{:?}", self.hidden), "every hidden width must be ≥ 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(err("lr", self.lr.to_string(), "must be a finite number > 0"));
        }
        for (key, v) in [("momentum", self.momentum), ("dropout", self.dropout), ("input-dropout", self.input_dropout)]
        {
            if !(0.0..1.0).contains(&v) {
                return Err(err(key, v.to_string(), "must be in [0, 1)"));
            }
        }
        for (key, v) in [
            ("weight-decay", self.weight_decay),
            ("l1", self.l1),
            ("l2", self.l2),
            ("warmup-epochs", self.warmup_epochs),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(err(key, v.to_string(), "must be a finite number ≥ 0"));
            }
        }
        if self.batch_size == 0 {
            return Err(err("batch-size", "0".into(), "must be ≥ 1"));
        }
        if self.batch_size > nabla::limits::MAX_BATCH {
            let reason = format!("must be at most {} (nabla::limits::MAX_BATCH)", nabla::limits::MAX_BATCH);
            return Err(err("batch-size", self.batch_size.to_string(), &reason));
        }
        if let Some(&w) = self.hidden.iter().find(|&&w| w > nabla::limits::MAX_WIDTH) {
            let reason = format!("a width of at most {} (nabla::limits::MAX_WIDTH)", nabla::limits::MAX_WIDTH);
            return Err(err("hidden", w.to_string(), &reason));
        }
        // `--epochs 0` is refused by the flag's parser; a config file is held to the same.
        if self.epochs == 0 {
            return Err(err("epochs", "0".into(), "must be ≥ 1"));
        }
        if self.threads == 0 {
            return Err(err("threads", "0".into(), "must be ≥ 1"));
        }
        if self.loss == Loss::SoftmaxCrossEntropy {
            return Err(err(
                "loss",
                self.loss.to_string(),
                "is a regression's loss: mse, mae or huber (classes always train on cross-entropy)",
            ));
        }
        if !(0.0..1.0).contains(&self.val_split) {
            return Err(err("val-split", self.val_split.to_string(), "must be in [0, 1)"));
        }
        Ok(())
    }

    /// The optimiser these settings describe.
    pub fn optimizer_config(&self) -> OptimizerConfig {
        OptimizerConfig {
            kind: self.optimizer,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            ..OptimizerConfig::default()
        }
    }

    /// The L1/L2 penalty.
    pub fn regularizer(&self) -> Regularizer {
        Regularizer { l1: self.l1, l2: self.l2 }
    }

    /// The dropout probabilities.
    pub fn dropout(&self) -> Dropout {
        Dropout { input: self.input_dropout, hidden: self.dropout }
    }

    /// The settings as JSON (for checkpoints and the tracker).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a config always serialises")
    }
}

/// (De)serialises a type through its `Display` / `FromStr` text (`"relu"`, `"he"`, …).
mod as_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a comma-separated list of hidden widths (`512,256`; an empty string for none).
pub fn parse_hidden(s: &str) -> Result<Vec<usize>, String> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    s.split([',', '-'])
        .map(|w| match usize::from_str(w.trim()) {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("`{w}` is not a layer width (a whole number ≥ 1)")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip_and_merge() {
        let c = TrainConfig::default();
        let text = toml::to_string(&c).unwrap();
        assert!(text.contains("batch-size = 128") && text.contains("activation = \"relu\""), "{text}");
        assert_eq!(c.merge_toml(&text).unwrap(), c);
        let merged = c.merge_toml("lr = 0.05\noptimizer = \"momentum\"\nhidden = [100]\n").unwrap();
        assert_eq!((merged.lr, merged.optimizer, merged.hidden.clone()), (0.05, OptimizerKind::Momentum, vec![100]));
        assert_eq!(merged.batch_size, 128);
    }

    #[test]
    fn bad_keys_and_values_name_the_key() {
        let c = TrainConfig::default();
        let e = c.merge_toml("learning-rate = 0.1").unwrap_err();
        assert!(e.contains("learning-rate"), "{e}");
        let e = c.merge_toml("activation = \"swish\"").unwrap_err();
        assert!(e.contains("swish"), "{e}");
        let e = c.merge_toml("lr = -1.0").unwrap_err();
        assert!(e.contains("invalid lr = -1"), "{e}");
        let e = c.merge_toml("dropout = 1.0").unwrap_err();
        assert!(e.contains("dropout"), "{e}");
        let e = c.merge_toml("batch-size = \"big\"").unwrap_err();
        assert!(e.starts_with("batch-size: ") && e.contains("big"), "{e}");
        // Regression (issue 21): `--epochs 0` was refused but `epochs = 0` in a file trained
        // nothing and reported checkpoints it never wrote.
        let e = c.merge_toml("epochs = 0").unwrap_err();
        assert!(e.contains("epochs") && e.contains("≥ 1"), "{e}");
        // Regression (issue 21): sizes past memory aborted on a failed allocation.
        let e = c.merge_toml("batch-size = 1000000000000").unwrap_err();
        assert!(e.contains("batch-size") && e.contains("at most 1048576"), "{e}");
        let e = c.merge_toml("hidden = [128, 100000000]").unwrap_err();
        assert!(e.contains("hidden") && e.contains("100000000"), "{e}");
    }

    #[test]
    fn hidden_lists() {
        assert_eq!(parse_hidden("128,64").unwrap(), vec![128, 64]);
        assert_eq!(parse_hidden("").unwrap(), Vec::<usize>::new());
        assert!(parse_hidden("128,x").is_err());
        assert!(parse_hidden("0").is_err());
    }
}
