//! Tables as users have them: Parquet written by pandas (three codecs), NumPy files written by
//! numpy (strings, Fortran order), the four UCI tables of the shared data, and the bad inputs
//! the tables issue lists, each with its message.

use std::path::{Path, PathBuf};

use nabla_data::table::{infer_task, Cells, PreprocessOptions, Preprocessor, ReadOptions, Table, Task, Z_LIMIT};
use nabla_testkit::numpy::npy;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn read(path: &Path) -> Table {
    Table::read(path, &ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn read_err(path: &Path, options: &ReadOptions) -> String {
    Table::read(path, options).unwrap_err().to_string()
}

#[test]
fn parquet_from_pandas_reads_with_every_codec() {
    for codec in ["snappy", "zstd", "gzip"] {
        let t = read(&fixture(&format!("pandas_{codec}.parquet")));
        assert_eq!(t.rows, 4, "{codec}");
        assert_eq!(t.names(), ["a", "b", "s", "f", "i"], "{codec}");
        let Cells::Numbers(a) = &t.column("a").unwrap().cells else { panic!("a is numbers") };
        assert_eq!((a[0], a[1], a[3]), (1.0, 2.0, 4.0));
        assert!(a[2].is_nan(), "pandas' None is a missing value");
        let s = |v: &str| Some(v.to_string());
        assert_eq!(t.column("s").unwrap().cells, Cells::Text(vec![s("red"), None, s("blue"), s("red")]));
        assert_eq!(t.column("f").unwrap().cells, Cells::Text(vec![s("true"), s("false"), s("true"), None]));
        assert_eq!(t.column("i").unwrap().cells, Cells::Numbers(vec![1.0, 2.0, 3.0, 4.0]));
    }
}

#[test]
fn numpy_archives_with_string_targets_and_fortran_arrays() {
    let t = read(&fixture("xy_strings.npz"));
    assert_eq!(t.names(), ["x0", "x1", "x2", "y"]);
    assert_eq!(t.column("x1").unwrap().cells, Cells::Numbers(vec![1.0, 4.0, 7.0, 10.0]));
    assert_eq!(infer_task(t.column("y").unwrap()).0, Task::Classify);
    let t = read(&fixture("fortran_int32.npy"));
    assert_eq!(t.column("x0").unwrap().cells, Cells::Numbers(vec![0.0, 2.0, 4.0]));
    assert_eq!(t.column("x1").unwrap().cells, Cells::Numbers(vec![1.0, 3.0, 5.0]));
}

#[test]
fn the_shared_uci_tables_read_with_the_right_task() {
    let dir = nabla_testkit::data_dir().join("tabular");
    for (file, target, task, rows, classes) in [
        ("iris.csv", "species", Task::Classify, 150, 3),
        ("wine.csv", "cultivar", Task::Classify, 178, 3),
        ("breast_cancer.csv", "diagnosis", Task::Classify, 569, 2),
        ("diabetes.csv", "progression", Task::Regress, 442, 0),
    ] {
        let t = read(&dir.join(file));
        assert_eq!(t.rows, rows, "{file}");
        let (found, why) = infer_task(t.column(target).unwrap());
        assert_eq!(found, task, "{file}: {why}");
        let (pre, warnings) = Preprocessor::fit(&t, target, task, &PreprocessOptions::default()).unwrap();
        assert!(warnings.is_empty(), "{file}: {warnings:?}");
        assert_eq!(pre.width(), t.columns.len() - 1, "{file}: every feature is numeric");
        assert_eq!(pre.classes().map_or(0, <[String]>::len), classes, "{file}");
        let encoded = pre.transform(&t).unwrap();
        // Standardised on the same rows with the column's own mean and population deviation,
        // clipped at ±Z_LIMIT; a column that nothing clips has mean 0 and deviation 1.
        let names = pre.input_names();
        for j in 0..encoded.features {
            let Cells::Numbers(raw) = &t.column(&names[j]).unwrap().cells else { panic!("{file}: numbers") };
            let n = raw.len() as f64;
            let mean = raw.iter().sum::<f64>() / n;
            let std = (raw.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
            let col: Vec<f64> = (0..encoded.rows).map(|i| f64::from(encoded.x[i * encoded.features + j])).collect();
            for (x, v) in col.iter().zip(raw) {
                let want = ((v - mean) / std).clamp(-Z_LIMIT, Z_LIMIT);
                assert!((x - want).abs() < 1e-5 * want.abs().max(1.0), "{file} input {j}: {x} for {v}, want {want}");
            }
            if col.iter().all(|x| x.abs() < Z_LIMIT) {
                let m = col.iter().sum::<f64>() / n;
                let var = col.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n;
                assert!(m.abs() < 1e-5 && (var - 1.0).abs() < 1e-4, "{file} input {j}: mean {m}, var {var}");
            }
        }
    }
}

/// Every bad input of the tables issue: the message names the file and the place, and
/// reading fails (the CLI turns that into a non-zero exit).
#[test]
fn bad_tables_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let none = ReadOptions::default();

    let p = write("ragged.csv", b"a,b,y\n1,2,0\n3,4\n5,6,1\n");
    assert_eq!(read_err(&p, &none), format!("{}, line 3: 2 fields, but the header has 3", p.display()));

    let p = write("word.csv", b"a,y\n1,0\n2,1\nthree,0\n4,1\n");
    assert!(read_err(&p, &none).starts_with(&format!("{}, line 4, column `a`: `three` is not a number", p.display())));

    let p = write("empty.csv", b"");
    assert_eq!(read_err(&p, &none), format!("{}: the file is empty (a header row is needed)", p.display()));
    let p = write("header_only.csv", b"a,y\n");
    assert_eq!(read_err(&p, &none), format!("{}: the table has no rows", p.display()));

    let p = write("fake.parquet", b"a,b\n1,2\n");
    assert!(read_err(&p, &none).starts_with(&format!("{}: not a readable Parquet file", p.display())));

    let p = write("t.xlsx", b"");
    assert!(read_err(&p, &none).contains("unknown table format (supported: .csv"));

    let t = read(&write("one_class.csv", b"a,y\n1,z\n2,z\n"));
    let e = Preprocessor::fit(&t, "y", Task::Classify, &PreprocessOptions::default()).unwrap_err().to_string();
    assert!(e.ends_with("column `y`: the target has a single class, `z`: there is nothing to tell apart"), "{e}");
    let e = Preprocessor::fit(&t, "label", Task::Classify, &PreprocessOptions::default()).unwrap_err().to_string();
    assert!(e.ends_with("--target: no column `label` (the columns are: a, y)"), "{e}");

    let x = fixture("fortran_int32.npy");
    let y = write("y.npy", &npy("|u1", &[4], &[1, 2, 3, 4]));
    let options = ReadOptions { target_file: Some(y.clone()), ..ReadOptions::default() };
    assert_eq!(
        read_err(&x, &options),
        format!("{}: the target has 4 values, but the features ({}) have 3 rows", y.display(), x.display())
    );
}
