//! One optimiser step as an element-wise rule with its coefficients fixed, applied range by
//! range: over the whole model in one pass ([`StepRule::apply_all`], what
//! [`super::Optimizer::step`] does), or to a layer's weights a row panel at a time as the
//! product that computes their gradient finishes each panel ([`WeightUpdate`], a
//! [`RowSink`]), so that the gradient is never stored. Every parameter sees the same
//! arithmetic either way: the same bits.

use crate::gemm::fast::sink::RowSink;
use crate::pool::{for_dealt_ranges, SharedMut};
use crate::widest_simd;

/// Values per range of a whole-model step (64 KiB of each buffer), dealt out to the threads
/// in turn. The step follows the backward pass, which wrote the first layer's gradients
/// last: in contiguous halves one thread found its part in cache and waited for the other
/// (W3's Adam at two threads on Zen 4: halves of 1.06 and 1.65 ms a step; dealt, about
/// 1.1 ms each).
const STEP_CHUNK: usize = 1 << 14;

/// One step of an optimiser, from [`super::Optimizer::begin_step`]: its coefficients (the
/// learning rate, Adam's bias corrections, whether momentum starts) and its state buffers,
/// borrowed. The step is the rule applied once to every parameter, in any order, on any
/// threads.
pub struct StepRule<'a> {
    rule: Rule,
    /// The velocity (momentum), or Adam's first moment.
    first: Option<SharedMut<'a, f32>>,
    /// Adam's second moment.
    second: Option<SharedMut<'a, f32>>,
    /// Parameters of the model (the state's length); `None` for a rule without state, which
    /// takes any.
    len: Option<usize>,
}

/// The element-wise update and its coefficients.
#[derive(Clone, Copy)]
pub(super) enum Rule {
    /// `θ ← θ − lr·(g + wd·θ)`.
    Sgd { lr: f32, wd: f32 },
    /// Momentum or Nesterov; `first` starts the velocity at the gradient, as PyTorch does.
    Momentum { lr: f32, mu: f32, wd: f32, first: bool, nesterov: bool },
    /// Adam or AdamW.
    Adam(AdamStep),
}

/// One Adam step's numbers, copied by value into the update loop (captured by reference,
/// they were reloaded for every element and kept the loop scalar).
#[derive(Clone, Copy)]
pub(super) struct AdamStep {
    pub b1: f32,
    pub b2: f32,
    /// `lr / (1 − β₁ᵗ)`.
    pub step_size: f32,
    /// `1 / √(1 − β₂ᵗ)`.
    pub inv_sqrt_c2: f32,
    pub eps: f32,
    pub wd: f32,
    /// `1 − lr·wd` (AdamW).
    pub decay: f32,
    pub decoupled: bool,
}

