//! Packing: copying a block of `op(A)` or `op(B)` into the slivers the micro-kernel reads as
//! one contiguous stream each, resolving transposes and row strides on the way and padding
//! the last sliver with zeros.

use super::Transpose;
use crate::matrix::MatRef;

/// Row strides (in values) that are a multiple of this (2 KiB) map rows onto few L1 sets.
const L1_ALIASING_STRIDE: usize = 512;

/// Packs `op(A)[i0 .. i0+mc, p0 .. p0+kc]` into R-row slivers: `out[s][p][i]` at
/// `out[(s * kc + p) * R + i]` holds `op(A)[i0 + s·R + i, p0 + p]`, zero past row `mc`.
pub(super) fn pack_a<const R: usize>(
    a: MatRef<'_>,
    ta: Transpose,
    i0: usize,
    mc: usize,
    p0: usize,
    kc: usize,
    out: &mut [f32],
) {
    for (s, sliver) in out.chunks_exact_mut(kc * R).enumerate() {
        let r0 = i0 + s * R;
        let mr = R.min(i0 + mc - r0);
        match ta {
            Transpose::No => {
                // op(A) rows are stored rows: read MR rows side by side, write p-major.
                if mr == R && (8..=16).contains(&R) && crate::simd::has_avx512f() {
                    // Through the 16-row register transpose, the last row repeated to fill
                    // it and only R lanes stored (the 12-row tile: the plain loops of
                    // `interleave::<12, 8>` took 12 % of a 64×784×128 product's time).
                    let rows: [&[f32]; 16] = std::array::from_fn(|i| &a.row(r0 + i.min(R - 1))[p0..p0 + kc]);
                    interleave16(rows, sliver, R, 0, R);
                } else if mr == R {
                    let rows: [&[f32]; R] = std::array::from_fn(|i| &a.row(r0 + i)[p0..p0 + kc]);
                    interleave::<R, 8>(rows, sliver, R, 0);
                } else {
                    sliver.fill(0.0);
                    for i in 0..mr {
                        let row = &a.row(r0 + i)[p0..p0 + kc];
                        for (p, &v) in row.iter().enumerate() {
                            sliver[p * R + i] = v;
                        }
                    }
                }
            }
            Transpose::Yes => {
                // op(A)[i, p] = A[p, i]: each step p is a contiguous piece of stored row p.
                for (p, dst) in sliver.chunks_exact_mut(R).enumerate() {
                    let src = &a.row(p0 + p)[r0..r0 + mr];
                    if let (Ok(dst), Ok(src)) = (<&mut [f32; R]>::try_from(&mut *dst), <&[f32; R]>::try_from(src)) {
                        // A fixed-size copy: inline moves instead of a `memmove` call per step.
                        *dst = *src;
                    } else {
                        dst[..mr].copy_from_slice(src);
                        dst[mr..].fill(0.0);
                    }
                }
            }
        }
    }
}

