//! `ledger-node publish`: writes the log as static C2SP `tlog-tiles` files (`checkpoint`,
//! `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`) so that any static web host, object store
//! or CDN can serve every read a verifier needs. The tiles come from a stopped node's store or
//! from a running node's `/tile/...`; either way the checkpoint must verify under the log key
//! and the tiles must give its root before anything is written.
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
use ledger_core::hash::Hash;
use ledger_core::limits::NOTE_BYTES_MAX;
use ledger_core::merkle::{tree_hash, MerkleError};
use ledger_core::tiles::{
    new_tiles, parse_hash_tile, Tile, TileHashReader, TileSource, ENTRY_BUNDLE_BYTES_MAX, HASH_TILE_BYTES_MAX,
};
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

/// Where the tiles come from: the store itself (`--data`, node stopped) or a running node's
/// `/checkpoint` and `/tile/...` (`--url`).
pub trait Source {
    /// The latest signed checkpoint.
    fn checkpoint(&self) -> Result<String>;
    /// The bytes of `tile`, which the latest checkpoint's tree holds.
    fn tile_bytes(&self, tile: &Tile) -> Result<Vec<u8>>;
}

/// The store of a data directory.
pub struct StoreSource<'a>(&'a Store);

impl<'a> StoreSource<'a> {
    /// A store no node is serving. The tree lives only in a node's memory, so it is rebuilt here
    /// from the entries of the latest checkpoint (a few seconds at a million entries).
    pub fn new(store: &'a Store) -> Result<StoreSource<'a>> {
        let source = StoreSource(store);
        let size = ledger_core::checkpoint::claimed_checkpoint(&source.checkpoint()?)
            .map_err(|e| anyhow::anyhow!("the stored checkpoint does not parse: {e}"))?
            .size;
        store.load_tree(ledger_core::merkle::MemoryHashes::new(), size)?;
        Ok(source)
    }
}

impl Source for StoreSource<'_> {
    /// With the witnesses' cosignatures when they were gathered for this very checkpoint.
    fn checkpoint(&self) -> Result<String> {
        let latest =
            self.0.latest_checkpoint()?.context("the ledger has no checkpoint yet: nothing to publish")?;
        let claimed = |note: &str| ledger_core::checkpoint::claimed_checkpoint(note).ok();
        Ok(match self.0.latest_cosigned()? {
            Some((_, cosigned)) if claimed(&cosigned).is_some() && claimed(&cosigned) == claimed(&latest) => {
                cosigned
            }
            _ => latest,
        })
    }
    fn tile_bytes(&self, tile: &Tile) -> Result<Vec<u8>> {
        tile_bytes(self.0, tile)
    }
}

/// A running node, read as any tlog-tiles client reads it.
pub struct NodeSource {
    agent: ureq::Agent,
    base: String,
}

impl NodeSource {
    pub fn new(url: &str) -> NodeSource {
        NodeSource { agent: crate::client::agent(), base: url.trim_end_matches('/').to_string() }
    }

    fn get(&self, path: &str, max: usize) -> Result<Vec<u8>> {
        let url = format!("{}/{path}", self.base);
        let response = self.agent.get(&url).call().with_context(|| format!("GET {url}"))?;
        let mut body = Vec::new();
        response
            .into_reader()
            .take(max as u64 + 1)
            .read_to_end(&mut body)
            .with_context(|| format!("reading {url}"))?;
        if body.len() > max {
            bail!("{url} answered more than {max} bytes");
        }
        Ok(body)
    }
}

impl Source for NodeSource {
    fn checkpoint(&self) -> Result<String> {
        String::from_utf8(self.get(CHECKPOINT_FILE, NOTE_BYTES_MAX)?)
            .context("the node's checkpoint is not UTF-8")
    }
    fn tile_bytes(&self, tile: &Tile) -> Result<Vec<u8>> {
        let max = if tile.entry_range().is_some() { ENTRY_BUNDLE_BYTES_MAX } else { HASH_TILE_BYTES_MAX };
        self.get(&tile.path(), max)
    }
}

/// A source's hash tiles as `ledger_core::tiles` reads them, to recompute roots from tiles.
struct HashTiles<'a, S>(&'a S);

impl<S: Source> TileSource for HashTiles<'_, S> {
    fn read_tile(&self, tile: &Tile) -> Result<Vec<Hash>, MerkleError> {
        let bytes = self.0.tile_bytes(tile).map_err(|e| MerkleError::Read(format!("{e:#}")))?;
        parse_hash_tile(tile, &bytes).map_err(|e| MerkleError::Read(e.to_string()))
    }
}

/// The root of the tree of `size` leaves, recomputed from the source's tiles at `tiles_size`.
fn root_from_tiles(source: &impl Source, tiles_size: u64, size: u64) -> Result<Hash> {
    tree_hash(size, &TileHashReader::new(tiles_size, &HashTiles(source)))
        .with_context(|| format!("recomputing the root of size {size} from the tiles"))
}

/// The log key of a data directory: its secret key, named by the origin its checkpoint carries.
pub fn log_key_of(note: &str, key: &SigningKey) -> Result<LogKey> {
    let origin = note.split('\n').next().unwrap_or_default();
    let signer = LogSigner::new(origin, key.clone())
        .map_err(|e| anyhow::anyhow!("the latest checkpoint names no valid origin: {e}"))?;
    Ok(signer.log_key().clone())
}

/// Publishes the source's latest checkpoint, which must verify under `key`, and the tiles of
/// its tree into `out`.
pub fn publish(source: &impl Source, key: &LogKey, out: &Path) -> Result<Summary> {
    let note = source.checkpoint()?;
    let checkpoint = open_checkpoint(&note, key, &[])
        .map_err(|e| anyhow::anyhow!("the latest checkpoint does not verify under the log key: {e}"))?
        .checkpoint;
    let size = checkpoint.size;
    // The tiles must make the very tree the checkpoint signs: its root, from the right edge.
    if root_from_tiles(source, size, size)? != checkpoint.root {
        bail!("the tiles of size {size} do not give the root the checkpoint signs: refusing to publish");
    }

    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let previous_size = match read_previous(out)? {
        None => 0,
        Some(old_note) => {
            let old = open_checkpoint(&old_note, key, &[])
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{} holds a checkpoint that is not this log's ({e}): publish into another directory",
                        out.join(CHECKPOINT_FILE).display()
                    )
                })?
                .checkpoint;
            if old.size > size {
                bail!(
                    "{} already holds a checkpoint of size {}, larger than the source's {size}: refusing to roll it back",
                    out.display(),
                    old.size
                );
            }
            if root_from_tiles(source, size, old.size).ok() != Some(old.root) {
                bail!(
                    "{} holds a checkpoint of size {} whose root is not this log's: a fork or another copy of the log; refusing to mix them",
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
        write_atomically(&path, &source.tile_bytes(&tile)?)?;
        summary.written += 1;
    }
    write_atomically(&out.join(CHECKPOINT_FILE), note.as_bytes())?;
    Ok(summary)
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
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}
