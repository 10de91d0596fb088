//! Min/max downsampling: a long metric reduced to about the number of points a chart can show,
//! without hiding its spikes.
//!
//! The points between the first and the last are cut into buckets of equal count; each bucket
//! gives its smallest and its largest value, in step order. The first and last points are
//! always kept, so the line spans the whole run, and the global minimum and maximum always
//! survive because each is the minimum or maximum of its bucket.

use nabla_track::Point;

/// Reduces `points` (in step order) to at most `target + 2` points: `target / 2` buckets of a
/// minimum and a maximum each, plus the first and the last point. Fewer points than `target`
/// are returned as they are. A NaN value is kept only if its bucket has nothing else.
pub fn min_max(points: &[Point], target: usize) -> Vec<Point> {
    let n = points.len();
    if n <= target.max(2) {
        return points.to_vec();
    }
    let interior = &points[1..n - 1];
    let buckets = (target / 2).max(1);
    let mut out = Vec::with_capacity(buckets * 2 + 2);
    out.push(points[0]);
    for b in 0..buckets {
        let lo = b * interior.len() / buckets;
        let hi = (b + 1) * interior.len() / buckets;
        let bucket = &interior[lo..hi];
        if bucket.is_empty() {
            continue;
        }
        let mut min: Option<usize> = None;
        let mut max: Option<usize> = None;
        for (i, p) in bucket.iter().enumerate() {
            if p.value.is_nan() {
                continue;
            }
            if min.is_none_or(|m| p.value < bucket[m].value) {
                min = Some(i);
            }
            if max.is_none_or(|m| p.value > bucket[m].value) {
                max = Some(i);
            }
        }
        match (min, max) {
            (Some(a), Some(b)) if a == b => out.push(bucket[a]),
            (Some(a), Some(b)) => {
                out.push(bucket[a.min(b)]);
                out.push(bucket[a.max(b)]);
            }
            _ => out.push(bucket[0]),
        }
    }
    out.push(points[n - 1]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64]) -> Vec<Point> {
        values.iter().enumerate().map(|(i, &value)| Point { step: i as u64, value, wall_time: i as f64 }).collect()
    }

    #[test]
    fn short_series_are_returned_whole() {
        let points = series(&[3.0, 1.0, 2.0]);
        assert_eq!(min_max(&points, 10), points);
        assert_eq!(min_max(&[], 10), Vec::<Point>::new());
    }

    #[test]
    fn keeps_first_last_and_global_extremes_in_step_order() {
        let mut values: Vec<f64> = (0..100_000).map(|i| (f64::from(i) * 0.01).sin()).collect();
        values[31_337] = -5.0;
        values[77_777] = 9.0;
        let points = series(&values);
        let out = min_max(&points, 2000);
        assert!(out.len() <= 2002, "{} points", out.len());
        assert!(out.len() >= 1000, "{} points", out.len());
        assert_eq!(out[0].step, 0);
        assert_eq!(out[out.len() - 1].step, 99_999);
        assert!(out.iter().any(|p| p.step == 31_337 && p.value == -5.0));
        assert!(out.iter().any(|p| p.step == 77_777 && p.value == 9.0));
        assert!(out.windows(2).all(|w| w[0].step < w[1].step), "not in step order");
    }

    #[test]
    fn nan_only_buckets_keep_one_point_and_nan_never_wins_elsewhere() {
        let mut values = vec![1.0; 1000];
        for v in &mut values[100..200] {
            *v = f64::NAN;
        }
        values[500] = f64::NAN;
        let out = min_max(&series(&values), 20);
        assert!(out.len() <= 22);
        let nans = out.iter().filter(|p| p.value.is_nan()).count();
        assert!(nans >= 1, "the NaN stretch disappeared");
        assert!(out.iter().all(|p| p.step != 500));
    }

    #[test]
    fn a_target_below_two_still_gives_first_and_last() {
        let out = min_max(&series(&[5.0, 1.0, 7.0, 2.0, 4.0]), 0);
        assert_eq!(out.first().map(|p| p.step), Some(0));
        assert_eq!(out.last().map(|p| p.step), Some(4));
        assert!(out.len() <= 4);
    }
}
