//! Every bound the verifier puts on what it reads or keeps, as named constants. Inputs come
//! from people and nodes the auditor does not trust, so nothing is read without a limit.

use ledger_core::limits::{ENTRY_BYTES_MAX, NOTE_BYTES_MAX};

/// Entries verified in parallel as one chunk, then applied in order.
pub const CHUNK_ENTRIES_MAX: usize = 2048;
/// Entries one rayon task verifies without splitting further. Rayon stops splitting a chunk
/// after a few halvings, so the last piece of a chunk could be hundreds of entries long while
/// the other core, done with its share, waits for the chunk to end. Small pieces bound that
/// wait to a few signatures; a task costs far less than one signature.
pub const PARALLEL_PIECE_ENTRIES_MAX: usize = 8;
/// Bytes of entry lines in one chunk, so a log of large entries keeps memory bounded too.
pub const CHUNK_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Chunks queued between two pipeline stages (read → verify → apply). Two keeps both cores
/// busy while memory stays at a few chunks.
pub const PIPELINE_CHUNKS_IN_FLIGHT: usize = 1;
/// One export line, without its newline: an entry is at most this long (SPEC.md §3).
pub const LINE_BYTES_MAX: usize = ENTRY_BYTES_MAX;
/// `--checkpoint` files given to one run.
pub const CHECKPOINTS_MAX: usize = 64;
/// `--witness` keys given to one run (a note carries at most 64 signature lines anyway).
pub const WITNESSES_MAX: usize = 64;
/// A checkpoint file: one signed note.
pub const CHECKPOINT_FILE_BYTES_MAX: u64 = NOTE_BYTES_MAX as u64;
/// A published `/v1/balances` document (a county has tens of thousands of cases).
pub const BALANCES_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// A receipt bundle: entry, proof and checkpoint, each bounded by the format.
pub const RECEIPT_BYTES_MAX: u64 = 256 * 1024;
/// A consistency proof file (`{"from","to","proof"}`).
pub const PROOF_FILE_BYTES_MAX: u64 = 64 * 1024;
/// Entries asked for per `/v1/entries` page (the node's own page limit).
pub const PAGE_ENTRIES_MAX: u64 = 1000;
/// The body of one `/v1/entries` page.
pub const PAGE_BYTES_MAX: u64 = PAGE_ENTRIES_MAX * (ENTRY_BYTES_MAX as u64 + 1);
/// Attempts at one HTTP request before the run gives up (transport errors only).
pub const HTTP_ATTEMPTS_MAX: u32 = 3;
/// Pause before retrying a failed request, multiplied by the attempt number.
pub const HTTP_RETRY_PAUSE_MS: u64 = 500;
/// Connecting to a node.
pub const HTTP_CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Waiting for a node's answer (a page of 1000 entries, a balances document).
pub const HTTP_READ_TIMEOUT_MS: u64 = 120_000;
/// The resume file in `--state-dir`.
pub const PROGRESS_FILE_BYTES_MAX: u64 = 64 * 1024;
/// Differences between a published balances document and the recomputed one that are listed
/// (all are counted).
pub const DIFFERENCES_LISTED_MAX: usize = 100;
/// Funds listed in the human and HTML reports (all are in `--json`).
pub const FUNDS_LISTED_MAX: usize = 500;
/// Warnings kept for the report; more are counted.
pub const WARNINGS_KEPT_MAX: usize = 100;
/// Characters of an id or kind copied from an entry that failed to parse, as evidence.
pub const EVIDENCE_TEXT_CHARS_MAX: usize = 64;
/// Decompressed signer keys cached per verifying thread (a log has a handful of signers; the
/// cache starts over when a hostile log names more).
pub const KEY_CACHE_MAX: usize = 1024;
/// Bytes of a node's error answer quoted in the message.
pub const ERROR_BODY_BYTES_MAX: u64 = 512;
/// Read buffer for an export file.
pub const READ_BUFFER_BYTES: usize = 1024 * 1024;
/// Tile findings (missing, malformed or differing tiles) listed in one report; more are counted.
pub const TILE_FINDINGS_MAX: usize = 100;
