//! `ledger-node publish`: writes the log as static C2SP `tlog-tiles` files (`checkpoint`,
//! `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`) so that any static web host, object store
//! or CDN can serve every read a verifier needs.
//!
//! Incremental: the directory's own `checkpoint` says what it already holds, and only the tiles
//! the new tree adds are written. Full tiles are never rewritten (their bytes cannot change);
//! right-edge partial tiles are written anew. Older partial tiles stay: tlog-tiles asks a log to
//! keep serving the partial tiles of every checkpoint it published, and clients holding an
//! older checkpoint ask for exactly those. Every file is written to a temporary name, synced and
//! renamed, and the checkpoint last, so a reader never sees a checkpoint whose tiles are not
//! all there, and an interrupted run is simply run again.

use crate::store::Store;
use crate::tiles::tile_bytes;
use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::{open_checkpoint, LogKey, LogSigner};
use ledger_core::limits::NOTE_BYTES_MAX;
use ledger_core::merkle::tree_hash;
use ledger_core::tiles::new_tiles;
use std::io::{Read, Write};
use std::path::Path;

/// The name of the checkpoint file in the published directory (and of the tlog-tiles URL).
pub const CHECKPOINT_FILE: &str = "checkpoint";

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The tree size now published.
    pub size: u64,
    /// The size the directory held before (0 for a new directory).
    pub previous_size: u64,
    /// Tile and bundle files written.
    pub written: u64,
    /// Full tiles already there and left as they were.
    pub kept: u64,
}

/// Publishes the store's latest checkpoint and the tiles of its tree into `out`.
pub fn publish(store: &Store, log_key: &SigningKey, out: &Path) -> Result<Summary> {
    let note = store.latest_checkpoint()?.context("the ledger has no checkpoint yet: nothing to publish")?;
    let key = log_key_of(&note, log_key)?;
    let checkpoint = open_checkpoint(&note, &key, &[])
        .map_err(|e| anyhow::anyhow!("the store's latest checkpoint does not verify under the log key: {e}"))?
        .checkpoint;
    let size = checkpoint.size;
    // The tiles come from the store: they must make the very tree the checkpoint signs.
    let root = tree_hash(size, store).context("recomputing the checkpoint's root from the store")?;
    if root != checkpoint.root {
        bail!("the store's tree of size {size} does not have the root its checkpoint signs: refusing to publish");
    }

    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let previous_size = match read_previous(out)? {
        None => 0,
        Some(old_note) => {
            let old = open_checkpoint(&old_note, &key, &[])
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{} holds a checkpoint that is not this log's ({e}): publish into another directory",
                        out.join(CHECKPOINT_FILE).display()
                    )
                })?
                .checkpoint;
            if old.size > size {
                bail!(
                    "{} already holds a checkpoint of size {}, larger than the store's {size}: refusing to roll it back",
                    out.display(),
                    old.size
                );
            }
            if tree_hash(old.size, store).ok() != Some(old.root) {
                bail!(
                    "{} holds a checkpoint of size {} whose root is not this store's: a fork or another copy of the log; refusing to mix them",
                    out.display(),
                    old.size
                );
            }
            old.size
        }
    };

    let mut summary = Summary { size, previous_size, written: 0, kept: 0 };
    for tile in new_tiles(previous_size, size) {
        let path = out.join(tile.path());
        if !tile.is_partial() && path.exists() {
            summary.kept += 1;
            continue;
        }
        write_atomically(&path, &tile_bytes(store, &tile)?)?;
        summary.written += 1;
    }
    write_atomically(&out.join(CHECKPOINT_FILE), note.as_bytes())?;
    Ok(summary)
}

/// The log key of the checkpoint's origin (the note's first line) and this ledger's key.
fn log_key_of(note: &str, key: &SigningKey) -> Result<LogKey> {
    let origin = note.split('\n').next().unwrap_or_default();
    let signer = LogSigner::new(origin, key.clone())
        .map_err(|e| anyhow::anyhow!("the latest checkpoint names no valid origin: {e}"))?;
    Ok(signer.log_key().clone())
}

/// The checkpoint a previous run left in `out`, if any.
fn read_previous(out: &Path) -> Result<Option<String>> {
    let path = out.join(CHECKPOINT_FILE);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut text = String::new();
    file.take(NOTE_BYTES_MAX as u64 + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("{} is not UTF-8 text", path.display()))?;
    if text.len() > NOTE_BYTES_MAX {
        bail!("{} is larger than a checkpoint may be", path.display());
    }
    Ok(Some(text))
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it into place, so a
/// reader sees the old file or the whole new one, never a part.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().with_context(|| format!("{} has no parent directory", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("tile");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(bytes).with_context(|| format!("writing {}", tmp.display()))?;
    file.sync_all().with_context(|| format!("syncing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}
