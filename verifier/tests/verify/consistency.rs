//! Two signed checkpoints: one history, or a fork.

use crate::builder::{small_log, ORIGIN};
use crate::support::{verify, write};
use ledger_core::checkpoint::Checkpoint;
use ledger_core::hash::leaf_hash;
use ledger_core::merkle::{prove_tree, MemoryHashes};
use serde_json::json;

fn proof_json(from: u64, to: u64, tree: &MemoryHashes) -> String {
    let proof = prove_tree(to, from, tree).expect("proof");
    json!({"from": from, "to": to, "proof": proof.iter().map(|h| h.to_base64()).collect::<Vec<_>>()})
        .to_string()
}

#[test]
fn consistent_checkpoints_hold_and_a_fork_is_printed() {
    let b = small_log();
    let size = b.size();
    let tree = b.tree(size);
    let dir = tempfile::tempdir().expect("tempdir");
    let old = write(dir.path(), "old.note", b.checkpoint(13));
    let new = write(dir.path(), "new.note", b.checkpoint(size));
    let proof = write(dir.path(), "proof.json", proof_json(13, size, &tree));
    let args = |old: &std::path::Path, new: &std::path::Path| {
        vec![
            "consistency".to_string(),
            old.display().to_string(),
            new.display().to_string(),
            "--proof".into(),
            proof.display().to_string(),
            "--log-key".into(),
            b.log_vkey(),
        ]
    };
    let run = verify(&args(&old, &new));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("CONSISTENT"));

    // The log signs a size-13 checkpoint of another history.
    let mut forked = MemoryHashes::new();
    for (i, l) in b.lines.iter().take(13).enumerate() {
        let mut l = l.clone();
        if i == 12 {
            l.push(b' ');
        }
        forked.append_leaf(leaf_hash(&l));
    }
    let note = b
        .log_signer()
        .sign(&Checkpoint { origin: ORIGIN.into(), size: 13, root: forked.root() })
        .expect("sign");
    let forked_old = write(dir.path(), "forked.note", &note);
    let mut a = args(&forked_old, &new);
    a.push("--json".into());
    let run = verify(&a);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let r = run.json();
    assert_eq!(r["violation"]["rule"], "fork");
    assert_eq!(r["violation"]["evidence"]["old_checkpoint"], note);
    assert_eq!(r["violation"]["evidence"]["new_checkpoint"], b.checkpoint(size));
    let run = verify(&args(&forked_old, &new));
    assert!(
        run.stdout.contains("NOT CONSISTENT")
            && run.stdout.contains(&b.checkpoint(size).lines().next().unwrap_or("").to_string())
    );
}
