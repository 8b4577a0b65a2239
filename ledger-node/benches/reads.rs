//! Reads of a big log through the real HTTP server on loopback, and whether appends slow down as
//! the log grows. Issue 7's rows: inclusion proof / receipt with 32 concurrent clients, donation
//! trace p99, and the append rate at the end of the log against the rate at 10,000 entries.
//!
//! The log is the demo county year at `--scale N` (2 ≈ 146,000 entries; 14 ≈ 1,020,000),
//! appended in batches of 1,000 through `Node::append` (the sequencer's whole path: rules, sled
//! writes, tree hashes, checkpoint, flush + fsync; signatures are checked before, as the API does
//! in parallel). Two limits are measured in the same run: sled's raw random point reads (same
//! number of threads), and the HTTP floor — the cheapest answer of the same server to the same
//! clients, which on two shared cores is what bounds every read: clients and server share them.
//!
//!     cargo bench -p ledger-node --bench reads [-- --scale N] [--seconds S]

use ledger_core::dsse::VerifiedEnvelope;
use ledger_core::scenario::{generate, ScenarioConfig};
use ledger_core::types::Kind;
use ledger_node::{api, keys, node::Node, store::Store, DataDir};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 32;
const BATCH: usize = 1000;
/// The append rate is compared over this many entries at 10,000 and at the end.
const RATE_WINDOW_ENTRIES: usize = 10_000;

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Small deterministic generator for picking ids (no clock, no global state).
struct Pick(u64);

impl Pick {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

/// `CLIENTS` threads for `seconds`, each repeating `one(thread, pick)`; rate and latencies.
fn drive(seconds: f64, one: impl Fn(&mut Pick) -> bool + Sync) -> (f64, f64, f64, u64) {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|t| {
                let one = &one;
                scope.spawn(move || {
                    let mut pick = Pick(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1));
                    let (mut lat, mut errors) = (Vec::new(), 0);
                    while Instant::now() < deadline {
                        let t0 = Instant::now();
                        if one(&mut pick) {
                            lat.push(t0.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                    (lat, errors)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("client")).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let errors = results.iter().map(|r| r.1).sum();
    let mut all: Vec<Duration> = results.into_iter().flat_map(|r| r.0).collect();
    all.sort();
    (all.len() as f64 / elapsed, percentile(&all, 0.5), percentile(&all, 0.99), errors)
}

fn get(agent: &ureq::Agent, url: &str) -> bool {
    match agent.get(url).call() {
        Ok(r) => r.into_string().is_ok(),
        Err(_) => false,
    }
}

fn main() {
    let scale: u32 = arg("--scale", 2);
    let seconds: f64 = arg("--seconds", 5.0);
    let scenario = generate(&ScenarioConfig { scale, ..ScenarioConfig::default() });
    let log_key = scenario.keys.log_key().clone();
    let donations: Vec<String> =
        scenario.events.iter().filter(|e| e.kind == Kind::DonationReceived).map(|e| e.id.clone()).collect();
    let envs: Vec<VerifiedEnvelope> = scenario
        .events
        .into_iter()
        .map(|e| e.envelope.verify().expect("scenario envelopes verify"))
        .collect();
    let n = envs.len();

    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataDir::new(dir.path());
    keys::write_secret(&data.log_key(), &log_key).expect("log key");
    let node = Node::open(Store::open(&data.store()).expect("store"), log_key).expect("node");
    node.clock.set_follow_events(true);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut windows = Vec::new();
    let load_started = Instant::now();
    for (i, chunk) in envs.chunks(BATCH).enumerate() {
        let start = i * BATCH;
        let t0 = Instant::now();
        rt.block_on(node.append(chunk.to_vec(), true)).expect("append");
        windows.push((start, chunk.len(), t0.elapsed()));
    }
    let load_s = load_started.elapsed().as_secs_f64();
    drop(envs);
    let rate_over = |from: usize| {
        let (count, time) = windows
            .iter()
            .filter(|(s, _, _)| *s >= from && *s < from + RATE_WINDOW_ENTRIES)
            .fold((0usize, Duration::ZERO), |(c, t), (_, len, d)| (c + len, t + *d));
        count as f64 / time.as_secs_f64()
    };
    let at_10k = rate_over(10_000);
    let at_end = rate_over(n.saturating_sub(RATE_WINDOW_ENTRIES));

    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server_node = Arc::clone(&node);
    rt.spawn(async move { axum::serve(listener, api::app(server_node)).await });

    // The machine's limit for these reads: random entry gets from sled, same threads.
    let store = Store::open(&dir.path().join("raw-read-store")).expect("store");
    for seq in 0..n as u64 {
        store.put_entry(seq, &[0u8; 700]).expect("put");
    }
    let (raw_gets, _, _, _) = drive(seconds, |p| store.entry(p.below(n) as u64).ok().flatten().is_some());

    let agent = || ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
    let agents: Vec<ureq::Agent> = (0..CLIENTS).map(|_| agent()).collect();
    let one_agent = |p: &mut Pick| agents[p.below(CLIENTS)].clone();
    // The HTTP floor: the cheapest answer the server gives, through the same clients.
    let floor = drive(seconds, |p| get(&one_agent(p), &format!("{url}/v1/log-key")));
    let receipt = drive(seconds, |p| {
        let id = &donations[p.below(donations.len())];
        get(&one_agent(p), &format!("{url}/v1/donations/{id}/receipt"))
    });
    let proof = drive(seconds, |p| {
        get(&one_agent(p), &format!("{url}/v1/proof/inclusion?seq={}&size={n}", p.below(n)))
    });
    let trace = drive(seconds, |p| {
        let id = &donations[p.below(donations.len())];
        get(&one_agent(p), &format!("{url}/v1/donations/{id}"))
    });
    node.shutdown();

    println!("log: {n} entries (scale {scale}), loaded through Node::append in {load_s:.1} s");
    println!("raw sled random gets, {CLIENTS} threads: {raw_gets:.0}/s");
    println!("| figure | per second | p50 ms | p99 ms | errors | ratio to the HTTP floor |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, (rate, p50, p99, errors)) in [
        ("HTTP floor: GET /v1/log-key, 32 clients", floor),
        ("receipt, 32 clients", receipt),
        ("inclusion proof, 32 clients", proof),
        ("donation trace, 32 clients", trace),
    ] {
        println!("| {name} | {rate:.0} | {p50:.2} | {p99:.2} | {errors} | {:.2} |", rate / floor.0);
    }
    println!(
        "append rate (batches of {BATCH}, sequencer path): {at_10k:.0}/s at 10,000 entries, {at_end:.0}/s at {n}: ratio {:.2}",
        at_end / at_10k
    );
}
