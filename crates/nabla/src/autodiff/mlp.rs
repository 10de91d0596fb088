//! A multi-layer perceptron made of scalar [`Value`]s, neuron by neuron, as micrograd builds
//! it. It is slow (one graph node per multiply) and exists to be obviously right: the test
//! below runs it beside the matrix engine's [`Mlp`] on the same weights and inputs and
//! demands the same loss and the same gradient for every parameter.

use super::Value;
use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::mlp::{Mlp, MlpSpec};

/// An MLP whose every weight and bias is a [`Value`], in the matrix engine's layout
/// (`layers.{l}.weight [out, in]` row by row, then `layers.{l}.bias [out]`, layer by layer).
#[derive(Debug, Clone)]
pub struct ValueMlp {
    spec: MlpSpec,
    params: Vec<Value>,
}

impl ValueMlp {
    /// The same network as `mlp`, its `f32` parameters widened to `f64`.
    pub fn from_mlp(mlp: &Mlp) -> Self {
        let params = mlp.params().iter().map(|&p| Value::new(f64::from(p))).collect();
        Self { spec: mlp.spec().clone(), params }
    }

    /// The parameters, in the engine's layout.
    pub fn params(&self) -> &[Value] {
        &self.params
    }

    /// `∂loss/∂θ` for every parameter after `loss.backward()`, in the engine's layout.
    pub fn gradients(&self) -> Vec<f64> {
        self.params.iter().map(Value::grad).collect()
    }

    /// One example through the network: `x: [n_0] -> [n_L]`. Neuron `j` of layer `l`
    /// computes `f_l(Σ_i W[j, i]·a[i] + b[j])`.
    pub fn forward(&self, x: &[f64]) -> Result<Vec<Value>> {
        if x.len() != self.spec.inputs() {
            return Err(Error::Length { what: "value MLP input", expected: self.spec.inputs(), got: x.len() });
        }
        let mut a: Vec<Value> = x.iter().map(|&v| Value::new(v)).collect();
        let mut offset = 0;
        for (l, layer) in self.spec.layers().enumerate() {
            let (n_in, n_out) = (layer.inputs, layer.outputs);
            let weights = &self.params[offset..offset + n_out * n_in];
            let biases = &self.params[offset + n_out * n_in..offset + n_out * (n_in + 1)];
            offset += n_out * (n_in + 1);
            let activation = self.spec.activation(l);
            a = dense(weights, biases, &a).iter().map(|z| activate(z, activation)).collect();
        }
        Ok(a)
    }

    /// The mean loss over a batch, as one [`Value`] to call `backward` on. `x` holds the
    /// examples row by row (`[batch, n_0]`); `targets` one value per output per example
    /// (MSE) or one class per example (softmax cross-entropy), as the engine's losses.
    pub fn loss(&self, x: &[f64], targets: &[f64], loss: Loss) -> Result<Value> {
        let (n_in, n_out) = (self.spec.inputs(), self.spec.outputs());
        let batch = x.len() / n_in;
        let per_example = if loss == Loss::SoftmaxCrossEntropy { 1 } else { n_out };
        if x.len() != batch * n_in || targets.len() != batch * per_example {
            return Err(Error::Length { what: "value MLP targets", expected: batch * per_example, got: targets.len() });
        }
        let mut terms = Vec::with_capacity(batch);
        for (row, t) in x.chunks(n_in).zip(targets.chunks(per_example)) {
            terms.push(example_loss(&self.forward(row)?, t, loss)?);
        }
        Ok(Value::sum(&terms).div(&Value::new(batch.max(1) as f64)))
    }
}

/// One example's loss, as the engine's losses define it: `y` the network's outputs, `t` the
/// targets (one per output) or the class (one value).
pub(super) fn example_loss(y: &[Value], t: &[f64], loss: Loss) -> Result<Value> {
    let n_out = y.len();
    Ok(match loss {
        // ½ Σ (y − t)²
        Loss::Mse => {
            let squares: Vec<Value> = y.iter().zip(t).map(|(y, &t)| y.sub(&Value::new(t)).powf(2.0)).collect();
            Value::sum(&squares).mul(&Value::new(0.5))
        }
        // Σ |y − t|, with |d| = max(d, −d).
        Loss::Mae => {
            let absolute: Vec<Value> = y.iter().zip(t).map(|(y, &t)| abs(&y.sub(&Value::new(t)))).collect();
            Value::sum(&absolute)
        }
        // Σ ½d² where |d| ≤ 1, else |d| − ½: the graph records the branch each d takes.
        Loss::Huber => {
            let terms: Vec<Value> = y
                .iter()
                .zip(t)
                .map(|(y, &t)| {
                    let d = y.sub(&Value::new(t));
                    if d.data().abs() <= 1.0 {
                        d.powf(2.0).mul(&Value::new(0.5))
                    } else {
                        abs(&d).sub(&Value::new(0.5))
                    }
                })
                .collect();
            Value::sum(&terms)
        }
        // −ln softmax(y)_label = ln Σ e^(y_k − m) + m − y_label, with m the row maximum
        // taken as a constant (softmax does not depend on it) so no exponent overflows.
        Loss::SoftmaxCrossEntropy => {
            let label = t[0] as usize;
            if t[0] < 0.0 || label >= n_out || t[0].fract() != 0.0 {
                return Err(Error::Invalid {
                    name: "label",
                    value: t[0].to_string(),
                    reason: format!("the output has {n_out} classes"),
                });
            }
            let m = Value::new(y.iter().map(Value::data).fold(f64::NEG_INFINITY, f64::max));
            let exps: Vec<Value> = y.iter().map(|v| v.sub(&m).exp()).collect();
            Value::sum(&exps).log().add(&m).sub(&y[label])
        }
    })
}

