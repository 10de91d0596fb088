//! NumPy tables: a `.npy` feature array with its target in another `.npy` file, or a `.npz`
//! archive holding arrays `x` (features) and `y` (target), read with the `npyz` crate.
//!
//! `x` is `[rows]` or `[rows, features]` of any integer, float or bool type; its columns are
//! called `x0`, `x1`, …. `y` is `[rows]` of numbers, bools or strings; its column is called `y`.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use npyz::{DType, NpyFile, Order, TypeChar};

use super::{Cells, Column, Place, Table, TableError};

/// Reads a `.npy` feature file and, if given, its target file.
pub(super) fn read_npy(path: &Path, target: Option<&Path>) -> Result<Table, TableError> {
    let x = open_npy(path)?;
    let x = Array::read(path, x)?;
    let mut columns = x.into_feature_columns(path)?;
    let rows = columns.first().map_or(0, |c| c.cells.len());
    if let Some(target) = target {
        let y = Array::read(target, open_npy(target)?)?;
        columns.push(y.into_target_column(target, path, rows)?);
    }
    Ok(Table { path: path.to_path_buf(), columns, rows })
}

/// Reads a `.npz` archive with arrays `x` and `y`.
pub(super) fn read_npz(path: &Path) -> Result<Table, TableError> {
    let file = File::open(path).map_err(|e| TableError::io(path, e))?;
    let mut archive = npyz::npz::NpzArchive::new(BufReader::new(file))
        .map_err(|e| TableError::bad(path, Place::default(), format!("not a readable .npz archive: {e}")))?;
    let names: Vec<String> = archive.array_names().map(str::to_string).collect();
    let mut get = |name: &str| -> Result<Array, TableError> {
        let npy = archive
            .by_name(name)
            .map_err(|e| TableError::bad(path, Place::default(), format!("array `{name}`: {e}")))?
            .ok_or_else(|| {
                TableError::bad(
                    path,
                    Place::default(),
                    format!(
                        "no array `{name}` (the archive holds: {}; save it with np.savez(path, x=…, y=…))",
                        names.join(", ")
                    ),
                )
            })?;
        Array::read_named(path, name, npy)
    };
    let x = get("x")?;
    let y = get("y")?;
    let mut columns = x.into_feature_columns(path)?;
    let rows = columns.first().map_or(0, |c| c.cells.len());
    columns.push(y.into_target_column(path, path, rows)?);
    Ok(Table { path: path.to_path_buf(), columns, rows })
}

fn open_npy(path: &Path) -> Result<NpyFile<BufReader<File>>, TableError> {
    let file = File::open(path).map_err(|e| TableError::io(path, e))?;
    NpyFile::new(BufReader::new(file))
        .map_err(|e| TableError::bad(path, Place::default(), format!("not a readable .npy file: {e}")))
}

/// An array read whole: its shape (in C order) and its values.
struct Array {
    /// The array's name in messages: the file, or `file: array x`.
    shape: Vec<u64>,
    cells: Cells,
}

impl Array {
    fn read<R: Read>(path: &Path, npy: NpyFile<R>) -> Result<Array, TableError> {
        Self::read_named(path, "", npy)
    }

    fn read_named<R: Read>(path: &Path, name: &str, npy: NpyFile<R>) -> Result<Array, TableError> {
        let what = if name.is_empty() { String::new() } else { format!("array `{name}`: ") };
        let bad = |message: String| TableError::bad(path, Place::default(), format!("{what}{message}"));
        let mut shape = npy.shape().to_vec();
        let fortran = npy.order() == Order::Fortran;
        let DType::Plain(ty) = npy.dtype() else {
            return Err(bad("a structured or record array cannot be read as a table; save plain arrays".to_string()));
        };
        let size = ty.size_field();
        let cells = match (ty.type_char(), size) {
            (TypeChar::Float, 4) => numbers::<f32, _>(npy, f64::from),
            (TypeChar::Float, 8) => numbers::<f64, _>(npy, |v| v),
            (TypeChar::Int, 1) => numbers::<i8, _>(npy, f64::from),
            (TypeChar::Int, 2) => numbers::<i16, _>(npy, f64::from),
            (TypeChar::Int, 4) => numbers::<i32, _>(npy, f64::from),
            (TypeChar::Int, 8) => numbers::<i64, _>(npy, |v| v as f64),
            (TypeChar::Uint, 1) => numbers::<u8, _>(npy, f64::from),
            (TypeChar::Uint, 2) => numbers::<u16, _>(npy, f64::from),
            (TypeChar::Uint, 4) => numbers::<u32, _>(npy, f64::from),
            (TypeChar::Uint, 8) => numbers::<u64, _>(npy, |v| v as f64),
            (TypeChar::Bool, 1) => {
                npy.into_vec::<bool>().map(|v| Cells::Text(v.into_iter().map(|b| Some(b.to_string())).collect()))
            }
            (TypeChar::UnicodeStr | TypeChar::ByteStr, _) => {
                npy.into_vec::<String>().map(|v| Cells::Text(v.into_iter().map(Some).collect()))
            }
            _ => return Err(bad(format!("dtype `{ty}` is not read (numbers, bools or strings are)"))),
        }
        .map_err(|e| bad(format!("reading the values: {e}")))?;
        if let Cells::Numbers(v) = &cells {
            if let Some(i) = v.iter().position(|x| x.is_infinite()) {
                return Err(bad(format!("element {i} is infinite")));
            }
        }
        let cells = if fortran && shape.len() == 2 {
            // Column-major on disk: transpose to the row-major order every table uses.
            let (rows, cols) = (shape[0] as usize, shape[1] as usize);
            transpose(cells, rows, cols)
        } else {
            cells
        };
        if shape.len() > 2 && fortran {
            return Err(bad("a Fortran-order array of more than two dimensions is not read".to_string()));
        }
        if shape.is_empty() {
            shape.push(1);
        }
        Ok(Array { shape, cells })
    }

