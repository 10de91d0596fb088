//! Data sets in memory: u8 pixels and labels, train/test splits and validation splits.

use std::path::{Path, PathBuf};

use crate::catalog::{spec, DatasetSpec, Format};
use crate::digits_csv::read_digits_csv;
use crate::idx::{read_images, read_labels, IdxImages};
use crate::locate::{existing_file, Located};
use crate::split::stratified_split;
use crate::DataError;

/// The fraction of the digits data held out as its test set.
pub const DIGITS_TEST_FRACTION: f64 = 0.2;
/// The seed of the digits train/test split. With it, the split is 1438 train / 359 test.
pub const DIGITS_SPLIT_SEED: u64 = 0;

/// Labelled images, kept as they are stored: one u8 per pixel and per label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// The data set's name and part (`mnist/train`).
    pub name: String,
    /// `[len, height * width]` pixels, row-major, each in `0..=max_value`.
    pub images: Vec<u8>,
    /// `[len]` labels, each an index into `classes`.
    pub labels: Vec<u8>,
    /// Number of examples.
    pub len: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// The value of a full-ink pixel (255 for MNIST-style images, 16 for digits).
    pub max_value: u8,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
}

/// A data set's training and test parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The training examples.
    pub train: Dataset,
    /// The held-out test examples.
    pub test: Dataset,
}

impl Dataset {
    /// Pixels per image (`height * width`): the input width of a model.
    pub fn features(&self) -> usize {
        self.height * self.width
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// The pixels of example `i`: `[height * width]`.
    pub fn image(&self, i: usize) -> &[u8] {
        let f = self.features();
        &self.images[i * f..(i + 1) * f]
    }

    /// How many examples each class has, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &l in &self.labels {
            counts[usize::from(l)] += 1;
        }
        counts
    }

    /// A new data set of the examples at `indices`, in that order, named `name`.
    pub fn subset(&self, indices: &[usize], name: impl Into<String>) -> Dataset {
        let f = self.features();
        let mut images = Vec::with_capacity(indices.len() * f);
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        Dataset {
            name: name.into(),
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            len: indices.len(),
            height: self.height,
            width: self.width,
            max_value: self.max_value,
            classes: self.classes.clone(),
        }
    }

    /// Mean and standard deviation of all pixels scaled to `[0, 1]` (for
    /// [`crate::Normalizer::standardized`]; compute them on the training part only).
    pub fn pixel_mean_std(&self) -> (f32, f32) {
        let mut histogram = [0u64; 256];
        for &p in &self.images {
            histogram[usize::from(p)] += 1;
        }
        let n = self.images.len().max(1) as f64;
        let scale = 1.0 / f64::from(self.max_value.max(1));
        let mean = histogram.iter().enumerate().map(|(v, &c)| v as f64 * scale * c as f64).sum::<f64>() / n;
        let var =
            histogram.iter().enumerate().map(|(v, &c)| (v as f64 * scale - mean).powi(2) * c as f64).sum::<f64>() / n;
        (mean as f32, var.sqrt() as f32)
    }

    /// Splits off a validation set of `fraction` of the examples, stratified by class: from
    /// each class, `round(fraction * count)` examples chosen with `Rng::new(seed)`. Returns
    /// `(train, validation)`, each keeping the original order. `fraction` must be in (0, 1)
    /// and leave both sides non-empty.
    pub fn split_validation(&self, fraction: f64, seed: u64) -> Result<(Dataset, Dataset), DataError> {
        let (keep, held) = stratified_split(&self.labels, self.classes.len(), fraction, seed);
        if !(fraction > 0.0 && fraction < 1.0) || keep.is_empty() || held.is_empty() {
            return Err(DataError::BadFraction { fraction, len: self.len });
        }
        let base = self.name.strip_suffix("/train").unwrap_or(&self.name);
        Ok((self.subset(&keep, format!("{base}/train")), self.subset(&held, format!("{base}/val"))))
    }
}

/// Loads the data set `name` from the data root `root` (its files in `root/name/`).
pub fn load(name: &str, root: &Path) -> Result<Split, DataError> {
    let spec = spec(name)?;
    load_dir(spec, &root.join(spec.name))
}

impl Located {
    /// Loads the data set found.
    pub fn load(&self) -> Result<Split, DataError> {
        load_dir(self.spec, &self.dir)
    }
}

