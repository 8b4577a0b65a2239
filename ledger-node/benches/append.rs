//! Durable appends per second through the real HTTP server on loopback, next to the machine's
//! own limit measured in the same run (raw `verify_strict` on one core and on all cores).
//! Envelopes are signed before the clock starts: the clients' signing is not what is measured.
//!
//!     cargo bench -p ledger-node --bench append [-- --events N] [--only single|batch]
//!
//! `--only` runs one of the two append figures (to profile it alone); the raw rates are always
//! measured, first.

mod common;

use axum::body::Bytes;
use common::{connect, cpu_seconds, thread_cpu_seconds, thread_stat_file};
use ed25519_dalek::{Signer, SigningKey};
use futures_util::future::join_all;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use ledger_core::dsse::{key_hex, pae, Envelope, PAYLOAD_TYPE};
use ledger_node::{api, keys, node::Node, store::Store, DataDir};
use rayon::prelude::*;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

const CLIENTS: usize = 64;
const BATCH: usize = 1000;
/// Batch clients at once: with more than one, the next batch is verified on both cores while
/// the sequencer writes the previous one.
const BATCH_CLIENTS: usize = 4;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn now_at() -> String {
    ledger_node::now_at()
}

fn sign(body: serde_json::Value, keys: &[&SigningKey]) -> Envelope {
    Envelope::sign(&serde_json::to_vec(&body).expect("json"), keys)
}

/// Raw `verify_strict` per second on `threads` threads.
fn raw_verify_rate(threads: usize, n: usize) -> f64 {
    let k = key(9);
    let vk = k.verifying_key();
    let msgs: Vec<Vec<u8>> = (0..n).map(|i| pae(PAYLOAD_TYPE, format!("message {i}").as_bytes())).collect();
    let sigs: Vec<_> = msgs.iter().map(|m| k.sign(m)).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
    let started = Instant::now();
    let ok =
        pool.install(|| msgs.par_iter().zip(&sigs).filter(|(m, s)| vk.verify_strict(m, s).is_ok()).count());
    assert_eq!(ok, n);
    n as f64 / started.elapsed().as_secs_f64()
}

struct Bench {
    _dir: tempfile::TempDir,
    addr: SocketAddr,
    node: Arc<Node>,
    intake: SigningKey,
}

fn start() -> Bench {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataDir::new(dir.path());
    keys::write_secret(&data.log_key(), &key(3)).expect("log key");
    let node = Node::open(Store::open(&data.store()).expect("store"), key(3)).expect("node");
    let intake = key(20);
    let setup = vec![
        sign(
            json!({"v":1,"kind":"ledger.genesis","id":"genesis","at":now_at(),"origin":"bench.example/ledger","name":"bench","currency":"CNY","admins":[key_hex(&key(1)).to_hex()],"log_key":key_hex(&key(3)).to_hex(),"policy":{"dual_control_fen":5_000_000u64,"min_audit_permille":100,"max_backdate_days":30}}),
            &[&key(1)],
        ),
        sign(
            json!({"v":1,"kind":"key.granted","id":"g","at":now_at(),"key":key_hex(&intake).to_hex(),"holder":"intake","roles":["intake"]}),
            &[&key(1)],
        ),
        sign(
            json!({"v":1,"kind":"fund.opened","id":"F","at":now_at(),"name":"General","programme":"general","restricted":false,"opening_balance_fen":0}),
            &[&key(1)],
        ),
    ];
    let (tx, rx) = std::sync::mpsc::channel();
    let server_node = Arc::clone(&node);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            for env in setup {
                server_node.append(vec![env.verify().expect("valid")], false).await.expect("setup appends");
            }
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            axum::serve(listener, api::app(server_node)).await.expect("serve");
        });
    });
    let addr = rx.recv().expect("server address");
    Bench { _dir: dir, addr, node, intake }
}

fn donations(intake: &SigningKey, prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .into_par_iter()
        .map(|i| {
            sign(json!({"v":1,"kind":"donation.received","id":format!("{prefix}-{i}"),"at":now_at(),"fund":"F","amount_fen":100 + (i % 50_000) as u64,"channel":"wechat","donor":format!("{:064x}", i)}), &[intake]).to_json()
        })
        .collect()
}

/// One append figure: the rate, and where the CPU went while it ran.
struct Phase {
    per_second: f64,
    /// Cores the whole process (server and clients) used on average.
    cores_used: f64,
    /// CPU per entry, in microseconds: of the sequencer thread, of the rest of the server
    /// (mostly the verification), and of the client threads.
    sequencer_us: f64,
    server_us: f64,
    clients_us: f64,
    /// Entries per group commit, and the wall time of each group's flush + fsync.
    entries_per_group: f64,
    flush_ms: f64,
}

/// Runs `drive`, which appends `n` entries to `node` and returns the CPU seconds its clients
/// used.
fn phase(node: &Node, n: usize, drive: impl FnOnce() -> f64) -> Phase {
    let sequencer = thread_stat_file("sequencer").unwrap_or_default();
    let (process0, sequencer0) = (cpu_seconds("/proc/self/stat"), cpu_seconds(&sequencer));
    let (groups0, flush0) = (node.metrics.group_commits(), node.metrics.flush_seconds_total());
    let started = Instant::now();
    let clients = drive();
    let seconds = started.elapsed().as_secs_f64();
    let process = cpu_seconds("/proc/self/stat") - process0;
    let sequencer = cpu_seconds(&sequencer) - sequencer0;
    let per_entry_us = |cpu: f64| cpu / n as f64 * 1e6;
    let groups = node.metrics.group_commits().saturating_sub(groups0).max(1) as f64;
    Phase {
        per_second: n as f64 / seconds,
        cores_used: process / seconds,
        sequencer_us: per_entry_us(sequencer),
        server_us: per_entry_us(process - sequencer - clients),
        clients_us: per_entry_us(clients),
        entries_per_group: n as f64 / groups,
        flush_ms: (node.metrics.flush_seconds_total() - flush0) / groups * 1e3,
    }
}

