//! Verifiable audit sampling (SPEC.md §7). Each object of the population scores
//! `SHA-256(SAMPLE_DOMAIN || root || nonce || id)`; the `ceil(N × rate / 1000)` lowest scores,
//! compared as big-endian numbers with ties broken by lower seq, form the sample.

use crate::hash::{sha256, Hash};
use sha2::{Digest, Sha256};
use std::collections::BinaryHeap;

/// Domain separator of a sample score.
pub const SAMPLE_DOMAIN: &[u8] = b"charity-ledger/sample/v1\n";
/// Rates are given per thousand.
pub const PERMILLE: u64 = 1000;

/// An object's score. `Hash` orders its bytes lexicographically, which is big-endian order.
pub fn score(root: &Hash, nonce: &[u8; 32], id: &str) -> Hash {
    sha256(&[SAMPLE_DOMAIN, &root.0, nonce, id.as_bytes()])
}

/// `ceil(population × rate_permille / 1000)`. Computed in 128 bits, so it cannot overflow;
/// `None` only when the result does not fit a `u64` (a rate far above 1000 ‰). Rates above
/// 1000 are the caller's to refuse; [`select`] never selects more than the population.
pub fn selected_count(population: u64, rate_permille: u32) -> Option<u64> {
    let product = u128::from(population) * u128::from(rate_permille);
    let count = product.div_ceil(u128::from(PERMILLE));
    u64::try_from(count).ok()
}

/// The sample: the ids with the `selected_count` lowest `(score, seq)`, in that order.
/// Keeps a bounded max-heap of the best `k` seen so far: O(N log k) time, O(k) memory.
/// `population` is `(seq, id)`; seqs are expected to be distinct (they are log positions).
pub fn select<'a>(
    root: &Hash,
    nonce: &[u8; 32],
    population: &[(u64, &'a str)],
    rate_permille: u32,
) -> Vec<&'a str> {
    let n = population.len();
    let k = u64::try_from(n)
        .ok()
        .and_then(|n64| selected_count(n64, rate_permille))
        .map_or(n, |c| usize::try_from(c).unwrap_or(n))
        .min(n);
    if k == 0 {
        return Vec::new();
    }
    // The heap's top is the worst of the kept candidates; the id only breaks exact
    // (score, seq) ties, which distinct seqs never produce, to keep the result deterministic.
    let mut heap: BinaryHeap<(Hash, u64, &'a str)> = BinaryHeap::with_capacity(k);
    for &(seq, id) in population {
        let candidate = (score(root, nonce, id), seq, id);
        if heap.len() < k {
            heap.push(candidate);
        } else if heap.peek().is_some_and(|worst| candidate < *worst) {
            heap.pop();
            heap.push(candidate);
        }
    }
    heap.into_sorted_vec().into_iter().map(|(_, _, id)| id).collect()
}

/// SHA-256 of the selected ids in score order, each followed by `\n`.
pub fn selected_hash(ids: &[&str]) -> Hash {
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    Hash(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_round_up_and_never_overflow() {
        assert_eq!(selected_count(37, 100), Some(4));
        assert_eq!(selected_count(37, 150), Some(6));
        assert_eq!(selected_count(37, 1000), Some(37));
        assert_eq!(selected_count(0, 100), Some(0));
        assert_eq!(selected_count(1, 1), Some(1));
        assert_eq!(selected_count(1000, 1), Some(1));
        assert_eq!(selected_count(1001, 1), Some(2));
        assert_eq!(selected_count(u64::MAX, 1000), Some(u64::MAX));
        assert_eq!(selected_count(u64::MAX, 1001), None);
        assert_eq!(selected_count(u64::MAX, u32::MAX), None);
    }
}
