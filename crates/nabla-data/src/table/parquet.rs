//! Parquet tables, read column by column with the `parquet` crate's column readers (no Arrow).
//!
//! Integer, float and double columns (decimals scaled) become numbers; strings and booleans
//! become text (`true`/`false`), as a CSV file would give them; nulls are missing values.
//! Repeated (list) columns and types without a meaning as a feature (timestamps as INT96,
//! fixed-length binary) are errors naming the column, unless it is dropped.

use std::fs::File;
use std::path::Path;

use parquet::basic::{ConvertedType, Type as PhysicalType};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::DataType;
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::{check_drop, Cells, Column, Place, Table, TableError};

/// Values read per call of a column reader.
const BATCH: usize = 64 * 1024;

/// Reads a Parquet file, its columns spread over up to `threads` threads.
pub(super) fn read(path: &Path, drop: &[String], threads: usize) -> Result<Table, TableError> {
    let reader = open(path)?;
    let meta = reader.metadata();
    let schema = meta.file_metadata().schema_descr();
    let rows = usize::try_from(meta.file_metadata().num_rows())
        .map_err(|_| TableError::bad(path, Place::default(), "the footer gives a negative row count"))?;

    let names: Vec<String> = schema.columns().iter().map(|c| c.path().string()).collect();
    check_drop(path, &names, drop)?;
    let kept: Vec<usize> = (0..names.len()).filter(|&j| !drop.contains(&names[j])).collect();

    // Each thread reads every row group of a contiguous run of the columns, through a reader of
    // its own: the crate's readers of one `File` share its offset (a `try_clone` is a dup), so
    // two threads seeking in the same one read each other's pages.
    let threads = threads.clamp(1, kept.len().max(1));
    let per_thread = kept.len().div_ceil(threads).max(1);
    let names = &names;
    let read_run = |reader: &SerializedFileReader<File>, run: &[usize]| {
        run.iter().map(|&j| read_column(path, reader, j, &names[j], rows)).collect::<Vec<_>>()
    };
    let results: Vec<Result<Column, TableError>> = if threads == 1 {
        read_run(&reader, &kept)
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = kept
                .chunks(per_thread)
                .map(|run| {
                    s.spawn(move || match open(path) {
                        Ok(own) => read_run(&own, run),
                        Err(e) => vec![Err(e)],
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("a Parquet reading thread panicked")).collect()
        })
    };
    let columns = results.into_iter().collect::<Result<Vec<Column>, TableError>>()?;
    Ok(Table { path: path.to_path_buf(), columns, rows })
}

/// Opens `path` and reads its footer.
fn open(path: &Path) -> Result<SerializedFileReader<File>, TableError> {
    let file = File::open(path).map_err(|e| TableError::io(path, e))?;
    SerializedFileReader::new(file)
        .map_err(|e| TableError::bad(path, Place::default(), format!("not a readable Parquet file: {e}")))
}

/// Reads column `j` (called `name`) from every row group of `reader`.
fn read_column(
    path: &Path,
    reader: &SerializedFileReader<File>,
    j: usize,
    name: &str,
    rows: usize,
) -> Result<Column, TableError> {
    let descr = reader.metadata().file_metadata().schema_descr().column(j);
    let place = Place::column(name);
    if descr.max_rep_level() > 0 {
        return Err(TableError::bad(
            path,
            place,
            "a repeated (list) column cannot be a feature (leave it out with --drop)",
        ));
    }
    let scale = (descr.converted_type() == ConvertedType::DECIMAL).then(|| descr.type_scale());
    let max_def = descr.max_def_level();
    let mut cells = match descr.physical_type() {
        PhysicalType::BOOLEAN | PhysicalType::BYTE_ARRAY => Cells::Text(Vec::with_capacity(rows)),
        PhysicalType::INT32 | PhysicalType::INT64 | PhysicalType::FLOAT | PhysicalType::DOUBLE => {
            Cells::Numbers(Vec::with_capacity(rows))
        }
        other => {
            return Err(TableError::bad(
                path,
                place,
                format!("Parquet type {other} is not read as a feature (leave the column out with --drop)"),
            ))
        }
    };
    for g in 0..reader.num_row_groups() {
        let group =
            reader.get_row_group(g).map_err(|e| TableError::bad(path, place.clone(), format!("row group {g}: {e}")))?;
        let column = group
            .get_column_reader(j)
            .map_err(|e| TableError::bad(path, place.clone(), format!("row group {g}: {e}")))?;
        let wrap =
            |e: parquet::errors::ParquetError| TableError::bad(path, place.clone(), format!("row group {g}: {e}"));
        match (column, &mut cells) {
            (ColumnReader::Int32ColumnReader(r), Cells::Numbers(out)) => {
                read_all(r, max_def, out, |v: &i32| decimal(f64::from(*v), scale)).map_err(wrap)?;
            }
            (ColumnReader::Int64ColumnReader(r), Cells::Numbers(out)) => {
                read_all(r, max_def, out, |v: &i64| decimal(*v as f64, scale)).map_err(wrap)?;
            }
            (ColumnReader::FloatColumnReader(r), Cells::Numbers(out)) => {
                read_all(r, max_def, out, |v: &f32| f64::from(*v)).map_err(wrap)?;
            }
            (ColumnReader::DoubleColumnReader(r), Cells::Numbers(out)) => {
                read_all(r, max_def, out, |v: &f64| *v).map_err(wrap)?
            }
            (ColumnReader::BoolColumnReader(r), Cells::Text(out)) => {
                read_all(r, max_def, out, |v: &bool| Some(v.to_string())).map_err(wrap)?;
            }
            (ColumnReader::ByteArrayColumnReader(r), Cells::Text(out)) => {
                read_all(r, max_def, out, |v: &parquet::data_type::ByteArray| {
                    Some(String::from_utf8_lossy(v.data()).into_owned())
                })
                .map_err(wrap)?;
            }
            _ => unreachable!("the cells were chosen from the column's physical type"),
        }
    }
    if cells.len() != rows {
        return Err(TableError::bad(
            path,
            place,
            format!("the column holds {} values, but the footer says the file has {rows} rows", cells.len()),
        ));
    }
    if let Cells::Numbers(values) = &cells {
        if let Some(i) = values.iter().position(|v| v.is_infinite()) {
            return Err(TableError::bad(path, Place::row_cell(i as u64 + 1, name), "the value is infinite"));
        }
    }
    Ok(Column { name: name.to_string(), cells })
}

fn decimal(unscaled: f64, scale: Option<i32>) -> f64 {
    match scale {
        Some(s) => unscaled / 10f64.powi(s),
        None => unscaled,
    }
}

/// Something a column's cells can be pushed into: a missing value is NaN or `None`.
trait Missing {
    fn missing() -> Self;
}

impl Missing for f64 {
    fn missing() -> Self {
        f64::NAN
    }
}

impl Missing for Option<String> {
    fn missing() -> Self {
        None
    }
}

/// Reads every record of one column chunk into `out`, converting each value and putting a
/// missing value where the definition level is below `max_def` (a null on the column's path).
fn read_all<T: DataType, C: Missing>(
    mut reader: ColumnReaderImpl<T>,
    max_def: i16,
    out: &mut Vec<C>,
    convert: impl Fn(&T::T) -> C,
) -> Result<(), parquet::errors::ParquetError> {
    let mut values: Vec<T::T> = Vec::with_capacity(BATCH);
    let mut defs: Vec<i16> = Vec::with_capacity(BATCH);
    loop {
        values.clear();
        defs.clear();
        let (records, _, levels) = reader.read_records(BATCH, Some(&mut defs), None, &mut values)?;
        if records == 0 && levels == 0 {
            return Ok(());
        }
        // No null in the batch (a value for every level): the values are the cells.
        if max_def == 0 || values.len() == levels {
            out.extend(values.iter().map(&convert));
        } else {
            let mut next = values.iter();
            for &d in &defs[..levels] {
                out.push(if d == max_def { next.next().map_or_else(C::missing, &convert) } else { C::missing() });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_parquet_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        std::fs::write(&path, b"a,b\n1,2\n").unwrap();
        let e = read(&path, &[], 1).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: not a readable Parquet file", path.display())), "{e}");
    }

    /// Writes a small Parquet file with the crate's own writer: optional and required columns,
    /// a null in each optional one, strings and booleans, in two row groups.
    fn write_sample(path: &Path) {
        use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        use parquet::schema::parser::parse_message_type;
        use std::sync::Arc;

        let schema = Arc::new(
            parse_message_type(
                "message t { OPTIONAL INT64 a; REQUIRED DOUBLE b; OPTIONAL BYTE_ARRAY s (UTF8); OPTIONAL BOOLEAN f; }",
            )
            .unwrap(),
        );
        let props = Arc::new(WriterProperties::builder().build());
        let mut writer = SerializedFileWriter::new(File::create(path).unwrap(), schema, props).unwrap();
        for group in 0..2i64 {
            let mut rg = writer.next_row_group().unwrap();
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<Int64Type>().write_batch(&[10 * group, 10 * group + 2], Some(&[1, 0, 1]), None).unwrap();
            col.close().unwrap();
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<DoubleType>().write_batch(&[0.5, 1.5, 2.5], None, None).unwrap();
            col.close().unwrap();
            let mut col = rg.next_column().unwrap().unwrap();
            let strings: Vec<ByteArray> = vec!["red".into(), "blue".into()];
            col.typed::<ByteArrayType>().write_batch(&strings, Some(&[1, 1, 0]), None).unwrap();
            col.close().unwrap();
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<BoolType>().write_batch(&[true, false, true], Some(&[1, 1, 1]), None).unwrap();
            col.close().unwrap();
            rg.close().unwrap();
        }
        writer.close().unwrap();
    }

    #[test]
    fn columns_nulls_and_row_groups_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        write_sample(&path);
        let t = read(&path, &[], 1).unwrap();
        for threads in [2, 3, 8] {
            assert_eq!(format!("{:?}", read(&path, &[], threads).unwrap()), format!("{t:?}"), "{threads} threads");
        }
        assert_eq!(t.rows, 6);
        assert_eq!(t.names(), ["a", "b", "s", "f"]);
        let Cells::Numbers(a) = &t.column("a").unwrap().cells else { panic!("a is numbers") };
        assert_eq!((a[0], a[2], a[3], a[5]), (0.0, 2.0, 10.0, 12.0));
        assert!(a[1].is_nan() && a[4].is_nan());
        assert_eq!(t.column("b").unwrap().cells, Cells::Numbers(vec![0.5, 1.5, 2.5, 0.5, 1.5, 2.5]));
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            t.column("s").unwrap().cells,
            Cells::Text(vec![s("red"), s("blue"), None, s("red"), s("blue"), None])
        );
        assert_eq!(t.column("f").unwrap().cells.len(), 6);
        let dropped = read(&path, &["s".to_string()], 2).unwrap();
        assert_eq!(dropped.names(), ["a", "b", "f"]);
    }

    #[test]
    fn columns_read_on_threads_do_not_read_each_others_pages() {
        // Regression: threads sharing one `File` read garbage ("corrupted RLE run length") once
        // the column chunks were large enough for their reads to interleave.
        use parquet::data_type::Int64Type;
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        use parquet::schema::parser::parse_message_type;
        use std::sync::Arc;

        const COLUMNS: i64 = 64;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wide.parquet");
        let fields: String = (0..COLUMNS).map(|j| format!("OPTIONAL INT64 c{j}; ")).collect();
        let schema = Arc::new(parse_message_type(&format!("message t {{ {fields}}}")).unwrap());
        let props = Arc::new(WriterProperties::builder().build());
        let mut writer = SerializedFileWriter::new(File::create(&path).unwrap(), schema, props).unwrap();
        let mut rg = writer.next_row_group().unwrap();
        let rows = 100_000i64;
        for j in 0..COLUMNS {
            let values: Vec<i64> = (0..rows).map(|i| (i * 7919 + j * 104_729) % 256).collect();
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<Int64Type>().write_batch(&values, Some(&vec![1; values.len()]), None).unwrap();
            col.close().unwrap();
        }
        rg.close().unwrap();
        writer.close().unwrap();
        let one = read(&path, &[], 1).unwrap();
        for threads in [2, 2, 4] {
            assert_eq!(read(&path, &[], threads).unwrap(), one, "{threads} threads");
        }
        let Cells::Numbers(c3) = &one.column("c3").unwrap().cells else { panic!("c3 is numbers") };
        assert_eq!(c3[1000], ((1000 * 7919 + 3 * 104_729) % 256) as f64);
    }

    #[test]
    fn decimals_are_scaled() {
        assert_eq!(decimal(12345.0, Some(2)), 123.45);
        assert_eq!(decimal(7.0, None), 7.0);
    }
}
