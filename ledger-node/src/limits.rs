//! Every limit of the node, named. docs/OPERATIONS.md lists them.

/// Body of `POST /v1/entries`: one envelope (a 16 KiB body is ~22 KiB in base64, plus signatures).
pub const ENTRY_REQUEST_BYTES_MAX: usize = 64 * 1024;
/// Body of `POST /v1/batch`.
pub const BATCH_REQUEST_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Envelopes in one `POST /v1/batch`.
pub const BATCH_ENVELOPES_MAX: usize = 1000;
/// Entries per page of `GET /v1/entries`.
pub const PAGE_ENTRIES_MAX: u64 = 1000;
/// Append jobs waiting for the sequencer; past this the node answers 503 rather than queue.
pub const SEQUENCER_QUEUE_MAX: usize = 4096;
/// Entries the sequencer writes under one flush (group commit).
pub const GROUP_ENTRIES_MAX: usize = 4096;
/// Requests served at once; more wait briefly, then are shed with 503.
pub const CONCURRENT_REQUESTS_MAX: usize = 1024;
/// A request that takes longer is answered 503.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Balance documents at past sizes kept ready.
pub const BALANCES_CACHE_MAX: usize = 8;
/// Objects listed for one commitment in `/v1/lookup`.
pub const LOOKUP_RESULTS_MAX: usize = 1000;
