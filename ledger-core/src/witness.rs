//! The C2SP `tlog-witness` protocol (c2sp.org/tlog-witness) as pure functions: the body of an
//! `add-checkpoint` request, the witness's decision on it, and the log's check of the answer.
//! The witness process (`ledger-node witness`) and the node asking its witnesses are thin
//! shells around these; neither decides anything on its own.
//!
//! The one promise a witness makes is that it never cosigns two inconsistent checkpoints of
//! one origin. `check_add_checkpoint` is where that promise is kept: it cosigns only a
//! checkpoint that extends (or equals) the latest one it cosigned, proven by a Merkle
//! consistency proof.

// Request bodies are hostile input: make any unchecked arithmetic or indexing a build error.
#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use crate::checkpoint::{add_cosignature, open_checkpoint, Checkpoint, LogKey, NoteError, WitnessKey};
use crate::encoding::hash_from_b64;
use crate::hash::Hash;
use crate::limits::{ADD_CHECKPOINT_BYTES_MAX, WITNESS_PROOF_LINES_MAX};
use crate::merkle::{check_tree, ProofError};

/// HTTP statuses the protocol assigns to each outcome.
const STATUS_BAD_REQUEST: u16 = 400;
const STATUS_FORBIDDEN: u16 = 403;
const STATUS_NOT_FOUND: u16 = 404;
const STATUS_CONFLICT: u16 = 409;
const STATUS_UNPROCESSABLE: u16 = 422;

/// A parsed `add-checkpoint` request. The note is not verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    pub note: String,
}

/// Why a witness refuses to cosign. Each outcome has the status c2sp.org/tlog-witness gives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessRefusal {
    #[error("malformed add-checkpoint request: {0}")]
    Malformed(&'static str),
    #[error("the checkpoint note is malformed: {0}")]
    MalformedNote(NoteError),
    #[error("old size {old} is larger than the checkpoint's size {size}")]
    OldAboveSize { old: u64, size: u64 },
    #[error("this witness does not witness the log {0}")]
    UnknownLog(String),
    #[error("the log's signature does not verify: {0}")]
    Signature(NoteError),
    /// The client's `old` is not the size this witness last cosigned.
    #[error("old size does not match: this witness last cosigned size {known_size}")]
    OldSizeMismatch { known_size: u64 },
    /// Same size as the last cosigned checkpoint, another root: a fork.
    #[error("the checkpoint has the size {known_size} this witness cosigned, but another root: a fork")]
    RootMismatch { known_size: u64 },
    /// The consistency proof does not show the new tree extends the cosigned one: a fork, or
    /// a broken proof.
    #[error("the consistency proof from size {old} does not verify: {error}")]
    Inconsistent { old: u64, error: ProofError },
}

impl WitnessRefusal {
    /// The HTTP status the protocol prescribes.
    pub fn status(&self) -> u16 {
        match self {
            WitnessRefusal::Malformed(_) | WitnessRefusal::MalformedNote(_) => STATUS_BAD_REQUEST,
            WitnessRefusal::OldAboveSize { .. } => STATUS_BAD_REQUEST,
            WitnessRefusal::UnknownLog(_) => STATUS_NOT_FOUND,
            WitnessRefusal::Signature(_) => STATUS_FORBIDDEN,
            WitnessRefusal::OldSizeMismatch { .. } | WitnessRefusal::RootMismatch { .. } => STATUS_CONFLICT,
            WitnessRefusal::Inconsistent { .. } => STATUS_UNPROCESSABLE,
        }
    }

    /// Whether the refusal is evidence that the log may have forked: the checkpoint was
    /// properly signed by the log, yet does not extend what this witness cosigned.
    pub fn is_fork_evidence(&self) -> bool {
        matches!(self, WitnessRefusal::RootMismatch { .. } | WitnessRefusal::Inconsistent { .. })
    }
}

/// `old <size>` with the tlog-checkpoint spelling of a size: decimal, no leading zeros.
fn parse_old_line(line: &str) -> Result<u64, WitnessRefusal> {
    let digits =
        line.strip_prefix("old ").ok_or(WitnessRefusal::Malformed("the first line is not `old <size>`"))?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !(digits.len() > 1 && digits.starts_with('0'));
    if !canonical {
        return Err(WitnessRefusal::Malformed("the old size is not a decimal without leading zeros"));
    }
    digits.parse().map_err(|_| WitnessRefusal::Malformed("the old size does not fit in 64 bits"))
}

