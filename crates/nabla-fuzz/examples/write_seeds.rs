//! Writes the seed inputs of the `checkpoint`, `quantised` and `runs_import` fuzz targets:
//! small model files as `nabla train` and `nabla quantize` write them, and an exported run as
//! `nabla runs export` writes it. `cargo run -p nabla-fuzz --example write_seeds -- DIR` puts
//! them in `DIR/TARGET/`; the other targets' seeds are cut from real files (docs/TESTING.md).

use std::path::{Path, PathBuf};

use nabla::quant::Precision;
use nabla::{Activation, Init, Mlp, MlpSpec, ResidualMlp, ResidualSpec, Rng};
use nabla_data::table::{Impute, PreprocessOptions, Preprocessor, ReadOptions, Table, Task};
use nabla_fuzz::{ARTIFACT, RUN_SEPARATOR};
use nabla_track::{EndStatus, Run, Store};
use nabla_train::checkpoint::{self, Checkpoint, InputSpec};
use nabla_train::quantize::{self, QuantizedCheckpoint};

type Error = Box<dyn std::error::Error>;

fn put(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> Result<(), Error> {
    let folder = dir.join(target);
    std::fs::create_dir_all(&folder)?;
    std::fs::write(folder.join(name), bytes)?;
    Ok(())
}

/// A plain 4-6-3 net on 2×2 images, with optimiser state and metrics.
fn plain() -> Result<Checkpoint, Error> {
    let spec = MlpSpec::new(vec![4, 6, 3], Activation::Relu, Activation::Identity)?;
    let mlp = Mlp::new(spec, Init::HeUniform, &mut Rng::new(5));
    let params = mlp.params().len();
    let mut ckpt = Checkpoint::new(mlp, "toy", vec!["a".into(), "b".into(), "c".into()], InputSpec::unit(2, 2, 255));
    ckpt.epoch = 2;
    ckpt.step = 10;
    ckpt.optimizer = vec![("m".into(), vec![0.25; params]), ("v".into(), vec![0.5; params])];
    ckpt.metrics = serde_json::json!({"val_acc": 0.5, "val_loss": 1.0});
    ckpt.config = serde_json::json!({"lr": 0.01, "hidden": [6]});
    Ok(ckpt)
}

/// A residual net of one block on 1×3 images.
fn residual() -> Result<Checkpoint, Error> {
    let spec = ResidualSpec::new(3, 4, 1, 2, Activation::Relu, Activation::Identity)?;
    let net = ResidualMlp::new(spec, Init::HeUniform, &mut Rng::new(6));
    Ok(Checkpoint::new(net, "toy", vec!["no".into(), "yes".into()], InputSpec::unit(1, 3, 255)))
}

/// A table model: a numeric and a categorical feature, preprocessed, predicting a class.
fn table_model(scratch: &Path) -> Result<Checkpoint, Error> {
    let csv = scratch.join("rows.csv");
    std::fs::write(&csv, "size,colour,class\n1.5,red,a\n2.5,blue,b\n,red,a\n4.0,green,b\n")?;
    let table = Table::read(&csv, &ReadOptions { threads: Some(1), ..ReadOptions::default() })?;
    let options = PreprocessOptions { impute: Some(Impute::Median), ..PreprocessOptions::default() };
    let (pre, _) = Preprocessor::fit(&table, "class", Task::Classify, &options)?;
    let spec = MlpSpec::new(vec![pre.width(), 3, 2], Activation::Tanh, Activation::Identity)?;
    let mlp = Mlp::new(spec, Init::XavierUniform, &mut Rng::new(7));
    Ok(Checkpoint::new(mlp, "rows.csv", vec!["a".into(), "b".into()], pre))
}

/// An exported run with two metrics and the artifact every `runs_import` input's folder holds.
fn exported_run(scratch: &Path) -> Result<Vec<u8>, Error> {
    let store_dir = scratch.join("store");
    let mut run = Run::init(&store_dir, "fuzz", Some("seed"), serde_json::json!({"lr": 0.1}), &["seed".into()])?;
    run.log(1, &[("train/loss", 1.0), ("val/acc", 0.25)])?;
    run.log(2, &[("train/loss", 0.5), ("val/acc", 0.5)])?;
    run.log_artifact_bytes("notes.txt", ARTIFACT, "file")?;
    let id = run.id().to_string();
    run.finish(EndStatus::Finished)?;
    let folder = Store::open(&store_dir)?.export_run(&id, &scratch.join("export"))?;
    let mut input = std::fs::read(folder.join("run.json"))?;
    input.extend_from_slice(RUN_SEPARATOR);
    input.extend_from_slice(&std::fs::read(folder.join("metrics.csv"))?);
    Ok(input)
}

fn main() -> Result<(), Error> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: write_seeds DIR")?);
    let scratch = tempfile::tempdir()?;
    let name = Path::new("seed.safetensors");
    let plain = plain()?;
    put(&dir, "checkpoint", "plain-4-6-3", &checkpoint::to_bytes(name, &plain)?)?;
    put(&dir, "checkpoint", "residual-1-block", &checkpoint::to_bytes(name, &residual()?)?)?;
    put(&dir, "checkpoint", "table-model", &checkpoint::to_bytes(name, &table_model(scratch.path())?)?)?;
    for (precision, file) in [(Precision::Int8, "int8"), (Precision::Bf16, "bf16")] {
        let q = QuantizedCheckpoint::from_checkpoint(&plain, precision, name)?;
        put(&dir, "quantised", file, &quantize::to_bytes(name, &q)?)?;
    }
    let table = QuantizedCheckpoint::from_checkpoint(&table_model(scratch.path())?, Precision::Int8, name)?;
    put(&dir, "quantised", "table-int8", &quantize::to_bytes(name, &table)?)?;
    put(&dir, "runs_import", "run-with-artifact", &exported_run(scratch.path())?)?;
    Ok(())
}
