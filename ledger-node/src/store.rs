//! Step "append" of the path: the sled store. The `entries` tree (seq → exact entry bytes) is the
//! only truth; `hashes` (the Merkle tree's stored hashes) and `checkpoints` are derived from it
//! and repaired from it on start. Everything else is an in-memory projection rebuilt from the log.

use crate::limits::SLED_CACHE_MB_DEFAULT;
use anyhow::{bail, Context, Result};
use ledger_core::hash::Hash;
use ledger_core::merkle::{split_stored_hash_index, stored_hash_count, HashReader, MerkleError};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

const ENTRIES: &str = "entries";
const HASHES: &str = "hashes";
const CHECKPOINTS: &str = "checkpoints";
const META: &str = "meta";
const META_LATEST_CHECKPOINT: &[u8] = b"latest_checkpoint";
/// The latest checkpoint with the witness cosignatures gathered for it: size (8 bytes) || note.
const META_LATEST_COSIGNED: &[u8] = b"latest_cosigned";
/// Beside sled's files: the latest checkpoint signed, see `Store::record_signed`.
const SIGNED_CHECKPOINT_FILE: &str = "signed-checkpoint";

/// The node's on-disk log.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    entries: sled::Tree,
    hashes: sled::Tree,
    checkpoints: sled::Tree,
    meta: sled::Tree,
    /// sled's own flush ends in `sync_file_range`, which does not force the drive's cache nor
    /// the file's metadata. An `fsync` on the data file after each flush closes that gap: fsync
    /// acts on the file, whichever descriptor asks.
    data_file: PathBuf,
    /// The tree's stored hashes, shared by every clone of the store.
    tree: Arc<RwLock<TreeInMemory>>,
}

/// Every stored hash of the Merkle tree, in memory beside its copy in sled: a proof is then
/// answered without reading sled, which at a million entries cost it four or five random sled
/// gets (a few microseconds each even from sled's cache, and a page fetched and materialised
/// when not). 33 bytes per hash, about two hashes per entry: 66 bytes per entry (66 MB at a
/// million entries).
///
/// Filled as appends store hashes, and from sled the first time a proof reads one, so a start
/// reads nothing (reading them all at start would cost seconds at a million entries).
/// At most `size >> level` per level.
///
/// Invariant: a hash here is the one sled holds at that coordinate. Hashes of a published tree
/// never change; a group that failed to be written leaves hashes past the published tree, here
/// as in sled, which no proof reads and which are replaced when those seqs are written again.
#[derive(Default)]
struct TreeInMemory {
    /// `levels[l][n]`: the subtree (`l`, `n`), `None` until read.
    levels: Vec<Vec<Option<Hash>>>,
}

impl TreeInMemory {
    fn get(&self, level: u8, n: u64) -> Option<Hash> {
        *self.levels.get(usize::from(level))?.get(usize::try_from(n).ok()?)?
    }

    /// Keeps the hash of (`level`, `n`). Callers have it from sled or have just written it
    /// there, so `n` is below `size >> level`.
    fn set(&mut self, level: u8, n: u64, hash: Hash) -> Result<()> {
        let l = usize::from(level);
        if self.levels.len() <= l {
            self.levels.resize_with(l + 1, Vec::new);
        }
        let hashes = &mut self.levels[l];
        let n = usize::try_from(n).context("a tree too large for memory")?;
        if hashes.len() <= n {
            hashes.resize(n + 1, None);
        }
        hashes[n] = Some(hash);
        Ok(())
    }
}

fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

impl Store {
    /// Opens the store with sled's cache at its default size, `SLED_CACHE_MB_DEFAULT`.
    pub fn open(dir: &Path) -> Result<Store> {
        Store::open_with_cache(dir, SLED_CACHE_MB_DEFAULT)
    }

