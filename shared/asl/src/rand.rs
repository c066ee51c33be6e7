//! Just enough randomness for `States.UUID`, `States.MathRandom` and retry jitter,
//! without pulling in an RNG crate. Not suitable for anything security-related.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh random 64-bit value. `RandomState` is keyed from OS entropy once per thread;
/// mixing in a global counter and the clock keeps successive values distinct.
pub(crate) fn next_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.write_u128(nanos);
    hasher.finish()
}

/// SplitMix64: a deterministic value for a seed, so `States.MathRandom(a, b, seed)` is
/// repeatable as the function's contract requires.
pub(crate) fn seeded_u64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A value in `[low, high]` (inclusive) drawn from `random`.
pub(crate) fn in_range(low: i64, high: i64, random: u64) -> i64 {
    let (low, high) = if low <= high {
        (low, high)
    } else {
        (high, low)
    };
    let span = (i128::from(high) - i128::from(low) + 1) as u128;
    let offset = u128::from(random) % span;
    i64::try_from(i128::from(low) + offset as i128).unwrap_or(high)
}

/// A fraction in `[0, 1]`.
pub(crate) fn unit_fraction() -> f64 {
    (next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A random (version 4, variant 1) UUID in its hyphenated lowercase form.
pub(crate) fn uuid_v4() -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&next_u64().to_be_bytes());
    bytes[8..].copy_from_slice(&next_u64().to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_distinct() {
        let a = uuid_v4();
        let b = uuid_v4();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert!(matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
    }

    #[test]
    fn range_is_inclusive_and_bounded() {
        for r in [0, 1, 2, 3, u64::MAX, 12345] {
            let v = in_range(1, 3, r);
            assert!((1..=3).contains(&v));
        }
        assert_eq!(in_range(5, 5, 999), 5);
        assert_eq!(in_range(i64::MIN, i64::MAX, 0), i64::MIN);
        assert_eq!(seeded_u64(7), seeded_u64(7));
        let f = unit_fraction();
        assert!((0.0..=1.0).contains(&f));
    }
}
