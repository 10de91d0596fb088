//! Splitting examples: a held-out part stratified by class, and K folds for cross-validation
//! (stratified for classes, shuffled for a regression), every draw from one seeded `Rng`.

use nabla::Rng;

/// Indices `0..labels.len()` split into `(kept, held_out)`: from each class, in class order,
/// the class's indices are shuffled with one `Rng::new(seed)` and the first
/// `round(fraction * count)` held out. Both lists come back sorted.
pub fn stratified_split<L: Copy + Into<u32>>(
    labels: &[L],
    classes: usize,
    fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let by_class = indices_by_class(labels, classes);
    let fraction = fraction.clamp(0.0, 1.0);
    let mut rng = Rng::new(seed);
    let (mut kept, mut held) = (Vec::new(), Vec::new());
    for mut members in by_class {
        rng.shuffle(&mut members);
        let n_held = (fraction * members.len() as f64).round() as usize;
        held.extend_from_slice(&members[..n_held]);
        kept.extend_from_slice(&members[n_held..]);
    }
    kept.sort_unstable();
    held.sort_unstable();
    (kept, held)
}

/// Indices `0..n` split into `(kept, held_out)` without regard to class (a regression's
/// targets): shuffled with `Rng::new(seed)`, the first `round(fraction * n)` held out. Both
/// lists come back sorted.
pub fn shuffled_split(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut order);
    let n_held = (fraction.clamp(0.0, 1.0) * n as f64).round() as usize;
    let (mut held, mut kept) = (order[..n_held].to_vec(), order[n_held..].to_vec());
    kept.sort_unstable();
    held.sort_unstable();
    (kept, held)
}

/// `k` folds for cross-validation, stratified by class: each class's indices are shuffled
/// (one `Rng::new(seed)`, classes in order) and dealt to the folds in turn, continuing from
/// fold to fold across classes, so every fold has each class in proportion (±1) and the fold
/// sizes differ by at most one. Returns each fold's held-out indices, sorted; fold `f` trains
/// on all the others.
pub fn stratified_folds<L: Copy + Into<u32>>(labels: &[L], classes: usize, k: usize, seed: u64) -> Vec<Vec<usize>> {
    let k = k.max(1);
    let mut rng = Rng::new(seed);
    let mut folds: Vec<Vec<usize>> = vec![Vec::new(); k];
    let mut next = 0;
    for mut members in indices_by_class(labels, classes) {
        rng.shuffle(&mut members);
        for i in members {
            folds[next].push(i);
            next = (next + 1) % k;
        }
    }
    folds.iter_mut().for_each(|f| f.sort_unstable());
    folds
}

/// `k` folds for cross-validation without regard to class: `0..n` shuffled with
/// `Rng::new(seed)` and cut into `k` parts whose sizes differ by at most one (the first
/// `n mod k` one larger). Returns each fold's held-out indices, sorted.
pub fn shuffled_folds(n: usize, k: usize, seed: u64) -> Vec<Vec<usize>> {
    let k = k.max(1);
    let mut order: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut order);
    let mut folds = Vec::with_capacity(k);
    let mut start = 0;
    for f in 0..k {
        let len = n / k + usize::from(f < n % k);
        let mut fold = order[start..start + len].to_vec();
        fold.sort_unstable();
        folds.push(fold);
        start += len;
    }
    folds
}

/// The indices of each class, in order (a label past the last class counts as the last).
fn indices_by_class<L: Copy + Into<u32>>(labels: &[L], classes: usize) -> Vec<Vec<usize>> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes.max(1)];
    for (i, &l) in labels.iter().enumerate() {
        let class = (l.into() as usize).min(by_class.len() - 1);
        by_class[class].push(i);
    }
    by_class
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_folds_partition_and_keep_proportions() {
        // 10 of class 0, 5 of class 1, 3 of class 2, in 3 folds.
        let labels: Vec<u32> = [vec![0; 10], vec![1; 5], vec![2; 3]].concat();
        let folds = stratified_folds(&labels, 3, 3, 42);
        let mut all: Vec<usize> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, (0..18).collect::<Vec<_>>(), "every index in exactly one fold");
        for fold in &folds {
            assert_eq!(fold.len(), 6);
            let count = |c: u32| fold.iter().filter(|&&i| labels[i] == c).count();
            assert!((3..=4).contains(&count(0)) && (1..=2).contains(&count(1)) && count(2) == 1, "{fold:?}");
        }
        assert_eq!(folds, stratified_folds(&labels, 3, 3, 42), "same seed, same folds");
        assert_ne!(folds, stratified_folds(&labels, 3, 3, 43));
    }

    #[test]
    fn shuffled_folds_and_split_partition() {
        let folds = shuffled_folds(11, 4, 1);
        assert_eq!(folds.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 3, 2]);
        let mut all = folds.concat();
        all.sort_unstable();
        assert_eq!(all, (0..11).collect::<Vec<_>>());
        let (kept, held) = shuffled_split(10, 0.2, 5);
        assert_eq!((kept.len(), held.len()), (8, 2));
        assert!(held.iter().all(|i| !kept.contains(i)));
    }

    #[test]
    fn a_stratified_split_holds_out_each_class_in_proportion() {
        let labels: Vec<u8> = [vec![0u8; 20], vec![1; 10]].concat();
        let (kept, held) = stratified_split(&labels, 2, 0.2, 9);
        assert_eq!((kept.len(), held.len()), (24, 6));
        assert_eq!(held.iter().filter(|&&i| labels[i] == 1).count(), 2);
    }
}
