//! nabla held to PyTorch's answers: `reference/torch_reference.safetensors`, written by
//! `reference/make_reference.py` with PyTorch's own layers, losses and optimisers in float64,
//! holds for small MLPs (every activation, every loss, L1 and L2) the output, the loss and
//! the gradient of every tensor, and for every optimiser 10 steps under a warm-up and cosine
//! schedule. nabla, in float32, must agree with each value to `|nabla − torch| ≤ ATOL +
//! RTOL·|torch|`; the last test shows that a 1 % change in any one value, or in any
//! optimiser's rate, weight decay or momentum, breaks that agreement.

use nabla::{Activation, Loss, MatRef, Mlp, MlpSpec, OptimizerConfig, OptimizerKind, Regularizer, Targets, Workspace};
use nabla_train::schedule::Schedule;
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

const FILE: &[u8] = include_bytes!("reference/torch_reference.safetensors");

/// Relative tolerance: float32 arithmetic against float64 truth over a few hundred
/// operations stays near 1e-6; a 1 % error is 10,000 times this.
const RTOL: f64 = 1e-4;
/// Absolute tolerance, for values near zero (a gradient that cancels).
const ATOL: f64 = 1e-6;

#[derive(Deserialize)]
struct Meta {
    sizes: Vec<usize>,
    cases: Vec<Case>,
    optimisers: Vec<OptimiserCase>,
    steps: usize,
    warmup: usize,
    batch: usize,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    hidden: String,
    output: String,
    loss: String,
    l1: f32,
    l2: f32,
}

#[derive(Deserialize, Clone)]
struct OptimiserCase {
    name: String,
    peak: f32,
    weight_decay: f32,
}

/// Whether `n` agrees with `t` (false for a NaN on either side).
fn within(n: f64, t: f64) -> bool {
    matches!(
        (n - t).abs().partial_cmp(&(ATOL + RTOL * t.abs())),
        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
    )
}

/// One value compared: what nabla computed and what PyTorch did.
struct Compared {
    name: String,
    nabla: Vec<f64>,
    torch: Vec<f64>,
}

impl Compared {
    fn new(name: impl Into<String>, nabla: impl IntoIterator<Item = f64>, torch: Vec<f64>) -> Self {
        Compared { name: name.into(), nabla: nabla.into_iter().collect(), torch }
    }

    /// The first element beyond the tolerance, as a sentence.
    fn mismatch(&self) -> Option<String> {
        if self.nabla.len() != self.torch.len() {
            return Some(format!("{}: {} values, PyTorch has {}", self.name, self.nabla.len(), self.torch.len()));
        }
        let (i, (n, t)) = self.nabla.iter().zip(&self.torch).enumerate().find(|(_, (n, t))| !within(**n, **t))?;
        Some(format!("{}[{i}]: nabla {n:e}, PyTorch {t:e} (differ by {:.2e})", self.name, (n - t).abs()))
    }
}

struct Reference {
    st: SafeTensors<'static>,
    meta: Meta,
}

impl Reference {
    fn load() -> Reference {
        let st = SafeTensors::deserialize(FILE).expect("the reference file is safetensors");
        let (_, header) = SafeTensors::read_metadata(FILE).unwrap();
        let text = header.metadata().as_ref().and_then(|m| m.get("reference")).expect("a `reference` metadata field");
        Reference { st, meta: serde_json::from_str(text).expect("the reference metadata is JSON") }
    }

    fn f64s(&self, name: &str) -> Vec<f64> {
        let view = self.st.tensor(name).unwrap_or_else(|_| panic!("no tensor {name} in the reference"));
        let width = if view.dtype() == Dtype::F64 { 8 } else { 4 };
        view.data()
            .chunks_exact(width)
            .map(|b| match view.dtype() {
                Dtype::F64 => f64::from_le_bytes(b.try_into().unwrap()),
                Dtype::F32 => f64::from(f32::from_le_bytes(b.try_into().unwrap())),
                other => panic!("{name}: unexpected dtype {other:?}"),
            })
            .collect()
    }

    fn f32s(&self, name: &str) -> Vec<f32> {
        self.f64s(name).into_iter().map(|v| v as f32).collect()
    }

    /// A network's parameters from the tensors `{prefix}.layers.L.weight|bias`, in nabla's
    /// storage order (PyTorch's names and `[out, in]` layout are nabla's).
    fn params(&self, spec: &MlpSpec, prefix: &str) -> Vec<f32> {
        spec.tensors().iter().flat_map(|t| self.f32s(&format!("{prefix}.{}", t.name))).collect()
    }

