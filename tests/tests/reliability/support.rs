//! What the reliability tests share: keys, a ledger made with the real `ledger-node init`, a
//! small HTTP client, and the check that a node's log, checkpoint and balances are whole.

use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::{open_checkpoint, LogKey};
use ledger_core::dsse::{key_hex, Envelope};
use ledger_core::entry::VerifiedEntry;
use ledger_core::hash::leaf_hash;
use ledger_core::rules::State;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tests::process::{init_ledger, write_key_file};

pub const ORIGIN: &str = "reliability.example/ledger";

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub fn admins() -> [SigningKey; 2] {
    [key(1), key(2)]
}

pub fn intake() -> SigningKey {
    key(20)
}

/// A new ledger in `dir/ledger`, made by `ledger-node init` with admins 1 and 2.
pub struct Ledger {
    pub data: PathBuf,
    pub log_key: LogKey,
    pub stderr_log: PathBuf,
}

impl Ledger {
    /// `keys_dir` holds the admins' secret key files; it may differ from where the data goes.
    pub fn init(data: &Path, keys_dir: &Path) -> Ledger {
        let files: Vec<PathBuf> = admins()
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let p = keys_dir.join(format!("admin-{}.key", i + 1));
                write_key_file(&p, &k.to_bytes());
                p
            })
            .collect();
        let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let vkey = init_ledger(data, ORIGIN, &refs);
        Ledger {
            data: data.to_path_buf(),
            log_key: LogKey::parse(&vkey).expect("the verifier key parses"),
            stderr_log: keys_dir.join("node.stderr.log"),
        }
    }
}

/// An author's `at` for now.
pub fn now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    ledger_core::time::EntryTime::from_unix_ms(ms).expect("time").as_str().to_string()
}

pub fn sign(body: &Value, keys: &[&SigningKey]) -> Envelope {
    Envelope::sign(&serde_json::to_vec(body).expect("json"), keys)
}

/// A gift of `amount_fen` into fund `F`, signed by the intake key.
pub fn gift(id: &str, amount_fen: u64, donor_name: &str) -> Envelope {
    let mut body = json!({"v":1,"kind":"donation.received","id":id,"at":now(),"fund":"F","amount_fen":amount_fen,"channel":"bank"});
    if !donor_name.is_empty() {
        body["donor_name"] = json!(donor_name);
    }
    sign(&body, &[&intake()])
}

/// The envelopes that make a fresh ledger usable: an intake key and an open fund `F`.
pub fn first_envelopes() -> Vec<Envelope> {
    let [a1, a2] = admins();
    let grant = json!({"v":1,"kind":"key.granted","id":"grant-intake","at":now(),
        "key":key_hex(&intake()).to_hex(),"holder":"intake desk","roles":["intake"]});
    let fund = json!({"v":1,"kind":"fund.opened","id":"F","at":now(),"name":"General",
        "programme":"general","restricted":false,"opening_balance_fen":0});
    vec![sign(&grant, &[&a1, &a2]), sign(&fund, &[&a1])]
}

/// A small blocking HTTP client: every answer, whatever its status, as `(status, body)`;
/// `Err` only when no answer came (the node is gone).
#[derive(Clone)]
pub struct Http {
    agent: ureq::Agent,
}

impl Http {
    pub fn new() -> Http {
        Http {
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(5))
                .timeout(Duration::from_secs(30))
                .build(),
        }
    }

    fn answer(r: Result<ureq::Response, ureq::Error>) -> Result<(u16, Vec<u8>), String> {
        let r = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(e.to_string()),
        };
        let status = r.status();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut body).map_err(|e| e.to_string())?;
        Ok((status, body))
    }

    pub fn post(&self, url: &str, body: &[u8]) -> Result<(u16, Value), String> {
        let (s, b) =
            Self::answer(self.agent.post(url).set("content-type", "application/json").send_bytes(body))?;
        Ok((s, serde_json::from_slice(&b).unwrap_or(Value::Null)))
    }

    pub fn post_envelope(&self, base: &str, env: &Envelope) -> Result<(u16, Value), String> {
        self.post(&format!("{base}/v1/entries"), env.to_json().as_bytes())
    }

    pub fn post_batch(&self, base: &str, envs: &[Envelope]) -> Result<(u16, Value), String> {
        let body = format!("[{}]", envs.iter().map(Envelope::to_json).collect::<Vec<_>>().join(","));
        self.post(&format!("{base}/v1/batch"), body.as_bytes())
    }

    pub fn get(&self, url: &str) -> Result<(u16, Vec<u8>), String> {
        Self::answer(self.agent.get(url).call())
    }

    pub fn get_json(&self, url: &str) -> Result<(u16, Value), String> {
        let (s, b) = self.get(url)?;
        Ok((s, serde_json::from_slice(&b).unwrap_or(Value::Null)))
    }
}

