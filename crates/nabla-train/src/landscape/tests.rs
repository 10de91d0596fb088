use std::sync::atomic::{AtomicUsize, Ordering};

use nabla::{Activation, Init, Mlp, MlpSpec, Network, NetworkWorkspace, ResidualMlp, ResidualSpec, Rng};

use super::*;

fn plain(seed: u64) -> Network {
    let spec = MlpSpec::parse("6-5-4-3", Activation::Relu, Activation::Identity).unwrap();
    Mlp::new(spec, Init::Uniform { limit: 0.7 }, &mut Rng::new(seed)).into()
}

/// 6 → 5 → 3 blocks → norm → 3, with non-trivial layer norm gains so that leaving them
/// unperturbed is visible.
fn residual(seed: u64) -> Network {
    let spec = ResidualSpec::new(6, 5, 3, 3, Activation::Relu, Activation::Identity).unwrap();
    let mut net = ResidualMlp::new(spec, Init::HeNormal, &mut Rng::new(seed));
    let mut rng = Rng::new(seed + 100);
    let norms: Vec<_> = net.layout().blocks.iter().map(|b| b.norm.clone()).chain([net.layout().norm.clone()]).collect();
    for r in norms {
        for v in &mut net.params_mut()[r] {
            *v += rng.uniform_f32(-0.3, 0.3);
        }
    }
    net.into()
}

fn data() -> LossData {
    let mut rng = Rng::new(3);
    let n = 37;
    LossData {
        x: (0..n * 6).map(|_| rng.uniform_f32(-1.0, 1.0)).collect(),
        labels: (0..n).map(|i| (i % 3) as u32).collect(),
        features: 6,
    }
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt()
}

/// Every row of every dense weight matrix of a filter-normalised direction has the norm of
/// the same weight row; every other entry (biases, layer norm γ and β) is zero.
fn assert_filter_normalised(net: &Network, d: &[f32]) {
    let mut covered = vec![false; d.len()];
    for (range, n_in) in weight_matrices(net) {
        for (row, (dr, wr)) in d[range.clone()].chunks(n_in).zip(net.params()[range.clone()].chunks(n_in)).enumerate() {
            let (dn, wn) = (norm(dr), norm(wr));
            assert!((dn - wn).abs() < 1e-5 * wn.max(1.0), "rows at {range:?}, row {row}: {dn} vs {wn}");
        }
        covered[range].fill(true);
    }
    let others = d.iter().zip(&covered).filter(|(_, c)| !**c);
    assert!(others.clone().count() > 0);
    assert!(others.map(|(v, _)| *v).all(|v| v == 0.0), "a bias or layer norm parameter would move");
}

#[test]
fn filter_normalisation_matches_each_row_norm() {
    for net in [plain(1), residual(1)] {
        let mut d = random_direction(&net, &mut Rng::new(9));
        filter_normalize(&net, &mut d);
        assert_filter_normalised(&net, &d);
        // A zero row stays zero instead of becoming NaN.
        let mut z = vec![0.0f32; net.num_params()];
        filter_normalize(&net, &mut z);
        assert!(z.iter().all(|&v| v == 0.0));
        // Whatever the direction held outside the weights is cleared.
        let mut ones = vec![1.0f32; net.num_params()];
        filter_normalize(&net, &mut ones);
        assert_filter_normalised(&net, &ones);
    }
}

/// A residual net's weight matrices are the input projection, both layers of each block and
/// the output layer, in storage order.
#[test]
fn residual_weight_matrices_are_its_dense_layers() {
    let net = residual(2);
    let Network::Residual(res) = &net else { unreachable!() };
    let m = weight_matrices(&net);
    assert_eq!(m.len(), 2 + 2 * 3);
    assert_eq!(m[0], (res.layout().input.start..res.layout().input.start + 5 * 6, 6));
    assert_eq!(m[1].0.start, res.layout().blocks[0].fc1.start);
    assert_eq!(m[2].0.start, res.layout().blocks[0].fc2.start);
    assert_eq!(m[7], (res.layout().output.start..res.layout().output.start + 3 * 5, 5));
}

