//! Synthetic data sets: random images of MNIST's shape, for timing code without downloading
//! anything (`nabla bench --synthetic`, allocation tests). The pixels and labels are noise,
//! so there is nothing to learn from them.

use nabla::Rng;

use crate::dataset::{Dataset, Split};

/// Random data of MNIST's shape, for timing only: 60,000 training and 10,000 test images of
/// 28×28 pixels uniform in `0..=255` (so `[0, 1]` after scaling) and labels uniform in 0..10.
pub fn synthetic_mnist(seed: u64) -> Split {
    synthetic_images(seed, 60_000, 10_000)
}

/// Random 28×28 images of 10 classes: `train_len` training and `test_len` test examples,
/// pixels uniform in `0..=255`, labels uniform in 0..10.
pub fn synthetic_images(seed: u64, train_len: usize, test_len: usize) -> Split {
    let mut rng = Rng::new(seed);
    let mut part = |name: &str, len: usize| Dataset {
        name: format!("synthetic/{name}"),
        images: (0..len * 784).map(|_| rng.below(256) as u8).collect(),
        labels: (0..len).map(|_| rng.below(10) as u8).collect(),
        len,
        height: 28,
        width: 28,
        max_value: 255,
        classes: (0..10).map(|c| c.to_string()).collect(),
    };
    let train = part("train", train_len);
    let test = part("test", test_len);
    Split { train, test }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_images_have_mnist_shape_and_repeat_by_seed() {
        let split = synthetic_images(3, 50, 20);
        assert_eq!((split.train.len, split.test.len), (50, 20));
        assert_eq!((split.train.images.len(), split.test.labels.len()), (50 * 784, 20));
        assert_eq!((split.train.features(), split.train.num_classes(), split.train.max_value), (784, 10, 255));
        assert_eq!(split.train.name, "synthetic/train");
        assert!(split.train.labels.iter().chain(&split.test.labels).all(|&y| y < 10));
        assert_eq!(synthetic_images(3, 50, 20), split);
        assert_ne!(synthetic_images(4, 50, 20), split);
    }
}
