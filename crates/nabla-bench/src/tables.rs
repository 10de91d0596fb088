//! The table-loading workloads: a data set's training split written as the table pandas would
//! write (CSV with the header `p0,…,p783,label`, as `to_csv(index=False)` gives it; Parquet
//! as `to_parquet` gives it: snappy pages, nullable INT64 columns, one row group), then read
//! back with [`Table::read`] and timed.
//!
//! The writers live here, not in `nabla-data`, because only the benchmark and its tests need
//! such files: nabla reads tables, it has no reason to write them.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use nabla_data::table::{ReadOptions, Table};
use nabla_data::Dataset;
use parquet::basic::{Compression, Repetition, Type as PhysicalType};
use parquet::data_type::Int64Type;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use crate::measure::{median, peak_rss_mb, reset_peak_rss, timed_passes};
use crate::record::{TableRecord, PEER};
use crate::run::BenchError;
use crate::workload::{BenchData, BenchSettings, Workload};

/// The column names of `data` as a table: `p0`, `p1`, … for the pixels, then `label`.
pub fn column_names(data: &Dataset) -> Vec<String> {
    (0..data.features()).map(|i| format!("p{i}")).chain(["label".to_string()]).collect()
}

/// Writes `data` to `path` as CSV: the header `p0,…,p783,label`, then one line per example,
/// its pixels and its label (the label's index) as integers. Atomic: the bytes go to a
/// temporary file beside `path`, renamed over it once complete.
pub fn write_csv(data: &Dataset, path: &Path) -> io::Result<()> {
    write_atomic(path, |tmp| {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(tmp)?);
        writeln!(out, "{}", column_names(data).join(","))?;
        // Every u8 as text once, rather than formatting 47 million numbers.
        let digits: Vec<String> = (0..=255u8).map(|v| v.to_string()).collect();
        let mut line = Vec::with_capacity(4 * (data.features() + 1));
        for i in 0..data.len {
            line.clear();
            for &p in data.image(i) {
                line.extend_from_slice(digits[usize::from(p)].as_bytes());
                line.push(b',');
            }
            line.extend_from_slice(digits[usize::from(data.labels[i])].as_bytes());
            line.push(b'\n');
            out.write_all(&line)?;
        }
        out.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()
    })
}

