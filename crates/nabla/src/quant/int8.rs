//! The int8 matrix product of a quantised layer: packing, the blocked driver and the fused
//! write-back (dequantise, bias, activation).
//!
//! Shapes: a band of `m` rows of activations `u: [m, k]` (u8, 0..=127), the layer's weights
//! `q: [n, k]` (i8, −127..=127), the i32 sums `acc[i, j] = Σ_k u[i, k] · q[j, k]`.
//!
//! Both operands are packed so that the micro-kernel reads one contiguous stream each. The
//! k dimension goes in groups of [`KU`] = 4 (the four bytes of one 32-bit lane, what
//! `vpmaddubsw` + `vpmaddwd` sum into one i32):
//!
//! ```text
//! weights, packed once at load:  sliver s (columns s·NR ..), group g: one 64-byte line
//!                                line[j·KU + t] = q[s·NR + j, g·KU + t]
//! activations, packed per call:  sliver r (rows r·MR ..), group g: MR·KU bytes
//!                                a[(g·MR + i)·KU + t] = u[r·MR + i, g·KU + t]
//! ```
//!
//! Padding (columns past `n`, rows past `m`, k past the end) is zero, so the micro-kernel
//! never sees an edge. The loops, outermost first: blocks of [`MC_SLIVERS`] row slivers (the
//! packed A block stays in L2), weight slivers (one `[kg, NR]` sliver, 12.5 KiB for k = 784,
//! stays in L1), row slivers of the block (micro-kernel, then the write-back of its tile).

use crate::activation::Activation;

/// Rows of a micro-tile.
pub const MR: usize = 4;
/// Columns of a micro-tile: two 8-lane i32 vectors.
pub const NR: usize = 16;
/// k values summed into one i32 lane per step.
pub const KU: usize = 4;
/// The largest quantised activation (7 bits; see the module doc of [`crate::quant`]).
pub const ACT_MAX: i32 = 127;
/// The largest quantised weight magnitude.
pub const W_MAX: i32 = 127;
// vpmaddubsw saturates each pair sum u₀q₀ + u₁q₁ to i16: the ranges must keep it exact.
const _: () = assert!(2 * ACT_MAX * W_MAX <= i16::MAX as i32);
/// Row slivers per block of packed activations (`MC_SLIVERS · MR` rows, 100 KiB for k = 784).
pub(crate) const MC_SLIVERS: usize = 32;

/// One packed weight line: [`NR`] columns × [`KU`] k values, 64-byte aligned so that the
/// micro-kernel's two 32-byte loads never straddle a cache line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct WeightLine(pub [i8; NR * KU]);

/// A layer's weights in the micro-kernel's order, with the per-column sums that the
/// activations' zero points need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackedWeights {
    /// `slivers × groups` lines, sliver-major.
    pub lines: Vec<WeightLine>,
    /// `ceil(k / KU)`.
    pub groups: usize,
    /// `ceil(n / NR)`.
    pub slivers: usize,
    /// `Σ_k q[j, k]` for every column (zero past `n`).
    pub col_sums: Vec<i32>,
}

impl PackedWeights {
    /// Packs `q: [n, k]`.
    pub fn new(q: &[i8], n: usize, k: usize) -> Self {
        assert_eq!(q.len(), n * k, "weights are not n × k");
        let groups = k.div_ceil(KU);
        let slivers = n.div_ceil(NR);
        let mut lines = vec![WeightLine([0; NR * KU]); slivers * groups];
        let mut col_sums = vec![0i32; slivers * NR];
        for j in 0..n {
            let row = &q[j * k..(j + 1) * k];
            let (s, jj) = (j / NR, j % NR);
            for (g, chunk) in row.chunks(KU).enumerate() {
                lines[s * groups + g].0[jj * KU..jj * KU + chunk.len()].copy_from_slice(chunk);
            }
            col_sums[j] = row.iter().map(|&v| i32::from(v)).sum();
        }
        Self { lines, groups, slivers, col_sums }
    }
}

/// Bytes of one packed row sliver of activations with `groups` k-groups.
pub(crate) fn sliver_bytes(groups: usize) -> usize {
    groups * MR * KU
}

/// A micro-kernel: `acc[i][j] = Σ_g Σ_t a[(g·MR + i)·KU + t] · b[g].0[j·KU + t]` over the
/// `b.len()` groups (overwrites `acc`).
///
/// # Safety
/// `a.len() ≥ b.len() · MR · KU` (checked by the kernels) and the CPU supports the kernel's
/// instruction set (guaranteed by [`selected`]).
pub(crate) type MicroKernel = unsafe fn(a: &[u8], b: &[WeightLine], acc: &mut [[i32; NR]; MR]);

/// The instruction sets an int8 micro-kernel exists for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// x86_64 with AVX2 (vpmaddubsw, vpmaddwd), checked at run time.
    Avx2,
    /// Plain Rust.
    Portable,
}

impl Isa {
    /// The micro-kernel for this instruction set.
    pub fn kernel(self) -> MicroKernel {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => super::avx2::kernel,
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 => unreachable!("AVX2 is only detected on x86_64"),
            Isa::Portable => super::portable::kernel,
        }
    }

    /// A name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx2 => "avx2 vpmaddubsw 4x16",
            Isa::Portable => "portable 4x16",
        }
    }
}

/// The instruction set for this CPU, detected once.
pub(crate) fn selected() -> Isa {
    static CHOICE: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
    *CHOICE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") {
            return Isa::Avx2;
        }
        Isa::Portable
    })
}

/// A row's quantisation: `x ≈ scale · (u − zero)` with `u` in `0..=ACT_MAX`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RowScale {
    pub scale: f32,
    pub zero: i32,
}

