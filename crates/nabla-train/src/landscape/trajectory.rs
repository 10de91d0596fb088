//! The optimiser's path in the loss landscape (Li et al. 2018, section 7): the weights saved
//! along training, `θ_1 … θ_n`, as differences from the final ones, `θ_i − θ_n`; their first
//! two principal directions (PCA, centred as scikit-learn's `PCA` centres, which the
//! authors' repository uses); and each `θ_i` projected onto them.
//!
//! Only the dense weights take part: biases and layer norm parameters are zeroed in the
//! differences, as the repository ignores biases and batch-norm parameters. With `k` saved
//! checkpoints the `k × P` matrix is small in one dimension, so the PCA works on its `k × k`
//! Gram matrix: its top eigenvectors `u` (power iteration with deflation) give the
//! directions `Mᵀu / ‖Mᵀu‖`, and its eigenvalues the explained variances.

use nabla::Network;

use super::{directions::weight_matrices, LandscapeError};

/// The PCA plane of a training path.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// The two principal directions, unit length, in the network's parameter layout.
    pub directions: (Vec<f32>, Vec<f32>),
    /// The share of the (centred) differences' variance along each direction.
    pub explained: (f64, f64),
    /// Each saved point's `(x, y)`: `(θ_i − θ_final)` projected on the directions (the final
    /// weights are `(0, 0)`, the last point).
    pub path: Vec<(f64, f64)>,
}

/// The PCA plane of `path` (the weights saved along training, in order, the last being the
/// final weights); `net` gives the layout (which entries are dense weights). Needs at least
/// three points of `net`'s parameter count.
pub fn trajectory(net: &Network, path: &[&[f32]]) -> Result<Trajectory, LandscapeError> {
    let p = net.num_params();
    if path.len() < 3 {
        return Err(LandscapeError::Invalid(format!(
            "a training path needs at least 3 saved checkpoints for two principal directions, got {}",
            path.len()
        )));
    }
    if let Some(i) = path.iter().position(|w| w.len() != p) {
        return Err(LandscapeError::Invalid(format!(
            "checkpoint {} of the path has {} parameters, the final one {p}",
            i + 1,
            path[i].len()
        )));
    }
    let mut is_weight = vec![false; p];
    for (range, _) in weight_matrices(net) {
        is_weight[range].fill(true);
    }
    let last = path[path.len() - 1];
    // Rows: θ_i − θ_final for every point but the final one, dense weights only, in f64.
    let rows: Vec<Vec<f64>> = path[..path.len() - 1]
        .iter()
        .map(|w| {
            w.iter()
                .zip(last)
                .zip(&is_weight)
                .map(|((&a, &b), &m)| if m { f64::from(a) - f64::from(b) } else { 0.0 })
                .collect()
        })
        .collect();
    let k = rows.len();
    let mean: Vec<f64> = (0..p).map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / k as f64).collect();
    let centred: Vec<Vec<f64>> = rows.iter().map(|r| r.iter().zip(&mean).map(|(a, m)| a - m).collect()).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut gram = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let v = dot(&centred[i], &centred[j]);
            gram[i * k + j] = v;
            gram[j * k + i] = v;
        }
    }
    let total: f64 = (0..k).map(|i| gram[i * k + i]).sum();
    if total <= 0.0 {
        return Err(LandscapeError::Invalid("the saved weights do not move: there is no path to draw".into()));
    }
    let (l1, u1) = top_eigen(&gram, k);
    for i in 0..k {
        for j in 0..k {
            gram[i * k + j] -= l1 * u1[i] * u1[j];
        }
    }
    let (l2, u2) = top_eigen(&gram, k);
    let direction = |u: &[f64]| -> Vec<f64> {
        let mut v = vec![0.0; p];
        for (ui, row) in u.iter().zip(&centred) {
            for (o, x) in v.iter_mut().zip(row) {
                *o += ui * x;
            }
        }
        let n = dot(&v, &v).sqrt();
        if n > 0.0 {
            v.iter_mut().for_each(|x| *x /= n);
        }
        v
    };
    let (v1, v2) = (direction(&u1), direction(&u2));
    let mut points: Vec<(f64, f64)> = rows.iter().map(|r| (dot(r, &v1), dot(r, &v2))).collect();
    points.push((0.0, 0.0));
    let to_f32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect();
    Ok(Trajectory {
        directions: (to_f32(v1), to_f32(v2)),
        explained: (l1.max(0.0) / total, l2.max(0.0) / total),
        path: points,
    })
}