/// Writes `data` to `path` as Parquet, as pandas writes the same table: one nullable INT64
/// column per pixel and `label`, snappy-compressed, in one row group. Atomic, like
/// [`write_csv`].
pub fn write_parquet(data: &Dataset, path: &Path) -> io::Result<()> {
    let names = column_names(data);
    let fields = names
        .iter()
        .map(|name| {
            Type::primitive_type_builder(name, PhysicalType::INT64)
                .with_repetition(Repetition::OPTIONAL)
                .build()
                .map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(io::Error::other)?;
    let schema = Arc::new(Type::group_type_builder("schema").with_fields(fields).build().map_err(io::Error::other)?);
    let props = Arc::new(WriterProperties::builder().set_compression(Compression::SNAPPY).build());
    let features = data.features();
    write_atomic(path, |tmp| {
        let mut writer = SerializedFileWriter::new(File::create(tmp)?, schema, props).map_err(io::Error::other)?;
        let mut group = writer.next_row_group().map_err(io::Error::other)?;
        let present = vec![1i16; data.len];
        let mut values = vec![0i64; data.len];
        for j in 0..=features {
            for (i, v) in values.iter_mut().enumerate() {
                *v = i64::from(if j < features { data.images[i * features + j] } else { data.labels[i] });
            }
            let mut column = group.next_column().map_err(io::Error::other)?.expect("one writer per schema column");
            column.typed::<Int64Type>().write_batch(&values, Some(&present), None).map_err(io::Error::other)?;
            column.close().map_err(io::Error::other)?;
        }
        group.close().map_err(io::Error::other)?;
        writer.into_inner().map_err(io::Error::other)?.sync_all()
    })
}

/// Runs `write` on a temporary path beside `path`, then renames it to `path`; on an error the
/// temporary file is removed and `path` is left as it was.
fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    let name = path.file_name().map_or_else(|| "table".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = write(&tmp).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The `csv` or `parquet` workload: writes the training split of `data` in that format into a
/// temporary folder (removed afterwards) or into `settings.keep_tables` (kept, with the test
/// split beside it, for the peers to read the same bytes and for training on the tables), then reads it back with [`Table::read`] on `settings.threads` threads,
/// one warm-up and `settings.repeats` timed passes.
///
/// # Panics
/// If `workload` is not `csv` or `parquet`.
pub fn run_table(
    workload: Workload,
    data: &BenchData<'_>,
    settings: &BenchSettings,
) -> Result<TableRecord, BenchError> {
    let extension = match workload {
        Workload::Csv => "csv",
        Workload::Parquet => "parquet",
        other => panic!("{other} is not a table workload"),
    };
    let temporary;
    let dir: PathBuf = match &settings.keep_tables {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| BenchError::io(dir, &e))?;
            dir.clone()
        }
        None => {
            temporary = tempfile::Builder::new()
                .prefix("nabla-bench-tables-")
                .tempdir()
                .map_err(|e| BenchError::io(&std::env::temp_dir(), &e))?;
            temporary.path().to_path_buf()
        }
    };
    let path = dir.join(format!("{}-train.{extension}", data.label));
    let train = &data.split.train;
    let written = match workload {
        Workload::Csv => write_csv(train, &path),
        _ => write_parquet(train, &path),
    };
    written.map_err(|e| BenchError::io(&path, &e))?;
    if settings.keep_tables.is_some() {
        // Kept tables are also for training on (`nabla train mnist-train.csv --target label
        // --test mnist-test.csv`, docs/RECIPES.md): the test split goes beside them.
        let test_path = dir.join(format!("{}-test.{extension}", data.label));
        let written = match workload {
            Workload::Csv => write_csv(&data.split.test, &test_path),
            _ => write_parquet(&data.split.test, &test_path),
        };
        written.map_err(|e| BenchError::io(&test_path, &e))?;
    }
    let bytes = std::fs::metadata(&path).map_err(|e| BenchError::io(&path, &e))?.len();

    reset_peak_rss();
    let options = ReadOptions { threads: Some(settings.threads), ..ReadOptions::default() };
    let mut shape = (0, 0);
    let all = timed_passes(settings.repeats, || -> Result<f64, BenchError> {
        let started = Instant::now();
        let table = Table::read(&path, &options)?;
        let seconds = started.elapsed().as_secs_f64();
        shape = (table.rows, table.columns.len());
        Ok(seconds)
    })?;
    let seconds_median = median(&all);
    Ok(TableRecord {
        peer: PEER,
        workload: extension,
        threads: settings.threads,
        data: data.label,
        file: path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        bytes,
        rows: shape.0,
        columns: shape.1,
        seconds_median,
        seconds_all: all,
        mb_per_second: bytes as f64 / 1e6 / seconds_median.max(1e-12),
        peak_rss_mb: peak_rss_mb(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla_data::table::Cells;

    #[test]
    fn both_tables_read_back_as_the_data_set() {
        let split = nabla_data::synthetic_images(7, 30, 1);
        let train = &split.train;
        let dir = tempfile::tempdir().unwrap();
        let (csv, parquet) = (dir.path().join("t.csv"), dir.path().join("t.parquet"));
        write_csv(train, &csv).unwrap();
        write_parquet(train, &parquet).unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        assert!(text.starts_with("p0,p1,p2,"), "{}", &text[..20]);
        assert!(text.lines().next().unwrap().ends_with(",p783,label"));
        for path in [&csv, &parquet] {
            let table = Table::read(path, &ReadOptions::default()).unwrap();
            assert_eq!((table.rows, table.columns.len()), (30, 785), "{}", path.display());
            assert_eq!(table.names(), column_names(train));
            let Cells::Numbers(p5) = &table.column("p5").unwrap().cells else { panic!("p5 is numbers") };
            let expected: Vec<f64> = (0..30).map(|i| f64::from(train.image(i)[5])).collect();
            assert_eq!(p5, &expected, "{}", path.display());
            let Cells::Numbers(labels) = &table.column("label").unwrap().cells else { panic!("label is numbers") };
            assert!(labels.iter().zip(&train.labels).all(|(&a, &b)| a == f64::from(b)));
        }
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
    }
}