    /// Opens the store with a sled cache of `cache_mb` MiB (`serve --cache-mb`).
    pub fn open_with_cache(dir: &Path, cache_mb: u64) -> Result<Store> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_mb.saturating_mul(1024 * 1024))
            .mode(sled::Mode::HighThroughput)
            .open()
            .with_context(|| format!("opening the sled store in {}", dir.display()))?;
        let store = Store {
            entries: db.open_tree(ENTRIES)?,
            hashes: db.open_tree(HASHES)?,
            checkpoints: db.open_tree(CHECKPOINTS)?,
            meta: db.open_tree(META)?,
            data_file: dir.join("db"),
            db,
            tree: Arc::default(),
        };
        Ok(store)
    }

    /// Number of entries: the length of the contiguous run of seqs from 0. Entries past a gap
    /// can only come from a torn, never-acknowledged write; they are dropped.
    ///
    /// sled recovers a prefix of its own log and entries are written in seq order, so the last
    /// key normally ends a contiguous run: that is checked cheaply (the last entry's `prev` is
    /// the leaf hash of the one before) instead of by counting a million keys.
    pub fn recover_size(&self) -> Result<u64> {
        let Some((last, bytes)) = self.entries.last()? else { return Ok(0) };
        let last = decode_seq(&last)?;
        if self.last_link_holds(last, &bytes)? {
            return Ok(last + 1);
        }
        let mut n = 0u64;
        while self.entries.contains_key(seq_key(n))? {
            n += 1;
        }
        for k in self.entries.range(seq_key(n)..) {
            let (k, _) = k?;
            self.entries.remove(k)?;
        }
        self.flush()?;
        Ok(n)
    }

    fn last_link_holds(&self, last: u64, bytes: &[u8]) -> Result<bool> {
        let Ok(entry) = ledger_core::entry::Entry::parse(bytes) else { return Ok(false) };
        if entry.seq != last {
            return Ok(false);
        }
        if last == 0 {
            return Ok(entry.prev_hash() == Hash::ZERO);
        }
        Ok(match self.entries.get(seq_key(last - 1))? {
            Some(before) => ledger_core::hash::leaf_hash(&before) == entry.prev_hash(),
            None => false,
        })
    }

    pub fn entry(&self, seq: u64) -> Result<Option<sled::IVec>> {
        Ok(self.entries.get(seq_key(seq))?)
    }

    /// Entries `start..end` in order.
    pub fn entries(&self, start: u64, end: u64) -> impl Iterator<Item = Result<sled::IVec>> + '_ {
        self.entries.range(seq_key(start)..seq_key(end)).map(|r| r.map(|(_, v)| v).map_err(Into::into))
    }

    pub fn put_entry(&self, seq: u64, bytes: &[u8]) -> Result<()> {
        self.entries.insert(seq_key(seq), bytes)?;
        Ok(())
    }

    /// Stores the hashes that appending entry `seq` completes, as `stored_hashes_for_record`
    /// gives them: `hashes[l]` is the subtree (`l`, `seq >> l`).
    pub fn put_record_hashes(&self, seq: u64, hashes: &[Hash]) -> Result<()> {
        let base = stored_hash_count(seq);
        for (level, hash) in hashes.iter().enumerate() {
            self.hashes.insert((base + level as u64).to_be_bytes(), &hash.0)?;
        }
        let mut tree = self.tree.write().map_err(|_| anyhow::anyhow!("poisoned"))?;
        for (level, hash) in hashes.iter().enumerate() {
            let level = u8::try_from(level).context("more than 256 tree levels")?;
            tree.set(level, seq >> level, *hash)?;
        }
        Ok(())
    }

    pub fn hash_count(&self) -> Result<u64> {
        match self.hashes.last()? {
            Some((k, _)) => Ok(decode_seq(&k)? + 1),
            None => Ok(0),
        }
    }

    pub fn put_checkpoint(&self, size: u64, note: &str) -> Result<()> {
        self.checkpoints.insert(seq_key(size), note.as_bytes())?;
        self.meta.insert(META_LATEST_CHECKPOINT, note.as_bytes())?;
        Ok(())
    }

    pub fn latest_checkpoint(&self) -> Result<Option<String>> {
        match self.meta.get(META_LATEST_CHECKPOINT)? {
            Some(v) => Ok(Some(String::from_utf8(v.to_vec()).context("stored checkpoint is not UTF-8")?)),
            None => Ok(None),
        }
    }

    /// Keeps the cosigned form of the checkpoint at `size`. Not flushed: cosignatures can be
    /// gathered again, and sled writes them out within its flush interval anyway.
    pub fn put_cosigned(&self, size: u64, note: &str) -> Result<()> {
        let mut value = seq_key(size).to_vec();
        value.extend_from_slice(note.as_bytes());
        self.meta.insert(META_LATEST_COSIGNED, value)?;
        Ok(())
    }

    pub fn latest_cosigned(&self) -> Result<Option<(u64, String)>> {
        let Some(v) = self.meta.get(META_LATEST_COSIGNED)? else { return Ok(None) };
        let (size, note) = v.split_at_checked(8).context("stored cosigned checkpoint is too short")?;
        let note = String::from_utf8(note.to_vec()).context("stored cosigned checkpoint is not UTF-8")?;
        Ok(Some((decode_seq(size)?, note)))
    }

    /// Makes every write so far durable: sled's flush, then fsync of its data file.
    pub fn flush(&self) -> Result<()> {
        durable_flush(&self.db, &self.data_file)
    }

    /// Refuses to start a write of about `bytes` entry bytes that could fill the filesystem
    /// (see `DISK_RESERVE_BYTES_MIN`): the node then answers 503 and takes appends again as
    /// soon as space returns, instead of sled failing for good.
    pub fn check_free_space(&self, bytes: u64) -> Result<()> {
        use crate::limits::{DISK_RESERVE_BYTES_MAX, DISK_RESERVE_BYTES_MIN, DISK_WRITE_AMPLIFICATION};
        let dir = self.data_file.parent().unwrap_or(Path::new("."));
        let stats = fs2::statvfs(dir).with_context(|| format!("free space of {}", dir.display()))?;
        let reserve = (stats.total_space() / 16).clamp(DISK_RESERVE_BYTES_MIN, DISK_RESERVE_BYTES_MAX);
        let needed = reserve.saturating_add(bytes.saturating_mul(DISK_WRITE_AMPLIFICATION));
        if stats.available_space() < needed {
            bail!(
                "the disk is full: {} bytes free on {}, {needed} needed to write {bytes} bytes safely",
                stats.available_space(),
                dir.display()
            );
        }
        Ok(())
    }

    /// Records the latest checkpoint this node signed in a file beside sled's, once sled has
    /// made it durable. sled reads a damaged record as the torn end of its log and drops every
    /// later one without an error, so a store can come back shorter than what was signed; this
    /// file, outside sled's log, is how `Node::open` notices. Written by rename and not synced:
    /// after a power cut it may lag behind the log, never run ahead of it.
    pub fn record_signed(&self, note: &str) -> Result<()> {
        let path = self.data_file.with_file_name(SIGNED_CHECKPOINT_FILE);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, note).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
        Ok(())
    }

    /// The checkpoint `record_signed` kept, if any.
    pub fn recorded_signed(&self) -> Result<Option<String>> {
        let path = self.data_file.with_file_name(SIGNED_CHECKPOINT_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(
                String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", path.display()))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

/// sled's flush, then an fsync of its data file `data_file` (see `Store::data_file`). The
/// witness's state uses it too.
pub fn durable_flush(db: &sled::Db, data_file: &Path) -> Result<()> {
    db.flush().context("flushing the sled log")?;
    if data_file.exists() {
        File::open(data_file)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("fsync of {}", data_file.display()))?;
    }
    Ok(())
}

fn decode_seq(key: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| anyhow::anyhow!("a store key is not 8 bytes"))?;
    Ok(u64::from_be_bytes(bytes))
}

impl HashReader for Store {
    /// From memory, or from sled the first time after a start (outside the lock, so the
    /// sequencer's next append never waits for a reader's disk reads), then kept in memory.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        let poisoned = || MerkleError::Read("poisoned".into());
        let coordinates: Vec<(u8, u64)> = indexes.iter().map(|&i| split_stored_hash_index(i)).collect();
        let in_memory: Vec<Option<Hash>> = {
            let tree = self.tree.read().map_err(|_| poisoned())?;
            coordinates.iter().map(|&(level, n)| tree.get(level, n)).collect()
        };
        let mut read = Vec::new();
        let hashes = indexes
            .iter()
            .zip(&coordinates)
            .zip(in_memory)
            .map(|((&i, &(level, n)), hash)| match hash {
                Some(h) => Ok(h),
                None => {
                    let h = self.read_stored_hash(i)?;
                    read.push((level, n, h));
                    Ok(h)
                }
            })
            .collect::<Result<Vec<Hash>, MerkleError>>()?;
        if !read.is_empty() {
            let mut tree = self.tree.write().map_err(|_| poisoned())?;
            for (level, n, h) in read {
                tree.set(level, n, h).map_err(|e| MerkleError::Read(e.to_string()))?;
            }
        }
        Ok(hashes)
    }
}

