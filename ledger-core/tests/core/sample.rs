//! Audit sampling against sample.json, plus properties of the selection.
use crate::vectors;
use ledger_core::encoding::{hash_from_b64, hex32};
use ledger_core::hash::{sha256, Hash};
use ledger_core::sample::{score, select, selected_count, selected_hash, SAMPLE_DOMAIN};
use proptest::prelude::*;

struct Vectors {
    root: Hash,
    nonce: [u8; 32],
    ids: Vec<String>,
    v: serde_json::Value,
}

fn load() -> Vectors {
    let v = vectors("sample.json");
    let root = hash_from_b64(v["root_base64"].as_str().expect("root_base64")).expect("root");
    let nonce = hex32(v["nonce_hex"].as_str().expect("nonce_hex")).expect("nonce");
    let ids = v["population_ids_in_seq_order"]
        .as_array()
        .expect("population")
        .iter()
        .map(|x| x.as_str().expect("id").to_owned())
        .collect();
    Vectors { root, nonce, ids, v }
}

#[test]
fn domain_is_the_spec_string() {
    assert_eq!(SAMPLE_DOMAIN, b"charity-ledger/sample/v1\n");
}

#[test]
fn nonce_hash_is_sha256_of_the_raw_nonce() {
    let t = load();
    assert_eq!(sha256(&[&t.nonce]).to_hex(), t.v["nonce_hash_hex"].as_str().expect("nonce_hash_hex"));
}

#[test]
fn every_score() {
    let t = load();
    let scores = t.v["scores_hex"].as_object().expect("scores_hex");
    assert_eq!(scores.len(), t.ids.len());
    for id in &t.ids {
        let expected = scores[id.as_str()].as_str().expect("score hex");
        assert_eq!(score(&t.root, &t.nonce, id).to_hex(), expected, "{id}");
    }
}

#[test]
fn every_sample() {
    let t = load();
    let population: Vec<(u64, &str)> =
        t.ids.iter().enumerate().map(|(seq, id)| (seq as u64, id.as_str())).collect();
    let samples = t.v["samples"].as_array().expect("samples");
    assert_eq!(samples.len(), 3);
    for s in samples {
        let rate = u32::try_from(s["rate_permille"].as_u64().expect("rate")).expect("u32");
        let count = s["selected_count"].as_u64().expect("count");
        let expected: Vec<&str> = s["selected_in_score_order"]
            .as_array()
            .expect("selected")
            .iter()
            .map(|x| x.as_str().expect("id"))
            .collect();
        assert_eq!(selected_count(population.len() as u64, rate), Some(count), "rate {rate}");
        let got = select(&t.root, &t.nonce, &population, rate);
        assert_eq!(got, expected, "rate {rate}");
        assert_eq!(got.len() as u64, count);
        assert_eq!(
            selected_hash(&got).to_hex(),
            s["selected_hash_hex"].as_str().expect("hash"),
            "rate {rate}"
        );
    }
}

#[test]
fn selected_hash_format() {
    assert_eq!(selected_hash(&[]), sha256(&[]));
    assert_eq!(selected_hash(&["a", "bc"]), sha256(&[b"a\nbc\n"]));
}

#[test]
fn edge_rates_and_populations() {
    let root = Hash([1; 32]);
    let nonce = [2; 32];
    assert!(select(&root, &nonce, &[], 100).is_empty());
    let pop = [(0u64, "a"), (1, "b"), (2, "c")];
    assert!(select(&root, &nonce, &pop, 0).is_empty());
    assert_eq!(select(&root, &nonce, &pop, 1).len(), 1);
    assert_eq!(select(&root, &nonce, &pop, 1000).len(), 3);
    // Rates above 1000 never select more than the population, and never panic.
    assert_eq!(select(&root, &nonce, &pop, 5000).len(), 3);
    assert_eq!(select(&root, &nonce, &pop, u32::MAX).len(), 3);
}

#[test]
fn ties_go_to_the_lower_seq() {
    // Equal ids score equally; which one was chosen is visible through the slice's address.
    let root = Hash([3; 32]);
    let nonce = [4; 32];
    let (a, b) = (String::from("same"), String::from("same"));
    let pop = [(9u64, a.as_str()), (2, b.as_str())];
    let one = select(&root, &nonce, &pop, 500);
    assert_eq!(addresses(&one), vec![b.as_ptr()]);
    let both = select(&root, &nonce, &pop, 1000);
    assert_eq!(addresses(&both), vec![b.as_ptr(), a.as_ptr()]);
}

fn addresses(ids: &[&str]) -> Vec<*const u8> {
    ids.iter().map(|s| s.as_ptr()).collect()
}

/// Reference: score everything, sort by (score, seq), take the count.
fn reference<'a>(root: &Hash, nonce: &[u8; 32], pop: &[(u64, &'a str)], rate: u32) -> Vec<&'a str> {
    let mut all: Vec<(Hash, u64, &str)> =
        pop.iter().map(|&(seq, id)| (score(root, nonce, id), seq, id)).collect();
    all.sort();
    let k = selected_count(pop.len() as u64, rate).map_or(pop.len(), |c| c as usize).min(pop.len());
    all.into_iter().take(k).map(|(_, _, id)| id).collect()
}

proptest! {
    #[test]
    fn heap_selection_equals_full_sort(
        root in any::<[u8; 32]>(),
        nonce in any::<[u8; 32]>(),
        ids in proptest::collection::vec("[a-c]{1,2}", 0..60),
        rate in prop_oneof![0u32..=1000, Just(1000u32), 1001u32..5000],
    ) {
        let root = Hash(root);
        // Shuffled seqs; short ids make duplicate ids (equal scores) common.
        let pop: Vec<(u64, &str)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (((i as u64) * 7919) % 1_000_003, id.as_str()))
            .collect();
        let got = select(&root, &nonce, &pop, rate);
        let want = reference(&root, &nonce, &pop, rate);
        prop_assert_eq!(addresses(&got), addresses(&want));
    }

    #[test]
    fn count_is_the_ceiling(n in 0u64..1_000_000_000_000, rate in 0u32..=1000) {
        let c = selected_count(n, rate).expect("fits");
        prop_assert!(c * 1000 >= n * u64::from(rate));
        prop_assert!(c == 0 || (c - 1) * 1000 < n * u64::from(rate));
        prop_assert!(c <= n);
    }
}
