//! A residual MLP made of scalar [`Value`]s, as [`ValueMlp`](super::mlp::ValueMlp) builds a
//! plain one: every dense layer neuron by neuron, every layer normalisation as the sums and
//! the square root of its definition. The graph's backward pass knows nothing of the compact
//! layer norm formula or of the skip's `ds +`; the test below demands that it finds the
//! engine's [`ResidualMlp`] gradients all the same.

use super::mlp::{activate, dense, example_loss};
use super::Value;
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::residual::{Layout, ResidualMlp, ResidualSpec};

/// A residual MLP whose every parameter is a [`Value`], in the engine's layout.
#[derive(Debug, Clone)]
pub struct ValueResidualMlp {
    spec: ResidualSpec,
    layout: Layout,
    params: Vec<Value>,
}

/// `γ ⊙ (x − μ)/√(σ² + ε) + β` over one row, with the biased variance (PyTorch's definition).
fn layer_norm(x: &[Value], gain_bias: &[Value], eps: f32) -> Vec<Value> {
    let (gain, bias) = gain_bias.split_at(x.len());
    let inv_d = Value::new(1.0 / x.len() as f64);
    let mean = Value::sum(x).mul(&inv_d);
    let dev: Vec<Value> = x.iter().map(|v| v.sub(&mean)).collect();
    let squares: Vec<Value> = dev.iter().map(|d| d.powf(2.0)).collect();
    let var = Value::sum(&squares).mul(&inv_d);
    let r = var.add(&Value::new(f64::from(eps))).powf(-0.5);
    dev.iter().zip(gain).zip(bias).map(|((d, g), b)| d.mul(&r).mul(g).add(b)).collect()
}

impl ValueResidualMlp {
    /// The same network as `net`, its `f32` parameters widened to `f64`.
    pub fn from_net(net: &ResidualMlp) -> Self {
        let params = net.params().iter().map(|&p| Value::new(f64::from(p))).collect();
        Self { spec: net.spec().clone(), layout: net.layout().clone(), params }
    }

    /// `∂loss/∂θ` for every parameter after `loss.backward()`, in the engine's layout.
    pub fn gradients(&self) -> Vec<f64> {
        self.params.iter().map(Value::grad).collect()
    }

    /// `W·a + b` for the dense layer whose `[W | b]` is `range`.
    fn dense(&self, range: &std::ops::Range<usize>, outputs: usize, a: &[Value]) -> Vec<Value> {
        let (w, b) = self.params[range.clone()].split_at(range.len() - outputs);
        dense(w, b, a)
    }

    /// One example through the network: `x: [n_0] -> [outputs]`.
    pub fn forward(&self, x: &[f64]) -> Result<Vec<Value>> {
        let (spec, layout) = (&self.spec, &self.layout);
        if x.len() != spec.inputs {
            return Err(Error::Length { what: "value residual MLP input", expected: spec.inputs, got: x.len() });
        }
        let x: Vec<Value> = x.iter().map(|&v| Value::new(v)).collect();
        let (w, eps) = (spec.width, spec.norm().eps);
        let mut s = self.dense(&layout.input, w, &x);
        for block in &layout.blocks {
            let u = layer_norm(&s, &self.params[block.norm.clone()], eps);
            let h: Vec<Value> = self.dense(&block.fc1, w, &u).iter().map(|z| activate(z, spec.hidden)).collect();
            let branch = self.dense(&block.fc2, w, &h);
            s = s.iter().zip(&branch).map(|(s, f)| s.add(f)).collect();
        }
        let v = layer_norm(&s, &self.params[layout.norm.clone()], eps);
        Ok(self.dense(&layout.output, spec.outputs, &v).iter().map(|z| activate(z, spec.output)).collect())
    }