impl<'a> StepRule<'a> {
    /// The rule with the state buffers it keeps, each of `len` values.
    pub(super) fn new(
        rule: Rule,
        first: Option<&'a mut [f32]>,
        second: Option<&'a mut [f32]>,
        len: Option<usize>,
    ) -> Self {
        let state = |s: Option<&'a mut [f32]>| {
            s.map(|s| {
                assert_eq!(Some(s.len()), len, "optimiser state of {} values for {len:?} parameters", s.len());
                SharedMut::new(s)
            })
        };
        Self { rule, first: state(first), second: state(second), len }
    }

    /// Whether the rule's state is for a model of `n` parameters (a rule without state fits
    /// any).
    pub fn fits(&self, n: usize) -> bool {
        self.len.is_none_or(|len| len == n)
    }

    /// The whole step: every parameter from its gradient, on the threads
    /// [`crate::pool::set_threads`] allows (the same bits for any thread count).
    pub fn apply_all(self, params: &mut [f32], grads: &[f32]) {
        let len = params.len();
        assert!(
            grads.len() == len && self.len.is_none_or(|n| n == len),
            "optimiser step: {len} parameters and {} gradients for a state of {:?}",
            grads.len(),
            self.len
        );
        // SAFETY: this rule is consumed by this call: nothing else applies it meanwhile.
        unsafe { self.apply_threaded(0, params, grads) };
    }

    /// The rule on `params`, the model's parameters `offset ..`, from their gradient, on the
    /// threads [`crate::pool::set_threads`] allows.
    ///
    /// # Safety
    /// No other application of this rule may run at the same time.
    pub(crate) unsafe fn apply_threaded(&self, offset: usize, params: &mut [f32], grads: &[f32]) {
        assert_eq!(params.len(), grads.len(), "a step's parameters and gradients differ in length");
        let shared = SharedMut::new(params);
        for_dealt_ranges(crate::pool::threads(), grads.len(), STEP_CHUNK, &|r| {
            // SAFETY: the dealt ranges are disjoint, and nothing else applies the rule.
            unsafe { self.apply(offset + r.start, shared.range(r.clone()), &grads[r]) };
        });
    }

    /// The rule on a layer's weights `params` (`row_len` values a row), the model's
    /// parameters `offset ..`, from their gradient, in bands of `band_rows` whole rows, one
    /// thread each: the bands in which a product split along its rows wrote the gradient, so
    /// that each thread reads the rows its own cache holds (where [`Self::apply_threaded`]
    /// deals ranges out in turn, and between cores far apart every other range waits on the
    /// other core's cache).
    ///
    /// # Safety
    /// No other application of this rule may run at the same time.
    pub(crate) unsafe fn apply_in_row_bands(
        &self,
        offset: usize,
        params: &mut [f32],
        grads: &[f32],
        row_len: usize,
        band_rows: usize,
    ) {
        assert_eq!(params.len(), grads.len(), "a step's parameters and gradients differ in length");
        let rows = params.len() / row_len.max(1);
        assert!(rows * row_len == params.len() && band_rows > 0, "a step's weights are not whole rows of {row_len}");
        let shared = SharedMut::new(params);
        crate::pool::run(rows.div_ceil(band_rows), &|t| {
            let r = t * band_rows * row_len..((t + 1) * band_rows).min(rows) * row_len;
            // SAFETY: the bands are disjoint, and nothing else applies the rule.
            unsafe { self.apply(offset + r.start, shared.range(r.clone()), &grads[r]) };
        });
    }

    /// The rule on `params`, the model's parameters `offset ..`, from their gradient, on this
    /// thread.
    ///
    /// # Safety
    /// Ranges applied at the same time (on other threads) must not overlap this one.
    unsafe fn apply(&self, offset: usize, params: &mut [f32], grads: &[f32]) {
        let r = offset..offset + params.len();
        assert!(
            grads.len() == r.len() && self.len.is_none_or(|len| r.end <= len),
            "a step's range {r:?} outside the model, or {} gradients",
            grads.len()
        );
        // SAFETY: forwarded contract: nothing else touches these state ranges meanwhile.
        let (first, second) = unsafe { (state(&self.first, r.clone()), state(&self.second, r)) };
        widest_simd!(update(self.rule, params, grads, first, second));
    }
}

/// `range` of a state buffer, empty when the rule keeps no such buffer.
///
/// # Safety
/// As [`SharedMut::range`].
#[allow(clippy::mut_from_ref)]
unsafe fn state<'s>(buffer: &'s Option<SharedMut<'_, f32>>, range: std::ops::Range<usize>) -> &'s mut [f32] {
    match buffer {
        // SAFETY: forwarded contract.
        Some(b) => unsafe { b.range(range) },
        None => &mut [],
    }
}

/// A layer's weights, `[rows, cols]` row-major and the model's parameters `offset ..`,
/// updated by a step rule as the product that computes their gradient finishes each panel
/// of rows ([`crate::gemm::fast::sink::to_sink`]).
pub(crate) struct WeightUpdate<'r, 'a, 'w> {
    rule: &'r StepRule<'a>,
    offset: usize,
    weights: SharedMut<'w, f32>,
    cols: usize,
}

