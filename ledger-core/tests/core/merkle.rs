//! The Merkle tree against merkle.json, against a naive RFC 6962 reference, and against hostile
//! arguments.

use crate::vectors;
use ledger_core::encoding::{hash_from_b64, hash_from_hex};
use ledger_core::hash::{empty_root, leaf_hash, node_hash, Hash};
use ledger_core::merkle::{
    check_record, check_tree, prove_record, prove_tree, split_stored_hash_index, stored_hash_count,
    stored_hash_index, stored_hashes_for_record, tree_hash, Frontier, HashReader, MemoryHashes, MerkleError,
    ProofError,
};
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::OnceLock;

fn b64(text: &serde_json::Value) -> Hash {
    hash_from_b64(text.as_str().expect("string")).expect("base64 hash")
}

fn proof_of(v: &serde_json::Value) -> Vec<Hash> {
    v["proof_base64"].as_array().expect("array").iter().map(b64).collect()
}

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().expect("integer")
}

struct Vectors {
    leaves: Vec<Hash>,
    roots: Vec<Hash>,
    store: MemoryHashes,
    json: serde_json::Value,
}

fn load() -> Vectors {
    let json = vectors("merkle.json");
    let entries = json["entries"].as_array().expect("entries");
    let hexes = json["leaf_hashes_hex"].as_array().expect("leaf hashes");
    assert_eq!(entries.len(), hexes.len());
    let mut leaves = Vec::new();
    for (entry, hex) in entries.iter().zip(hexes) {
        let leaf = leaf_hash(entry.as_str().expect("entry").as_bytes());
        assert_eq!(leaf, hash_from_hex(hex.as_str().expect("hex")).expect("hex hash"));
        leaves.push(leaf);
    }
    let roots_json = json["roots_base64"].as_object().expect("roots");
    let roots: Vec<Hash> = (0..=leaves.len()).map(|n| b64(&roots_json[&n.to_string()])).collect();
    assert_eq!(roots.len(), 21);
    let mut store = MemoryHashes::new();
    for leaf in &leaves {
        store.append_leaf(*leaf);
    }
    Vectors { leaves, roots, store, json }
}

#[test]
fn leaves_and_roots() {
    let v = load();
    let mut frontier = Frontier::new();
    let mut growing = MemoryHashes::new();
    assert_eq!(v.roots[0], empty_root());
    for n in 0..=v.leaves.len() {
        let root = v.roots[n];
        assert_eq!(tree_hash(n as u64, &v.store).unwrap(), root, "size {n}");
        assert_eq!(frontier.size(), n as u64);
        assert_eq!(frontier.root(), root, "frontier size {n}");
        assert_eq!(growing.root(), root);
        if let Some(leaf) = v.leaves.get(n) {
            frontier.push(*leaf);
            assert_eq!(growing.append_leaf(*leaf), n as u64 + 1);
        }
    }
}

/// A tree saved and read back, or truncated, is the tree grown afresh to that size: same root,
/// same proofs, and it grows on to the same roots.
#[test]
fn saved_and_truncated_trees_are_the_grown_ones() {
    let v = load();
    let mut whole = MemoryHashes::new();
    for leaf in &v.leaves {
        whole.append_leaf(*leaf);
    }
    let full = v.leaves.len() as u64;
    for n in 0..=full {
        let mut grown = MemoryHashes::new();
        for leaf in &v.leaves[..n as usize] {
            grown.append_leaf(*leaf);
        }
        let saved = whole.stored(n).unwrap().to_vec();
        assert_eq!(saved.len() as u64, stored_hash_count(n));
        let mut loaded = MemoryHashes::from_stored(n, saved).unwrap();
        let mut truncated = whole.clone();
        truncated.truncate(n).unwrap();
        for tree in [&mut loaded, &mut truncated] {
            assert_eq!((tree.size(), tree.root()), (n, v.roots[n as usize]), "size {n}");
            for m in 0..n {
                assert_eq!(prove_record(n, m, tree), prove_record(n, m, &grown), "record {m} in {n}");
            }
            for leaf in &v.leaves[n as usize..] {
                tree.append_leaf(*leaf);
            }
            assert_eq!(tree.root(), whole.root(), "grown on from {n}");
        }
    }
    assert!(whole.stored(full + 1).is_none());
    let mut same = whole.clone();
    same.truncate(full + 5).unwrap();
    assert_eq!((same.size(), same.root()), (full, whole.root()));
    // A saved tree with a hash too many or too few is refused.
    let hashes = whole.stored(full).unwrap().to_vec();
    assert!(MemoryHashes::from_stored(full, hashes[1..].to_vec()).is_err());
    assert!(MemoryHashes::from_stored(full - 1, hashes).is_err());
}

