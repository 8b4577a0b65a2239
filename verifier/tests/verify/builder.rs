//! Builds ledgers for the verifier's tests and benchmark with `ledger-core` directly: every
//! event is signed, wrapped into its entry and applied to a `State`, so a built log is valid
//! by construction and `State::balances()` is the figure the verifier must find. Tampering
//! helpers rebuild the chain after a change, so each test breaks exactly one thing.
#![allow(dead_code)] // the benchmark uses only part of it

use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::{Checkpoint, LogSigner};
use ledger_core::dsse::{key_hex, Envelope};
use ledger_core::entry::{Entry, VerifiedEntry};
use ledger_core::hash::{leaf_hash, sha256, Hash};
use ledger_core::merkle::{prove_record, MemoryHashes};
use ledger_core::refusal::Refusal;
use ledger_core::rules::State;
use ledger_core::time::EntryTime;
use serde_json::{json, Value};

pub const ORIGIN: &str = "test-county.example/ledger";
/// 2026-03-01T02:00:00Z.
pub const T0_MS: i64 = 1_772_330_400_000;
pub const STEP_MS: i64 = 60_000;
pub const DUAL_CONTROL_FEN: u64 = 5_000_000;
pub const NONCE: [u8; 32] = [7u8; 32];

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The desks of the test federation, one key each (two for the money desks).
pub struct Keys {
    pub admin1: SigningKey,
    pub admin2: SigningKey,
    pub intake: SigningKey,
    pub intake2: SigningKey,
    pub caseworker: SigningKey,
    pub allocator: SigningKey,
    pub allocator2: SigningKey,
    pub disburser: SigningKey,
    pub disburser2: SigningKey,
    pub hotline: SigningKey,
    pub auditor: SigningKey,
    /// Holds no role: signs nothing the log may accept.
    pub stranger: SigningKey,
    pub log: SigningKey,
}

impl Keys {
    pub fn new(salt: u8) -> Keys {
        let k = |n: u8| key(n.wrapping_add(salt));
        Keys {
            admin1: k(1),
            admin2: k(2),
            intake: k(3),
            intake2: k(4),
            caseworker: k(5),
            allocator: k(6),
            allocator2: k(7),
            disburser: k(8),
            disburser2: k(9),
            hotline: k(10),
            auditor: k(11),
            stranger: k(12),
            log: k(13),
        }
    }

    /// The key whose role signs `kind` (SPEC.md §5).
    pub fn for_kind(&self, kind: &str) -> &SigningKey {
        match kind.split('.').next().unwrap_or("") {
            "case" => &self.caseworker,
            "donation" => &self.intake,
            "earmark" | "allocation" => &self.allocator,
            "disbursement" => &self.disburser,
            "complaint" => &self.hotline,
            "audit" | "rectification" => &self.auditor,
            _ => &self.admin1,
        }
    }
}

/// One appended event: what was signed and when the log took it.
#[derive(Clone)]
pub struct Logged {
    pub envelope: Envelope,
    pub time_ms: i64,
}

pub struct Builder {
    pub keys: Keys,
    pub state: State,
    pub events: Vec<Logged>,
    pub time_ms: i64,
    /// Entry bytes, one per entry, as the export holds them.
    pub lines: Vec<Vec<u8>>,
    /// Keep `lines` (tests) or let the caller drain them (benchmark).
    pub keep_events: bool,
}

pub fn at(ms: i64) -> String {
    EntryTime::from_unix_ms(ms).map(|t| t.as_str().to_string()).unwrap_or_default()
}

