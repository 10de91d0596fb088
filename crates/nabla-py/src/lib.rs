//! nabla's tracker for Python scripts: the `nabla._nabla` extension module behind
//! `import nabla` and `import nabla.compat.wandb as wandb`.
//!
//! The bindings (`bindings`, PyO3) are built only with the `python` feature, which maturin
//! turns on (see `pyproject.toml`); a plain `cargo build` compiles the step rules ([`steps`])
//! alone, so that the workspace builds and tests without Python headers. The Python side of
//! the package is in `python/nabla`, its tests in `tests/` (pytest) and its benchmark in `bench/`.

#[cfg(feature = "python")]
mod bindings;
#[cfg(feature = "python")]
mod estimator;
#[cfg(feature = "python")]
mod fit_run;
pub mod steps;
