//! The log as static C2SP `tlog-tiles`: tile paths, which tiles a tree of a given size has,
//! the bytes of hash tiles and entry bundles, the tiles of a tree built from its leaves, and
//! reading any stored hash (so any proof) back out of tiles.
//!
//! A hash tile at tile level `L`, index `N` and width `W` holds the Merkle hashes at tree
//! level `8·L`, positions `N·256 .. N·256+W`: exactly the hashes `merkle` stores at
//! `stored_hash_index(8·L, ·)`, so the node serves tiles straight from its store. An entry
//! bundle holds the entries `N·256 .. N·256+W`, each as a big-endian `u16` length and the
//! entry's exact stored bytes.
//!
//! Paths come from requests and directories: parsing accepts only the one canonical spelling
//! that [`Tile::path`] writes, and nothing here panics.

// Paths and tile bytes are untrusted: make any unchecked arithmetic or indexing a build error.
#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use crate::hash::{node_hash, Hash};
use crate::limits::ENTRY_BYTES_MAX;
use crate::merkle::{split_stored_hash_index, stored_hash_index, HashReader, MerkleError};

/// Tree levels one tile spans: a full tile is a complete subtree of this height.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// Bytes of one hash in a hash tile.
pub const HASH_BYTES: usize = 32;
/// Largest tile level a path may name (tlog-tiles); a tree with a 64-bit size has hashes up to
/// tile level 7 only, so higher levels are well-formed but always empty.
pub const TILE_LEVEL_MAX: u8 = 63;
/// A full hash tile, in bytes.
pub const HASH_TILE_BYTES_MAX: usize = 256 * HASH_BYTES;
/// The largest entry bundle: 256 entries of the largest size SPEC.md §3 allows, each with its
/// two length bytes.
pub const ENTRY_BUNDLE_BYTES_MAX: usize = 256 * (2 + ENTRY_BYTES_MAX);
/// Digits of one path segment of a tile index (`x001/x234/067`).
const INDEX_SEGMENT_DIGITS: usize = 3;
/// Segments of a tile index: 20 decimal digits of a u64 need seven groups of three.
const INDEX_SEGMENTS_MAX: usize = 7;

/// What a tile holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TileKind {
    /// Merkle hashes at tree level `8·level`.
    Hashes { level: u8 },
    /// Entry bundle: the entries themselves.
    Entries,
}

/// One tile: kind, index within its level, and width (256 for a full tile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tile {
    kind: TileKind,
    index: u64,
    width: u16,
}

