//! The node: recovery from the log, the single sequencer (steps 4–7 of the append path, then
//! append, integrate, checkpoint) and the published state that readers use.
//!
//! Readers never wait for the disk: the sequencer validates on a private `State`, makes the
//! group durable, and only then applies the same entries to the published state under a brief
//! write lock. A reader can never see an entry that is not on disk.

use crate::limits::*;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::{add_cosignature, claimed_checkpoint, Checkpoint, LogKey, LogSigner};
use ledger_core::disclosure::Book;
use ledger_core::dsse::VerifiedEnvelope;
use ledger_core::entry::VerifiedEntry;
use ledger_core::hash::Hash;
use ledger_core::merkle::{tree_hash, MemoryHashes};
use ledger_core::refusal::{Refusal, Rule};
use ledger_core::rules::{Balances, State};
use ledger_core::time::EntryTime;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::oneshot;

/// What the sequencer answers for one append job.
#[derive(Debug, Clone)]
pub enum Accepted {
    /// Newly logged at `first_seq..first_seq + leaf_hashes.len()`.
    New { first_seq: u64, leaf_hashes: Vec<Hash>, checkpoint: String },
    /// Every envelope was already logged, at these seqs (an idempotent retry).
    Existing { seqs: Vec<u64> },
    /// A dry run: what the rules say of each envelope; nothing was appended.
    Checked(DryRun),
}

/// The verdict of a dry run over a batch: each envelope is judged on its own as the next entry
/// (see `Sequencer::dry_run`), so every bad envelope is reported, not only the first.
#[derive(Debug, Clone, Default)]
pub struct DryRun {
    /// Envelopes the rules accept and that are not logged yet.
    pub new: Vec<usize>,
    /// Envelopes logged before with the same bytes: (index, seq).
    pub existing: Vec<(usize, u64)>,
    /// Envelopes refused: (index, refusal).
    pub refused: Vec<(usize, Refusal)>,
}

#[derive(Debug, Clone)]
pub enum AppendError {
    /// Refused by a rule; `index` names the envelope of a batch.
    Refused { index: Option<usize>, refusal: Refusal },
    /// Overloaded, read-only or out of disk: try again later.
    Unavailable(String),
}

/// Where the sequencer sends a job's answer.
pub type AppendReply = oneshot::Sender<Result<Accepted, AppendError>>;

struct Job {
    envelopes: Vec<VerifiedEnvelope>,
    is_batch: bool,
    /// Check against the rules only; append nothing.
    dry_run: bool,
    reply: AppendReply,
}

/// The projection readers see: everything in it is durable.
pub struct Published {
    pub state: State,
    /// Seqs of the entries naming each commitment (donor, beneficiary, complainant, payee).
    pub commitments: HashMap<Hash, Vec<u64>>,
    /// The latest signed checkpoint and its size; `None` before genesis.
    pub checkpoint: Option<(u64, String)>,
    /// Seqs of the entries that name each id in a reference field (timelines, audit trails).
    pub refs: HashMap<Box<str>, Vec<u64>>,
}

impl Published {
    fn index(&mut self, entry: &VerifiedEntry) {
        for c in entry.event().commitments() {
            self.commitments.entry(c).or_default().push(entry.seq());
        }
        for id in entry.event().referenced_ids() {
            // Most references name an id seen before (a fund, a case): no key is allocated then.
            match self.refs.get_mut(id.as_str()) {
                Some(seqs) => seqs.push(entry.seq()),
                None => {
                    self.refs.insert(id.as_str().into(), vec![entry.seq()]);
                }
            }
        }
    }
}

/// The recovered log must extend the last checkpoint this node signed: sled may drop damaged
/// records silently, and signing the shorter or different history that is left would fork the
/// log (SPEC.md §4). The node refuses to start instead.
fn check_extends_signed(note: &str, size: u64, store: &Store) -> Result<()> {
    let signed = claimed_checkpoint(note)
        .map_err(|e| anyhow::anyhow!("the recorded signed checkpoint does not parse: {e:?}"))?;
    if signed.size > size || tree_hash(signed.size, store)? != signed.root {
        bail!(
            "the store does not hold the log this node signed: a checkpoint at size {} was signed, the \
             store recovers {size} entries{}. Records were lost or damaged on disk. Refusing to serve or \
             sign a shorter or different history: restore the data directory from a backup or a mirror",
            signed.size,
            if signed.size <= size { " with another root at that size" } else { "" }
        );
    }
    Ok(())
}

/// How the node stamps entry times.
#[derive(Debug)]
pub struct Clock {
    /// The demo's simulated clock: an entry's time follows its event's `at`, so a county year
    /// loaded in seconds still spreads over the year it depicts.
    follow_events: AtomicBool,
}

impl Clock {
    pub fn system() -> Clock {
        Clock { follow_events: AtomicBool::new(false) }
    }
    pub fn set_follow_events(&self, on: bool) {
        self.follow_events.store(on, Ordering::SeqCst);
    }
    fn entry_time(&self, envelope: &VerifiedEnvelope, last_ms: i64) -> EntryTime {
        let now_ms = if self.follow_events.load(Ordering::SeqCst) {
            (envelope.event().at().unix_nanos().div_euclid(1_000_000)) as i64
        } else {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(last_ms)
        };
        // Entry times never go back, whatever the wall clock does.
        EntryTime::from_unix_ms(now_ms.max(last_ms))
            .or_else(|| EntryTime::from_unix_ms(last_ms))
            .unwrap_or_else(|| EntryTime::from_unix_ms(0).expect("the epoch is a valid entry time"))
    }
}

