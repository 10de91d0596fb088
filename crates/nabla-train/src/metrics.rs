//! Metrics. Classification: the confusion matrix and what is read off it (accuracy, per-class
//! precision, recall and F1), ROC AUC for two classes, and the top-k classes of a probability
//! vector. Regression: RMSE, MAE and R², in the target's units.
//!
//! Conventions: rows of the confusion matrix are the true class, columns the predicted
//! class. A ratio whose denominator is zero (precision of a class never predicted, recall of
//! a class with no examples, F1 when precision and recall are both 0) is defined as 0, as
//! scikit-learn does with `zero_division=0`.

/// Counts of (true class, predicted class) pairs: `counts[t][p]`, `classes × classes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    /// Row-major `[classes, classes]`.
    counts: Vec<u64>,
}

/// Precision, recall and F1 of one class, with its number of true examples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassScores {
    /// Of the examples predicted as this class, the fraction that are: `tp / (tp + fp)`.
    pub precision: f64,
    /// Of the examples of this class, the fraction predicted as it: `tp / (tp + fn)`.
    pub recall: f64,
    /// Harmonic mean of precision and recall: `2pr / (p + r)`.
    pub f1: f64,
    /// Number of examples whose true class this is.
    pub support: u64,
}

/// `num / den`, or 0 when `den` is 0.
fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

impl ConfusionMatrix {
    /// An empty matrix for `classes` classes.
    pub fn new(classes: usize) -> Self {
        ConfusionMatrix { classes, counts: vec![0; classes * classes] }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Counts one example.
    ///
    /// # Panics
    /// If either class is `>= classes` (a caller's bug: labels are checked when data loads).
    pub fn add(&mut self, truth: usize, predicted: usize) {
        assert!(
            truth < self.classes && predicted < self.classes,
            "class out of range: truth {truth}, predicted {predicted}, {} classes",
            self.classes
        );
        self.counts[truth * self.classes + predicted] += 1;
    }

    /// Counts a batch: `truth[i]` against `predicted[i]` (equal lengths).
    pub fn record(&mut self, truth: &[u32], predicted: &[u32]) {
        assert_eq!(truth.len(), predicted.len(), "confusion matrix: truth and predictions differ in length");
        for (&t, &p) in truth.iter().zip(predicted) {
            self.add(t as usize, p as usize);
        }
    }

    /// Examples of class `truth` predicted as `predicted`.
    pub fn get(&self, truth: usize, predicted: usize) -> u64 {
        self.counts[truth * self.classes + predicted]
    }

    /// The matrix as rows (true class) of columns (predicted class).
    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.counts.chunks(self.classes.max(1)).map(<[u64]>::to_vec).collect()
    }

    /// All examples counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Examples on the diagonal (predicted correctly).
    pub fn correct(&self) -> u64 {
        (0..self.classes).map(|c| self.get(c, c)).sum()
    }

    /// `correct / total`; 0 when nothing was counted.
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct() as f64, self.total() as f64)
    }

    /// Examples whose true class is `class` (row sum).
    pub fn support(&self, class: usize) -> u64 {
        (0..self.classes).map(|p| self.get(class, p)).sum()
    }

    /// Examples predicted as `class` (column sum).
    pub fn predicted(&self, class: usize) -> u64 {
        (0..self.classes).map(|t| self.get(t, class)).sum()
    }

    /// Precision, recall, F1 and support of `class` (0/0 counts as 0).
    pub fn scores(&self, class: usize) -> ClassScores {
        let tp = self.get(class, class) as f64;
        let precision = ratio(tp, self.predicted(class) as f64);
        let recall = ratio(tp, self.support(class) as f64);
        let f1 = ratio(2.0 * precision * recall, precision + recall);
        ClassScores { precision, recall, f1, support: self.support(class) }
    }

    /// [`Self::scores`] for every class, in class order.
    pub fn per_class(&self) -> Vec<ClassScores> {
        (0..self.classes).map(|c| self.scores(c)).collect()
    }

    /// The unweighted mean F1 over classes (macro F1).
    pub fn macro_f1(&self) -> f64 {
        ratio(self.per_class().iter().map(|s| s.f1).sum(), self.classes as f64)
    }
}