    /// Each named tensor of `values` beside PyTorch's `{prefix}.NAME`.
    fn per_tensor(&self, spec: &MlpSpec, values: &[f32], prefix: &str) -> Vec<Compared> {
        spec.tensors()
            .into_iter()
            .map(|t| {
                let name = format!("{prefix}.{}", t.name);
                Compared::new(&name, values[t.range].iter().map(|&v| f64::from(v)), self.f64s(&name))
            })
            .collect()
    }
}

fn loss_named(name: &str) -> Loss {
    match name {
        "softmax-ce" => Loss::SoftmaxCrossEntropy,
        "mse" => Loss::Mse,
        "mae" => Loss::Mae,
        "huber" => Loss::Huber,
        other => panic!("unknown loss {other}"),
    }
}

fn spec(meta: &Meta, hidden: &str, output: &str) -> MlpSpec {
    let act = |s: &str| s.parse::<Activation>().unwrap();
    MlpSpec::new(meta.sizes.clone(), act(hidden), act(output)).unwrap()
}

/// `rows` of `x` (row-major, `cols` wide) and their targets, as the loss takes them.
fn with_targets<R>(loss: Loss, targets: &[f32], outputs: usize, f: impl FnOnce(Targets<'_>) -> R) -> R {
    match loss {
        Loss::SoftmaxCrossEntropy => {
            let classes: Vec<u32> = targets.iter().map(|&c| c as u32).collect();
            f(Targets::Classes(&classes))
        }
        _ => f(Targets::Values(MatRef::new(targets, targets.len() / outputs, outputs).unwrap())),
    }
}

/// A gradient case: the output, the loss and every gradient, nabla beside PyTorch.
fn gradient_case(r: &Reference, case: &Case) -> Vec<Compared> {
    let spec = spec(&r.meta, &case.hidden, &case.output);
    let mlp = Mlp::from_params(spec.clone(), r.params(&spec, &format!("{}.init", case.name))).unwrap();
    let x = r.f32s(&format!("{}.x", case.name));
    let rows = x.len() / spec.inputs();
    let x = MatRef::new(&x, rows, spec.inputs()).unwrap();
    let loss = loss_named(&case.loss);
    let mut ws = Workspace::new(&spec, rows);
    let output = mlp.forward(x, &mut ws).unwrap().as_slice().to_vec();
    let mut grads = vec![0.0; mlp.num_params()];
    let reg = Regularizer { l1: case.l1, l2: case.l2 };
    let targets = r.f32s(&format!("{}.targets", case.name));
    let value = with_targets(loss, &targets, spec.outputs(), |t| {
        mlp.loss_and_gradient(x, t, loss, reg, &mut ws, &mut grads).unwrap()
    });
    let mut out = vec![
        Compared::new(
            format!("{}.output", case.name),
            output.iter().map(|&v| f64::from(v)),
            r.f64s(&format!("{}.output", case.name)),
        ),
        Compared::new(format!("{}.loss", case.name), [value], r.f64s(&format!("{}.loss", case.name))),
    ];
    out.extend(r.per_tensor(&spec, &grads, &format!("{}.grad", case.name)));
    out
}

fn kind_named(name: &str) -> OptimizerKind {
    name.parse().unwrap()
}

/// An optimiser case: the loss before each step, each step's rate and the final weights,
/// nabla beside PyTorch. `tweak` changes the optimiser's settings (for the 1 % test).
fn optimiser_case(r: &Reference, o: &OptimiserCase, tweak: impl Fn(&mut OptimizerConfig, &mut f32)) -> Vec<Compared> {
    let spec = spec(&r.meta, "tanh", "identity");
    let mut mlp = Mlp::from_params(spec.clone(), r.params(&spec, "opt.init")).unwrap();
    let mut config =
        OptimizerConfig { kind: kind_named(&o.name), weight_decay: o.weight_decay, ..OptimizerConfig::default() };
    let mut peak = o.peak;
    tweak(&mut config, &mut peak);
    let mut opt = config.build(mlp.num_params());
    let (x, labels) = (r.f32s("opt.x"), r.f32s("opt.targets"));
    let (batch, inputs, all) = (r.meta.batch, spec.inputs(), labels.len());
    let mut ws = Workspace::new(&spec, batch);
    let mut grads = vec![0.0; mlp.num_params()];
    let (mut losses, mut rates) = (Vec::new(), Vec::new());
    let steps = r.meta.steps as u64;
    for step in 0..r.meta.steps {
        let start = (step * batch) % all;
        let xs = MatRef::new(&x[start * inputs..(start + batch) * inputs], batch, inputs).unwrap();
        let classes: Vec<u32> = labels[start..start + batch].iter().map(|&c| c as u32).collect();
        let loss = mlp
            .loss_and_gradient(
                xs,
                Targets::Classes(&classes),
                Loss::SoftmaxCrossEntropy,
                Regularizer::NONE,
                &mut ws,
                &mut grads,
            )
            .unwrap();
        let lr = Schedule::Cosine.lr(peak, step as u64, steps, r.meta.warmup as u64);
        opt.step(mlp.params_mut(), &grads, lr);
        losses.push(loss);
        rates.push(f64::from(lr));
    }
    let prefix = format!("opt.{}", o.name);
    let mut out = vec![
        Compared::new(format!("{prefix}.lr"), rates, r.f64s(&format!("{prefix}.lr"))),
        Compared::new(format!("{prefix}.losses"), losses, r.f64s(&format!("{prefix}.losses"))),
    ];
    out.extend(r.per_tensor(&spec, mlp.params(), &format!("{prefix}.final")));
    out
}

fn failures(compared: &[Compared]) -> Vec<String> {
    compared.iter().filter_map(Compared::mismatch).collect()
}

#[test]
fn every_output_loss_and_gradient_matches_pytorch() {
    let r = Reference::load();
    assert_eq!(r.meta.cases.len(), 10, "the cases make_reference.py writes");
    let mut compared = Vec::new();
    for case in &r.meta.cases {
        compared.extend(gradient_case(&r, case));
    }
    // Every case: output, loss, and the six tensors' gradients.
    assert_eq!(compared.len(), r.meta.cases.len() * 8);
    let bad = failures(&compared);
    assert!(bad.is_empty(), "{} of {} values differ from PyTorch:\n{}", bad.len(), compared.len(), bad.join("\n"));
}

#[test]
fn every_optimiser_matches_pytorch_over_ten_scheduled_steps() {
    let r = Reference::load();
    let names: Vec<&str> = r.meta.optimisers.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["sgd", "momentum", "nesterov", "adam", "adamw"]);
    let mut compared = Vec::new();
    for o in &r.meta.optimisers {
        compared.extend(optimiser_case(&r, o, |_, _| {}));
    }
    let bad = failures(&compared);
    assert!(bad.is_empty(), "{} of {} values differ from PyTorch:\n{}", bad.len(), compared.len(), bad.join("\n"));
}

