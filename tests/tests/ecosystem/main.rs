//! The transparency ecosystem on loopback, with real processes (issue 9): a node whose log
//! declares a witness, a `ledger-node witness`, and a `ledger-node mirror`. The node's
//! checkpoint gets cosigned, the mirror follows, and a forged fork — a second signer holding
//! the SAME log key and signing another tree of the same origin — is refused by the witness
//! and by the mirror, which keeps serving its last good state and reports the evidence.

#[allow(dead_code)]
#[path = "../reliability/support.rs"]
mod support;

use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::{open_checkpoint, Checkpoint, LogSigner, WitnessKey, WitnessSigner};
use ledger_core::entry::Entry;
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::merkle::{prove_tree, MemoryHashes};
use ledger_core::time::EntryTime;
use ledger_core::witness::add_checkpoint_body;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{admins, first_envelopes, gift, now, sign, Http, Ledger, ORIGIN};
use tests::process::{ledger_verify_bin, write_key_file, NodeProcess, ServerProcess};

/// How long a cosignature or a mirror may take to appear (rounds are 1 s apart by default).
const WAIT: Duration = Duration::from_secs(60);
const WITNESS_NAME: &str = "bureau.example/witness";
const DEAD_WITNESS_NAME: &str = "offline.example/witness";

fn wait_until<T>(what: &str, mut f: impl FnMut() -> Option<T>, context: impl Fn() -> String) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(started.elapsed() < WAIT, "timed out waiting for {what}; {}", context());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn text(http: &Http, url: &str) -> (u16, String) {
    let (status, body) = http.get(url).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn json_of(http: &Http, url: &str) -> Value {
    let (status, v) = http.get_json(url).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(status, 200, "GET {url}: {v}");
    v
}

/// The signed text (origin, size, root) of a note: what "the same checkpoint" means.
fn signed_text(note: &str) -> String {
    let (text, _) = note.split_once("\n\n").expect("a note has a blank line");
    format!("{text}\n")
}

fn size_of(note: &str) -> u64 {
    Checkpoint::parse_signed_text(&signed_text(note)).expect("a checkpoint").size
}

/// A tiny HTTP server answering fixed bodies by path: the forged upstream.
fn fake_upstream(routes: Vec<(&'static str, &'static str, String)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the fake upstream");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).map_or(true, |n| n == 0) || header == "\r\n" {
                    break;
                }
            }
            let path =
                first.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_string();
            let (status, content_type, body) = match routes.iter().find(|(p, _, _)| *p == path) {
                Some((_, ct, body)) => ("200 OK", *ct, body.clone()),
                None => ("404 Not Found", "text/plain", "no such path\n".to_string()),
            };
            let mut out = &stream;
            let _ = write!(
                out,
                "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn post_text(url: &str, body: &str) -> (u16, String, String) {
    let r = match ureq::post(url).send_string(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {url}: {e}"),
    };
    let (status, ct) = (r.status(), r.content_type().to_string());
    (status, ct, r.into_string().unwrap_or_default())
}

fn mirror_args(upstream: &str, data: &Path, log_key: &str) -> Vec<String> {
    ["mirror", "--upstream", upstream, "--data", &data.display().to_string(), "--listen", "127.0.0.1:0"]
        .iter()
        .map(|s| s.to_string())
        .chain(["--log-key".to_string(), log_key.to_string(), "--poll-ms".into(), "200".into()])
        .collect()
}

