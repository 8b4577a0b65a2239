//! Reads of a big log through the real HTTP server on loopback, and whether appends slow down as
//! the log grows. Issue 7's rows: inclusion proof / receipt with 32 concurrent clients, donation
//! trace p99, and the append rate at the end of the log against the rate at 10,000 entries.
//!
//! The log is the demo county year at `--scale N` (2 ≈ 146,000 entries; 14 ≈ 1,020,000),
//! appended in batches of 1,000 through `Node::append` (the sequencer's whole path: rules, sled
//! writes, tree hashes, checkpoint, flush + fsync; signatures are checked before, as the API does
//! in parallel). The node is then served by `api::app` on a loopback socket, with its real sled
//! store, and 32 HTTP/1.1 keep-alive connections ask it for each figure in turn.
//!
//! The append rate is compared over two windows of 10,000 entries: entries 10,000.. of a second,
//! small log of the same history, and the big log's last 10,000, appended batch by batch in turn
//! (ABBA), so both windows see the machine at the same speed. The same windows timed during the
//! load, timed apart (20 s apart at `--scale 14`), are printed beside them.
//!
//! Three limits are measured in the same run: sled's raw random point reads (32 threads); the
//! machine's HTTP limit, the same client against a bare axum server on the same runtime that
//! answers a constant of the log key's length with no layers; and the node's HTTP floor, its
//! cheapest answer (`GET /v1/log-key`) through all of its layers. Clients and server share the
//! two cores, so the ratios are what to compare between runs; the CPU the clients used, and the
//! CPU the rest of the process (the server) used per answer, are printed beside each figure.
//!
//! The client is hyper's HTTP/1.1 connection, one per simulated client, on `--client-threads`
//! current-thread runtimes (default 1): a blocking client needs an OS thread per connection and
//! spends the cores on switching between them. Every answer must be status 200 with a body that
//! passes the figure's check; anything else is counted as an error. Before the clock starts, a
//! sample of proofs and receipts is checked against the signed checkpoint's root.
//!
//!     cargo bench -p ledger-node --bench reads [-- --scale N] [--seconds S] [--client-threads T]
//!         [--only floor|limit|receipt|proof|trace]   (one figure, for `perf record -p`)
//!         [--cache-mb M]   (sled's cache bound, as `serve --cache-mb`)

mod common;

use axum::body::Bytes;
use common::{connect, cpu_seconds, process_cpu_seconds, thread_cpu_seconds};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use ledger_core::checkpoint::claimed_checkpoint;
use ledger_core::dsse::VerifiedEnvelope;
use ledger_core::encoding::{b64_decode_canonical, hash_from_b64, hash_from_hex};
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::merkle::check_record;
use ledger_core::scenario::{generate, ScenarioConfig};
use ledger_core::types::Kind;
use ledger_node::{api, keys, node::Node, store::Store, DataDir};
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const CLIENTS: usize = 32;
const BATCH: usize = 1000;
/// The append rate is compared over this many entries at 10,000 and at the end.
const RATE_WINDOW_ENTRIES: usize = 10_000;
/// Proofs and receipts checked against the checkpoint before the clock starts.
const CHECKED_SAMPLE: usize = 200;

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

/// One batch appended: its entries, wall-clock time and the process's CPU time.
#[derive(Clone, Copy)]
struct BatchTime {
    len: usize,
    wall: Duration,
    cpu: f64,
    /// Of `wall`, the time sled's flush and fsync took.
    flush: f64,
}

/// Appends per second of a run of batches: by the wall clock, per CPU second of the process
/// (which other load on the machine hardly moves), and of the median batch (which a stall in one
/// batch does not move: a sled page split, a rehash of one of the projection's tables).
struct Rates {
    wall: f64,
    cpu: f64,
    median: f64,
    /// Appends per second of the wall clock outside sled's flush and fsync.
    outside_flush: f64,
}

