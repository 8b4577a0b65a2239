//! A tampered log is caught by `ledger-verify log`, which exits 1 and names the first entry that
//! does not hold. The log is demo-like: the first events of the generated county year
//! (`ledger_core::scenario`, scale 1), chained into entries exactly as the node would, with a
//! checkpoint signed by the scenario's log key. Then, systematically:
//!
//! - every byte of a sample of entries changed, one at a time;
//! - an entry deleted, duplicated, swapped with the next, a forged entry inserted;
//! - the log truncated (whole lines, and in the middle of a line);
//! - an entry re-signed by a key that holds no role, with and without a changed amount;
//! - history rewritten from some entry on (every later entry re-chained), which only the
//!   checkpoint can show;
//! - a byte of the real node's sled files changed on disk, then the node restarted.
//!
//! "The right seq" for a changed entry is the entry itself when it no longer verifies on the
//! log before it, else the next one, whose `prev` no longer matches (only an entry's `time` is
//! not signed by its authors, and changing it still breaks the chain). Every mutation changes
//! the bytes of the log, so every one changes meaning; the test requires 100%.

use crate::support::*;
use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::{Checkpoint, LogSigner};
use ledger_core::dsse::Envelope;
use ledger_core::entry::{Entry, VerifiedEntry};
use ledger_core::rules::State;
use ledger_core::scenario::{generate, ScenarioConfig};
use ledger_core::time::EntryTime;
use ledger_core::types::Kind;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use tests::process::{ledger_verify_bin, NodeProcess};

/// Entries of the demo-like log.
const EVENTS: usize = 3_000;

struct DemoLog {
    entries: Vec<Vec<u8>>,
    kinds: Vec<Kind>,
    /// The state before some entries (those changed in place), to tell whether a changed
    /// entry still verifies where it stands.
    states: HashMap<usize, State>,
    vkey: String,
    checkpoint: String,
}

fn build(keep_state: impl Fn(usize) -> bool) -> DemoLog {
    let config = ScenarioConfig::default();
    let scenario = generate(&config);
    let mut state = State::new();
    let (mut entries, mut kinds, mut states) = (Vec::new(), Vec::new(), HashMap::new());
    for (k, ev) in scenario.events.iter().take(EVENTS).enumerate() {
        let envelope = ev.envelope.verify().expect("scenario envelopes verify");
        let time = EntryTime::from_unix_ms(ev.time_ms).expect("time");
        let entry = VerifiedEntry::new(state.size(), state.last_leaf(), time, envelope).expect("entry");
        if keep_state(k) {
            states.insert(k, state.clone());
        }
        state.apply(&entry).expect("the scenario applies");
        entries.push(entry.bytes().to_vec());
        kinds.push(ev.kind);
    }
    let signer = LogSigner::new(&config.origin, scenario.keys.log_key().clone()).expect("signer");
    let checkpoint = signer
        .sign(&Checkpoint { origin: config.origin.clone(), size: state.size(), root: state.root() })
        .expect("checkpoint");
    DemoLog { entries, kinds, states, vkey: signer.log_key().verifier_key(), checkpoint }
}

/// What `ledger-verify log --json` said.
#[derive(Debug)]
struct Verdict {
    code: i32,
    seq: Option<u64>,
    rule: String,
    unchecked: Vec<String>,
}

fn verify(
    dir: &Path,
    name: &str,
    lines: &[&[u8]],
    raw_tail: &[u8],
    vkey: &str,
    checkpoint: Option<&str>,
) -> Verdict {
    let file = dir.join(format!("{name}.jsonl"));
    let mut text = Vec::new();
    for l in lines {
        text.extend_from_slice(l);
        text.push(b'\n');
    }
    text.extend_from_slice(raw_tail);
    std::fs::write(&file, &text).expect("write the export");
    let mut cmd = Command::new(ledger_verify_bin());
    cmd.arg("log").arg(&file).args(["--log-key", vkey, "--json"]);
    if let Some(cp) = checkpoint {
        let cp_file = dir.join(format!("{name}.checkpoint"));
        std::fs::write(&cp_file, cp).expect("write the checkpoint");
        cmd.arg("--checkpoint").arg(&cp_file);
    }
    let out = cmd.output().expect("run ledger-verify");
    let _ = std::fs::remove_file(&file);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    Verdict {
        code: out.status.code().unwrap_or(-1),
        seq: report["violation"]["seq"].as_u64(),
        rule: report["violation"]["rule"].as_str().unwrap_or("").to_string(),
        unchecked: report["unchecked"]
            .as_array()
            .map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
    }
}