/// Packs `op(B)[p0 .. p0+kc, j0 .. j0+nc]` into N-column slivers (N = 16 or 32): `out[(s * kc + p) * N + j]`
/// holds `op(B)[p0 + p, j0 + s·N + j]`, zero past column `nc`.
pub(super) fn pack_b<const N: usize>(
    b: MatRef<'_>,
    tb: Transpose,
    p0: usize,
    kc: usize,
    j0: usize,
    nc: usize,
    out: &mut [f32],
) {
    match tb {
        Transpose::No => {
            // Walk each stored row once, left to right, dealing its N-wide pieces out to
            // the slivers (row-by-row reads stay sequential even when the rows are long).
            // Full pieces are copied as fixed-size arrays: inline vector moves, where a
            // `copy_from_slice` of a run-time length calls `memmove` for every 64 bytes (that
            // call was 16 % of a 128×1024×1024 product's time).
            let full = nc / N;
            for p in 0..kc {
                let row = &b.row(p0 + p)[j0..j0 + nc];
                let (pieces, rest) = row.split_at(full * N);
                for (s, piece) in pieces.chunks_exact(N).enumerate() {
                    let piece: &[f32; N] = piece.try_into().expect("chunks of N");
                    let dst: &mut [f32; N] =
                        (&mut out[(s * kc + p) * N..(s * kc + p + 1) * N]).try_into().expect("a sliver row of N");
                    *dst = *piece;
                }
                if !rest.is_empty() {
                    let dst = &mut out[(full * kc + p) * N..(full * kc + p + 1) * N];
                    dst[..rest.len()].copy_from_slice(rest);
                    dst[rest.len()..].fill(0.0);
                }
            }
        }
        Transpose::Yes => {
            for (s, sliver) in out.chunks_exact_mut(kc * N).enumerate() {
                let c0 = j0 + s * N;
                let nr = N.min(j0 + nc - c0);
                // op(B)[p, j] = B[j, p]: read N stored rows side by side, write p-major.
                if nr == N && N.is_multiple_of(16) && crate::simd::has_avx512f() {
                    // 16 rows at a time, each group into its 16 columns of the sliver.
                    for g in 0..N / 16 {
                        let rows: [&[f32]; 16] = std::array::from_fn(|j| &b.row(c0 + 16 * g + j)[p0..p0 + kc]);
                        interleave16(rows, sliver, N, 16 * g, 16);
                    }
                } else if nr == N && N.is_multiple_of(8) && crate::simd::has_avx2() {
                    // Eight rows at a time through the AVX2 register transpose.
                    for g in 0..N / 8 {
                        let rows: [&[f32]; 8] = std::array::from_fn(|j| &b.row(c0 + 8 * g + j)[p0..p0 + kc]);
                        interleave8(rows, sliver, N, 8 * g);
                    }
                } else if nr == N {
                    if b.stride().is_multiple_of(L1_ALIASING_STRIDE) {
                        // Rows a multiple of 2 KiB apart share a few L1 sets, and 16 streams
                        // would evict each other (measured 1.5 vs 0.5 ns per value at a 4 KiB
                        // stride): read them four at a time instead.
                        for g in 0..N / 4 {
                            let rows: [&[f32]; 4] = std::array::from_fn(|j| &b.row(c0 + 4 * g + j)[p0..p0 + kc]);
                            interleave::<4, 16>(rows, sliver, N, 4 * g);
                        }
                    } else {
                        let rows: [&[f32]; N] = std::array::from_fn(|j| &b.row(c0 + j)[p0..p0 + kc]);
                        interleave::<N, 8>(rows, sliver, N, 0);
                    }
                } else {
                    sliver.fill(0.0);
                    for j in 0..nr {
                        let row = &b.row(c0 + j)[p0..p0 + kc];
                        for (p, &v) in row.iter().enumerate() {
                            sliver[p * N + j] = v;
                        }
                    }
                }
            }
        }
    }
}

/// `out[p * width + offset + r] = rows[r][p]`: 8 rows into adjacent columns of a p-major
/// sliver, through the AVX2 register transpose (the CPU must have AVX2: callers check).
fn interleave8(rows: [&[f32]; 8], out: &mut [f32], width: usize, offset: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        assert!(crate::simd::has_avx2(), "interleave8 needs AVX2");
        // SAFETY: AVX2 was detected at run time (asserted just above).
        unsafe { super::avx2::interleave8(rows, out, width, offset) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (rows, out, width, offset);
        unreachable!("AVX2 is only detected on x86_64");
    }
}

/// `out[p * width + offset + r] = rows[r][p]` for `r < lanes`: the first `lanes` of 16 rows
/// into adjacent columns of a p-major sliver, through the AVX-512 register transpose (the
/// CPU must have AVX-512F: callers check).
fn interleave16(rows: [&[f32]; 16], out: &mut [f32], width: usize, offset: usize, lanes: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        assert!(crate::simd::has_avx512f(), "interleave16 needs AVX-512F");
        // SAFETY: AVX-512F was detected at run time (asserted just above).
        unsafe { super::avx512::interleave16(rows, out, width, offset, lanes) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (rows, out, width, offset, lanes);
        unreachable!("AVX-512F is only detected on x86_64");
    }
}

/// Writes `out[p * width + offset + r] = rows[r][p]`: `R` equally long rows `[R, kc]` become
/// `R` adjacent columns of a p-major sliver `[kc, width]` (the transpose that packing a
/// row-major operand needs).
///
/// `STEP` steps at a time: each row gives a fixed-size chunk, so the bounds checks leave the
/// inner loops and the compiler turns the `STEP × R` transpose into vector shuffles.
fn interleave<const R: usize, const STEP: usize>(rows: [&[f32]; R], out: &mut [f32], width: usize, offset: usize) {
    let kc = rows[0].len();
    let blocks = kc / STEP;
    for t in 0..blocks {
        let chunk: [&[f32; STEP]; R] =
            std::array::from_fn(|r| rows[r][t * STEP..(t + 1) * STEP].try_into().expect("rows share the length kc"));
        for q in 0..STEP {
            let dst = &mut out[(t * STEP + q) * width + offset..][..R];
            for r in 0..R {
                dst[r] = chunk[r][q];
            }
        }
    }
    for p in blocks * STEP..kc {
        for r in 0..R {
            out[p * width + offset + r] = rows[r][p];
        }
    }
}