/// Why a path, a tile or its bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TileError {
    /// Not the canonical path of any tile.
    #[error("not a tile path: {0}")]
    BadPath(&'static str),
    /// A width outside 1..=256 or a level above 63.
    #[error("bad tile coordinates: {0}")]
    BadCoordinates(&'static str),
    /// The bytes are not a tile of the width its path names.
    #[error("{path}: {reason}")]
    BadBytes { path: String, reason: String },
}

impl Tile {
    fn new(kind: TileKind, index: u64, width: u64) -> Result<Tile, TileError> {
        if let TileKind::Hashes { level } = kind {
            if level > TILE_LEVEL_MAX {
                return Err(TileError::BadCoordinates("tile level above 63"));
            }
        }
        if width == 0 || width > TILE_WIDTH {
            return Err(TileError::BadCoordinates("tile width outside 1..=256"));
        }
        let width = u16::try_from(width).map_err(|_| TileError::BadCoordinates("tile width"))?;
        Ok(Tile { kind, index, width })
    }

    /// A hash tile at tile `level`, `index`, `width`.
    pub fn hashes(level: u8, index: u64, width: u64) -> Result<Tile, TileError> {
        Tile::new(TileKind::Hashes { level }, index, width)
    }

    /// An entry bundle at `index`, `width`.
    pub fn entries(index: u64, width: u64) -> Result<Tile, TileError> {
        Tile::new(TileKind::Entries, index, width)
    }

    pub fn kind(&self) -> TileKind {
        self.kind
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn width(&self) -> u64 {
        u64::from(self.width)
    }

    pub fn is_partial(&self) -> bool {
        self.width() < TILE_WIDTH
    }

    /// The first position (leaf for bundles and level 0, hash at the tile's level above) this
    /// tile holds; `None` past 2^64.
    fn first(&self) -> Option<u64> {
        self.index.checked_mul(TILE_WIDTH)
    }

    /// The canonical path, e.g. `tile/0/x001/x234/067.p/5` or `tile/entries/000`.
    pub fn path(&self) -> String {
        let level = match self.kind {
            TileKind::Hashes { level } => level.to_string(),
            TileKind::Entries => "entries".to_string(),
        };
        let mut path = format!("tile/{level}/{}", index_path(self.index));
        if self.is_partial() {
            path.push_str(&format!(".p/{}", self.width));
        }
        path
    }

    /// Parses a canonical tile path (`tile/...`, no leading slash). Refuses every other
    /// spelling of the same tile: leading zeros, missing `x`, `.p/256`, `.p/0`.
    pub fn parse_path(path: &str) -> Result<Tile, TileError> {
        let rest = path.strip_prefix("tile/").ok_or(TileError::BadPath("does not start with tile/"))?;
        let (level, rest) = rest.split_once('/').ok_or(TileError::BadPath("no index"))?;
        let kind = if level == "entries" {
            TileKind::Entries
        } else {
            let level = parse_decimal(level).ok_or(TileError::BadPath("level is not a canonical number"))?;
            let level = u8::try_from(level)
                .ok()
                .filter(|l| *l <= TILE_LEVEL_MAX)
                .ok_or(TileError::BadCoordinates("tile level above 63"))?;
            TileKind::Hashes { level }
        };
        let (index, width) = match rest.split_once(".p/") {
            Some((index, width)) => {
                let width =
                    parse_decimal(width).ok_or(TileError::BadPath("width is not a canonical number"))?;
                if width == 0 || width >= TILE_WIDTH {
                    return Err(TileError::BadCoordinates("a partial tile's width is 1 to 255"));
                }
                (index, width)
            }
            None => (rest, TILE_WIDTH),
        };
        Tile::new(kind, parse_index(index)?, width)
    }

    /// The tile of `kind` at `index` in a tree of `size` leaves, with the width it has there,
    /// or `None` if that tree has no such tile (empty tiles are never served).
    pub fn for_tree(kind: TileKind, index: u64, size: u64) -> Option<Tile> {
        let available = available(kind, index, size)?;
        Tile::new(kind, index, available).ok()
    }

    /// Whether a tree of `size` leaves holds all this tile's data. A partial tile narrower
    /// than the right edge is a prefix of data the tree has (a tile of an older checkpoint).
    pub fn within(&self, size: u64) -> bool {
        available(self.kind, self.index, size).is_some_and(|a| self.width() <= a)
    }

    /// The leaves an entry bundle holds; `None` for hash tiles.
    pub fn entry_range(&self) -> Option<std::ops::Range<u64>> {
        match self.kind {
            TileKind::Entries => {
                let first = self.first()?;
                Some(first..first.checked_add(self.width())?)
            }
            TileKind::Hashes { .. } => None,
        }
    }

    /// Where the hashes of a hash tile live in the stored-hash layout, in tile order; `None`
    /// for bundles and for tiles beyond any 64-bit tree.
    pub fn stored_hash_indexes(&self) -> Option<Vec<u64>> {
        let TileKind::Hashes { level } = self.kind else { return None };
        let tree_level =
            u8::try_from(u32::from(level).checked_mul(TILE_HEIGHT)?).ok().filter(|l| *l <= 63)?;
        let first = self.first()?;
        (0..self.width())
            .map(|i| {
                let index = stored_hash_index(tree_level, first.checked_add(i)?);
                (index != u64::MAX).then_some(index)
            })
            .collect()
    }
}

/// How many hashes at tile level `level`'s tree level a tree of `size` leaves has: one per
/// complete subtree of `256^level` leaves.
fn hash_count(level: u8, size: u64) -> u64 {
    u32::from(level).checked_mul(TILE_HEIGHT).and_then(|shift| size.checked_shr(shift)).unwrap_or(0)
}

/// Items at `kind`'s level a tree of `size` has.
fn item_count(kind: TileKind, size: u64) -> u64 {
    match kind {
        TileKind::Entries => size,
        TileKind::Hashes { level } => hash_count(level, size),
    }
}

/// The width of tile `index` of `kind` in a tree of `size`, or `None` if it is empty.
fn available(kind: TileKind, index: u64, size: u64) -> Option<u64> {
    let first = index.checked_mul(TILE_WIDTH)?;
    let rest = item_count(kind, size).checked_sub(first).filter(|r| *r > 0)?;
    Some(rest.min(TILE_WIDTH))
}

/// `1234067` → `x001/x234/067`.
fn index_path(index: u64) -> String {
    let digits = index.to_string();
    let padding = digits.len().next_multiple_of(INDEX_SEGMENT_DIGITS).saturating_sub(digits.len());
    let padded = format!("{}{digits}", "0".repeat(padding));
    let groups: Vec<&str> = padded
        .as_bytes()
        .chunks(INDEX_SEGMENT_DIGITS)
        .map(|g| std::str::from_utf8(g).unwrap_or_default())
        .collect();
    let last = groups.len().saturating_sub(1);
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| if i < last { format!("x{g}") } else { (*g).to_string() })
        .collect::<Vec<_>>()
        .join("/")
}

/// `x001/x234/067` → `1234067`; refuses a leading all-zero group (`x000/001`), which would be a
/// second path for the same tile.
fn parse_index(text: &str) -> Result<u64, TileError> {
    let segments: Vec<&str> = text.split('/').collect();
    if segments.len() > INDEX_SEGMENTS_MAX {
        return Err(TileError::BadPath("index has too many segments"));
    }
    let last = segments.len().saturating_sub(1);
    let mut value: u64 = 0;
    for (i, segment) in segments.iter().enumerate() {
        let digits = if i < last {
            segment
                .strip_prefix('x')
                .ok_or(TileError::BadPath("an index segment but the last lacks its x"))?
        } else {
            segment
        };
        if digits.len() != INDEX_SEGMENT_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TileError::BadPath("an index segment is not three digits"));
        }
        if i == 0 && last > 0 && digits == "000" {
            return Err(TileError::BadPath("index has a leading zero segment"));
        }
        let group: u64 = digits.parse().map_err(|_| TileError::BadPath("index digits"))?;
        value = value
            .checked_mul(1000)
            .and_then(|v| v.checked_add(group))
            .ok_or(TileError::BadPath("index beyond 64 bits"))?;
    }
    Ok(value)
}