/// The lines of an export, each an entry's exact bytes.
pub fn lines(export: &[u8]) -> Vec<Vec<u8>> {
    assert!(export.is_empty() || export.ends_with(b"\n"), "an export ends with a newline");
    export.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
}

/// What a whole log is known to be: its entries, and the state after replaying them all.
pub struct Replay {
    pub entries: Vec<Vec<u8>>,
    pub state: State,
}

impl Replay {
    pub fn new() -> Replay {
        Replay { entries: Vec::new(), state: State::new() }
    }

    /// Checks a node against everything known so far and extends the replay with what is new:
    /// the checkpoint opens with the log key; every entry past the known ones verifies and
    /// applies on the state after the one before it; the checkpoint's root is the replayed
    /// root, so every entry known before is still in the node's tree unchanged; a few old
    /// entries read back are byte for byte the same; and `/v1/balances` is the replay's.
    /// Reads only what is new, so a long run stays linear.
    pub fn check_node(&mut self, http: &Http, base: &str, log_key: &LogKey) -> Result<(), String> {
        let (s, note) = http.get(&format!("{base}/checkpoint"))?;
        if s != 200 {
            return Err(format!("/checkpoint answered {s}"));
        }
        let note = String::from_utf8(note).map_err(|_| "checkpoint is not UTF-8".to_string())?;
        let cp =
            open_checkpoint(&note, log_key, &[]).map_err(|e| format!("checkpoint does not open: {e:?}"))?;
        let size = cp.checkpoint.size;
        let known = self.entries.len() as u64;
        if size < known {
            return Err(format!("the log shrank from {known} to {size} entries"));
        }
        while (self.entries.len() as u64) < size {
            let start = self.entries.len() as u64;
            let (s, page) = http.get(&format!("{base}/v1/entries?start={start}&limit=1000"))?;
            let page = lines(&page);
            if s != 200 || page.is_empty() {
                return Err(format!("/v1/entries?start={start} answered {s} with {} entries", page.len()));
            }
            for bytes in page.into_iter().take((size - start) as usize) {
                let seq = self.entries.len();
                let entry =
                    VerifiedEntry::parse_and_verify(&bytes).map_err(|e| format!("entry {seq}: {e}"))?;
                self.state.apply(&entry).map_err(|e| format!("entry {seq} does not apply: {e}"))?;
                self.entries.push(bytes);
            }
        }
        if cp.checkpoint.root != self.state.root() {
            return Err(format!(
                "the checkpoint at size {size} names root {:?}; the log replays to {:?}",
                cp.checkpoint.root,
                self.state.root()
            ));
        }
        for seq in [0, known / 2, known.saturating_sub(1)].into_iter().filter(|&s| s < known) {
            let (s, bytes) = http.get(&format!("{base}/v1/entries/{seq}"))?;
            if s != 200 || bytes != self.entries[seq as usize] {
                return Err(format!("entry {seq} reads back changed ({s})"));
            }
        }
        let (s, balances) = http.get_json(&format!("{base}/v1/balances"))?;
        let replayed = serde_json::to_value(self.state.balances()).map_err(|e| e.to_string())?;
        if s != 200 || balances != replayed {
            return Err(format!("/v1/balances ({s}) differs from the balances replayed from the log"));
        }
        Ok(())
    }

    /// The node's whole export is, byte for byte, the entries replayed.
    pub fn check_export(&self, http: &Http, base: &str) -> Result<(), String> {
        let (s, export) = http.get(&format!("{base}/v1/export"))?;
        if s != 200 || lines(&export) != self.entries {
            return Err(format!("/v1/export ({s}) is not the log replayed entry by entry"));
        }
        Ok(())
    }

    pub fn leaf(&self, seq: u64) -> Option<String> {
        self.entries.get(seq as usize).map(|b| leaf_hash(b).to_hex())
    }

    /// The envelope stored at `seq`.
    pub fn envelope(&self, seq: u64) -> Option<Envelope> {
        let bytes = self.entries.get(seq as usize)?;
        ledger_core::entry::Entry::parse(bytes).ok().map(|e| e.envelope)
    }
}
