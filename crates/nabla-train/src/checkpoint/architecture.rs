//! The `architecture` metadata field of both file formats ([`ArchitectureJson`]), checked
//! before anything is allocated for it, and architectures described as people write them.

use nabla::{Activation, MlpSpec, NetworkSpec, ResidualSpec};
use serde::{Deserialize, Serialize};

/// An architecture as people write it: `784-128-10 (relu)`, with the output activation
/// added when it is not the identity: `2-2-1 (sigmoid, output sigmoid)`.
pub fn describe_architecture(spec: &MlpSpec) -> String {
    let sizes: Vec<String> = spec.sizes.iter().map(ToString::to_string).collect();
    let mut text = format!("{} ({}", sizes.join("-"), spec.hidden);
    if spec.output != Activation::Identity {
        text.push_str(&format!(", output {}", spec.output));
    }
    text.push(')');
    text
}

/// Either kind of architecture as people write it: a plain one as [`describe_architecture`]
/// does, a residual one as `64 → 3 residual blocks of 32 → 10 (relu)`.
pub fn describe_network(spec: &NetworkSpec) -> String {
    match spec {
        NetworkSpec::Plain(s) => describe_architecture(s),
        NetworkSpec::Residual(s) => {
            let mut text =
                format!("{} → {} residual blocks of {} → {} ({}", s.inputs, s.blocks, s.width, s.outputs, s.hidden);
            if s.output != Activation::Identity {
                text.push_str(&format!(", output {}", s.output));
            }
            text.push(')');
            text
        }
    }
}

/// The `architecture` metadata field: a plain net's `sizes`, or a residual net's `kind`,
/// `inputs`, `width`, `depth` and `outputs`; both with the activations.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ArchitectureJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sizes: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inputs: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    width: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    depth: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outputs: Option<usize>,
    hidden: String,
    output: String,
}

impl ArchitectureJson {
    /// The field for a plain `spec`.
    pub(crate) fn of(spec: &MlpSpec) -> Self {
        ArchitectureJson {
            kind: None,
            sizes: Some(spec.sizes.clone()),
            inputs: None,
            width: None,
            depth: None,
            outputs: None,
            hidden: spec.hidden.to_string(),
            output: spec.output.to_string(),
        }
    }

    /// The field for either kind.
    pub(crate) fn of_network(spec: &NetworkSpec) -> Self {
        match spec {
            NetworkSpec::Plain(s) => Self::of(s),
            NetworkSpec::Residual(s) => ArchitectureJson {
                kind: Some("residual".into()),
                sizes: None,
                inputs: Some(s.inputs),
                width: Some(s.width),
                depth: Some(s.blocks),
                outputs: Some(s.outputs),
                hidden: s.hidden.to_string(),
                output: s.output.to_string(),
            },
        }
    }

    /// The architecture this field describes, checked against nabla's limits and against
    /// the `file_len` bytes it must fit in (every parameter takes at least a byte), before
    /// anything is allocated for it. The error is the reason.
    pub(crate) fn spec(self, file_len: usize) -> Result<NetworkSpec, String> {
        let activation =
            |which: &str| -> Result<Activation, String> { which.parse().map_err(|e: nabla::Error| e.to_string()) };
        let (hidden, output) = (activation(&self.hidden)?, activation(&self.output)?);
        // The dense layers as a plain net's widths (a residual net's `2·depth + 1` layers of
        // W), and the layer norms' parameters, counted before anything is built or allocated.
        let (sizes, norms) = match self.kind.as_deref() {
            None => (self.sizes.clone().ok_or("neither `sizes` (a plain net) nor `kind`")?, Some(0)),
            Some("residual") => {
                let field = |v: Option<usize>, name: &str| v.ok_or(format!("a residual net without `{name}`"));
                let (inputs, width) = (field(self.inputs, "inputs")?, field(self.width, "width")?);
                let (depth, outputs) = (field(self.depth, "depth")?, field(self.outputs, "outputs")?);
                if depth > crate::config::MAX_DEPTH {
                    return Err(format!("a depth of {depth} is past nabla's limit of {}", crate::config::MAX_DEPTH));
                }
                let mut sizes = vec![inputs];
                sizes.extend(std::iter::repeat_n(width, 2 * depth + 1));
                sizes.push(outputs);
                (sizes, width.checked_mul(2 * depth + 2))
            }
            Some(other) => return Err(format!("unknown kind `{other}` (this nabla knows plain nets and `residual`)")),
        };
        let needed = sizes.windows(2).try_fold(norms.unwrap_or(usize::MAX), |total, w| {
            w[0].checked_mul(w[1]).and_then(|n| n.checked_add(w[1])).and_then(|n| total.checked_add(n))
        });
        // Every parameter takes at least a byte.
        if needed.is_none_or(|n| n > file_len) {
            return Err(format!("{sizes:?} needs more parameters than the file's {file_len} bytes hold"));
        }
        let spec = match (self.kind, self.depth) {
            (Some(_), Some(blocks)) => {
                let (inputs, width, outputs) = (sizes[0], sizes[1], sizes[sizes.len() - 1]);
                ResidualSpec::new(inputs, width, blocks, outputs, hidden, output).map_err(|e| e.to_string())?.into()
            }
            _ => MlpSpec::new(sizes, hidden, output).map_err(|e| e.to_string())?.into(),
        };
        if let Some(reason) = NetworkSpec::too_large(&spec) {
            return Err(reason);
        }
        Ok(spec)
    }
}
