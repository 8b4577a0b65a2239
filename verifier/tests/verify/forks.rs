//! Checkpoints: signed by the pinned key, cosigned by enough witnesses, and telling the same
//! history as the log and as each other. A disagreement is a fork, printed with both notes.

use crate::builder::{small_log, Builder, ORIGIN};
use crate::support::{verify_lines, write};
use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::{add_cosignature, Checkpoint, WitnessSigner};
use ledger_core::merkle::MemoryHashes;

fn cosigned(note: &str, witness: &WitnessSigner, size_root: &Checkpoint) -> String {
    let line = witness.cosign_line(size_root, 1_772_330_400).expect("cosign");
    add_cosignature(note, &line).expect("add")
}

#[test]
fn checkpoints_of_the_log_at_any_size_hold() {
    let b = small_log();
    let dir = tempfile::tempdir().expect("tempdir");
    let full = write(dir.path(), "full.note", b.checkpoint(b.size()));
    let early = write(dir.path(), "early.note", b.checkpoint(7));
    let run = verify_lines(
        &b.lines,
        &b.log_vkey(),
        &["--checkpoint", full.to_str().expect("p"), "--checkpoint", early.to_str().expect("p")],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let r = run.json();
    assert_eq!(r["checkpoints"][0]["status"], "ok");
    assert_eq!(r["checkpoints"][1]["status"], "ok");
    assert_eq!(r["checkpoints"][1]["size"], 7);
}

#[test]
fn a_checkpoint_from_a_forked_history_is_a_fork_with_both_checkpoints_as_evidence() {
    let b = small_log();
    // The same log's key signs another history: seq 12 differs.
    let mut forked = b.lines.clone();
    let text = String::from_utf8(forked[12].clone()).expect("utf8");
    forked[12] = text.replacen(".000Z\"", ".001Z\"", 1).into_bytes();
    let mut tree = MemoryHashes::new();
    for l in &forked {
        tree.append_leaf(ledger_core::hash::leaf_hash(l));
    }
    let size = forked.len() as u64;
    let fork_note =
        b.log_signer().sign(&Checkpoint { origin: ORIGIN.into(), size, root: tree.root() }).expect("sign");
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write(dir.path(), "good.note", b.checkpoint(size));
    let bad = write(dir.path(), "fork.note", &fork_note);
    let run = verify_lines(&b.lines, &b.log_vkey(), &["--checkpoint", bad.to_str().expect("p")]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let r = run.json();
    assert_eq!(r["violation"]["rule"], "fork");
    assert_eq!(r["violation"]["size"], size);
    assert_eq!(r["violation"]["seq"], serde_json::Value::Null, "a root alone cannot name the entry");
    assert_eq!(r["violation"]["evidence"]["checkpoint"], fork_note);
    assert_eq!(r["checkpoints"][0]["status"], "fork");

    // With the honest checkpoint too: the two signed notes disagree, both are printed.
    let run = verify_lines(
        &b.lines,
        &b.log_vkey(),
        &["--checkpoint", good.to_str().expect("p"), "--checkpoint", bad.to_str().expect("p")],
    );
    assert_eq!(run.code, 1);
    let r = run.json();
    let v = &r["violation"];
    assert_eq!(v["rule"], "fork");
    assert_eq!(v["evidence"]["checkpoint_a"], b.checkpoint(size));
    assert_eq!(v["evidence"]["checkpoint_b"], fork_note);
    let text = crate::support::verify(&[
        "log".to_string(),
        write(dir.path(), "log.jsonl", b.export()).display().to_string(),
        "--log-key".into(),
        b.log_vkey(),
        "--checkpoint".into(),
        good.display().to_string(),
        "--checkpoint".into(),
        bad.display().to_string(),
    ]);
    assert!(
        text.stdout.contains("rule fork") && text.stdout.contains("— test-county.example/ledger"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_checkpoint_not_signed_by_the_pinned_key_is_refused() {
    let b = small_log();
    let other = Builder::new(50);
    let dir = tempfile::tempdir().expect("tempdir");
    // Signed by another key under the same origin.
    let note = other.checkpoint(5);
    let path = write(dir.path(), "other.note", &note);
    let run = verify_lines(&b.lines, &b.log_vkey(), &["--checkpoint", path.to_str().expect("p")]);
    assert_eq!(run.code, 1);
    let r = run.json();
    assert_eq!(r["violation"]["rule"], "checkpoint");
    assert_eq!(r["checkpoints"][0]["status"], "invalid");
    // A note that is not a note at all.
    let junk = write(dir.path(), "junk.note", "hello\n");
    let run = verify_lines(&b.lines, &b.log_vkey(), &["--checkpoint", junk.to_str().expect("p")]);
    assert_eq!(run.code, 1);
    assert_eq!(run.json()["violation"]["rule"], "checkpoint");
}

#[test]
fn a_checkpoint_beyond_the_export_cannot_be_checked() {
    let b = small_log();
    let dir = tempfile::tempdir().expect("tempdir");
    let note = write(dir.path(), "full.note", b.checkpoint(b.size()));
    let short: Vec<Vec<u8>> = b.lines[..20].to_vec();
    let run = verify_lines(&short, &b.log_vkey(), &["--checkpoint", note.to_str().expect("p")]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let r = run.json();
    assert_eq!(r["checkpoints"][0]["status"], "not_reached");
    assert_eq!(r["unchecked"].as_array().map(Vec::len), Some(1));
}

#[test]
fn witnesses_and_quorum() {
    let b = small_log();
    let size = b.size();
    let cp = Checkpoint { origin: ORIGIN.into(), size, root: b.tree(size).root() };
    let w1 =
        WitnessSigner::new("witness.example/civil-affairs", SigningKey::from_bytes(&[91; 32])).expect("w");
    let w2 =
        WitnessSigner::new("witness.example/other-charity", SigningKey::from_bytes(&[92; 32])).expect("w");
    let once = cosigned(&b.checkpoint(size), &w1, &cp);
    let twice = cosigned(&once, &w2, &cp);
    let dir = tempfile::tempdir().expect("tempdir");
    let once_path = write(dir.path(), "once.note", &once);
    let twice_path = write(dir.path(), "twice.note", &twice);
    let (k1, k2) = (w1.witness_key().verifier_key(), w2.witness_key().verifier_key());
    let args = |note: &str, quorum: &str| -> Vec<String> {
        vec![
            "--checkpoint".into(),
            note.into(),
            "--witness".into(),
            k1.clone(),
            "--witness".into(),
            k2.clone(),
            "--quorum".into(),
            quorum.into(),
        ]
    };
    let run_with = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        verify_lines(&b.lines, &b.log_vkey(), &refs)
    };
    let run = run_with(args(twice_path.to_str().expect("p"), "2"));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.json()["checkpoints"][0]["cosigned_by"].as_array().map(Vec::len), Some(2));
    let run = run_with(args(once_path.to_str().expect("p"), "1"));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = run_with(args(once_path.to_str().expect("p"), "2"));
    assert_eq!(run.code, 1);
    assert_eq!(run.json()["violation"]["rule"], "witness_quorum");
    // A cosignature that does not verify.
    let mut lines: Vec<String> = twice.lines().map(str::to_string).collect();
    let last = lines.len() - 1;
    let (name, sig) = lines[last].rsplit_once(' ').expect("sig line");
    let mut raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sig).expect("b64");
    raw[20] ^= 1;
    lines[last] =
        format!("{name} {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw));
    let bad_path = write(dir.path(), "bad.note", lines.join("\n") + "\n");
    let run = run_with(args(bad_path.to_str().expect("p"), "1"));
    assert_eq!(run.code, 1);
    assert_eq!(run.json()["violation"]["rule"], "checkpoint");
}
