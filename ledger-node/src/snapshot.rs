//! Saved points of the projection and the Merkle tree, so a restart does not replay the whole
//! log. A snapshot is a cache, never a truth: it is used only if its checksum holds and it
//! agrees with the log at its size (same last leaf hash, and its tree has the state's root);
//! otherwise the node rebuilds from the log.
//!
//! File: `SNAPSHOT_MAGIC`, SHA-256 of everything after it (32 bytes), the payload's length
//! (8 bytes, big-endian), the payload (postcard), the tree's size (8 bytes, big-endian), then
//! the tree's stored hashes (32 bytes each, `stored_hash_count(size)` of them, in the
//! stored-hash layout). Written to a temporary file, fsynced, and renamed over the old one.

use anyhow::{bail, Context, Result};
use ledger_core::hash::{sha256, Hash};
use ledger_core::merkle::{stored_hash_count, MemoryHashes};
use ledger_core::rules::State;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// Version 3: the tree's hashes are saved after the projection (they are no longer in sled).
const SNAPSHOT_MAGIC: &[u8; 8] = b"CLSNAP3\n";
/// A snapshot larger than this is not one of ours.
const SNAPSHOT_BYTES_MAX: u64 = 8 * 1024 * 1024 * 1024;
const HASH_BYTES: usize = 32;

/// The projection, the node's lookup indexes and the tree, as saved.
pub struct Snapshot {
    pub state: State,
    pub commitments: HashMap<Hash, Vec<u64>>,
    pub refs: HashMap<Box<str>, Vec<u64>>,
    /// The tree of the state's entries.
    pub tree: MemoryHashes,
}

#[derive(Deserialize)]
struct Payload {
    state: State,
    commitments: HashMap<Hash, Vec<u64>>,
    refs: HashMap<Box<str>, Vec<u64>>,
}

#[derive(Serialize)]
struct PayloadRef<'a> {
    state: &'a State,
    commitments: &'a HashMap<Hash, Vec<u64>>,
    refs: &'a HashMap<Box<str>, Vec<u64>>,
}

/// A snapshot encoded in memory, to be written without holding the locks it was read under.
pub struct Encoded {
    /// The payload's length, the payload, and the tree section: what the checksum covers.
    parts: [Vec<u8>; 3],
}

/// Encodes the projection with `tree_hashes`, the stored hashes of the tree of its entries.
pub fn encode(
    state: &State,
    commitments: &HashMap<Hash, Vec<u64>>,
    refs: &HashMap<Box<str>, Vec<u64>>,
    tree_hashes: &[Hash],
) -> Result<Encoded> {
    if tree_hashes.len() as u64 != stored_hash_count(state.size()) {
        bail!("a tree of {} hashes saved with a state of {} entries", tree_hashes.len(), state.size());
    }
    let payload =
        postcard::to_stdvec(&PayloadRef { state, commitments, refs }).context("encoding the snapshot")?;
    let mut tree = Vec::with_capacity(8 + tree_hashes.len() * HASH_BYTES);
    tree.extend_from_slice(&state.size().to_be_bytes());
    for h in tree_hashes {
        tree.extend_from_slice(&h.0);
    }
    Ok(Encoded { parts: [(payload.len() as u64).to_be_bytes().to_vec(), payload, tree] })
}

impl Encoded {
    /// Writes the snapshot to a temporary file, fsyncs it, and renames it over `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let parts = self.parts.each_ref().map(Vec::as_slice);
        let tmp = path.with_extension("tmp");
        {
            let f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            let mut f = std::io::BufWriter::new(f);
            f.write_all(SNAPSHOT_MAGIC)?;
            f.write_all(&sha256(&parts).0)?;
            for part in parts {
                f.write_all(part)?;
            }
            f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming the snapshot into {}", path.display()))?;
        Ok(())
    }
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
    let (sum, rest) = bytes[8..].split_at(32);
    let (payload, tree) = split_sections(rest).context("a torn snapshot")?;
    // Checksum and decode side by side (a restart waits for both); the decoded value is used
    // only if the checksum holds, and postcard refuses malformed input without panicking.
    let (sum_holds, decoded) = std::thread::scope(|scope| {
        let checksum = scope.spawn(|| sha256(&[rest]).0 == sum);
        let decoded = postcard::from_bytes::<Payload>(payload);
        (checksum.join().unwrap_or(false), decoded)
    });
    if !sum_holds {
        bail!("snapshot checksum does not match");
    }
    let Payload { state, commitments, refs } = decoded.context("decoding the snapshot")?;
    let (size, hashes) = tree.split_at(8);
    let size = u64::from_be_bytes(size.try_into().context("the saved tree's size")?);
    let hashes = hashes
        .chunks_exact(HASH_BYTES)
        .map(|h| h.try_into().map(Hash))
        .collect::<Result<Vec<Hash>, _>>()
        .context("the saved tree's hashes")?;
    let tree = MemoryHashes::from_stored(size, hashes).map_err(|e| anyhow::anyhow!("the saved tree: {e}"))?;
    Ok(Some(Snapshot { state, commitments, refs, tree }))
}

/// The payload and the tree section (its size, then whole hashes) of what follows the checksum.
fn split_sections(rest: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = rest.split_at_checked(8)?;
    let len = usize::try_from(u64::from_be_bytes(len.try_into().ok()?)).ok()?;
    let (payload, tree) = rest.split_at_checked(len)?;
    (tree.len() >= 8 && (tree.len() - 8) % HASH_BYTES == 0).then_some((payload, tree))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_is_saved_with_the_state_and_checked_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot");
        let (commitments, refs) = (HashMap::new(), HashMap::new());
        let empty = MemoryHashes::new();
        encode(&State::new(), &commitments, &refs, empty.stored(0).unwrap()).unwrap().write(&path).unwrap();
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!((loaded.state.size(), loaded.tree.size()), (0, 0));
        // A tree that is not the state's is not saved.
        let mut three = MemoryHashes::new();
        for i in 0..3u8 {
            three.append_leaf(Hash([i; 32]));
        }
        let err =
            encode(&State::new(), &commitments, &refs, three.stored(3).unwrap()).err().expect("refused");
        assert!(err.to_string().contains("a tree of 4 hashes saved with a state of 0 entries"), "{err}");
        // Torn anywhere, or damaged in the tree: refused.
        let good = std::fs::read(&path).unwrap();
        for cut in [good.len() - 1, good.len() - 8, 44, 40] {
            std::fs::write(&path, &good[..cut]).unwrap();
            assert!(load(&path).is_err(), "cut at {cut}");
        }
        let mut bad = good.clone();
        *bad.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &bad).unwrap();
        assert!(load(&path).err().expect("refused").to_string().contains("checksum"));
    }
}
