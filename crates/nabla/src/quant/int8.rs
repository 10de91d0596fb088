//! The int8 matrix product of a quantised layer: packing, the blocked driver, the row
//! quantisation and the fused write-back (dequantise, bias, activation).
//!
//! Shapes: a band of `m` rows of activations `u: [m, k]` (u8, 0..=127), the layer's weights
//! `q: [n, k]` (i8, −127..=127), the i32 sums `acc[i, j] = Σ_k u[i, k] · q[j, k]`.
//!
//! The k dimension goes in groups of [`KU`] = 4, the four bytes that one 32-bit lane sums
//! (`vpdpbusd`, or `vpmaddubsw` + `vpmaddwd`):
//!
//! ```text
//! weights, packed once at load:  sliver s (columns s·NR ..), group g: one 64-byte line
//!                                line[j·KU + t] = q[s·NR + j, g·KU + t]
//! activations, per call:         row-major, lda = groups·KU bytes a row (k padded with 0)
//!                                a[i·lda + g·KU + t] = u[i, g·KU + t]
//! ```
//!
//! A micro-kernel ([`Micro`]) computes an `MR × (ns·NR)` tile: for each group it loads `ns`
//! weight lines and, for each of its `MR` rows, broadcasts that row's four bytes. The
//! activations stay row-major, so each kernel picks its own `MR`; the buffer holds whole
//! [`ROW_ALIGN`]-row blocks (every `MR` divides it), so a kernel never sees a row edge, and
//! zero padding means it never sees a k or column edge either.
//!
//! The loops, outermost first: blocks of [`MC`] rows (their activations stay in L2), groups
//! of `NS` weight slivers (`NS · 12.5 KiB` for k = 784, in L1), `MR`-row slivers of the block
//! (micro-kernel, then the write-back of its tile). The driver, the row quantisation and the
//! write-back are `#[inline(always)]` generics, compiled inside each instruction set's
//! `#[target_feature]` entry point ([`Isa::layer`]), so they vectorise with its registers.

use crate::activation::Activation;
use crate::matrix::MatRef;

/// Columns of one weight sliver: a 64-byte line of 16 columns × [`KU`] k values.
pub const NR: usize = 16;
/// k values summed into one i32 lane per step.
pub const KU: usize = 4;
/// The largest quantised activation (7 bits; see the module doc of [`crate::quant`]).
pub const ACT_MAX: i32 = 127;
/// The largest quantised weight magnitude.
pub const W_MAX: i32 = 127;
// vpmaddubsw saturates each pair sum u₀q₀ + u₁q₁ to i16: the ranges must keep it exact.
const _: () = assert!(2 * ACT_MAX * W_MAX <= i16::MAX as i32);
/// Packed activation rows come in blocks of this many (a multiple of every kernel's `MR`),
/// and a multi-threaded pass splits its rows at multiples of it.
pub(crate) const ROW_ALIGN: usize = 16;
/// Rows per block of packed activations (50 KiB for k = 784).
pub(crate) const MC: usize = 64;
/// The largest tile a micro-kernel writes: rows, and columns (`NS · NR`).
pub(crate) const TILE_ROWS: usize = 16;
/// See [`TILE_ROWS`].
pub(crate) const TILE_COLS: usize = 64;

/// A micro-kernel's output: `tile[i][j]`, row `i`, column `j` of the tile.
pub(crate) type Tile = [[i32; TILE_COLS]; TILE_ROWS];

/// One packed weight line: [`NR`] columns × [`KU`] k values, 64-byte aligned so that a
/// 64-byte (or two 32-byte) loads never straddle a cache line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct WeightLine(pub [i8; NR * KU]);

/// A layer's weights in the micro-kernels' order, with the per-column sums that the
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

/// Bytes of one packed activation row with `groups` k-groups (the row stride, `lda`).
pub(crate) fn row_bytes(groups: usize) -> usize {
    groups * KU
}