/// The seq a changed entry `k` must be reported at (see the module comment).
fn expected_seq(log: &DemoLog, k: usize, mutated: &[u8]) -> u64 {
    let holds = VerifiedEntry::parse_and_verify(mutated)
        .ok()
        .filter(|e| e.seq() == k as u64)
        .is_some_and(|e| log.states.get(&k).expect("the state before k is kept").clone().apply(&e).is_ok());
    if holds {
        k as u64 + 1
    } else {
        k as u64
    }
}

/// Runs `jobs` on two threads; each returns `None` when it holds, or what went wrong.
fn run_all<T: Sync>(jobs: &[T], run: impl Fn(&T) -> Option<String> + Sync) -> Vec<String> {
    let next = AtomicUsize::new(0);
    let wrong = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                if let Some(w) = run(job) {
                    wrong.lock().expect("lock").push(w);
                }
            });
        }
    });
    wrong.into_inner().expect("lock")
}

/// The seqs of the sampled entries whose every byte is changed: genesis, and the first entry
/// of each kind in `kinds` (one of them signed twice, for dual control).
fn sample(log: &DemoLog, kinds: &[Kind]) -> Vec<usize> {
    let mut out = vec![0];
    for kind in kinds {
        if let Some(k) = log.kinds.iter().position(|x| x == kind) {
            out.push(k);
        }
    }
    let two = (0..log.entries.len()).find(|&k| {
        Entry::parse(&log.entries[k])
            .is_ok_and(|e| e.envelope.signatures.len() == 2 && log.kinds[k] != Kind::Genesis)
    });
    out.extend(two);
    out.sort_unstable();
    out.dedup();
    out
}

