//! The streaming pipeline: read entry lines in bounded chunks, parse and verify every
//! signature of a chunk in parallel (rayon, `verify_strict` on every core), then hand the
//! entries to the sink strictly in log order. Three stages joined by bounded channels, so
//! reading, verifying and applying overlap and memory holds a few chunks whatever the log's
//! length.
//!
//! Signatures are checked one by one with `verify_strict`, exactly as
//! `VerifiedEntry::parse_and_verify` checks them, but with each signer's public key
//! decompressed once per thread instead of once per signature (see [`verify_line`]). Batch
//! verification is not used: SPEC.md §1 lets it only reject early, and a valid log would pay
//! for both.

use crate::limits::{
    CHUNK_BYTES_MAX, CHUNK_ENTRIES_MAX, EVIDENCE_TEXT_CHARS_MAX, KEY_CACHE_MAX, LINE_BYTES_MAX,
    PARALLEL_PIECE_ENTRIES_MAX, PIPELINE_CHUNKS_IN_FLIGHT,
};
use anyhow::Result;
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use ledger_core::dsse::pae;
use ledger_core::encoding::b64_decode_canonical;
use ledger_core::entry::VerifiedEntry;
use ledger_core::refusal::{refuse, Refusal, Rule};
use rayon::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{BufRead, ErrorKind};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;

/// Entry lines as read, before anything is checked: one buffer and the end of each line.
#[derive(Debug, Default)]
pub struct RawChunk {
    /// Log position (expected seq) of the first line.
    pub first_pos: u64,
    buf: Vec<u8>,
    ends: Vec<usize>,
    /// A line that could not be read as an entry line, right after the last one.
    pub fault: Option<LineFault>,
    /// The source ended in a line without its newline (the format puts `\n` after each).
    pub unterminated_last: bool,
}

impl RawChunk {
    pub fn new(first_pos: u64) -> RawChunk {
        // Reserved, not touched: memory is only used as lines arrive, but never moved.
        RawChunk {
            first_pos,
            buf: Vec::with_capacity(CHUNK_BYTES_MAX + LINE_BYTES_MAX),
            ends: Vec::with_capacity(CHUNK_ENTRIES_MAX),
            ..RawChunk::default()
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.ends.len() >= CHUNK_ENTRIES_MAX || self.buf.len() >= CHUNK_BYTES_MAX
    }

    /// Bytes the chunk's lines took in the source, newlines included.
    pub fn source_bytes(&self) -> u64 {
        (self.buf.len() + self.ends.len()) as u64
    }

    pub fn push_line(&mut self, line: &[u8]) {
        self.buf.extend_from_slice(line);
        self.ends.push(self.buf.len());
    }

    pub fn line(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends.get(i - 1).copied().unwrap_or(0) };
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.buf.get(start..end).unwrap_or_default()
    }

    /// The position after the last line.
    pub fn end_pos(&self) -> u64 {
        self.first_pos + self.ends.len() as u64
    }

    /// Reads one line of at most [`LINE_BYTES_MAX`] bytes from `reader` straight into the
    /// chunk. Returns whether a line was added; sets `fault` or `unterminated_last` as found.
    pub fn read_line(&mut self, reader: &mut impl BufRead) -> std::io::Result<bool> {
        let start = self.buf.len();
        loop {
            let available = match reader.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if self.buf.len() == start {
                    return Ok(false);
                }
                self.unterminated_last = true;
                self.ends.push(self.buf.len());
                return Ok(true);
            }
            let (taken, newline) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (available.len(), false),
            };
            if self.buf.len() - start + taken > LINE_BYTES_MAX {
                self.buf.truncate(start);
                self.fault = Some(LineFault::TooLong);
                return Ok(false);
            }
            self.buf.extend_from_slice(available.get(..taken).unwrap_or_default());
            reader.consume(if newline { taken + 1 } else { taken });
            if newline {
                self.ends.push(self.buf.len());
                return Ok(true);
            }
        }
    }
}

/// Why a line is not even an entry candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineFault {
    /// Longer than an entry may be (SPEC.md §3); reading stops there.
    TooLong,
}

/// Where entry lines come from: an export file, a node's pages, or both one after the other.
pub trait LineSource: Send {
    /// Adds lines to `chunk` until it is full (`Ok(true)`: more may follow) or the source ends
    /// or faults (`Ok(false)`). An `Err` means the tool could not read its input.
    fn fill(&mut self, chunk: &mut RawChunk) -> Result<bool>;
}

/// Lines of any buffered reader (a file, standard input, a cached download).
pub struct ReaderSource<R> {
    reader: R,
    /// Stop after this many lines (`u64::MAX`: read to the end).
    lines_left: u64,
}

impl<R: BufRead + Send> ReaderSource<R> {
    pub fn new(reader: R) -> Self {
        ReaderSource { reader, lines_left: u64::MAX }
    }