/// What a node is to its log.
pub enum Mode {
    /// The log's own node: it sequences appends and signs checkpoints with this key.
    Log(SigningKey),
    /// A read-only mirror of the log at `upstream`: it adopts that log's entries and signed
    /// checkpoints, verified with `log_key`, and never signs or sequences anything itself.
    Mirror { log_key: LogKey, upstream: String },
}

pub struct Node {
    pub store: Store,
    pub published: RwLock<Published>,
    pub mode: Mode,
    pub clock: Clock,
    /// Decompressed signer keys, shared by the threads that verify appends.
    pub keys: ledger_core::dsse::KeyCache,
    jobs: Mutex<Option<SyncSender<Job>>>,
    sequencer: Mutex<Option<std::thread::JoinHandle<()>>>,
    balances_cache: Mutex<VecDeque<(u64, Arc<Balances>)>>,
    snapshot: Option<PathBuf>,
    /// A periodic snapshot is being written.
    snapshotting: AtomicBool,
    /// Counters and histograms of `GET /metrics`.
    pub metrics: crate::metrics::Metrics,
    /// The latest checkpoint with the witness cosignatures gathered for it (a mirror: the
    /// upstream's note as served). Used only while its size is the published checkpoint's.
    cosigned: RwLock<Option<(u64, String)>>,
    /// What the node's witnesses last answered (`/healthz`, `/metrics`).
    pub witnesses: crate::cosign::WitnessReports,
    /// A mirror's view of its upstream (`/healthz`): the last error, or the fork evidence.
    pub follow: crate::mirror::FollowReport,
    /// Serialises a mirror's adoptions: each one extends the state the previous one published.
    adopting: Mutex<()>,
    /// Set by `shutdown`: background tasks (cosigning, following) end.
    stopping: AtomicBool,
    /// The log's verifier key string, once the log has a genesis: it never changes after that,
    /// and deriving it checks the key and hashes it (every `/v1/log-key` and receipt shows it).
    verifier_key: std::sync::OnceLock<String>,
}

/// A snapshot may be used only if the log has its entries unchanged (same last leaf hash at its
/// size: each entry holds the hash of the one before) and its tree is that of its state.
fn snapshot_agrees(store: &Store, log_size: u64, saved: &crate::snapshot::Snapshot) -> Result<bool> {
    let n = saved.state.size();
    if n > log_size || saved.tree.size() != n || saved.tree.root() != saved.state.root() {
        return Ok(false);
    }
    if n == 0 {
        return Ok(true);
    }
    let Some(last) = store.entry(n - 1)? else { return Ok(false) };
    Ok(ledger_core::hash::leaf_hash(&last) == saved.state.last_leaf())
}

impl Node {
    /// Opens the store, rebuilds the projection and the tree from the log (the only truth),
    /// repairs the derived checkpoint, and starts the sequencer. No snapshots.
    pub fn open(store: Store, log_key: SigningKey) -> Result<Arc<Node>> {
        Node::open_with_snapshots(store, log_key, None)
    }

    /// `open_with_snapshots`, for the log's own node.
    pub fn open_with_snapshots(
        store: Store,
        log_key: SigningKey,
        snapshot: Option<PathBuf>,
    ) -> Result<Arc<Node>> {
        Node::open_mode(store, Mode::Log(log_key), snapshot)
    }

    /// Opens a mirror's store: entries a crash left beyond the last adopted checkpoint were
    /// never verified against a signed root, so they are dropped before anything is served.
    pub fn open_mirror(
        store: Store,
        log_key: LogKey,
        upstream: String,
        snapshot: Option<PathBuf>,
    ) -> Result<Arc<Node>> {
        drop_unadopted(&store)?;
        Node::open_mode(store, Mode::Mirror { log_key, upstream }, snapshot)
    }