/// A decimal number without sign or leading zeros, as tlog-tiles writes levels and widths.
fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.len() <= 3
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// Every tile a tree of `size` leaves has that a tree of `old_size` leaves did not have with the
/// same width: new full tiles and the new right-edge partial tiles, bundles first, then hash
/// tiles level by level. Tiles of the older tree stay valid (full tiles are immutable; an old
/// partial tile is a prefix of the new data), so publishing only these brings a copy up to date.
pub fn new_tiles(old_size: u64, size: u64) -> Vec<Tile> {
    let mut out = Vec::new();
    if size <= old_size {
        return out;
    }
    let kinds = std::iter::once(TileKind::Entries)
        .chain((0..=TILE_LEVEL_MAX).map(|level| TileKind::Hashes { level }));
    for kind in kinds {
        let (old, new) = (item_count(kind, old_size), item_count(kind, size));
        if new == 0 {
            break;
        }
        if new == old {
            continue;
        }
        let from = old / TILE_WIDTH;
        let to = new.div_ceil(TILE_WIDTH);
        out.extend((from..to).filter_map(|index| Tile::for_tree(kind, index, size)));
    }
    out
}

/// Every tile of a tree of `size` leaves.
pub fn all_tiles(size: u64) -> Vec<Tile> {
    new_tiles(0, size)
}

/// The bytes of a hash tile: the hashes, concatenated.
pub fn encode_hash_tile(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.0).collect()
}

/// Reads a hash tile's bytes: exactly `width` hashes.
pub fn parse_hash_tile(tile: &Tile, bytes: &[u8]) -> Result<Vec<Hash>, TileError> {
    let expected = usize::from(tile.width).saturating_mul(HASH_BYTES);
    if bytes.len() != expected {
        return Err(TileError::BadBytes {
            path: tile.path(),
            reason: format!("{} bytes, but {} hashes are {expected} bytes", bytes.len(), tile.width),
        });
    }
    Ok(bytes
        .chunks_exact(HASH_BYTES)
        .map(|c| Hash(<[u8; HASH_BYTES]>::try_from(c).unwrap_or_default()))
        .collect())
}