#[cfg(test)]
mod interleave_tests {
    use super::{interleave, interleave16, interleave8};

    /// Each register transpose this CPU can run, against the plain loops, said and checked:
    /// the CPU's flags (read from `/proc/cpuinfo`, not from the detection packing uses) decide
    /// which must be tested, and the ones it lacks are printed as untested. CI runs this with
    /// `--nocapture` beside the GEMM kernels' report, so that no transpose goes untested
    /// without its log saying so.
    #[cfg(target_os = "linux")]
    #[test]
    #[allow(clippy::print_stdout)] // the report is the point: CI shows it with --nocapture
    fn kernel_report_packing_transposes_are_tested() {
        let flags = crate::simd::cpu_flags();
        let checks = [
            (
                "avx512f 16x16 transpose",
                flags.contains("avx512f"),
                crate::simd::has_avx512f(),
                interleave16_matches_plain_loops as fn(),
            ),
            ("avx2 8x8 transpose", flags.contains("avx2"), crate::simd::has_avx2(), interleave8_matches_plain_loops),
        ];
        let (mut tested, mut untested) = (Vec::new(), Vec::new());
        for (name, in_flags, detected, check) in checks {
            assert_eq!(in_flags, detected, "{name}: /proc/cpuinfo says {in_flags}, run-time detection {detected}");
            if detected {
                check();
                tested.push(name);
            } else {
                untested.push(name);
            }
        }
        println!("transpose kernels tested on this CPU: {tested:?} and the plain loops; untested (the CPU lacks them): {untested:?}");
    }

    /// The AVX2 register transpose against the plain loops, for depths below, at and past
    /// whole 8-step blocks, into both halves of a 16-wide sliver (the CPU must have AVX2).
    fn interleave8_matches_plain_loops() {
        for kc in [1, 7, 8, 9, 17, 196, 256] {
            let data: Vec<Vec<f32>> = (0..8).map(|r| (0..kc).map(|p| (r * 1000 + p) as f32).collect()).collect();
            let rows: [&[f32]; 8] = std::array::from_fn(|r| data[r].as_slice());
            for offset in [0, 8] {
                let mut want = vec![f32::NAN; kc * 16];
                interleave::<8, 8>(rows, &mut want, 16, offset);
                let mut got = vec![f32::NAN; kc * 16];
                interleave8(rows, &mut got, 16, offset);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "kc = {kc}, offset {offset}");
                assert_eq!(
                    got[(kc - 1) * 16 + offset + 5],
                    (5000 + kc - 1) as f32,
                    "out[p·16 + offset + r] = rows[r][p]"
                );
            }
        }
    }

    /// The AVX-512 register transpose against the plain loops, for depths below, at and past
    /// whole 16-step blocks, into 16-, 32- and 12-wide slivers (the CPU must have AVX-512F).
    fn interleave16_matches_plain_loops() {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for kc in [1, 15, 16, 17, 33, 196, 256] {
            let data: Vec<Vec<f32>> = (0..16).map(|r| (0..kc).map(|p| (r * 1000 + p) as f32).collect()).collect();
            let rows: [&[f32]; 16] = std::array::from_fn(|r| data[r].as_slice());
            let mut want = vec![f32::NAN; kc * 16];
            interleave::<16, 8>(rows, &mut want, 16, 0);
            let mut got = vec![f32::NAN; kc * 16];
            interleave16(rows, &mut got, 16, 0, 16);
            assert_eq!(got, want, "kc = {kc}");
            if kc > 3 {
                assert_eq!(want[3 * 16 + 5], 5003.0, "out[p·16 + r] = rows[r][p]");
            }
            // Into the second half of a 32-wide sliver, the first half left alone.
            let mut want32 = vec![f32::NAN; kc * 32];
            interleave::<16, 8>(rows, &mut want32, 32, 16);
            let mut got32 = vec![f32::NAN; kc * 32];
            interleave16(rows, &mut got32, 32, 16, 16);
            assert_eq!(bits(&got32), bits(&want32), "kc = {kc}, width 32");
            assert!(got32[..16].iter().all(|x| x.is_nan()) && got32[16] == 0.0);
            // The first 12 rows into a 12-wide sliver: rows 12..16 not stored.
            let twelve: [&[f32]; 12] = std::array::from_fn(|r| data[r].as_slice());
            let mut want12 = vec![f32::NAN; kc * 12];
            interleave::<12, 8>(twelve, &mut want12, 12, 0);
            let mut got12 = vec![f32::NAN; kc * 12];
            interleave16(rows, &mut got12, 12, 0, 12);
            assert_eq!(got12, want12, "kc = {kc}, 12 lanes");
        }
    }
}