impl<'r, 'a, 'w> WeightUpdate<'r, 'a, 'w> {
    /// The update of `weights` (`cols` wide), the model's parameters `offset ..`.
    pub fn new(rule: &'r StepRule<'a>, offset: usize, weights: &'w mut [f32], cols: usize) -> Self {
        assert!(
            cols > 0 && weights.len().is_multiple_of(cols),
            "weights of {} values are not rows of {cols}",
            weights.len()
        );
        Self { rule, offset, weights: SharedMut::new(weights), cols }
    }
}

impl RowSink for WeightUpdate<'_, '_, '_> {
    unsafe fn take_rows(&self, row: usize, rows: usize, col: usize, cols: usize, values: &[f32], stride: usize) {
        let whole_rows = col == 0 && cols == self.cols && stride == cols;
        let (pieces, len) = if whole_rows { (1, rows * cols) } else { (rows, cols) };
        for i in 0..pieces {
            let at = (row + i) * self.cols + col;
            // SAFETY: the product hands each element over once and parts taken at the same
            // time are disjoint (the sink's contract), so these weights and their state are
            // this call's alone.
            unsafe {
                self.rule.apply(self.offset + at, self.weights.range(at..at + len), &values[i * stride..][..len])
            };
        }
    }
}

/// The rule on one range (`first`/`second` empty when the rule keeps no such state).
#[inline(always)]
pub(super) fn update(rule: Rule, params: &mut [f32], grads: &[f32], first: &mut [f32], second: &mut [f32]) {
    match rule {
        Rule::Sgd { lr, wd } => sgd_range(lr, wd, params, grads),
        Rule::Momentum { lr, mu, wd, first: starts, nesterov } => {
            momentum_range(lr, mu, wd, starts, nesterov, params, grads, first)
        }
        Rule::Adam(c) => adam_range(c, params, grads, first, second),
    }
}

/// `x` as the optimiser's state keeps it: zero where `x` is subnormal (below 2⁻¹²⁶ in
/// magnitude, `f32::MIN_POSITIVE`), else `x` unchanged.
///
/// A parameter whose gradient stays zero (a dead ReLU unit's weights, an input pixel that
/// is always blank) has its moment or velocity multiplied by β₁ or μ every step: it decays
/// into the subnormal range and, rounded to nearest, sticks there (1–4 units of the last
/// place times 0.9 round back to themselves), so the step reads and writes subnormals every
/// step from then on. Intel cores take a microcode assist for such an operation, and Zen 4's
/// step ran 14 % slower with them. After one synthetic W3 epoch (random labels, most hidden
/// units dead) 83 % of Adam's `m` was subnormal, after two MNIST epochs 1.3 %. Zeroing them
/// leaves the parameters as they were: Adam's update from such a moment, about `lr·2⁻¹²⁶/ε`
/// at most, is below half a unit in the last place of any weight larger than `lr·10⁻²²`
/// (ε = 10⁻⁸), momentum's `lr·v` of any larger than `lr·10⁻³⁰`.
///
/// The test is on the bits ([`unless_below`]), so it costs no floating-point operation on a
/// subnormal itself.
#[inline(always)]
fn flushed(x: f32) -> f32 {
    unless_below(x, f32::MIN_POSITIVE)
}

