//! Classification metrics: the confusion matrix and what is read off it (accuracy,
//! per-class precision, recall and F1), and the top-k classes of a probability vector.
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
    fn top_k_sorts_and_breaks_ties_by_class() {
        let p = [0.1, 0.4, 0.1, 0.3, 0.1];
        assert_eq!(top_k(&p, 3), vec![(1, 0.4), (3, 0.3), (0, 0.1)]);
        assert_eq!(top_k(&p, 9).len(), 5);
        assert!(top_k(&p, 0).is_empty());
    }
}
