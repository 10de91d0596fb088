//! One number for how rough a loss landscape is: the share of grid points where the loss is
//! not convex along the grid's lines.
//!
//! At an interior grid point `(α, β)` the second differences along the two directions are
//!
//! ```text
//! Δ²_α = L(α − h, β) − 2 L(α, β) + L(α + h, β)
//! Δ²_β = L(α, β − h) − 2 L(α, β) + L(α, β + h)
//! ```
//!
//! A convex function has both ≥ 0 everywhere. The point counts as *non-convex* when either is
//! below `−10⁻⁴ · |L(α, β)|` (the tolerance keeps the rounding of a flat plateau from
//! counting). Li et al. (2018) map convexity with the Hessian's eigenvalues; this is the same
//! question asked of the grid the picture is drawn from, with no extra loss evaluations, and
//! it stays meaningful on a coarse grid: a smooth bowl scores near 0 however few points it
//! has, a chaotic surface scores high because its second differences change sign from one
//! point to the next. A smooth surface that bends over into a plateau far from the minimum
//! also counts those shoulder points, so compare two nets on the same range and grid (a
//! residual net's final layer norm bounds its logits, so over [-1, 1]² its basin rises onto
//! such a plateau; [-0.5, 0.5]² stays inside the basin).
//!
//! A second share, [`Roughness::descending_fraction`], counts the points where walking
//! straight out from the centre goes downhill: 0 for any basin around a minimum, however
//! shaped, and more where the centre is not a minimum or the surface has bumps.

use super::LossGrid;

/// Relative tolerance below which a negative second difference is rounding, not curvature.
const TOLERANCE: f64 = 1e-4;

/// How non-convex a loss grid is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roughness {
    /// Share of the measured points where the loss is not convex along α or along β.
    pub nonconvex_fraction: f64,
    /// Interior points measured (those whose five values are all finite).
    pub points: usize,
    /// Share of the points (all but the centre, with finite values) where the loss is lower
    /// than at the grid point one step nearer the centre on the same line through the centre:
    /// where walking straight out from the trained weights goes downhill.
    pub descending_fraction: f64,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The share of grid points (centre excluded) where the loss drops on the way out from the
/// centre: `L(p) < L(p − s)`, `s` the smallest grid step along the line from the centre
/// through `p`, beyond the same relative tolerance. Needs an odd grid centred on the model.
fn descending_fraction(grid: &LossGrid) -> f64 {
    let (cols, rows) = (grid.alphas.len(), grid.betas.len());
    let (mc, mr) = ((cols / 2) as isize, (rows / 2) as isize);
    let (mut points, mut down) = (0usize, 0usize);
    for r in 0..rows as isize {
        for c in 0..cols as isize {
            let (di, dj) = (r - mr, c - mc);
            if di == 0 && dj == 0 {
                continue;
            }
            let g = gcd(di.unsigned_abs(), dj.unsigned_abs()) as isize;
            let (pr, pc) = (r - di / g, c - dj / g);
            let (here, inner) = (grid.at(r as usize, c as usize), grid.at(pr as usize, pc as usize));
            if !here.is_finite() || !inner.is_finite() {
                continue;
            }
            points += 1;
            if here < inner - TOLERANCE * inner.abs() {
                down += 1;
            }
        }
    }
    if points == 0 {
        0.0
    } else {
        down as f64 / points as f64
    }
}

/// The share of interior points of `grid` where the loss is not convex along α or β (see
/// the `roughness` module). A grid with no interior point (fewer than 3 steps per axis) scores
/// 0 over 0 points.
pub fn roughness(grid: &LossGrid) -> Roughness {
    let (cols, rows) = (grid.alphas.len(), grid.betas.len());
    let (mut points, mut nonconvex) = (0usize, 0usize);
    for r in 1..rows.saturating_sub(1) {
        for c in 1..cols.saturating_sub(1) {
            let centre = grid.at(r, c);
            let (left, right, down, up) = (grid.at(r, c - 1), grid.at(r, c + 1), grid.at(r - 1, c), grid.at(r + 1, c));
            if ![centre, left, right, down, up].iter().all(|v| v.is_finite()) {
                continue;
            }
            points += 1;
            let tol = -TOLERANCE * centre.abs();
            if left - 2.0 * centre + right < tol || down - 2.0 * centre + up < tol {
                nonconvex += 1;
            }
        }
    }
    let nonconvex_fraction = if points == 0 { 0.0 } else { nonconvex as f64 / points as f64 };
    Roughness { nonconvex_fraction, points, descending_fraction: descending_fraction(grid) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::landscape::linspace;

    fn grid(f: impl Fn(f64, f64) -> f64, n: usize) -> LossGrid {
        let steps = linspace(-1.0, 1.0, n);
        let loss: Vec<f64> =
            steps.iter().flat_map(|&b| steps.iter().map(move |&a| (a, b))).map(|(a, b)| f(a, b)).collect();
        LossGrid { alphas: steps.clone(), betas: steps, accuracy: vec![0.0; loss.len()], loss }
    }

    #[test]
    fn a_bowl_is_smooth_and_an_egg_box_is_not() {
        let bowl = roughness(&grid(|a, b| 0.1 + a * a + 3.0 * b * b, 11));
        assert_eq!(bowl, Roughness { nonconvex_fraction: 0.0, points: 81, descending_fraction: 0.0 });
        // cos has negative curvature on about half its period in each direction.
        let egg_box = roughness(&grid(|a, b| 2.0 + (7.0 * a).cos() + (7.0 * b).cos(), 41));
        assert!(egg_box.nonconvex_fraction > 0.5, "{egg_box:?}");
        // A saddle is concave along β everywhere.
        let saddle = roughness(&grid(|a, b| 5.0 + a * a - b * b, 9));
        assert_eq!(saddle.nonconvex_fraction, 1.0);
        // Out along a line from the centre the saddle falls where |β| > |α|: 32 of 80 points.
        assert_eq!(saddle.descending_fraction, 32.0 / 80.0);
        let hill = roughness(&grid(|a, b| 9.0 - a * a - b * b, 9));
        assert_eq!(hill.descending_fraction, 1.0);
        // A plateau rounded to f32 is flat, not rough.
        let plateau = roughness(&grid(|a, _| f64::from((2.25 + 1e-7 * (97.0 * a).sin()) as f32), 21));
        assert_eq!(plateau.nonconvex_fraction, 0.0);
    }

    #[test]
    fn non_finite_points_and_tiny_grids_are_left_out() {
        let mut g = grid(|a, b| 1.0 + a * a + b * b, 5);
        g.loss[2 * 5 + 2] = f64::INFINITY;
        // The centre and its four neighbours each touch the infinite value.
        assert_eq!(roughness(&g).points, 9 - 5);
        let two = grid(|a, b| a + b, 2);
        assert_eq!(roughness(&two).points, 0);
        assert_eq!(roughness(&two).nonconvex_fraction, 0.0);
    }
}