/// A micro-kernel: an `MR × (ns · NR)` tile of sums over `groups` k-groups.
pub(crate) trait Micro {
    /// Rows of a tile (divides [`ROW_ALIGN`], at most [`TILE_ROWS`]).
    const MR: usize;
    /// Weight slivers of a full tile (`NS · NR ≤ TILE_COLS`).
    const NS: usize;

    /// `tile[i][s·NR + j] = Σ_g Σ_t a[i·lda + g·KU + t] · b[s·groups + g].0[j·KU + t]` for
    /// `i < MR`, `s < ns`, `j < NR` (the rest of `tile` is left as it was).
    ///
    /// # Safety
    /// `a` points to `MR` rows of at least `groups · KU` readable bytes, `lda` bytes apart;
    /// `b` to `ns · groups` readable lines; `1 ≤ ns ≤ NS`; the CPU has the kernel's features.
    unsafe fn sums(a: *const u8, lda: usize, b: *const WeightLine, groups: usize, ns: usize, tile: &mut Tile);

    /// [`quantize_row`], which a kernel may replace by explicit vector code giving the same
    /// bytes.
    ///
    /// # Safety
    /// The CPU has the kernel's features.
    #[inline(always)]
    unsafe fn quantize_row(row: &[f32], dst: &mut [u8]) -> RowScale {
        quantize_row(row, dst)
    }

    /// [`dequantise`] of 16 columns, which a kernel may replace by explicit vector code
    /// giving the same bits.
    ///
    /// # Safety
    /// The CPU has the kernel's features.
    #[inline(always)]
    unsafe fn dequantise16(acc: &[i32; NR], row: RowScale, c: Columns<'_>, relu: bool, dst: &mut [f32; NR]) {
        for l in 0..NR {
            let v = dequantise(acc[l], row, c.sums[l], c.scale[l], c.bias[l]);
            dst[l] = if relu { v.max(0.0) } else { v };
        }
    }
}

/// 16 columns' weight sums, scales and biases.
#[derive(Clone, Copy)]
pub(crate) struct Columns<'a> {
    pub sums: &'a [i32; NR],
    pub scale: &'a [f32; NR],
    pub bias: &'a [f32; NR],
}

/// `t_i · s_j · (acc − z_i · Σq_j) + b_j`, the dequantised pre-activation: the one formula of
/// every kernel and of the reference (a product, then a sum: no fused multiply-add).
#[inline(always)]
pub(crate) fn dequantise(acc: i32, row: RowScale, col_sum: i32, scale: f32, bias: f32) -> f32 {
    let exact = acc - row.zero * col_sum;
    exact as f32 * (row.scale * scale) + bias
}

/// One layer on a band of rows, the entry point of an instruction set: quantises `x`'s rows
/// into `packed` (rows `lda` apart) and `rows`, then `out = f(dequantised(u · qᵀ) + b)`.
///
/// # Safety
/// The CPU supports the instruction set (guaranteed by [`selected`]).
pub(crate) type LayerFn = unsafe fn(x: MatRef<'_>, a: ActBuf<'_>, w: &PackedWeights, e: &Epilogue<'_>, out: &mut [f32]);

#[cfg(test)]
/// The i32 sums `out[i·n + j]` of packed activations `a` (`m` rows) and weights, for tests.
///
/// # Safety
/// As [`LayerFn`].
pub(crate) type SumsFn = unsafe fn(a: &[u8], lda: usize, m: usize, w: &PackedWeights, n: usize, out: &mut [i32]);

/// A band's activation buffers: `packed` holds `rows.len()` rows rounded up to
/// [`ROW_ALIGN`], `lda` bytes each.
pub(crate) struct ActBuf<'a> {
    pub packed: &'a mut [u8],
    pub lda: usize,
    pub rows: &'a mut [RowScale],
}