/// The least magnitude of an update that still moves a parameter when scaled by `scale`
/// (the learning rate, or Adam's step size): `2⁻¹²⁵ / scale`, so that `scale · update` is a
/// normal float; `+∞` for a zero scale.
///
/// Why: a moment or velocity just above the subnormal range (one that [`flushed`] keeps)
/// times a learning rate of `10⁻³` is subnormal, and an Intel core takes a microcode assist
/// for every such product. A dead unit's first moment decays by β₁ a step through that range
/// and then lingers (the flush catches it only below 2⁻¹²⁶): in a synthetic W3 run, with
/// most hidden units dead, the Adam step ran twice as long from the second epoch on, and the
/// whole of W3-bf16 at one thread 1.5× (a Sapphire-Rapids-class Xeon, 2026-12-07). Such an
/// update moves nothing anyway: Adam's, below `2⁻¹²⁵/ε`, is under half a unit in the last
/// place of any parameter larger than `2⁻¹⁰¹/ε` (4 · 10⁻²³ at ε = 10⁻⁸); momentum's and
/// SGD's, below `2⁻¹²⁵`, of any larger than `2⁻¹⁰¹` (4 · 10⁻³¹).
#[inline(always)]
fn least_moving(scale: f32) -> f32 {
    2f32.powi(-125) / scale.abs()
}

/// `x`, or zero where its magnitude is below `least` (≥ 0; NaN passes). The test is on the
/// bits (an integer compare that vectorises): no floating-point operation on a small value.
#[inline(always)]
fn unless_below(x: f32, least: f32) -> f32 {
    if x.to_bits() & 0x7fff_ffff < least.to_bits() {
        0.0
    } else {
        x
    }
}

/// Plain SGD on one range: `θ ← θ − lr·(g + wd·θ)`.
#[inline(always)]
pub(super) fn sgd_range(lr: f32, wd: f32, params: &mut [f32], grads: &[f32]) {
    let least = least_moving(lr);
    for (p, &g) in params.iter_mut().zip(grads) {
        *p -= lr * unless_below(g + wd * *p, least);
    }
}

/// Momentum (or Nesterov) SGD on one range. The two flags are the same for every element,
/// so each combination gets its own branch-free (vectorised) loop.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn momentum_range(
    lr: f32,
    mu: f32,
    wd: f32,
    first: bool,
    nesterov: bool,
    params: &mut [f32],
    grads: &[f32],
    velocity: &mut [f32],
) {
    let least = least_moving(lr);
    let step = |p: &mut f32, g: f32, v: &mut f32, first: bool, nesterov: bool| {
        let g = g + wd * *p;
        *v = flushed(if first { g } else { mu * *v + g });
        let update = if nesterov { g + mu * *v } else { *v };
        *p -= lr * unless_below(update, least);
    };
    let all = params.iter_mut().zip(grads).zip(velocity.iter_mut());
    match (first, nesterov) {
        (true, true) => all.for_each(|((p, &g), v)| step(p, g, v, true, true)),
        (true, false) => all.for_each(|((p, &g), v)| step(p, g, v, true, false)),
        (false, true) => all.for_each(|((p, &g), v)| step(p, g, v, false, true)),
        (false, false) => all.for_each(|((p, &g), v)| step(p, g, v, false, false)),
    }
}

/// Adam on one range: one pass over the four arrays, the same arithmetic for every element
/// (zipped slices: no bounds checks, so the loop vectorises; the AdamW branch is hoisted).
#[inline(always)]
pub(super) fn adam_range(c: AdamStep, params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32]) {
    let least = least_moving(c.step_size);
    let update = |p: &mut f32, g: f32, m: &mut f32, v: &mut f32| {
        *m = flushed(c.b1 * *m + (1.0 - c.b1) * g);
        *v = flushed(c.b2 * *v + (1.0 - c.b2) * g * g);
        *p -= c.step_size * unless_below(*m, least) / (v.sqrt() * c.inv_sqrt_c2 + c.eps);
    };
    let all = params.iter_mut().zip(grads).zip(m.iter_mut().zip(v.iter_mut()));
    if c.decoupled {
        for ((p, &g), (m, v)) in all {
            *p *= c.decay;
            update(p, g, m, v);
        }
    } else {
        for ((p, &g), (m, v)) in all {
            let g = g + c.wd * *p;
            update(p, g, m, v);
        }
    }
}