impl Builder {
    /// Genesis and one grant per desk.
    pub fn new(salt: u8) -> Builder {
        let keys = Keys::new(salt);
        let mut b = Builder {
            keys,
            state: State::new(),
            events: Vec::new(),
            time_ms: T0_MS,
            lines: Vec::new(),
            keep_events: true,
        };
        let genesis = json!({
            "v": 1, "kind": "ledger.genesis", "id": "genesis", "at": at(T0_MS),
            "origin": ORIGIN, "name": "Test county charity federation", "currency": "CNY",
            "admins": [key_hex(&b.keys.admin1).to_hex(), key_hex(&b.keys.admin2).to_hex()],
            "log_key": key_hex(&b.keys.log).to_hex(),
            "policy": {"dual_control_fen": DUAL_CONTROL_FEN, "min_audit_permille": 100, "max_backdate_days": 30}
        });
        let (a1, a2) = (b.keys.admin1.clone(), b.keys.admin2.clone());
        b.append_signed(&genesis, &[&a1, &a2]).expect("genesis");
        let grants: Vec<(String, SigningKey, &str)> = vec![
            ("intake".into(), b.keys.intake.clone(), "intake"),
            ("intake-2".into(), b.keys.intake2.clone(), "intake"),
            ("caseworker".into(), b.keys.caseworker.clone(), "caseworker"),
            ("allocator".into(), b.keys.allocator.clone(), "allocator"),
            ("allocator-2".into(), b.keys.allocator2.clone(), "allocator"),
            ("disburser".into(), b.keys.disburser.clone(), "disburser"),
            ("disburser-2".into(), b.keys.disburser2.clone(), "disburser"),
            ("hotline".into(), b.keys.hotline.clone(), "hotline"),
            ("auditor".into(), b.keys.auditor.clone(), "auditor"),
        ];
        for (name, k, role) in grants {
            let body = json!({
                "v": 1, "kind": "key.granted", "id": format!("grant-{name}"), "at": at(b.time_ms),
                "key": key_hex(&k).to_hex(), "holder": format!("{name} desk"), "roles": [role]
            });
            b.append_signed(&body, &[&a1, &a2]).expect("grant");
        }
        b
    }

    pub fn size(&self) -> u64 {
        self.state.size()
    }

    /// Signs `body` with `keys`, appends it one step after the last entry, and applies it.
    pub fn append_signed(&mut self, body: &Value, keys: &[&SigningKey]) -> Result<(), Refusal> {
        let bytes = serde_json::to_vec(body).expect("json");
        let envelope = Envelope::sign(&bytes, keys);
        let time = EntryTime::from_unix_ms(self.time_ms).expect("time");
        let entry =
            VerifiedEntry::new(self.state.size(), self.state.last_leaf(), time, envelope.trust_stored()?)?;
        self.state.apply(&entry)?;
        self.lines.push(entry.bytes().to_vec());
        if self.keep_events {
            self.events.push(Logged { envelope, time_ms: self.time_ms });
        }
        self.time_ms += STEP_MS;
        Ok(())
    }

    /// Appends `body` signed by the desk of its kind; panics on a refusal (a test bug).
    pub fn add(&mut self, body: Value) {
        let kind = body["kind"].as_str().unwrap_or("").to_string();
        let k = self.keys.for_kind(&kind).clone();
        if let Err(e) = self.append_signed(&body, &[&k]) {
            panic!("builder: {kind} {} refused: {e}", body["id"]);
        }
    }

    pub fn body(&self, kind: &str, id: &str, fields: Value) -> Value {
        let mut body = json!({"v": 1, "kind": kind, "id": id, "at": at(self.time_ms)});
        if let (Some(map), Value::Object(extra)) = (body.as_object_mut(), fields) {
            map.extend(extra);
        }
        body
    }

    /// The export: every entry's bytes, `\n` after each.
    pub fn export(&self) -> Vec<u8> {
        export_of(&self.lines)
    }

    /// The RFC 6962 tree over the first `size` entries.
    pub fn tree(&self, size: u64) -> MemoryHashes {
        let mut t = MemoryHashes::new();
        for line in self.lines.iter().take(size as usize) {
            t.append_leaf(leaf_hash(line));
        }
        t
    }

    pub fn log_signer(&self) -> LogSigner {
        LogSigner::new(ORIGIN, self.keys.log.clone()).expect("log signer")
    }