/// Parses an `add-checkpoint` body: `old N\n`, up to 63 base64 proof lines, an empty line, the
/// note. Bounded before anything is parsed.
pub fn parse_add_checkpoint(body: &[u8]) -> Result<AddCheckpoint, WitnessRefusal> {
    if body.len() > ADD_CHECKPOINT_BYTES_MAX {
        return Err(WitnessRefusal::Malformed("the request body is over the limit"));
    }
    let text = std::str::from_utf8(body).map_err(|_| WitnessRefusal::Malformed("the body is not UTF-8"))?;
    let (old_line, mut rest) =
        text.split_once('\n').ok_or(WitnessRefusal::Malformed("the body has no `old` line"))?;
    let old_size = parse_old_line(old_line)?;
    let mut proof = Vec::new();
    loop {
        let (line, after) =
            rest.split_once('\n').ok_or(WitnessRefusal::Malformed("no empty line before the checkpoint"))?;
        rest = after;
        if line.is_empty() {
            break;
        }
        if proof.len() >= WITNESS_PROOF_LINES_MAX {
            return Err(WitnessRefusal::Malformed("more than 63 consistency proof lines"));
        }
        proof.push(
            hash_from_b64(line)
                .ok_or(WitnessRefusal::Malformed("a proof line is not the base64 of 32 bytes"))?,
        );
    }
    if rest.is_empty() {
        return Err(WitnessRefusal::Malformed("no checkpoint after the empty line"));
    }
    Ok(AddCheckpoint { old_size, proof, note: rest.to_owned() })
}

/// The request body a log sends: the inverse of [`parse_add_checkpoint`].
pub fn add_checkpoint_body(old_size: u64, proof: &[Hash], note: &str) -> String {
    let mut body = format!("old {old_size}\n");
    for h in proof {
        body.push_str(&h.to_base64());
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    body
}

/// The witness's decision. `log_key` is the key the witness trusts for the note's origin;
/// `latest` the checkpoint it last cosigned for that origin. Answers the checkpoint to cosign
/// (and to record as the new latest), or why not.
pub fn check_add_checkpoint(
    request: &AddCheckpoint,
    log_key: &LogKey,
    latest: Option<&Checkpoint>,
) -> Result<Checkpoint, WitnessRefusal> {
    let opened = open_checkpoint(&request.note, log_key, &[]).map_err(|e| match e {
        NoteError::InvalidLogSignature | NoteError::MissingLogSignature => WitnessRefusal::Signature(e),
        other => WitnessRefusal::MalformedNote(other),
    })?;
    let checkpoint = opened.checkpoint;
    let old = request.old_size;
    if old > checkpoint.size {
        return Err(WitnessRefusal::OldAboveSize { old, size: checkpoint.size });
    }
    let known_size = latest.map_or(0, |l| l.size);
    if old != known_size {
        return Err(WitnessRefusal::OldSizeMismatch { known_size });
    }
    match latest {
        // Never cosigned this log: the protocol sends old 0 and an empty proof.
        None => {
            if !request.proof.is_empty() {
                return Err(WitnessRefusal::Inconsistent { old, error: ProofError::WrongLength });
            }
        }
        Some(latest) if latest.size == checkpoint.size => {
            if latest.root != checkpoint.root {
                return Err(WitnessRefusal::RootMismatch { known_size });
            }
            if !request.proof.is_empty() {
                return Err(WitnessRefusal::Inconsistent { old, error: ProofError::WrongLength });
            }
        }
        // A cosigned empty tree is a prefix of every tree.
        Some(latest) if latest.size == 0 => {
            if !request.proof.is_empty() {
                return Err(WitnessRefusal::Inconsistent { old, error: ProofError::WrongLength });
            }
        }
        Some(latest) => {
            check_tree(&request.proof, checkpoint.size, checkpoint.root, latest.size, latest.root)
                .map_err(|error| WitnessRefusal::Inconsistent { old, error })?;
        }
    }
    Ok(checkpoint)
}

/// The body of a 409 answer (`text/x.tlog.size`): the witness's size and a newline.
pub fn tlog_size_body(size: u64) -> String {
    format!("{size}\n")
}

/// Parses a 409 answer's body; `None` if it is not one decimal size and a newline.
pub fn parse_tlog_size(body: &str) -> Option<u64> {
    let digits = body.strip_suffix('\n')?;
    parse_old_line(&format!("old {digits}")).ok()
}

/// The log's side: the first line of a witness's 200 answer that is a valid cosignature by
/// `witness` on `note` (the note as the log signed it). Lines from other keys are ignored, as
/// the protocol requires; `None` if no line verifies.
pub fn verified_cosignature(
    note: &str,
    answer: &str,
    log_key: &LogKey,
    witness: &WitnessKey,
) -> Option<String> {
    answer.split_inclusive('\n').find_map(|line| {
        let cosigned = add_cosignature(note, line).ok()?;
        let opened = open_checkpoint(&cosigned, log_key, std::slice::from_ref(witness)).ok()?;
        opened.cosigned_by.iter().any(|(name, _)| name == witness.name()).then(|| line.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_lines() {
        assert_eq!(parse_old_line("old 0"), Ok(0));
        assert_eq!(parse_old_line("old 18446744073709551615"), Ok(u64::MAX));
        for bad in
            ["old", "old ", "old 01", "old -1", "old 1 ", "Old 1", "old 18446744073709551616", "old\t1"]
        {
            assert!(matches!(parse_old_line(bad), Err(WitnessRefusal::Malformed(_))), "{bad:?}");
        }
    }

    #[test]
    fn tlog_sizes() {
        assert_eq!(parse_tlog_size(&tlog_size_body(42)), Some(42));
        for bad in ["42", "042\n", "\n", "4 2\n", "x\n"] {
            assert_eq!(parse_tlog_size(bad), None, "{bad:?}");
        }
    }
}