/// Loads `spec` from its folder `dir`. Every file is checked for its format, the image size
/// of the data set, matching image and label counts and labels in range; checksums are not
/// checked here (see [`crate::verify`]).
pub fn load_dir(spec: &DatasetSpec, dir: &Path) -> Result<Split, DataError> {
    let paths = spec
        .files
        .iter()
        .map(|f| existing_file(dir, f))
        .collect::<Option<Vec<PathBuf>>>()
        .ok_or_else(|| DataError::NotFound { name: spec.name.to_string(), looked_in: vec![dir.to_path_buf()] })?;
    match spec.format {
        Format::Idx { rows, cols } => {
            let [train_images, train_labels, test_images, test_labels] = [0, 1, 2, 3].map(|i| paths[i].as_path());
            // Decompressing the two big image files is most of the time: do them side by side.
            let (train, test) = std::thread::scope(|s| {
                let train = s.spawn(|| load_idx_part(spec, "train", rows, cols, train_images, train_labels));
                let test = load_idx_part(spec, "test", rows, cols, test_images, test_labels);
                (train.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)), test)
            });
            Ok(Split { train: train?, test: test? })
        }
        Format::DigitsCsv => {
            let rows = read_digits_csv(&paths[0])?;
            let all = Dataset {
                name: spec.name.to_string(),
                len: rows.labels.len(),
                images: rows.pixels,
                labels: rows.labels,
                height: 8,
                width: 8,
                max_value: spec.max_value,
                classes: spec.classes.iter().map(ToString::to_string).collect(),
            };
            let (train, test) =
                stratified_split(&all.labels, all.classes.len(), DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED);
            Ok(Split {
                train: all.subset(&train, format!("{}/train", spec.name)),
                test: all.subset(&test, format!("{}/test", spec.name)),
            })
        }
    }
}

fn load_idx_part(
    spec: &DatasetSpec,
    part: &str,
    rows: u32,
    cols: u32,
    image_path: &Path,
    label_path: &Path,
) -> Result<Dataset, DataError> {
    let labels = read_labels(label_path)?;
    let IdxImages { count, rows: found_rows, cols: found_cols, pixels } = read_images(image_path)?;
    if (found_rows, found_cols) != (rows as usize, cols as usize) {
        return Err(DataError::BadDimensions {
            path: image_path.to_path_buf(),
            rows,
            cols,
            found_rows: found_rows as u32,
            found_cols: found_cols as u32,
        });
    }
    if count != labels.len() {
        return Err(DataError::CountMismatch {
            image_path: image_path.to_path_buf(),
            images: count,
            label_path: label_path.to_path_buf(),
            labels: labels.len(),
        });
    }
    if let Some(index) = labels.iter().position(|&l| usize::from(l) >= spec.classes.len()) {
        return Err(DataError::BadLabel {
            path: label_path.to_path_buf(),
            index,
            label: labels[index],
            classes: spec.classes.len(),
        });
    }
    Ok(Dataset {
        name: format!("{}/{part}", spec.name),
        images: pixels,
        labels,
        len: count,
        height: found_rows,
        width: found_cols,
        max_value: spec.max_value,
        classes: spec.classes.iter().map(ToString::to_string).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(len: usize) -> Dataset {
        Dataset {
            name: "toy/train".into(),
            images: (0..len * 4).map(|i| (i % 256) as u8).collect(),
            labels: (0..len).map(|i| (i % 3) as u8).collect(),
            len,
            height: 2,
            width: 2,
            max_value: 255,
            classes: vec!["a".into(), "b".into(), "c".into()],
        }
    }

    #[test]
    fn validation_split_is_stratified_seeded_and_disjoint() {
        let ds = toy(300);
        let (train, val) = ds.split_validation(0.1, 7).unwrap();
        assert_eq!((train.len, val.len), (270, 30));
        assert_eq!(val.class_counts(), [10, 10, 10]);
        assert_eq!(train.name, "toy/train");
        assert_eq!(val.name, "toy/val");
        let again = ds.split_validation(0.1, 7).unwrap();
        assert_eq!(again.1, val);
        assert_ne!(ds.split_validation(0.1, 8).unwrap().1.images, val.images);
        // Every example lands on exactly one side.
        let mut all: Vec<&[u8]> =
            (0..train.len).map(|i| train.image(i)).chain((0..val.len).map(|i| val.image(i))).collect();
        all.sort();
        let mut orig: Vec<&[u8]> = (0..ds.len).map(|i| ds.image(i)).collect();
        orig.sort();
        assert_eq!(all, orig);
    }

    #[test]
    fn bad_fractions_are_errors() {
        let ds = toy(10);
        for f in [0.0, 1.0, -0.5, 1.5, f64::NAN, 0.01] {
            assert!(matches!(ds.split_validation(f, 0), Err(DataError::BadFraction { .. })), "{f}");
        }
    }

    #[test]
    fn pixel_statistics() {
        let mut ds = toy(1);
        ds.images = vec![0, 255, 0, 255];
        let (mean, std) = ds.pixel_mean_std();
        assert!((mean - 0.5).abs() < 1e-6 && (std - 0.5).abs() < 1e-6, "{mean} {std}");
    }
}
