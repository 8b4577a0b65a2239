//! The tlog-witness protocol functions: request bodies (well-formed, malformed, over limits),
//! the witness's decision for every outcome the protocol names, and the log's check of the
//! answer.

use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::{Checkpoint, LogSigner, WitnessSigner};
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::limits::{ADD_CHECKPOINT_BYTES_MAX, WITNESS_PROOF_LINES_MAX};
use ledger_core::merkle::{prove_tree, MemoryHashes, ProofError};
use ledger_core::witness::{
    add_checkpoint_body, check_add_checkpoint, parse_add_checkpoint, verified_cosignature, AddCheckpoint,
    WitnessRefusal,
};

const ORIGIN: &str = "witness-test.example/log";

/// A log of `n` leaves whose leaf `i` is `tag || i`, so two tags give two forks.
fn tree(tag: &str, n: u64) -> MemoryHashes {
    let mut t = MemoryHashes::new();
    for i in 0..n {
        t.append_leaf(leaf_hash(format!("{tag}{i}").as_bytes()));
    }
    t
}

fn signer() -> LogSigner {
    LogSigner::new(ORIGIN, SigningKey::from_bytes(&[7; 32])).unwrap()
}

fn checkpoint(t: &MemoryHashes) -> Checkpoint {
    Checkpoint { origin: ORIGIN.into(), size: t.size(), root: t.root() }
}

fn request(old: u64, proof: Vec<Hash>, t: &MemoryHashes) -> AddCheckpoint {
    AddCheckpoint { old_size: old, proof, note: signer().sign(&checkpoint(t)).unwrap() }
}

#[test]
fn bodies_round_trip() {
    let t = tree("a", 10);
    let proof = prove_tree(10, 4, &t).unwrap();
    let note = signer().sign(&checkpoint(&t)).unwrap();
    let body = add_checkpoint_body(4, &proof, &note);
    assert!(body.starts_with("old 4\n"));
    assert_eq!(
        parse_add_checkpoint(body.as_bytes()),
        Ok(AddCheckpoint { old_size: 4, proof, note: note.clone() })
    );
    // The first request of a log: old 0, no proof lines.
    let first = add_checkpoint_body(0, &[], &note);
    assert_eq!(first, format!("old 0\n\n{note}"));
    assert_eq!(parse_add_checkpoint(first.as_bytes()).unwrap().old_size, 0);
}

