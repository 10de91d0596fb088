use serde_json::json;

use super::*;
use crate::train::Silent;

fn params(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|j| format!("x{j}")).collect()
}

/// Two blobs in two dimensions: class 0 around (−2, −2), class 1 around (2, 2), and a
/// constant third column.
fn blobs(rows: usize) -> (Vec<f32>, Vec<u32>) {
    let mut rng = nabla::Rng::new(5);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..rows {
        let c = (i % 2) as u32;
        let centre = if c == 0 { -2.0 } else { 2.0 };
        x.extend([centre + rng.normal() as f32, centre + rng.normal() as f32, 7.0]);
        y.push(c);
    }
    (x, y)
}

#[test]
fn keywords_go_over_the_table_defaults() {
    let c = estimator_config(&params(json!({"lr": null, "hidden": [7, 3], "batch_size": 16})), 100, Task::Classify)
        .unwrap();
    let base = TrainConfig::for_table(100, Task::Classify);
    assert_eq!((c.hidden.clone(), c.batch_size, c.lr, c.patience), (vec![7, 3], 16, base.lr, base.patience));
    assert!(c.val_split > 0.0, "a small table stops early by default");

    let off = estimator_config(&params(json!({"early_stopping": false})), 100, Task::Classify).unwrap();
    assert_eq!((off.patience, off.val_split), (0, 0.0));
    // A large table's default trains with patience 3; asked for, early stopping on a
    // regression keeps the table's fraction.
    let on = estimator_config(&params(json!({"early_stopping": true, "patience": 4})), 50_000, Task::Regress).unwrap();
    assert_eq!((on.patience, on.val_split), (4, 0.1));
    let act = estimator_config(&params(json!({"activation": "tanh", "optimizer": "sgd"})), 10, Task::Regress).unwrap();
    assert_eq!(act.activation, nabla::Activation::Tanh);
}

#[test]
fn a_bad_keyword_is_named() {
    let err = |v: Value| estimator_config(&params(v), 100, Task::Classify).unwrap_err().to_string();
    let e = err(json!({"learning_rate": 0.1}));
    assert!(e.starts_with("learning_rate=0.1: unknown keyword"), "{e}");
    let e = err(json!({"lr": -1.0}));
    assert!(e.starts_with("lr=-1: must be a finite number > 0"), "{e}");
    let e = err(json!({"activation": "swish"}));
    assert!(e.starts_with("activation=\"swish\": ") && e.contains("swish"), "{e}");
    let e = err(json!({"batch_size": "big"}));
    assert!(e.starts_with("batch_size=\"big\": "), "{e}");
    let e = err(json!({"validation_fraction": 1.5}));
    assert!(e.starts_with("validation_fraction=1.5: must be in (0, 1)"), "{e}");
    let e = err(json!({"dropout": 1.0}));
    assert!(e.starts_with("dropout=1: must be in [0, 1)"), "{e}");
}

#[test]
fn a_classifier_learns_blobs_and_knows_every_class_given() {
    let (x, y) = blobs(200);
    let columns = names(3);
    let classes: Vec<String> = ["a", "b", "never seen"].iter().map(|s| s.to_string()).collect();
    let rows = Rows { x: &x, columns: &columns };
    let target = Target::Classes { labels: &y, names: &classes };
    let config =
        estimator_config(&params(json!({"hidden": [8], "epochs": 20, "early_stopping": false})), 200, Task::Classify)
            .unwrap();
    let set = fit_set(rows, target, config.val_split, config.seed, Scale::Standard).unwrap();
    // The constant column is left out of the inputs.
    assert_eq!(set.train.features, 2);
    let (ckpt, outcome) = train_set(&config, &set, None, None, &mut Silent).unwrap();
    assert_eq!((ckpt.epoch, outcome.history.len()), (20, 20));
    let out = outputs(&ckpt, rows).unwrap();
    assert_eq!((out.rows, out.width), (200, 3));
    let correct = (0..200)
        .filter(|&i| {
            let r = out.row(i);
            let best = (0..3).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap();
            best == y[i] as usize
        })
        .count();
    assert!(correct >= 196, "{correct} of 200");

    // A row's outputs do not depend on the rows predicted with it.
    for (start, end) in [(3, 4), (3, 5), (0, 200), (190, 200)] {
        let part = outputs(&ckpt, Rows { x: &x[start * 3..end * 3], columns: &columns }).unwrap();
        assert_eq!(part.values, out.values[start * 3..end * 3], "rows {start}..{end}");
    }

    // Same seed, same bits; one more epoch continues from the state.
    let (again, _) = train_set(&config, &set, None, None, &mut Silent).unwrap();
    assert_eq!(again.network.params(), ckpt.network.params());
    let more = more_set(ckpt.table().unwrap(), rows, target).unwrap();
    let one_more = TrainConfig { epochs: 21, ..config.clone() };
    let (next, _) = train_set(&one_more, &more, Some(ckpt.clone()), None, &mut Silent).unwrap();
    assert_eq!(next.epoch, 21);
    assert!(next.step > ckpt.step && next.network.params() != ckpt.network.params());
}