/// `RELIABILITY_TAMPER_FULL=1` (scripts/tamper-long.sh): more entries swept byte by byte,
/// more positions, more sled trials.
fn full() -> bool {
    std::env::var("RELIABILITY_TAMPER_FULL").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The checks a run must pass: exit 1 naming `seq`, or, when no entry is at fault (a valid
/// prefix, a rewritten history), a non-zero exit that blames the checkpoint and no entry.
fn judge(name: &str, v: &Verdict, want: Option<u64>) -> Option<String> {
    let ok = match want {
        Some(seq) => v.code == 1 && v.seq == Some(seq),
        // A rewritten history: every entry verifies, the checkpoint's root does not match.
        None if v.code == 1 => v.seq.is_none() && !v.rule.is_empty(),
        // A valid prefix of the log: the checkpoint is beyond the entries at hand, which the
        // verifier cannot check, and says so with exit 2.
        None => {
            v.code == 2
                && v.seq.is_none()
                && v.unchecked.iter().any(|u| u.contains("checkpoint") && u.contains("entries"))
        }
    };
    (!ok).then(|| {
        format!(
            "{name}: expected {}, got {v:?}",
            want.map_or("a checkpoint failure".into(), |s| format!("exit 1 at seq {s}"))
        )
    })
}

#[test]
fn every_tampering_of_an_export_is_caught_and_named() {
    let started = Instant::now();
    // Structural changes happen at these positions of the 3,000-entry log.
    let n = EVENTS;
    let positions: Vec<usize> = if full() { vec![1, 2, n / 3, n / 2, n - 2] } else { vec![1, n / 2, n - 2] };
    let log = build(|k| k < 200 || positions.contains(&k));
    assert_eq!(log.entries.len(), n);
    let dir = tempfile::tempdir().expect("tempdir");
    let all: Vec<&[u8]> = log.entries.iter().map(Vec::as_slice).collect();
    let verify_full =
        |name: &str, lines: &[&[u8]]| verify(dir.path(), name, lines, b"", &log.vkey, Some(&log.checkpoint));

    // The untouched log holds: a verifier that fails everything would prove nothing.
    let v = verify_full("clean", &all);
    assert_eq!((v.code, v.seq), (0, None), "the untouched log verifies: {v:?}");

    // 1. Every byte of a sample of entries, one at a time. The file ends one entry after the
    //    changed one, so a chain break there shows, and the runs stay short.
    let kinds: &[Kind] = if full() {
        &[Kind::KeyGranted, Kind::FundOpened, Kind::CaseOpened, Kind::DonationReceived]
    } else {
        &[Kind::KeyGranted, Kind::DonationReceived]
    };
    let sampled = sample(&log, kinds);
    let byte_jobs: Vec<(usize, usize)> =
        sampled.iter().flat_map(|&k| (0..log.entries[k].len()).map(move |i| (k, i))).collect();
    let wrong = run_all(&byte_jobs, |&(k, i)| {
        let mut mutated = log.entries[k].clone();
        // A different byte that keeps the line one line.
        mutated[i] = match mutated[i] ^ 1 {
            b'\n' => b'#',
            b => b,
        };
        let want = expected_seq(&log, k, &mutated);
        let mut lines: Vec<&[u8]> = all[..k].to_vec();
        lines.push(&mutated);
        lines.push(all[k + 1]);
        let v = verify(dir.path(), &format!("byte-{k}-{i}"), &lines, b"", &log.vkey, None);
        judge(&format!("byte {i} of entry {k}"), &v, Some(want))
    });
    assert!(
        wrong.is_empty(),
        "{} of {} byte changes missed:\n{}",
        wrong.len(),
        byte_jobs.len(),
        wrong.join("\n")
    );
    println!(
        "tamper: {} single-byte changes of entries {sampled:?} ({:?}) all caught at the right seq ({:.1} s)",
        byte_jobs.len(),
        sampled.iter().map(|&k| log.kinds[k].as_str()).collect::<Vec<_>>(),
        started.elapsed().as_secs_f64()
    );

    // 2. Structural changes over the whole log, checked with its checkpoint.
    let mut structural: Vec<(String, Vec<Vec<u8>>, Option<u64>)> = Vec::new();
    for &k in &positions {
        let mut del = log.entries.clone();
        del.remove(k);
        structural.push((format!("delete entry {k}"), del, Some(k as u64)));
        let mut dup = log.entries.clone();
        dup.insert(k + 1, log.entries[k].clone());
        structural.push((format!("duplicate entry {k}"), dup, Some(k as u64 + 1)));
        let mut swap = log.entries.clone();
        swap.swap(k, k + 1);
        structural.push((format!("swap entries {k} and {}", k + 1), swap, Some(k as u64)));
        // A forged gift with the right seq and prev and a real intake signature: caught where
        // it stands if the rules refuse it there (no intake key yet), else at the entry it
        // pushed along.
        let forged = forge_gift(&log, k);
        let want = expected_seq(&log, k, &forged);
        let mut ins = log.entries.clone();
        ins.insert(k, forged);
        structural.push((format!("insert a forged entry at {k}"), ins, Some(want)));
        // Re-signed by a key with no role: the signature verifies, the signer may not sign.
        let mut resigned = log.entries.clone();
        resigned[k] = resign(&log.entries[k], &SigningKey::from_bytes(&[0x77; 32]), None);
        structural.push((format!("re-sign entry {k} with an unauthorised key"), resigned, Some(k as u64)));
    }
    // A changed amount, re-signed by a stranger.
    let d = log.kinds.iter().rposition(|k| *k == Kind::DonationReceived).expect("a donation");
    let mut changed = log.entries.clone();
    changed[d] = resign(&log.entries[d], &SigningKey::from_bytes(&[0x78; 32]), Some(("amount_fen", 1)));
    structural.push((format!("change donation {d}'s amount and re-sign it"), changed, Some(d as u64)));
    // Deleting the last entries leaves a valid prefix: only the checkpoint can tell.
    for cut in [1, 10, n / 2] {
        structural.push((format!("truncate the last {cut} entries"), log.entries[..n - cut].to_vec(), None));
    }
    // History rewritten from entry k on: a forged gift inserted and every later entry moved
    // and re-chained. Every entry verifies; the checkpoint's root does not match.
    for k in [n / 2, n - 1] {
        structural.push((format!("rewrite history from {k}"), rechain_with_forgery(&log, k), None));
    }
    let wrong = run_all(&structural, |(name, entries, want)| {
        let lines: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
        judge(name, &verify_full(&name.replace(' ', "-"), &lines), *want)
    });
    assert!(
        wrong.is_empty(),
        "{} of {} structural changes missed:\n{}",
        wrong.len(),
        structural.len(),
        wrong.join("\n")
    );
    // A line cut in the middle: the broken line is named.
    let k = n / 2;
    let half = &log.entries[k][..log.entries[k].len() / 2];
    let v = verify(dir.path(), "cut-line", &all[..k], half, &log.vkey, Some(&log.checkpoint));
    assert_eq!((v.code, v.seq), (1, Some(k as u64)), "a line cut in the middle: {v:?}");
    println!(
        "tamper: {} structural changes and a cut line all caught ({:.1} s)",
        structural.len() + 1,
        started.elapsed().as_secs_f64()
    );
}

/// A valid gift signed by the scenario's intake key, chained at `k` (seq and prev).
fn forge_gift(log: &DemoLog, k: usize) -> Vec<u8> {
    let scenario_keys = ledger_core::scenario::RoleKeys::derive(ScenarioConfig::default().seed);
    let intake = scenario_keys.intake()[1].clone();
    let before = Entry::parse(&log.entries[k]).expect("entry");
    let fund = first_fund(log);
    let body = serde_json::json!({"v":1,"kind":"donation.received","id":format!("FORGED-{k}"),
        "at":before.time.as_str(),"fund":fund,"amount_fen":100,"channel":"cash"});
    let env = sign(&body, &[&intake]);
    let entry = Entry { seq: k as u64, prev: before.prev.clone(), time: before.time.clone(), envelope: env };
    entry.to_bytes()
}

fn first_fund(log: &DemoLog) -> String {
    let k = log.kinds.iter().position(|k| *k == Kind::FundOpened).expect("a fund");
    body_of(&log.entries[k])["id"].as_str().expect("id").to_string()
}

fn body_of(bytes: &[u8]) -> Value {
    let e = Entry::parse(bytes).expect("entry");
    serde_json::from_slice(&ledger_core::encoding::b64_decode_canonical(&e.envelope.payload).expect("b64"))
        .expect("body")
}

/// The entry with its envelope signed by `key` alone (the body changed first if asked).
fn resign(bytes: &[u8], key: &SigningKey, change: Option<(&str, u64)>) -> Vec<u8> {
    let mut entry = Entry::parse(bytes).expect("entry");
    let payload = ledger_core::encoding::b64_decode_canonical(&entry.envelope.payload).expect("b64");
    let payload = match change {
        None => payload,
        Some((field, value)) => {
            let mut body: Value = serde_json::from_slice(&payload).expect("body");
            body[field] = serde_json::json!(value);
            serde_json::to_vec(&body).expect("json")
        }
    };
    entry.envelope = Envelope::sign(&payload, &[key]);
    entry.to_bytes()
}

/// The log with a forged gift at `k` and every later entry moved one seq on and re-chained,
/// each with its original envelope and time: a consistent history that never happened.
fn rechain_with_forgery(log: &DemoLog, k: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = log.entries[..k].to_vec();
    out.push(forge_gift(log, k));
    for (i, bytes) in log.entries[k..].iter().enumerate() {
        let mut e = Entry::parse(bytes).expect("entry");
        e.seq = (k + 1 + i) as u64;
        e.prev = ledger_core::hash::leaf_hash(out.last().expect("previous")).to_hex();
        out.push(e.to_bytes());
    }
    out
}

/// Copies a directory tree (the node's data directory).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
            std::fs::set_permissions(&target, e.metadata().expect("meta").permissions()).expect("chmod");
        }
    }
}

