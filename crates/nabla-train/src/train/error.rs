//! What goes wrong in a training run, and the checks that name it.

use std::path::PathBuf;

use nabla::{Mlp, Network};

use crate::config::ConfigError;
use crate::safetensors_file::CheckpointError;

/// What went wrong in a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A setting is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The engine refused an operation (a shape bug or a bad setting).
    #[error(transparent)]
    Engine(#[from] nabla::Error),
    /// The data could not be split.
    #[error(transparent)]
    Data(#[from] nabla_data::DataError),
    /// A checkpoint could not be written or does not fit.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A table part to train or score on has no target column.
    #[error("the rows to train or score on have no target values")]
    NoTargets,
    /// The loss became NaN or infinite.
    #[error(
        "the loss became {loss} at epoch {epoch}, step {step}: training diverged; \
         try a lower learning rate (--lr){kept}"
    )]
    NonFinite {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// The loss value (NaN or ±inf).
        loss: f64,
        /// Where the last good checkpoint is, as a phrase (may be empty).
        kept: String,
    },
}

/// A diverged step's error: the loss is NaN or infinite (before the weights take the step).
pub(super) fn check_finite(
    loss: f64,
    epoch: usize,
    step: usize,
    last_checkpoint: &Option<PathBuf>,
) -> Result<(), TrainError> {
    if loss.is_finite() {
        return Ok(());
    }
    let kept = match last_checkpoint {
        Some(p) => format!("; the last good checkpoint is {}", p.display()),
        None => String::new(),
    };
    Err(TrainError::NonFinite { epoch, step, loss, kept })
}

/// The plain MLP of a step that needs one (dropout masks, the per-layer all-reduce).
pub(super) fn plain(net: &Network) -> Result<&Mlp, TrainError> {
    net.plain().ok_or_else(|| unsupported("data-parallel training", net))
}

/// `what` is not implemented for `net`'s kind (the settings refuse it before training).
pub(super) fn unsupported(what: &'static str, net: &Network) -> TrainError {
    let reason = format!("{what} is only implemented for plain MLPs");
    TrainError::Config(ConfigError { key: "residual", value: net.spec().to_string(), reason })
}