#[test]
fn a_regression_reports_in_its_own_units() {
    let mut rng = nabla::Rng::new(9);
    let x: Vec<f32> = (0..400).map(|_| rng.normal() as f32).collect();
    let y: Vec<f64> = x.chunks(2).map(|r| 100.0 + 30.0 * f64::from(r[0]) - 10.0 * f64::from(r[1])).collect();
    let columns = names(2);
    let rows = Rows { x: &x, columns: &columns };
    let target = Target::Values { values: &y, name: "price" };
    let config =
        estimator_config(&params(json!({"epochs": 60, "early_stopping": false, "l2": 0.0})), 200, Task::Regress)
            .unwrap();
    let set = fit_set(rows, target, config.val_split, config.seed, Scale::Standard).unwrap();
    let (ckpt, _) = train_set(&config, &set, None, None, &mut Silent).unwrap();
    assert_eq!(ckpt.classes, vec!["price".to_string()]);
    let out = outputs(&ckpt, rows).unwrap();
    let pre = ckpt.table().unwrap();
    let rmse = (out.values.iter().zip(&y).map(|(&z, t)| (pre.target.unscale(f64::from(z)) - t).powi(2)).sum::<f64>()
        / 200.0)
        .sqrt();
    assert!(rmse < 3.0, "rmse {rmse} of a target with deviation ~32");
}

#[test]
fn bad_arrays_are_named() {
    let columns = names(2);
    let names2: Vec<String> = vec!["a".into(), "b".into()];
    let mut x = vec![0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0];
    let y = [0u32, 1, 0];
    let target = Target::Classes { labels: &y, names: &names2 };
    x[3] = f32::NAN;
    let e = fit_set(Rows { x: &x, columns: &columns }, target, 0.0, 0, Scale::Standard).unwrap_err().to_string();
    assert!(e.contains("NaN (row 1, column `x1`)"), "{e}");
    x[3] = f32::INFINITY;
    let e = fit_set(Rows { x: &x, columns: &columns }, target, 0.0, 0, Scale::Standard).unwrap_err().to_string();
    assert!(e.contains("infinity"), "{e}");
    let e = fit_set(Rows { x: &x[..2], columns: &columns }, target, 0.0, 0, Scale::Standard).unwrap_err().to_string();
    assert!(e.contains("X has 1 rows but y has 3"), "{e}");
    let one = Target::Classes { labels: &y[..1], names: &names2 };
    let e = fit_set(Rows { x: &x[..2], columns: &columns }, one, 0.0, 0, Scale::Standard).unwrap_err().to_string();
    assert!(e.contains("got 1 sample"), "{e}");
    x[3] = 3.0;
    let e = fit_set(Rows { x: &x, columns: &columns }, target, 0.5, 0, Scale::Standard).unwrap_err().to_string();
    assert!(e.contains("validation_fraction=0.5 of 3 rows"), "{e}");
}

