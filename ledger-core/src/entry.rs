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

    /// Whether `to_bytes` would give exactly `bytes`. Compares as it writes, stopping at the
    /// first difference, so the check costs no buffer (the verifier makes it for every line).
    fn serialises_to(&self, bytes: &[u8]) -> bool {
        let mut rest = SameAs(bytes);
        self.write_compact(&mut rest).is_ok() && rest.0.is_empty()
    }

    /// Writes serde_json's compact form of the derived `Serialize` (the fields in their order,
    /// no spaces, integers in decimal), spelled out so that strings
    /// needing no escape (all of them in a valid entry) are compared as they are instead of
    /// byte by byte through the escaper. A test holds it to serde_json on strings of every kind.
    fn write_compact(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        write_entry(w, self.seq, &self.prev, &self.time, &self.envelope)
    }

    /// The entry's one canonical form: serde_json's compact form of it (see `write_compact`).
    pub fn to_bytes(&self) -> Vec<u8> {
        entry_bytes(self.seq, &self.prev, &self.time, &self.envelope)
    }

    pub fn prev_hash(&self) -> Hash {
        hex32(&self.prev).map(Hash).unwrap_or_default()
    }
}

/// The bytes of the entry of these parts (`Entry::to_bytes`), from borrowed parts.
fn entry_bytes(seq: u64, prev: &str, time: &EntryTime, envelope: &Envelope) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + envelope.payload.len());
    // Writing into a Vec cannot fail.
    let _ = write_entry(&mut out, seq, prev, time, envelope);
    out
}

/// Writes the entry of these parts as serde_json writes an `Entry` compactly.
fn write_entry(
    w: &mut impl std::io::Write,
    seq: u64,
    prev: &str,
    time: &EntryTime,
    envelope: &Envelope,
) -> std::io::Result<()> {
    write!(w, "{{\"seq\":{seq},\"prev\":")?;
    json_string(w, prev)?;
    w.write_all(b",\"time\":")?;
    json_string(w, time.as_str())?;
    w.write_all(b",\"envelope\":{\"payload\":")?;
    json_string(w, &envelope.payload)?;
    w.write_all(b",\"payloadType\":")?;
    json_string(w, &envelope.payload_type)?;
    w.write_all(b",\"signatures\":[")?;
    for (i, s) in envelope.signatures.iter().enumerate() {
        w.write_all(if i == 0 { b"{\"keyid\":" } else { b",{\"keyid\":" })?;
        json_string(w, &s.keyid)?;
        w.write_all(b",\"sig\":")?;
        json_string(w, &s.sig)?;
        w.write_all(b"}")?;
    }
    w.write_all(b"]}}")
}

/// A JSON string as serde_json writes it. It escapes only `"`, `\\` and control characters
/// below U+0020, so a string without them is written as it is; any other goes to serde_json.
fn json_string(w: &mut impl std::io::Write, s: &str) -> std::io::Result<()> {
    // No early exit: the whole scan compiles to vector instructions.
    let needs_escape = s.bytes().fold(false, |any, b| any | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if needs_escape {
        return serde_json::to_writer(w, s).map_err(std::io::Error::other);
    }
    w.write_all(b"\"")?;
    w.write_all(s.as_bytes())?;
    w.write_all(b"\"")
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
        let bytes = entry_bytes(seq, &prev.to_hex(), &time, envelope.envelope());
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
        Ok(Self::from_parts(entry, envelope.into_verified(None)?, bytes))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsse::EnvelopeSignature;

    #[test]
    fn the_compact_writer_writes_what_serde_json_writes() {
        let odd = [
            "",
            "plain",
            "quote \" in",
            "back\\slash",
            "\u{0}\u{1}\u{8}\u{9}\n\u{b}\u{c}\r\u{1f}",
            "\u{7f}\u{80}\u{9f}é中\u{2028}\u{2029}😀",
            "/slash/ and <tags> & 'single'",
            "=+AZaz09",
        ];
        let time = EntryTime::from_unix_ms(1_772_330_400_123).expect("a valid time");
        let mut count = 0;
        for (i, a) in odd.iter().enumerate() {
            for b in odd.iter().skip(i) {
                for seq in [0, 1, 9, 10, 1_000_000, u64::MAX] {
                    for sigs in 0..3 {
                        let entry = Entry {
                            seq,
                            prev: a.to_string(),
                            time: time.clone(),
                            envelope: Envelope {
                                payload: b.to_string(),
                                payload_type: a.to_string(),
                                signatures: (0..sigs)
                                    .map(|k| EnvelopeSignature {
                                        keyid: if k == 0 { b.to_string() } else { format!("{a}{k}") },
                                        sig: a.to_string(),
                                    })
                                    .collect(),
                            },
                        };
                        let ours = entry.to_bytes();
                        let theirs = serde_json::to_vec(&entry).expect("strings and integers");
                        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
                        assert!(entry.serialises_to(&theirs));
                        let mut longer = theirs.clone();
                        longer.push(b' ');
                        assert!(!entry.serialises_to(&longer));
                        assert!(!entry.serialises_to(&theirs[..theirs.len() - 1]));
                        count += 1;
                    }
                }
            }
        }
        assert!(count > 500, "{count}");
    }
}
