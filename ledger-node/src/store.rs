//! Step "append" of the path: the sled store. The `entries` tree (seq → exact entry bytes) is the
//! only truth; the Merkle tree's hashes (in memory) and `checkpoints` are derived from it and
//! rebuilt or repaired from it on start. Everything else is an in-memory projection rebuilt
//! from the log.

use crate::limits::SLED_CACHE_MB_DEFAULT;
use anyhow::{bail, Context, Result};
use ledger_core::hash::Hash;
use ledger_core::merkle::{HashReader, MemoryHashes, MerkleError};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

const ENTRIES: &str = "entries";
/// Where older stores kept the tree's hashes, one sled insert per hash; dropped on open (see
/// `Store::tree`).
const OLD_HASHES: &str = "hashes";
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
    checkpoints: sled::Tree,
    meta: sled::Tree,
    /// sled's own flush ends in `sync_file_range`, which does not force the drive's cache nor
    /// the file's metadata. An `fsync` on the data file after each flush closes that gap: fsync
    /// acts on the file, whichever descriptor asks.
    data_file: PathBuf,
    /// Every stored hash of the Merkle tree, in memory only (about 64 bytes per entry, 64 MB at
    /// a million entries), shared by every clone of the store. Proofs read nothing from sled.
    ///
    /// Why not in sled: it is derived from the entries, and writing it there cost the sequencer
    /// two more sled inserts per entry, 40% of its time (docs/PERFORMANCE.md). It is saved with
    /// the projection's snapshot and rebuilt from the entries after it on start
    /// (`Store::load_tree`); until then it is empty and proofs fail.
    ///
    /// Invariant: its size is the number of entries written, published or in the group being
    /// written; a group that fails to be written is taken back out (`Store::truncate_tree`).
    tree: Arc<RwLock<MemoryHashes>>,
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
        db.drop_tree(OLD_HASHES).context("dropping the hashes tree of an older store")?;
        let store = Store {
            entries: db.open_tree(ENTRIES)?,
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

    /// Makes the tree that of the first `size` entries: `saved` (a tree saved with a snapshot,
    /// or an empty one), grown by the leaf hashes of the entries after it. Refuses a saved tree
    /// larger than `size`.
    pub fn load_tree(&self, saved: MemoryHashes, size: u64) -> Result<()> {
        if saved.size() > size {
            bail!("a saved tree of {} leaves for a log of {size} entries", saved.size());
        }
        let mut tree = saved;
        for bytes in self.entries(tree.size(), size) {
            tree.append_leaf(ledger_core::hash::leaf_hash(&bytes?));
        }
        if tree.size() != size {
            bail!("the store holds {} of the log's {size} entries", tree.size());
        }
        *self.tree.write().map_err(|_| anyhow::anyhow!("poisoned"))? = tree;
        Ok(())
    }

    /// Appends the leaf hashes of the entries from seq `first` on to the tree, which must hold
    /// exactly the entries before `first`.
    pub fn append_leaves(&self, first: u64, leaves: impl IntoIterator<Item = Hash>) -> Result<()> {
        let mut tree = self.tree.write().map_err(|_| anyhow::anyhow!("poisoned"))?;
        if tree.size() != first {
            bail!("appending leaves from seq {first} to a tree of {} leaves", tree.size());
        }
        for leaf in leaves {
            tree.append_leaf(leaf);
        }
        Ok(())
    }

    /// Takes leaves from `size` on back out of the tree (a group that failed to be written).
    pub fn truncate_tree(&self, size: u64) -> Result<()> {
        let mut tree = self.tree.write().map_err(|_| anyhow::anyhow!("poisoned"))?;
        tree.truncate(size).map_err(|e| anyhow::anyhow!("taking leaves back out of the tree: {e}"))
    }

    /// Runs `read` on the tree (saving it with a snapshot), holding appends back meanwhile.
    pub fn with_tree<R>(&self, read: impl FnOnce(&MemoryHashes) -> R) -> Result<R> {
        let tree = self.tree.read().map_err(|_| anyhow::anyhow!("poisoned"))?;
        Ok(read(&tree))
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
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.tree.read().map_err(|_| MerkleError::Read("poisoned".into()))?.read_hashes(indexes)
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
    use ledger_core::merkle::{prove_record, prove_tree, tree_hash};

    fn entry(i: u64) -> Vec<u8> {
        format!("entry {i}").into_bytes()
    }

    fn leaf(i: u64) -> Hash {
        ledger_core::hash::leaf_hash(&entry(i))
    }

    /// Roots and proofs from the store are those of the plain in-memory tree, at sizes on both
    /// sides of subtree edges.
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

    #[test]
    fn the_tree_is_grown_by_appends_and_rebuilt_from_the_entries() {
        let dir = tempfile::tempdir().unwrap();
        let size: u64 = 3 * 16 + 37;
        let mut memory = MemoryHashes::new();
        {
            let store = Store::open(dir.path()).unwrap();
            for n in 0..size {
                store.put_entry(n, &entry(n)).unwrap();
                store.append_leaves(n, [leaf(n)]).unwrap();
                memory.append_leaf(leaf(n));
            }
            check_same(&store, &memory, size);
            // Out of order: refused, and the tree is unchanged.
            let err = store.append_leaves(size + 1, [leaf(0)]).unwrap_err();
            assert!(err.to_string().contains("to a tree of 85 leaves"), "{err}");
            assert!(store.append_leaves(size - 1, [leaf(0)]).is_err());
            check_same(&store, &memory, size);
            // A failed group is taken back out, and written again.
            store.truncate_tree(40).unwrap();
            assert_eq!(store.with_tree(|t| t.size()).unwrap(), 40);
            assert!(tree_hash(41, &store).is_err());
            store.append_leaves(40, (40..size).map(leaf)).unwrap();
            check_same(&store, &memory, size);
            store.flush().unwrap();
        }
        // Reopened: no tree until it is loaded, then the same one, from nothing or from a saved
        // part of it.
        let store = Store::open(dir.path()).unwrap();
        assert!(tree_hash(size, &store).is_err());
        store.load_tree(MemoryHashes::new(), size).unwrap();
        check_same(&store, &memory, size);
        for saved_size in [0, 1, 16, 40, size] {
            let saved = MemoryHashes::from_stored(saved_size, memory.stored(saved_size).unwrap().to_vec());
            store.load_tree(saved.unwrap(), size).unwrap();
            check_same(&store, &memory, size);
        }
        // A saved tree larger than the log, or a log larger than the store: refused.
        assert!(store.load_tree(memory.clone(), size - 1).is_err());
        let err = store.load_tree(MemoryHashes::new(), size + 2).unwrap_err();
        assert!(err.to_string().contains("holds 85 of the log's 87 entries"), "{err}");
        check_same(&store, &memory, size);
    }

    #[test]
    fn an_older_stores_hashes_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            db.open_tree(OLD_HASHES).unwrap().insert(0u64.to_be_bytes(), &[7u8; 32]).unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(!store.db.tree_names().iter().any(|n| n.as_ref() == OLD_HASHES.as_bytes()));
    }
}