/// The fraction of positions where `truth` and `predicted` agree; 0 for empty slices.
pub fn accuracy(truth: &[u32], predicted: &[u32]) -> f64 {
    let hits = truth.iter().zip(predicted).filter(|(t, p)| t == p).count();
    ratio(hits as f64, truth.len().min(predicted.len()) as f64)
}

/// How close a regression's predictions are, in the target's own units.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RegressionScores {
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// The coefficient of determination, `1 − SS_res / SS_tot`: the share of the target's
    /// variance the predictions explain (1 is perfect, 0 is as good as predicting the mean,
    /// negative is worse). Computed as scikit-learn's `r2_score` (0 when the truth is constant
    /// and the predictions are not exact, 1 when they are).
    pub r2: f64,
}

/// RMSE, MAE and R² of `predicted` against `truth` (equal lengths; all 0 for none).
pub fn regression_scores(truth: &[f64], predicted: &[f64]) -> RegressionScores {
    let n = truth.len().min(predicted.len());
    if n == 0 {
        return RegressionScores { rmse: 0.0, mae: 0.0, r2: 0.0 };
    }
    let (truth, predicted) = (&truth[..n], &predicted[..n]);
    let mean = truth.iter().sum::<f64>() / n as f64;
    let (mut ss_res, mut ss_tot, mut abs) = (0.0, 0.0, 0.0);
    for (t, p) in truth.iter().zip(predicted) {
        ss_res += (t - p) * (t - p);
        ss_tot += (t - mean) * (t - mean);
        abs += (t - p).abs();
    }
    let r2 = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else if ss_res == 0.0 {
        1.0
    } else {
        0.0
    };
    RegressionScores { rmse: (ss_res / n as f64).sqrt(), mae: abs / n as f64, r2 }
}

