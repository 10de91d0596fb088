//! The data sets nabla knows by name: their files, checksums, classes and download sources.

use crate::DataError;

/// How a data set's files are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Four IDX files (train/test images and labels) of `rows x cols` u8 images.
    Idx {
        /// Image height.
        rows: u32,
        /// Image width.
        cols: u32,
    },
    /// One CSV file: a header line, then rows of 64 pixels (0..16) and a label, split into
    /// train and test by [`crate::DIGITS_TEST_FRACTION`] and [`crate::DIGITS_SPLIT_SEED`].
    DigitsCsv,
}

/// One file of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSpec {
    /// The file name as downloaded (`train-images-idx3-ubyte.gz`). Its uncompressed twin (the
    /// name without `.gz`) is accepted in its place.
    pub name: &'static str,
    /// sha256 (hex) of the decompressed content.
    pub sha256: &'static str,
    /// sha256 (hex) of another published form of the whole file, also accepted (digits: the
    /// scikit-learn `.gz`, whose CSV text differs from the copy in `shared/data`).
    pub alt_file_sha256: Option<&'static str>,
}

/// A data set nabla can find, check, download and load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetSpec {
    /// The name used on the command line and as the folder under a data root.
    pub name: &'static str,
    /// One line on what it is.
    pub description: &'static str,
    /// Its files.
    pub files: &'static [FileSpec],
    /// The layout of the files.
    pub format: Format,
    /// Class names, indexed by label.
    pub classes: &'static [&'static str],
    /// The largest pixel value (255 for IDX images, 16 for digits).
    pub max_value: u8,
    /// The official base URL: each file is fetched from `base_url` + its name.
    pub base_url: &'static str,
}

impl DatasetSpec {
    /// The download URL of `file` under `base` (a trailing `/` is added when missing).
    pub fn url(base: &str, file: &FileSpec) -> String {
        if base.ends_with('/') {
            format!("{base}{}", file.name)
        } else {
            format!("{base}/{}", file.name)
        }
    }
}

/// File names of the four IDX files, in the order train images, train labels, test images,
/// test labels.
pub const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

const DIGIT_CLASSES: &[&str] = &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// All known data sets.
pub const DATASETS: &[DatasetSpec] = &[
    DatasetSpec {
        name: "mnist",
        description: "MNIST handwritten digits: 60000 train + 10000 test, 28x28",
        files: &[
            FileSpec {
                name: IDX_FILES[0],
                sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                alt_file_sha256: None,
            },
            FileSpec {
                name: IDX_FILES[1],
                sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                alt_file_sha256: None,
            },
            FileSpec {
                name: IDX_FILES[2],
                sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                alt_file_sha256: None,
            },
            FileSpec {
                name: IDX_FILES[3],
                sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                alt_file_sha256: None,
            },
        ],
        format: Format::Idx { rows: 28, cols: 28 },
        classes: DIGIT_CLASSES,
        max_value: 255,
        // The mirror torchvision downloads from.
        base_url: "https://ossci-datasets.s3.amazonaws.com/mnist/",
    },
    DatasetSpec {
        name: "fashion-mnist",
        description: "Fashion-MNIST Zalando articles: 60000 train + 10000 test, 28x28",
        files: &[
            FileSpec {
                name: IDX_FILES[0],
                sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                alt_file_sha256: None,
            },
            FileSpec {
                name: IDX_FILES[1],
                sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                alt_file_sha256: None,
            },
            FileSpec {
                name: IDX_FILES[2],
                sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                alt_file_sha256: None,
            },
            FileSpec {
                name: IDX_FILES[3],
                sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                alt_file_sha256: None,
            },
        ],
        format: Format::Idx { rows: 28, cols: 28 },
        classes: &[
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ],
        max_value: 255,
        base_url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    },
    DatasetSpec {
        name: "digits",
        description: "UCI optical digits (scikit-learn load_digits): 1797 images, 8x8, values 0..16",
        files: &[FileSpec {
            name: "digits.csv.gz",
            // The copy in shared/data: header line + integer CSV (computed from that file).
            sha256: "d7ff1341011182b7af3733b201a919cea2ffe00f25ff23ba48c5e791daffb498",
            // scikit-learn's own digits.csv.gz (the file the default URL serves), as published
            // in shared/data/README.md.
            alt_file_sha256: Some("09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"),
        }],
        format: Format::DigitsCsv,
        classes: DIGIT_CLASSES,
        max_value: 16,
        base_url: "https://raw.githubusercontent.com/scikit-learn/scikit-learn/main/sklearn/datasets/data/",
    },
];

/// The data set called `name`, or an error that lists the known names.
pub fn spec(name: &str) -> Result<&'static DatasetSpec, DataError> {
    DATASETS.iter().find(|s| s.name == name).ok_or_else(|| DataError::UnknownDataset {
        name: name.to_string(),
        known: DATASETS.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let err = spec("cifar").unwrap_err().to_string();
        assert_eq!(err, "unknown data set `cifar` (known: mnist, fashion-mnist, digits)");
    }

    #[test]
    fn every_checksum_is_64_hex_digits() {
        for s in DATASETS {
            assert_eq!(s.classes.len(), 10, "{}", s.name);
            for f in s.files {
                for sum in std::iter::once(f.sha256).chain(f.alt_file_sha256) {
                    assert!(sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()), "{sum}");
                }
            }
        }
    }

    #[test]
    fn url_joins_with_one_slash() {
        let f = &DATASETS[0].files[1];
        assert_eq!(DatasetSpec::url("http://h/m", f), "http://h/m/train-labels-idx1-ubyte.gz");
        assert_eq!(DatasetSpec::url("http://h/m/", f), "http://h/m/train-labels-idx1-ubyte.gz");
    }
}
