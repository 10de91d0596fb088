//! The sizes nabla refuses past, in one place: every reader and setting that could otherwise
//! ask for more memory than a machine has checks against these and names the flag, field or
//! file that asked, instead of aborting on a failed allocation.
//!
//! Each bound is far above any real use here (MNIST is 60,000 × 784; the widest published MLP
//! recipes are a few thousand units) and far below what would exhaust a 24 GB machine.

/// The most rows in one batch (`--batch-size`, `batch-size`): 2²⁰.
pub const MAX_BATCH: usize = 1 << 20;

/// The widest layer, inputs included (`--hidden`, a table's encoded columns, a checkpoint's
/// architecture): 2¹⁸ = 262,144 units.
pub const MAX_WIDTH: usize = 1 << 18;

/// The most parameters in one network: 2²⁸ (1 GiB of f32; with gradients and Adam's two
/// buffers, 4 GiB).
pub const MAX_PARAMS: usize = 1 << 28;

/// The most activations one batch may hold (rows × the widths of every layer): 2²⁸ floats,
/// 1 GiB, per buffer of the workspace.
pub const MAX_BATCH_VALUES: usize = 1 << 28;

/// The largest IDX file read, decompressed: 1 GiB (MNIST's training images are 47 MB, the
/// largest EMNIST split 0.55 GB). A header declaring more is refused before it is read.
pub const MAX_IDX_BYTES: u64 = 1 << 30;

/// The most trials in one sweep (a grid's product of value counts, or `--random N`).
pub const MAX_TRIALS: usize = 10_000;

/// The most pixels of an image given to `nabla predict` (it is shrunk to the model's 28 × 28
/// anyway): 2²⁴, e.g. 4096 × 4096.
pub const MAX_IMAGE_PIXELS: u64 = 1 << 24;

/// The most optimiser state buffers a checkpoint may name (Adam has two).
pub const MAX_OPTIMIZER_BUFFERS: usize = 8;

/// The most tokens (numbers, names, operators, brackets) in a formula (`nabla fit FORMULA`):
/// its tree is at most this deep, and evaluating or dropping it recurses that deep.
pub const MAX_FORMULA_TOKENS: usize = 1000;

/// The deepest a formula may nest brackets, signs, powers and calls: the parser recurses once
/// per level.
pub const MAX_FORMULA_NESTING: usize = 64;

/// Why `sizes` (input, hidden…, output widths) is too large a network for [`MAX_WIDTH`] and
/// [`MAX_PARAMS`], if it is; `None` when it fits.
pub fn network_too_large(sizes: &[usize]) -> Option<String> {
    if let Some(&w) = sizes.iter().find(|&&w| w > MAX_WIDTH) {
        return Some(format!("a layer of {w} units is wider than nabla's limit of {MAX_WIDTH}"));
    }
    let params = sizes.windows(2).try_fold(0usize, |total, w| {
        w[0].checked_mul(w[1]).and_then(|n| n.checked_add(w[1])).and_then(|n| total.checked_add(n))
    });
    match params {
        Some(n) if n <= MAX_PARAMS => None,
        _ => Some(format!(
            "{} parameters is more than nabla's limit of {MAX_PARAMS}",
            params.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string())
        )),
    }
}

/// Why a batch of `rows` through a network of `sizes` would hold too many activations, if it
/// would.
pub fn batch_too_large(rows: usize, sizes: &[usize]) -> Option<String> {
    if rows > MAX_BATCH {
        return Some(format!("a batch of {rows} rows is more than nabla's limit of {MAX_BATCH}"));
    }
    let values = sizes.iter().try_fold(0usize, |t, &w| t.checked_add(w)).and_then(|w| w.checked_mul(rows));
    match values {
        Some(v) if v <= MAX_BATCH_VALUES => None,
        _ => Some(format!(
            "a batch of {rows} rows through layers of {sizes:?} holds more than nabla's limit of {MAX_BATCH_VALUES} values"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_refuse_what_would_not_fit_and_pass_real_networks() {
        assert_eq!(network_too_large(&[784, 512, 256, 10]), None);
        assert_eq!(batch_too_large(60_000, &[784, 512, 256, 10]), None);
        let e = network_too_large(&[784, 100_000_000, 10]).unwrap();
        assert!(e.contains("100000000 units"), "{e}");
        let e = network_too_large(&[784, 200_000, 200_000, 10]).unwrap();
        assert!(e.contains("parameters"), "{e}");
        assert!(network_too_large(&[usize::MAX / 2, 3]).is_some());
        let e = batch_too_large(1_000_000_000_000, &[784, 128, 10]).unwrap();
        assert!(e.contains("1000000000000 rows"), "{e}");
        assert!(batch_too_large(1 << 20, &[262_144, 10]).is_some());
        assert!(batch_too_large(usize::MAX, &[usize::MAX]).is_some());
    }
}
