//! The real data sets in `$NABLA_DATA` (the project's shared data): shapes, label counts as
//! published in shared/data/README.md, checksums, splits and batches.

use nabla_data::{
    find_in, load, read_digits_csv, spec, verify, BatchBuffers, DataRoot, Normalizer, RootSource, DIGITS_SPLIT_SEED,
    DIGITS_TEST_FRACTION,
};
use nabla_testkit::shared_data;

#[test]
fn mnist_shapes_and_label_counts_match_the_readme() {
    let split = load("mnist", &shared_data()).unwrap();
    let (train, test) = (&split.train, &split.test);
    assert_eq!((train.len, test.len), (60_000, 10_000));
    assert_eq!((train.height, train.width, train.features()), (28, 28, 784));
    assert_eq!(train.images.len(), 60_000 * 784);
    assert_eq!(train.max_value, 255);
    assert_eq!(train.classes, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    assert_eq!(train.name, "mnist/train");
    assert_eq!(train.class_counts(), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    assert_eq!(test.class_counts(), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    // The first training digit is a 5 (LeCun's file), with ink somewhere.
    assert_eq!(train.labels[0], 5);
    assert!(train.image(0).contains(&255));

    let (mean, std) = train.pixel_mean_std();
    assert!((mean - 0.1307).abs() < 1e-3 && (std - 0.3081).abs() < 1e-3, "{mean} {std}");

    let (tr, val) = train.split_validation(0.1, 42).unwrap();
    assert_eq!((tr.len, val.len), (54_000, 6_000));
    assert_eq!(
        tr.class_counts().iter().zip(val.class_counts()).map(|(a, b)| a + b).collect::<Vec<_>>(),
        train.class_counts()
    );

    let norm = Normalizer::standardized(255, mean, std);
    let mut buffers = BatchBuffers::new(64, 784);
    let (x, labels) = buffers.fill(test, &[3, 2, 1], &norm);
    assert_eq!(x.len(), 3 * 784);
    assert_eq!(labels, &test.labels[1..4].iter().rev().copied().collect::<Vec<_>>()[..]);
    assert!((x[784 * 2] - (-mean / std)).abs() < 1e-6);
}

#[test]
fn fashion_mnist_has_6000_and_1000_per_class_and_named_classes() {
    let split = load("fashion-mnist", &shared_data()).unwrap();
    assert_eq!(split.train.class_counts(), [6000; 10]);
    assert_eq!(split.test.class_counts(), [1000; 10]);
    assert_eq!(split.train.classes[0], "T-shirt/top");
    assert_eq!(split.train.classes[9], "Ankle boot");
    assert_eq!(split.test.features(), 784);
}

#[test]
fn digits_split_is_stratified_and_fixed() {
    let split = load("digits", &shared_data()).unwrap();
    let (train, test) = (&split.train, &split.test);
    assert_eq!(train.len + test.len, 1797);
    let total: Vec<usize> = train.class_counts().iter().zip(test.class_counts()).map(|(a, b)| a + b).collect();
    assert_eq!(total, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    assert_eq!((train.len, test.len), (1438, 359));
    for (c, (&t, &n)) in test.class_counts().iter().zip(&total).enumerate() {
        assert_eq!(t, (DIGITS_TEST_FRACTION * n as f64).round() as usize, "class {c}");
    }
    assert_eq!((train.height, train.width, train.max_value), (8, 8, 16));
    assert!(train.images.iter().all(|&p| p <= 16));
    assert_eq!(DIGITS_SPLIT_SEED, 0);
    // Same files, same split.
    assert_eq!(load("digits", &shared_data()).unwrap(), split);
    // The first row of optdigits.tes, as in scikit-learn's load_digits().images[0].
    let rows = read_digits_csv(&shared_data().join("digits/digits.csv.gz")).unwrap();
    assert_eq!((&rows.pixels[..8], rows.labels[0]), (&[0, 0, 5, 13, 9, 1, 0, 0][..], 0));
}

#[test]
fn every_shared_data_set_verifies_and_is_found() {
    let root = shared_data();
    let roots = [
        DataRoot { path: "/nonexistent/nabla".into(), source: RootSource::Explicit },
        DataRoot { path: root.clone(), source: RootSource::Env },
    ];
    for name in ["mnist", "fashion-mnist", "digits"] {
        let found = find_in(spec(name).unwrap(), &roots).unwrap();
        assert_eq!(found.dir, root.join(name));
        assert_eq!(found.root.source, RootSource::Env);
        found.verify().unwrap();
        verify(found.spec, &found.dir).unwrap();
    }
}
