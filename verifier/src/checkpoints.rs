//! Checking signed checkpoints against the log and against each other (SPEC.md §4): each
//! must carry the pinned log key's valid signature, and cosignatures from enough of the
//! auditor's witnesses; its root must be the log's root at its size; and no two may disagree.
//! Two valid checkpoints that cannot both be true are a fork, and both are printed.

use crate::report::Violation;
use ledger_core::checkpoint::{open_checkpoint, Checkpoint, LogKey, WitnessKey};
use ledger_core::hash::Hash;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

/// A signed note as given (a file, or a node's `/checkpoint`).
#[derive(Debug, Clone)]
pub struct CheckpointInput {
    pub label: String,
    pub note: String,
}

impl CheckpointInput {
    /// The size the note claims, read before any signature is checked, so that the run knows
    /// at which sizes to keep the root. Trusts nothing: the note is opened properly later.
    pub fn claimed_size(&self) -> Option<u64> {
        claimed(&self.note).map(|c| c.size)
    }
}

/// The checkpoint text of a note, unverified.
pub fn claimed(note: &str) -> Option<Checkpoint> {
    let blank = note.rfind("\n\n")?;
    Checkpoint::parse_signed_text(note.get(..=blank)?).ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckpointStatus {
    /// Signed by the log, cosigned as required, and its root is the log's.
    Ok,
    /// Not a valid note of the pinned log key.
    Invalid,
    /// Fewer cosignatures from the auditor's witnesses than the quorum.
    Quorum,
    /// Its root disagrees with the log or with another valid checkpoint.
    Fork,
    /// Beyond the entries at hand: its root could not be compared.
    NotReached,
}

impl CheckpointStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointStatus::Ok => "ok",
            CheckpointStatus::Invalid => "invalid",
            CheckpointStatus::Quorum => "quorum",
            CheckpointStatus::Fork => "fork",
            CheckpointStatus::NotReached => "not_reached",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cosigner {
    pub name: String,
    pub timestamp: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointReport {
    pub label: String,
    pub size: Option<u64>,
    pub root: Option<String>,
    pub status: CheckpointStatus,
    pub message: String,
    pub cosigned_by: Vec<Cosigner>,
    /// The note itself, as evidence.
    pub note: String,
}

/// What checking a set of checkpoints found.
#[derive(Debug, Default)]
pub struct Findings {
    pub reports: Vec<CheckpointReport>,
    pub violations: Vec<Violation>,
    pub unchecked: Vec<String>,
}

/// The log side of the comparison: roots kept at the checkpoints' sizes while streaming.
pub struct LogRoots<'a> {
    pub roots: &'a BTreeMap<u64, Hash>,
    /// Entries verified.
    pub verified: u64,
    /// The run stopped at a violation, so sizes beyond `verified` were never meant to be reached.
    pub stopped_early: bool,
}

fn fork(size: u64, message: String, evidence: serde_json::Value) -> Violation {
    let mut v = Violation::check("fork", message);
    v.size = Some(size);
    v.evidence = Some(evidence);
    v
}

/// Opens every checkpoint with `log_key`, applies the witness quorum, and compares roots.
pub fn check(
    inputs: &[CheckpointInput],
    log_key: &LogKey,
    witnesses: &[WitnessKey],
    quorum: usize,
    log: &LogRoots<'_>,
) -> Findings {
    let mut f = Findings::default();
    let mut valid: Vec<(usize, Checkpoint)> = Vec::new();
    for input in inputs {
        let claimed = claimed(&input.note);
        let mut report = CheckpointReport {
            label: input.label.clone(),
            size: claimed.as_ref().map(|c| c.size),
            root: claimed.as_ref().map(|c| c.root.to_base64()),
            status: CheckpointStatus::Ok,
            message: String::new(),
            cosigned_by: Vec::new(),
            note: input.note.clone(),
        };
        match open_checkpoint(&input.note, log_key, witnesses) {
            Err(e) => {
                report.status = CheckpointStatus::Invalid;
                report.message = format!("not a valid checkpoint of {}: {e}", log_key.origin());
                let mut v = Violation::check("checkpoint", format!("{}: {}", input.label, report.message));
                v.size = report.size;
                v.evidence = Some(json!({ "checkpoint": input.note }));
                f.violations.push(v);
            }
            Ok(opened) => {
                report.cosigned_by = opened
                    .cosigned_by
                    .iter()
                    .map(|(name, timestamp)| Cosigner { name: name.clone(), timestamp: *timestamp })
                    .collect();
                if !witnesses.is_empty() && opened.cosigned_by.len() < quorum {
                    report.status = CheckpointStatus::Quorum;
                    report.message = format!(
                        "cosigned by {} of the given witnesses, the quorum is {quorum}",
                        opened.cosigned_by.len()
                    );
                    let mut v =
                        Violation::check("witness_quorum", format!("{}: {}", input.label, report.message));
                    v.size = Some(opened.checkpoint.size);
                    v.evidence = Some(json!({ "checkpoint": input.note }));
                    f.violations.push(v);
                }
                valid.push((f.reports.len(), opened.checkpoint));
            }
        }
        f.reports.push(report);
    }
    // Two valid checkpoints of one size with different roots: the log signed two histories.
    for (i, (a, ca)) in valid.iter().enumerate() {
        for (b, cb) in valid.iter().skip(i + 1) {
            if ca.size == cb.size && ca.root != cb.root {
                let (la, lb) = (&f.reports[*a], &f.reports[*b]);
                f.violations.push(fork(
                    ca.size,
                    format!(
                        "{} and {} are both signed by the log for size {} but have different roots",
                        la.label, lb.label, ca.size
                    ),
                    json!({ "checkpoint_a": la.note, "checkpoint_b": lb.note }),
                ));
                f.reports[*a].status = CheckpointStatus::Fork;
                f.reports[*b].status = CheckpointStatus::Fork;
            }
        }
    }
    // Each valid checkpoint against the log's own root at its size.
    let agreeing: Option<usize> =
        valid.iter().find(|(_, c)| log.roots.get(&c.size).is_some_and(|r| *r == c.root)).map(|(i, _)| *i);
    for (i, c) in &valid {
        match log.roots.get(&c.size) {
            Some(root) if *root == c.root => {
                if f.reports[*i].status == CheckpointStatus::Ok {
                    f.reports[*i].message = "signature valid; root equals the log's root at this size".into();
                }
            }
            Some(root) => {
                let report = &f.reports[*i];
                let mut evidence = json!({
                    "checkpoint": report.note,
                    "log_root_at_size": root.to_base64(),
                });
                if let Some(a) = agreeing {
                    evidence["agreeing_checkpoint"] = json!(f.reports[a].note);
                }
                f.violations.push(fork(
                    c.size,
                    format!(
                        "{} is signed by the log for size {} with root {}, but the entries give root {}: the log showed another history",
                        report.label,
                        c.size,
                        c.root.to_base64(),
                        root.to_base64()
                    ),
                    evidence,
                ));
                f.reports[*i].status = CheckpointStatus::Fork;
                f.reports[*i].message = format!("root differs from the log's {}", root.to_base64());
            }
            None => {
                let report = &mut f.reports[*i];
                if report.status == CheckpointStatus::Ok {
                    report.status = CheckpointStatus::NotReached;
                }
                if log.stopped_early {
                    report.message = format!("not compared: the log broke a rule before size {}", c.size);
                } else {
                    report.message =
                        format!("size {} is beyond the {} entries at hand", c.size, log.verified);
                    f.unchecked.push(format!(
                        "checkpoint {} has size {} but only {} entries were given: export a longer log",
                        report.label, c.size, log.verified
                    ));
                }
            }
        }
    }
    f
}