/// The instruction sets an int8 micro-kernel exists for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// x86_64 with AVX-512 VNNI (vpdpbusd), checked at run time.
    Vnni,
    /// x86_64 with AVX2 (vpmaddubsw, vpmaddwd), checked at run time.
    Avx2,
    /// Plain Rust.
    Portable,
}

impl Isa {
    /// The whole layer, compiled for this instruction set.
    pub fn layer(self) -> LayerFn {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Vnni => super::vnni::layer,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => super::avx2::layer,
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Vnni | Isa::Avx2 => unreachable!("x86 features are only detected on x86_64"),
            Isa::Portable => super::portable::layer,
        }
    }

    #[cfg(test)]
    /// The driver with raw i32 sums, for the tests.
    pub fn sums(self) -> SumsFn {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Vnni => super::vnni::sums,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => super::avx2::sums,
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Vnni | Isa::Avx2 => unreachable!("x86 features are only detected on x86_64"),
            Isa::Portable => super::portable::sums,
        }
    }

    /// A name for reports: instruction, tile rows × columns.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Vnni => "avx512 vnni vpdpbusd 8x32",
            Isa::Avx2 => "avx2 vpmaddubsw 4x16",
            Isa::Portable => "portable 4x16",
        }
    }

    /// Whether this CPU can run it.
    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Vnni => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Vnni | Isa::Avx2 => false,
            Isa::Portable => true,
        }
    }
}

/// The instruction set for this CPU, detected once: VNNI, else AVX2, else portable.
pub(crate) fn selected() -> Isa {
    static CHOICE: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
    *CHOICE.get_or_init(|| [Isa::Vnni, Isa::Avx2].into_iter().find(|isa| isa.available()).unwrap_or(Isa::Portable))
}

/// A row's quantisation: `x ≈ scale · (u − zero)` with `u` in `0..=ACT_MAX`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RowScale {
    pub scale: f32,
    pub zero: i32,
}

/// Lanes of the row range and quantisation loops: independent lanes vectorise without
/// reassociating anything (min and max are exact in any order).
const LANES: usize = 16;

/// The scale and zero point of a row: its range `[lo, hi]` widened to hold 0 (so that 0 is
/// exact, and ReLU outputs and pixels get zero point 0) spread over `0..=ACT_MAX`.
#[inline(always)]
pub(crate) fn row_scale(row: &[f32]) -> RowScale {
    let (mut lo, mut hi) = ([0.0f32; LANES], [0.0f32; LANES]);
    let chunks = row.chunks_exact(LANES);
    let rest = chunks.remainder();
    // Compare-and-select (what `vminps`/`vmaxps` do): a NaN is skipped, and the lanes
    // vectorise. The sign of a zero `lo` changes nothing in `range_scale`.
    for c in chunks {
        for l in 0..LANES {
            lo[l] = if c[l] < lo[l] { c[l] } else { lo[l] };
            hi[l] = if c[l] > hi[l] { c[l] } else { hi[l] };
        }
    }
    for (l, &v) in rest.iter().enumerate() {
        lo[l] = if v < lo[l] { v } else { lo[l] };
        hi[l] = if v > hi[l] { v } else { hi[l] };
    }
    range_scale(lo.iter().fold(0.0f32, |m, &v| m.min(v)), hi.iter().fold(0.0f32, |m, &v| m.max(v)))
}

