//! A small ledger for tests: genesis, one key per role, and an `append` that signs a body with
//! the key of the role its kind needs and applies it to a `State` at a controlled clock.

use ed25519_dalek::SigningKey;
use ledger_core::dsse::{key_hex, Envelope};
use ledger_core::entry::VerifiedEntry;
use ledger_core::refusal::Refusal;
use ledger_core::rules::{Applied, State};
use ledger_core::time::EntryTime;
use ledger_core::types::{Kind, Role};
use serde_json::{json, Value};

pub const AT: &str = "2026-03-01T10:00:00+08:00";
/// 2026-03-01T02:00:00Z, the instant `AT` names.
pub const T0_MS: i64 = 1_772_330_400_000;
pub const DUAL_CONTROL_FEN: u64 = 5_000_000;

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

#[allow(dead_code)] // used by the rule tests
pub fn hex64(byte: u8) -> String {
    format!("{byte:02x}").repeat(32)
}

pub struct Harness {
    pub state: State,
    pub admin: SigningKey,
    pub admin2: SigningKey,
    pub time_ms: i64,
}

pub fn role_seed(role: Role) -> u8 {
    10 + role as u8
}

/// A second key per role, for two-signature events.
pub fn second_seed(role: Role) -> u8 {
    40 + role as u8
}

pub fn role_of(kind: Kind) -> Role {
    match kind.as_str().split('.').next().unwrap_or("") {
        "case" => Role::Caseworker,
        "donation" => Role::Intake,
        "earmark" | "allocation" => Role::Allocator,
        "disbursement" => Role::Disburser,
        "complaint" => Role::Hotline,
        "audit" | "rectification" => Role::Auditor,
        _ => Role::Admin,
    }
}

impl Harness {
    /// Genesis at seq 0 with two admins, then grants until the next seq is 10 (as lots.json
    /// assumes): one key for each non-admin role and a second key for the money roles.
    pub fn new() -> Harness {
        let admin = key(1);
        let admin2 = key(2);
        let mut h =
            Harness { state: State::new(), admin: admin.clone(), admin2: admin2.clone(), time_ms: T0_MS };
        let genesis = json!({
            "v": 1, "kind": "ledger.genesis", "id": "genesis", "at": AT,
            "origin": "test.example/ledger", "name": "Test federation", "currency": "CNY",
            "admins": [key_hex(&admin).to_hex(), key_hex(&admin2).to_hex()],
            "log_key": key_hex(&key(3)).to_hex(),
            "policy": {"dual_control_fen": DUAL_CONTROL_FEN, "min_audit_permille": 100, "max_backdate_days": 30}
        });
        h.append_with(genesis, &[&admin, &admin2]).expect("genesis");
        let mut grants: Vec<(u8, Role)> = Role::ALL.iter().skip(1).map(|&r| (role_seed(r), r)).collect();
        grants.push((second_seed(Role::Allocator), Role::Allocator));
        grants.push((second_seed(Role::Disburser), Role::Disburser));
        grants.push((second_seed(Role::Intake), Role::Intake));
        for (seed, role) in grants {
            let body = json!({
                "v": 1, "kind": "key.granted", "id": format!("grant-{seed}"), "at": AT,
                "key": key_hex(&key(seed)).to_hex(), "holder": format!("{role} desk"), "roles": [role.as_str()]
            });
            h.append_with(body, &[&admin, &admin2]).expect("grant");
        }
        assert_eq!(h.state.size(), 10);
        h
    }

    pub fn role_key(&self, kind: Kind) -> SigningKey {
        match role_of(kind) {
            Role::Admin => self.admin.clone(),
            r => key(role_seed(r)),
        }
    }

    /// Signs `body` with the key of the role its kind needs (two admins for key changes).
    pub fn append(&mut self, body: Value) -> Result<Applied, Refusal> {
        let kind = Kind::parse(body["kind"].as_str().unwrap_or("")).expect("kind");
        if matches!(kind, Kind::KeyGranted | Kind::KeyRevoked | Kind::WitnessPolicy) {
            let (a, b) = (self.admin.clone(), self.admin2.clone());
            return self.append_with(body, &[&a, &b]);
        }
        let k = self.role_key(kind);
        self.append_with(body, &[&k])
    }

    pub fn append_with(&mut self, body: Value, keys: &[&SigningKey]) -> Result<Applied, Refusal> {
        let bytes = serde_json::to_vec(&body).expect("json");
        self.append_bytes(&bytes, keys)
    }

    pub fn append_bytes(&mut self, body: &[u8], keys: &[&SigningKey]) -> Result<Applied, Refusal> {
        let envelope = Envelope::sign(body, keys).verify()?;
        let time = EntryTime::from_unix_ms(self.time_ms).expect("time");
        let entry = VerifiedEntry::new(self.state.size(), self.state.last_leaf(), time, envelope)?;
        self.state.apply(&entry)
    }

    /// Appends and expects a refusal with `rule`, and that nothing changed.
    pub fn refused(&mut self, body: Value, rule: &str) {
        let before = (self.state.size(), self.state.balances());
        match self.append(body.clone()) {
            Ok(_) => panic!("{} {} was accepted, expected {rule}", body["kind"], body["id"]),
            Err(e) => assert_eq!(e.rule.as_str(), rule, "{} {}: {e}", body["kind"], body["id"]),
        }
        assert_eq!(before, (self.state.size(), self.state.balances()), "a refusal changed the state");
        self.state.check_lots().expect("lots consistent");
    }
}