/// The area under the ROC curve of a two-class problem: the probability that a random
/// positive example scores above a random negative one, ties counting half (the
/// Mann–Whitney U statistic over `positives × negatives`). `None` when one class is absent.
pub fn roc_auc(positive: &[bool], scores: &[f64]) -> Option<f64> {
    let n = positive.len().min(scores.len());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Ranks from 1, tied scores sharing the mean of their ranks.
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += mean_rank * order[i..=j].iter().filter(|&&k| positive[k]).count() as f64;
        i = j + 1;
    }
    let pos = positive[..n].iter().filter(|&&p| p).count() as f64;
    let neg = n as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    Some((rank_sum_pos - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// The `k` largest entries of `probs` as `(class, probability)`, largest first; ties go
/// to the lower class index. `k` larger than the vector gives all of it.
pub fn top_k(probs: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    // A stable sort keeps equal probabilities in class order.
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    order.into_iter().take(k).map(|c| (c, probs[c])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three classes, ten examples, worked by hand:
    ///
    /// ```text
    ///            predicted
    ///            0  1  2     support
    /// true 0  [  3  1  0 ]   4
    ///      1  [  0  2  1 ]   3
    ///      2  [  1  0  2 ]   3
    /// predicted  4  3  3
    /// ```
    ///
    /// accuracy = (3+2+2)/10 = 0.7; precision 3/4, 2/3, 2/3; recall 3/4, 2/3, 2/3;
    /// F1 equal to both, since precision = recall for each class here.
    fn worked() -> ConfusionMatrix {
        let truth = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];
        let predicted = [0, 0, 0, 1, 1, 1, 2, 0, 2, 2];
        let mut m = ConfusionMatrix::new(3);
        m.record(&truth, &predicted);
        m
    }

    #[test]
    fn confusion_matrix_of_the_worked_example() {
        let m = worked();
        assert_eq!(m.rows(), vec![vec![3, 1, 0], vec![0, 2, 1], vec![1, 0, 2]]);
        assert_eq!((m.total(), m.correct()), (10, 7));
        assert!((m.accuracy() - 0.7).abs() < 1e-12);
        assert_eq!((m.support(0), m.predicted(0)), (4, 4));
    }

    #[test]
    fn precision_recall_f1_of_the_worked_example() {
        let s = worked().per_class();
        let want = [(0.75, 0.75), (2.0 / 3.0, 2.0 / 3.0), (2.0 / 3.0, 2.0 / 3.0)];
        for (s, (p, r)) in s.iter().zip(want) {
            assert!((s.precision - p).abs() < 1e-12 && (s.recall - r).abs() < 1e-12, "{s:?}");
            assert!((s.f1 - 2.0 * p * r / (p + r)).abs() < 1e-12);
        }
        assert_eq!(s.iter().map(|s| s.support).collect::<Vec<_>>(), [4, 3, 3]);
    }

    #[test]
    fn unequal_precision_and_recall() {
        // Class 0: tp 2, fp 2 (two 1s called 0), fn 0 -> p = 0.5, r = 1, F1 = 2/3.
        let mut m = ConfusionMatrix::new(2);
        m.record(&[0, 0, 1, 1, 1], &[0, 0, 0, 0, 1]);
        let s = m.scores(0);
        assert!((s.precision - 0.5).abs() < 1e-12 && (s.recall - 1.0).abs() < 1e-12);
        assert!((s.f1 - 2.0 / 3.0).abs() < 1e-12);
        let s = m.scores(1);
        assert!((s.precision - 1.0).abs() < 1e-12 && (s.recall - 1.0 / 3.0).abs() < 1e-12);
        assert!((s.f1 - 0.5).abs() < 1e-12);
    }

    #[test]
    fn zero_over_zero_is_zero() {
        // Class 2 has no examples and is never predicted; class 1 is never predicted.
        let mut m = ConfusionMatrix::new(3);
        m.record(&[0, 1], &[0, 0]);
        assert_eq!(m.scores(2), ClassScores { precision: 0.0, recall: 0.0, f1: 0.0, support: 0 });
        assert_eq!(m.scores(1).precision, 0.0);
        assert_eq!(ConfusionMatrix::new(2).accuracy(), 0.0);
        assert_eq!(accuracy(&[], &[]), 0.0);
    }

    #[test]
    fn accuracy_of_slices() {
        assert!((accuracy(&[1, 2, 3, 4], &[1, 2, 0, 4]) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn regression_scores_of_scikit_learns_example() {
        // scikit-learn's r2_score example: truth [3, −0.5, 2, 7], predictions [2.5, 0, 2, 8]:
        // squared errors 0.25, 0.25, 0, 1 (mean 0.375); SS_tot = 29.1875 around the mean 2.875.
        let s = regression_scores(&[3.0, -0.5, 2.0, 7.0], &[2.5, 0.0, 2.0, 8.0]);
        assert!((s.rmse - 0.375f64.sqrt()).abs() < 1e-12);
        assert!((s.mae - 0.5).abs() < 1e-12);
        assert!((s.r2 - (1.0 - 1.5 / 29.1875)).abs() < 1e-12 && (s.r2 - 0.948_6).abs() < 1e-4);
        // Predicting the mean explains nothing; a constant truth predicted exactly is perfect.
        assert!(regression_scores(&[1.0, 3.0], &[2.0, 2.0]).r2.abs() < 1e-12);
        assert_eq!(regression_scores(&[2.0, 2.0], &[2.0, 2.0]).r2, 1.0);
    }

    #[test]
    fn roc_auc_counts_ordered_pairs_and_half_ties() {
        // scikit-learn's roc_auc_score example: 3 of the 4 positive-negative pairs are ordered.
        let auc = roc_auc(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8]).unwrap();
        assert!((auc - 0.75).abs() < 1e-12);
        // A tie between a positive and a negative counts half: pairs (p1>n), (p2=n) → 0.75.
        assert!((roc_auc(&[true, false, true], &[0.9, 0.5, 0.5]).unwrap() - 0.75).abs() < 1e-12);
        assert_eq!(roc_auc(&[true, true], &[0.2, 0.3]), None);
        assert_eq!(roc_auc(&[false, true], &[0.9, 0.1]), Some(0.0));
    }

    #[test]
    fn top_k_sorts_and_breaks_ties_by_class() {
        let p = [0.1, 0.4, 0.1, 0.3, 0.1];
        assert_eq!(top_k(&p, 3), vec![(1, 0.4), (3, 0.3), (0, 0.1)]);
        assert_eq!(top_k(&p, 9).len(), 5);
        assert!(top_k(&p, 0).is_empty());
    }
}
