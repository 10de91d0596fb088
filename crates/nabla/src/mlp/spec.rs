//! The architecture of a multi-layer perceptron ([`MlpSpec`]: layer widths and activations)
//! and the layout of its parameter vector ([`TensorInfo`]: PyTorch-style names, shapes and
//! ranges).

use std::fmt;
use std::ops::Range;

use crate::activation::Activation;
use crate::dense::Dense;
use crate::error::{Error, Result};

/// The architecture: layer widths and activations.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpSpec {
    /// Widths from input to output, e.g. `[784, 128, 10]`.
    pub sizes: Vec<usize>,
    /// Activation after every hidden layer.
    pub hidden: Activation,
    /// Activation after the output layer (identity for a softmax classifier).
    pub output: Activation,
}

impl MlpSpec {
    /// Parses widths written as `784-128-10` (commas also accepted).
    pub fn parse(layers: &str, hidden: Activation, output: Activation) -> Result<Self> {
        let err = |reason: String| Error::Parse { what: "architecture", input: layers.to_string(), reason };
        let sizes = layers
            .split(['-', ','])
            .map(|s| match s.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(err(format!("`{s}` is not a layer width (a whole number > 0)"))),
            })
            .collect::<Result<Vec<_>>>()?;
        Self::new(sizes, hidden, output).map_err(|e| match e {
            Error::Invalid { reason, .. } => err(reason),
            other => other,
        })
    }

    /// A spec from widths; needs at least an input and an output width, all > 0.
    pub fn new(sizes: Vec<usize>, hidden: Activation, output: Activation) -> Result<Self> {
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(Error::Invalid {
                name: "layer sizes",
                value: format!("{sizes:?}"),
                reason: "need at least an input and an output width, each > 0".into(),
            });
        }
        if let Some(reason) = crate::limits::network_too_large(&sizes) {
            return Err(Error::Invalid { name: "layer sizes", value: format!("{sizes:?}"), reason });
        }
        Ok(Self { sizes, hidden, output })
    }

    /// A deep plain net: `depth` hidden layers of `width` units, `inputs-W-W-…-W-outputs`
    /// (the same spec as `--hidden W-W-…-W`; its residual sibling is
    /// [`ResidualSpec`](crate::ResidualSpec) with `depth` blocks).
    pub fn deep(
        inputs: usize,
        depth: usize,
        width: usize,
        outputs: usize,
        hidden: Activation,
        output: Activation,
    ) -> Result<Self> {
        let mut sizes = vec![inputs];
        sizes.extend(std::iter::repeat_n(width, depth));
        sizes.push(outputs);
        Self::new(sizes, hidden, output)
    }

    /// The dense layers, input to output.
    pub fn layers(&self) -> impl Iterator<Item = Dense> + '_ {
        self.sizes.windows(2).map(|w| Dense::new(w[0], w[1]))
    }

    /// Number of dense layers.
    pub fn depth(&self) -> usize {
        self.sizes.len() - 1
    }

    /// The activation after layer `l`.
    pub fn activation(&self, l: usize) -> Activation {
        if l + 1 == self.depth() {
            self.output
        } else {
            self.hidden
        }
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.sizes[0]
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// Total number of parameters.
    pub fn param_count(&self) -> usize {
        self.layers().map(|d| d.param_count()).sum()
    }

    /// The named tensors of the parameter vector, in storage order.
    pub fn tensors(&self) -> Vec<TensorInfo> {
        let mut out = Vec::with_capacity(2 * self.depth());
        let mut offset = 0;
        for (l, d) in self.layers().enumerate() {
            let w = d.outputs * d.inputs;
            out.push(TensorInfo {
                name: format!("layers.{l}.weight"),
                shape: vec![d.outputs, d.inputs],
                range: offset..offset + w,
            });
            offset += w;
            out.push(TensorInfo {
                name: format!("layers.{l}.bias"),
                shape: vec![d.outputs],
                range: offset..offset + d.outputs,
            });
            offset += d.outputs;
        }
        out
    }
}

/// `784-128-10 (relu, identity)`.
impl fmt::Display for MlpSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sizes: Vec<String> = self.sizes.iter().map(ToString::to_string).collect();
        if self.depth() == 1 {
            // No hidden layer: the hidden activation is never applied, so it is not named.
            return write!(f, "{} (no hidden layer, {} output)", sizes.join("-"), self.output);
        }
        write!(f, "{} ({} hidden, {} output)", sizes.join("-"), self.hidden, self.output)
    }
}

/// One named tensor inside the parameter vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// PyTorch-style name, `layers.0.weight`.
    pub name: String,
    /// Shape, `[out, in]` for weights and `[out]` for biases.
    pub shape: Vec<usize>,
    /// Where it lives in the parameter vector.
    pub range: Range<usize>,
}
