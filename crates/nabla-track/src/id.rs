//! Run ids: 12 characters of lowercase Crockford base32, time first, so that ids sort by
//! start time and a short prefix is usually unique.
//!
//! The first 8 characters are the milliseconds since 2024-01-01 UTC (40 bits: good until
//! 2058); the last 4 are 20 random bits, enough to keep runs started in the same millisecond
//! (a sweep launching jobs) apart.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Crockford's alphabet, lowercased: no i, l, o or u to misread.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// 2024-01-01T00:00:00Z in Unix milliseconds.
const EPOCH_MS: u64 = 1_704_067_200_000;

/// The length of a run id.
pub const RUN_ID_LEN: usize = 12;

/// A new run id for a run starting now.
pub fn new_run_id() -> String {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    run_id_from(ms.saturating_sub(EPOCH_MS), random_bits())
}

/// The id for `ms` milliseconds after the id epoch and a random number (low 20 bits used).
pub(crate) fn run_id_from(ms: u64, random: u64) -> String {
    let mut id = String::with_capacity(RUN_ID_LEN);
    for i in (0..8).rev() {
        id.push(ALPHABET[((ms >> (5 * i)) & 31) as usize] as char);
    }
    for i in (0..4).rev() {
        id.push(ALPHABET[((random >> (5 * i)) & 31) as usize] as char);
    }
    id
}

/// A per-process random base plus a counter: two ids from one process never share their
/// random part (until 2^20 runs), and two processes rarely do. The base comes from the
/// OS-seeded hasher keys mixed with the process id and the time; not cryptographic, ids only
/// need to differ (and `Run::init` draws again if the store already has the id).
fn random_bits() -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = *BASE.get_or_init(|| {
        let mut h = RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
        h.finish()
    });
    base.wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_twelve_base32_chars_and_sort_by_time() {
        let a = run_id_from(1_000, 0xfffff);
        let b = run_id_from(1_001, 0);
        assert_eq!(a.len(), RUN_ID_LEN);
        assert!(a < b, "{a} {b}");
        assert_eq!(run_id_from(0, 0), "000000000000");
        assert_eq!(run_id_from(31, 31), "0000000z000z");
    }

    #[test]
    fn ids_made_at_once_differ() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_run_id()).collect();
        assert_eq!(ids.len(), 1000);
    }
}
