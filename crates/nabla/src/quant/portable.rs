//! The portable int8 micro-kernel: the same packed layout and the same i32 sums as the AVX2
//! one, in plain Rust (used where AVX2 is absent; the tests compare the two exactly).

use super::int8::{WeightLine, KU, MR, NR};

/// The [`super::int8::MicroKernel`] in plain Rust (a safe function: it needs no CPU feature).
pub(super) fn kernel(a: &[u8], b: &[WeightLine], acc: &mut [[i32; NR]; MR]) {
    assert!(a.len() >= b.len() * MR * KU, "packed activations shorter than the weights' groups");
    *acc = [[0; NR]; MR];
    for (g, line) in b.iter().enumerate() {
        let group = &a[g * MR * KU..(g + 1) * MR * KU];
        for (i, row) in acc.iter_mut().enumerate() {
            let u = &group[i * KU..(i + 1) * KU];
            for (j, sum) in row.iter_mut().enumerate() {
                let q = &line.0[j * KU..(j + 1) * KU];
                *sum += u.iter().zip(q).map(|(&u, &q)| i32::from(u) * i32::from(q)).sum::<i32>();
            }
        }
    }
}
