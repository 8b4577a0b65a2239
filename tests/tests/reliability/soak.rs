//! Soak: the real node on loopback for `SOAK_SECONDS` (15 in the test suite; `scripts/soak.sh`
//! runs 600): two thirds of the time mixed reads and writes, the last third reads only. No
//! error may be answered. Memory may grow with the log while it grows (the projection, the
//! lookup indexes and sled's page cache of up to 256 MB all do), within a bound per entry; once
//! the log stops growing, reads alone must leave memory flat: a leak per request shows there.

use crate::support::{first_envelopes, gift, Http, Ledger};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tests::process::NodeProcess;

const WRITERS: usize = 4;
const READERS: usize = 4;
/// Resident memory a node may add per appended entry after warm-up, while writing: two copies
/// of the projection (about 1 KB per entry) plus sled's page cache, which keeps several
/// versions of hot pages (measured about 5 KB per small entry).
const RSS_BYTES_PER_ENTRY_MAX: u64 = 16 * 1024;
/// Growth allowed over the read-only phase (allocator noise, connection buffers).
const READ_PHASE_RSS_GROWTH_MAX: u64 = 16 * 1024 * 1024;

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[test]
fn mixed_reads_and_writes_without_errors_or_leaks() {
    let seconds: u64 = std::env::var("SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(15);
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::init(&dir.path().join("ledger"), dir.path());
    let node = NodeProcess::serve(&ledger.data, &ledger.stderr_log).expect("node starts");
    let http = Http::new();
    for env in first_envelopes() {
        assert_eq!(http.post_envelope(&node.url, &env).expect("answer").0, 201);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stop_writing = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let samples: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for w in 0..WRITERS {
            let (stop, appended, errors, http, url) = (
                Arc::clone(&stop_writing),
                Arc::clone(&appended),
                Arc::clone(&errors),
                http.clone(),
                node.url.clone(),
            );
            scope.spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let env = gift(&format!("soak-{w}-{i}"), 100 + i % 500, "");
                    match http.post_envelope(&url, &env) {
                        Ok((201, _)) => {
                            appended.fetch_add(1, Ordering::Relaxed);
                        }
                        other => errors.lock().expect("lock").push(format!("append: {other:?}")),
                    }
                    i += 1;
                }
            });
        }
        for r in 0..READERS {
            let (stop, reads, errors, http, url, appended) = (
                Arc::clone(&stop),
                Arc::clone(&reads),
                Arc::clone(&errors),
                http.clone(),
                node.url.clone(),
                Arc::clone(&appended),
            );
            scope.spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let n = appended.load(Ordering::Relaxed);
                    let path = match (i + r as u64) % 5 {
                        0 => "/v1/balances".to_string(),
                        1 => "/checkpoint".to_string(),
                        2 => format!("/v1/proof/inclusion?seq={}", 1 + i % (n + 2)),
                        3 => "/v1/entries?start=0&limit=100".to_string(),
                        _ => "/v1/funds/F".to_string(),
                    };
                    match http.get(&format!("{url}{path}")) {
                        Ok((200, _)) => {
                            reads.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok((400, _)) if path.contains("inclusion") => {} // asked past the checkpoint
                        other => errors
                            .lock()
                            .expect("lock")
                            .push(format!("GET {path}: {:?}", other.map(|(s, _)| s))),
                    }
                    i += 1;
                }
            });
        }
        let (stop, stop_writing, samples, appended, pid) = (
            Arc::clone(&stop),
            Arc::clone(&stop_writing),
            Arc::clone(&samples),
            Arc::clone(&appended),
            node.pid(),
        );
        scope.spawn(move || {
            let writing = Duration::from_secs(seconds * 2 / 3);
            while started.elapsed() < Duration::from_secs(seconds) {
                std::thread::sleep(Duration::from_millis(500));
                if started.elapsed() >= writing {
                    stop_writing.store(true, Ordering::Relaxed);
                }
                samples.lock().expect("lock").push((appended.load(Ordering::Relaxed), rss_bytes(pid)));
            }
            stop.store(true, Ordering::Relaxed);
        });
    });
    let errors = errors.lock().expect("lock");
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}\nnode log:\n{}",
        errors.len(),
        errors.first(),
        node.log_tail()
    );
    let samples = samples.lock().expect("lock");
    let (appended, reads) = (appended.load(Ordering::Relaxed), reads.load(Ordering::Relaxed));
    assert!(appended > 100 && reads > 100, "the soak did little: {appended} appends, {reads} reads");
    // Writing: from a sixth of the way in (after warm-up) to the end of writing.
    let last_write =
        samples.iter().rposition(|(e, _)| *e < appended).map_or(0, |i| i + 1).min(samples.len() - 1);
    let (e0, m0) = samples[samples.len() / 6];
    let (e1, m1) = samples[last_write];
    let per_entry = m1.saturating_sub(m0) / (e1 - e0).max(1);
    // Reading only: from the end of writing (plus a second to settle) to the end.
    let settled = (last_write + 2).min(samples.len() - 1);
    let (_, r0) = samples[settled];
    let (_, r1) = *samples.last().expect("samples");
    eprintln!(
        "soak {seconds} s: {appended} appends, {reads} reads; RSS {} → {} MiB while writing ({per_entry} B per entry), {} → {} MiB reading only",
        m0 >> 20, m1 >> 20, r0 >> 20, r1 >> 20
    );
    assert!(
        per_entry <= RSS_BYTES_PER_ENTRY_MAX,
        "memory grew {per_entry} bytes per appended entry while writing"
    );
    assert!(
        r1.saturating_sub(r0) <= READ_PHASE_RSS_GROWTH_MAX,
        "memory grew {} MiB under reads alone",
        (r1 - r0) >> 20
    );
}
