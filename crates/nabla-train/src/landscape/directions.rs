//! The directions a landscape is drawn along: random Gaussian directions over a network's
//! parameter vector, filter-normalised as Li et al. (2018) do.
//!
//! A *filter* of a dense layer is one row of its weight matrix `W [out, in]`: the weights into
//! one unit. Filter normalisation scales each filter of the direction to the norm of the same
//! filter of the trained weights. What is not a dense weight gets a zero direction, so it stays
//! at its trained value everywhere on the grid:
//!
//! - every bias (Li et al. leave biases out the same way);
//! - in a residual net, the layer normalisations' gains `γ` and shifts `β` (Li et al. zero
//!   the direction of batch-normalisation parameters; a layer norm's are their counterpart).
//!
//! In a residual net the filters are those of the input projection, of both dense layers of
//! every block (`fc1`, `fc2`) and of the output layer.

use std::ops::Range;

use nabla::{Network, Rng};

/// Where each dense weight matrix of `net` lives in its parameter vector, with the length of
/// one of its rows (the layer's inputs), in storage order.
pub fn weight_matrices(net: &Network) -> Vec<(Range<usize>, usize)> {
    match net {
        Network::Plain(mlp) => (0..mlp.layers().len())
            .map(|l| {
                let (d, start) = (mlp.layers()[l], mlp.layer_range(l).start);
                (start..start + d.outputs * d.inputs, d.inputs)
            })
            .collect(),
        Network::Residual(res) => res
            .layout()
            .dense_layers(res.spec())
            .map(|(d, r)| (r.start..r.start + d.outputs * d.inputs, d.inputs))
            .collect(),
    }
}

/// A random direction in `net`'s parameter layout: standard Gaussian for every dense weight
/// (drawn in storage order), zero for everything else (biases, layer norm gains and shifts).
pub fn random_direction(net: &Network, rng: &mut Rng) -> Vec<f32> {
    let mut d = vec![0.0f32; net.num_params()];
    for (range, _) in weight_matrices(net) {
        for v in &mut d[range] {
            *v = rng.normal() as f32;
        }
    }
    d
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt()
}

/// Filter normalisation: scales each row of each dense weight direction to the norm of the
/// same row of `net`'s weights, and zeroes every other entry (biases; layer norm gains and
/// shifts). A zero direction row stays zero.
pub fn filter_normalize(net: &Network, direction: &mut [f32]) {
    let mut is_weight = vec![false; direction.len()];
    for (range, n_in) in weight_matrices(net) {
        is_weight[range.clone()].fill(true);
        let weights = &net.params()[range.clone()];
        for (d_row, w_row) in direction[range].chunks_mut(n_in).zip(weights.chunks(n_in)) {
            let (dn, wn) = (norm(d_row), norm(w_row));
            if dn > 0.0 {
                let scale = wn / dn;
                for v in d_row.iter_mut() {
                    *v = (f64::from(*v) * scale) as f32;
                }
            }
        }
    }
    for (v, _) in direction.iter_mut().zip(&is_weight).filter(|(_, w)| !**w) {
        *v = 0.0;
    }
}

/// Two filter-normalised random directions for `net`, drawn from `rng` one after the other.
pub fn filter_normalized_pair(net: &Network, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    let (mut d1, mut d2) = (random_direction(net, rng), random_direction(net, rng));
    filter_normalize(net, &mut d1);
    filter_normalize(net, &mut d2);
    (d1, d2)
}

/// `a·b / (‖a‖ ‖b‖)` (0 when either is zero).
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}
