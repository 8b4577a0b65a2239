//! Reads of the log as C2SP `tlog-tiles`, straight out of the store: the bytes of one hash tile
//! (the stored hashes `ledger_core::tiles` says it holds) or one entry bundle (the stored entry
//! bytes). `GET /tile/...` serves them; `publish` writes them to a directory.

use crate::store::Store;
use anyhow::{bail, Context, Result};
use ledger_core::merkle::HashReader;
use ledger_core::tiles::{encode_entry_bundle, encode_hash_tile, Tile};

/// `Cache-Control` of a full tile or bundle: its bytes can never change.
pub const CACHE_FULL_TILE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of a partial tile or bundle: never changes either, but a publisher may delete
/// it once the full tile exists (tlog-tiles), so caches should not keep it for long.
pub const CACHE_PARTIAL_TILE: &str = "public, max-age=60";
/// `Cache-Control` of `/checkpoint`: tlog-tiles asks that it not be cached beyond a few seconds.
pub const CACHE_CHECKPOINT: &str = "public, max-age=5";

/// The bytes of `tile`. The caller has checked that the tree it serves holds the tile (see
/// `Tile::within`): a hash or entry missing here is a damaged store, not a bad request.
pub fn tile_bytes(store: &Store, tile: &Tile) -> Result<Vec<u8>> {
    if let Some(range) = tile.entry_range() {
        let entries: Vec<sled::IVec> = store.entries(range.start, range.end).collect::<Result<_>>()?;
        if entries.len() as u64 != tile.width() {
            bail!("the store holds {} of the {} entries of {}", entries.len(), tile.width(), tile.path());
        }
        return encode_entry_bundle(entries.iter().map(|e| e.as_ref())).context("encoding an entry bundle");
    }
    let indexes =
        tile.stored_hash_indexes().with_context(|| format!("{} is beyond any tree", tile.path()))?;
    let hashes =
        store.read_hashes(&indexes).with_context(|| format!("reading the hashes of {}", tile.path()))?;
    Ok(encode_hash_tile(&hashes))
}