impl Store {
    fn read_stored_hash(&self, i: u64) -> Result<Hash, MerkleError> {
        match self.hashes.get(i.to_be_bytes()) {
            Ok(Some(v)) => v
                .as_ref()
                .try_into()
                .map(Hash)
                .map_err(|_| MerkleError::Read(format!("stored hash {i} is not 32 bytes"))),
            Ok(None) => Err(MerkleError::Read(format!("stored hash {i} is missing"))),
            Err(e) => Err(MerkleError::Read(e.to_string())),
        }
    }
}

/// Refuses a data directory that is not a directory we can use.
pub fn check_data_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    Ok(())
}

impl Store {
    /// Removes an entry that was written but never acknowledged (a failed group).
    pub fn entries_remove(&self, seq: u64) -> Result<()> {
        self.entries.remove(seq_key(seq))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_core::merkle::{prove_record, prove_tree, stored_hashes_for_record, tree_hash, MemoryHashes};

    fn leaf(i: u64) -> Hash {
        ledger_core::hash::leaf_hash(&i.to_be_bytes())
    }

    /// Roots and proofs from the store (from memory, or from sled after a start) are those of
    /// the plain in-memory tree, at sizes on both sides of subtree edges.
    fn check_same(store: &Store, memory: &MemoryHashes, size: u64) {
        for t in [1, 2, 3, 15, 16, 17, 31, 32, 33, 48, size] {
            assert_eq!(tree_hash(t, store), tree_hash(t, memory), "root at {t}");
            for n in (0..t).step_by(7).chain([t - 1]) {
                assert_eq!(prove_record(t, n, store), prove_record(t, n, memory), "record {n} in {t}");
            }
            for old in (1..=t).step_by(13).chain([t]) {
                assert_eq!(prove_tree(t, old, store), prove_tree(t, old, memory), "tree {old} in {t}");
            }
        }
    }

    fn in_memory(store: &Store) -> Vec<usize> {
        let tree = store.tree.read().unwrap();
        tree.levels.iter().map(|l| l.iter().filter(|h| h.is_some()).count()).collect()
    }

    #[test]
    fn proofs_with_the_tree_in_memory_are_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let size: u64 = 3 * 16 + 37;
        let mut memory = MemoryHashes::new();
        let full: Vec<usize> = (0..=size.ilog2()).map(|l| (size >> l) as usize).collect();
        {
            let store = Store::open(dir.path()).unwrap();
            for n in 0..size {
                store.put_record_hashes(n, &stored_hashes_for_record(n, leaf(n), &store).unwrap()).unwrap();
                memory.append_leaf(leaf(n));
            }
            assert_eq!(in_memory(&store), full, "appends keep every hash");
            check_same(&store, &memory, size);
            store.flush().unwrap();
        }
        // Reopened: nothing is read at start; proofs read the hashes they need from sled once.
        let store = Store::open(dir.path()).unwrap();
        assert!(in_memory(&store).is_empty());
        check_same(&store, &memory, size);
        let read = in_memory(&store);
        assert!(read.iter().zip(&full).all(|(r, f)| r <= f) && read != full, "only what was read: {read:?}");
        for n in 0..size {
            assert_eq!(prove_record(size, n, &store), prove_record(size, n, &memory), "record {n}");
        }
        assert_eq!(in_memory(&store), full, "every record's proof reads every hash");
        check_same(&store, &memory, size);
    }

    #[test]
    fn the_tree_in_memory_takes_rewrites() {
        let (a, b) = (leaf(1), leaf(2));
        let mut tree = TreeInMemory::default();
        tree.set(3, 2, a).unwrap();
        assert_eq!((tree.get(3, 0), tree.get(3, 2), tree.get(2, 2)), (None, Some(a), None));
        // A failed group's seqs are written again: the hash is replaced.
        tree.set(3, 2, b).unwrap();
        assert_eq!(tree.get(3, 2), Some(b));
        assert_eq!(tree.get(4, 0), None);
    }
}