/// The centre of the grid is the model itself: its loss, bit for bit; for a plain and a
/// residual net alike.
#[test]
fn grid_centre_is_the_models_loss() {
    for net in [plain(2), residual(2)] {
        let data = data();
        let (d1, d2) = filter_normalized_pair(&net, &mut Rng::new(5));
        let steps = linspace(-1.0, 1.0, 5);
        let calls = AtomicUsize::new(0);
        let grid = loss_grid(&net, (&d1, &d2), &steps, &steps, &data, 3, &|| {
            calls.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 25);
        let mut ws = NetworkWorkspace::new(&net.spec(), 8);
        let (centre, _) = evaluate(&net, &data, &mut ws).unwrap();
        assert_eq!(grid.at(2, 2), centre);
        // Away from the centre the loss changes, and threads do not change the numbers.
        assert!(grid.loss.iter().all(|v| v.is_finite()));
        assert_ne!(grid.at(0, 0), centre);
        let serial = loss_grid(&net, (&d1, &d2), &steps, &steps, &data, 1, &|| {}).unwrap();
        assert_eq!(serial, grid);
        // The grid is laid out row = β, column = α: moving along α only is L(θ + αδ).
        let mut shifted = net.clone();
        for (p, d) in shifted.params_mut().iter_mut().zip(&d1) {
            *p = (f64::from(*p) + 0.5 * f64::from(*d)) as f32;
        }
        let (along, _) = evaluate(&shifted, &data, &mut ws).unwrap();
        assert_eq!(grid.at(2, 3), along);
    }
}

/// The same seed draws the same directions and so the same grid; another seed does not.
#[test]
fn a_seed_fixes_the_landscape() {
    let net = residual(4);
    let steps = linspace(-1.0, 1.0, 3);
    let grid_of = |seed| {
        let (d1, d2) = filter_normalized_pair(&net, &mut Rng::new(seed));
        loss_grid(&net, (&d1, &d2), &steps, &steps, &data(), 2, &|| {}).unwrap()
    };
    assert_eq!(grid_of(7), grid_of(7));
    assert_ne!(grid_of(7).loss, grid_of(8).loss);
}

#[test]
fn interpolation_ends_are_the_two_models() {
    for (a, b) in [(plain(1), plain(2)), (residual(1), residual(2))] {
        let data = data();
        let alphas = linspace(-0.5, 1.5, 9);
        let s = interpolate(&a, &b, &alphas, &data, 2, &|| {}).unwrap();
        let mut ws = NetworkWorkspace::new(&a.spec(), 8);
        assert_eq!(s.loss[2], evaluate(&a, &data, &mut ws).unwrap().0);
        assert_eq!(s.loss[6], evaluate(&b, &data, &mut ws).unwrap().0);
    }
    let other: Network = Mlp::zeros(MlpSpec::parse("6-3", Activation::Relu, Activation::Identity).unwrap()).into();
    let alphas = [0.0, 1.0];
    assert!(matches!(interpolate(&plain(1), &other, &alphas, &data(), 1, &|| {}), Err(LandscapeError::Invalid(_))));
    assert!(matches!(
        interpolate(&plain(1), &residual(1), &alphas, &data(), 1, &|| {}),
        Err(LandscapeError::Invalid(_))
    ));
}

#[test]
fn cosine_and_linspace() {
    assert_eq!(cosine_similarity(&[1.0, 0.0], &[0.0, 2.0]), 0.0);
    assert!((cosine_similarity(&[1.0, 1.0], &[2.0, 2.0]) - 1.0).abs() < 1e-12);
    assert_eq!(cosine_similarity(&[0.0], &[1.0]), 0.0);
    assert_eq!(linspace(-1.0, 1.0, 5), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
    assert_eq!(linspace(0.0, 1.0, 1), vec![0.0]);
}

#[test]
fn bad_inputs_are_errors() {
    let net = plain(1);
    let empty = LossData { x: vec![], labels: vec![], features: 6 };
    let d = vec![0.0; net.num_params()];
    assert!(loss_grid(&net, (&d, &d), &[0.0], &[0.0], &empty, 1, &|| {}).is_err());
    let narrow = LossData { x: vec![0.0; 4], labels: vec![0, 1], features: 2 };
    assert!(loss_grid(&net, (&d, &d), &[0.0], &[0.0], &narrow, 1, &|| {}).is_err());
    assert!(loss_grid(&net, (&d[1..], &d), &[0.0], &[0.0], &data(), 1, &|| {}).is_err());
}
