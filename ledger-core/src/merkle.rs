//! The RFC 6962 / RFC 9162 Merkle tree over the ledger's leaf hashes: roots, inclusion and
//! consistency proofs, and their checks.
//!
//! The node keeps the tree in a key-value store, not in memory, so every function here reads
//! hashes through [`HashReader`] and the tree is laid out as Go's `golang.org/x/mod/sumdb/tlog`
//! lays it out: each complete subtree's hash is stored exactly once, at an index fixed by its
//! (level, n) coordinates, in the order the hashes come into existence as leaves are appended.
//! Appending therefore only ever adds hashes at the end, and any older tree size can still be
//! proved from the same store.
//!
//! Nothing here panics: sizes and indexes come from requests and files, so every bad
//! combination is an error value and all arithmetic is checked.

// The arguments are untrusted numbers: make any unchecked arithmetic or indexing a build error.
#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use crate::hash::{empty_root, node_hash, Hash};
use crate::limits::PROOF_HASHES_MAX;

/// Access to stored hashes by index, so the same proof code serves the sled-backed node, the
/// in-memory verifier and tests.
pub trait HashReader {
    /// Returns the hashes at `indexes`, in the same order. Batched so that a store can answer
    /// one proof with one round trip.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError>;
}

/// Why a tree operation over stored hashes could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    /// The store failed or lacks a hash the tree size says it must have.
    #[error("reading stored hashes failed: {0}")]
    Read(String),
    /// A reader broke its contract; trusting a short answer would misalign every hash after it.
    #[error("hash reader returned {got} hashes for {asked} indexes")]
    ReadCount { asked: usize, got: usize },
    /// The sizes or indexes asked for describe no tree or no leaf in it.
    #[error("bad arguments: {0}")]
    BadArguments(&'static str),
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The proof does not have the one length the tree shape allows.
    #[error("proof has the wrong number of hashes")]
    WrongLength,
    /// The proof does not lead to the root (or roots) it was checked against.
    #[error("proof does not lead to the expected root")]
    RootMismatch,
    /// The sizes or index describe no tree or no leaf in it.
    #[error("bad arguments: {0}")]
    BadArguments(&'static str),
}

const TOO_LARGE: &str = "tree too large to index";

/// Number of hashes stored before leaf `m` is appended: `2m - popcount(m)`. Computed in u128
/// because it is needed for leaf indexes up to 2^64 - 1, where it no longer fits in u64.
fn count_before_leaf(m: u128) -> u128 {
    // m <= 2^64 here, so neither operation ever saturates.
    m.saturating_mul(2).saturating_sub(u128::from(m.count_ones()))
}

/// The index of the hash of the complete subtree at `level` covering leaves
/// `n·2^level .. (n+1)·2^level`, or `None` if it would not fit in u64.
fn checked_stored_hash_index(level: u8, n: u64) -> Option<u64> {
    if level > 63 {
        return None;
    }
    // The subtree is completed by its last leaf; its hash is stored right after that leaf's
    // hash, one slot per level above it.
    let last_leaf = u128::from(n).checked_add(1)?.checked_shl(u32::from(level))?.checked_sub(1)?;
    if last_leaf > u128::from(u64::MAX) {
        return None;
    }
    let index = count_before_leaf(last_leaf).checked_add(u128::from(level))?;
    u64::try_from(index).ok()
}

/// Where the hash of the complete subtree at (`level`, `n`) lives in the store. Coordinates that
/// belong to no tree with a 64-bit size give `u64::MAX`, a slot no real store reaches, so a lookup
/// fails instead of landing on an unrelated hash.
pub fn stored_hash_index(level: u8, n: u64) -> u64 {
    checked_stored_hash_index(level, n).unwrap_or(u64::MAX)
}

/// The inverse of [`stored_hash_index`], so a store can say what a given slot holds.
pub fn split_stored_hash_index(index: u64) -> (u8, u64) {
    let index = u128::from(index);
    // count_before_leaf(index / 2) <= index, and each further leaf adds at least one hash,
    // so at most a few dozen steps find the leaf whose appending stored this index.
    let mut leaf = index / 2;
    while count_before_leaf(leaf.saturating_add(1)) <= index {
        leaf = leaf.saturating_add(1);
    }
    let level = index.saturating_sub(count_before_leaf(leaf));
    // `level` <= 63 because appending one leaf below 2^64 stores at most 1 + 63 hashes.
    let level = u8::try_from(level).unwrap_or(u8::MAX).min(63);
    let n = leaf.checked_shr(u32::from(level)).unwrap_or_default();
    (level, u64::try_from(n).unwrap_or(u64::MAX))
}

/// How many hashes a tree of `n` leaves has stored, i.e. where the next leaf's hashes begin.
/// Saturates at `u64::MAX` for sizes above 2^63, which no store can reach.
pub fn stored_hash_count(n: u64) -> u64 {
    u64::try_from(count_before_leaf(u128::from(n))).unwrap_or(u64::MAX)
}

/// Reads exactly `indexes.len()` hashes, refusing a reader that answers with a different count.
fn read_exact(r: &impl HashReader, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = r.read_hashes(indexes)?;
    if hashes.len() != indexes.len() {
        return Err(MerkleError::ReadCount { asked: indexes.len(), got: hashes.len() });
    }
    Ok(hashes)
}

/// The largest power of two strictly below `size` (the RFC 6962 split point `k`); `size` >= 2.
fn split_point(size: u64) -> u64 {
    size.saturating_sub(1).checked_ilog2().and_then(|bit| 1u64.checked_shl(bit)).unwrap_or(1)
}

/// A run of leaves `lo..hi` whose subtree hash a proof needs. Every span the RFC recursions
/// produce starts at a multiple of a power of two at least as large as the span, so its hash is
/// the right fold of the stored complete subtrees that cover it, largest first.
#[derive(Debug, Clone, Copy)]
struct Span {
    lo: u64,
    hi: u64,
}

/// Appends the stored indexes of the complete subtrees covering `span`, returning how many.
fn push_span_indexes(span: Span, out: &mut Vec<u64>) -> Result<usize, MerkleError> {
    let before = out.len();
    let mut start = span.lo;
    let mut rest = span.hi.checked_sub(span.lo).ok_or(MerkleError::BadArguments("inverted span"))?;
    while let Some(level) = rest.checked_ilog2() {
        let width = 1u64.checked_shl(level).ok_or(MerkleError::BadArguments(TOO_LARGE))?;
        let index = u8::try_from(level)
            .ok()
            .zip(start.checked_shr(level))
            .and_then(|(level_u8, n)| checked_stored_hash_index(level_u8, n))
            .ok_or(MerkleError::BadArguments(TOO_LARGE))?;
        out.push(index);
        rest = rest.checked_sub(width).ok_or(MerkleError::BadArguments(TOO_LARGE))?;
        start = start.checked_add(width).ok_or(MerkleError::BadArguments(TOO_LARGE))?;
    }
    Ok(out.len().saturating_sub(before))
}

/// Hash of consecutive sibling subtrees, largest (leftmost) first, as RFC 6962 combines them.
fn fold_right(parts: &[Hash]) -> Hash {
    let mut iter = parts.iter().rev();
    let Some(last) = iter.next() else {
        return empty_root();
    };
    iter.fold(*last, |acc, left| node_hash(left, &acc))
}

/// Hashes of `spans`, read from the store in a single batch.
fn span_hashes(spans: &[Span], r: &impl HashReader) -> Result<Vec<Hash>, MerkleError> {
    let mut indexes = Vec::new();
    let mut counts = Vec::with_capacity(spans.len());
    for span in spans {
        counts.push(push_span_indexes(*span, &mut indexes)?);
    }
    let hashes = read_exact(r, &indexes)?;
    let mut out = Vec::with_capacity(spans.len());
    let mut pos = 0usize;
    for count in counts {
        let end = pos
            .checked_add(count)
            .ok_or(MerkleError::ReadCount { asked: indexes.len(), got: hashes.len() })?;
        let parts =
            hashes.get(pos..end).ok_or(MerkleError::ReadCount { asked: indexes.len(), got: hashes.len() })?;
        out.push(fold_right(parts));
        pos = end;
    }
    Ok(out)
}

/// The hashes to store when leaf `n` is appended to a tree of `n` leaves: the leaf itself, then
/// each subtree it completes, bottom up. They belong at indexes `stored_hash_count(n)..`.
pub fn stored_hashes_for_record(n: u64, leaf: Hash, r: &impl HashReader) -> Result<Vec<Hash>, MerkleError> {
    if n == u64::MAX || checked_stored_hash_index(0, n).is_none() {
        return Err(MerkleError::BadArguments(TOO_LARGE));
    }
    // The left siblings of the new leaf's ancestors are exactly the subtrees it completes.
    let mut indexes = Vec::new();
    for level in 0..n.trailing_ones() {
        let index = u8::try_from(level)
            .ok()
            .zip(n.checked_shr(level))
            .and_then(|(level_u8, ancestor)| checked_stored_hash_index(level_u8, ancestor ^ 1))
            .ok_or(MerkleError::BadArguments(TOO_LARGE))?;
        indexes.push(index);
    }
    let siblings = read_exact(r, &indexes)?;
    let mut out = Vec::with_capacity(siblings.len().saturating_add(1));
    let mut h = leaf;
    out.push(h);
    for left in &siblings {
        h = node_hash(left, &h);
        out.push(h);
    }
    Ok(out)
}

/// The root of the first `n` leaves, so any past checkpoint's root can be recomputed.
pub fn tree_hash(n: u64, r: &impl HashReader) -> Result<Hash, MerkleError> {
    if n == 0 {
        return Ok(empty_root());
    }
    let hashes = span_hashes(&[Span { lo: 0, hi: n }], r)?;
    hashes.first().copied().ok_or(MerkleError::BadArguments("no root"))
}

/// One level of the descent from the root to a leaf: the sibling subtree, and whether the
/// target lies in the left child (so the sibling is hashed on the right).
#[derive(Debug, Clone, Copy)]
struct Step {
    sibling: Span,
    target_left: bool,
}

/// The RFC 9162 §2.1.3 PATH recursion unrolled: steps from the root down to leaf `n`.
fn inclusion_steps(t: u64, n: u64) -> Vec<Step> {
    let mut steps = Vec::new();
    let (mut lo, mut hi) = (0u64, t);
    // Invariant: lo <= n < hi, so the subtraction never saturates and mid <= hi never
    // overflows.
    while hi.saturating_sub(lo) > 1 {
        let mid = lo.saturating_add(split_point(hi.saturating_sub(lo)));
        if n < mid {
            steps.push(Step { sibling: Span { lo: mid, hi }, target_left: true });
            hi = mid;
        } else {
            steps.push(Step { sibling: Span { lo, hi: mid }, target_left: false });
            lo = mid;
        }
    }
    steps
}

/// The RFC 9162 §2.1.4 SUBPROOF recursion unrolled for old size `n` within new size `t`
/// (`0 < n < t`). Returns the steps from the root down, and the subtree where the descent
/// stops if its hash must be sent (it need not be when it is the whole old tree, whose root
/// the checker already has).
fn consistency_steps(t: u64, n: u64) -> (Vec<Step>, Option<Span>) {
    let mut steps = Vec::new();
    let (mut lo, mut hi) = (0u64, t);
    let mut on_left_spine = true;
    // Invariant: lo < n <= hi, so when n < hi the span has at least two leaves.
    while n < hi {
        let mid = lo.saturating_add(split_point(hi.saturating_sub(lo)));
        if n <= mid {
            steps.push(Step { sibling: Span { lo: mid, hi }, target_left: true });
            hi = mid;
        } else {
            steps.push(Step { sibling: Span { lo, hi: mid }, target_left: false });
            lo = mid;
            on_left_spine = false;
        }
    }
    let terminal = (!on_left_spine).then_some(Span { lo, hi });
    (steps, terminal)
}

fn refuse_long(len: usize) -> Result<(), MerkleError> {
    if len > PROOF_HASHES_MAX {
        return Err(MerkleError::BadArguments("proof would exceed PROOF_HASHES_MAX"));
    }
    Ok(())
}

/// Inclusion proof of leaf `n` in the tree of size `t`, elements ordered leaf to root as
/// RFC 9162 §2.1.3 and Go's `tlog.CheckRecord` expect.
pub fn prove_record(t: u64, n: u64, r: &impl HashReader) -> Result<Vec<Hash>, MerkleError> {
    if t == 0 {
        return Err(MerkleError::BadArguments("empty tree has no records"));
    }
    if n >= t {
        return Err(MerkleError::BadArguments("record index >= tree size"));
    }
    let steps = inclusion_steps(t, n);
    refuse_long(steps.len())?;
    let spans: Vec<Span> = steps.iter().rev().map(|s| s.sibling).collect();
    span_hashes(&spans, r)
}

/// Consistency proof from the tree of size `n` to the tree of size `t`, RFC 9162 §2.1.4. The
/// empty tree is consistent with everything, so proving from it is meaningless and refused.
pub fn prove_tree(t: u64, n: u64, r: &impl HashReader) -> Result<Vec<Hash>, MerkleError> {
    if n == 0 {
        return Err(MerkleError::BadArguments("old tree size is 0"));
    }
    if n > t {
        return Err(MerkleError::BadArguments("old tree size > new tree size"));
    }
    if n == t {
        return Ok(Vec::new());
    }
    let (steps, terminal) = consistency_steps(t, n);
    refuse_long(steps.len().saturating_add(usize::from(terminal.is_some())))?;
    let spans: Vec<Span> = terminal.into_iter().chain(steps.iter().rev().map(|s| s.sibling)).collect();
    span_hashes(&spans, r)
}

/// Checks that `proof` shows leaf `n` with hash `leaf` is in the tree of size `t` with root
/// `root`. The length is checked first: the tree shape allows exactly one.
pub fn check_record(proof: &[Hash], t: u64, root: Hash, n: u64, leaf: Hash) -> Result<(), ProofError> {
    if proof.len() > PROOF_HASHES_MAX {
        return Err(ProofError::WrongLength);
    }
    if t == 0 {
        return Err(ProofError::BadArguments("empty tree has no records"));
    }
    if n >= t {
        return Err(ProofError::BadArguments("record index >= tree size"));
    }
    let steps = inclusion_steps(t, n);
    if steps.len() != proof.len() {
        return Err(ProofError::WrongLength);
    }
    let mut h = leaf;
    for (step, p) in steps.iter().rev().zip(proof) {
        h = if step.target_left { node_hash(&h, p) } else { node_hash(p, &h) };
    }
    if h != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that `proof` shows the tree of size `n` with root `root_n` is a prefix of the tree of
/// size `t` with root `root_t`: the log only appended between the two checkpoints.
pub fn check_tree(proof: &[Hash], t: u64, root_t: Hash, n: u64, root_n: Hash) -> Result<(), ProofError> {
    if proof.len() > PROOF_HASHES_MAX {
        return Err(ProofError::WrongLength);
    }
    if n == 0 {
        return Err(ProofError::BadArguments("old tree size is 0"));
    }
    if n > t {
        return Err(ProofError::BadArguments("old tree size > new tree size"));
    }
    if n == t {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        if root_n != root_t {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    let (steps, terminal) = consistency_steps(t, n);
    if steps.len().saturating_add(usize::from(terminal.is_some())) != proof.len() {
        return Err(ProofError::WrongLength);
    }
    // Rebuild both roots bottom up: siblings on the left are in both trees, siblings on the
    // right were appended after size n and only enter the new root.
    let (seed, rest) = match terminal {
        Some(_) => match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => return Err(ProofError::WrongLength),
        },
        None => (root_n, proof),
    };
    let (mut old, mut new) = (seed, seed);
    for (step, p) in steps.iter().rev().zip(rest) {
        if step.target_left {
            new = node_hash(&new, p);
        } else {
            new = node_hash(p, &new);
            old = node_hash(p, &old);
        }
    }
    if old != root_n || new != root_t {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Every stored hash of a tree, in memory, in the stored-hash layout: the node's tree (about
/// 64 bytes per entry), and the store of tests, the verifier and small tools.
#[derive(Debug, Clone, Default)]
pub struct MemoryHashes {
    hashes: Vec<Hash>,
    frontier: Frontier,
}

impl MemoryHashes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf and returns the new size. The frontier already yields exactly the hashes
    /// the stored layout needs, so appending cannot fail; a tree of 2^64 - 1 leaves (which no
    /// memory can hold) stays as it is.
    pub fn append_leaf(&mut self, leaf: Hash) -> u64 {
        let hashes = &mut self.hashes;
        self.frontier.push_with(leaf, |h| hashes.push(h));
        self.frontier.size()
    }

    /// The tree of `size` leaves whose stored hashes are `hashes`, as [`MemoryHashes::stored`]
    /// gave them (a saved tree). Refuses a count that is not `stored_hash_count(size)`.
    pub fn from_stored(size: u64, hashes: Vec<Hash>) -> Result<MemoryHashes, MerkleError> {
        if hashes.len() as u64 != stored_hash_count(size) {
            return Err(MerkleError::BadArguments("the stored hashes are not those of a tree of that size"));
        }
        let mut tree = MemoryHashes { hashes, frontier: Frontier::default() };
        tree.frontier = tree.frontier_at(size)?;
        Ok(tree)
    }

    /// The stored hashes of the tree's first `size` leaves (the whole tree when `size` is its
    /// size), in the stored-hash layout; `None` if the tree is smaller.
    pub fn stored(&self, size: u64) -> Option<&[Hash]> {
        let count = usize::try_from(stored_hash_count(size)).ok()?;
        self.hashes.get(..count).filter(|_| size <= self.size())
    }

    /// Forgets every leaf from `size` on (leaves appended and then taken back). A `size` at or
    /// past the tree's size changes nothing.
    pub fn truncate(&mut self, size: u64) -> Result<(), MerkleError> {
        if size >= self.size() {
            return Ok(());
        }
        self.frontier = self.frontier_at(size)?;
        self.hashes.truncate(usize::try_from(stored_hash_count(size)).unwrap_or(usize::MAX));
        Ok(())
    }

    /// The frontier of the tree's first `size` leaves: the stored roots of its complete
    /// subtrees, one per set bit of `size`, largest first.
    fn frontier_at(&self, size: u64) -> Result<Frontier, MerkleError> {
        // The subtree of each set bit starts where the larger ones end: at `size` with that bit
        // and those below it cleared.
        let indexes: Vec<u64> = (0..64u8)
            .rev()
            .filter(|&level| size & (1 << level) != 0)
            .map(|level| {
                let start = size & (u64::MAX << level) & !(1u64 << level);
                stored_hash_index(level, start >> level)
            })
            .collect();
        Ok(Frontier { size, hashes: read_exact(self, &indexes)? })
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }
}

impl HashReader for MemoryHashes {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes
            .iter()
            .map(|&index| {
                usize::try_from(index)
                    .ok()
                    .and_then(|i| self.hashes.get(i))
                    .copied()
                    .ok_or_else(|| MerkleError::Read(format!("no stored hash at index {index}")))
            })
            .collect()
    }
}

/// The compact range (right frontier) of a tree: O(log n) hashes, enough to append and get the
/// root without reading the store, so the node can sign a checkpoint straight after a commit.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Frontier {
    size: u64,
    /// Roots of the complete subtrees that make up the tree, largest (leftmost) first: one per
    /// set bit of `size`.
    hashes: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf. A tree of 2^64 - 1 leaves cannot grow (and cannot be reached).
    pub fn push(&mut self, leaf: Hash) {
        self.push_with(leaf, |_| {});
    }

    /// Appends a leaf, handing each newly completed subtree hash (the leaf first, then its
    /// completed ancestors bottom up) to `stored`: the same order as the stored-hash layout.
    fn push_with(&mut self, leaf: Hash, mut stored: impl FnMut(Hash)) {
        let Some(new_size) = self.size.checked_add(1) else {
            return;
        };
        let mut h = leaf;
        stored(h);
        for _ in 0..self.size.trailing_ones() {
            let Some(left) = self.hashes.pop() else {
                break;
            };
            h = node_hash(&left, &h);
            stored(h);
        }
        self.hashes.push(h);
        self.size = new_size;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self) -> Hash {
        fold_right(&self.hashes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_layout_matches_go_tlog() {
        // Go's tlog doc: hashes are stored in the order leaf 0, leaf 1, (1,0), leaf 2, leaf 3,
        // (1,1), (2,0), leaf 4, ...
        let expected = [
            (0, 0),
            (0, 1),
            (1, 0),
            (0, 2),
            (0, 3),
            (1, 1),
            (2, 0),
            (0, 4),
            (0, 5),
            (1, 2),
            (0, 6),
            (0, 7),
            (1, 3),
            (2, 1),
            (3, 0),
        ];
        for (index, &(level, n)) in expected.iter().enumerate() {
            assert_eq!(stored_hash_index(level, n), index as u64, "({level},{n})");
            assert_eq!(split_stored_hash_index(index as u64), (level, n));
        }
    }

    #[test]
    fn counts() {
        let counts = [0u64, 1, 3, 4, 7, 8, 10, 11, 15];
        for (n, &c) in counts.iter().enumerate() {
            assert_eq!(stored_hash_count(n as u64), c);
        }
        assert_eq!(stored_hash_count(1 << 63), u64::MAX);
        assert_eq!(stored_hash_count(u64::MAX), u64::MAX);
    }

    #[test]
    fn split_inverts_index_everywhere() {
        for index in (0..5000u64).chain(u64::MAX - 5000..=u64::MAX) {
            let (level, n) = split_stored_hash_index(index);
            assert_eq!(stored_hash_index(level, n), index, "index {index}");
        }
    }

    #[test]
    fn extreme_coordinates_do_not_panic() {
        assert_eq!(stored_hash_index(64, 0), u64::MAX);
        assert_eq!(stored_hash_index(255, 7), u64::MAX);
        assert_eq!(stored_hash_index(0, u64::MAX), u64::MAX);
        assert_eq!(stored_hash_index(63, 1), u64::MAX);
        assert_eq!(stored_hash_index(63, 0), u64::MAX - 1);
        for level in 0..=63u8 {
            let _ = stored_hash_index(level, u64::MAX >> level);
        }
    }

    #[test]
    fn split_point_is_largest_power_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }
}