/// [`row_scale`] from the row's range, `lo ≤ 0 ≤ hi`.
#[inline(always)]
pub(crate) fn range_scale(lo: f32, hi: f32) -> RowScale {
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

/// The quantised value of `v` in a row of scale `1 / inv_scale` and zero point `zero`:
/// `round(v / scale) + zero` (half up), clamped to `0..=ACT_MAX`. One formula for the
/// reference and the packed path.
#[inline(always)]
pub(crate) fn quantize_value(v: f32, inv_scale: f32, zero: f32) -> u8 {
    // Clamping before the truncation (NaN goes to 0 at the `max`) gives what truncating and
    // then clamping would, and keeps the conversion a plain vector instruction.
    (v * inv_scale + zero + 0.5).max(0.0).min(ACT_MAX as f32) as u8
}

/// Quantises `row` into `dst` (its `lda` bytes; k past the row's end is zeroed) and returns
/// the row's scale.
#[inline(always)]
pub(crate) fn quantize_row(row: &[f32], dst: &mut [u8]) -> RowScale {
    let rs = row_scale(row);
    let (inv, zero) = (1.0 / rs.scale, rs.zero as f32);
    let (body, pad) = dst.split_at_mut(row.len());
    let mut d = body.chunks_exact_mut(LANES);
    let mut s = row.chunks_exact(LANES);
    for (d, s) in (&mut d).zip(&mut s) {
        for l in 0..LANES {
            d[l] = quantize_value(s[l], inv, zero);
        }
    }
    for (d, &v) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = quantize_value(v, inv, zero);
    }
    pad.fill(0);
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

/// Where a tile's results go.
trait Sink {
    /// Takes the `mr × nc` valid part of `tile`, whose first element is `(i0, j0)`.
    fn tile(&mut self, tile: &Tile, i0: usize, mr: usize, j0: usize, nc: usize);
}

/// The fused write-back: `out[i, j] = f(t_i · s_j · (acc[i, j] − z_i · Σq_j) + b_j)`; whole
/// 16-column pieces of identity and ReLU layers go through the kernel's `dequantise16`.
struct Dequantise<'a, 'o, K, F> {
    e: &'a Epilogue<'a>,
    rows: &'a [RowScale],
    out: &'o mut [f32],
    n: usize,
    /// `Some(relu)` where `dequantise16` applies; else `f` runs on every value.
    simple: Option<bool>,
    f: F,
    kernel: std::marker::PhantomData<K>,
}

impl<K: Micro, F: Fn(f32) -> f32> Sink for Dequantise<'_, '_, K, F> {
    #[inline(always)]
    fn tile(&mut self, tile: &Tile, i0: usize, mr: usize, j0: usize, nc: usize) {
        let e = self.e;
        for (i, acc) in tile.iter().enumerate().take(mr) {
            let row = self.rows[i0 + i];
            let dst = &mut self.out[(i0 + i) * self.n + j0..(i0 + i) * self.n + j0 + nc];
            let mut j = 0;
            if let Some(relu) = self.simple {
                while j + NR <= nc {
                    let c = j0 + j;
                    let cols = Columns {
                        sums: e.col_sums[c..c + NR].try_into().expect("16 columns"),
                        scale: e.scale[c..c + NR].try_into().expect("16 columns"),
                        bias: e.bias[c..c + NR].try_into().expect("16 columns"),
                    };
                    let a: &[i32; NR] = acc[j..j + NR].try_into().expect("16 columns");
                    let d: &mut [f32; NR] = (&mut dst[j..j + NR]).try_into().expect("16 columns");
                    // SAFETY: the CPU has K's features (`layer`'s contract).
                    unsafe { K::dequantise16(a, row, cols, relu, d) };
                    j += NR;
                }
            }
            for jj in j..nc {
                let c = j0 + jj;
                dst[jj] = (self.f)(dequantise(acc[jj], row, e.col_sums[c], e.scale[c], e.bias[c]));
            }
        }
    }
}

#[cfg(test)]
/// The raw sums, `out[i·n + j]`, for the tests.
struct RawSums<'o> {
    out: &'o mut [i32],
    n: usize,
}

#[cfg(test)]
impl Sink for RawSums<'_> {
    #[inline(always)]
    fn tile(&mut self, tile: &Tile, i0: usize, mr: usize, j0: usize, nc: usize) {
        for (i, acc) in tile.iter().enumerate().take(mr) {
            self.out[(i0 + i) * self.n + j0..(i0 + i) * self.n + j0 + nc].copy_from_slice(&acc[..nc]);
        }
    }
}

