//! The trainer's settings: one typed struct with its defaults, filled from a TOML file and
//! command-line flags, and stored whole with every checkpoint and tracked run.

use std::path::Path;
use std::str::FromStr;

use nabla::loss::Loss;
use nabla::optim::{OptimizerConfig, OptimizerKind};
use nabla::{Activation, Dropout, Init, MatmulPrecision, Regularizer};
use nabla_data::table::Task;
use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;

/// The deepest `depth` accepted: far past what trains (the lecture's deep nets have 20 to 56
/// layers), and small enough that a typo cannot allocate a layer list without end.
pub const MAX_DEPTH: usize = 10_000;

/// Everything that decides what `nabla train` computes. Keys in a TOML file are the flag
/// names without `--` (`batch-size = 128`, `hidden = [512, 256]`, `activation = "relu"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct TrainConfig {
    /// Widths of the hidden layers; input and output widths come from the data set.
    /// Empty when `depth` describes the network instead.
    pub hidden: Vec<usize>,
    /// A deep net of `depth` hidden layers of `width` units, instead of `hidden` (which must
    /// then be empty): the plain `inputs-W-…-W-outputs`, or with `residual` that many
    /// residual blocks.
    pub depth: Option<usize>,
    /// The width of every hidden layer of a `depth` net (and of a residual net's stream).
    pub width: Option<usize>,
    /// Pre-norm residual blocks (`nabla::ResidualMlp`) instead of plain layers; needs `depth`.
    pub residual: bool,
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
    /// The arithmetic of the matrix products: `f32`, or `bf16` (mixed precision: bf16
    /// inputs, `f32` sums; the weights, the optimiser and everything else stay `f32`, and so
    /// do checkpoints). bf16 needs a CPU with AMX-BF16 or AVX512-BF16 and a plain MLP.
    #[serde(with = "as_text")]
    pub precision: MatmulPrecision,
}