    /// `open`, starting from the saved projection at `snapshot` when it agrees with the log,
    /// and keeping it saved (at shutdown, after a long replay, and every
    /// `SNAPSHOT_INTERVAL_ENTRIES`).
    fn open_mode(store: Store, mode: Mode, snapshot: Option<PathBuf>) -> Result<Arc<Node>> {
        let size = store.recover_size()?;
        let mut tree = MemoryHashes::new();
        let mut published = Published {
            state: State::new(),
            commitments: HashMap::new(),
            checkpoint: None,
            refs: HashMap::new(),
        };
        if let Some(path) = &snapshot {
            match crate::snapshot::load(path) {
                Ok(Some(saved)) if snapshot_agrees(&store, size, &saved)? => {
                    tracing::info!("projection loaded from its snapshot at size {}", saved.state.size());
                    published.state = saved.state;
                    published.commitments = saved.commitments;
                    published.refs = saved.refs;
                    tree = saved.tree;
                }
                Ok(Some(_)) => {
                    tracing::warn!("the projection snapshot disagrees with the log: rebuilding from the log")
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("the projection snapshot is unusable ({e:#}): rebuilding from the log")
                }
            }
        }
        let from = published.state.size();
        // The tree of the snapshot's entries (none without one); the replay adds the rest, with
        // the leaf hashes it computes anyway.
        store.load_tree(tree, from)?;
        for (i, bytes) in store.entries(from, size).enumerate() {
            let seq = from + i as u64;
            let bytes = bytes?;
            let entry = VerifiedEntry::parse_trusted(&bytes)
                .map_err(|e| anyhow::anyhow!("stored entry {seq} does not parse: {e}"))?;
            published
                .state
                .apply(&entry)
                .map_err(|e| anyhow::anyhow!("stored entry {seq} does not apply: {e}"))?;
            published.index(&entry);
            store.append_leaves(seq, [entry.leaf_hash()])?;
        }
        let root = tree_hash(size, &store)?;
        if root != published.state.root() {
            bail!(
                "the stored Merkle tree disagrees with the log (root {root:?} vs {:?})",
                published.state.root()
            );
        }
        if let Some(info) = published.state.info() {
            if info.log_key.0 != mode.public_key() {
                bail!(
                    "this log names log key {}, but the node's key is {}",
                    info.log_key,
                    hex::encode(mode.public_key())
                );
            }
        }
        if let Some(note) = store.recorded_signed()? {
            check_extends_signed(&note, size, &store)?;
        }
        published.checkpoint = match (published.state.info(), store.latest_checkpoint()?) {
            (None, _) => None,
            (Some(info), stored) => {
                let cp = Checkpoint { origin: info.origin.clone(), size, root };
                let note = match (stored, &mode) {
                    (Some(note), _) if note.starts_with(&cp.signed_text()) => note,
                    (_, Mode::Log(log_key)) => {
                        let signer = LogSigner::new(&info.origin, log_key.clone())
                            .map_err(|e| anyhow::anyhow!("log key: {e}"))?;
                        let note = signer.sign(&cp).map_err(|e| anyhow::anyhow!("signing: {e}"))?;
                        store.put_checkpoint(size, &note)?;
                        note
                    }
                    // `drop_unadopted` left exactly the entries of the adopted checkpoint.
                    (_, Mode::Mirror { .. }) => bail!(
                        "the mirror's store holds {size} entries but no checkpoint adopted at that size"
                    ),
                };
                Some((size, note))
            }
        };
        let cosigned = store.latest_cosigned()?.filter(|(s, note)| {
            published.checkpoint.as_ref().is_some_and(|(size, signed)| {
                s == size && claimed_checkpoint(note).ok() == claimed_checkpoint(signed).ok()
            })
        });
        store.flush()?;
        if let Some((_, note)) = &published.checkpoint {
            if let Err(e) = store.record_signed(note) {
                tracing::warn!("recording the signed checkpoint: {e:#}");
            }
        }
        if let Some(path) = &snapshot {
            if size - from >= SNAPSHOT_REPLAY_MIN_ENTRIES {
                encode_snapshot(&published, &store)?.write(path)?;
            }
        }
        let (tx, rx) = sync_channel(SEQUENCER_QUEUE_MAX);
        let is_log = matches!(mode, Mode::Log(_));
        let node = Arc::new(Node {
            store,
            published: RwLock::new(published),
            mode,
            clock: Clock::system(),
            keys: ledger_core::dsse::KeyCache::new(),
            jobs: Mutex::new(Some(tx)),
            sequencer: Mutex::new(None),
            balances_cache: Mutex::new(VecDeque::new()),
            snapshot,
            snapshotting: AtomicBool::new(false),
            metrics: crate::metrics::Metrics::new(),
            cosigned: RwLock::new(cosigned),
            witnesses: crate::cosign::WitnessReports::default(),
            follow: crate::mirror::FollowReport::default(),
            adopting: Mutex::new(()),
            stopping: AtomicBool::new(false),
            verifier_key: std::sync::OnceLock::new(),
        });
        if !is_log {
            // A mirror takes no appends: no sequencer, and `append` answers that it is a mirror.
            node.jobs.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.take();
            return Ok(node);
        }
        let worker = Arc::clone(&node);
        let handle = std::thread::Builder::new()
            .name("sequencer".into())
            .spawn(move || {
                // The sequencer's private copy of the projection is made here, off the start's
                // critical path: the node serves reads meanwhile, and appends wait in the queue.
                // Nothing else publishes, so the copy is of the state the start ended with.
                let state = match worker.published.read() {
                    Ok(p) => p.state.clone(),
                    Err(_) => return,
                };
                Sequencer::new(worker, state).run(rx)
            })
            .context("starting the sequencer")?;
        *node.sequencer.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = Some(handle);
        Ok(node)
    }

    /// Saves the published projection. Publishing, and appends to the tree, wait while it is
    /// encoded, not while it is written and synced.
    pub fn save_snapshot(&self) -> Result<()> {
        let Some(path) = &self.snapshot else { return Ok(()) };
        let encoded = {
            let p = self.published.read().map_err(|_| anyhow::anyhow!("poisoned"))?;
            encode_snapshot(&p, &self.store)?
        };
        encoded.write(path)
    }

    /// Appends verified envelopes (one, or a batch all-or-nothing) and waits until they are
    /// durable. Never blocks on a full queue: that is 503.
    pub async fn append(
        &self,
        envelopes: Vec<VerifiedEnvelope>,
        is_batch: bool,
    ) -> Result<Accepted, AppendError> {
        self.submit(envelopes, is_batch, false).await
    }