/// The largest eigenvalue of the symmetric positive semi-definite `k × k` matrix `a` and its
/// unit eigenvector, by power iteration.
fn top_eigen(a: &[f64], k: usize) -> (f64, Vec<f64>) {
    // A start with a component along every eigenvector (no exact zero in any coordinate).
    let mut v: Vec<f64> = (0..k).map(|i| 1.0 + 0.1 * i as f64).collect();
    let mut lambda = 0.0;
    for _ in 0..1000 {
        let w: Vec<f64> = (0..k).map(|i| (0..k).map(|j| a[i * k + j] * v[j]).sum()).collect();
        let n = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if n == 0.0 {
            return (0.0, v);
        }
        let next: Vec<f64> = w.iter().map(|x| x / n).collect();
        let change = next.iter().zip(&v).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        v = next;
        lambda = n;
        if change < 1e-12 {
            break;
        }
    }
    (lambda, v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla::{Activation, Mlp, MlpSpec};

    /// A path that moves along two known weight directions, 3:1 in spread: the PCA finds
    /// them (up to sign), with the variance shares of the centred points.
    #[test]
    fn pca_finds_the_planted_directions() {
        let spec = MlpSpec::parse("3-2-2", Activation::Relu, Activation::Identity).unwrap();
        let net: Network = Mlp::zeros(spec).into();
        let p = net.num_params();
        let weights = weight_matrices(&net);
        let (mut e1, mut e2) = (vec![0.0f32; p], vec![0.0f32; p]);
        e1[weights[0].0.start] = 1.0;
        e2[weights[1].0.start + 1] = 1.0;
        let bias = weights[0].0.end; // a bias entry: moves along the path but must be ignored
        let coords = [(3.0, 1.0), (-3.0, 1.0), (3.0, -1.0), (-3.0, -1.0), (0.0, 0.0)];
        let points: Vec<Vec<f32>> = coords
            .iter()
            .enumerate()
            .map(|(i, &(a, b))| {
                let mut w: Vec<f32> = e1.iter().zip(&e2).map(|(x, y)| a * x + b * y).collect();
                w[bias] = i as f32;
                w
            })
            .collect();
        let refs: Vec<&[f32]> = points.iter().map(Vec::as_slice).collect();
        let t = trajectory(&net, &refs).unwrap();
        let cos = |a: &[f32], b: &[f32]| f64::from(a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>());
        assert!((cos(&t.directions.0, &e1).abs() - 1.0).abs() < 1e-6, "{:?}", t.directions.0);
        assert!((cos(&t.directions.1, &e2).abs() - 1.0).abs() < 1e-6, "{:?}", t.directions.1);
        assert!((t.explained.0 - 0.9).abs() < 1e-9 && (t.explained.1 - 0.1).abs() < 1e-9, "{:?}", t.explained);
        assert_eq!(t.path.len(), 5);
        for ((x, y), (a, b)) in t.path.iter().zip(coords) {
            assert!((x.abs() - f64::from(a).abs()).abs() < 1e-5 && (y.abs() - f64::from(b).abs()).abs() < 1e-5);
        }
        assert_eq!(t.path[4], (0.0, 0.0));
        assert!(trajectory(&net, &refs[..2]).is_err());
        let still = vec![points[4].as_slice(); 4];
        assert!(trajectory(&net, &still).is_err());
    }
}