    pub fn log_vkey(&self) -> String {
        self.log_signer().log_key().verifier_key()
    }

    /// The log's signed checkpoint at `size`.
    pub fn checkpoint(&self, size: u64) -> String {
        let root = self.tree(size).root();
        self.log_signer().sign(&Checkpoint { origin: ORIGIN.into(), size, root }).expect("sign")
    }

    /// A receipt bundle for the entry at `seq`, in a tree of `size`.
    pub fn receipt(&self, seq: u64, size: u64) -> Value {
        let tree = self.tree(size);
        let proof = prove_record(size, seq, &tree).expect("proof");
        json!({
            "seq": seq,
            "entry_b64": ledger_core::encoding::b64_encode(&self.lines[seq as usize]),
            "size": size,
            "proof": proof.iter().map(|h| h.to_base64()).collect::<Vec<_>>(),
            "checkpoint": self.checkpoint(size),
            "log_key": self.log_vkey(),
        })
    }
}

pub fn export_of(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

/// Entry bytes for `events` with seq and prev recomputed, as a forger would: the chain looks
/// right, whatever the events say.
pub fn rechain(events: &[Logged]) -> Vec<Vec<u8>> {
    let mut prev = Hash::ZERO;
    let mut out = Vec::with_capacity(events.len());
    for (seq, e) in events.iter().enumerate() {
        let entry = Entry {
            seq: seq as u64,
            prev: prev.to_hex(),
            time: EntryTime::from_unix_ms(e.time_ms).expect("time"),
            envelope: e.envelope.clone(),
        };
        let bytes = entry.to_bytes();
        prev = leaf_hash(&bytes);
        out.push(bytes);
    }
    out
}

/// A year in miniature through every kind of event: funds (restricted, sponsored, closed),
/// cases, cash, goods and earmarked gifts, allocations, disbursements, a refund, a correction,
/// a redirect, a revocation, a return, complaints, and an audit plan with its sample, finding
/// and rectification, plus a plan never sampled.
pub fn small_log() -> Builder {
    let mut b = Builder::new(0);
    let vendor = json!({"vendor": "County People's Hospital"});
    let person = json!({"commitment": hex::encode(sha256(&[b"beneficiary"]).0)});
    let evidence = json!([hex::encode(sha256(&[b"voucher"]).0)]);
    let steps: Vec<(&str, &str, Value)> = vec![
        (
            "fund.opened",
            "f-general",
            json!({"name": "General fund", "programme": "general", "restricted": false, "opening_balance_fen": 1_000_000}),
        ),
        (
            "fund.opened",
            "f-medical",
            json!({"name": "Major illness fund", "programme": "medical", "restricted": true, "sponsor": "Acme Pharma Co.", "opening_balance_fen": 0}),
        ),
        (
            "fund.opened",
            "f-edu",
            json!({"name": "Student aid", "programme": "education", "restricted": true, "opening_balance_fen": 0}),
        ),
        (
            "fund.opened",
            "f-tmp",
            json!({"name": "Winter drive 2025", "programme": "poverty", "restricted": true, "opening_balance_fen": 0}),
        ),
        ("fund.closed", "f-tmp-closed", json!({"fund": "f-tmp", "reason": "drive ended"})),
        (
            "case.opened",
            "c-1",
            json!({"programme": "medical", "beneficiary": hex::encode(sha256(&[b"b1"]).0), "region": "Town A", "summary": "surgery", "requested_fen": 80_000}),
        ),
        (
            "case.opened",
            "c-2",
            json!({"programme": "education", "beneficiary": hex::encode(sha256(&[b"b2"]).0), "region": "Town B", "summary": "tuition", "requested_fen": 10_000}),
        ),
        (
            "case.opened",
            "c-3",
            json!({"programme": "elderly", "beneficiary": hex::encode(sha256(&[b"b3"]).0), "region": "Town C", "summary": "winter care", "requested_fen": 60_000}),
        ),
        (
            "donation.received",
            "d-1",
            json!({"fund": "f-medical", "amount_fen": 50_000, "channel": "wechat", "donor": hex::encode(sha256(&[b"donor1"]).0)}),
        ),
        (
            "donation.received",
            "d-2",
            json!({"fund": "f-general", "amount_fen": 20_000, "channel": "bank", "donor_name": "Lanling Cement Co."}),
        ),
        (
            "donation.received",
            "d-3",
            json!({"fund": "f-general", "goods": {"item": "rice", "quantity": 100, "unit": "bag", "unit_value_fen": 5_000}, "channel": "goods"}),
        ),
        ("donation.received", "d-4", json!({"case": "c-3", "amount_fen": 30_000, "channel": "alipay"})),
        ("donation.received", "d-5", json!({"fund": "f-edu", "amount_fen": 10_000, "channel": "cash"})),
        (
            "allocation.made",
            "a-1",
            json!({"fund": "f-medical", "case": "c-1", "amount_fen": 40_000, "decision": "meeting 2026-03"}),
        ),
        (
            "allocation.made",
            "a-2",
            json!({"fund": "f-general", "case": "c-3", "goods": {"item": "rice", "quantity": 40}, "decision": "meeting 2026-03"}),
        ),
        (
            "allocation.made",
            "a-3",
            json!({"fund": "f-edu", "case": "c-2", "amount_fen": 8_000, "decision": "approval 17"}),
        ),
        (
            "disbursement.made",
            "x-1",
            json!({"case": "c-1", "amount_fen": 30_000, "method": "bank", "payee": vendor, "evidence": evidence}),
        ),
        (
            "disbursement.made",
            "x-2",
            json!({"case": "c-3", "goods": {"item": "rice", "quantity": 30}, "method": "goods", "payee": person, "evidence": evidence}),
        ),
        (
            "disbursement.made",
            "x-3",
            json!({"case": "c-3", "amount_fen": 20_000, "method": "cash", "payee": person, "evidence": evidence}),
        ),
        (
            "donation.refunded",
            "r-1",
            json!({"donation": "d-2", "amount_fen": 5_000, "reason": "donor asked"}),
        ),
        (
            "donation.corrected",
            "k-1",
            json!({"donation": "d-5", "amount_fen": 1_000, "reason": "typo in amount"}),
        ),
        (
            "allocation.revoked",
            "v-1",
            json!({"allocation": "a-1", "amount_fen": 5_000, "reason": "cost lower"}),
        ),
        (
            "disbursement.returned",
            "t-1",
            json!({"disbursement": "x-1", "amount_fen": 2_000, "reason": "overpaid"}),
        ),
        (
            "earmark.redirected",
            "e-1",
            json!({"donation": "d-4", "fund": "f-general", "amount_fen": 5_000, "reason": "case needs less"}),
        ),
        (
            "complaint.filed",
            "comp-1",
            json!({"channel": "hotline", "subjects": ["x-1"], "summary": "payment late"}),
        ),
        (
            "complaint.updated",
            "comp-1-u",
            json!({"complaint": "comp-1", "status": "investigating", "note": "checking"}),
        ),
        (
            "complaint.resolved",
            "comp-1-r",
            json!({"complaint": "comp-1", "finding": "partly", "actions": ["t-1"], "summary": "overpayment returned"}),
        ),
        (
            "complaint.filed",
            "comp-2",
            json!({"channel": "mailbox", "subjects": ["a-2"], "summary": "why rice"}),
        ),
    ];
    for (kind, id, fields) in steps {
        let body = b.body(kind, id, fields);
        b.add(body);
    }
    // An audit of the donations: the window is closed, the seed size lies in the future.
    let from = b.state.lookup("d-1").expect("d-1").0;
    let to = b.size();
    let seed_size = b.size() + 3;
    let plan = b.body(
        "audit.planned",
        "p-1",
        json!({"population": "donations", "from_seq": from, "to_seq": to, "rate_permille": 500,
               "seed_size": seed_size, "nonce_hash": hex::encode(sha256(&[&NONCE]).0), "summary": "half the gifts"}),
    );
    b.add(plan);
    for i in 0..3 {
        let body = b.body(
            "donation.received",
            &format!("d-late-{i}"),
            json!({"fund": "f-general", "amount_fen": 1_000 + i, "channel": "wechat"}),
        );
        b.add(body);
    }
    let selected = b.state.sample_selection("p-1", &NONCE).expect("sample");
    let ids: Vec<&str> = selected.iter().map(String::as_str).collect();
    let sampled = b.body(
        "audit.sampled",
        "s-1",
        json!({"plan": "p-1", "nonce": hex::encode(NONCE), "selected_count": ids.len(),
               "selected_hash": ledger_core::sample::selected_hash(&ids).to_hex()}),
    );
    b.add(sampled);
    let subject = ids.first().copied().unwrap_or("d-1").to_string();
    let steps: Vec<(&str, &str, Value)> = vec![
        (
            "audit.finding",
            "fi-1",
            json!({"sample": "s-1", "subjects": [subject], "severity": "minor", "summary": "slip missing"}),
        ),
        (
            "rectification.issued",
            "ri-1",
            json!({"finding": "fi-1", "subject": subject, "deadline": "2026-04-30", "summary": "file the slip"}),
        ),
        ("rectification.closed", "rc-1", json!({"rectification": "ri-1", "summary": "slip filed"})),
        (
            "audit.planned",
            "p-2",
            json!({"population": "cases", "from_seq": 1, "to_seq": 20, "rate_permille": 100,
            "seed_size": 10_000, "nonce_hash": hex::encode(sha256(&[b"other"]).0), "summary": "cases"}),
        ),
        (
            "donation.received",
            "d-last",
            json!({"fund": "f-medical", "amount_fen": 12_345, "channel": "bank"}),
        ),
    ];
    for (kind, id, fields) in steps {
        let body = b.body(kind, id, fields);
        b.add(body);
    }
    b
}

/// A long, plain log for the benchmark: gifts, cases, allocations and payments in a steady
/// rhythm, about one signature per entry. Calls `flush` with the entry lines as they pile up.
pub fn bulk_log(entries: u64, mut flush: impl FnMut(&[Vec<u8>])) -> Builder {
    let mut b = Builder::new(0);
    b.keep_events = false;
    let general = b.body("fund.opened", "f-general", json!({"name": "General fund", "programme": "general", "restricted": false, "opening_balance_fen": 0}));
    b.add(general);
    let beneficiary = hex::encode(sha256(&[b"bulk"]).0);
    let vendor = json!({"vendor": "County People's Hospital"});
    let evidence = json!([hex::encode(sha256(&[b"voucher"]).0)]);
    let mut n = 0u64;
    while b.size() < entries {
        for i in 0..6 {
            let body = b.body(
                "donation.received",
                &format!("d-{n}-{i}"),
                json!({"fund": "f-general", "amount_fen": 10_000, "channel": "wechat", "donor": beneficiary}),
            );
            b.add(body);
        }
        let case = format!("c-{n}");
        let body = b.body("case.opened", &case, json!({"programme": "medical", "beneficiary": beneficiary, "region": "Town A", "summary": "treatment", "requested_fen": 40_000}));
        b.add(body);
        let body = b.body(
            "allocation.made",
            &format!("a-{n}"),
            json!({"fund": "f-general", "case": case, "amount_fen": 40_000, "decision": "weekly meeting"}),
        );
        b.add(body);
        for i in 0..2 {
            let body = b.body("disbursement.made", &format!("x-{n}-{i}"), json!({"case": case, "amount_fen": 20_000, "method": "bank", "payee": vendor, "evidence": evidence}));
            b.add(body);
        }
        n += 1;
        if b.lines.len() >= 10_000 {
            flush(&b.lines);
            b.lines.clear();
        }
    }
    flush(&b.lines);
    b.lines.clear();
    b
}
