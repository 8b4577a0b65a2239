//! `url`: a node on the loopback, served by a tiny HTTP server of the test's own, so the
//! verifier is tested without `ledger-node`. Every loop here is bounded in time.

use crate::builder::{small_log, Builder};
use crate::support::{verify, Run};
use ledger_core::entry::VerifiedEntry;
use ledger_core::rules::State;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a test server may live, whatever happens.
const SERVER_LIFETIME: Duration = Duration::from_secs(120);

/// What the fake node serves: entries, its checkpoint at their count, balances at that size.
struct Served {
    lines: Vec<Vec<u8>>,
    checkpoint: String,
    balances: String,
}

fn balances_at(lines: &[Vec<u8>]) -> String {
    let mut state = State::new();
    for l in lines {
        let e = VerifiedEntry::parse_and_verify(l).expect("entry");
        state.apply(&e).expect("apply");
    }
    serde_json::to_string(&state.balances()).expect("json")
}

impl Served {
    fn of(b: &Builder, size: usize) -> Served {
        let lines = b.lines[..size].to_vec();
        Served { balances: balances_at(&lines), checkpoint: b.checkpoint(size as u64), lines }
    }
}

struct Node {
    base: String,
    served: Arc<Mutex<Served>>,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn answer(stream: &mut TcpStream, served: &Served, path: &str) {
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let param = |name: &str| -> Option<usize> {
        query.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
    };
    let (status, body): (&str, Vec<u8>) = match route {
        "/checkpoint" => ("200 OK", served.checkpoint.clone().into_bytes()),
        "/v1/balances" => ("200 OK", served.balances.clone().into_bytes()),
        "/v1/entries" => {
            let start = param("start").unwrap_or(0).min(served.lines.len());
            let end = (start + param("limit").unwrap_or(1000).min(1000)).min(served.lines.len());
            ("200 OK", crate::builder::export_of(&served.lines[start..end]))
        }
        _ => ("404 Not Found", b"{\"error\":\"not_found\"}".to_vec()),
    };
    let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

fn start(served: Served) -> Node {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.set_nonblocking(true).expect("nonblocking");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let node = Node {
        base,
        served: Arc::new(Mutex::new(served)),
        requests: Arc::new(Mutex::new(Vec::new())),
        stop: Arc::new(AtomicBool::new(false)),
    };
    let (served, requests, stop) = (node.served.clone(), node.requests.clone(), node.stop.clone());
    std::thread::spawn(move || {
        let born = Instant::now();
        while !stop.load(Ordering::Relaxed) && born.elapsed() < SERVER_LIFETIME {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&head);
            let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
            requests.lock().expect("lock").push(path.clone());
            let served = served.lock().expect("lock");
            answer(&mut stream, &served, &path);
        }
    });
    node
}

fn url(node: &Node, vkey: &str, extra: &[&str]) -> Run {
    let mut args =
        vec!["url".to_string(), node.base.clone(), "--log-key".into(), vkey.into(), "--json".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    verify(&args)
}

#[test]
fn a_node_is_verified_with_its_checkpoint_and_balances() {
    let b = small_log();
    let node = start(Served::of(&b, b.lines.len()));
    let run = url(&node, &b.log_vkey(), &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let r = run.json();
    assert_eq!(r["entries"], b.size());
    assert_eq!(r["checkpoints"][0]["status"], "ok");
    assert_eq!(r["balances_check"]["status"], "equal");
    assert_eq!(r["balances"], serde_json::to_value(b.state.balances()).expect("json"));
}

#[test]
fn a_state_dir_resumes_without_downloading_again() {
    let b = small_log();
    let node = start(Served::of(&b, 30));
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().to_str().expect("p");
    let run = url(&node, &b.log_vkey(), &["--state-dir", state]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.json()["entries"], 30);
    // The node grows; the re-run asks only for what is new.
    *node.served.lock().expect("lock") = Served::of(&b, b.lines.len());
    node.requests.lock().expect("lock").clear();
    let run = url(&node, &b.log_vkey(), &["--state-dir", state]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let r = run.json();
    assert_eq!(r["entries"], b.size());
    assert!(r["warnings"].to_string().contains("resumed"), "{}", r["warnings"]);
    assert_eq!(
        r["checkpoints"].as_array().map(Vec::len),
        Some(2),
        "the earlier run's checkpoint is checked too"
    );
    let requests = node.requests.lock().expect("lock").clone();
    let entry_pages: Vec<&String> = requests.iter().filter(|p| p.starts_with("/v1/entries")).collect();
    assert!(!entry_pages.is_empty());
    assert!(entry_pages.iter().all(|p| p.contains("start=30")), "{entry_pages:?}");
    // Nothing new: nothing downloaded.
    node.requests.lock().expect("lock").clear();
    let run = url(&node, &b.log_vkey(), &["--state-dir", state, "--reverify"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(node.requests.lock().expect("lock").iter().all(|p| !p.starts_with("/v1/entries")));
}

#[test]
fn a_node_serving_a_tampered_entry_or_another_history_is_caught() {
    let b = small_log();
    let mut served = Served::of(&b, b.lines.len());
    let text = String::from_utf8(served.lines[17].clone()).expect("utf8");
    served.lines[17] = text.replacen("\"seq\":17", "\"seq\":18", 1).into_bytes();
    let node = start(served);
    let run = url(&node, &b.log_vkey(), &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.json()["violation"]["seq"], 17);

    // First run sees 30 entries; then the node rewrites entry 12 and re-signs its checkpoint.
    let node = start(Served::of(&b, 30));
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().to_str().expect("p");
    assert_eq!(url(&node, &b.log_vkey(), &["--state-dir", state]).code, 0);
    // Another history under the same log key: entry 12's time moved by a millisecond and the
    // chain rebuilt after it, so it is internally valid.
    let mut events = b.events.clone();
    events[12].time_ms += 1;
    let mut forked = Builder::new(0);
    forked.lines = crate::builder::rechain(&events);
    // Served only up to before the audit's seed size: past it, the sample drawn from the
    // first history's root would no longer match (which is the sampling's whole point).
    forked.lines.truncate(40);
    let fork_served = Served {
        checkpoint: forked.checkpoint(forked.lines.len() as u64),
        balances: balances_at(&forked.lines),
        lines: forked.lines.clone(),
    };
    *node.served.lock().expect("lock") = fork_served;
    let run = url(&node, &b.log_vkey(), &["--state-dir", state]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let r = run.json();
    assert_eq!(r["violation"]["seq"], 30, "{:#}", r["violation"]);
    assert_eq!(r["violation"]["rule"], "prev");
}