#[test]
fn stored_hashes_follow_the_layout() {
    let v = load();
    let mut all: Vec<Hash> = Vec::new();
    let mut store = MemoryHashes::new();
    for (n, leaf) in v.leaves.iter().enumerate() {
        let n = n as u64;
        assert_eq!(all.len() as u64, stored_hash_count(n));
        let new = stored_hashes_for_record(n, *leaf, &store).unwrap();
        all.extend(new);
        store.append_leaf(*leaf);
        assert_eq!(all.len() as u64, stored_hash_count(n + 1));
        let indexes: Vec<u64> = (0..all.len() as u64).collect();
        assert_eq!(store.read_hashes(&indexes).unwrap(), all);
    }
    // Every stored hash is the root of the complete subtree its index names.
    for (index, h) in all.iter().enumerate() {
        let (level, k) = split_stored_hash_index(index as u64);
        assert_eq!(stored_hash_index(level, k), index as u64);
        let lo = (k << level) as usize;
        let hi = ((k + 1) << level) as usize;
        assert_eq!(*h, Reference::new(&v.leaves).mth(lo, hi));
    }
}

#[test]
fn inclusion_vectors() {
    let v = load();
    let cases = v.json["inclusion"].as_array().expect("inclusion");
    assert_eq!(cases.len(), 210);
    for case in cases {
        let (n, t) = (u(&case["index"]), u(&case["size"]));
        let expected = proof_of(case);
        let root = v.roots[t as usize];
        let leaf = v.leaves[n as usize];
        let proof = prove_record(t, n, &v.store).unwrap();
        assert_eq!(proof, expected, "inclusion {n} in {t}");
        assert_eq!(check_record(&proof, t, root, n, leaf), Ok(()));
        for i in 0..proof.len() {
            let mut flipped = proof.clone();
            flipped[i].0[i % 32] ^= 1;
            assert_eq!(check_record(&flipped, t, root, n, leaf), Err(ProofError::RootMismatch));
            let mut short = proof.clone();
            short.remove(i);
            assert_eq!(check_record(&short, t, root, n, leaf), Err(ProofError::WrongLength));
        }
        let mut long = proof.clone();
        long.push(leaf);
        assert_eq!(check_record(&long, t, root, n, leaf), Err(ProofError::WrongLength));
        let mut wrong_leaf = leaf;
        wrong_leaf.0[0] ^= 0x80;
        assert!(check_record(&proof, t, root, n, wrong_leaf).is_err());
        // The proof for size t does not prove inclusion in any other size's tree.
        for other in (n + 1)..=20 {
            if other != t {
                assert!(
                    check_record(&proof, other, v.roots[other as usize], n, leaf).is_err(),
                    "inclusion {n} in {t} accepted for size {other}"
                );
            }
        }
        assert!(check_record(&proof, t, root, t, leaf).is_err());
    }
}

#[test]
fn consistency_vectors() {
    let v = load();
    let cases = v.json["consistency"].as_array().expect("consistency");
    assert_eq!(cases.len(), 210);
    for case in cases {
        let (n, t) = (u(&case["from"]), u(&case["to"]));
        let expected = proof_of(case);
        let (root_n, root_t) = (v.roots[n as usize], v.roots[t as usize]);
        let proof = prove_tree(t, n, &v.store).unwrap();
        assert_eq!(proof, expected, "consistency {n} to {t}");
        assert_eq!(check_tree(&proof, t, root_t, n, root_n), Ok(()));
        for i in 0..proof.len() {
            let mut flipped = proof.clone();
            flipped[i].0[31 - i % 32] ^= 4;
            assert_eq!(check_tree(&flipped, t, root_t, n, root_n), Err(ProofError::RootMismatch));
            let mut short = proof.clone();
            short.remove(i);
            assert_eq!(check_tree(&short, t, root_t, n, root_n), Err(ProofError::WrongLength));
        }
        let mut long = proof.clone();
        long.push(root_n);
        assert_eq!(check_tree(&long, t, root_t, n, root_n), Err(ProofError::WrongLength));
        for other in 1..=20u64 {
            if other != t && other >= n {
                assert!(
                    check_tree(&proof, other, v.roots[other as usize], n, root_n).is_err(),
                    "consistency {n}->{t} accepted as {n}->{other}"
                );
            }
            if other != n && other <= t {
                assert!(
                    check_tree(&proof, t, root_t, other, v.roots[other as usize]).is_err(),
                    "consistency {n}->{t} accepted as {other}->{t}"
                );
            }
        }
        if n < t {
            assert!(check_tree(&proof, t, root_t, n, v.roots[n as usize - 1]).is_err());
        }
    }
}