impl Default for TrainConfig {
    /// The recipe `nabla train` uses when no flag is given: a 512-256 ReLU MLP, He
    /// initialisation, Adam at 1e-3 with a cosine decay, batches of 128, light dropout.
    fn default() -> Self {
        Self {
            hidden: vec![512, 256],
            depth: None,
            width: None,
            residual: false,
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
            precision: MatmulPrecision::F32,
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
        let mut below = self.clone();
        below.before_layer(|key| overrides.contains_key(key)).map_err(|e| e.to_string())?;
        let mut merged = toml::Table::try_from(&below).map_err(|e| e.to_string())?;
        merged.extend(overrides.clone());
        let mut merged = convert(merged)?;
        merged.after_layer(|key| overrides.contains_key(key));
        merged.validate().map_err(|e| e.to_string())?;
        Ok(merged)
    }

    /// Before a settings layer (a TOML file, the flags) is applied over `self`; `given(key)`
    /// says whether the layer sets `key`. A layer's architecture replaces the one below it:
    /// `hidden` clears `depth`, `width` and `residual`; `depth` clears `hidden`. Both in one
    /// layer is an error naming both.
    pub fn before_layer(&mut self, given: impl Fn(&str) -> bool) -> Result<(), ConfigError> {
        if given("hidden") && given("depth") {
            return Err(ConfigError {
                key: "depth",
                value: "with hidden".into(),
                reason: "give either hidden (every width) or depth and width (a deep net of equal widths), not both"
                    .into(),
            });
        }
        if given("hidden") {
            (self.depth, self.width, self.residual) = (None, None, false);
        }
        if given("depth") {
            self.hidden.clear();
        }
        Ok(())
    }

    /// After a settings layer is applied: a layer that chooses a residual net and sets no
    /// dropout turns dropout off, since residual nets train without it (for now).
    pub fn after_layer(&mut self, given: impl Fn(&str) -> bool) {
        if self.residual && given("residual") {
            if !given("dropout") {
                self.dropout = 0.0;
            }
            if !given("input-dropout") {
                self.input_dropout = 0.0;
            }
        }
    }

    /// Checks every range; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |key: &'static str, value: String, reason: &str| ConfigError { key, value, reason: reason.into() };
        if self.hidden.contains(&0) {
            return Err(err("hidden", format!("{:?}", self.hidden), "every hidden width must be ≥ 1"));
        }
        self.validate_depth()?;
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

    /// The `depth`, `width` and `residual` keys, and how they go with `hidden` and dropout.
    fn validate_depth(&self) -> Result<(), ConfigError> {
        let err = |key: &'static str, value: String, reason: String| ConfigError { key, value, reason };
        let show = |v: Option<usize>| v.map_or_else(|| "none".to_string(), |v| v.to_string());
        match (self.depth, self.width) {
            (Some(0), _) => return Err(err("depth", "0".into(), "must be ≥ 1".into())),
            (Some(d), _) if d > MAX_DEPTH => {
                return Err(err("depth", d.to_string(), format!("must be at most {MAX_DEPTH}")));
            }
            (_, Some(0)) => return Err(err("width", "0".into(), "must be ≥ 1".into())),
            (_, Some(w)) if w > nabla::limits::MAX_WIDTH => {
                let reason = format!("must be at most {} (nabla::limits::MAX_WIDTH)", nabla::limits::MAX_WIDTH);
                return Err(err("width", w.to_string(), reason));
            }
            (Some(_), None) => {
                return Err(err("width", "none".into(), "depth needs a width (--width W, or width = W)".into()));
            }
            (None, Some(w)) => {
                return Err(err("width", w.to_string(), "a width needs a depth (--depth N, or depth = N)".into()));
            }
            _ => {}
        }
        if self.depth.is_some() && !self.hidden.is_empty() {
            return Err(err(
                "depth",
                format!("{} with hidden = {:?}", show(self.depth), self.hidden),
                "give either hidden (every width) or depth and width (a deep net of equal widths), not both".into(),
            ));
        }
        if self.residual && self.depth.is_none() {
            return Err(err(
                "residual",
                "true".into(),
                "needs depth and width (--depth N --width W): the number of blocks and their width".into(),
            ));
        }
        if self.residual && self.precision == MatmulPrecision::Bf16 {
            return Err(err(
                "precision",
                "bf16".into(),
                "bf16 training is only implemented for plain MLPs, not residual ones (yet): use precision f32".into(),
            ));
        }
        if self.residual && (self.dropout > 0.0 || self.input_dropout > 0.0) {
            return Err(err(
                "dropout",
                format!("{} (input {})", self.dropout, self.input_dropout),
                "residual nets train without dropout for now: set dropout and input-dropout to 0".into(),
            ));
        }
        Ok(())
    }

    /// The hidden widths of the plain net these settings describe (`hidden`, or `depth`
    /// times `width`); for a residual net, its blocks' widths.
    pub fn hidden_widths(&self) -> Vec<usize> {
        match (self.depth, self.width) {
            (Some(d), Some(w)) => vec![w; d],
            _ => self.hidden.clone(),
        }
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
    fn depth_width_and_residual_keys() {
        let c = TrainConfig::default();
        let deep = c.merge_toml("depth = 3\nwidth = 32").unwrap();
        assert_eq!((deep.hidden.clone(), deep.hidden_widths(), deep.residual), (vec![], vec![32, 32, 32], false));
        assert_eq!(deep.dropout, 0.2, "a plain deep net keeps its dropout");
        let res = c.merge_toml("depth = 3\nwidth = 32\nresidual = true").unwrap();
        assert!(res.residual && res.dropout == 0.0 && res.input_dropout == 0.0);
        // A layer's architecture replaces the one below it.
        let back = res.merge_toml("hidden = [16]").unwrap();
        assert_eq!((back.hidden.clone(), back.depth, back.width, back.residual), (vec![16], None, None, false));
        assert_eq!(toml::from_str::<TrainConfig>(&toml::to_string(&res).unwrap()).unwrap(), res);

        let e = c.merge_toml("hidden = [16]\ndepth = 3\nwidth = 8").unwrap_err();
        assert!(e.contains("hidden") && e.contains("depth"), "{e}");
        let e = c.merge_toml("residual = true").unwrap_err();
        assert!(e.contains("residual") && e.contains("depth"), "{e}");
        let e = c.merge_toml("depth = 0\nwidth = 8").unwrap_err();
        assert!(e.contains("invalid depth = 0"), "{e}");
        let e = c.merge_toml("depth = 2\nwidth = 0").unwrap_err();
        assert!(e.contains("invalid width = 0"), "{e}");
        let e = c.merge_toml("depth = 2\nwidth = 1000000000").unwrap_err();
        assert!(e.contains("width") && e.contains("MAX_WIDTH"), "{e}");
        let e = c.merge_toml("depth = 2").unwrap_err();
        assert!(e.contains("width"), "{e}");
        let e = c.merge_toml("depth = 2\nwidth = 8\nresidual = true\ndropout = 0.5").unwrap_err();
        assert!(e.contains("dropout") && e.contains("residual"), "{e}");
        // Set in code, both at once are refused too.
        let both = TrainConfig { depth: Some(2), width: Some(8), ..TrainConfig::default() };
        assert!(both.validate().unwrap_err().to_string().contains("hidden"));
    }

    #[test]
    fn precision_key() {
        let c = TrainConfig::default();
        assert_eq!(c.precision, MatmulPrecision::F32);
        assert!(toml::to_string(&c).unwrap().contains("precision = \"f32\""));
        assert_eq!(c.merge_toml("precision = \"bf16\"").unwrap().precision, MatmulPrecision::Bf16);
        let e = c.merge_toml("precision = \"fp16\"").unwrap_err();
        assert!(e.contains("precision") && e.contains("f32 or bf16"), "{e}");
        let e = c.merge_toml("depth = 2\nwidth = 8\nresidual = true\nprecision = \"bf16\"").unwrap_err();
        assert!(e.contains("precision") && e.contains("plain MLPs"), "{e}");
        // A config stored before the key existed (a checkpoint's) reads as f32.
        let mut old = c.to_json();
        old.as_object_mut().unwrap().remove("precision");
        assert_eq!(serde_json::from_value::<TrainConfig>(old).unwrap().precision, MatmulPrecision::F32);
    }

    #[test]
    fn hidden_lists() {
        assert_eq!(parse_hidden("128,64").unwrap(), vec![128, 64]);
        assert_eq!(parse_hidden("").unwrap(), Vec::<usize>::new());
        assert!(parse_hidden("128,x").is_err());
        assert!(parse_hidden("0").is_err());
    }
}