    /// Features: `[rows]` as one column, `[rows, d]` as `d` columns `x0…`.
    fn into_feature_columns(self, path: &Path) -> Result<Vec<Column>, TableError> {
        let (rows, cols) = match self.shape[..] {
            [rows] => (rows as usize, 1),
            [rows, cols] => (rows as usize, cols as usize),
            _ => {
                return Err(TableError::bad(
                    path,
                    Place::default(),
                    format!("features must be a 1-D or 2-D array, this one has shape {:?}", self.shape),
                ))
            }
        };
        if cols == 0 {
            return Err(TableError::bad(path, Place::default(), "the feature array has no columns"));
        }
        let columns = match self.cells {
            Cells::Numbers(v) => (0..cols)
                .map(|j| Column {
                    name: format!("x{j}"),
                    cells: Cells::Numbers((0..rows).map(|i| v[i * cols + j]).collect()),
                })
                .collect(),
            Cells::Text(v) => (0..cols)
                .map(|j| Column {
                    name: format!("x{j}"),
                    cells: Cells::Text((0..rows).map(|i| v[i * cols + j].clone()).collect()),
                })
                .collect(),
        };
        Ok(columns)
    }

    /// The target: `[rows]` (or `[rows, 1]`) as the column `y`, which must have `rows` values.
    fn into_target_column(self, path: &Path, x_path: &Path, rows: usize) -> Result<Column, TableError> {
        let ok_shape = matches!(self.shape[..], [_] | [_, 1]);
        if !ok_shape {
            return Err(TableError::bad(
                path,
                Place::default(),
                format!("the target must be a 1-D array, this one has shape {:?}", self.shape),
            ));
        }
        if self.cells.len() != rows {
            let x = if x_path == path { "`x`".to_string() } else { x_path.display().to_string() };
            return Err(TableError::bad(
                path,
                Place::default(),
                format!("the target has {} values, but the features ({x}) have {rows} rows", self.cells.len()),
            ));
        }
        Ok(Column { name: "y".to_string(), cells: self.cells })
    }
}

fn numbers<T: npyz::Deserialize, R: Read>(npy: NpyFile<R>, to_f64: impl Fn(T) -> f64) -> std::io::Result<Cells> {
    Ok(Cells::Numbers(npy.into_vec::<T>()?.into_iter().map(to_f64).collect()))
}

fn transpose(cells: Cells, rows: usize, cols: usize) -> Cells {
    // On disk element (i, j) is at j * rows + i.
    match cells {
        Cells::Numbers(v) => Cells::Numbers((0..rows * cols).map(|k| v[(k % cols) * rows + k / cols]).collect()),
        Cells::Text(v) => Cells::Text((0..rows * cols).map(|k| v[(k % cols) * rows + k / cols].clone()).collect()),
    }
}

#[cfg(test)]
mod tests {
    use npyz::WriterBuilder;

    use super::*;

    fn write_npy<T: npyz::Serialize + npyz::AutoSerialize + Copy>(path: &Path, shape: &[u64], data: &[T]) {
        let mut out = Vec::new();
        let mut w = npyz::WriteOptions::new().default_dtype().shape(shape).writer(&mut out).begin_nd().unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
        std::fs::write(path, out).unwrap();
    }

    #[test]
    fn features_and_target_from_two_files() {
        let dir = tempfile::tempdir().unwrap();
        let (x, y) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
        write_npy(&x, &[3, 2], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]);
        write_npy(&y, &[3], &[0i64, 1, 0]);
        let t = read_npy(&x, Some(&y)).unwrap();
        assert_eq!(t.rows, 3);
        assert_eq!(t.names(), ["x0", "x1", "y"]);
        assert_eq!(t.column("x1").unwrap().cells, Cells::Numbers(vec![2.0, 4.0, 6.0]));
        assert_eq!(t.column("y").unwrap().cells, Cells::Numbers(vec![0.0, 1.0, 0.0]));
    }

    #[test]
    fn mismatched_lengths_name_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let (x, y) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
        write_npy(&x, &[3, 2], &[1.0f64; 6]);
        write_npy(&y, &[4], &[1u8; 4]);
        let e = read_npy(&x, Some(&y)).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{}: the target has 4 values, but the features ({}) have 3 rows", y.display(), x.display())
        );
    }

    #[test]
    fn a_file_that_is_not_npy_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let x = dir.path().join("x.npy");
        std::fs::write(&x, b"hello").unwrap();
        let e = read_npy(&x, None).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: not a readable .npy file", x.display())), "{e}");
    }

    #[test]
    fn fortran_order_is_transposed() {
        let cells = Cells::Numbers(vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]); // [[1,2],[3,4],[5,6]] column-major
        assert_eq!(transpose(cells, 3, 2), Cells::Numbers(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    }
}