impl Rates {
    fn of(window: &[BatchTime]) -> Rates {
        let count = window.iter().map(|b| b.len).sum::<usize>() as f64;
        let mut per_batch: Vec<f64> = window.iter().map(|b| b.len as f64 / b.wall.as_secs_f64()).collect();
        per_batch.sort_by(f64::total_cmp);
        Rates {
            wall: count / window.iter().map(|b| b.wall.as_secs_f64()).sum::<f64>(),
            cpu: count / window.iter().map(|b| b.cpu).sum::<f64>(),
            median: per_batch.get(per_batch.len() / 2).copied().unwrap_or(f64::NAN),
            outside_flush: count / window.iter().map(|b| b.wall.as_secs_f64() - b.flush).sum::<f64>(),
        }
    }
}

/// `envs` in batches of `BATCH`, in order.
fn batches(envs: Vec<VerifiedEnvelope>) -> Vec<Vec<VerifiedEnvelope>> {
    let mut envs = envs.into_iter().peekable();
    let mut out = Vec::new();
    while envs.peek().is_some() {
        out.push(envs.by_ref().take(BATCH).collect());
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

struct Figure {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    /// Cores the client threads used on average while driving.
    client_cores: f64,
    /// CPU the rest of the process (the server) used per answer, in microseconds: unlike the
    /// rate, other load on the machine hardly moves it.
    server_us: f64,
}

/// One simulated client: its own keep-alive connection, one request at a time until `deadline`.
async fn client(
    addr: SocketAddr,
    mut sender: Option<SendRequest<Empty<Bytes>>>,
    seed: u64,
    deadline: Instant,
    path: &(impl Fn(&mut Pick) -> String + Sync),
    check: &(impl Fn(&[u8]) -> bool + Sync),
) -> (Vec<Duration>, u64) {
    let mut pick = Pick(0x9e37_79b9_7f4a_7c15 ^ seed);
    let (mut latencies, mut errors) = (Vec::with_capacity(1 << 16), 0u64);
    while Instant::now() < deadline {
        let t0 = Instant::now();
        let Some(s) = sender.as_mut() else {
            errors += 1;
            sender = connect(addr).await;
            continue;
        };
        let request = hyper::Request::get(path(&mut pick))
            .header(hyper::header::HOST, "127.0.0.1")
            .body(Empty::new())
            .expect("a GET request");
        let ok = match s.send_request(request).await {
            Ok(response) => {
                let status_ok = response.status() == hyper::StatusCode::OK;
                match response.into_body().collect().await {
                    Ok(body) => status_ok && check(&body.to_bytes()),
                    Err(_) => false,
                }
            }
            Err(_) => false,
        };
        if ok {
            latencies.push(t0.elapsed());
        } else {
            errors += 1;
            // The server may have closed the connection: the next request opens a new one.
            sender = None;
        }
    }
    (latencies, errors)
}

/// `CLIENTS` connections spread over `threads` current-thread runtimes, for `seconds`, each
/// asking for `path(pick)` and checking the body with `check`.
fn drive(
    addr: SocketAddr,
    seconds: f64,
    threads: usize,
    path: impl Fn(&mut Pick) -> String + Sync,
    check: impl Fn(&[u8]) -> bool + Sync,
) -> Figure {
    let threads = threads.clamp(1, CLIENTS);
    // On stderr, for `perf record -p` to start at.
    eprintln!("driving {} for {seconds} s", path(&mut Pick(1)));
    let ready = Barrier::new(threads);
    let process_cpu0 = cpu_seconds("/proc/self/stat");
    let results: Vec<(Vec<Duration>, u64, f64, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (path, check, ready) = (&path, &check, &ready);
                scope.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
                    let mine: Vec<usize> = (0..CLIENTS).filter(|c| c % threads == t).collect();
                    // Connections are opened before the clock starts.
                    let senders: Vec<_> = rt.block_on(async {
                        let mut senders = Vec::new();
                        for _ in &mine {
                            senders.push(connect(addr).await);
                        }
                        senders
                    });
                    ready.wait();
                    let (cpu0, started) = (thread_cpu_seconds(), Instant::now());
                    let deadline = started + Duration::from_secs_f64(seconds);
                    let runs = rt.block_on(futures_util::future::join_all(
                        mine.iter()
                            .zip(senders)
                            .map(|(&c, sender)| client(addr, sender, c as u64 + 1, deadline, path, check)),
                    ));
                    let (elapsed, cpu) = (started.elapsed().as_secs_f64(), thread_cpu_seconds() - cpu0);
                    let errors = runs.iter().map(|r| r.1).sum();
                    (runs.into_iter().flat_map(|r| r.0).collect(), errors, elapsed, cpu)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("client thread")).collect()
    });
    let process_cpu = cpu_seconds("/proc/self/stat") - process_cpu0;
    let elapsed = results.iter().map(|r| r.2).fold(0.0, f64::max);
    let client_cpu = results.iter().map(|r| r.3).sum::<f64>();
    let client_cores = client_cpu / elapsed;
    let errors = results.iter().map(|r| r.1).sum();
    let mut all: Vec<Duration> = results.into_iter().flat_map(|r| r.0).collect();
    all.sort();
    Figure {
        server_us: (process_cpu - client_cpu) / all.len() as f64 * 1e6,
        rate: all.len() as f64 / elapsed,
        p50_ms: percentile(&all, 0.5),
        p99_ms: percentile(&all, 0.99),
        errors,
        client_cores,
    }
}