#[test]
fn bad_arguments_are_errors() {
    let v = load();
    let s = &v.store;
    let h = v.leaves[0];
    assert!(matches!(prove_record(0, 0, s), Err(MerkleError::BadArguments(_))));
    assert!(matches!(prove_record(5, 5, s), Err(MerkleError::BadArguments(_))));
    assert!(matches!(prove_record(5, 9, s), Err(MerkleError::BadArguments(_))));
    assert!(matches!(prove_tree(5, 0, s), Err(MerkleError::BadArguments(_))));
    assert!(matches!(prove_tree(5, 6, s), Err(MerkleError::BadArguments(_))));
    assert_eq!(prove_tree(5, 5, s), Ok(vec![]));
    assert!(matches!(stored_hashes_for_record(u64::MAX, h, s), Err(MerkleError::BadArguments(_))));
    assert!(stored_hashes_for_record((1 << 63) + 1, h, s).is_err());
    assert!(matches!(stored_hashes_for_record(23, h, s), Err(MerkleError::Read(_))));
    // Sizes beyond what the store holds fail on reading, never panic.
    assert!(matches!(prove_record(21, 3, s), Err(MerkleError::Read(_))));
    assert!(matches!(tree_hash(21, s), Err(MerkleError::Read(_))));
    for t in [u64::MAX, u64::MAX - 1, 1 << 63, (1 << 63) + 1, 1 << 62] {
        assert!(prove_record(t, 0, s).is_err());
        assert!(prove_record(t, t - 1, s).is_err());
        assert!(prove_tree(t, 1, s).is_err());
        assert!(prove_tree(t, t - 1, s).is_err());
        assert!(tree_hash(t, s).is_err());
        let _ = stored_hashes_for_record(t, h, s);
        assert!(check_record(&[h; 64], t, h, 0, h).is_err());
        assert!(check_record(&[h; 64], t, h, t - 1, h).is_err());
        assert!(check_tree(&[h; 64], t, h, 1, h).is_err());
        assert!(check_tree(&[h; 64], t, h, t - 1, h).is_err());
        let _ = stored_hash_count(t);
        let _ = split_stored_hash_index(t);
    }
    assert!(matches!(check_record(&[], 0, h, 0, h), Err(ProofError::BadArguments(_))));
    assert!(matches!(check_record(&[], 3, h, 3, h), Err(ProofError::BadArguments(_))));
    assert!(matches!(check_tree(&[], 3, h, 0, h), Err(ProofError::BadArguments(_))));
    assert!(matches!(check_tree(&[], 3, h, 4, h), Err(ProofError::BadArguments(_))));
    assert_eq!(check_record(&vec![h; 129], 1 << 40, h, 0, h), Err(ProofError::WrongLength));
    assert_eq!(check_tree(&[h], 3, h, 3, h), Err(ProofError::WrongLength));
    assert_eq!(check_tree(&[], 3, v.roots[3], 3, v.roots[2]), Err(ProofError::RootMismatch));
}

/// A reader that lies about how many hashes it found.
struct ShortReader;
impl HashReader for ShortReader {
    fn read_hashes(&self, _: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        Ok(vec![Hash::ZERO])
    }
}

#[test]
fn short_reads_are_errors() {
    assert!(matches!(prove_record(20, 3, &ShortReader), Err(MerkleError::ReadCount { .. })));
    assert!(matches!(tree_hash(7, &ShortReader), Err(MerkleError::ReadCount { .. })));
}

/// RFC 6962 §2.1 MTH, PATH and PROOF written straight from the definitions, memoised only so
/// the large cases finish quickly in debug builds.
struct Reference<'a> {
    leaves: &'a [Hash],
    memo: std::cell::RefCell<HashMap<(usize, usize), Hash>>,
}

impl<'a> Reference<'a> {
    fn new(leaves: &'a [Hash]) -> Self {
        Reference { leaves, memo: Default::default() }
    }

