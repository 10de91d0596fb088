//! # nabla-train — training loops on top of the engine
//!
//! [`xor`] is the lecture's 2-2-1 network and its many-seed success-rate experiment;
//! [`train`] is the trainer, on image sets and tables, with its typed [`config`]; [`tabular`]
//! splits a table and fits its preprocessing for it; [`checkpoint`] saves and loads
//! models as safetensors and [`quantize`] their int8/bf16 versions, both through
//! [`safetensors_file`]; [`metrics`] turns predictions into accuracy, confusion matrices and
//! regression scores; [`table_model`] runs a table model over a table's rows and turns the
//! outputs into predictions and scores; [`fit`] sets least-squares regressions beside MLPs on
//! a function of one or two variables; [`arrays`] trains on a feature matrix and a target in
//! memory (the Python estimators' way in).
//! The trainer knows nothing of terminals, files or databases beyond checkpoints: it reports
//! to an observer, and callers decide what to show.

pub mod arrays;
pub mod checkpoint;
pub mod config;
pub mod distributed;
pub mod fit;
pub mod landscape;
pub mod metrics;
pub mod quantize;
pub mod safetensors_file;
pub mod schedule;
pub mod table_model;
pub mod tabular;
pub mod train;
pub mod xor;
