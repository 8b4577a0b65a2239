//! `ledger-node mirror`: follows another node's log. It polls the upstream's checkpoint,
//! checks the log's signature, proves the new tree extends the one it holds, fetches the new
//! entries, verifies each one and applies every rule exactly as the node and the verifier do
//! (`ledger_core`), and adopts the checkpoint only when the entries lead to its root. The
//! store is a normal node store holding the upstream's exact bytes and times, served through
//! the same `api::app`.
//!
//! A checkpoint that does not extend what the mirror holds is a fork: the mirror keeps serving
//! its last good state, stops following, and reports both checkpoints on `/healthz` and in
//! its log.

use crate::limits::*;
use crate::node::{AdoptError, Node};
use anyhow::{bail, Context, Result};
use ledger_core::checkpoint::{open_checkpoint, Checkpoint, LogKey};
use ledger_core::encoding::hash_from_b64;
use ledger_core::entry::VerifiedEntry;
use ledger_core::event::Event;
use ledger_core::limits::{ENTRY_BYTES_MAX, NOTE_BYTES_MAX, PROOF_HASHES_MAX};
use ledger_core::merkle::{check_tree, tree_hash};
use ledger_core::rules::State;
use serde_json::{json, Value};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a mirror knows of its upstream, for `/healthz`.
#[derive(Default)]
pub struct FollowReport(Mutex<Follow>);

#[derive(Default, Clone)]
struct Follow {
    last_error: Option<String>,
    fork: Option<Fork>,
}

/// Evidence that the upstream forked: the last checkpoint this mirror adopted and the one the
/// upstream offered that does not extend it.
#[derive(Clone, Debug)]
pub struct Fork {
    pub reason: String,
    pub adopted: String,
    pub offered: String,
}

impl FollowReport {
    pub fn to_json(&self) -> Value {
        let f = self.0.lock().map(|f| f.clone()).unwrap_or_default();
        let mut v = json!({"last_error": f.last_error});
        if let Some(fork) = f.fork {
            v["fork"] = json!({"reason": fork.reason, "adopted_checkpoint": fork.adopted, "upstream_checkpoint": fork.offered});
        }
        v
    }

    fn has_fork(&self) -> bool {
        self.0.lock().map(|f| f.fork.is_some()).unwrap_or(false)
    }

    fn set(&self, update: impl FnOnce(&mut Follow)) {
        if let Ok(mut f) = self.0.lock() {
            update(&mut f);
        }
    }
}

/// Why one step of following failed.
enum StepError {
    /// The upstream offered a history that does not extend the adopted one.
    Fork { reason: String, offered: String },
    /// Anything else (network, a bad signature that may be a proxy's doing, limits): retried.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for StepError {
    fn from(e: anyhow::Error) -> StepError {
        StepError::Other(e)
    }
}

/// The follower thread's own state: the private `State` the next entries are checked against,
/// like the sequencer's.
struct Follower {
    node: Arc<Node>,
    agent: ureq::Agent,
    upstream: String,
    log_key: LogKey,
    state: State,
}

/// Starts following; the thread ends when the node shuts down.
pub fn spawn(node: Arc<Node>, log_key: LogKey, poll: Duration) -> Result<std::thread::JoinHandle<()>> {
    let upstream = node.mirror_of().context("not a mirror")?.trim_end_matches('/').to_string();
    let state = node.published.read().map_err(|_| anyhow::anyhow!("poisoned"))?.state.clone();
    let mut follower = Follower { node, agent: agent(), upstream, log_key, state };
    std::thread::Builder::new()
        .name("mirror".into())
        .spawn(move || {
            while !follower.node.is_stopping() {
                // After a fork the mirror stops following: the evidence stands until an operator
                // looks at it (a restart checks the upstream afresh).
                if !follower.node.follow.has_fork() {
                    follower.step_and_report();
                }
                std::thread::sleep(poll);
            }
        })
        .context("starting the mirror thread")
}

pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(Duration::from_millis(MIRROR_REQUEST_TIMEOUT_MS)).build()
}

/// GET `url`, at most `limit` bytes of body, as text; any status but 200 is an error.
pub fn get_text(agent: &ureq::Agent, url: &str, limit: u64) -> Result<String> {
    let response = agent.get(url).call().with_context(|| format!("GET {url}"))?;
    let mut text = String::new();
    response
        .into_reader()
        .take(limit.saturating_add(1))
        .read_to_string(&mut text)
        .with_context(|| format!("reading {url}"))?;
    if text.len() as u64 > limit {
        bail!("the answer of {url} is over {limit} bytes");
    }
    Ok(text)
}

impl Follower {
    fn step_and_report(&mut self) {
        match self.step() {
            Ok(()) => self.node.follow.set(|f| f.last_error = None),
            Err(StepError::Other(e)) => {
                tracing::warn!("following {}: {e:#}", self.upstream);
                self.node.follow.set(|f| f.last_error = Some(format!("{e:#}")));
                self.reset_state();
            }
            Err(StepError::Fork { reason, offered }) => {
                let adopted = self.node.checkpoint_note().map(|(_, n)| n).unwrap_or_default();
                tracing::error!(
                    "FORK: the upstream {} offered a checkpoint inconsistent with the one this mirror adopted \
                     ({reason}). Not following; still serving the last good state.\nadopted:\n{adopted}\noffered:\n{offered}",
                    self.upstream
                );
                self.node.follow.set(|f| f.fork = Some(Fork { reason, adopted, offered }));
                self.reset_state();
            }
        }
    }