/// The bytes of an entry bundle: each entry as a big-endian `u16` length and its bytes.
pub fn encode_entry_bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>, TileError> {
    let mut out = Vec::new();
    for entry in entries {
        let len = u16::try_from(entry.len()).map_err(|_| TileError::BadBytes {
            path: "entry bundle".into(),
            reason: format!("an entry of {} bytes does not fit a u16 length", entry.len()),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Reads an entry bundle: exactly `width` entries and no byte after the last.
pub fn parse_entry_bundle<'a>(tile: &Tile, bytes: &'a [u8]) -> Result<Vec<&'a [u8]>, TileError> {
    let bad = |reason: String| TileError::BadBytes { path: tile.path(), reason };
    let mut entries = Vec::with_capacity(usize::from(tile.width));
    let mut rest = bytes;
    while entries.len() < usize::from(tile.width) {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            return Err(bad(format!("ends after {} of its {} entries", entries.len(), tile.width)));
        };
        let len = usize::from(u16::from_be_bytes(*len));
        let (entry, tail) = tail.split_at_checked(len).ok_or_else(|| {
            bad(format!("entry {} of the bundle is cut short ({len} bytes announced)", entries.len()))
        })?;
        entries.push(entry);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(bad(format!("{} bytes follow its {} entries", rest.len(), tile.width)));
    }
    Ok(entries)
}

/// The RFC 6962 Merkle tree hash of `hashes` taken as leaves' hashes (the tile's subtree).
/// Inside a tile at most 256 hashes are folded, so the recursion is at most 8 deep.
pub fn subtree_hash(hashes: &[Hash]) -> Hash {
    match hashes {
        [] => crate::hash::empty_root(),
        [one] => *one,
        _ => {
            let split = hashes
                .len()
                .saturating_sub(1)
                .checked_ilog2()
                .and_then(|bit| 1usize.checked_shl(bit))
                .unwrap_or(1);
            let (left, right) = hashes.split_at(split.min(hashes.len()));
            node_hash(&subtree_hash(left), &subtree_hash(right))
        }
    }
}

/// Builds the hash tiles of a tree from its leaf hashes, in order, keeping at most one
/// unfinished tile per level: the tiles of a log of any length in a few kilobytes.
#[derive(Debug, Clone, Default)]
pub struct TileBuilder {
    size: u64,
    /// The hashes of the unfinished tile at each tile level, lowest first.
    levels: Vec<Vec<Hash>>,
}

impl TileBuilder {
    pub fn new() -> TileBuilder {
        TileBuilder::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds the next leaf hash; returns the full tiles it completes, lowest level first.
    pub fn push_leaf(&mut self, leaf: Hash) -> Vec<(Tile, Vec<Hash>)> {
        let mut done = Vec::new();
        let Some(size) = self.size.checked_add(1) else { return done };
        self.size = size;
        let mut carry = leaf;
        for level in 0..=TILE_LEVEL_MAX {
            let index = usize::from(level);
            if self.levels.len() <= index {
                self.levels.push(Vec::with_capacity(256));
            }
            let Some(hashes) = self.levels.get_mut(index) else { break };
            hashes.push(carry);
            if (hashes.len() as u64) < TILE_WIDTH {
                break;
            }
            let full = std::mem::take(hashes);
            carry = subtree_hash(&full);
            let tile_index = hash_count(level, size).checked_div(TILE_WIDTH).unwrap_or(0).saturating_sub(1);
            if let Ok(tile) = Tile::hashes(level, tile_index, TILE_WIDTH) {
                done.push((tile, full));
            }
        }
        done
    }

    /// The partial tiles of the tree so far, lowest level first (empty ones are not tiles).
    pub fn partial_tiles(&self) -> Vec<(Tile, Vec<Hash>)> {
        self.levels
            .iter()
            .enumerate()
            .filter(|(_, hashes)| !hashes.is_empty())
            .filter_map(|(level, hashes)| {
                let level = u8::try_from(level).ok()?;
                let index = hash_count(level, self.size).checked_div(TILE_WIDTH)?;
                Some((Tile::hashes(level, index, hashes.len() as u64).ok()?, hashes.clone()))
            })
            .collect()
    }
}

/// Where a [`TileHashReader`] gets tiles from (a directory, a URL, a store, a test's memory).
/// Caching, if any, is the source's business.
pub trait TileSource {
    /// The hashes of `tile`, exactly `tile.width()` of them.
    fn read_tile(&self, tile: &Tile) -> Result<Vec<Hash>, MerkleError>;
}

/// Reads stored hashes of the tree of `size` leaves out of its tiles, so that `merkle`'s
/// proofs and roots work on a log published as static tiles. A hash between tile levels is
/// recomputed from the hashes of the tile below it.
pub struct TileHashReader<'a, S> {
    size: u64,
    source: &'a S,
}

impl<'a, S: TileSource> TileHashReader<'a, S> {
    pub fn new(size: u64, source: &'a S) -> Self {
        TileHashReader { size, source }
    }

    fn read_one(&self, index: u64) -> Result<Hash, MerkleError> {
        let (level, n) = split_stored_hash_index(index);
        let tile_level = u8::try_from(u32::from(level) / TILE_HEIGHT).unwrap_or(u8::MAX);
        let within = u32::from(level) % TILE_HEIGHT;
        let beyond =
            || MerkleError::Read(format!("stored hash {index} is beyond the tree of size {}", self.size));
        let first = n.checked_shl(within).filter(|f| f.checked_shr(within) == Some(n)).ok_or_else(beyond)?;
        let count = 1u64.checked_shl(within).ok_or_else(beyond)?;
        let kind = TileKind::Hashes { level: tile_level };
        let tile = Tile::for_tree(kind, first / TILE_WIDTH, self.size).ok_or_else(beyond)?;
        let offset = first % TILE_WIDTH;
        let end = offset.checked_add(count).filter(|e| *e <= tile.width()).ok_or_else(beyond)?;
        let hashes = self.source.read_tile(&tile)?;
        if hashes.len() as u64 != tile.width() {
            return Err(MerkleError::ReadCount { asked: usize::from(tile.width), got: hashes.len() });
        }
        let range = usize::try_from(offset).unwrap_or(usize::MAX)..usize::try_from(end).unwrap_or(usize::MAX);
        let part = hashes.get(range).ok_or_else(beyond)?;
        Ok(subtree_hash(part))
    }
}

impl<S: TileSource> HashReader for TileHashReader<'_, S> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes.iter().map(|&i| self.read_one(i)).collect()
    }
}

