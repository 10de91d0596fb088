//! The fully connected (dense) layer: `z = x · Wᵀ + b`.
//!
//! Shapes: `x: [batch, in]`, `W: [out, in]` (PyTorch's `nn.Linear` layout), `b: [out]`,
//! `z: [batch, out]`. A layer's parameters are one slice `[W row by row | b]`, a window of
//! the model's single parameter vector; its gradients are the same window of the gradient
//! vector.

use crate::error::{shape_error, Error, Result};
use crate::gemm::{gemm, gemm_by_depth, Transpose};
use crate::matrix::{MatMut, MatRef};

/// The sizes of a dense layer; its numbers live in a parameter slice the caller owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dense {
    /// Input features (`in`).
    pub inputs: usize,
    /// Output features (`out`).
    pub outputs: usize,
}

impl Dense {
    /// A layer from `inputs` to `outputs` features.
    pub fn new(inputs: usize, outputs: usize) -> Self {
        Self { inputs, outputs }
    }

    /// Number of parameters: `out·in` weights and `out` biases.
    pub fn param_count(&self) -> usize {
        self.outputs * self.inputs + self.outputs
    }

    /// The weight `[out, in]` and bias `[out]` parts of this layer's parameter slice.
    pub fn split<'a>(&self, params: &'a [f32]) -> (MatRef<'a>, &'a [f32]) {
        let (w, b) = params.split_at(self.outputs * self.inputs);
        (MatRef::new(w, self.outputs, self.inputs).expect("layer slice has the layer's size"), &b[..self.outputs])
    }

    fn check(&self, params: usize, x: (usize, usize), out: (usize, usize), op: &'static str) -> Result<()> {
        if params != self.param_count() {
            return Err(Error::Length { what: "dense layer parameters", expected: self.param_count(), got: params });
        }
        if x.1 != self.inputs {
            return Err(Error::Shape {
                op,
                left: format!("input {}×{}", x.0, x.1),
                right: format!("layer {}→{}", self.inputs, self.outputs),
            });
        }
        if out != (x.0, self.outputs) {
            return Err(shape_error(op, (x.0, self.outputs), out));
        }
        Ok(())
    }

    /// `z = x · Wᵀ + b`. `x: [batch, in] -> z: [batch, out]`.
    pub fn forward(&self, params: &[f32], x: MatRef<'_>, mut z: MatMut<'_>) -> Result<()> {
        self.check(params.len(), x.shape(), z.shape(), "dense forward")?;
        let (w, b) = self.split(params);
        // Start every row of z at the bias, then accumulate x·Wᵀ onto it (beta = 1).
        for i in 0..z.rows() {
            z.row_mut(i).copy_from_slice(b);
        }
        gemm(1.0, x, Transpose::No, w, Transpose::Yes, 1.0, z)
    }

    /// The backward pass. Given the input `x: [batch, in]` of the forward pass and
    /// `dz = dL/dz: [batch, out]`, writes
    /// - `dparams` (overwritten, the layer's window of the gradient vector):
    ///   `dW = dzᵀ · x` (`[out, in]`) and `db = Σ_batch dz` (`[out]`);
    /// - `dx = dz · W` (`[batch, in]`) when asked for (the first layer does not need it).
    pub fn backward(
        &self,
        params: &[f32],
        x: MatRef<'_>,
        dz: MatRef<'_>,
        dparams: &mut [f32],
        dx: Option<MatMut<'_>>,
    ) -> Result<()> {
        self.check(params.len(), x.shape(), dz.shape(), "dense backward")?;
        if dparams.len() != params.len() {
            return Err(Error::Length { what: "dense layer gradients", expected: params.len(), got: dparams.len() });
        }
        let (w, _) = self.split(params);
        let (dw, db) = dparams.split_at_mut(self.outputs * self.inputs);
        // dW[o, i] = Σ_n dz[n, o] · x[n, i]: dz is read transposed, no copy made.
        gemm(1.0, dz, Transpose::Yes, x, Transpose::No, 0.0, MatMut::new(dw, self.outputs, self.inputs)?)?;
        db.fill(0.0);
        for n in 0..dz.rows() {
            for (d, &g) in db.iter_mut().zip(dz.row(n)) {
                *d += g;
            }
        }
        if let Some(dx) = dx {
            if dx.shape() != x.shape() {
                return Err(shape_error("dense backward dx", x.shape(), dx.shape()));
            }
            // Split between threads along the outputs, as `Mlp`'s `da` is (gemm/depth.rs).
            gemm_by_depth(1.0, dz, Transpose::No, w, Transpose::No, 0.0, dx)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Matrix;

    /// A 2 → 2 layer worked by hand.
    #[test]
    fn forward_and_backward_by_hand() {
        let layer = Dense::new(2, 2);
        // W = [[1, 2], [3, 4]], b = [0.5, -1]
        let params = [1.0, 2.0, 3.0, 4.0, 0.5, -1.0];
        let x = Matrix::from_rows(&[[1.0, 1.0], [2.0, 0.0]]);
        let mut z = Matrix::zeros(2, 2);
        layer.forward(&params, x.view(), z.view_mut()).unwrap();
        assert_eq!(z.as_slice(), &[3.5, 6.0, 2.5, 5.0]);

        let dz = Matrix::from_rows(&[[1.0, 0.0], [0.0, 1.0]]);
        let mut dparams = [9.0; 6];
        let mut dx = Matrix::zeros(2, 2);
        layer.backward(&params, x.view(), dz.view(), &mut dparams, Some(dx.view_mut())).unwrap();
        // dW = dzᵀ·x = [[1, 1], [2, 0]], db = [1, 1], dx = dz·W = [[1, 2], [3, 4]]
        assert_eq!(dparams, [1.0, 1.0, 2.0, 0.0, 1.0, 1.0]);
        assert_eq!(dx.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let layer = Dense::new(3, 2);
        let params = [0.0; 8];
        let x = Matrix::zeros(4, 2);
        let mut z = Matrix::zeros(4, 2);
        let err = layer.forward(&params, x.view(), z.view_mut()).unwrap_err().to_string();
        assert_eq!(err, "shape mismatch in dense forward: input 4×2 vs layer 3→2");
        assert!(layer.forward(&[0.0; 7], Matrix::zeros(4, 3).view(), z.view_mut()).is_err());
    }
}
