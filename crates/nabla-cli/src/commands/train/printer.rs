//! What `nabla train` shows as it goes: a progress bar with a live loss on a terminal, a
//! plain line per epoch otherwise, or JSON lines; and the tracked run it logs to.

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use nabla_train::config::TrainConfig;
use nabla_train::train::{CheckpointKind, EpochMetrics, Objective, Observer, Scores, StartInfo, StepInfo};

use crate::commands::tracking;

/// Shows training as it goes: a progress bar with a live loss on a terminal, a plain line
/// per epoch otherwise, or JSON lines.
pub(super) struct Printer {
    json: bool,
    bar: Option<ProgressBar>,
    terminal: bool,
    header: String,
    /// The tracked run, if any: every step's batch loss and learning rate, and every
    /// epoch's metrics, are logged at the global step.
    pub run: Option<nabla_track::Run>,
    steps_per_epoch: usize,
    /// Steps of earlier runs logged to the same tracked run (cross-validation folds follow
    /// one another on one time axis).
    pub step_offset: u64,
    /// The cross-validation fold being trained (1-based), shown and put in JSON lines.
    pub fold: Option<usize>,
    /// Global steps logged so far, for the next fold's offset.
    pub last_step: u64,
    /// `--save-every N`: keep a copy of the checkpoint of every N-th epoch as
    /// `epoch-K.safetensors` beside it (the training path `nabla landscape --trajectory` draws).
    pub save_every: Option<usize>,
    epoch: usize,
}

impl Printer {
    pub fn new(json: bool, config: &TrainConfig) -> Self {
        let mut header = format!(
            "{} lr {} ({} schedule), batch {}, {} epochs, dropout {}, seed {}",
            config.optimizer, config.lr, config.schedule, config.batch_size, config.epochs, config.dropout, config.seed
        );
        // Said only when it is not the default, so that an f32 run prints what it always did.
        if config.precision == nabla::MatmulPrecision::Bf16 {
            let kernel = nabla::gemm::bf16::best_kernel().map_or("none", |k| k.name());
            header.push_str(&format!(", bf16 matrix products ({kernel})"));
        }
        Printer {
            json,
            bar: None,
            terminal: !json && io::stderr().is_terminal(),
            header,
            run: None,
            steps_per_epoch: 1,
            step_offset: 0,
            fold: None,
            last_step: 0,
            save_every: None,
            epoch: 0,
        }
    }

    pub fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    pub fn line(&self, text: &str) {
        let _ = writeln!(io::stdout().lock(), "{text}");
    }
}

impl Observer for Printer {
    fn on_start(&mut self, info: &StartInfo) {
        self.steps_per_epoch = info.steps_per_epoch;
        if self.fold.is_none_or(|f| f == 1) {
            tracking::with_run(&mut self.run, |r| {
                r.summary("params", info.params as u64)?;
                r.summary("architecture", info.spec.to_string())
            });
        }
        if self.json {
            return;
        }
        let what = match info.objective {
            Objective::Classes(k) => format!("a classifier of {k} classes"),
            Objective::Value { loss, .. } => format!("a regression ({loss} loss on the standardised target)"),
        };
        let fold = self.fold.map(|f| format!("fold {f}: ")).unwrap_or_default();
        self.line(&format!(
            "{fold}training {} ({} parameters), {what}, on {} examples, evaluating on {} {} examples",
            info.spec, info.params, info.train_examples, info.eval_examples, info.eval_split
        ));
        if self.fold.is_none_or(|f| f == 1) {
            self.line(&self.header.clone());
        }
    }

    fn on_step(&mut self, step: &StepInfo) {
        let global = self.step_offset + ((step.epoch - 1) * self.steps_per_epoch + step.step) as u64;
        self.last_step = global;
        tracking::with_run(&mut self.run, |r| {
            r.log(global, &[("train/batch_loss", step.loss), ("lr", f64::from(step.lr))])
        });
        if !self.terminal {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(step.steps as u64);
            bar.set_style(
                ProgressStyle::with_template("epoch {prefix:>3} [{bar:30}] {pos}/{len} {msg} ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        bar.set_prefix(step.epoch.to_string());
        bar.set_position(step.step as u64);
        if step.step.is_multiple_of(10) || step.step == step.steps {
            bar.set_message(format!("loss {:.4}", step.loss));
        }
    }

    fn on_epoch(&mut self, m: &EpochMetrics) {
        self.epoch = m.epoch;
        self.finish_bar();
        let global = self.step_offset + (m.epoch * self.steps_per_epoch) as u64;
        tracking::with_run(&mut self.run, |r| r.log(global, &m.tracked()));
        if self.json {
            let mut line = m.to_json();
            if let Some(f) = self.fold {
                line["fold"] = f.into();
            }
            self.line(&line.to_string());
        } else {
            let fold = self.fold.map(|f| format!("fold {f} ")).unwrap_or_default();
            self.line(&format!(
                "{fold}epoch {:>3}  train loss {:.4}{}  val loss {:.4}{}  lr {:.2e}  {:.1}s ({:.0} samples/s)",
                m.epoch,
                m.train_loss,
                scores_text(&m.train),
                m.val_loss,
                scores_text(&m.val),
                m.lr,
                m.seconds,
                m.samples_per_sec
            ));
        }
    }

    fn wants_initial(&self) -> bool {
        self.save_every.is_some()
    }

    fn on_checkpoint(&mut self, path: &std::path::Path, kind: CheckpointKind) {
        if kind == CheckpointKind::Initial {
            // The path's first point: epoch-0, beside the epochs --save-every keeps.
            let renamed = std::fs::rename(path, path.with_file_name("epoch-0.safetensors"));
            if let Err(e) = renamed {
                let _ = writeln!(io::stderr(), "warning: --save-every: cannot keep the initial weights: {e}");
            }
            return;
        }
        let Some(every) = self.save_every.filter(|&n| kind == CheckpointKind::Last && self.epoch.is_multiple_of(n))
        else {
            return;
        };
        let copy = path.with_file_name(format!("epoch-{}.safetensors", self.epoch));
        // Through a temporary file and a rename, as every checkpoint is written.
        let written = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| nabla_plot::write_atomic(&copy, &bytes).map_err(|e| e.to_string()));
        if let Err(e) = written {
            let _ = writeln!(io::stderr(), "warning: --save-every {every}: cannot keep {}: {e}", copy.display());
        }
    }
}

/// Scores as the per-epoch line shows them: ` acc 97.12%`, or ` rmse 3.21 mae 2.50 r² 0.481`.
pub(super) fn scores_text(s: &Scores) -> String {
    match s {
        Scores::Classes { acc } => format!(" acc {:.2}%", 100.0 * acc),
        Scores::Values(r) => format!(" rmse {:.4} mae {:.4} r² {:.4}", r.rmse, r.mae, r.r2),
    }
}