/// The blocked loops over a band of `m` rows of packed activations (`a`, rows `lda` apart,
/// holding `m` rounded up to `K::MR` rows), `n` output columns.
#[inline(always)]
fn drive<K: Micro>(a: &[u8], lda: usize, m: usize, w: &PackedWeights, n: usize, sink: &mut impl Sink) {
    let groups = w.groups;
    assert!(lda >= groups * KU && a.len() >= m.div_ceil(K::MR) * K::MR * lda, "packed activations too short");
    assert!(n <= w.slivers * NR && w.lines.len() == w.slivers * groups, "weights narrower than n");
    let mut tile: Tile = [[0; TILE_COLS]; TILE_ROWS];
    for ic in (0..m).step_by(MC) {
        let ic_end = (ic + MC).min(m);
        for s0 in (0..w.slivers).step_by(K::NS) {
            let ns = K::NS.min(w.slivers - s0);
            let j0 = s0 * NR;
            let nc = (ns * NR).min(n - j0);
            for i0 in (ic..ic_end).step_by(K::MR) {
                // SAFETY: rows i0 .. i0 + MR lie inside `a` (the assert: `a` holds `m` rounded
                // up to MR rows of `lda ≥ groups · KU` bytes); slivers s0 .. s0 + ns lie inside
                // `w.lines`; the CPU features are the caller's (`Isa::layer`'s) contract.
                unsafe {
                    K::sums(a.as_ptr().add(i0 * lda), lda, w.lines.as_ptr().add(s0 * groups), groups, ns, &mut tile)
                };
                sink.tile(&tile, i0, K::MR.min(m - i0), j0, nc);
            }
        }
    }
}

/// [`LayerFn`] for kernel `K`, inlined into the instruction set's entry point.
///
/// # Safety
/// The CPU has K's features.
#[inline(always)]
pub(crate) unsafe fn layer<K: Micro>(
    x: MatRef<'_>,
    a: ActBuf<'_>,
    w: &PackedWeights,
    e: &Epilogue<'_>,
    out: &mut [f32],
) {
    let (m, n) = (x.rows(), e.bias.len());
    assert!(a.rows.len() == m && out.len() >= m * n, "band buffers do not fit the rows");
    assert!(a.packed.len() >= m.div_ceil(ROW_ALIGN) * ROW_ALIGN * a.lda, "packed activations too short");
    for (i, rs) in a.rows.iter_mut().enumerate() {
        // SAFETY: the CPU has K's features (this function's callers' contract).
        *rs = unsafe { K::quantize_row(x.row(i), &mut a.packed[i * a.lda..(i + 1) * a.lda]) };
    }
    let rows: &[RowScale] = a.rows;
    // One copy of the loops per activation, so that the write-back's inner loop is
    // branch-free.
    let (packed, lda) = (&*a.packed, a.lda);
    let kernel = std::marker::PhantomData::<K>;
    match e.activation {
        Activation::Identity => {
            let sink = &mut Dequantise { e, rows, out, n, simple: Some(false), f: |v| v, kernel };
            drive::<K>(packed, lda, m, w, n, sink);
        }
        Activation::Relu => {
            let sink = &mut Dequantise { e, rows, out, n, simple: Some(true), f: |v: f32| v.max(0.0), kernel };
            drive::<K>(packed, lda, m, w, n, sink);
        }
        other => {
            let sink = &mut Dequantise { e, rows, out, n, simple: None, f: |v| other.apply(v), kernel };
            drive::<K>(packed, lda, m, w, n, sink);
        }
    }
}

#[cfg(test)]
/// [`SumsFn`] for kernel `K`, inlined into the instruction set's entry point.
///
/// # Safety
/// The CPU has K's features.
#[inline(always)]
pub(crate) unsafe fn sums<K: Micro>(a: &[u8], lda: usize, m: usize, w: &PackedWeights, n: usize, out: &mut [i32]) {
    drive::<K>(a, lda, m, w, n, &mut RawSums { out, n });
}
