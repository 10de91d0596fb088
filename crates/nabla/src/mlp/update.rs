//! The backward pass with the optimiser's step folded in ([`Mlp::backward_update`]): each
//! layer's weights are updated a row panel at a time as the product `dW = dzᵀ · a` finishes
//! each panel of their gradient, which never goes out to memory. Bit for bit
//! [`Mlp::backward`] followed by [`crate::optim::Optimizer::step`].

use super::network::Mlp;
use super::workspace::Workspace;
use crate::error::{Error, Result};
use crate::gemm::Transpose;
use crate::matrix::{MatMut, MatRef};
use crate::optim::{StepRule, WeightUpdate};

impl Mlp {
    /// [`Mlp::backward`] and the optimiser step `rule` in one pass, after [`Mlp::forward`] on
    /// the same `x` and `ws` and the loss: the parameters end as
    /// `backward` then `Optimizer::step` would leave them, to the bit. Each layer's `da` for the
    /// layer below is computed from its weights before they change. `grads` is scratch of
    /// the parameters' length: it receives the biases' gradients, and the weights' where a
    /// product does not hand its rows over (`MatmulKernel::sink_takes`: a
    /// batch deeper than one block of the GEMM, a product small enough for plain loops, the
    /// bf16 reference); the rest is left as it was.
    ///
    /// Measured on Zen 4 against `backward` then `step`, whose gradient goes out to memory
    /// and back (`nabla bench`, medians of five interleaved rounds): W3 (Adam) 2.5 % faster at
    /// one thread, W2 (momentum) 9 % at one thread and 5 % at two. Updating each 16 × 16 tile
    /// of the weights as it was finished was 7–10 % slower: sixteen short rows, kilobytes
    /// apart, of three arrays per tile (docs/benchmarks/training-history.md).
    pub fn backward_update(
        &mut self,
        x: MatRef<'_>,
        ws: &mut Workspace,
        grads: &mut [f32],
        rule: StepRule<'_>,
    ) -> Result<()> {
        self.check_backward(x, ws, grads)?;
        if !rule.fits(self.spec.param_count()) {
            return Err(Error::Invalid {
                name: "optimiser",
                value: "its state".into(),
                reason: format!("is not for a model of {} parameters", self.spec.param_count()),
            });
        }
        let batch = ws.batch;
        for l in (0..self.layers.len()).rev() {
            let layer = self.layers[l];
            let (n, n_in) = (layer.outputs, layer.inputs);
            let range = self.layer_range(l);
            let (dw, db) = grads[range.clone()].split_at_mut(n * n_in);
            self.layer_dz(l, ws, db);
            let dz = MatRef::new(&ws.grad_z[..batch * n], batch, n)?;
            if l > 0 {
                // da_{l−1} = dz · W with the weights of this step, before they are updated,
                // split between threads along the outputs (the rows of W each updates).
                let (w, _) = layer.split(self.layer_params(l));
                let da = MatMut::new(&mut ws.grad_a[..batch * n_in], batch, n_in)?;
                ws.kernel.gemm_by_depth(1.0, dz, Transpose::No, w, Transpose::No, 0.0, da)?;
            }
            let input = Self::layer_input(l, n_in, x, ws)?;
            let (w, b) = self.layer_params_mut(l).split_at_mut(n * n_in);
            if ws.kernel.sink_takes(n, n_in, batch) {
                // dW = dzᵀ · a, each finished panel of its rows applied to W at once.
                let update = WeightUpdate::new(&rule, range.start, w, n_in);
                ws.kernel.to_sink(crate::pool::threads(), dz, Transpose::Yes, input, Transpose::No, n_in, &update);
            } else {
                ws.kernel.gemm(1.0, dz, Transpose::Yes, input, Transpose::No, 0.0, MatMut::new(dw, n, n_in)?)?;
                // Each thread steps the rows of W whose gradient it wrote (bf16 products split
                // along the rows: the rows its forward pass read too).
                match ws.kernel.row_bands(crate::pool::threads(), n, n_in, batch) {
                    // SAFETY: `rule` is applied by this function alone, one range at a time.
                    Some(band) => unsafe { rule.apply_in_row_bands(range.start, w, dw, n_in, band) },
                    // SAFETY: as above.
                    None => unsafe { rule.apply_threaded(range.start, w, dw) },
                }
            }
            // SAFETY: as above.
            unsafe { rule.apply_threaded(range.start + n * n_in, b, db) };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::activation::Activation;
    use crate::gemm::bf16::Bf16Kernel;
    use crate::gemm::MatmulKernel;
    use crate::init::Init;
    use crate::loss::{Loss, Targets};
    use crate::matrix::Matrix;
    use crate::mlp::{Dropout, Mlp, MlpSpec, Workspace};
    use crate::optim::{OptimizerConfig, OptimizerKind};
    use crate::rng::Rng;

    const KINDS: [OptimizerKind; 5] = [
        OptimizerKind::Sgd,
        OptimizerKind::Momentum,
        OptimizerKind::Nesterov,
        OptimizerKind::Adam,
        OptimizerKind::AdamW,
    ];

    struct Case {
        kind: OptimizerKind,
        weight_decay: f32,
        batch: usize,
        threads: usize,
        dropout: Dropout,
        kernel: MatmulKernel,
    }

    /// The parameters after three steps of `case`, by `backward` then `step` or by
    /// `backward_update`, and how many products ran on several threads.
    fn train(case: &Case, fused: bool) -> (Vec<f32>, u64) {
        // The second layer's da = dz · W is three blocks deep: split by depth on 2–3 threads;
        // the third has fewer outputs than inputs, its dW handed over in two bands of rows.
        let sizes = vec![64, 300, 600, 100, 10];
        crate::pool::with_threads(case.threads, || {
            let spec = MlpSpec::new(sizes.clone(), Activation::Relu, Activation::Identity).unwrap();
            let mut mlp = Mlp::new(spec.clone(), Init::HeUniform, &mut Rng::new(3));
            let n = mlp.num_params();
            let config = OptimizerConfig { kind: case.kind, weight_decay: case.weight_decay, ..Default::default() };
            let mut opt = config.build(n);
            let mut ws = Workspace::new(&spec, case.batch);
            ws.set_kernel(case.kernel);
            let mut grads = vec![0.0; n];
            let mut data = Rng::new(5);
            for step in 0..3 {
                let x = Matrix::random_uniform(case.batch, 64, 0.0, 1.0, &mut data);
                let y: Vec<u32> = (0..case.batch).map(|i| ((i * 7 + step) % 10) as u32).collect();
                mlp.forward_train(x.view(), &mut ws, case.dropout, &mut Rng::new(100 + step as u64)).unwrap();
                mlp.output_loss(Targets::Classes(&y), Loss::SoftmaxCrossEntropy, &mut ws).unwrap();
                if fused {
                    let rule = opt.begin_step(0.01);
                    mlp.backward_update(x.view(), &mut ws, &mut grads, rule).unwrap();
                } else {
                    mlp.backward(x.view(), &mut ws, &mut grads).unwrap();
                    opt.step(mlp.params_mut(), &grads, 0.01);
                }
            }
            assert_eq!(opt.steps(), 3);
            mlp.params().to_vec()
        })
    }

    /// `backward_update` leaves the parameters `backward` then `Optimizer::step` leave, to
    /// the bit: every optimiser with and without weight decay, batches whose weight gradients
    /// go to the sink (128, 3; bf16 on AVX512-BF16 up to 512) or are stored first (300:
    /// deeper than one block of the f32 GEMM; 600 in bf16; the bf16 reference and AMX), with
    /// dropout, on one thread and two.
    #[test]
    fn the_fused_step_leaves_the_bits_of_backward_then_step() {
        let no_dropout = Dropout { input: 0.0, hidden: 0.0 };
        let dropout = Dropout { input: 0.1, hidden: 0.2 };
        let start = Mlp::new(
            MlpSpec::new(vec![64, 300, 600, 100, 10], Activation::Relu, Activation::Identity).unwrap(),
            Init::HeUniform,
            &mut Rng::new(3),
        );
        let mut cases = Vec::new();
        for kind in KINDS {
            for weight_decay in [0.0, 0.01] {
                for (batch, threads, dropout) in
                    [(128, 1, no_dropout), (128, 2, dropout), (3, 2, no_dropout), (300, 2, dropout)]
                {
                    cases.push(Case { kind, weight_decay, batch, threads, dropout, kernel: MatmulKernel::F32 });
                }
            }
        }
        let bf16 = MatmulKernel::Bf16(Bf16Kernel::Reference);
        cases.push(Case { kind: OptimizerKind::Adam, weight_decay: 0.0, batch: 32, threads: 2, dropout, kernel: bf16 });
        if let Some(fast) = crate::gemm::bf16::best_kernel().map(MatmulKernel::Bf16) {
            // The weights stepped in the row bands the bf16 product wrote their gradient in.
            assert_eq!(fast.row_bands(2, 600, 300, 128), Some(320), "the 600-wide layer's dW is split by rows");
            // On AMX and on AVX512-BF16 a batch of at most 512 goes to the sink (on one thread
            // and two), a deeper one is stored first.
            for kind in KINDS {
                cases.push(Case { kind, weight_decay: 0.01, batch: 128, threads: 2, dropout, kernel: fast });
            }
            for (batch, threads) in [(128, 1), (600, 2)] {
                cases.push(Case {
                    kind: OptimizerKind::Adam,
                    weight_decay: 0.0,
                    batch,
                    threads,
                    dropout,
                    kernel: fast,
                });
            }
        }
        for case in &cases {
            let what =
                format!("{:?} wd {} batch {} on {} thread(s)", case.kind, case.weight_decay, case.batch, case.threads);
            let ((fused, parallel), (separate, _)) = (train(case, true), train(case, false));
            assert!(fused.iter().zip(&separate).all(|(a, b)| a.to_bits() == b.to_bits()), "{what}: other bits");
            // Units a ReLU switched off get no gradient: most parameters move, not all.
            let moved = fused.iter().zip(start.params()).filter(|(a, b)| a != b).count();
            assert!(moved * 2 > fused.len(), "{what}: {moved} of {} parameters moved", fused.len());
            assert!(case.threads == 1 || case.batch < 100 || parallel > 0, "{what}: nothing ran on two threads");
        }
    }

    /// A step leaves the same bits on one, two and three threads, fused or not, the second
    /// layer's `da` split along its depth and the weight gradients along their rows, in `f32`
    /// and on the bf16 kernel this CPU has.
    #[test]
    fn a_step_gives_the_same_bits_on_every_thread_count() {
        let dropout = Dropout { input: 0.1, hidden: 0.2 };
        let mut kernels = vec![MatmulKernel::F32];
        kernels.extend(crate::gemm::bf16::best_kernel().map(MatmulKernel::Bf16));
        for (kind, kernel) in [OptimizerKind::Adam, OptimizerKind::Momentum]
            .into_iter()
            .flat_map(|k| kernels.iter().map(move |&m| (k, m)))
        {
            for fused in [true, false] {
                let case = |threads| Case { kind, weight_decay: 0.0, batch: 128, threads, dropout, kernel };
                let (one, _) = train(&case(1), fused);
                for threads in [2, 3] {
                    let (many, parallel) = train(&case(threads), fused);
                    assert!(parallel > 0, "{kind:?}: nothing ran on {threads} threads");
                    assert!(
                        one.iter().zip(&many).all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{kind:?} {kernel:?} fused {fused}: other bits on {threads} threads"
                    );
                }
            }
        }
    }

    #[test]
    fn an_optimiser_for_another_model_is_refused() {
        let spec = MlpSpec::new(vec![4, 3, 2], Activation::Relu, Activation::Identity).unwrap();
        let mut mlp = Mlp::new(spec.clone(), Init::HeUniform, &mut Rng::new(1));
        let mut ws = Workspace::new(&spec, 2);
        let x = Matrix::random_uniform(2, 4, 0.0, 1.0, &mut Rng::new(2));
        mlp.forward(x.view(), &mut ws).unwrap();
        mlp.output_loss(Targets::Classes(&[0, 1]), Loss::SoftmaxCrossEntropy, &mut ws).unwrap();
        let mut opt = OptimizerConfig { kind: OptimizerKind::Adam, ..Default::default() }.build(7);
        let mut grads = vec![0.0; mlp.num_params()];
        let err = mlp.backward_update(x.view(), &mut ws, &mut grads, opt.begin_step(0.1)).unwrap_err();
        assert!(err.to_string().contains("not for a model of 23 parameters"), "{err}");
    }
}
