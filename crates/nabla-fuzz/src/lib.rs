//! The bodies of nabla's fuzz targets, in stable Rust.
//!
//! Each function takes the fuzzer's bytes and feeds them to one of nabla's readers or parsers
//! the way the `nabla` command does — through the same public entry points, from a file when
//! the reader takes a path — and returns whether the input was accepted. Whatever the bytes,
//! a reader must answer with an error, never a panic, an abort or an allocation without bound.
//!
//! `fuzz/` (cargo-fuzz's layout, outside the workspace, nightly only) runs these under
//! libFuzzer; `tests/replay_corpus.rs` runs every committed corpus file through them on
//! stable, so CI replays each finding in seconds.

use std::path::{Path, PathBuf};

use nabla::Matrix;
use nabla_data::table::{infer_task, PreprocessOptions, Preprocessor, ReadOptions, Table};
use nabla_train::checkpoint;
use nabla_train::config::TrainConfig;
use nabla_train::fit::{self, FitConfig};
use nabla_train::quantize::{self, Runner};

/// A fuzz target: its name (the folder of its corpus, the name of its cargo-fuzz target) and
/// its body.
pub struct Target {
    /// Name of the target (`cargo +nightly fuzz run NAME`) and of its corpus folder.
    pub name: &'static str,
    /// Feeds one input to the reader; `true` when the reader accepted it.
    pub run: fn(&[u8]) -> bool,
}

/// Every fuzz target.
pub const TARGETS: &[Target] = &[
    Target { name: "idx", run: idx },
    Target { name: "digits_csv", run: digits_csv },
    Target { name: "table_csv", run: table_csv },
    Target { name: "table_parquet", run: table_parquet },
    Target { name: "table_npy", run: table_npy },
    Target { name: "checkpoint", run: checkpoint },
    Target { name: "quantised", run: quantised },
    Target { name: "formula", run: formula },
    Target { name: "fit_csv", run: fit_csv },
    Target { name: "train_config_toml", run: train_config_toml },
    Target { name: "sweep_toml", run: sweep_toml },
    Target { name: "runs_import", run: runs_import },
];

/// A fresh temporary folder for one input (removed when dropped).
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("nabla-fuzz-").tempdir().expect("a temporary folder for the fuzz input")
}

/// Writes `data` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).expect("writing the fuzz input");
    path
}

/// Whether `data` starts with gzip's magic number.
fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&[0x1f, 0x8b])
}

/// An IDX file, read as images and as labels (`nabla_data::idx::read_images`/`read_labels`,
/// gzipped when it starts with gzip's magic).
pub fn idx(data: &[u8]) -> bool {
    let dir = scratch();
    let name = if is_gzip(data) { "input-idx3-ubyte.gz" } else { "input-idx3-ubyte" };
    let path = write(dir.path(), name, data);
    let images = nabla_data::idx::read_images(&path).is_ok();
    let labels = nabla_data::idx::read_labels(&path).is_ok();
    images || labels
}

/// A digits CSV file (`nabla_data::read_digits_csv`, gzipped when it starts with gzip's magic).
pub fn digits_csv(data: &[u8]) -> bool {
    let dir = scratch();
    let name = if is_gzip(data) { "digits.csv.gz" } else { "digits.csv" };
    let path = write(dir.path(), name, data);
    nabla_data::read_digits_csv(&path).is_ok()
}

/// Reads the table at `path` with two threads, as `nabla train TABLE` does, then infers the
/// task from its last column and fits and applies the preprocessing on all its rows.
fn read_table(path: &Path) -> bool {
    let options = ReadOptions { threads: Some(2), ..ReadOptions::default() };
    let Ok(table) = Table::read(path, &options) else {
        return false;
    };
    preprocess(&table);
    true
}

/// What training does with a table once read: the task of its last column, the preprocessing
/// fitted on it and applied to it.
fn preprocess(table: &Table) {
    let Some(target) = table.columns.last() else {
        return;
    };
    let (task, _) = infer_task(target);
    if let Ok((pre, _warnings)) = Preprocessor::fit(table, &target.name, task, &PreprocessOptions::default()) {
        let _ = pre.transform(table);
    }
}

/// A CSV table (`Table::read` of a `.csv`, or a `.csv.gz` when gzipped).
pub fn table_csv(data: &[u8]) -> bool {
    let dir = scratch();
    let name = if is_gzip(data) { "table.csv.gz" } else { "table.csv" };
    read_table(&write(dir.path(), name, data))
}

/// A Parquet table (`Table::read` of a `.parquet`).
pub fn table_parquet(data: &[u8]) -> bool {
    let dir = scratch();
    read_table(&write(dir.path(), "table.parquet", data))
}

/// A NumPy table: a `.npz` archive when the input starts like a zip file, else a `.npy`
/// array of features with a fixed 2-row target file beside it.
pub fn table_npy(data: &[u8]) -> bool {
    let dir = scratch();
    if data.starts_with(b"PK") {
        return read_table(&write(dir.path(), "table.npz", data));
    }
    let target = write(dir.path(), "y.npy", &npy_f64_vector(&[0.0, 1.0]));
    let options = ReadOptions { target_file: Some(target), threads: Some(2), ..ReadOptions::default() };
    let path = write(dir.path(), "x.npy", data);
    let Ok(table) = Table::read(&path, &options) else {
        return false;
    };
    preprocess(&table);
    true
}