fn contains(body: &[u8], needle: &[u8]) -> bool {
    body.windows(needle.len()).any(|w| w == needle)
}

/// The JSON of `url`, read with a plain blocking client (outside the timed runs).
fn get_json(url: &str) -> serde_json::Value {
    ureq::get(url).call().expect("GET").into_json().expect("JSON")
}

fn hashes_b64(v: &serde_json::Value) -> Vec<Hash> {
    v.as_array()
        .expect("proof array")
        .iter()
        .map(|h| hash_from_b64(h.as_str().expect("str")).expect("b64"))
        .collect()
}

/// Checks proofs and receipts the server gives against the root of the checkpoint at `n`.
fn check_sample(url: &str, n: usize, root: Hash, donations: &[String]) {
    let mut pick = Pick(7);
    for _ in 0..CHECKED_SAMPLE {
        let seq = pick.below(n) as u64;
        let v = get_json(&format!("{url}/v1/proof/inclusion?seq={seq}&size={n}"));
        let leaf = hash_from_hex(v["leaf_hash"].as_str().expect("leaf_hash")).expect("hex");
        check_record(&hashes_b64(&v["proof"]), n as u64, root, seq, leaf).expect("inclusion proof checks");
        let id = &donations[pick.below(donations.len())];
        let r = get_json(&format!("{url}/v1/donations/{id}/receipt"));
        let entry = b64_decode_canonical(r["entry_b64"].as_str().expect("entry_b64")).expect("base64");
        let seq = r["seq"].as_u64().expect("seq");
        check_record(&hashes_b64(&r["proof"]), n as u64, root, seq, leaf_hash(&entry))
            .expect("receipt checks");
    }
}