/// One dense layer, neuron by neuron: `z_j = Σ_i W[j, i]·a[i] + b[j]`, with `weights`
/// `[out, in]` row by row and `biases` `[out]`.
pub(super) fn dense(weights: &[Value], biases: &[Value], a: &[Value]) -> Vec<Value> {
    let n_in = a.len();
    (0..biases.len())
        .map(|j| {
            let mut terms: Vec<Value> = weights[j * n_in..(j + 1) * n_in].iter().zip(a).map(|(w, x)| w * x).collect();
            terms.push(biases[j].clone());
            Value::sum(&terms)
        })
        .collect()
}

/// `|d|` as `max(d, −d)`.
fn abs(d: &Value) -> Value {
    d.max(&d.neg())
}

/// `f(z)` for one value, from the same list as the engine's [`Activation`].
pub fn activate(z: &Value, f: Activation) -> Value {
    match f {
        Activation::Identity => z.clone(),
        Activation::Sigmoid => z.sigmoid(),
        Activation::Tanh => z.tanh(),
        Activation::Relu => z.relu(),
        // Branch on the sign, as the engine does; the graph records only the branch taken.
        Activation::LeakyRelu { alpha } => {
            if z.data() > 0.0 {
                z.clone()
            } else {
                z.mul(&Value::new(f64::from(alpha)))
            }
        }
        Activation::Elu { alpha } => {
            if z.data() > 0.0 {
                z.clone()
            } else {
                z.exp().sub(&Value::new(1.0)).mul(&Value::new(f64::from(alpha)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Init;
    use crate::loss::Targets;
    use crate::matrix::MatRef;
    use crate::mlp::Workspace;
    use crate::regularizer::Regularizer;
    use crate::rng::Rng;

    /// The matrix engine and the scalar graph agree on the loss and on every gradient, for
    /// several architectures, activations and both losses.
    #[test]
    fn value_mlp_matches_the_matrix_engine() {
        let cases = [
            ("4-5-3", Activation::Relu, Activation::Identity, Loss::SoftmaxCrossEntropy),
            ("3-4-4-2", Activation::Tanh, Activation::Identity, Loss::SoftmaxCrossEntropy),
            ("2-3-1", Activation::Sigmoid, Activation::Tanh, Loss::Mse),
            ("3-6-2", Activation::LeakyRelu { alpha: 0.1 }, Activation::Sigmoid, Loss::Mse),
            ("2-4-3", Activation::Elu { alpha: 1.0 }, Activation::Identity, Loss::SoftmaxCrossEntropy),
            ("3-5-2", Activation::Tanh, Activation::Identity, Loss::Mae),
            ("3-4-3", Activation::Relu, Activation::Identity, Loss::Huber),
        ];
        let mut rng = Rng::new(7);
        for (arch, hidden, output, loss) in cases {
            let spec = MlpSpec::parse(arch, hidden, output).unwrap();
            let mlp = Mlp::new(spec.clone(), Init::Uniform { limit: 0.8 }, &mut rng);
            let batch = 5;
            let x: Vec<f32> = (0..batch * spec.inputs()).map(|_| rng.next_f64() as f32 * 2.0 - 1.0).collect();
            let (classes, values): (Vec<u32>, Vec<f32>) = (
                (0..batch).map(|i| (i % spec.outputs()) as u32).collect(),
                (0..batch * spec.outputs()).map(|_| rng.next_f64() as f32).collect(),
            );
            let targets = match loss {
                Loss::Mse | Loss::Mae | Loss::Huber => {
                    Targets::Values(MatRef::new(&values, batch, spec.outputs()).unwrap())
                }
                Loss::SoftmaxCrossEntropy => Targets::Classes(&classes),
            };
            let mut ws = Workspace::new(&spec, batch);
            let mut grads = vec![0.0f32; mlp.num_params()];
            let xm = MatRef::new(&x, batch, spec.inputs()).unwrap();
            let engine_loss =
                mlp.loss_and_gradient(xm, targets, loss, Regularizer::default(), &mut ws, &mut grads).unwrap();

            let vmlp = ValueMlp::from_mlp(&mlp);
            let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            let t64: Vec<f64> = match loss {
                Loss::Mse | Loss::Mae | Loss::Huber => values.iter().map(|&v| f64::from(v)).collect(),
                Loss::SoftmaxCrossEntropy => classes.iter().map(|&c| f64::from(c)).collect(),
            };
            let value_loss = vmlp.loss(&x64, &t64, loss).unwrap();
            value_loss.backward();
            assert!(
                (value_loss.data() - engine_loss).abs() < 1e-5,
                "{arch}: loss {} vs {engine_loss}",
                value_loss.data()
            );
            for (i, (g, e)) in vmlp.gradients().iter().zip(&grads).enumerate() {
                assert!((g - f64::from(*e)).abs() < 1e-5, "{arch} parameter {i}: value graph {g}, engine {e}");
            }
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let spec = MlpSpec::parse("3-2", Activation::Tanh, Activation::Identity).unwrap();
        let vmlp = ValueMlp::from_mlp(&Mlp::zeros(spec));
        assert!(vmlp.forward(&[1.0]).is_err());
        assert!(vmlp.loss(&[1.0, 2.0, 3.0], &[2.0], Loss::SoftmaxCrossEntropy).is_err());
        assert!(vmlp.loss(&[1.0, 2.0, 3.0], &[1.0], Loss::Mse).is_err());
    }
}
