//! What the projection remembers of every entry: its id, kind, and the object it created. A log
//! of a million entries has a million of these, so they are kept as columns: all ids in one
//! string, their ends, kinds and objects in flat vectors, and a hash table of seqs looked up by
//! the id they point at. That is about 30 bytes an entry, where a map of owned strings to
//! records took over 130 (an allocation per id, twice the pointers, and the map's own slots).

use crate::types::Kind;
use hashbrown::HashTable;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::hash::BuildHasher;

#[derive(Debug, Clone, Default)]
pub(super) struct EntryIndex {
    /// Every id, in seq order, back to back.
    text: String,
    /// `ends[seq]`: where the id of `seq` ends in `text`; it starts where the one before ends.
    ends: Vec<u64>,
    kinds: Vec<Kind>,
    /// The index of the object the entry created in its kind's table, or `NONE`.
    objs: Vec<u32>,
    /// Seqs, hashed by their id. Randomly keyed, so ids chosen to collide cannot slow a
    /// verifier down. 32 bits: `State` refuses entries from `LOG_ENTRIES_MAX` on.
    by_id: HashTable<u32>,
    hasher: std::hash::RandomState,
}

impl EntryIndex {
    pub fn len(&self) -> u64 {
        self.ends.len() as u64
    }

    pub fn id(&self, seq: u64) -> Option<&str> {
        let i = usize::try_from(seq).ok()?;
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..end)
    }

    pub fn kind(&self, seq: u64) -> Option<Kind> {
        self.kinds.get(usize::try_from(seq).ok()?).copied()
    }

    pub fn obj(&self, seq: u64) -> Option<u32> {
        self.objs.get(usize::try_from(seq).ok()?).copied()
    }

    pub fn seq_of(&self, id: &str) -> Option<u64> {
        let hash = self.hasher.hash_one(id);
        self.by_id.find(hash, |&seq| self.id(seq.into()) == Some(id)).map(|&seq| seq.into())
    }

    /// Records the next entry. The caller has refused a duplicate id before.
    pub fn push(&mut self, id: &str, kind: Kind, obj: u32) {
        debug_assert!(self.seq_of(id).is_none(), "ids are unique");
        let seq = self.len();
        self.text.push_str(id);
        self.ends.push(self.text.len() as u64);
        self.kinds.push(kind);
        self.objs.push(obj);
        self.insert(seq);
    }

    /// Every entry's id, kind and object, in seq order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Kind, u32)> + '_ {
        (0..self.len())
            .map(|seq| (self.id(seq).unwrap_or(""), self.kinds[seq as usize], self.objs[seq as usize]))
    }

    fn insert(&mut self, seq: u64) {
        let seq = u32::try_from(seq).expect("State refuses entries from LOG_ENTRIES_MAX on");
        let Self { text, ends, by_id, hasher, .. } = self;
        let id_of = |seq: u32| {
            let i = seq as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            &text[start..ends[i] as usize]
        };
        let hash = hasher.hash_one(id_of(seq));
        by_id.insert_unique(hash, seq, |&s| hasher.hash_one(id_of(s)));
    }
}

/// The columns as they are saved (borrowed to save, owned when loaded); the table is rebuilt on
/// loading.
#[derive(Serialize, Deserialize)]
struct Columns<Text, Ends, Kinds, Objs> {
    text: Text,
    ends: Ends,
    kinds: Kinds,
    objs: Objs,
}

impl Serialize for EntryIndex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Columns { text: &self.text, ends: &self.ends, kinds: &self.kinds, objs: &self.objs }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for EntryIndex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let c = Columns::<String, Vec<u64>, Vec<Kind>, Vec<u32>>::deserialize(d)?;
        let n = c.ends.len();
        if c.kinds.len() != n || c.objs.len() != n {
            return Err(D::Error::custom("entry columns of different lengths"));
        }
        if n as u64 > crate::limits::LOG_ENTRIES_MAX {
            return Err(D::Error::custom("more entries than a log holds"));
        }
        let mut start = 0u64;
        for &end in &c.ends {
            if end < start || !c.text.is_char_boundary(usize::try_from(end).unwrap_or(usize::MAX)) {
                return Err(D::Error::custom("entry id ends out of order or off a character"));
            }
            start = end;
        }
        if start != c.text.len() as u64 {
            return Err(D::Error::custom("entry ids do not fill their text"));
        }
        let mut index = EntryIndex {
            text: c.text,
            ends: c.ends,
            kinds: c.kinds,
            objs: c.objs,
            by_id: HashTable::with_capacity(n),
            hasher: Default::default(),
        };
        for seq in 0..n as u64 {
            if index.seq_of(index.id(seq).unwrap_or("")).is_some() {
                return Err(D::Error::custom("an entry id appears twice"));
            }
            index.insert(seq);
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_kinds_and_objects_round_trip_through_a_snapshot() {
        let mut index = EntryIndex::default();
        let names = ["genesis", "fund-1", "捐赠-1", "d-2"];
        for (i, id) in names.iter().enumerate() {
            index.push(id, Kind::DonationReceived, i as u32);
        }
        let bytes = serde_json::to_vec(&index).expect("encodes");
        let back: EntryIndex = serde_json::from_slice(&bytes).expect("decodes");
        for (seq, id) in names.iter().enumerate() {
            assert_eq!(back.seq_of(id), Some(seq as u64));
            assert_eq!(back.id(seq as u64), Some(*id));
            assert_eq!(back.obj(seq as u64), Some(seq as u32));
        }
        assert_eq!(back.seq_of("fund"), None);
        assert_eq!(back.id(4), None);
        assert_eq!(back.iter().count(), 4);
    }

    #[test]
    fn a_damaged_index_is_refused_not_trusted() {
        let mut index = EntryIndex::default();
        index.push("a-1", Kind::CaseOpened, 0);
        index.push("b-2", Kind::CaseOpened, 1);
        let mut v: serde_json::Value = serde_json::to_value(&index).expect("encodes");
        v["text"] = "a-1a-1".into();
        assert!(serde_json::from_value::<EntryIndex>(v.clone()).is_err(), "a repeated id");
        v["text"] = "a-1b-".into();
        assert!(serde_json::from_value::<EntryIndex>(v.clone()).is_err(), "ends past the text");
        v["text"] = "a-1b-2".into();
        v["kinds"] = serde_json::json!(["case.opened"]);
        assert!(serde_json::from_value::<EntryIndex>(v).is_err(), "columns of different lengths");
    }
}