fn main() {
    let scale: u32 = arg("--scale", 2);
    let seconds: f64 = arg("--seconds", 5.0);
    let client_threads: usize = arg("--client-threads", 1);
    let only: String = arg("--only", String::new());
    let cache_mb: u64 = arg("--cache-mb", ledger_node::limits::SLED_CACHE_MB_DEFAULT);
    let wanted = |name: &str| only.is_empty() || only == name;
    let scenario = generate(&ScenarioConfig { scale, ..ScenarioConfig::default() });
    let log_key = scenario.keys.log_key().clone();
    let donations: Vec<String> =
        scenario.events.iter().filter(|e| e.kind == Kind::DonationReceived).map(|e| e.id.clone()).collect();
    let mut envs: Vec<VerifiedEnvelope> = scenario
        .events
        .into_iter()
        .map(|e| e.envelope.verify().expect("scenario envelopes verify"))
        .collect();
    let n = envs.len();

    assert!(n >= 3 * RATE_WINDOW_ENTRIES, "--scale too small for the append-rate windows");
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let open_node = |path: &std::path::Path| {
        let data = DataDir::new(path);
        keys::write_secret(&data.log_key(), &log_key).expect("log key");
        let store = Store::open_with_cache(&data.store(), cache_mb).expect("store");
        let node = Node::open(store, log_key.clone()).expect("node");
        node.clock.set_follow_events(true);
        node
    };
    // The batches are moved into the node, as the API does; the small log's copies are made
    // here, before any clock runs.
    let mut small_envs = envs[..2 * RATE_WINDOW_ENTRIES].to_vec();
    let (small_tail, big_tail) = (
        batches(small_envs.split_off(RATE_WINDOW_ENTRIES)),
        batches(envs.split_off(n - RATE_WINDOW_ENTRIES)),
    );
    let append = |node: &Node, batch: Vec<VerifiedEnvelope>| {
        let len = batch.len();
        let (t0, cpu0, flush0) = (Instant::now(), process_cpu_seconds(), node.metrics.flush_seconds_total());
        rt.block_on(node.append(batch, true)).expect("append");
        BatchTime {
            len,
            wall: t0.elapsed(),
            cpu: process_cpu_seconds() - cpu0,
            flush: node.metrics.flush_seconds_total() - flush0,
        }
    };
    // The big log, all but its last window.
    let node = open_node(dir.path());
    let mut load_batches = Vec::new();
    // On stderr, for `perf record -p` to start at.
    eprintln!("loading {n} entries");
    let load_started = Instant::now();
    for (i, batch) in batches(envs).into_iter().enumerate() {
        load_batches.push((i * BATCH, append(&node, batch)));
    }
    let load_s = load_started.elapsed().as_secs_f64();
    // A second log, of the same history's first 10,000 entries, in a directory of its own.
    let small_dir = tempfile::tempdir().expect("tempdir");
    let small = open_node(small_dir.path());
    for batch in batches(small_envs) {
        append(&small, batch);
    }
    // The two windows measured together, batch by batch, the order swapped every other batch
    // (ABBA): the small log's entries 10,000.. and the big log's last ones. This machine's speed
    // moves by up to a third within minutes, so two windows timed 20 s apart compare the machine
    // as much as the log; interleaved, both see the same machine.
    let (mut at_small, mut at_big) = (Vec::new(), Vec::new());
    for (i, (s, b)) in small_tail.into_iter().zip(big_tail).enumerate() {
        if i % 2 == 0 {
            at_small.push(append(&small, s));
            at_big.push(append(&node, b));
        } else {
            at_big.push(append(&node, b));
            at_small.push(append(&small, s));
        }
    }
    small.shutdown();
    // On stderr at once, so a profiler can be attached for the reads alone.
    eprintln!("loaded {n} entries in {load_s:.1} s; reading");
    // During the load: the window at 10,000 entries against the one that ends the load.
    let load_window = |from: usize| -> Vec<BatchTime> {
        load_batches
            .iter()
            .filter(|(s, _)| *s >= from && *s < from + RATE_WINDOW_ENTRIES)
            .map(|(_, b)| *b)
            .collect()
    };
    let during_load =
        (Rates::of(&load_window(RATE_WINDOW_ENTRIES)), Rates::of(&load_window(n - 2 * RATE_WINDOW_ENTRIES)));
    let interleaved = (Rates::of(&at_small), Rates::of(&at_big));

    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let url = format!("http://{addr}");
    let server_node = Arc::clone(&node);
    rt.spawn(async move { axum::serve(listener, api::app(server_node)).await });

    // The machine's HTTP limit: a bare server on the same runtime with a constant answer of the
    // same length as the log key, no layers, no state.
    let verifier_key =
        ureq::get(&format!("{url}/v1/log-key")).call().expect("log key").into_string().expect("text");
    let constant: &'static str = Box::leak("x".repeat(verifier_key.len()).into_boxed_str());
    let bare_listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let bare_addr = bare_listener.local_addr().expect("addr");
    let bare = axum::Router::new().route("/", axum::routing::get(move || async move { constant }));
    rt.spawn(async move { axum::serve(bare_listener, bare).await });

    let (size, note) = node.checkpoint_note().expect("a checkpoint");
    assert_eq!(size, n as u64, "the checkpoint covers the whole log");
    let root = claimed_checkpoint(&note).expect("checkpoint parses").root;
    check_sample(&url, n, root, &donations);

    // The machine's limit for these reads: random entry gets from sled, 32 threads.
    let store = Store::open(&dir.path().join("raw-read-store")).expect("store");
    let mut raw_gets = f64::NAN;
    if only.is_empty() {
        for seq in 0..n as u64 {
            store.put_entry(seq, &[0u8; 700]).expect("put");
        }
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let counts: Vec<u64> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..CLIENTS as u64)
                .map(|t| {
                    let store = &store;
                    scope.spawn(move || {
                        let (mut pick, mut count) = (Pick(t + 1), 0u64);
                        while Instant::now() < deadline {
                            count += u64::from(store.entry(pick.below(n) as u64).ok().flatten().is_some());
                        }
                        count
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("reader")).collect()
        });
        raw_gets = counts.iter().sum::<u64>() as f64 / seconds;
    }

    let t = client_threads;
    let mut figures: Vec<(&str, Figure)> = Vec::new();
    if wanted("limit") {
        let key = constant.as_bytes();
        let limit = drive(bare_addr, seconds, t, |_| "/".to_string(), |b| b == key);
        figures.push(("HTTP limit: bare axum server, constant answer", limit));
    }
    if wanted("floor") {
        let key = verifier_key.as_bytes();
        let floor = drive(addr, seconds, t, |_| "/v1/log-key".to_string(), |b| b == key);
        figures.push(("HTTP floor: GET /v1/log-key", floor));
    }
    if wanted("receipt") {
        let receipt = drive(
            addr,
            seconds,
            t,
            |p| format!("/v1/donations/{}/receipt", donations[p.below(donations.len())]),
            |b| contains(b, b"\"entry_b64\":\"") && contains(b, b"\"proof\":[\""),
        );
        figures.push(("receipt (/v1/donations/{id}/receipt)", receipt));
    }
    if wanted("proof") {
        let proof = drive(
            addr,
            seconds,
            t,
            |p| format!("/v1/proof/inclusion?seq={}&size={n}", p.below(n)),
            |b| contains(b, b"\"leaf_hash\":\"") && contains(b, b"\"proof\":[\""),
        );
        figures.push(("inclusion proof", proof));
    }
    if wanted("trace") {
        let trace = drive(
            addr,
            seconds,
            t,
            |p| format!("/v1/donations/{}", donations[p.below(donations.len())]),
            |b| contains(b, b"\"donation\":{") && contains(b, b"\"trace\":["),
        );
        figures.push(("donation trace (/v1/donations/{id})", trace));
    }
    node.shutdown();

    println!("log: {n} entries (scale {scale}), loaded through Node::append in {load_s:.1} s");
    println!("raw sled random gets, {CLIENTS} threads: {raw_gets:.0}/s");
    println!("{CHECKED_SAMPLE} inclusion proofs and {CHECKED_SAMPLE} receipts checked against the checkpoint's root");
    println!(
        "{CLIENTS} HTTP/1.1 keep-alive connections on {} client thread(s), {seconds} s per figure",
        t.clamp(1, CLIENTS)
    );
    let base = |name: &str| figures.iter().find(|(n, _)| n.starts_with(name)).map(|(_, f)| f.rate);
    let (limit, floor) = (base("HTTP limit"), base("HTTP floor"));
    println!(
        "| figure | per second | p50 ms | p99 ms | errors | client cores | server CPU µs per answer | ratio to the limit | ratio to the floor |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, f) in &figures {
        let ratio = |b: Option<f64>| b.map_or("".to_string(), |b| format!("{:.2}", f.rate / b));
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {} | {:.2} | {:.1} | {} | {} |",
            f.rate,
            f.p50_ms,
            f.p99_ms,
            f.errors,
            f.client_cores,
            f.server_us,
            ratio(limit),
            ratio(floor)
        );
    }
    println!("append rate (batches of {BATCH}, sequencer path), {RATE_WINDOW_ENTRIES} entries at 10,000 and at the end ({n}):");
    println!("| measure | at 10,000 | at {n} | ratio |");
    println!("|---|---:|---:|---:|");
    for (name, (small, big)) in
        [("interleaved", &interleaved), ("during the load, timed apart", &during_load)]
    {
        for (what, a, b) in [
            ("appends per second", small.wall, big.wall),
            ("appends per CPU second of the process", small.cpu, big.cpu),
            ("median batch, appends per second", small.median, big.median),
            ("appends per second outside sled's flush + fsync", small.outside_flush, big.outside_flush),
        ] {
            println!("| {name}: {what} | {a:.0} | {b:.0} | {:.2} |", b / a);
        }
    }
}