    pub fn with_limit(reader: R, lines: u64) -> Self {
        ReaderSource { reader, lines_left: lines }
    }
}

impl<R: BufRead + Send> LineSource for ReaderSource<R> {
    fn fill(&mut self, chunk: &mut RawChunk) -> Result<bool> {
        while !chunk.is_full() {
            if self.lines_left == 0 || !chunk.read_line(&mut self.reader)? {
                return Ok(false);
            }
            self.lines_left -= 1;
            if chunk.unterminated_last {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// One source, then another from where the first ended.
pub struct ChainSource {
    pub first: Option<Box<dyn LineSource>>,
    pub second: Box<dyn LineSource>,
}

impl LineSource for ChainSource {
    fn fill(&mut self, chunk: &mut RawChunk) -> Result<bool> {
        if let Some(first) = self.first.as_mut() {
            if first.fill(chunk)? {
                return Ok(true);
            }
            self.first = None;
            if chunk.fault.is_some() || chunk.unterminated_last || chunk.is_full() {
                return Ok(chunk.fault.is_none() && !chunk.unterminated_last);
            }
        }
        self.second.fill(chunk)
    }
}

/// Why a line is not a valid entry, with what could still be read from it as evidence.
#[derive(Debug, Clone)]
pub struct LineFailure {
    pub refusal: Refusal,
    pub id: Option<String>,
    pub kind: Option<String>,
    /// The seq the line claims, which may differ from its position.
    pub claimed_seq: Option<u64>,
}

impl LineFailure {
    /// Reads id, kind and seq leniently from a line that failed the strict parse, for the
    /// report only: nothing read here is trusted.
    pub fn new(refusal: Refusal, bytes: &[u8]) -> LineFailure {
        let mut failure = LineFailure { refusal, id: None, kind: None, claimed_seq: None };
        let Ok(entry) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return failure;
        };
        failure.claimed_seq = entry.get("seq").and_then(|s| s.as_u64());
        let body = entry
            .get("envelope")
            .and_then(|e| e.get("payload"))
            .and_then(|p| p.as_str())
            .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        if let Some(body) = body {
            let text = |field: &str| {
                body.get(field)
                    .and_then(|v| v.as_str())
                    .map(|s| crate::format::clip(s, EVIDENCE_TEXT_CHARS_MAX))
            };
            failure.id = text("id");
            failure.kind = text("kind");
        }
        failure
    }
}

thread_local! {
    /// Signers' public keys, decompressed, by their bytes (`None`: not a valid point).
    static KEYS: RefCell<HashMap<[u8; 32], Option<VerifyingKey>>> = RefCell::new(HashMap::new());
}

fn with_key<T>(bytes: &[u8; 32], f: impl FnOnce(Option<&VerifyingKey>) -> T) -> T {
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if keys.len() >= KEY_CACHE_MAX && !keys.contains_key(bytes) {
            keys.clear();
        }
        let key = keys.entry(*bytes).or_insert_with(|| VerifyingKey::from_bytes(bytes).ok());
        f(key.as_ref())
    })
}

/// Parses an entry line strictly and verifies every signature with `verify_strict`: the same
/// checks, in the same order and with the same refusals, as
/// `VerifiedEntry::parse_and_verify`. `parse_trusted` does every check but the signature
/// equations, which follow here with cached decompressed keys; a log has a handful of
/// signers, and decompressing a key costs about a tenth of a verification.
pub fn verify_line(bytes: &[u8]) -> Result<VerifiedEntry, Refusal> {
    let entry = VerifiedEntry::parse_trusted(bytes)?;
    let envelope = entry.envelope();
    // `signers` lists the keys of `signatures` in order: the parse built one from the other.
    if envelope.signers().len() != envelope.envelope().signatures.len() {
        return refuse(Rule::Signatures, "signatures and signers differ in number");
    }
    let message = pae(&envelope.envelope().payload_type, envelope.body());
    for (s, signer) in envelope.envelope().signatures.iter().zip(envelope.signers()) {
        let signature: Option<[u8; 64]> = b64_decode_canonical(&s.sig).and_then(|v| v.try_into().ok());
        let ok = with_key(&signer.0, |key| match (key, signature) {
            (Some(key), Some(sig)) => key.verify_strict(&message, &Signature::from_bytes(&sig)).is_ok(),
            _ => false,
        });
        if !ok {
            return refuse(Rule::BadSignature, format!("the signature by {signer} does not verify"));
        }
    }
    Ok(entry)
}

/// A chunk after the parallel stage: one result per line, in order.
pub struct VerifiedChunk {
    pub first_pos: u64,
    pub entries: Vec<Result<VerifiedEntry, LineFailure>>,
    pub fault: Option<LineFault>,
    pub unterminated_last: bool,
    pub source_bytes: u64,
}

fn verify_chunk(raw: RawChunk, trusted_below: u64) -> VerifiedChunk {
    let entries = (0..raw.len())
        .into_par_iter()
        .with_max_len(PARALLEL_PIECE_ENTRIES_MAX)
        .map(|i| {
            let pos = raw.first_pos + i as u64;
            let bytes = raw.line(i);
            let result =
                if pos < trusted_below { VerifiedEntry::parse_trusted(bytes) } else { verify_line(bytes) };
            result.map_err(|refusal| LineFailure::new(refusal, bytes))
        })
        .collect();
    VerifiedChunk {
        first_pos: raw.first_pos,
        entries,
        fault: raw.fault,
        unterminated_last: raw.unterminated_last,
        source_bytes: raw.source_bytes(),
    }
}

/// What the ordered, sequential stage does with each line.
pub trait Sink {
    /// One line at log position `pos`; `Break` stops the run (the first violation).
    fn entry(&mut self, pos: u64, entry: Result<VerifiedEntry, LineFailure>) -> ControlFlow<()>;
    /// A line that could not be read as an entry line; reading stopped there.
    fn fault(&mut self, pos: u64, fault: LineFault);
    /// The source ended without a newline after its last line.
    fn unterminated(&mut self, pos: u64);
    /// A chunk is done (for progress).
    fn chunk_done(&mut self, _entries: u64, _source_bytes: u64) {}
}

/// Runs the three stages until the source ends, faults, or the sink stops. Lines below
/// `trusted_below` were verified by an earlier run of this tool (`--state-dir`): they are
/// parsed and applied, but their signatures are not checked again.
pub fn run(source: Box<dyn LineSource>, trusted_below: u64, sink: &mut dyn Sink) -> Result<()> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (raw_tx, raw_rx) = sync_channel::<Result<RawChunk>>(PIPELINE_CHUNKS_IN_FLIGHT);
        let (ver_tx, ver_rx) = sync_channel::<Result<VerifiedChunk>>(PIPELINE_CHUNKS_IN_FLIGHT);
        let stop = &stop;
        let mut source = source;
        scope.spawn(move || {
            let mut pos = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut chunk = RawChunk::new(pos);
                let filled = source.fill(&mut chunk);
                let more = matches!(filled, Ok(true));
                let filled = filled.map(|_| chunk);
                if let Ok(c) = &filled {
                    pos = c.end_pos();
                }
                if raw_tx.send(filled).is_err() || !more {
                    break;
                }
            }
        });
        scope.spawn(move || {
            for raw in raw_rx {
                let verified = raw.map(|c| verify_chunk(c, trusted_below));
                if ver_tx.send(verified).is_err() {
                    break;
                }
            }
        });
        let result = consume(ver_rx, sink);
        // Dropping the receiver (inside `consume`) unblocks the other stages; the flag stops
        // the reader between chunks.
        stop.store(true, Ordering::Relaxed);
        result
    })
}

