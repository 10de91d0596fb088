//! The packed, depth-first forward pass against [`Mlp::forward`]: the same bits, at any
//! thread count and for any batch split.

use super::*;
use crate::activation::Activation;
use crate::init::Init;
use crate::matrix::Matrix;
use crate::mlp::Workspace;
use crate::rng::Rng;

fn net(sizes: Vec<usize>, hidden: Activation, output: Activation, seed: u64) -> Mlp {
    let spec = MlpSpec::new(sizes, hidden, output).unwrap();
    Mlp::new(spec, Init::HeUniform, &mut Rng::new(seed))
}

fn plain(mlp: &Mlp, x: &Matrix) -> Vec<f32> {
    let mut ws = Workspace::new(mlp.spec(), x.rows());
    mlp.forward(x.view(), &mut ws).unwrap().as_slice().to_vec()
}

#[test]
fn outputs_have_the_bits_of_the_plain_forward_at_one_and_two_threads() {
    // 450 rows: more than one depth-first block (192) per band at one thread, bands that
    // are not a multiple of the block at two; the ten outputs take the skinny kernel on
    // AVX-512, the 33 the packed one.
    for (sizes, seed) in [(vec![61, 70, 45, 10], 1), (vec![30, 90, 33], 2), (vec![784, 800, 10], 3)] {
        let rows = if sizes[0] == 784 { 250 } else { 450 };
        let mlp = net(sizes, Activation::Relu, Activation::Identity, seed);
        let x = Matrix::random_uniform(rows, mlp.spec().inputs(), 0.0, 1.0, &mut Rng::new(seed + 10));
        let want = crate::pool::with_threads(1, || plain(&mlp, &x)).0;
        let packed = PackedMlp::new(&mlp);
        for threads in [1, 2, 3] {
            let mut out = Vec::new();
            let (got, parallel) =
                crate::pool::with_threads(threads, || packed.forward(x.view(), &mut out).unwrap().to_matrix());
            assert_eq!(got.shape(), (rows, mlp.spec().outputs()));
            assert_eq!(got.as_slice(), &want[..], "{} at {threads} threads", mlp.spec());
            assert_eq!(parallel > 0, threads > 1, "{threads} threads ran");
        }
    }
}

#[test]
fn small_batches_and_other_activations_match_the_plain_forward() {
    let mlp = net(vec![9, 13, 7, 5], Activation::Tanh, Activation::Sigmoid, 4);
    let packed = PackedMlp::new(&mlp);
    let mut out = vec![f32::NAN; 3];
    for rows in [1, 2, 7, 25] {
        let x = Matrix::random_uniform(rows, 9, -1.0, 1.0, &mut Rng::new(rows as u64));
        let want = Matrix::from_vec(rows, 5, plain(&mlp, &x)).unwrap();
        let got = packed.forward(x.view(), &mut out).unwrap().to_matrix();
        let diff = want.max_abs_diff(&got).unwrap();
        assert!(diff <= 1e-5, "{rows} rows: diff {diff}");
    }
}

#[test]
fn a_smaller_batch_gives_the_first_rows_of_a_larger_one() {
    let mlp = net(vec![20, 40, 10], Activation::Relu, Activation::Identity, 5);
    let packed = PackedMlp::new(&mlp);
    let x = Matrix::random_uniform(300, 20, 0.0, 1.0, &mut Rng::new(6));
    let mut out = Vec::new();
    let full = packed.forward(x.view(), &mut out).unwrap().to_matrix();
    let part = packed.forward(x.rows_view(0, 37), &mut out).unwrap().to_matrix();
    assert_eq!(part.as_slice(), &full.as_slice()[..37 * 10]);
}

#[test]
fn a_wrong_input_width_is_an_error_naming_both_shapes() {
    let mlp = net(vec![3, 4, 2], Activation::Relu, Activation::Identity, 7);
    let err = PackedMlp::new(&mlp).forward(Matrix::zeros(2, 5).view(), &mut Vec::new()).unwrap_err().to_string();
    assert!(err.contains("input 2×5") && err.contains("3-4-2"), "{err}");
}
