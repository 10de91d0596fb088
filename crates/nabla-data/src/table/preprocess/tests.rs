//! The preprocessing's tests: standardising, one-hot encoding, imputing, the target, and the
//! errors that name column, row and value.

use std::path::Path;

use super::*;

fn table(text: &str) -> Table {
    crate::table::csv::parse(Path::new("t.csv"), text.as_bytes(), b',', &[], 1).unwrap()
}

#[test]
fn standardises_one_hot_encodes_and_keeps_class_names() {
    let t = table("size,colour,label\n1,red,b\n3,blue,a\n5,red,b\n");
    let (pre, warnings) = Preprocessor::fit(&t, "label", Task::Classify, &PreprocessOptions::default()).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(pre.input_names(), ["size", "colour=blue", "colour=red"]);
    assert_eq!(pre.classes().unwrap(), ["a", "b"]);
    let e = pre.transform(&t).unwrap();
    let s = (8.0f64 / 3.0).sqrt();
    let z = |v: f64| ((v - 3.0) / s) as f32;
    assert_eq!(e.x, vec![z(1.0), 0.0, 1.0, z(3.0), 1.0, 0.0, z(5.0), 0.0, 1.0]);
    assert_eq!(e.targets, Some(Targets::Classes(vec![1, 0, 1])));
    // The preprocessing is data: it survives a JSON round trip.
    let json = serde_json::to_string(&pre).unwrap();
    assert_eq!(serde_json::from_str::<Preprocessor>(&json).unwrap(), pre);
}

#[test]
fn numeric_classes_sort_as_numbers() {
    let t = table("x,y\n1,10\n2,2\n3,1\n4,2\n");
    let (pre, _) = Preprocessor::fit(&t, "y", Task::Classify, &PreprocessOptions::default()).unwrap();
    assert_eq!(pre.classes().unwrap(), ["1", "2", "10"]);
}

#[test]
fn a_regression_target_is_standardised_and_unscaled() {
    let t = table("x,y\n1,10\n2,20\n3,30\n");
    let (pre, _) = Preprocessor::fit(&t, "y", Task::Regress, &PreprocessOptions::default()).unwrap();
    let Some(Targets::Values(v)) = pre.transform(&t).unwrap().targets else { panic!() };
    assert!((v[0] + 1.2247449).abs() < 1e-6 && v[1] == 0.0);
    assert!((pre.target.unscale(f64::from(v[2])) - 30.0).abs() < 1e-5);
}

#[test]
fn missing_values_name_column_and_row_unless_imputed() {
    let t = table("a,b,y\n1,x,0\nNA,y,1\n3,,0\n");
    let e = Preprocessor::fit(&t, "y", Task::Classify, &PreprocessOptions::default()).unwrap_err().to_string();
    assert_eq!(e, "t.csv, row 2, column `a`: missing value (fill missing values with --impute mean|median|zero, or leave the column out with --drop)");
    let options = PreprocessOptions { impute: Some(Impute::Median), ..Default::default() };
    let (pre, _) = Preprocessor::fit(&t, "y", Task::Classify, &options).unwrap();
    let e = pre.transform(&t).unwrap();
    assert_eq!(&e.x[3..6], &[0.0, 0.0, 1.0], "median 2 standardises to 0; b=y");
    assert_eq!(&e.x[6..9], &[1.0, 0.0, 0.0][..], "a=3 → (3-2)/1; b missing → all zeros");
}

#[test]
fn constant_columns_are_dropped_with_a_warning() {
    let t = table("a,k,y\n1,5,0\n2,5,1\n");
    let (pre, warnings) = Preprocessor::fit(&t, "y", Task::Classify, &PreprocessOptions::default()).unwrap();
    assert_eq!(pre.input_names(), ["a"]);
    assert_eq!(warnings, ["column `k` has a single value in the training split and is left out"]);
    assert_eq!(pre.ignored, ["k"]);
}

