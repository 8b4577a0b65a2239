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
use std::sync::{Arc, Mutex, RwLock};

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
/// The record's two slots, each: the note's length (4 bytes, little-endian), its SHA-256 (32
/// bytes), the note. A slot holds the largest note a checkpoint may be.
const SIGNED_SLOT_HEADER_BYTES: usize = 4 + 32;
const SIGNED_SLOT_BYTES: usize = 12 * 1024;
const _: () = assert!(SIGNED_SLOT_HEADER_BYTES + ledger_core::limits::NOTE_BYTES_MAX <= SIGNED_SLOT_BYTES);

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
    signed: Arc<Mutex<SignedRecord>>,
}

/// The open signed-checkpoint record and the slot its next note goes to: the one that does not
/// hold the newest note, so a write torn by a power cut can only lose that write.
#[derive(Default)]
struct SignedRecord {
    file: Option<File>,
    next_slot: u64,
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
            signed: Arc::default(),
        };
        if let Some((slot, _)) = store.read_signed()? {
            store.signed.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.next_slot = 1 - slot;
        }
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
    /// file, outside sled's log, is how `Node::open` notices.
    ///
    /// Notes go to two slots in turn, each written in place with its length and hash, and not
    /// synced: after a power cut the record may lag behind the log, never run ahead of it, and
    /// a torn slot is told by its hash, leaving the other. (It was a file written and renamed
    /// per group: a fifth of the sequencer's time under single POSTs, docs/PERFORMANCE.md.)
    pub fn record_signed(&self, note: &str) -> Result<()> {
        use std::os::unix::fs::FileExt;
        if note.len() > ledger_core::limits::NOTE_BYTES_MAX {
            bail!("a signed note of {} bytes is over the limit of a checkpoint", note.len());
        }
        let mut slot = Vec::with_capacity(SIGNED_SLOT_HEADER_BYTES + note.len());
        slot.extend_from_slice(&(note.len() as u32).to_le_bytes());
        slot.extend_from_slice(ledger_core::hash::sha256(&[note.as_bytes()]).as_bytes());
        slot.extend_from_slice(note.as_bytes());
        let path = self.signed_path();
        let mut record = self.signed.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let SignedRecord { file, next_slot } = &mut *record;
        let file = match file {
            Some(file) => file,
            None => file.insert(
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)
                    .with_context(|| format!("opening {}", path.display()))?,
            ),
        };
        file.write_all_at(&slot, *next_slot * SIGNED_SLOT_BYTES as u64)
            .with_context(|| format!("writing {}", path.display()))?;
        *next_slot = 1 - *next_slot;
        Ok(())
    }

    /// The checkpoint `record_signed` kept last, if any.
    pub fn recorded_signed(&self) -> Result<Option<String>> {
        Ok(self.read_signed()?.map(|(_, note)| note))
    }

    fn signed_path(&self) -> PathBuf {
        self.data_file.with_file_name(SIGNED_CHECKPOINT_FILE)
    }

    /// The newest whole note of the record and its slot: of two, the one of the larger tree. A
    /// record kept by older versions (the note alone, written by rename) is read as slot 0.
    fn read_signed(&self) -> Result<Option<(u64, String)>> {
        let path = self.signed_path();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let slots = [0u64, 1].into_iter().filter_map(|i| Some((i, slot_note(&bytes, i)?)));
        let size_of = |note: &str| ledger_core::checkpoint::claimed_checkpoint(note).map_or(0, |c| c.size);
        if let Some(newest) = slots.max_by_key(|(_, note)| size_of(note)) {
            return Ok(Some(newest));
        }
        match String::from_utf8(bytes) {
            Ok(note) if !note.is_empty() && !note.contains('\0') => Ok(Some((0, note))),
            _ => {
                // Only a first note cut short by a power cut leaves no whole slot (each write
                // leaves the other slot alone): the record lags behind the log, as it may.
                tracing::warn!("{} holds no whole signed checkpoint; it is written anew", path.display());
                Ok(None)
            }
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

/// The note in slot `slot` of a signed-checkpoint record, if it is whole: its length in bounds
/// and its hash matching.
fn slot_note(record: &[u8], slot: u64) -> Option<String> {
    let start = usize::try_from(slot).ok()?.checked_mul(SIGNED_SLOT_BYTES)?;
    let slot = record.get(start..)?;
    let len = u32::from_le_bytes(slot.get(..4)?.try_into().ok()?) as usize;
    if len == 0 || len > SIGNED_SLOT_BYTES - SIGNED_SLOT_HEADER_BYTES {
        return None;
    }
    let note = slot.get(SIGNED_SLOT_HEADER_BYTES..SIGNED_SLOT_HEADER_BYTES + len)?;
    if ledger_core::hash::sha256(&[note]).as_bytes()[..] != slot[4..SIGNED_SLOT_HEADER_BYTES] {
        return None;
    }
    String::from_utf8(note.to_vec()).ok()
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

    fn signed_note(size: u64) -> String {
        use ledger_core::checkpoint::{Checkpoint, LogSigner};
        let signer = LogSigner::new("example.org/log", ed25519_dalek::SigningKey::from_bytes(&[7; 32]))
            .expect("signer");
        let cp = Checkpoint { origin: "example.org/log".into(), size, root: leaf(size) };
        signer.sign(&cp).expect("signs")
    }

    #[test]
    fn the_signed_record_keeps_the_newest_whole_note_across_reopening_and_a_torn_slot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SIGNED_CHECKPOINT_FILE);
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.recorded_signed().unwrap(), None, "nothing recorded yet");
            for size in 1..=3 {
                store.record_signed(&signed_note(size)).unwrap();
                assert_eq!(store.recorded_signed().unwrap(), Some(signed_note(size)));
            }
        }
        // Reopened, the next note goes to the slot of the older one (size 2 sat in slot 1).
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.recorded_signed().unwrap(), Some(signed_note(3)));
        store.record_signed(&signed_note(4)).unwrap();
        assert_eq!(store.recorded_signed().unwrap(), Some(signed_note(4)));
        // A write torn in the newest slot (size 4, slot 1): the note before it is read instead.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[SIGNED_SLOT_BYTES + SIGNED_SLOT_HEADER_BYTES + 5] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(store.recorded_signed().unwrap(), Some(signed_note(3)));
        // Both slots torn: no note at all (the record lags), never a note made up.
        bytes[SIGNED_SLOT_HEADER_BYTES + 5] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(store.recorded_signed().unwrap(), None);
        // A first note cut short, its block left zeroed: no note either.
        std::fs::write(&path, vec![0u8; 300]).unwrap();
        assert_eq!(store.recorded_signed().unwrap(), None);
    }

    #[test]
    fn a_record_written_by_rename_before_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        std::fs::write(dir.path().join(SIGNED_CHECKPOINT_FILE), signed_note(9)).unwrap();
        assert_eq!(store.recorded_signed().unwrap(), Some(signed_note(9)));
        let too_big = "x".repeat(ledger_core::limits::NOTE_BYTES_MAX + 1);
        assert!(store.record_signed(&too_big).is_err(), "a note over the limit is refused");
        store.record_signed(&signed_note(10)).unwrap();
        assert_eq!(store.recorded_signed().unwrap(), Some(signed_note(10)));
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