/// `clients` keep-alive connections, driven by one current-thread runtime on one thread (the
/// clients cost the two cores little: 64 blocking ureq threads took about 21 µs of CPU per
/// request), POST `bodies` to `path` until none is left, each answered 201. Returns the CPU
/// seconds the client thread used.
fn post_all(addr: SocketAddr, clients: usize, bodies: &[Bytes], path: &str) -> f64 {
    let next = AtomicUsize::new(0);
    let one_client = |sender: Option<SendRequest<Full<Bytes>>>| async {
        let mut sender = sender.expect("connection");
        while let Some(body) = bodies.get(next.fetch_add(1, Ordering::Relaxed)) {
            let request = hyper::Request::post(path)
                .header(hyper::header::HOST, "127.0.0.1")
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(Full::new(body.clone()))
                .expect("a POST request");
            let response = sender.send_request(request).await.expect("post");
            assert_eq!(response.status(), hyper::StatusCode::CREATED);
            response.into_body().collect().await.expect("answer");
        }
    };
    std::thread::scope(|scope| {
        // Named, so `perf report --sort comm` tells the clients from the server.
        let client = std::thread::Builder::new().name("bench-client".into());
        let thread = client.spawn_scoped(scope, || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
            // Connections are opened before the clock's phase counts the client's CPU.
            let senders = rt.block_on(join_all((0..clients).map(|_| connect(addr))));
            let cpu0 = thread_cpu_seconds();
            rt.block_on(join_all(senders.into_iter().map(one_client)));
            thread_cpu_seconds() - cpu0
        });
        thread.expect("client thread").join().expect("client thread")
    })
}

fn single_posts(b: &Bench, n: usize, clients: usize) -> Phase {
    let bodies: Vec<Bytes> = donations(&b.intake, "S", n).into_iter().map(Bytes::from).collect();
    phase(&b.node, n, || post_all(b.addr, clients, &bodies, "/v1/entries"))
}

fn batch_posts(b: &Bench, n: usize) -> Phase {
    let bodies = donations(&b.intake, "B", n);
    let batches: Vec<Bytes> =
        bodies.chunks(BATCH).map(|c| Bytes::from(format!("[{}]", c.join(",")))).collect();
    phase(&b.node, n, || post_all(b.addr, BATCH_CLIENTS, &batches, "/v1/batch"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let events: usize = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).map(String::as_str);
    // `--clients N`: single POSTs from N connections instead of the target's 64, to tell a
    // pipeline short of work from one short of CPU.
    let clients: usize = args
        .iter()
        .position(|a| a == "--clients")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(CLIENTS);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let raw_1 = raw_verify_rate(1, 20_000);
    let raw_before = raw_verify_rate(cores, 40_000);
    let b = start();
    let single = (only != Some("batch")).then(|| single_posts(&b, events, clients));
    let batched = (only != Some("single")).then(|| batch_posts(&b, events));
    // The all-core rate moves by 15% between runs on this machine (other guests, clocks): it is
    // measured before and after the appends, and the ratios are to the mean of the two.
    let raw_after = raw_verify_rate(cores, 40_000);
    let raw_all = (raw_before + raw_after) / 2.0;
    let size = b.node.published.read().map(|p| p.state.size()).unwrap_or(0);
    println!("machine: {cores} cores; log size after the run: {size} entries");
    println!(
        "{:<52} {:>12} {:>10} {:>10} {:>13} {:>10} {:>10} {:>12} {:>9}",
        "figure",
        "per second",
        "ratio",
        "cores used",
        "sequencer µs",
        "server µs",
        "clients µs",
        "per group",
        "flush ms"
    );
    println!("{:<52} {:>12.0} {:>10}", "raw verify_strict, 1 core", raw_1, "");
    println!("{:<52} {:>12.0} {:>10}", format!("raw verify_strict, {cores} cores, before"), raw_before, "");
    println!("{:<52} {:>12.0} {:>10}", format!("raw verify_strict, {cores} cores, after"), raw_after, "");
    println!("{:<52} {:>12.0} {:>10}", format!("raw verify_strict, {cores} cores, mean"), raw_all, "1.00");
    let figures = [
        (format!("durable appends, single POST, {clients} clients"), single),
        (format!("durable appends, /v1/batch of {BATCH}, {BATCH_CLIENTS} clients"), batched),
    ];
    for (figure, phase) in figures {
        if let Some(p) = phase {
            println!(
                "{figure:<52} {:>12.0} {:>10.2} {:>10.2} {:>13.1} {:>10.1} {:>10.1} {:>12.1} {:>9.3}",
                p.per_second,
                p.per_second / raw_all,
                p.cores_used,
                p.sequencer_us,
                p.server_us,
                p.clients_us,
                p.entries_per_group,
                p.flush_ms
            );
        }
    }
    println!("(µs: CPU per entry, of the sequencer thread, of the rest of the server, and of the clients;");
    println!(" per group: entries per group commit; flush ms: wall time of each group's flush + fsync)");
}
