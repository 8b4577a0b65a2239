//! Resident memory per appended entry, and where it goes. Each part runs in a fresh process of
//! this binary so their memory does not mix:
//!
//! - `node`: the whole node (sequencer, both projections, indexes, sled) fed the demo county
//!   year in batches through `Node::append`, as `/v1/batch` does;
//! - `state`: the core's projection alone (`State::apply` over the same entries);
//! - `sled`: the store alone (entry bytes written and flushed as the node does, and the tree);
//! - `singles`: the node fed small gifts one per append by 64 concurrent clients, as the soak
//!   does over HTTP (small groups: one checkpoint signed and stored per group).
//!
//! Prints the growth of RSS per entry over the second half of the run, when start-up costs are
//! behind. `MALLOC_ARENA_MAX` in the environment is passed on, to compare allocator settings.
//!
//!     cargo bench -p ledger-node --bench memory [-- --scale N] [--clients N] [--part P]

use ed25519_dalek::SigningKey;
use ledger_core::dsse::VerifiedEnvelope;
use ledger_core::entry::VerifiedEntry;
use ledger_core::hash::Hash;
use ledger_core::rules::State;
use ledger_core::scenario::{generate, ScenarioConfig};
use ledger_core::time::EntryTime;
use ledger_node::{keys, node::Node, store::Store, DataDir};
use std::process::Command;

const BATCH: usize = 1000;
/// Concurrent clients of the `singles` part, unless `--clients N`.
const CLIENTS: usize = 64;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

type Keys = (SigningKey, SigningKey);

/// The county year's envelopes with their event times; the log key and an intake key.
fn envelopes(scale: u32) -> (Vec<(VerifiedEnvelope, i64)>, Keys) {
    let scenario = generate(&ScenarioConfig { scale, ..ScenarioConfig::default() });
    let keys = (scenario.keys.log_key().clone(), scenario.keys.intake()[0].clone());
    let envs = scenario
        .events
        .into_iter()
        .map(|e| (e.envelope.verify().expect("scenario envelopes verify"), e.time_ms))
        .collect();
    (envs, keys)
}

/// RSS at the half and at the end of feeding `n` entries, one batch at a time.
fn measure(n: usize, mut feed: impl FnMut(usize, usize)) -> (u64, u64) {
    let mut half = 0;
    let mut start = 0;
    while start < n {
        let end = (start + BATCH).min(n);
        feed(start, end);
        if start < n / 2 && end >= n / 2 {
            half = rss_bytes();
        }
        start = end;
    }
    (half, rss_bytes())
}

/// Wraps envelopes into entries one at a time, as the node would, without keeping them.
struct Chain {
    prev: Hash,
    last_ms: i64,
}

impl Chain {
    fn entry(&mut self, seq: usize, env: &VerifiedEnvelope, ms: i64) -> VerifiedEntry {
        self.last_ms = self.last_ms.max(ms);
        let time = EntryTime::from_unix_ms(self.last_ms).expect("time");
        let e = VerifiedEntry::new(seq as u64, self.prev, time, env.clone()).expect("entry");
        self.prev = e.leaf_hash();
        e
    }
}

/// Gifts of 1 to 500 yuan into `fund`, signed by `intake`, for the `singles` part.
fn gifts(n: usize, fund: &str, intake: &SigningKey) -> Vec<VerifiedEnvelope> {
    (0..n)
        .map(|i| {
            let body = serde_json::json!({"v": 1, "kind": "donation.received", "id": format!("mem-{i}"),
                "at": ledger_node::now_at(), "fund": fund, "amount_fen": 100 + i % 50_000, "channel": "cash"});
            let env = ledger_core::dsse::Envelope::sign(&serde_json::to_vec(&body).expect("json"), &[intake]);
            env.verify().expect("gift verifies")
        })
        .collect()
}