/// The bytes of a `.npy` file holding `values` as a little-endian f64 vector.
pub fn npy_f64_vector(values: &[f64]) -> Vec<u8> {
    let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({},), }}", values.len());
    // The header (magic, version, length, dict, newline) is padded to a multiple of 64.
    let unpadded = 10 + dict.len() + 1;
    let header_len = dict.len() + 1 + (64 - unpadded % 64) % 64;
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header_len as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(10 + header_len - 1, b' ');
    out.push(b'\n');
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Runs one all-zero row through `runner`, as `nabla predict` would run a row.
fn forward_one_row(mut runner: Runner<'_>) {
    let inputs = runner.spec().inputs();
    let x = Matrix::zeros(1, inputs);
    let _ = runner.forward(x.view());
}

/// An f32 checkpoint (`nabla_train::checkpoint::from_bytes`); when accepted, one row is run
/// through its network.
pub fn checkpoint(data: &[u8]) -> bool {
    match checkpoint::from_bytes(Path::new("fuzz.safetensors"), data) {
        Ok(ckpt) => {
            forward_one_row(Runner::f32(&ckpt.network, 1));
            true
        }
        Err(_) => false,
    }
}

/// A quantised model file (`nabla_train::quantize::from_bytes`); when accepted, one row is run
/// through its network.
pub fn quantised(data: &[u8]) -> bool {
    match quantize::from_bytes(Path::new("fuzz.q8.safetensors"), data) {
        Ok(q) => {
            forward_one_row(Runner::quantized(&q.model, 1));
            true
        }
        Err(_) => false,
    }
}

/// The points `fuzz` samples from a formula: few, so that an input costs little.
fn small_fit_config() -> FitConfig {
    FitConfig { points: 4, test_points: 4, ..FitConfig::default() }
}

/// A formula, as `nabla fit FORMULA` takes it: parsed (`nabla::autodiff::expr::parse`), its
/// variables checked, points sampled from it and its gradient taken at one of them.
pub fn formula(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(expression) = nabla::autodiff::expr::parse(text) else {
        return false;
    };
    let Ok(variables) = fit::data::formula_variables(&expression) else {
        return false;
    };
    // The variables the formula uses, each at 0.5 (a constant uses none of `variables`).
    let used = expression.variables();
    let bindings: Vec<(String, f64)> =
        variables.into_iter().filter(|v| used.iter().any(|(n, _)| n == v)).map(|v| (v, 0.5)).collect();
    if let Ok(evaluation) = expression.evaluate(&bindings) {
        evaluation.output.backward();
    }
    fit::sample(&expression, &small_fit_config()).is_ok()
}

/// Points for `nabla fit --data FILE` (`nabla_train::fit::parse_csv`).
pub fn fit_csv(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    fit::parse_csv(text, "points.csv", &small_fit_config()).is_ok()
}

/// A training configuration file (`TrainConfig::merge_toml` over MNIST's defaults, which
/// validates the result).
pub fn train_config_toml(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    TrainConfig::for_dataset("mnist").merge_toml(text).is_ok()
}

/// A sweep file (`nabla_sweep::parse_file`), then the sweep it defines on `xor` (its trials
/// expanded) — never on a table the file names, which would read the fuzzing machine's files.
pub fn sweep_toml(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(mut file) = nabla_sweep::parse_file(text) else {
        return false;
    };
    file.target = Some("xor".into());
    let dir = scratch();
    let settings = nabla_sweep::SweepSettings {
        out: Some(dir.path().join("out")),
        threads: Some(1),
        ..nabla_sweep::SweepSettings::default()
    };
    nabla_sweep::define(&settings, &file).is_ok()
}

/// Separates an exported run's `run.json` from its `metrics.csv` in a `runs_import` input.
pub const RUN_SEPARATOR: &[u8] = b"\n--- metrics.csv ---\n";

/// The artifact every `runs_import` input's folder holds, at `artifacts/ARTIFACT_SHA256`.
pub const ARTIFACT: &[u8] = b"an artifact\n";

/// The sha256 of [`ARTIFACT`].
pub const ARTIFACT_SHA256: &str = "6970ef51f54a3e4f7a5ccd707d95be3077298a0f68b1ebb25c124d38f6a78ad6";

/// An exported run (`Store::import_runs`) into a fresh store: the input is the folder's
/// `run.json`, then [`RUN_SEPARATOR`] and its `metrics.csv` (a header alone when there is no
/// separator); the folder also holds [`ARTIFACT`] at `artifacts/ARTIFACT_SHA256`.
pub fn runs_import(data: &[u8]) -> bool {
    let (json, csv) = match data.windows(RUN_SEPARATOR.len()).position(|w| w == RUN_SEPARATOR) {
        Some(at) => (&data[..at], &data[at + RUN_SEPARATOR.len()..]),
        None => (data, &b"metric,step,value,wall_time\n"[..]),
    };
    let dir = scratch();
    let export = dir.path().join("export");
    std::fs::create_dir_all(export.join("artifacts")).expect("creating the export folder");
    write(&export, "run.json", json);
    write(&export, "metrics.csv", csv);
    write(&export.join("artifacts"), ARTIFACT_SHA256, ARTIFACT);
    let Ok(mut store) = nabla_track::Store::open(dir.path().join("store")) else {
        return false;
    };
    store.import_runs(&export).is_ok()
}
