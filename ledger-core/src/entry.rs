//! Log entries (SPEC.md §3): an accepted envelope with its seq, the previous leaf hash and the
//! node's time, serialised once as compact JSON. Hashes are always over the stored bytes.

use crate::dsse::{Envelope, VerifiedEnvelope};
use crate::encoding::hex32;
use crate::hash::{leaf_hash, Hash};
use crate::limits::ENTRY_BYTES_MAX;
use crate::refusal::{refuse, Refusal, Rule};
use crate::time::EntryTime;
use serde::{Deserialize, Serialize};

/// The wire shape of an entry. Field order is part of the format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub seq: u64,
    pub prev: String,
    pub time: EntryTime,
    pub envelope: Envelope,
}

impl Entry {
    /// Parses stored entry bytes strictly: compact JSON exactly as this implementation writes
    /// it, so that one entry has one encoding.
    pub fn parse(bytes: &[u8]) -> Result<Entry, Refusal> {
        if bytes.len() > ENTRY_BYTES_MAX {
            return refuse(Rule::TooLarge, format!("entry is {} bytes, over {ENTRY_BYTES_MAX}", bytes.len()));
        }
        let entry: Entry = serde_json::from_slice(bytes)
            .map_err(|e| Refusal::new(Rule::EntrySyntax, format!("not an entry: {e}")))?;
        if hex32(&entry.prev).is_none() {
            return refuse(Rule::EntrySyntax, "prev is not 64 lower-case hex characters");
        }
        if !entry.serialises_to(bytes) {
            return refuse(Rule::EntrySyntax, "entry is not in canonical compact form");
        }
        Ok(entry)
    }

    /// Whether `to_bytes` would give exactly `bytes`. Compares as it serialises, stopping at the
    /// first difference, so the check costs no buffer (the verifier makes it for every line).
    fn serialises_to(&self, bytes: &[u8]) -> bool {
        let mut rest = SameAs(bytes);
        serde_json::to_writer(&mut rest, self).is_ok() && rest.0.is_empty()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // Strings and integers only: serialisation cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn prev_hash(&self) -> Hash {
        hex32(&self.prev).map(Hash).unwrap_or_default()
    }
}

/// A writer that holds the bytes not yet matched and refuses any write that does not match them.
struct SameAs<'a>(&'a [u8]);

impl std::io::Write for SameAs<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.strip_prefix(buf) {
            Some(rest) => {
                self.0 = rest;
                Ok(buf.len())
            }
            None => Err(std::io::Error::other("differs from the stored bytes")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An entry whose envelope is verified, with its exact bytes and leaf hash.
#[derive(Debug, Clone)]
pub struct VerifiedEntry {
    seq: u64,
    prev: Hash,
    time: EntryTime,
    envelope: VerifiedEnvelope,
    bytes: Vec<u8>,
    leaf_hash: Hash,
}

impl VerifiedEntry {
    /// Wraps a verified envelope into the entry that would follow `prev` at `seq`. Refuses an
    /// envelope whose entry would exceed the entry limit.
    pub fn new(
        seq: u64,
        prev: Hash,
        time: EntryTime,
        envelope: VerifiedEnvelope,
    ) -> Result<VerifiedEntry, Refusal> {
        let entry =
            Entry { seq, prev: prev.to_hex(), time: time.clone(), envelope: envelope.envelope().clone() };
        let bytes = entry.to_bytes();
        if bytes.len() > ENTRY_BYTES_MAX {
            return refuse(
                Rule::TooLarge,
                format!("entry would be {} bytes, over {ENTRY_BYTES_MAX}", bytes.len()),
            );
        }
        let leaf_hash = leaf_hash(&bytes);
        Ok(VerifiedEntry { seq, prev, time, envelope, bytes, leaf_hash })
    }

    /// Parses stored bytes and verifies every signature: what the verifier does for each line.
    pub fn parse_and_verify(bytes: &[u8]) -> Result<VerifiedEntry, Refusal> {
        let (entry, envelope) = Self::split(Entry::parse(bytes)?);
        Ok(Self::from_parts(entry, envelope.into_verified()?, bytes))
    }

    /// Parses bytes this node verified before writing them (see `Envelope::trust_stored`).
    pub fn parse_trusted(bytes: &[u8]) -> Result<VerifiedEntry, Refusal> {
        let (entry, envelope) = Self::split(Entry::parse(bytes)?);
        Ok(Self::from_parts(entry, envelope.into_trusted()?, bytes))
    }

    /// The envelope moves into the verified entry as it is, not copied.
    fn split(entry: Entry) -> ((u64, Hash, EntryTime), Envelope) {
        let prev = entry.prev_hash();
        ((entry.seq, prev, entry.time), entry.envelope)
    }

    fn from_parts(
        (seq, prev, time): (u64, Hash, EntryTime),
        envelope: VerifiedEnvelope,
        bytes: &[u8],
    ) -> VerifiedEntry {
        VerifiedEntry { seq, prev, time, envelope, bytes: bytes.to_vec(), leaf_hash: leaf_hash(bytes) }
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }
    pub fn prev(&self) -> Hash {
        self.prev
    }
    pub fn time(&self) -> &EntryTime {
        &self.time
    }
    pub fn envelope(&self) -> &VerifiedEnvelope {
        &self.envelope
    }
    pub fn event(&self) -> &crate::event::Event {
        self.envelope.event()
    }
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn leaf_hash(&self) -> Hash {
        self.leaf_hash
    }
}
