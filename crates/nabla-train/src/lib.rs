//! # nabla-train — training loops on top of the engine
//!
//! [`xor`] is the lecture's 2-2-1 network and its many-seed success-rate experiment.
//! The trainer knows nothing of terminals, files or databases: callers decide what to show.

pub mod xor;
