//! # nabla — neural networks by hand
//!
//! The engine: a row-major `f32` [`Matrix`], [`mod@gemm`] (a reference kernel beside a fast
//! one), [`activation`]s with their derivatives, a stable [`softmax`], [`loss`]es,
//! [`regularizer`]s, [`init`]ialisers, [`optim`]isers, the [`Dense`] layer and the [`Mlp`]
//! built from it with backpropagation written out, [`LayerNorm`] and the pre-norm
//! [`ResidualMlp`] built from both, [`gradcheck`] by finite differences, and a
//! small scalar [`autodiff`] graph that shows the chain rule, and closed-form
//! [`least_squares`] (linear and polynomial regression, the baseline a network is compared to).
//!
//! The engine does no I/O and prints nothing; its only threads are the [`pool`]'s workers,
//! started when [`pool::set_threads`] asks for more than one.

pub mod activation;
pub mod autodiff;
pub mod dense;
pub mod error;
pub mod gemm;
pub mod gradcheck;
pub mod init;
pub mod layernorm;
pub mod least_squares;
pub mod limits;
pub mod loss;
pub mod math;
pub mod matrix;
pub mod mlp;
pub mod network;
pub mod optim;
pub mod perceptron;
pub mod pool;
pub mod quant;
pub mod regularizer;
pub mod residual;
pub mod rng;
pub mod simd;
pub mod softmax;

pub use activation::Activation;
pub use dense::Dense;
pub use error::{Error, Result};
pub use gemm::{gemm, MatmulPrecision, Transpose};

pub use init::Init;
pub use layernorm::LayerNorm;
pub use loss::{Loss, Targets};
pub use matrix::{MatMut, MatRef, Matrix};
pub use mlp::{Dropout, Mlp, MlpSpec, PackedMlp, Workspace};
pub use network::{Network, NetworkSpec, NetworkWorkspace};
pub use optim::{Optimizer, OptimizerConfig, OptimizerKind, Sgd};
pub use regularizer::Regularizer;
pub use residual::{ResidualMlp, ResidualSpec, ResidualWorkspace};

pub use rng::Rng;