/// Where `needle` occurs in `hay`.
fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len()).enumerate().filter(|(_, w)| *w == needle).map(|(i, _)| i).collect()
}

/// `ledger-node export --data DIR`: what an operator would read from a damaged store.
fn export_store(data: &Path) -> Option<Vec<Vec<u8>>> {
    let out = Command::new(tests::ledger_node_bin()).args(["export", "--data"]).arg(data).output().ok()?;
    out.status.success().then(|| lines(&out.stdout))
}

#[test]
fn a_byte_changed_in_the_sled_files_is_caught() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::init(&dir.path().join("pristine"), dir.path());
    let http = Http::new();
    let node = NodeProcess::serve(&ledger.data, &ledger.stderr_log).expect("serve");
    for env in first_envelopes() {
        assert_eq!(http.post_envelope(&node.url, &env).expect("answer").0, 201);
    }
    for b in 0..6 {
        let envs: Vec<Envelope> = (0..50).map(|i| gift(&format!("G{b}x{i}"), 100 + i, "")).collect();
        assert_eq!(http.post_batch(&node.url, &envs).expect("answer").0, 201);
    }
    let mut replay = Replay::new();
    replay.check_node(&http, &node.url, &ledger.log_key).expect("whole");
    let (_, checkpoint) = http.get(&format!("{}/checkpoint", node.url)).expect("checkpoint");
    let checkpoint = String::from_utf8(checkpoint).expect("utf-8");
    node.sigkill();
    let vkey = ledger.log_key.verifier_key();
    let original = &replay.entries;
    // The files sled keeps, with their contents; most trials change the log file `db`, half of
    // those inside a stored copy of an entry.
    let store = ledger.data.join("store");
    let files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&store)
        .expect("store")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()) && e.file_name() != "signed-checkpoint")
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("read")))
        .collect();
    let db = &files.iter().find(|(n, _)| n == "db").expect("sled's db file").1;
    let copies: Vec<usize> = original.iter().flat_map(|bytes| find_all(db, &bytes[..40])).collect();
    assert!(!copies.is_empty(), "entries are stored as they are in the db file");
    let trials = if full() { 60 } else { 8 };
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5ed);
    let (mut refused, mut unchanged) = (0, 0);
    for trial in 0..trials {
        let work = dir.path().join(format!("trial-{trial}"));
        copy_dir(&ledger.data, &work);
        let (name, bytes) = match trial % 4 {
            2 => files[rng.gen_range(0..files.len())].clone(),
            _ => ("db".to_string(), db.clone()),
        };
        let mut bytes = bytes;
        let at = if trial % 4 == 0 {
            (copies[rng.gen_range(0..copies.len())] + rng.gen_range(0..300)).min(bytes.len() - 1)
        } else {
            rng.gen_range(0..bytes.len())
        };
        bytes[at] ^= 1 << rng.gen_range(0..8);
        std::fs::write(work.join("store").join(&name), &bytes).expect("write");
        let what = format!("trial {trial}: byte {at} of {name}");
        match NodeProcess::serve(&work, &dir.path().join(format!("trial-{trial}.log"))) {
            // The node must not serve, nor sign, a history other than the one it signed.
            Ok(node) => {
                let (_, export) = http.get(&format!("{}/v1/export", node.url)).expect("export");
                assert!(lines(&export) == *original, "{what}: the node serves a changed log");
                let (_, cp) = http.get(&format!("{}/checkpoint", node.url)).expect("checkpoint");
                assert_eq!(cp, checkpoint.as_bytes(), "{what}: the node signed a new checkpoint");
                node.sigkill();
                unchanged += 1;
            }
            Err(e) => {
                assert!(e.contains("error:"), "{what}: the node says why it refuses: {e}");
                refused += 1;
            }
        }
        // Whatever an operator exports from the damaged store is judged by the verifier
        // against the checkpoint published before the damage.
        if let Some(exported) = export_store(&work) {
            let refs: Vec<&[u8]> = exported.iter().map(Vec::as_slice).collect();
            let v = verify(dir.path(), &format!("sled-{trial}"), &refs, b"", &vkey, Some(&checkpoint));
            if exported == *original {
                assert_eq!(v.code, 0, "{what}: the same log verifies: {v:?}");
            } else {
                let first = (0..exported.len()).find(|&i| exported.get(i) != original.get(i));
                let want = first.map(|s| s as u64);
                if let Some(w) = judge(&what, &v, want) {
                    panic!("{w}");
                }
            }
        }
    }
    println!("tamper: {trials} sled files changed: the node refused {refused}, started on an unchanged log {unchanged}");
    assert_eq!(refused + unchanged, trials);
}