    /// Runs a batch through the sequencer's rules against the current state (the same code
    /// that appends) and reports every envelope's verdict; appends nothing.
    pub async fn dry_run(&self, envelopes: Vec<VerifiedEnvelope>) -> Result<DryRun, AppendError> {
        match self.submit(envelopes, true, true).await? {
            Accepted::Checked(report) => Ok(report),
            _ => Err(AppendError::Unavailable("the sequencer answered a dry run with an append".into())),
        }
    }

    async fn submit(
        &self,
        envelopes: Vec<VerifiedEnvelope>,
        is_batch: bool,
        dry_run: bool,
    ) -> Result<Accepted, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.send_job(Job { envelopes, is_batch, dry_run, reply });
        answer.await.unwrap_or_else(|_| Err(AppendError::Unavailable("the sequencer stopped".into())))
    }

    /// Hands one verified envelope to the sequencer without waiting: its answer, or why it
    /// could not be queued, goes to `reply`. For a caller off the async runtime (the single
    /// POST verifies on rayon's pool and queues from there, so its task wakes once).
    pub fn queue_append(&self, envelope: VerifiedEnvelope, reply: AppendReply) {
        self.send_job(Job { envelopes: vec![envelope], is_batch: false, dry_run: false, reply });
    }

    /// Queues `job`; never blocks on a full queue: that is answered 503 at once.
    fn send_job(&self, job: Job) {
        if let Some(upstream) = self.mirror_of() {
            let _ = job.reply.send(Err(AppendError::Unavailable(format!(
                "this node is a read-only mirror of {upstream}: submit entries to the log itself"
            ))));
            return;
        }
        let sender = self.jobs.lock().ok().and_then(|g| g.clone());
        let Some(sender) = sender else {
            let _ = job.reply.send(Err(AppendError::Unavailable("the node is shutting down".into())));
            return;
        };
        let (job, why) = match sender.try_send(job) {
            Ok(()) => return,
            Err(TrySendError::Full(job)) => (job, "the append queue is full"),
            Err(TrySendError::Disconnected(job)) => (job, "the node is shutting down"),
        };
        let _ = job.reply.send(Err(AppendError::Unavailable(why.into())));
    }

    /// Stops taking appends, lets the sequencer finish the group in flight, waits for it, and
    /// saves the projection so the next start is quick.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Ok(mut g) = self.jobs.lock() {
            g.take();
        }
        let handle = self.sequencer.lock().ok().and_then(|mut g| g.take());
        let finished = match handle {
            Some(h) => {
                let _ = h.join();
                true
            }
            // A mirror has no sequencer: wait for an adoption in flight instead.
            None if self.mirror_of().is_some() => self.adopting.lock().is_ok(),
            None => false,
        };
        if finished {
            if let Err(e) = self.save_snapshot() {
                tracing::warn!("the projection snapshot was not saved: {e:#}");
            }
        }
    }

    /// The balances document at tree size `size` (≤ the latest checkpoint's). The latest size
    /// is answered from the live projection; earlier sizes are replayed from the log and kept
    /// in a small cache.
    pub fn balances_at(&self, size: u64) -> Result<Arc<Balances>> {
        {
            let p = self.published.read().map_err(|_| anyhow::anyhow!("poisoned"))?;
            if size == p.state.size() {
                return Ok(Arc::new(p.state.balances()));
            }
        }
        if let Some(hit) =
            self.balances_cache.lock().ok().and_then(|c| c.iter().find(|(s, _)| *s == size).cloned())
        {
            return Ok(hit.1);
        }
        let state = replay(&self.store, size, |_| {})?;
        let balances = Arc::new(state.balances());
        if let Ok(mut cache) = self.balances_cache.lock() {
            cache.push_back((size, Arc::clone(&balances)));
            while cache.len() > BALANCES_CACHE_MAX {
                cache.pop_front();
            }
        }
        Ok(balances)
    }
}

/// Encodes the projection `p` with the tree of its entries (the tree may hold a group being
/// written past them).
fn encode_snapshot(p: &Published, store: &Store) -> Result<crate::snapshot::Encoded> {
    let size = p.state.size();
    store.with_tree(|tree| {
        let hashes = tree.stored(size).context("the tree is smaller than the projection")?;
        crate::snapshot::encode(&p.state, &p.commitments, &p.refs, hashes)
    })?
}

/// The state at tree size `size`, replayed from the stored log; `each` sees every entry after
/// it was applied.
fn replay(store: &Store, size: u64, mut each: impl FnMut(&VerifiedEntry)) -> Result<State> {
    let mut state = State::new();
    for bytes in store.entries(0, size) {
        let entry = VerifiedEntry::parse_trusted(&bytes?).map_err(|e| anyhow::anyhow!("{e}"))?;
        state.apply(&entry).map_err(|e| anyhow::anyhow!("{e}"))?;
        each(&entry);
    }
    Ok(state)
}