/// The scale and zero point of a row: its range `[lo, hi]` widened to hold 0 (so that 0 is
/// exact, and ReLU outputs and pixels get zero point 0) spread over `0..=ACT_MAX`.
pub(crate) fn row_scale(row: &[f32]) -> RowScale {
    let (lo, hi) = row.iter().fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let range = hi - lo;
    if !(range > 0.0 && range.is_finite()) {
        // All zero (or not finite): any scale represents it; 1 keeps the arithmetic finite.
        return RowScale { scale: 1.0, zero: 0 };
    }
    let scale = range / ACT_MAX as f32;
    // −lo/scale ≥ 0; adding 0.5 and truncating rounds it.
    let zero = ((-lo / scale + 0.5) as i32).clamp(0, ACT_MAX);
    RowScale { scale, zero }
}

/// The quantised value of `v` in a row of `rs`: `round(v / scale) + zero`, clamped to
/// `0..=ACT_MAX`. One formula for the reference and the packed path.
#[inline]
pub(crate) fn quantize_value(v: f32, inv_scale: f32, zero: f32) -> u8 {
    // The argument is ≥ −0.5 for values inside the row's range, so truncation after + 0.5
    // rounds (half up); `as` saturates and maps NaN to 0.
    ((v * inv_scale + zero + 0.5) as i32).clamp(0, ACT_MAX) as u8
}

/// Quantises `row` into packed position `i` (0..MR) of the sliver `sliver` (its
/// [`sliver_bytes`] bytes) and returns the row's scale. k past the row's end is zeroed.
pub(crate) fn pack_row(row: &[f32], i: usize, sliver: &mut [u8]) -> RowScale {
    let rs = row_scale(row);
    let (inv, zero) = (1.0 / rs.scale, rs.zero as f32);
    for (g, chunk) in row.chunks(KU).enumerate() {
        let dst = &mut sliver[(g * MR + i) * KU..(g * MR + i + 1) * KU];
        for (d, &v) in dst.iter_mut().zip(chunk) {
            *d = quantize_value(v, inv, zero);
        }
        dst[chunk.len()..].fill(0);
    }
    rs
}

/// What the write-back needs of a layer.
pub(crate) struct Epilogue<'a> {
    /// Per-column weight scales `s_j` (`[n]`).
    pub scale: &'a [f32],
    /// Per-column weight sums (`[slivers · NR]`).
    pub col_sums: &'a [i32],
    /// Bias (`[n]`).
    pub bias: &'a [f32],
    /// The activation after the layer.
    pub activation: Activation,
}

/// `out[i, j] = f(t_i · s_j · (acc[i, j] − z_i · Σq_j) + b_j)` for a tile's `mr × nr` valid
/// part; `rows`, `cols` start at the tile's first row and column, `out` at its first element
/// with rows `ld` apart.
fn write_back(
    acc: &[[i32; NR]; MR],
    mr: usize,
    nr: usize,
    rows: &[RowScale],
    j0: usize,
    e: &Epilogue<'_>,
    out: &mut [f32],
    ld: usize,
) {
    // One loop per activation, so that the inner loop is branch-free and vectorises.
    fn tile(
        acc: &[[i32; NR]; MR],
        mr: usize,
        nr: usize,
        rows: &[RowScale],
        j0: usize,
        e: &Epilogue<'_>,
        out: &mut [f32],
        ld: usize,
        f: impl Fn(f32) -> f32,
    ) {
        let (scale, sums, bias) = (&e.scale[j0..j0 + nr], &e.col_sums[j0..j0 + nr], &e.bias[j0..j0 + nr]);
        for i in 0..mr {
            let RowScale { scale: t, zero } = rows[i];
            let dst = &mut out[i * ld..i * ld + nr];
            for j in 0..nr {
                let exact = acc[i][j] - zero * sums[j];
                dst[j] = f(exact as f32 * (t * scale[j]) + bias[j]);
            }
        }
    }
    match e.activation {
        Activation::Identity => tile(acc, mr, nr, rows, j0, e, out, ld, |v| v),
        Activation::Relu => tile(acc, mr, nr, rows, j0, e, out, ld, |v| v.max(0.0)),
        other => tile(acc, mr, nr, rows, j0, e, out, ld, |v| other.apply(v)),
    }
}

/// `out[m, n] = f(dequantised(packed · qᵀ) + b)` for one band of rows.
///
/// `packed`: the band's row slivers, [`sliver_bytes`]`(w.groups)` each, `stride` bytes
/// apart; `rows`: the band's row scales (`[m]`); `out`: `[m, n]`, rows `n` apart.
pub(crate) fn matmul_band(
    micro: MicroKernel,
    packed: &[u8],
    stride: usize,
    rows: &[RowScale],
    w: &PackedWeights,
    n: usize,
    e: &Epilogue<'_>,
    out: &mut [f32],
) {
    let m = rows.len();
    let len = sliver_bytes(w.groups);
    let row_slivers = m.div_ceil(MR);
    for ic in (0..row_slivers).step_by(MC_SLIVERS) {
        let ic_end = (ic + MC_SLIVERS).min(row_slivers);
        for (s, b) in w.lines.chunks_exact(w.groups).enumerate() {
            let j0 = s * NR;
            let nr = NR.min(n - j0);
            for r in ic..ic_end {
                let a = &packed[r * stride..r * stride + len];
                let mut acc = [[0i32; NR]; MR];
                // SAFETY: `a` holds `groups · MR · KU` bytes (checked again by the kernel);
                // `micro` came from `selected` or is the portable one.
                unsafe { micro(a, b, &mut acc) };
                let i0 = r * MR;
                let mr = MR.min(m - i0);
                write_back(&acc, mr, nr, &rows[i0..i0 + mr], j0, e, &mut out[i0 * n + j0..], n);
            }
        }
    }
}