#[test]
fn malformed_bodies_are_refused_with_400() {
    let note = signer().sign(&checkpoint(&tree("a", 3))).unwrap();
    let h = Hash([1; 32]).to_base64();
    let too_many = add_checkpoint_body(1, &vec![Hash([1; 32]); WITNESS_PROOF_LINES_MAX + 1], &note);
    let huge = format!("old 1\n\n{}", "x".repeat(ADD_CHECKPOINT_BYTES_MAX));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", b"".to_vec()),
        ("no newline", b"old 1".to_vec()),
        ("not old", format!("new 1\n\n{note}").into_bytes()),
        ("leading zero", format!("old 01\n\n{note}").into_bytes()),
        ("negative", format!("old -1\n\n{note}").into_bytes()),
        ("overflow", format!("old 18446744073709551616\n\n{note}").into_bytes()),
        ("no empty line", format!("old 1\n{h}\n").into_bytes()),
        ("proof not base64", format!("old 1\nnot-base64\n\n{note}").into_bytes()),
        (
            "proof of 31 bytes",
            format!("old 1\n{}\n\n{note}", ledger_core::encoding::b64_encode(&[0; 31])).into_bytes(),
        ),
        ("no checkpoint", b"old 1\n\n".to_vec()),
        ("not UTF-8", b"old 1\n\n\xff\xfe".to_vec()),
        ("64 proof lines", too_many.into_bytes()),
        ("over the size limit", huge.into_bytes()),
    ];
    for (what, body) in cases {
        match parse_add_checkpoint(&body) {
            Err(e @ WitnessRefusal::Malformed(_)) => assert_eq!(e.status(), 400, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    // Exactly 63 proof lines is allowed.
    let max = add_checkpoint_body(1, &vec![Hash([1; 32]); WITNESS_PROOF_LINES_MAX], &note);
    assert_eq!(parse_add_checkpoint(max.as_bytes()).unwrap().proof.len(), WITNESS_PROOF_LINES_MAX);
}

#[test]
fn the_witness_cosigns_only_consistent_checkpoints() {
    let key = signer().log_key().clone();
    let small = tree("a", 4);
    let big = tree("a", 9);
    // First contact: old 0, empty proof.
    let first = check_add_checkpoint(&request(0, vec![], &small), &key, None).unwrap();
    assert_eq!(first, checkpoint(&small));
    // Growth with a valid proof.
    let proof = prove_tree(9, 4, &big).unwrap();
    assert_eq!(
        check_add_checkpoint(&request(4, proof.clone(), &big), &key, Some(&first)),
        Ok(checkpoint(&big))
    );
    // The same checkpoint again is fine (idempotent), with an empty proof.
    assert!(check_add_checkpoint(&request(4, vec![], &small), &key, Some(&first)).is_ok());

    let refusals: Vec<(&str, AddCheckpoint, Option<Checkpoint>, WitnessRefusal)> = vec![
        (
            "old does not match (client thinks 0)",
            request(0, vec![], &big),
            Some(first.clone()),
            WitnessRefusal::OldSizeMismatch { known_size: 4 },
        ),
        (
            "old does not match (witness knows nothing)",
            request(4, proof.clone(), &big),
            None,
            WitnessRefusal::OldSizeMismatch { known_size: 0 },
        ),
        (
            "old above size",
            request(10, vec![], &big),
            Some(first.clone()),
            WitnessRefusal::OldAboveSize { old: 10, size: 9 },
        ),
        (
            "same size, another root (fork)",
            request(4, vec![], &tree("b", 4)),
            Some(first.clone()),
            WitnessRefusal::RootMismatch { known_size: 4 },
        ),
        (
            "a bigger tree that does not extend the cosigned one (fork)",
            request(4, prove_tree(9, 4, &tree("b", 9)).unwrap(), &tree("b", 9)),
            Some(first.clone()),
            WitnessRefusal::Inconsistent { old: 4, error: ProofError::RootMismatch },
        ),
        (
            "a proof of the wrong length",
            request(4, proof[1..].to_vec(), &big),
            Some(first.clone()),
            WitnessRefusal::Inconsistent { old: 4, error: ProofError::WrongLength },
        ),
        (
            "a proof from old 0",
            request(0, vec![Hash([1; 32])], &small),
            None,
            WitnessRefusal::Inconsistent { old: 0, error: ProofError::WrongLength },
        ),
    ];
    for (what, req, latest, want) in refusals {
        let got = check_add_checkpoint(&req, &key, latest.as_ref());
        assert_eq!(got, Err(want.clone()), "{what}");
        let status = want.status();
        assert!(matches!(status, 400 | 409 | 422), "{what}: {status}");
    }
    assert_eq!(WitnessRefusal::RootMismatch { known_size: 4 }.status(), 409);
    assert!(WitnessRefusal::RootMismatch { known_size: 4 }.is_fork_evidence());
    assert!(!WitnessRefusal::OldSizeMismatch { known_size: 4 }.is_fork_evidence());
}

#[test]
fn a_note_not_signed_by_the_trusted_key_is_forbidden() {
    let other = LogSigner::new(ORIGIN, SigningKey::from_bytes(&[8; 32])).unwrap();
    let t = tree("a", 3);
    let req = AddCheckpoint { old_size: 0, proof: vec![], note: other.sign(&checkpoint(&t)).unwrap() };
    let got = check_add_checkpoint(&req, signer().log_key(), None).unwrap_err();
    assert_eq!(got.status(), 403, "{got}");
    let mut bad = request(0, vec![], &t);
    bad.note = bad.note.replace(ORIGIN, "another.example/log");
    assert_eq!(check_add_checkpoint(&bad, signer().log_key(), None).unwrap_err().status(), 400);
}

#[test]
fn the_log_keeps_only_cosignatures_that_verify() {
    let t = tree("a", 5);
    let note = signer().sign(&checkpoint(&t)).unwrap();
    let w = WitnessSigner::new("bureau.example/witness", SigningKey::from_bytes(&[9; 32])).unwrap();
    let stranger = WitnessSigner::new("bureau.example/witness", SigningKey::from_bytes(&[10; 32])).unwrap();
    let good = w.cosign_line(&checkpoint(&t), 1_700_000_000).unwrap();
    let wrong_tree = w.cosign_line(&checkpoint(&tree("b", 5)), 1_700_000_000).unwrap();
    let by_stranger = stranger.cosign_line(&checkpoint(&t), 1_700_000_000).unwrap();
    let log_key = signer().log_key().clone();
    let key = w.witness_key();
    // Other keys' lines come first and are skipped; the valid line is found.
    let answer = format!("{by_stranger}{wrong_tree}{good}");
    assert_eq!(verified_cosignature(&note, &answer, &log_key, key), Some(good.clone()));
    assert_eq!(verified_cosignature(&note, &format!("{by_stranger}{wrong_tree}"), &log_key, key), None);
    assert_eq!(verified_cosignature(&note, "garbage\n", &log_key, key), None);
    assert_eq!(verified_cosignature(&note, "", &log_key, key), None);
}