/// Checks the tiles on the right edge of a tree of `size` leaves against the tree's `root`
/// (a checkpoint's): the root recomputed from the tiles must be it. Every proof a client then
/// reads from those tiles is as good as the checkpoint.
pub fn check_tiles_root(size: u64, root: Hash, source: &impl TileSource) -> Result<(), MerkleError> {
    let computed = crate::merkle::tree_hash(size, &TileHashReader::new(size, source))?;
    if computed != root {
        return Err(MerkleError::Read(format!(
            "the tiles give root {} for size {size}, not the checkpoint's {}",
            computed.to_base64(),
            root.to_base64()
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn index_paths_are_three_digit_groups() {
        assert_eq!(index_path(0), "000");
        assert_eq!(index_path(7), "007");
        assert_eq!(index_path(999), "999");
        assert_eq!(index_path(1000), "x001/000");
        assert_eq!(index_path(1_234_067), "x001/x234/067");
        assert_eq!(index_path(u64::MAX), "x018/x446/x744/x073/x709/x551/615");
        for i in [0, 5, 999, 1000, 1_234_067, u64::MAX] {
            assert_eq!(parse_index(&index_path(i)), Ok(i));
        }
    }

    #[test]
    fn hash_count_per_level() {
        assert_eq!(hash_count(0, 70_000), 70_000);
        assert_eq!(hash_count(1, 70_000), 273);
        assert_eq!(hash_count(2, 70_000), 1);
        assert_eq!(hash_count(8, u64::MAX), 0);
    }
}