#[test]
fn node_witness_and_mirror_agree_and_refuse_a_forged_fork() {
    let dir = tempfile::tempdir().expect("scratch dir");
    let http = Http::new();
    let ledger = Ledger::init(&dir.path().join("ledger"), dir.path());
    let log_vkey = ledger.log_key.verifier_key();

    // The witness: its key file made like `ledger-node key new` would, and its verifier key
    // computed here independently of what the process prints.
    let witness_seed = [31u8; 32];
    let witness_key_file = dir.path().join("witness.key");
    write_key_file(&witness_key_file, &witness_seed);
    let witness_key = WitnessSigner::new(WITNESS_NAME, SigningKey::from_bytes(&witness_seed))
        .unwrap()
        .witness_key()
        .clone();
    let witness_args: Vec<String> = vec![
        "witness".into(),
        "--key".into(),
        witness_key_file.display().to_string(),
        "--data".into(),
        dir.path().join("witness").display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--log".into(),
        log_vkey.clone(),
        "--name".into(),
        WITNESS_NAME.into(),
    ];
    let witness = ServerProcess::start(&witness_args, &dir.path().join("witness.log")).expect("witness");
    assert_eq!(witness.lines, vec![format!("witness verifier key: {}", witness_key.verifier_key())]);

    // A second declared witness that never answers: a closed port.
    let dead_url = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let dead_key = WitnessSigner::new(DEAD_WITNESS_NAME, SigningKey::from_bytes(&[32; 32]))
        .unwrap()
        .witness_key()
        .clone();

    let node = NodeProcess::serve(&ledger.data, &ledger.stderr_log).expect("node");
    for env in first_envelopes() {
        let (status, body) = http.post_envelope(&node.url, &env).unwrap();
        assert_eq!(status, 201, "{body}");
    }
    let [a1, a2] = admins();
    let policy = json!({"v": 1, "kind": "witness.policy", "id": "witnesses-1", "at": now(), "quorum": 1,
    "witnesses": [
        {"name": WITNESS_NAME, "vkey": witness_key.verifier_key(), "url": witness.url},
        {"name": DEAD_WITNESS_NAME, "vkey": dead_key.verifier_key(), "url": dead_url},
    ]});
    let (status, body) = http.post_envelope(&node.url, &sign(&policy, &[&a1, &a2])).unwrap();
    assert_eq!(status, 201, "witness.policy signed by two admins: {body}");
    // Appends do not wait for witnesses, the unreachable one included.
    for i in 0..5 {
        let (status, body) = http.post_envelope(&node.url, &gift(&format!("D-{i}"), 10_000 + i, "")).unwrap();
        assert_eq!(status, 201, "{body}");
    }

    // The node's newest checkpoint gets the witness's cosignature.
    let cosigned_note = |size_min: u64| {
        let (status, note) = text(&http, &format!("{}/checkpoint", node.url));
        (status == 200 && size_of(&note) >= size_min && note.contains(&format!("\u{2014} {WITNESS_NAME} ")))
            .then_some(note)
    };
    let note =
        wait_until("the witness's cosignature on /checkpoint", || cosigned_note(9), || node.log_tail());
    let opened =
        open_checkpoint(&note, &ledger.log_key, &[witness_key.clone(), dead_key.clone()]).expect("opens");
    assert_eq!(opened.checkpoint.size, 9);
    assert_eq!(opened.cosigned_by.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), vec![WITNESS_NAME]);
    // /healthz reports each declared witness: the live one's size, the dead one's failures.
    let by_name = |health: &Value, name: &str| {
        health["witnesses"].as_array().and_then(|ws| ws.iter().find(|w| w["name"] == name).cloned())
    };
    let health = wait_until(
        "/healthz to report both witnesses",
        || {
            let h = json_of(&http, &format!("{}/healthz", node.url));
            let live = by_name(&h, WITNESS_NAME)?;
            let dead = by_name(&h, DEAD_WITNESS_NAME)?;
            (live["cosigned_size"] == 9 && dead["failures"].as_u64().unwrap_or(0) >= 1).then_some(h)
        },
        || node.log_tail(),
    );
    assert_eq!(health["status"], "ok", "an unreachable witness does not make the node unhealthy: {health}");
    assert!(by_name(&health, DEAD_WITNESS_NAME).unwrap()["last_error"].is_string(), "{health}");
    let metrics = text(&http, &format!("{}/metrics", node.url)).1;
    assert!(
        metrics.contains(&format!("ledger_witness_cosigned_size{{witness=\"{WITNESS_NAME}\"}} 9")),
        "{metrics}"
    );

    // The verifier checks the quorum: met with the live witness, not with both required.
    let verify = |witness_keys: &[&WitnessKey], quorum: usize, url: &str| {
        let mut cmd = std::process::Command::new(ledger_verify_bin());
        cmd.args(["url", url, "--log-key", &log_vkey, "--quorum", &quorum.to_string()]);
        for k in witness_keys {
            cmd.args(["--witness", &k.verifier_key()]);
        }
        cmd.output().expect("running ledger-verify")
    };
    let ok = verify(&[&witness_key], 1, &node.url);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stdout));
    assert!(String::from_utf8_lossy(&ok.stdout).contains(WITNESS_NAME));
    let short = verify(&[&witness_key, &dead_key], 2, &node.url);
    assert!(!short.status.success(), "a quorum of 2 is not met: {}", String::from_utf8_lossy(&short.stdout));

    // The mirror follows: same checkpoint, same balances; it refuses appends.
    let mirror_data = dir.path().join("mirror");
    let mirror_log = dir.path().join("mirror.log");
    let mirror =
        ServerProcess::start(&mirror_args(&node.url, &mirror_data, &log_vkey), &mirror_log).expect("mirror");
    let follows = |mirror: &ServerProcess| {
        let (_, theirs) = text(&http, &format!("{}/checkpoint", node.url));
        let (status, ours) = text(&http, &format!("{}/checkpoint", mirror.url));
        (status == 200 && signed_text(&ours) == signed_text(&theirs)).then_some(ours)
    };
    wait_until("the mirror to reach the node's checkpoint", || follows(&mirror), || mirror.log_tail());
    for i in 5..12 {
        let (status, body) = http.post_envelope(&node.url, &gift(&format!("D-{i}"), 10_000 + i, "")).unwrap();
        assert_eq!(status, 201, "{body}");
    }
    // Growth: the witness cosigns from its old size with a consistency proof, and the mirror
    // checks one before adopting the new entries.
    let final_note = wait_until("the cosignature at size 16", || cosigned_note(16), || node.log_tail());
    let mirrored = wait_until(
        "the mirror at the cosigned size 16",
        || follows(&mirror).filter(|n| n.contains(WITNESS_NAME)),
        || mirror.log_tail(),
    );
    assert_eq!(size_of(&mirrored), 16);
    assert_eq!(
        json_of(&http, &format!("{}/v1/balances", mirror.url)),
        json_of(&http, &format!("{}/v1/balances", node.url))
    );
    let ok = verify(&[&witness_key], 1, &mirror.url);
    assert!(ok.status.success(), "the verifier accepts the mirror: {}", String::from_utf8_lossy(&ok.stdout));
    let (status, refused) = http.post_envelope(&mirror.url, &gift("D-mirror", 1, "")).unwrap();
    assert_eq!((status, refused["error"].as_str()), (405, Some("mirror_read_only")), "{refused}");

    // The forged fork: the same log key, another tree of the same origin.
    let seed = std::fs::read_to_string(ledger.data.join("log.key")).expect("the log key file");
    let seed: [u8; 32] = hex::decode(seed.trim()).expect("hex").try_into().expect("32 bytes");
    let forger = LogSigner::new(ORIGIN, SigningKey::from_bytes(&seed)).unwrap();
    let same_size =
        forger.sign(&Checkpoint { origin: ORIGIN.into(), size: 16, root: Hash([0xab; 32]) }).unwrap();
    let bigger =
        forger.sign(&Checkpoint { origin: ORIGIN.into(), size: 21, root: Hash([0xcd; 32]) }).unwrap();
    let bogus_proof = vec![Hash([0xee; 32]); 3];

    let add = format!("{}/add-checkpoint", witness.url);
    let (status, ct, body) = post_text(&add, &add_checkpoint_body(16, &[], &same_size));
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (409, "text/x.tlog.size", "16\n"),
        "same size, another root"
    );
    let (status, _, body) = post_text(&add, &add_checkpoint_body(16, &bogus_proof, &bigger));
    assert_eq!(status, 422, "a bigger tree that does not extend the cosigned one: {body}");
    assert!(!body.contains('\u{2014}'), "no cosignature: {body}");
    let witness_health = json_of(&http, &format!("{}/healthz", witness.url));
    assert_eq!(witness_health["logs"][0]["cosigned_size"], 16, "nothing changed: {witness_health}");
    let witness_log = std::fs::read_to_string(dir.path().join("witness.log")).unwrap_or_default();
    assert!(
        witness_log.contains("FORK EVIDENCE") && witness_log.contains(&signed_text(&bigger)),
        "{witness_log}"
    );

    // The mirror, restarted on the same store against an upstream serving the forged tree:
    // it continues from its store, refuses to follow, and reports both checkpoints.
    drop(mirror);
    let fake = fake_upstream(vec![
        ("/checkpoint", "text/plain; charset=utf-8", bigger.clone()),
        ("/v1/log-key", "text/plain; charset=utf-8", log_vkey.clone()),
        (
            "/v1/proof/consistency",
            "application/json",
            json!({"from": 16, "to": 21, "proof": bogus_proof.iter().map(|h| h.to_base64()).collect::<Vec<_>>()})
                .to_string(),
        ),
    ]);
    let mirror = ServerProcess::start(&mirror_args(&fake, &mirror_data, &log_vkey), &mirror_log)
        .expect("mirror again");
    let health = wait_until(
        "the mirror to report the fork",
        || {
            let h = json_of(&http, &format!("{}/healthz", mirror.url));
            (h["status"] == "fork").then_some(h)
        },
        || mirror.log_tail(),
    );
    let fork = &health["mirror"]["follow"]["fork"];
    assert_eq!(fork["upstream_checkpoint"], bigger, "{health}");
    assert_eq!(
        signed_text(fork["adopted_checkpoint"].as_str().unwrap()),
        signed_text(&final_note),
        "{health}"
    );
    assert!(fork["reason"].as_str().unwrap_or("").contains("consistency proof"), "{health}");
    let (_, served) = text(&http, &format!("{}/checkpoint", mirror.url));
    assert_eq!(signed_text(&served), signed_text(&final_note), "the mirror keeps its last good checkpoint");
    assert_eq!(
        json_of(&http, &format!("{}/v1/balances", mirror.url)),
        json_of(&http, &format!("{}/v1/balances", node.url))
    );
    assert!(mirror.log_tail().contains("FORK"), "{}", mirror.log_tail());

    // Restarted once more, against an upstream serving the other forgery (the adopted size,
    // another root): the same refusal, still from the same store.
    drop(mirror);
    let fake = fake_upstream(vec![("/checkpoint", "text/plain; charset=utf-8", same_size.clone())]);
    let mirror =
        ServerProcess::start(&mirror_args(&fake, &mirror_data, &log_vkey), &mirror_log).expect("mirror");
    let health = wait_until(
        "the mirror to report the same-size fork",
        || {
            let h = json_of(&http, &format!("{}/healthz", mirror.url));
            (h["status"] == "fork").then_some(h)
        },
        || mirror.log_tail(),
    );
    assert_eq!(health["mirror"]["follow"]["fork"]["upstream_checkpoint"], same_size, "{health}");
    assert!(
        health["mirror"]["follow"]["fork"]["reason"].as_str().unwrap_or("").contains("another root"),
        "{health}"
    );
    let (_, served) = text(&http, &format!("{}/checkpoint", mirror.url));
    assert_eq!(signed_text(&served), signed_text(&final_note));

    // A forged extension that is consistent in Merkle terms but whose new entry breaks a rule
    // (a gift signed by a key that holds no role): the mirror applies the rules, not only the
    // proofs, and refuses it too.
    drop(mirror);
    let (status, export) = http.get(&format!("{}/v1/export", node.url)).unwrap();
    assert_eq!(status, 200);
    let mut tree = MemoryHashes::new();
    let mut last_leaf = Hash::default();
    for line in support::lines(&export) {
        last_leaf = leaf_hash(&line);
        tree.append_leaf(last_leaf);
    }
    let stranger = sign(
        &json!({"v": 1, "kind": "donation.received", "id": "D-forged", "at": now(), "fund": "F",
                "amount_fen": 1, "channel": "bank"}),
        &[&support::key(99)],
    );
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let time = EntryTime::from_unix_ms(now_ms).expect("a time");
    let bad = Entry { seq: 16, prev: last_leaf.to_hex(), time, envelope: stranger }.to_bytes();
    tree.append_leaf(leaf_hash(&bad));
    let extended = forger.sign(&Checkpoint { origin: ORIGIN.into(), size: 17, root: tree.root() }).unwrap();
    let proof: Vec<String> = prove_tree(17, 16, &tree).unwrap().iter().map(|h| h.to_base64()).collect();
    let fake = fake_upstream(vec![
        ("/checkpoint", "text/plain; charset=utf-8", extended.clone()),
        (
            "/v1/proof/consistency",
            "application/json",
            json!({"from": 16, "to": 17, "proof": proof}).to_string(),
        ),
        ("/v1/entries", "application/x-ndjson", format!("{}\n", String::from_utf8(bad).unwrap())),
    ]);
    let mirror =
        ServerProcess::start(&mirror_args(&fake, &mirror_data, &log_vkey), &mirror_log).expect("mirror");
    let health = wait_until(
        "the mirror to refuse an entry that breaks a rule",
        || {
            let h = json_of(&http, &format!("{}/healthz", mirror.url));
            (h["status"] == "fork").then_some(h)
        },
        || mirror.log_tail(),
    );
    let reason = health["mirror"]["follow"]["fork"]["reason"].as_str().unwrap_or("").to_string();
    assert!(reason.contains("entry 16") && reason.contains("breaks rule"), "{health}");
    assert_eq!(health["mirror"]["follow"]["fork"]["upstream_checkpoint"], extended, "{health}");
    assert_eq!(json_of(&http, &format!("{}/healthz", mirror.url))["size"], 16, "nothing was adopted");
    assert_eq!(
        json_of(&http, &format!("{}/v1/balances", mirror.url)),
        json_of(&http, &format!("{}/v1/balances", node.url))
    );
}