/// The disclosure book and state at tree size `size`, replayed from the stored log: exports
/// are computed from exactly the entries a verifier replays. `ledger-node export --data` calls
/// it on a store no node is serving.
pub fn disclosure_from(store: &Store, size: u64) -> Result<(Book, State)> {
    let mut book = Book::new();
    let state = replay(store, size, |entry| book.observe(entry))?;
    Ok((book, state))
}

impl Node {
    /// `disclosure_from` this node's store; `size` ≤ the latest checkpoint's.
    pub fn disclosure_at(&self, size: u64) -> Result<(Book, State)> {
        disclosure_from(&self.store, size)
    }
}

/// One job's verdict in a group: `Ok(Some(seqs))` already logged, `Ok(None)` newly accepted
/// as `entries` of the group, or refused.
struct Outcome {
    job: Job,
    result: Result<Option<Vec<u64>>, AppendError>,
    entries: std::ops::Range<usize>,
    /// A dry run's verdicts (its `result` is `Ok(None)` and it has no entries).
    checked: Option<DryRun>,
}

/// The one writer. Owns the private state that appends are validated against.
struct Sequencer {
    node: Arc<Node>,
    state: State,
    signer: Option<LogSigner>,
}

impl Sequencer {
    fn new(node: Arc<Node>, state: State) -> Sequencer {
        let signer = state.info().and_then(|i| node.log_signer(&i.origin));
        Sequencer { node, state, signer }
    }

