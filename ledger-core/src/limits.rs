//! Every size and count the format bounds, as named constants. The node and the verifier
//! refuse anything beyond them; docs/FORMAT.md lists them.

/// An event body (the DSSE payload), SPEC.md §2.
pub const BODY_BYTES_MAX: usize = 16 * 1024;
/// A stored entry, SPEC.md §3 (tiles allow 64 KiB; we stay well under).
pub const ENTRY_BYTES_MAX: usize = 32 * 1024;
/// Entries in one log: seqs below 2^32, so the projection indexes entries and objects with 32
/// bits. A county federation appends about 70,000 a year.
pub const LOG_ENTRIES_MAX: u64 = u32::MAX as u64;
/// Signatures on one envelope, SPEC.md §1.
pub const SIGNATURES_MAX: usize = 8;
/// Free text, in Unicode scalar values, SPEC.md §2.
pub const TEXT_CHARS_MAX: usize = 500;
/// An event id: one leading character and up to 63 more, SPEC.md §2.
pub const ID_CHARS_MAX: usize = 64;
/// Largest amount or quantity, `2^53 − 1`, so every figure is exact in JavaScript too.
pub const AMOUNT_MAX: u64 = (1u64 << 53) - 1;
/// Items in any list field of a body (admins, roles, subjects, actions, evidence, witnesses).
pub const LIST_ITEMS_MAX: usize = 64;
/// An origin (log name), in bytes.
pub const ORIGIN_BYTES_MAX: usize = 255;
/// A signed note (checkpoint with its signature lines), in bytes.
pub const NOTE_BYTES_MAX: usize = 8 * 1024;
/// Signature lines on one note (the log's plus cosignatures).
pub const NOTE_SIGNATURES_MAX: usize = 64;
/// Elements of an inclusion or consistency proof: a tree of 2^63 leaves needs at most 2·63.
pub const PROOF_HASHES_MAX: usize = 128;
/// Fraction digits in an author's timestamp (nanoseconds).
pub const TIME_FRACTION_DIGITS_MAX: usize = 9;
/// Dual control looks back this far over single-signed events, SPEC.md §5.
pub const DUAL_CONTROL_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// An event's `at` may run ahead of the entry time by this much, SPEC.md §2.
pub const FUTURE_SKEW_MS: i64 = 24 * 60 * 60 * 1000;
/// Decompressed public keys kept by a `dsse::KeyCache` (a log has few keys; more means a flood).
pub const KEY_CACHE_MAX: usize = 4096;
/// Consistency proof lines in one tlog-witness `add-checkpoint` request (c2sp.org/tlog-witness
/// allows at most 63).
pub const WITNESS_PROOF_LINES_MAX: usize = 63;
/// An `add-checkpoint` request body: the `old` line, the proof lines (45 bytes each), the blank
/// line and a note.
pub const ADD_CHECKPOINT_BYTES_MAX: usize = 32 + WITNESS_PROOF_LINES_MAX * 45 + 1 + NOTE_BYTES_MAX;
