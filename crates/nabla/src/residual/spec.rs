//! The architecture of a residual MLP ([`ResidualSpec`]: input width, stream width, number of
//! blocks, output width, activations) and the layout of its parameter vector ([`Layout`], and
//! the PyTorch-style names of [`ResidualSpec::tensors`]).

use std::fmt;
use std::ops::Range;

use crate::activation::Activation;
use crate::dense::Dense;
use crate::error::{Error, Result};
use crate::layernorm::LayerNorm;
use crate::mlp::TensorInfo;

/// A residual MLP: an input projection onto a stream of `width` features, `blocks` pre-norm
/// residual blocks on that stream, a final layer normalisation and the output layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ResidualSpec {
    /// Input features (`n_0`).
    pub inputs: usize,
    /// Width of the stream and of every block's hidden layer (`W`).
    pub width: usize,
    /// Number of residual blocks, each with one hidden layer: the network's depth.
    pub blocks: usize,
    /// Output features.
    pub outputs: usize,
    /// The activation `g` of every block's hidden layer.
    pub hidden: Activation,
    /// The activation after the output layer (identity for a softmax classifier).
    pub output: Activation,
}

/// Where one block's tensors live in the parameter vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockLayout {
    /// `[γ | β]` of the block's layer normalisation.
    pub norm: Range<usize>,
    /// `[W₁ | b₁]`, the hidden layer.
    pub fc1: Range<usize>,
    /// `[W₂ | b₂]`, the projection back onto the stream.
    pub fc2: Range<usize>,
}

/// Where every part of a residual MLP lives in its single parameter vector, in storage order:
/// the input projection, the blocks, the final normalisation, the output layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `[W_in | b_in]`.
    pub input: Range<usize>,
    /// Each block's parts.
    pub blocks: Vec<BlockLayout>,
    /// `[γ | β]` of the final layer normalisation.
    pub norm: Range<usize>,
    /// `[W_out | b_out]`.
    pub output: Range<usize>,
}

impl Layout {
    /// The ranges of every dense layer's `[W | b]`, in storage order, with its sizes.
    pub fn dense_layers<'a>(&'a self, spec: &ResidualSpec) -> impl Iterator<Item = (Dense, Range<usize>)> + 'a {
        let (input, fc, output) = (spec.input_layer(), spec.block_layer(), spec.output_layer());
        std::iter::once((input, self.input.clone()))
            .chain(self.blocks.iter().flat_map(move |b| [(fc, b.fc1.clone()), (fc, b.fc2.clone())]))
            .chain(std::iter::once((output, self.output.clone())))
    }
}

impl ResidualSpec {
    /// A spec; every width must be > 0 (zero blocks is allowed: input, norm, output).
    pub fn new(
        inputs: usize,
        width: usize,
        blocks: usize,
        outputs: usize,
        hidden: Activation,
        output: Activation,
    ) -> Result<Self> {
        if inputs == 0 || width == 0 || outputs == 0 {
            return Err(Error::Invalid {
                name: "residual MLP widths",
                value: format!("inputs {inputs}, width {width}, outputs {outputs}"),
                reason: "every width must be > 0".into(),
            });
        }
        Ok(Self { inputs, width, blocks, outputs, hidden, output })
    }

    /// The input projection, `n_0 → W`.
    pub fn input_layer(&self) -> Dense {
        Dense::new(self.inputs, self.width)
    }

    /// A block's dense layers (`fc1` and `fc2`), both `W → W`.
    pub fn block_layer(&self) -> Dense {
        Dense::new(self.width, self.width)
    }

    /// The output layer, `W → outputs`.
    pub fn output_layer(&self) -> Dense {
        Dense::new(self.width, self.outputs)
    }

    /// Every layer normalisation (the blocks' and the final one), over `W` features.
    pub fn norm(&self) -> LayerNorm {
        LayerNorm::new(self.width)
    }

    /// Where each part lives in the parameter vector.
    pub fn layout(&self) -> Layout {
        let mut offset = 0;
        let mut take = |n: usize| {
            offset += n;
            offset - n..offset
        };
        let input = take(self.input_layer().param_count());
        let blocks = (0..self.blocks)
            .map(|_| BlockLayout {
                norm: take(self.norm().param_count()),
                fc1: take(self.block_layer().param_count()),
                fc2: take(self.block_layer().param_count()),
            })
            .collect();
        let norm = take(self.norm().param_count());
        let output = take(self.output_layer().param_count());
        Layout { input, blocks, norm, output }
    }

    /// Total number of parameters.
    pub fn param_count(&self) -> usize {
        self.layout().output.end
    }

    /// The named tensors of the parameter vector, in storage order: `input.weight`,
    /// `input.bias`, then `blocks.{i}.norm.weight`, `.norm.bias`, `.fc1.weight`, `.fc1.bias`,
    /// `.fc2.weight`, `.fc2.bias` for every block, `norm.weight`, `norm.bias`, `output.weight`,
    /// `output.bias` — the names of a PyTorch module with attributes `input`, `blocks` (an
    /// `nn.ModuleList` of modules with `norm`, `fc1`, `fc2`), `norm` and `output`.
    pub fn tensors(&self) -> Vec<TensorInfo> {
        let layout = self.layout();
        let mut out = Vec::with_capacity(6 * self.blocks + 6);
        push_pair(&mut out, "input", &layout.input, vec![self.width, self.inputs], self.width);
        let (fc, w) = (vec![self.width, self.width], self.width);
        for (i, b) in layout.blocks.iter().enumerate() {
            push_pair(&mut out, &format!("blocks.{i}.norm"), &b.norm, vec![w], w);
            push_pair(&mut out, &format!("blocks.{i}.fc1"), &b.fc1, fc.clone(), w);
            push_pair(&mut out, &format!("blocks.{i}.fc2"), &b.fc2, fc.clone(), w);
        }
        push_pair(&mut out, "norm", &layout.norm, vec![w], w);
        push_pair(&mut out, "output", &layout.output, vec![self.outputs, w], self.outputs);
        out
    }
}

/// `{name}.weight` of shape `shape` at the start of `range`, then `{name}.bias` (`[bias]`)
/// filling the rest of it: a dense layer's `[W | b]` or a layer norm's `[γ | β]`.
fn push_pair(out: &mut Vec<TensorInfo>, name: &str, range: &Range<usize>, shape: Vec<usize>, bias: usize) {
    let split = range.end - bias;
    out.push(TensorInfo { name: format!("{name}.weight"), shape, range: range.start..split });
    out.push(TensorInfo { name: format!("{name}.bias"), shape: vec![bias], range: split..range.end });
}

/// `784 → 20 × [norm, 64-relu-64] → norm → 10 identity`.
impl fmt::Display for ResidualSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (w, g) = (self.width, self.hidden);
        write!(
            f,
            "{} → {w} → {} × [norm, {w}-{g}-{w}, +skip] → norm → {} {}",
            self.inputs, self.blocks, self.outputs, self.output
        )
    }
}