fn consume(chunks: std::sync::mpsc::Receiver<Result<VerifiedChunk>>, sink: &mut dyn Sink) -> Result<()> {
    for chunk in chunks {
        let chunk = chunk?;
        let count = chunk.entries.len() as u64;
        let end = chunk.first_pos + count;
        for (i, entry) in chunk.entries.into_iter().enumerate() {
            if sink.entry(chunk.first_pos + i as u64, entry).is_break() {
                return Ok(());
            }
        }
        sink.chunk_done(count, chunk.source_bytes);
        if let Some(fault) = chunk.fault {
            sink.fault(end, fault);
            return Ok(());
        }
        if chunk.unterminated_last {
            sink.unterminated(end.saturating_sub(1));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &[u8]) -> RawChunk {
        let mut chunk = RawChunk::new(0);
        let mut source = ReaderSource::new(std::io::BufReader::with_capacity(7, text));
        while source.fill(&mut chunk).unwrap_or(false) {}
        chunk
    }

    #[test]
    fn lines_are_split_on_newlines_only() {
        let chunk = read_all(b"ab\n\ncd\r\nef");
        assert_eq!(chunk.len(), 4);
        assert_eq!(chunk.line(0), b"ab");
        assert_eq!(chunk.line(1), b"");
        assert_eq!(chunk.line(2), b"cd\r");
        assert_eq!(chunk.line(3), b"ef");
        assert!(chunk.unterminated_last);
        assert_eq!(chunk.source_bytes(), 11);
    }

    #[test]
    fn an_over_long_line_is_a_fault_not_a_buffer() {
        let mut text = b"ok\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', LINE_BYTES_MAX + 1));
        text.extend_from_slice(b"\nnext\n");
        let chunk = read_all(&text);
        assert_eq!(chunk.len(), 1);
        assert_eq!(chunk.fault, Some(LineFault::TooLong));
        let mut exact = vec![b'y'; LINE_BYTES_MAX];
        exact.push(b'\n');
        assert_eq!(read_all(&exact).len(), 1);
    }
}