    fn run(mut self, jobs: Receiver<Job>) {
        while let Ok(first) = jobs.recv() {
            let mut group = vec![first];
            let mut count = group[0].envelopes.len();
            while count < GROUP_ENTRIES_MAX {
                match jobs.try_recv() {
                    Ok(job) => {
                        count += job.envelopes.len();
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            self.run_group(group);
        }
    }

    /// Steps 4–7 for every job of the group against the private state, then one durable write
    /// for all accepted entries, then publish, then answer every waiter.
    fn run_group(&mut self, group: Vec<Job>) {
        let group_start = self.state.size();
        let mut entries: Vec<VerifiedEntry> = Vec::new();
        let mut outcomes: Vec<Outcome> = Vec::with_capacity(group.len());
        for mut job in group {
            let start = entries.len();
            if job.dry_run {
                let checked = self.dry_run(&job, group_start, &entries);
                outcomes.push(Outcome {
                    job,
                    result: Ok(None),
                    entries: start..start,
                    checked: Some(checked),
                });
                continue;
            }
            let result = self.validate_job(&mut job, group_start, &mut entries);
            if result.is_err() && entries.len() > start {
                // All or nothing: undo this job's entries by rebuilding the private state
                // from the published one plus the group's earlier accepted entries.
                entries.truncate(start);
                self.rebuild_private(&entries);
            }
            outcomes.push(Outcome { job, result, entries: start..entries.len(), checked: None });
        }
        let written = if entries.is_empty() { Ok(None) } else { self.write(&entries).map(Some) };
        let checkpoint = match written {
            Ok(checkpoint) => checkpoint,
            Err(e) => {
                tracing::error!("append failed, nothing acknowledged: {e:#}");
                self.rebuild_private(&[]);
                let message = format!("the log could not be written: {e:#}");
                for o in outcomes {
                    let answer = match (o.result, o.checked) {
                        (_, Some(checked)) => Ok(Accepted::Checked(checked)),
                        (result, None) => match result {
                            Ok(Some(seqs)) => Ok(Accepted::Existing { seqs }),
                            Ok(None) => Err(AppendError::Unavailable(message.clone())),
                            Err(e) => Err(e),
                        },
                    };
                    let _ = o.job.reply.send(answer);
                }
                return;
            }
        };
        if !entries.is_empty() {
            self.node.metrics.record_group(entries.len());
        }
        self.node.publish(&entries, checkpoint.clone());
        for o in outcomes {
            if let Some(checked) = o.checked {
                let _ = o.job.reply.send(Ok(Accepted::Checked(checked)));
                continue;
            }
            let answer = match o.result {
                Ok(Some(seqs)) => Ok(Accepted::Existing { seqs }),
                Ok(None) => Ok(Accepted::New {
                    first_seq: group_start + o.entries.start as u64,
                    leaf_hashes: entries[o.entries].iter().map(|e| e.leaf_hash()).collect(),
                    checkpoint: checkpoint.clone().unwrap_or_default(),
                }),
                Err(e) => Err(e),
            };
            let _ = o.job.reply.send(answer);
        }
    }

    /// Applies one job's envelopes to the private state. `Ok(Some(seqs))`: all were logged
    /// before (idempotent retry); `Ok(None)`: all newly accepted.
    fn validate_job(
        &mut self,
        job: &mut Job,
        group_start: u64,
        entries: &mut Vec<VerifiedEntry>,
    ) -> Result<Option<Vec<u64>>, AppendError> {
        let is_batch = job.is_batch;
        let index = |i: usize| is_batch.then_some(i);
        let mut existing = Vec::new();
        // The envelopes move into their entries: the job keeps only its waiter.
        let envelopes = std::mem::take(&mut job.envelopes);
        let count = envelopes.len();
        for (i, envelope) in envelopes.into_iter().enumerate() {
            if let Some(seq) = self.state.lookup(envelope.event().id().as_str()).map(|(s, _)| s) {
                if self.is_same_logged(seq, &envelope, group_start, entries) {
                    existing.push(seq);
                    continue;
                }
                let refusal = Refusal {
                    rule: Rule::DuplicateId,
                    message: format!(
                        "id {} is already used by the entry at seq {seq}",
                        envelope.event().id()
                    ),
                    seq: Some(seq),
                };
                return Err(AppendError::Refused { index: index(i), refusal });
            }
            if !existing.is_empty() {
                let refusal = Refusal::new(Rule::DuplicateId, "a batch mixes logged and new envelopes");
                return Err(AppendError::Refused { index: index(i), refusal });
            }
            self.check_genesis_key(&envelope)
                .map_err(|refusal| AppendError::Refused { index: index(i), refusal })?;
            let time = self.node.clock.entry_time(&envelope, self.state.last_time_ms());
            let entry = VerifiedEntry::new(self.state.size(), self.state.last_leaf(), time, envelope)
                .map_err(|refusal| AppendError::Refused { index: index(i), refusal })?;
            self.state.apply(&entry).map_err(|refusal| AppendError::Refused { index: index(i), refusal })?;
            entries.push(entry);
        }
        if existing.is_empty() {
            Ok(None)
        } else if existing.len() == count {
            Ok(Some(existing))
        } else {
            let refusal = Refusal::new(Rule::DuplicateId, "a batch mixes logged and new envelopes");
            Err(AppendError::Refused { index: index(existing.len()), refusal })
        }
    }

    /// A dry run: each envelope judged by every rule as if it were the next entry, against the
    /// private state (which already holds the group's earlier entries) without changing it, so
    /// each verdict is reported. Nothing is copied: a dry run costs the sequencer what the
    /// appends would, however big the log. Envelopes are judged each on their own, ids earlier
    /// in the batch aside: what an earlier envelope of the batch would change (a balance it
    /// draws, a dual-control window it fills) is not seen, and the append itself, which judges
    /// the batch in order, all or nothing, has the last word.
    fn dry_run(&self, job: &Job, group_start: u64, pending: &[VerifiedEntry]) -> DryRun {
        let state = &self.state;
        let mut report = DryRun::default();
        let mut new_ids: HashMap<&str, usize> = HashMap::new();
        for (i, envelope) in job.envelopes.iter().enumerate() {
            let id = envelope.event().id().as_str();
            if let Some(seq) = state.lookup(id).map(|(s, _)| s) {
                if self.is_same_logged(seq, envelope, group_start, pending) {
                    report.existing.push((i, seq));
                } else {
                    let message = format!("id {id} is already used by the entry at seq {seq}");
                    report.refused.push((i, Refusal { rule: Rule::DuplicateId, message, seq: Some(seq) }));
                }
                continue;
            }
            if let Some(first) = new_ids.get(id) {
                let message = format!("id {id} is already used by envelope {first} of this batch");
                report.refused.push((i, Refusal::new(Rule::DuplicateId, message)));
                continue;
            }
            let verdict = self.check_genesis_key(envelope).and_then(|()| {
                let time = self.node.clock.entry_time(envelope, state.last_time_ms());
                let entry = VerifiedEntry::new(state.size(), state.last_leaf(), time, envelope.clone())?;
                state.check(&entry)
            });
            match verdict {
                Ok(()) => {
                    new_ids.insert(id, i);
                    report.new.push(i);
                }
                Err(refusal) => report.refused.push((i, refusal)),
            }
        }
        report
    }

    /// The node signs checkpoints only for a log whose genesis names the node's own key.
    fn check_genesis_key(&self, envelope: &VerifiedEnvelope) -> Result<(), Refusal> {
        if let ledger_core::event::Event::Genesis(g) = envelope.event() {
            if g.log_key.0 != self.node.mode.public_key() {
                return Err(Refusal::new(
                    Rule::GenesisOnly,
                    format!(
                        "genesis names log key {}, but this node signs with {}",
                        g.log_key,
                        hex::encode(self.node.mode.public_key())
                    ),
                ));
            }
        }
        Ok(())
    }

    fn is_same_logged(
        &self,
        seq: u64,
        envelope: &VerifiedEnvelope,
        group_start: u64,
        pending: &[VerifiedEntry],
    ) -> bool {
        if seq >= group_start {
            return pending
                .get((seq - group_start) as usize)
                .is_some_and(|e| e.envelope().envelope().same_as(envelope.envelope()));
        }
        match self.node.store.entry(seq) {
            Ok(Some(bytes)) => ledger_core::entry::Entry::parse(&bytes)
                .map(|e| e.envelope.same_as(envelope.envelope()))
                .unwrap_or(false),
            _ => false,
        }
    }

    fn rebuild_private(&mut self, entries: &[VerifiedEntry]) {
        let mut state = match self.node.published.read() {
            Ok(p) => p.state.clone(),
            Err(_) => return,
        };
        for e in entries {
            // These entries were accepted against this very state a moment ago.
            if let Err(err) = state.apply(e) {
                tracing::error!("re-applying an accepted entry failed: {err}");
            }
        }
        self.state = state;
        self.signer = self.state.info().and_then(|i| self.node.log_signer(&i.origin));
    }

    /// Append and integrate: entries, tree hashes, the new checkpoint; then one flush + fsync.
    fn write(&mut self, entries: &[VerifiedEntry]) -> Result<String> {
        let store = &self.node.store;
        let mut written = Vec::with_capacity(entries.len());
        let result = (|| -> Result<String> {
            integrate(store, entries, &mut written)?;
            if self.signer.is_none() {
                self.signer = self.state.info().and_then(|i| self.node.log_signer(&i.origin));
            }
            let signer = self.signer.as_ref().context("no log signer: the log has no genesis")?;
            let info = self.state.info().context("no genesis")?;
            let cp =
                Checkpoint { origin: info.origin.clone(), size: self.state.size(), root: self.state.root() };
            // The stored tree (sled and the levels held in memory) must lead to the root the
            // sequencer computed from the leaves before anything is signed over it.
            let stored_root = tree_hash(cp.size, store)?;
            if stored_root != cp.root {
                bail!(
                    "the stored tree's root {} at size {} is not the log's root {}: not signing",
                    stored_root.to_base64(),
                    cp.size,
                    cp.root.to_base64()
                );
            }
            let note = signer.sign(&cp).map_err(|e| anyhow::anyhow!("signing the checkpoint: {e}"))?;
            store.put_checkpoint(cp.size, &note)?;
            let flush_start = std::time::Instant::now();
            store.flush()?;
            self.node.metrics.record_flush(flush_start.elapsed());
            // The group is durable whatever happens to this file: a failure only lets the
            // record lag behind, so it must not turn the group into a refusal.
            if let Err(e) = store.record_signed(&note) {
                tracing::warn!("recording the signed checkpoint: {e:#}");
            }
            Ok(note)
        })();
        if result.is_err() {
            take_back(store, &written, entries);
        }
        result
    }
}

impl Node {
    /// Makes durable entries visible to readers, with their checkpoint.
    fn publish(self: &Arc<Node>, entries: &[VerifiedEntry], checkpoint: Option<String>) {
        let Ok(mut p) = self.published.write() else { return };
        for e in entries {
            if let Err(err) = p.state.apply(e) {
                // The private state accepted it; the published one must too. A difference is a
                // bug: stop writing rather than serve two versions of the ledger.
                tracing::error!("published state refused an accepted entry: {err}");
                std::process::abort();
            }
            p.index(e);
        }
        if let Some(note) = checkpoint {
            p.checkpoint = Some((p.state.size(), note));
        }
        let (before, after) = (p.state.size() - entries.len() as u64, p.state.size());
        drop(p);
        if before / SNAPSHOT_INTERVAL_ENTRIES != after / SNAPSHOT_INTERVAL_ENTRIES
            && self.snapshot.is_some()
            && !self.snapshotting.swap(true, Ordering::SeqCst)
        {
            let node = Arc::clone(self);
            std::thread::spawn(move || {
                if let Err(e) = node.save_snapshot() {
                    tracing::warn!("periodic projection snapshot failed: {e:#}");
                }
                node.snapshotting.store(false, Ordering::SeqCst);
            });
        }
    }
}

/// Step "integrate": writes entries (not yet flushed) and adds their leaves to the tree, noting
/// each seq written in `written` so a failed group can be taken back.
fn integrate(store: &Store, entries: &[VerifiedEntry], written: &mut Vec<u64>) -> Result<()> {
    store.check_free_space(entries.iter().map(|e| e.bytes().len() as u64).sum())?;
    for e in entries {
        store.put_entry(e.seq(), e.bytes())?;
        written.push(e.seq());
    }
    if let Some(first) = entries.first() {
        store.append_leaves(first.seq(), entries.iter().map(VerifiedEntry::leaf_hash))?;
    }
    Ok(())
}

/// Takes a group that failed back out: unacknowledged writes must not linger in sled's memory
/// to be flushed later, nor their leaves in the tree.
fn take_back(store: &Store, written: &[u64], entries: &[VerifiedEntry]) {
    for &seq in written {
        let _ = store.entries_remove(seq);
    }
    if let Some(first) = entries.first() {
        if let Err(e) = store.truncate_tree(first.seq()) {
            tracing::error!("{e:#}");
        }
    }
}

/// A mirror writes entries before the checkpoint that vouches for them, and sled may make the
/// entries durable on its own before that checkpoint: on start, entries past the last adopted
/// checkpoint are removed, so a mirror never serves what it did not check against a signed root.
fn drop_unadopted(store: &Store) -> Result<()> {
    let size = store.recover_size()?;
    let adopted = match store.latest_checkpoint()? {
        Some(note) => {
            claimed_checkpoint(&note)
                .map_err(|e| anyhow::anyhow!("the adopted checkpoint does not parse: {e}"))?
                .size
        }
        None => 0,
    };
    if adopted > size {
        bail!(
            "the mirror adopted a checkpoint at size {adopted} but its store recovers only {size} entries: \
             records were lost on disk; remove the data directory and let the mirror follow again"
        );
    }
    if adopted < size {
        tracing::warn!("dropping {} entries past the last adopted checkpoint ({adopted})", size - adopted);
        for seq in adopted..size {
            store.entries_remove(seq)?;
        }
        store.flush()?;
    }
    Ok(())
}

/// Why a mirror did not adopt a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    /// The entries do not lead to the checkpoint's root: the upstream forked or lied.
    #[error("the entries lead to root {got}, not the checkpoint's root {want}")]
    RootMismatch { got: String, want: String },
    #[error("{0:#}")]
    Store(anyhow::Error),
}

impl Mode {
    /// The log's public key: the one its genesis must name.
    pub fn public_key(&self) -> [u8; 32] {
        match self {
            Mode::Log(key) => key.verifying_key().to_bytes(),
            Mode::Mirror { log_key, .. } => log_key.public_key().to_bytes(),
        }
    }
}

impl Node {
    /// The signer of checkpoints for `origin`; `None` on a mirror, which signs nothing.
    fn log_signer(&self, origin: &str) -> Option<LogSigner> {
        match &self.mode {
            Mode::Log(key) => LogSigner::new(origin, key.clone()).ok(),
            Mode::Mirror { .. } => None,
        }
    }

    /// The log's verifier key, once the log has a genesis (its origin).
    pub fn log_key(&self) -> Option<LogKey> {
        match &self.mode {
            Mode::Mirror { log_key, .. } => Some(log_key.clone()),
            Mode::Log(key) => {
                let p = self.published.read().ok()?;
                let origin = p.state.info()?.origin.clone();
                LogSigner::new(&origin, key.clone()).ok().map(|s| s.log_key().clone())
            }
        }
    }

    /// `log_key()`'s verifier key string (`<origin>+<hash>+<key>`), derived once.
    pub fn verifier_key(&self) -> Option<&str> {
        if let Some(k) = self.verifier_key.get() {
            return Some(k);
        }
        let derived = self.log_key()?.verifier_key();
        Some(self.verifier_key.get_or_init(|| derived))
    }

    /// The upstream URL when this node is a mirror.
    pub fn mirror_of(&self) -> Option<&str> {
        match &self.mode {
            Mode::Mirror { upstream, .. } => Some(upstream),
            Mode::Log(_) => None,
        }
    }

    /// Whether the node has stopped taking appends (shutting down); background tasks end then.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The latest checkpoint as served: the signed note with every cosignature gathered for
    /// its size.
    pub fn checkpoint_note(&self) -> Option<(u64, String)> {
        let latest = self.published.read().ok()?.checkpoint.clone()?;
        match self.cosigned.read().ok()?.as_ref() {
            Some((size, note)) if *size == latest.0 => Some((*size, note.clone())),
            _ => Some(latest),
        }
    }

    /// Adds a verified cosignature line to the checkpoint at `size`, if that is still the
    /// latest. Keeps it in the store so a restart serves it too.
    pub fn add_cosignature(&self, size: u64, line: &str) -> Result<()> {
        let Some((latest, _)) = self.checkpoint_note() else { return Ok(()) };
        if latest != size {
            return Ok(());
        }
        let mut cosigned = self.cosigned.write().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let base = match cosigned.as_ref() {
            Some((s, note)) if *s == size => note.clone(),
            _ => match self.published.read().map_err(|_| anyhow::anyhow!("poisoned"))?.checkpoint.clone() {
                Some((s, note)) if s == size => note,
                _ => return Ok(()),
            },
        };
        let note = match add_cosignature(&base, line) {
            Ok(note) => note,
            // The witness cosigned this size before (a retry after a restart): keep the first.
            Err(ledger_core::checkpoint::NoteError::DuplicateSignature) => return Ok(()),
            Err(e) => bail!("adding a cosignature: {e}"),
        };
        self.store.put_cosigned(size, &note)?;
        *cosigned = Some((size, note));
        Ok(())
    }

    /// A mirror serves the upstream's note for a size it already holds (it may carry more
    /// cosignatures than the one adopted); the caller has checked it with the log key.
    pub fn serve_upstream_note(&self, size: u64, note: &str) {
        if let Ok(mut c) = self.cosigned.write() {
            *c = Some((size, note.to_string()));
        }
    }

    /// A mirror adopts `entries` (verified and applied to `state` by the caller, starting at
    /// the published size) with the upstream checkpoint `note` for `checkpoint`, after checking
    /// the stored tree's root is the checkpoint's. Nothing is published unless all of it holds.
    pub fn adopt(
        self: &Arc<Node>,
        entries: &[VerifiedEntry],
        checkpoint: &Checkpoint,
        note: &str,
    ) -> Result<(), AdoptError> {
        let _one = self.adopting.lock().map_err(|_| AdoptError::Store(anyhow::anyhow!("poisoned")))?;
        let store = &self.store;
        let mut written = Vec::with_capacity(entries.len());
        let result = (|| -> Result<(), AdoptError> {
            integrate(store, entries, &mut written).map_err(AdoptError::Store)?;
            let root = tree_hash(checkpoint.size, store).map_err(|e| AdoptError::Store(e.into()))?;
            if root != checkpoint.root {
                return Err(AdoptError::RootMismatch {
                    got: root.to_base64(),
                    want: checkpoint.root.to_base64(),
                });
            }
            store.put_checkpoint(checkpoint.size, note).map_err(AdoptError::Store)?;
            store.flush().map_err(AdoptError::Store)?;
            if let Err(e) = store.record_signed(note) {
                tracing::warn!("recording the adopted checkpoint: {e:#}");
            }
            Ok(())
        })();
        if result.is_err() {
            take_back(store, &written, entries);
            return result;
        }
        self.publish(entries, Some(note.to_string()));
        Ok(())
    }
}