    /// The mean loss over a batch (`x: [batch, n_0]` row by row; targets as
    /// [`ValueMlp::loss`](super::mlp::ValueMlp::loss) takes them).
    pub fn loss(&self, x: &[f64], targets: &[f64], loss: Loss) -> Result<Value> {
        let (n_in, n_out) = (self.spec.inputs, self.spec.outputs);
        let batch = x.len() / n_in;
        let per_example = if loss == Loss::SoftmaxCrossEntropy { 1 } else { n_out };
        if x.len() != batch * n_in || targets.len() != batch * per_example {
            return Err(Error::Length {
                what: "value residual MLP targets",
                expected: batch * per_example,
                got: targets.len(),
            });
        }
        let mut terms = Vec::with_capacity(batch);
        for (row, t) in x.chunks(n_in).zip(targets.chunks(per_example)) {
            terms.push(example_loss(&self.forward(row)?, t, loss)?);
        }
        Ok(Value::sum(&terms).div(&Value::new(batch.max(1) as f64)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Activation;
    use crate::init::Init;
    use crate::loss::Targets;
    use crate::matrix::Matrix;
    use crate::regularizer::Regularizer;
    use crate::residual::ResidualWorkspace;
    use crate::rng::Rng;

    /// The matrix engine and the scalar graph agree on the loss and on every gradient: one
    /// block and two, both losses, gains and biases of the norms moved off their start.
    #[test]
    fn value_residual_mlp_matches_the_matrix_engine() {
        let cases = [
            (1, Activation::Tanh, Activation::Identity, Loss::SoftmaxCrossEntropy),
            (2, Activation::Relu, Activation::Identity, Loss::SoftmaxCrossEntropy),
            (1, Activation::Elu { alpha: 1.0 }, Activation::Sigmoid, Loss::Mse),
        ];
        let mut rng = Rng::new(11);
        for (blocks, hidden, output, loss) in cases {
            let spec = ResidualSpec::new(3, 4, blocks, 3, hidden, output).unwrap();
            let mut net = ResidualMlp::new(spec.clone(), Init::Uniform { limit: 0.8 }, &mut rng);
            net.params_mut().iter_mut().for_each(|p| *p += rng.uniform_f32(-0.2, 0.2));
            let batch = 5;
            let x = Matrix::random_uniform(batch, 3, -1.0, 1.0, &mut rng);
            let classes: Vec<u32> = (0..batch).map(|i| (i % 3) as u32).collect();
            let values = Matrix::random_uniform(batch, 3, 0.0, 1.0, &mut rng);
            let targets = match loss {
                Loss::SoftmaxCrossEntropy => Targets::Classes(&classes),
                _ => Targets::Values(values.view()),
            };
            let mut ws = ResidualWorkspace::new(&spec, batch);
            let mut grads = vec![0.0f32; net.num_params()];
            let engine_loss =
                net.loss_and_gradient(x.view(), targets, loss, Regularizer::NONE, &mut ws, &mut grads).unwrap();

            let graph = ValueResidualMlp::from_net(&net);
            let x64: Vec<f64> = x.as_slice().iter().map(|&v| f64::from(v)).collect();
            let t64: Vec<f64> = match loss {
                Loss::SoftmaxCrossEntropy => classes.iter().map(|&c| f64::from(c)).collect(),
                _ => values.as_slice().iter().map(|&v| f64::from(v)).collect(),
            };
            let value_loss = graph.loss(&x64, &t64, loss).unwrap();
            value_loss.backward();
            assert!((value_loss.data() - engine_loss).abs() < 1e-5, "{spec}: {} vs {engine_loss}", value_loss.data());
            for (t, tensor) in spec.tensors().iter().enumerate() {
                for i in tensor.range.clone() {
                    let (g, e) = (graph.gradients()[i], f64::from(grads[i]));
                    assert!((g - e).abs() < 1e-5, "{spec}: {} ({t}) element {i}: graph {g}, engine {e}", tensor.name);
                }
            }
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let spec = ResidualSpec::new(3, 2, 1, 2, Activation::Tanh, Activation::Identity).unwrap();
        let graph = ValueResidualMlp::from_net(&ResidualMlp::zeros(spec));
        assert!(graph.forward(&[1.0]).is_err());
        assert!(graph.loss(&[1.0, 2.0, 3.0], &[2.0], Loss::SoftmaxCrossEntropy).is_err());
        assert!(graph.loss(&[1.0, 2.0, 3.0], &[1.0], Loss::Mse).is_err());
    }
}