    fn k(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn mth(&self, lo: usize, hi: usize) -> Hash {
        if let Some(h) = self.memo.borrow().get(&(lo, hi)) {
            return *h;
        }
        let h = match hi - lo {
            0 => empty_root(),
            1 => self.leaves[lo],
            n => {
                let k = Self::k(n);
                node_hash(&self.mth(lo, lo + k), &self.mth(lo + k, hi))
            }
        };
        self.memo.borrow_mut().insert((lo, hi), h);
        h
    }

    fn path(&self, m: usize, lo: usize, hi: usize) -> Vec<Hash> {
        let n = hi - lo;
        if n == 1 {
            return vec![];
        }
        let k = Self::k(n);
        if m < k {
            let mut p = self.path(m, lo, lo + k);
            p.push(self.mth(lo + k, hi));
            p
        } else {
            let mut p = self.path(m - k, lo + k, hi);
            p.push(self.mth(lo, lo + k));
            p
        }
    }

    fn subproof(&self, m: usize, lo: usize, hi: usize, b: bool) -> Vec<Hash> {
        let n = hi - lo;
        if m == n {
            return if b { vec![] } else { vec![self.mth(lo, hi)] };
        }
        let k = Self::k(n);
        if m <= k {
            let mut p = self.subproof(m, lo, lo + k, b);
            p.push(self.mth(lo + k, hi));
            p
        } else {
            let mut p = self.subproof(m - k, lo + k, hi, false);
            p.push(self.mth(lo, lo + k));
            p
        }
    }

    fn inclusion(&self, m: usize, t: usize) -> Vec<Hash> {
        self.path(m, 0, t)
    }

    fn consistency(&self, m: usize, t: usize) -> Vec<Hash> {
        self.subproof(m, 0, t, true)
    }
}

const BIG: usize = 1100;

struct Big {
    leaves: Vec<Hash>,
    store: MemoryHashes,
}

fn big() -> &'static Big {
    static BIG_TREE: OnceLock<Big> = OnceLock::new();
    BIG_TREE.get_or_init(|| {
        let leaves: Vec<Hash> = (0..BIG).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect();
        let mut store = MemoryHashes::new();
        for leaf in &leaves {
            store.append_leaf(*leaf);
        }
        Big { leaves, store }
    })
}

#[test]
fn large_trees_match_the_reference() {
    let b = big();
    let reference = Reference::new(&b.leaves);
    let mut frontier = Frontier::new();
    for t in 0..=BIG {
        let root = reference.mth(0, t);
        assert_eq!(tree_hash(t as u64, &b.store).unwrap(), root, "size {t}");
        assert_eq!(frontier.root(), root, "frontier {t}");
        if t < BIG {
            frontier.push(b.leaves[t]);
        }
    }
    for t in [1023usize, 1024, 1025] {
        let root = reference.mth(0, t);
        for n in 0..t {
            let proof = prove_record(t as u64, n as u64, &b.store).unwrap();
            assert_eq!(proof, reference.inclusion(n, t), "inclusion {n} in {t}");
            assert_eq!(check_record(&proof, t as u64, root, n as u64, b.leaves[n]), Ok(()));
        }
        for n in 1..=t {
            let proof = prove_tree(t as u64, n as u64, &b.store).unwrap();
            assert_eq!(proof, reference.consistency(n, t), "consistency {n} to {t}");
            assert_eq!(check_tree(&proof, t as u64, root, n as u64, reference.mth(0, n)), Ok(()));
        }
    }
}

proptest! {
    #[test]
    fn random_proofs_match_the_reference(t in 1usize..=BIG, a in 0usize..BIG, c in 1usize..=BIG) {
        let b = big();
        let reference = Reference::new(&b.leaves);
        let root = reference.mth(0, t);
        let n = a % t;
        let proof = prove_record(t as u64, n as u64, &b.store).unwrap();
        prop_assert_eq!(&proof, &reference.inclusion(n, t));
        prop_assert_eq!(check_record(&proof, t as u64, root, n as u64, b.leaves[n]), Ok(()));
        let m = (c - 1) % t + 1;
        let proof = prove_tree(t as u64, m as u64, &b.store).unwrap();
        prop_assert_eq!(&proof, &reference.consistency(m, t));
        prop_assert_eq!(check_tree(&proof, t as u64, root, m as u64, reference.mth(0, m)), Ok(()));
    }

    #[test]
    fn index_round_trips(level in 0u8..=63, n in any::<u64>()) {
        let index = stored_hash_index(level, n);
        if index != u64::MAX {
            prop_assert_eq!(split_stored_hash_index(index), (level, n));
        }
        let (l, k) = split_stored_hash_index(n);
        prop_assert_eq!(stored_hash_index(l, k), n);
    }

    #[test]
    fn checks_never_panic(
        proof_len in 0usize..140,
        t in any::<u64>(),
        n in any::<u64>(),
        seed in any::<u8>(),
    ) {
        let proof: Vec<Hash> = (0..proof_len).map(|i| Hash([seed ^ i as u8; 32])).collect();
        let h = Hash([seed; 32]);
        let _ = check_record(&proof, t, h, n, h);
        let _ = check_tree(&proof, t, h, n, h);
        let _ = prove_record(t, n, &big().store);
        let _ = prove_tree(t, n, &big().store);
    }
}