    /// Back to the published state, dropping anything checked but not adopted.
    fn reset_state(&mut self) {
        if let Ok(p) = self.node.published.read() {
            self.state = p.state.clone();
        }
    }

    fn step(&mut self) -> Result<(), StepError> {
        let note = get_text(&self.agent, &format!("{}/checkpoint", self.upstream), NOTE_BYTES_MAX as u64)?;
        let opened = open_checkpoint(&note, &self.log_key, &[])
            .map_err(|e| anyhow::anyhow!("the upstream checkpoint is refused: {e}"))?;
        let cp = opened.checkpoint;
        let (size, root) = (self.state.size(), self.state.root());
        let fork = |reason: String| StepError::Fork { reason, offered: note.clone() };
        if cp.size < size {
            // An older checkpoint (a stale cache in front of the upstream) is fine if our tree
            // at its size has its root.
            let ours = tree_hash(cp.size, &self.node.store).map_err(anyhow::Error::from)?;
            if ours != cp.root {
                return Err(fork(format!("the upstream's checkpoint at size {} has another root than this mirror's tree at that size", cp.size)));
            }
            return Ok(());
        }
        if cp.size == size {
            if cp.root != root {
                return Err(fork(format!("same size {size}, another root")));
            }
            // The same tree: the upstream's note may carry more cosignatures by now.
            self.node.serve_upstream_note(size, &note);
            return Ok(());
        }
        if size > 0 {
            let proof = self.consistency_proof(size, cp.size)?;
            check_tree(&proof, cp.size, cp.root, size, root).map_err(|e| {
                fork(format!("the consistency proof from size {size} to {} does not verify: {e}", cp.size))
            })?;
        }
        if cp.size - size > MIRROR_ADOPT_ENTRIES_MAX {
            return Err(StepError::Other(anyhow::anyhow!(
                "the upstream is {} entries ahead, over the {MIRROR_ADOPT_ENTRIES_MAX} one step adopts: start the mirror from a copy of the log (see docs/OPERATIONS.md)",
                cp.size - size
            )));
        }
        let entries = self.fetch_and_apply(size, &cp).map_err(|e| match e {
            StepError::Fork { reason, .. } => fork(reason),
            other => other,
        })?;
        if self.state.root() != cp.root {
            return Err(fork(format!(
                "the entries the upstream served lead to root {}, not its checkpoint's {}",
                self.state.root().to_base64(),
                cp.root.to_base64()
            )));
        }
        match self.node.adopt(&entries, &cp, &note) {
            Ok(()) => {
                tracing::info!("adopted the upstream checkpoint at size {}", cp.size);
                Ok(())
            }
            Err(AdoptError::RootMismatch { got, want }) => {
                Err(fork(format!("the stored tree has root {got}, the checkpoint {want}")))
            }
            Err(AdoptError::Store(e)) => Err(StepError::Other(e)),
        }
    }

    fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<ledger_core::hash::Hash>> {
        let url = format!("{}/v1/proof/consistency?from={from}&to={to}", self.upstream);
        let v: Value = serde_json::from_str(&get_text(&self.agent, &url, MIRROR_ANSWER_BYTES_MAX)?)
            .with_context(|| format!("{url} is not JSON"))?;
        let items = v["proof"].as_array().with_context(|| format!("{url} has no proof"))?;
        if items.len() > PROOF_HASHES_MAX {
            bail!("{url}: a proof of more than {PROOF_HASHES_MAX} hashes");
        }
        items
            .iter()
            .map(|h| {
                h.as_str()
                    .and_then(hash_from_b64)
                    .with_context(|| format!("{url}: a proof element is not base64"))
            })
            .collect()
    }

    /// Fetches entries `from..cp.size` page by page; each is verified and applied to the
    /// private state. A refused entry is a fork: the log signed a tree containing it.
    fn fetch_and_apply(&mut self, from: u64, cp: &Checkpoint) -> Result<Vec<VerifiedEntry>, StepError> {
        let mut entries = Vec::new();
        let mut next = from;
        while next < cp.size {
            let limit = (cp.size - next).min(PAGE_ENTRIES_MAX);
            let url = format!("{}/v1/entries?start={next}&limit={limit}", self.upstream);
            let body_max = limit.saturating_mul(ENTRY_BYTES_MAX as u64 + 1);
            let page = get_text(&self.agent, &url, body_max)?;
            let mut got = 0;
            for line in page.lines().take(limit as usize) {
                let entry =
                    VerifiedEntry::parse_and_verify(line.as_bytes()).map_err(|r| StepError::Fork {
                        reason: format!(
                            "the upstream's entry {next} is refused: {} ({})",
                            r.message,
                            r.rule.as_str()
                        ),
                        offered: String::new(),
                    })?;
                if let Event::Genesis(g) = entry.event() {
                    if g.log_key.0 != self.log_key.public_key().to_bytes() {
                        return Err(StepError::Fork {
                            reason: format!(
                                "the upstream's genesis names log key {}, not the followed key",
                                g.log_key
                            ),
                            offered: String::new(),
                        });
                    }
                }
                self.state.apply(&entry).map_err(|r| StepError::Fork {
                    reason: format!(
                        "the upstream's entry {next} breaks rule {}: {}",
                        r.rule.as_str(),
                        r.message
                    ),
                    offered: String::new(),
                })?;
                entries.push(entry);
                next += 1;
                got += 1;
            }
            if got == 0 {
                return Err(anyhow::anyhow!("{url} returned no entries").into());
            }
        }
        Ok(entries)
    }
}