/// The tolerance is tight enough to matter: each value nabla computes, made 1 % larger, no
/// longer agrees; nor does any optimiser whose rate, weight decay, momentum or β₁ is 1 % off.
#[test]
fn a_one_percent_change_in_any_value_or_optimiser_setting_is_caught() {
    let r = Reference::load();
    let mut all = Vec::new();
    for case in &r.meta.cases {
        all.extend(gradient_case(&r, case));
    }
    for o in &r.meta.optimisers {
        all.extend(optimiser_case(&r, o, |_, _| {}));
    }
    for c in &all {
        let off = Compared::new(&c.name, c.nabla.iter().map(|v| v * 1.01), c.torch.clone());
        assert!(off.mismatch().is_some(), "{} made 1 % larger still agrees with PyTorch", c.name);
    }

    type Tweak = fn(&mut OptimizerConfig, &mut f32);
    // (β₂ is left out: over ten bias-corrected steps v̂ barely depends on it.)
    let tweaks: [(&str, Tweak); 4] = [
        ("peak rate", |_, peak| *peak *= 1.01),
        ("weight decay", |c, _| c.weight_decay *= 1.01),
        ("momentum", |c, _| c.momentum *= 1.01),
        ("beta1", |c, _| c.beta1 *= 1.01),
    ];
    for o in &r.meta.optimisers {
        for (what, tweak) in tweaks {
            let uses = match what {
                "weight decay" => o.weight_decay > 0.0,
                "momentum" => matches!(o.name.as_str(), "momentum" | "nesterov"),
                "beta1" => o.name.starts_with("adam"),
                _ => true,
            };
            if uses {
                let bad = failures(&optimiser_case(&r, o, tweak));
                assert!(!bad.is_empty(), "{} with its {what} 1 % off still agrees with PyTorch", o.name);
            }
        }
    }
}