#[test]
fn a_single_class_and_a_missing_target_column_are_errors() {
    let t = table("a,y\n1,z\n2,z\n");
    let e = Preprocessor::fit(&t, "y", Task::Classify, &PreprocessOptions::default()).unwrap_err().to_string();
    assert_eq!(e, "t.csv, column `y`: the target has a single class, `z`: there is nothing to tell apart");
    let e = Preprocessor::fit(&t, "label", Task::Classify, &PreprocessOptions::default()).unwrap_err().to_string();
    assert_eq!(e, "t.csv: --target: no column `label` (the columns are: a, y)");
}

#[test]
fn unseen_categories_and_mismatched_columns_are_named() {
    let train = table("c,y\nred,0\nblue,1\n");
    let (pre, _) = Preprocessor::fit(&train, "y", Task::Classify, &PreprocessOptions::default()).unwrap();
    let e = pre.transform(&table("c,y\ngreen,0\n")).unwrap_err().to_string();
    assert!(
        e.starts_with("t.csv, row 1, column `c`: category `green` was not in the training data (known: blue, red;"),
        "{e}"
    );
    let ignoring = Preprocessor { unknown: Unknown::Ignore, ..pre.clone() };
    assert_eq!(ignoring.transform(&table("c\ngreen\n")).unwrap().x, vec![0.0, 0.0]);
    let e = pre.transform(&table("colour,extra\nred,1\n")).unwrap_err().to_string();
    assert_eq!(e, "t.csv: the columns do not match the model's: missing column(s) c; column(s) the model was not trained on: colour, extra");
}

#[test]
fn minmax_and_none_scale_as_named_and_the_model_keeps_the_choice() {
    let t = table("big,small,label\n1000,0.5,a\n3000,0.25,b\n2000,0.75,a\n");
    let fit = |scale| {
        let options = PreprocessOptions { scale, ..PreprocessOptions::default() };
        Preprocessor::fit(&t, "label", Task::Classify, &options).unwrap().0
    };
    let minmax = fit(Scale::MinMax);
    assert_eq!(minmax.transform(&t).unwrap().x, vec![0.0, 0.5, 1.0, 0.0, 0.5, 1.0]);
    let none = fit(Scale::None);
    assert_eq!(none.transform(&t).unwrap().x, vec![1000.0, 0.5, 3000.0, 0.25, 2000.0, 0.75]);
    // Past the training range: min-max and none are not clipped, standardising is (at ±5).
    let far = table("big,small,label\n1e9,0.5,a\n");
    assert_eq!(minmax.transform(&far).unwrap().x[0], ((1e9 - 1000.0) / 2000.0) as f32);
    assert_eq!(none.transform(&far).unwrap().x[0], 1e9);
    assert_eq!(fit(Scale::Standard).transform(&far).unwrap().x[0], Z_LIMIT as f32);
    // The choice is part of the model's data.
    for pre in [&minmax, &none] {
        let json = serde_json::to_string(pre).unwrap();
        assert!(json.contains(&format!("\"scale\":\"{}\"", pre.scale.name())), "{json}");
        assert_eq!(&serde_json::from_str::<Preprocessor>(&json).unwrap(), pre);
    }
}

#[test]
fn a_model_written_before_the_scale_choice_reads_back_standardised() {
    let t = table("x,label\n1,a\n3,b\n");
    let (pre, _) = Preprocessor::fit(&t, "label", Task::Classify, &PreprocessOptions::default()).unwrap();
    let json = serde_json::to_string(&pre).unwrap();
    assert!(!json.contains("scale"), "the default leaves the metadata as it was: {json}");
    assert_eq!(serde_json::from_str::<Preprocessor>(&json).unwrap().scale, Scale::Standard);
}

#[test]
fn an_unknown_scale_names_the_choices() {
    assert_eq!("minmax".parse::<Scale>(), Ok(Scale::MinMax));
    let e = "robust".parse::<Scale>().unwrap_err();
    assert_eq!(e, "unknown scaling `robust` (expected standard, minmax or none)");
}
