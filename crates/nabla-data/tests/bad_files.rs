//! Broken data files give errors that name the file and what was expected versus found.

use std::io::Write;
use std::path::{Path, PathBuf};

use nabla_data::idx::{encode_images, encode_labels};
use nabla_data::{load, DataError};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A tiny `mnist` folder: `n_train` / `n_test` blank 28x28 images with labels `i % 10`.
fn tiny_mnist(root: &Path, n_train: usize, n_test: usize) -> PathBuf {
    let dir = root.join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
            gzip(&encode_images(28, 28, &vec![7; n * 784])),
        )
        .unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte.gz")), gzip(&encode_labels(&labels))).unwrap();
    }
    dir
}

#[test]
fn tiny_valid_files_load_gzip_or_raw() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_mnist(tmp.path(), 20, 10);
    // A decompressed twin stands in for a missing .gz.
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), encode_labels(&[3; 10])).unwrap();
    let split = load("mnist", tmp.path()).unwrap();
    assert_eq!((split.train.len, split.test.len), (20, 10));
    assert_eq!(split.test.labels, [3; 10]);
    assert_eq!(split.train.class_counts(), [2; 10]);
}

#[test]
fn truncated_idx_names_the_file_and_the_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_mnist(tmp.path(), 20, 10);
    let mut bytes = encode_images(28, 28, &vec![0; 20 * 784]);
    bytes.truncate(bytes.len() - 100);
    let path = dir.join("train-images-idx3-ubyte.gz");
    std::fs::write(&path, gzip(&bytes)).unwrap();
    let err = load("mnist", tmp.path()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::BadLength { .. }), "{err:?}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("expected {}, found {}", 16 + 20 * 784, 16 + 20 * 784 - 100)), "{msg}");
}

#[test]
fn cut_gzip_stream_is_a_gzip_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_mnist(tmp.path(), 20, 10);
    let path = dir.join("t10k-images-idx3-ubyte.gz");
    let gz = std::fs::read(&path).unwrap();
    std::fs::write(&path, &gz[..gz.len() - 30]).unwrap();
    let err = load("mnist", tmp.path()).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
    assert!(err.to_string().contains("t10k-images-idx3-ubyte.gz: corrupt gzip data"), "{err}");
}

#[test]
fn swapped_files_give_wrong_magic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_mnist(tmp.path(), 20, 10);
    std::fs::copy(dir.join("train-labels-idx1-ubyte.gz"), dir.join("train-images-idx3-ubyte.gz")).unwrap();
    let msg = load("mnist", tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("train-images-idx3-ubyte.gz: not an IDX images file: magic number 2049"), "{msg}");
    assert!(msg.contains("expected 2051"), "{msg}");
}

#[test]
fn mismatched_counts_name_both_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_mnist(tmp.path(), 20, 10);
    std::fs::write(dir.join("t10k-labels-idx1-ubyte.gz"), gzip(&encode_labels(&[1; 9]))).unwrap();
    let err = load("mnist", tmp.path()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::CountMismatch { images: 10, labels: 9, .. }), "{err:?}");
    assert!(msg.contains("t10k-images-idx3-ubyte.gz holds 10 images"), "{msg}");
    assert!(msg.contains("t10k-labels-idx1-ubyte.gz holds 9 labels"), "{msg}");
}

#[test]
fn wrong_image_size_and_bad_label() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_mnist(tmp.path(), 20, 10);
    std::fs::write(dir.join("t10k-images-idx3-ubyte.gz"), gzip(&encode_images(8, 8, &[0; 640]))).unwrap();
    let msg = load("mnist", tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("images are 8x8, expected 28x28"), "{msg}");

    let dir = tiny_mnist(tmp.path(), 20, 10);
    let mut labels = vec![0u8; 20];
    labels[13] = 10;
    std::fs::write(dir.join("train-labels-idx1-ubyte.gz"), gzip(&encode_labels(&labels))).unwrap();
    let msg = load("mnist", tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("label 10 at index 13 is out of range"), "{msg}");
}

#[test]
fn missing_file_is_not_found_naming_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_mnist(tmp.path(), 20, 10);
    std::fs::remove_file(dir.join("train-labels-idx1-ubyte.gz")).unwrap();
    let msg = load("mnist", tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("data set `mnist` not found; looked in: ") && msg.contains("mnist"), "{msg}");
}

#[test]
fn bad_csv_line_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("digits");
    std::fs::create_dir_all(&dir).unwrap();
    let good = (0..64).map(|k| (k % 17).to_string()).chain(["4".to_string()]).collect::<Vec<_>>().join(",");
    let header = (0..64).map(|k| format!("p{k}")).chain(["label".to_string()]).collect::<Vec<_>>().join(",");
    let text = format!("{header}\n{good}\n{good}\n{},four\n", good.rsplit_once(',').unwrap().0);
    let path = dir.join("digits.csv.gz");
    std::fs::write(&path, gzip(text.as_bytes())).unwrap();
    let err = load("digits", tmp.path()).unwrap_err();
    assert!(matches!(err, DataError::Csv { line: 4, .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("{}:4: column 65: `four` is not a whole number", path.display()));
}

#[test]
fn unknown_data_set_lists_the_known_ones() {
    let msg = load("cifar10", Path::new("/tmp")).unwrap_err().to_string();
    assert_eq!(msg, "unknown data set `cifar10` (known: mnist, fashion-mnist, digits)");
}
