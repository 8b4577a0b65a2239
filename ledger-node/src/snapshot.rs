//! Saved points of the projection, so a restart does not replay the whole log. A snapshot is a
//! cache, never a truth: it is used only if its checksum holds and it agrees with the log at its
//! size (same last leaf hash, same root); otherwise the node rebuilds from the log.
//!
//! File: `SNAPSHOT_MAGIC`, SHA-256 of the payload (32 bytes), then the payload (postcard).
//! Written to a temporary file, fsynced, and renamed over the old one.

use anyhow::{bail, Context, Result};
use ledger_core::hash::{sha256, Hash};
use ledger_core::rules::State;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// Version 2: the projection keeps its entries as columns (ids in one string).
const SNAPSHOT_MAGIC: &[u8; 8] = b"CLSNAP2\n";
/// A snapshot larger than this is not one of ours.
const SNAPSHOT_BYTES_MAX: u64 = 8 * 1024 * 1024 * 1024;

/// The projection and the node's lookup indexes, as saved.
#[derive(Serialize, Deserialize)]
pub struct Snapshot {
    pub state: State,
    pub commitments: HashMap<Hash, Vec<u64>>,
    pub refs: HashMap<Box<str>, Vec<u64>>,
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    state: &'a State,
    commitments: &'a HashMap<Hash, Vec<u64>>,
    refs: &'a HashMap<Box<str>, Vec<u64>>,
}

pub fn save(
    path: &Path,
    state: &State,
    commitments: &HashMap<Hash, Vec<u64>>,
    refs: &HashMap<Box<str>, Vec<u64>>,
) -> Result<()> {
    let payload =
        postcard::to_stdvec(&SnapshotRef { state, commitments, refs }).context("encoding the snapshot")?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(SNAPSHOT_MAGIC)?;
        f.write_all(&sha256(&[&payload]).0)?;
        f.write_all(&payload)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming the snapshot into {}", path.display()))?;
    Ok(())
}

/// Reads a snapshot, refusing a torn, corrupted or foreign file.
pub fn load(path: &Path) -> Result<Option<Snapshot>> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context("reading the snapshot"),
    };
    if len > SNAPSHOT_BYTES_MAX {
        bail!("snapshot is {len} bytes, over the limit");
    }
    let bytes = std::fs::read(path).context("reading the snapshot")?;
    if bytes.len() < 40 || &bytes[..8] != SNAPSHOT_MAGIC {
        bail!("not a snapshot of this version");
    }
    let (sum, payload) = bytes[8..].split_at(32);
    // Checksum and decode side by side (a restart waits for both); the decoded value is used
    // only if the checksum holds, and postcard refuses malformed input without panicking.
    let (sum_holds, decoded) = std::thread::scope(|scope| {
        let checksum = scope.spawn(|| sha256(&[payload]).0 == sum);
        let decoded = postcard::from_bytes::<Snapshot>(payload);
        (checksum.join().unwrap_or(false), decoded)
    });
    if !sum_holds {
        bail!("snapshot checksum does not match");
    }
    Ok(Some(decoded.context("decoding the snapshot")?))
}
