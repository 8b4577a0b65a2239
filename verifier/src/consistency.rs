//! Are two signed checkpoints one history? Checks both signatures with the pinned key and the
//! RFC 9162 consistency proof between them (as `/v1/proof/consistency` serves it). If they
//! are not consistent, the log has shown two histories: both checkpoints are the evidence.

use crate::input::{read_bounded, read_text_bounded};
use crate::limits::{CHECKPOINT_FILE_BYTES_MAX, PROOF_FILE_BYTES_MAX};
use crate::report::{violation_text, Violation};
use anyhow::{bail, Context, Result};
use ledger_core::checkpoint::{open_checkpoint, Checkpoint, LogKey};
use ledger_core::encoding::hash_from_b64;
use ledger_core::hash::{empty_root, Hash};
use ledger_core::limits::PROOF_HASHES_MAX;
use ledger_core::merkle::check_tree;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Deserialize)]
struct ProofFile {
    from: u64,
    to: u64,
    proof: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsistencyReport {
    pub ok: bool,
    pub log_key: String,
    pub old_size: Option<u64>,
    pub old_root: Option<String>,
    pub new_size: Option<u64>,
    pub new_root: Option<String>,
    pub violation: Option<Violation>,
}

impl ConsistencyReport {
    pub fn exit_code(&self) -> u8 {
        if self.ok {
            0
        } else {
            1
        }
    }
}

fn open(label: &str, note: &str, key: &LogKey) -> std::result::Result<Checkpoint, Box<Violation>> {
    open_checkpoint(note, key, &[]).map(|o| o.checkpoint).map_err(|e| {
        let mut v = Violation::check(
            "checkpoint",
            format!("{label} is not a valid checkpoint of {}: {e}", key.origin()),
        );
        v.evidence = Some(json!({ "checkpoint": note }));
        Box::new(v)
    })
}

pub fn run(old: &Path, new: &Path, proof: &Path, key: &LogKey) -> Result<ConsistencyReport> {
    let old_note = read_text_bounded(old, CHECKPOINT_FILE_BYTES_MAX, "checkpoint")?;
    let new_note = read_text_bounded(new, CHECKPOINT_FILE_BYTES_MAX, "checkpoint")?;
    let proof_bytes = read_bounded(proof, PROOF_FILE_BYTES_MAX, "proof file")?;
    let proof_file: ProofFile = serde_json::from_slice(&proof_bytes).with_context(|| {
        format!("{} is not a consistency proof {{\"from\",\"to\",\"proof\"}}", proof.display())
    })?;
    if proof_file.proof.len() > PROOF_HASHES_MAX {
        bail!("the proof has {} hashes, over {PROOF_HASHES_MAX}", proof_file.proof.len());
    }
    let hashes: Vec<Hash> = proof_file
        .proof
        .iter()
        .map(|p| hash_from_b64(p))
        .collect::<Option<_>>()
        .context("the proof's elements are not canonical base64 hashes")?;
    let mut report = ConsistencyReport {
        ok: false,
        log_key: key.verifier_key(),
        old_size: None,
        old_root: None,
        new_size: None,
        new_root: None,
        violation: None,
    };
    let (mut a, mut b) = match (open("OLD", &old_note, key), open("NEW", &new_note, key)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(v), _) | (_, Err(v)) => {
            report.violation = Some(*v);
            return Ok(report);
        }
    };
    let (mut a_note, mut b_note) = (&old_note, &new_note);
    // Consistency has no direction in time the auditor must know: order by size.
    if a.size > b.size {
        std::mem::swap(&mut a, &mut b);
        std::mem::swap(&mut a_note, &mut b_note);
    }
    report.old_size = Some(a.size);
    report.old_root = Some(a.root.to_base64());
    report.new_size = Some(b.size);
    report.new_root = Some(b.root.to_base64());
    if a.size != b.size && (proof_file.from, proof_file.to) != (a.size, b.size) {
        bail!(
            "the proof is from size {} to {}, the checkpoints have sizes {} and {}",
            proof_file.from,
            proof_file.to,
            a.size,
            b.size
        );
    }
    let consistent = if a.size == 0 {
        a.root == empty_root()
    } else {
        check_tree(&hashes, b.size, b.root, a.size, a.root).is_ok()
    };
    if consistent {
        report.ok = true;
    } else {
        let mut v = Violation::check(
            "fork",
            format!(
                "the checkpoints of size {} and {} are both signed by the log but are not one history: the log has forked",
                a.size, b.size
            ),
        );
        v.size = Some(b.size);
        v.evidence = Some(json!({ "old_checkpoint": a_note, "new_checkpoint": b_note }));
        report.violation = Some(v);
    }
    Ok(report)
}

pub fn human(report: &ConsistencyReport) -> String {
    let mut o = String::new();
    let verdict = if report.ok { "CONSISTENT: one history" } else { "NOT CONSISTENT" };
    let _ = writeln!(o, "consistency: {verdict}");
    let _ = writeln!(o, "log key: {}", report.log_key);
    if let (Some(s), Some(r)) = (report.old_size, &report.old_root) {
        let _ = writeln!(o, "old:     size {s}, root {r}");
    }
    if let (Some(s), Some(r)) = (report.new_size, &report.new_root) {
        let _ = writeln!(o, "new:     size {s}, root {r}");
    }
    if let Some(v) = &report.violation {
        o.push_str(&violation_text(v));
    }
    o
}