/// The in-place preprocessing is the table preprocessing, to the bit, for every scaling: the
/// same means, deviations (or extremes) and left-out columns, and the same encoded rows
/// (training rows and others).
#[test]
fn in_place_standardising_is_the_table_path_to_the_bit() {
    let (x, _) = blobs(301);
    let columns = names(3);
    let rows = Rows { x: &x, columns: &columns };
    let select: Vec<usize> = (0..301).rev().step_by(2).collect();
    let target = || Column { name: "y".into(), cells: Cells::Numbers((0..select.len()).map(|i| i as f64).collect()) };
    for scale in [Scale::Standard, Scale::MinMax, Scale::None] {
        let options = PreprocessOptions { scale, ..PreprocessOptions::default() };
        let (table_pre, _) =
            Preprocessor::fit(&rows.table(Some(&select), Some(target())), "y", Task::Regress, &options).unwrap();
        let in_place = fitted(rows, &select, table_pre.target.clone(), scale).unwrap();
        assert_eq!(in_place, table_pre, "{scale:?}");
        assert_eq!(in_place.ignored, vec!["x2".to_string()], "the constant column is left out");
        for part in [None, Some(&select[..]), Some(&[3usize, 0, 300][..])] {
            let table = table_pre.transform(&rows.table(part, None)).unwrap();
            let direct = scaled_rows(&in_place, rows, part).unwrap();
            assert_eq!(
                direct.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                table.x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{scale:?}"
            );
        }
        // Columns the model does not know, or lacks, go through the table path (and its errors).
        let other = names(4);
        assert!(scaled_rows(&in_place, Rows { x: &[0.0; 8], columns: &other }, None).is_none());
        let few = names(1);
        assert!(scaled_rows(&in_place, Rows { x: &[0.0; 2], columns: &few }, None).is_none());
    }
}

/// What the network sees follows `scale`: a column of huge values stays huge with `none`,
/// lands in [0, 1] with `minmax`, and has mean 0 and deviation 1 when standardised.
#[test]
fn the_scale_keyword_decides_what_the_network_sees() {
    let x: Vec<f32> = (0..100).flat_map(|i| [1e6 * i as f32, (i % 7) as f32 / 7.0]).collect();
    let y: Vec<u32> = (0..100).map(|i| u32::from(i % 2 == 0)).collect();
    let columns = names(2);
    let classes = vec!["a".to_string(), "b".to_string()];
    let rows = Rows { x: &x, columns: &columns };
    let target = Target::Classes { labels: &y, names: &classes };
    let seen = |scale: Value| {
        let scale = estimator_scale(&params(json!({ "scale": scale }))).unwrap();
        fit_set(rows, target, 0.0, 0, scale).unwrap().train.x
    };
    assert_eq!(seen(json!("none")), x);
    let minmax = seen(json!("minmax"));
    assert_eq!((minmax[0], minmax[198]), (0.0, 1.0));
    assert!(minmax.iter().all(|v| (0.0..=1.0).contains(v)));
    let standard = seen(Value::Null);
    assert_eq!(standard, seen(json!("standard")));
    let big: Vec<f32> = standard.iter().step_by(2).copied().collect();
    let mean = big.iter().map(|&v| f64::from(v)).sum::<f64>() / 100.0;
    assert!(mean.abs() < 1e-6 && big.iter().all(|v| v.abs() < 2.0), "{big:?}");

    let err = |v: Value| estimator_scale(&params(json!({ "scale": v }))).unwrap_err().to_string();
    assert_eq!(err(json!("robust")), "scale=\"robust\": unknown scaling `robust` (expected standard, minmax or none)");
    assert_eq!(err(json!(1)), "scale=1: must be one of standard, minmax or none");
    // `scale` and `init` are keywords of the estimator, not unknown ones.
    let c = estimator_config(&params(json!({"scale": "none", "init": "xavier"})), 100, Task::Classify).unwrap();
    assert_eq!(c.init, nabla::Init::XavierUniform);
    let e = estimator_config(&params(json!({"init": "zeros"})), 100, Task::Classify).unwrap_err().to_string();
    assert!(e.starts_with("init=\"zeros\""), "{e}");
}
