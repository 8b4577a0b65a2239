//! The real `ledger-node` binary, appended to from several threads at once and killed with
//! SIGKILL at random moments (also while it is still recovering), then restarted. After every
//! restart: every acknowledged entry is there at its seq with the bytes its 201 named (the leaf
//! hash), the log still verifies entry by entry from genesis, the checkpoint opens with the
//! log key and names the replayed root, and `/v1/balances` is the replay's. Envelopes whose
//! answer was lost to the kill are sent again: the node answers 201 (never made durable) or
//! 200 (made durable, with the same envelope at that seq), never anything else.
//!
//! `RELIABILITY_KILLS` (default 20) sets the number of kills, `RELIABILITY_SEED` the seed of
//! the schedule; `scripts/crash-long.sh` runs 200.

use crate::support::*;
use ledger_core::dsse::Envelope;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tests::process::NodeProcess;

const KILLS_DEFAULT: usize = 20;
const SEED_DEFAULT: u64 = 0x5eed_0008;
/// Clients appending at once.
const WRITERS: usize = 4;
/// The longest a round lets the clients append before the kill.
const ROUND_MS_MAX: u64 = 400;

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

/// What one writer learnt in a round.
#[derive(Default)]
struct Learnt {
    /// (seq, leaf hash, envelope) of every 201.
    acked: Vec<(u64, String, Envelope)>,
    /// Sent, but the answer was lost when the node died.
    unknown: Vec<Envelope>,
    /// Anything that is not a 201 or a lost connection.
    wrong: Vec<String>,
}

fn write_until_the_node_dies(http: &Http, url: &str, round: usize, writer: usize) -> Learnt {
    let mut learnt = Learnt::default();
    for i in 0.. {
        let env = gift(&format!("K{round}-{writer}-{i}"), 100 + i as u64, "");
        match http.post_envelope(url, &env) {
            Ok((201, v)) => {
                let (Some(seq), Some(leaf)) = (v["seq"].as_u64(), v["leaf_hash"].as_str()) else {
                    learnt.wrong.push(format!("a 201 without seq and leaf_hash: {v}"));
                    break;
                };
                learnt.acked.push((seq, leaf.to_string(), env));
            }
            Ok((status, v)) => {
                learnt.wrong.push(format!("a new envelope answered {status}: {v}"));
                break;
            }
            Err(_) => {
                learnt.unknown.push(env);
                break;
            }
        }
    }
    learnt
}

#[derive(Default, Debug)]
struct Tally {
    kills_while_appending: usize,
    kills_while_recovering: usize,
    acked: usize,
    lost_answers: usize,
    retried_and_found: usize,
    retried_and_new: usize,
}

/// Runs `kills` kill-and-restart rounds; panics with the first broken promise.
fn run(kills: usize, seed: u64) -> Tally {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::init(&dir.path().join("ledger"), dir.path());
    let http = Http::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tally = Tally::default();
    let mut replay = Replay::new();
    // Every acknowledged entry: (seq, leaf hash, envelope).
    let mut acked: Vec<(u64, String, Envelope)> = Vec::new();

    let serve =
        || NodeProcess::serve(&ledger.data, &ledger.stderr_log).unwrap_or_else(|e| panic!("restart: {e}"));
    let node = serve();
    for env in first_envelopes() {
        let (s, v) = http.post_envelope(&node.url, &env).expect("node answers");
        assert_eq!(s, 201, "{v}");
    }
    node.sigkill();

    for round in 0..kills {
        if rng.gen_ratio(1, 6) {
            // Killed while opening: replaying the log, repairing tree hashes, re-signing.
            let mut child = NodeProcess::spawn(&ledger.data, &ledger.stderr_log).expect("spawn");
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..60)));
            let _ = child.kill();
            let _ = child.wait();
            tally.kills_while_recovering += 1;
        } else {
            let node = serve();
            let pause = Duration::from_millis(rng.gen_range(0..=ROUND_MS_MAX));
            let learnt: Mutex<Vec<Learnt>> = Mutex::new(Vec::new());
            std::thread::scope(|scope| {
                for w in 0..WRITERS {
                    let (http, url, learnt) = (&http, node.url.clone(), &learnt);
                    scope.spawn(move || {
                        let l = write_until_the_node_dies(http, &url, round, w);
                        learnt.lock().expect("lock").push(l);
                    });
                }
                std::thread::sleep(pause);
                node.sigkill();
            });
            let mut unknown = Vec::new();
            for l in learnt.into_inner().expect("lock") {
                assert!(l.wrong.is_empty(), "round {round}: {}", l.wrong.join("; "));
                tally.acked += l.acked.len();
                acked.extend(l.acked);
                unknown.extend(l.unknown);
            }
            tally.kills_while_appending += 1;
            tally.lost_answers += unknown.len();
            // Restart, check, and send the lost ones again.
            let node = serve();
            replay.check_node(&http, &node.url, &ledger.log_key).unwrap_or_else(|e| {
                panic!("round {round} (seed {seed:#x}): {e}\nnode log:\n{}", node.log_tail())
            });
            for env in unknown {
                let (s, v) = http.post_envelope(&node.url, &env).expect("node answers");
                let seq = v["seq"].as_u64().unwrap_or_else(|| panic!("retry answered {s}: {v}"));
                match s {
                    201 => {
                        tally.retried_and_new += 1;
                        acked.push((seq, v["leaf_hash"].as_str().expect("leaf").to_string(), env));
                    }
                    200 => {
                        tally.retried_and_found += 1;
                        let stored = replay.envelope(seq).expect("a 200 names a logged seq");
                        assert!(
                            stored.same_as(&env),
                            "round {round}: the retry's seq {seq} holds another envelope"
                        );
                        acked.push((seq, replay.leaf(seq).expect("leaf"), env));
                    }
                    _ => panic!("round {round}: a retried envelope answered {s}: {v}"),
                }
            }
            node.sigkill();
        }
        // The last kill is checked like the others, on a node started afresh.
        let node = serve();
        replay.check_node(&http, &node.url, &ledger.log_key).unwrap_or_else(|e| {
            panic!("after kill {round} (seed {seed:#x}): {e}\nnode log:\n{}", node.log_tail())
        });
        for (seq, leaf, env) in &acked {
            assert_eq!(
                replay.leaf(*seq).as_deref(),
                Some(leaf.as_str()),
                "acknowledged entry {seq} is intact"
            );
            assert!(replay.envelope(*seq).is_some_and(|e| e.same_as(env)), "entry {seq} holds its envelope");
        }
        node.sigkill();
    }
    let node = serve();
    replay.check_export(&http, &node.url).unwrap_or_else(|e| panic!("at the end: {e}"));
    node.sigkill();
    assert_eq!(acked.len(), tally.acked + tally.retried_and_new + tally.retried_and_found);
    assert!(tally.acked > 0, "the writers got some appends in");
    println!(
        "crash: {kills} kills (seed {seed:#x}) in {:.1} s, {} entries in the log: {tally:?}",
        started.elapsed().as_secs_f64(),
        replay.entries.len()
    );
    tally
}

#[test]
fn acknowledged_entries_survive_repeated_sigkill() {
    let kills = env_number("RELIABILITY_KILLS", KILLS_DEFAULT as u64) as usize;
    let seed = env_number("RELIABILITY_SEED", SEED_DEFAULT);
    assert!(kills >= 1);
    let tally = run(kills, seed);
    assert_eq!(tally.kills_while_appending + tally.kills_while_recovering, kills);
}
