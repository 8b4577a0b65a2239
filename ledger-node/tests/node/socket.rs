//! The real binary on a real socket: init, serve, concurrent appends, SIGKILL, restart, and
//! every acknowledged entry is still there under an unchanged checkpoint root.

use crate::support::{hex64, key};
use ledger_core::checkpoint::{open_checkpoint, LogKey};
use ledger_core::dsse::{key_hex, Envelope};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

const BIN: &str = env!("CARGO_BIN_EXE_ledger-node");

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(data: &Path) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--data"])
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ledger-node");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("ready line");
        let url = line.trim().rsplit(' ').next().expect("url").trim_end_matches('/').to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "unexpected first line: {line}");
        Server { child, url }
    }

    fn kill(mut self) {
        // SIGKILL: no chance to flush anything more.
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }
}

fn post(agent: &ureq::Agent, url: &str, env: &Envelope) -> (u16, Value) {
    let r = agent.post(&format!("{url}/v1/entries")).send_string(&env.to_json());
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport: {e}"),
    };
    (r.status(), r.into_json().expect("json"))
}

fn get_text(agent: &ureq::Agent, url: &str) -> String {
    agent.get(url).call().expect("get").into_string().expect("text")
}

#[test]
fn concurrent_appends_survive_sigkill_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    let a1 = dir.path().join("a1.key");
    let a2 = dir.path().join("a2.key");
    ledger_node::keys::write_secret(&a1, &key(1)).expect("key");
    ledger_node::keys::write_secret(&a2, &key(2)).expect("key");
    let out = Command::new(BIN)
        .args(["init", "--data"])
        .arg(&data)
        .args(["--origin", "socket-test.example/ledger", "--name", "Socket test"])
        .arg("--admin-secret")
        .arg(&a1)
        .arg("--admin-secret")
        .arg(&a2)
        .output()
        .expect("init");
    assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
    let vkey = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("log verifier key: ").map(str::to_string))
        .expect("vkey");
    let log_key = LogKey::parse(&vkey).expect("vkey parses");

    let server = Server::start(&data);
    let agent = ureq::AgentBuilder::new().build();
    let intake = key(20);
    let at = ledger_node::now_at();
    let grant = json!({"v":1,"kind":"key.granted","id":"g-intake","at":at,"key":key_hex(&intake).to_hex(),"holder":"intake","roles":["intake"]});
    let (s, v) = post(
        &agent,
        &server.url,
        &Envelope::sign(&serde_json::to_vec(&grant).expect("json"), &[&key(1), &key(2)]),
    );
    assert_eq!(s, 201, "{v}");
    let fund = json!({"v":1,"kind":"fund.opened","id":"F","at":at,"name":"General","programme":"general","restricted":false,"opening_balance_fen":0});
    let (s, v) =
        post(&agent, &server.url, &Envelope::sign(&serde_json::to_vec(&fund).expect("json"), &[&key(1)]));
    assert_eq!(s, 201, "{v}");

    // 16 clients append 40 donations each, at once.
    let acknowledged: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    std::thread::scope(|scope| {
        for t in 0..16 {
            let (url, agent, intake, at, acked) =
                (server.url.clone(), agent.clone(), intake.clone(), at.clone(), Arc::clone(&acknowledged));
            scope.spawn(move || {
                for i in 0..40 {
                    let body = json!({"v":1,"kind":"donation.received","id":format!("D-{t}-{i}"),"at":at,"fund":"F","amount_fen":100 + i,"channel":"wechat","donor":hex64(t as u8)});
                    let (s, v) = post(&agent, &url, &Envelope::sign(&serde_json::to_vec(&body).expect("json"), &[&intake]));
                    assert_eq!(s, 201, "{v}");
                    acked.lock().expect("lock").push((v["seq"].as_u64().expect("seq"), v["leaf_hash"].as_str().expect("leaf").to_string()));
                }
            });
        }
    });
    let note_before = get_text(&agent, &format!("{}/checkpoint", server.url));
    let before = open_checkpoint(&note_before, &log_key, &[]).expect("opens").checkpoint;
    assert_eq!(before.size, 3 + 16 * 40);
    server.kill();

    let server = Server::start(&data);
    let note_after = get_text(&agent, &format!("{}/checkpoint", server.url));
    let after = open_checkpoint(&note_after, &log_key, &[]).expect("opens").checkpoint;
    assert_eq!((after.size, after.root), (before.size, before.root), "same size, same root after restart");
    let acked = acknowledged.lock().expect("lock");
    assert_eq!(acked.len(), 640);
    for (seq, leaf) in acked.iter() {
        let bytes = agent
            .get(&format!("{}/v1/entries/{seq}", server.url))
            .call()
            .expect("entry")
            .into_string()
            .expect("text");
        assert_eq!(&ledger_core::hash::leaf_hash(bytes.as_bytes()).to_hex(), leaf, "entry {seq} unchanged");
    }
    server.kill();
}