fn run_part(part: &str, scale: u32, clients: usize) {
    let (envs, (log_key, intake)) = envelopes(scale);
    let n = envs.len();
    let dir = tempfile::tempdir().expect("tempdir");
    let (half, end) = match part {
        "node" => {
            let data = DataDir::new(dir.path());
            keys::write_secret(&data.log_key(), &log_key).expect("log key");
            let node = Node::open(Store::open(&data.store()).expect("store"), log_key).expect("node");
            node.clock.set_follow_events(true);
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            let envs: Vec<VerifiedEnvelope> = envs.into_iter().map(|(e, _)| e).collect();
            let r = measure(n, |a, b| {
                rt.block_on(node.append(envs[a..b].to_vec(), true)).expect("append");
            });
            node.shutdown();
            r
        }
        "singles" => {
            // The year's opening events (genesis, keys, funds) as one batch, then gifts.
            let first_gift = envs
                .iter()
                .position(|(e, _)| e.event().kind() == ledger_core::types::Kind::DonationReceived)
                .expect("a gift");
            let fund = match envs[first_gift].0.event() {
                ledger_core::event::Event::DonationReceived(d) => d.fund.as_ref().map(|f| f.to_string()),
                _ => None,
            }
            .expect("the first gift goes to a fund");
            let opening: Vec<VerifiedEnvelope> = envs[..first_gift].iter().map(|(e, _)| e.clone()).collect();
            drop(envs);
            let data = DataDir::new(dir.path());
            keys::write_secret(&data.log_key(), &log_key).expect("log key");
            let node = Node::open(Store::open(&data.store()).expect("store"), log_key).expect("node");
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            node.clock.set_follow_events(true);
            rt.block_on(node.append(opening, true)).expect("opening events");
            node.clock.set_follow_events(false);
            let gifts = std::sync::Arc::new(gifts(n, &fund, &intake));
            let r = measure(n, |a, b| {
                // 64 clients, each with one append in flight, over this slice.
                rt.block_on(async {
                    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(a));
                    let tasks: Vec<_> = (0..clients)
                        .map(|_| {
                            let (node, gifts, next) = (node.clone(), gifts.clone(), next.clone());
                            tokio::spawn(async move {
                                loop {
                                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    if i >= b {
                                        break;
                                    }
                                    node.append(vec![gifts[i].clone()], false).await.expect("append");
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.expect("client");
                    }
                });
            });
            node.shutdown();
            r
        }
        "state" => {
            let (mut state, mut chain) = (State::new(), Chain { prev: Hash::default(), last_ms: 0 });
            measure(n, |a, b| {
                for (seq, (env, ms)) in envs.iter().enumerate().take(b).skip(a) {
                    state.apply(&chain.entry(seq, env, *ms)).expect("apply");
                }
            })
        }
        "sled" => {
            let store = Store::open(&dir.path().join("store")).expect("store");
            let mut chain = Chain { prev: Hash::default(), last_ms: 0 };
            measure(n, |a, b| {
                for (seq, (env, ms)) in envs.iter().enumerate().take(b).skip(a) {
                    let e = chain.entry(seq, env, *ms);
                    let e = &e;
                    store.put_entry(e.seq(), e.bytes()).expect("put");
                    store.append_leaves(e.seq(), [e.leaf_hash()]).expect("tree");
                }
                store.flush().expect("flush");
            })
        }
        other => panic!("unknown part {other}"),
    };
    let per_entry = (end.saturating_sub(half)) as f64 / (n - n / 2) as f64;
    println!(
        "{part:>6}: {n} entries, RSS {} MiB at half, {} MiB at end: {per_entry:.0} B per entry in the second half",
        half >> 20,
        end >> 20
    );
}

fn main() {
    let scale: u32 = arg("--scale").and_then(|s| s.parse().ok()).unwrap_or(2);
    let clients: usize = arg("--clients").and_then(|s| s.parse().ok()).unwrap_or(CLIENTS);
    if let Some(part) = arg("--part") {
        run_part(&part, scale, clients);
        return;
    }
    for part in ["state", "sled", "node", "singles"] {
        let status = Command::new(std::env::current_exe().expect("exe"))
            .args(["--part", part, "--scale", &scale.to_string(), "--clients", &clients.to_string()])
            .status()
            .expect("run part");
        assert!(status.success(), "part {part} failed");
    }
}
