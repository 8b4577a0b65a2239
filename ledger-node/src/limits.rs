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
pub const GROUP_ENTRIES_MAX: usize = 1000;
/// Requests served at once; more wait briefly, then are shed with 503.
pub const CONCURRENT_REQUESTS_MAX: usize = 1024;
/// A request that takes longer is answered 503.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
/// sled's page cache, in MiB, unless `serve --cache-mb` says otherwise. It should hold the
/// entries that reads ask for: a read that misses fetches and materialises a whole sled page,
/// which at a million entries (about 700 MB of entries) with a 256 MiB cache made a receipt cost
/// 68 µs of CPU instead of 40 (docs/PERFORMANCE.md). sled grows the cache only as it reads and
/// writes, so a small log does not pay for it.
pub const SLED_CACHE_MB_DEFAULT: u64 = 1024;
/// The bounds of `--cache-mb`.
pub const SLED_CACHE_MB_MIN: u64 = 16;
pub const SLED_CACHE_MB_MAX: u64 = 1024 * 1024;
/// Balance documents at past sizes kept ready.
pub const BALANCES_CACHE_MAX: usize = 8;
/// Objects listed for one commitment in `/v1/lookup`.
pub const LOOKUP_RESULTS_MAX: usize = 1000;
/// Free space kept on the store's filesystem: a group is refused with 503 rather than written
/// when writing it could leave less than this, because sled, once one of its writes fails for
/// lack of space, refuses every later write until the process restarts. A sixteenth of the
/// filesystem, within these bounds.
pub const DISK_RESERVE_BYTES_MIN: u64 = 1024 * 1024;
pub const DISK_RESERVE_BYTES_MAX: u64 = 1024 * 1024 * 1024;
/// sled writes an entry's bytes more than once (log, tree hashes, checkpoint, segment cleaning):
/// a group needs this many times its entry bytes free, on top of the reserve.
pub const DISK_WRITE_AMPLIFICATION: u64 = 4;
/// The projection is saved every this many entries (and at shutdown).
pub const SNAPSHOT_INTERVAL_ENTRIES: u64 = 100_000;
/// A start that replayed at least this many entries saves a snapshot at once.
pub const SNAPSHOT_REPLAY_MIN_ENTRIES: u64 = 10_000;
/// The node asks its witnesses to cosign at most once per this interval (`serve
/// --witness-interval-ms`), so witnesses see a bounded load whatever the append rate.
pub const WITNESS_ROUND_INTERVAL_MS_DEFAULT: u64 = 1000;
/// A witness that fails is asked again after an interval that doubles per failure, up to this.
pub const WITNESS_BACKOFF_MAX_MS: u64 = 60_000;
/// One request to a witness (connect and answer).
pub const WITNESS_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// A witness's answer to `add-checkpoint`: a few cosignature lines.
pub const WITNESS_ANSWER_BYTES_MAX: u64 = 16 * 1024;
/// Logs one `ledger-node witness` process witnesses (`--log`).
pub const WITNESS_LOGS_MAX: usize = 1024;
/// A mirror polls its upstream's checkpoint once per this interval (`mirror --poll-ms`).
pub const MIRROR_POLL_INTERVAL_MS_DEFAULT: u64 = 1000;
/// Entries a mirror fetches and checks in memory before adopting one upstream checkpoint; an
/// upstream further ahead than this cannot be followed in one step (see docs/OPERATIONS.md).
pub const MIRROR_ADOPT_ENTRIES_MAX: u64 = 200_000;
/// One request from a mirror to its upstream.
pub const MIRROR_REQUEST_TIMEOUT_MS: u64 = 30_000;
/// A JSON answer from the upstream (a consistency proof) or its log key.
pub const MIRROR_ANSWER_BYTES_MAX: u64 = 64 * 1024;

/// Disclosure exports computed at once by `GET /v1/exports/...` (each replays the log).
pub const EXPORT_REPLAYS_MAX: usize = 1;
/// The largest CSV file `ledger-node import` reads.
pub const IMPORT_FILE_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// Rows of one import file: one batch, so that a file is appended all or nothing.
pub const IMPORT_ROWS_MAX: usize = BATCH_ENVELOPES_MAX;
/// Columns of an import file's header.
pub const IMPORT_COLUMNS_MAX: usize = 64;
/// The largest disclosure export `ledger-node export --url --format` downloads.
pub const EXPORT_FILE_BYTES_MAX: u64 = 1024 * 1024 * 1024;
