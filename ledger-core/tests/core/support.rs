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
        // Every entry of every rules test also checks that `State::check` (a dry run's judge)
        // gives the verdict `apply` gives, without changing anything.
        let before = (self.state.size(), self.state.last_leaf(), self.state.balances());
        let checked = self.state.check(&entry);
        assert_eq!(
            before,
            (self.state.size(), self.state.last_leaf(), self.state.balances()),
            "check changed the state"
        );
        let applied = self.state.apply(&entry);
        assert_eq!(
            checked.as_ref().err().map(|r| r.rule),
            applied.as_ref().err().map(|r| r.rule),
            "check and apply disagree on {}",
            String::from_utf8_lossy(body)
        );
        applied
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

// ---------------------------------------------------------------------------------------------
// Event bodies for tests: `ev` adds the common fields, the others name the fields of one kind.
// Amounts are passed as `cash(n)` or `goods(item, quantity)` and merged into the body.

#[allow(dead_code)] // each test module uses some of these
pub mod bodies {
    use super::{key, AT};
    use ledger_core::dsse::key_hex;
    use serde_json::{json, Value};

    /// A body of `kind` with `v`, `id` and `at`, plus the fields of `extra` (an object).
    pub fn ev(kind: &str, id: &str, extra: Value) -> Value {
        with(json!({"v": 1, "kind": kind, "id": id, "at": AT}), extra)
    }

    /// `body` with the fields of `extra` added or replaced.
    pub fn with(mut body: Value, extra: Value) -> Value {
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        body
    }

    /// `body` without `field`.
    pub fn without(mut body: Value, field: &str) -> Value {
        if let Value::Object(b) = &mut body {
            b.remove(field);
        }
        body
    }

    pub fn cash(amount_fen: u64) -> Value {
        json!({"amount_fen": amount_fen})
    }

    pub fn goods(item: &str, quantity: u64) -> Value {
        json!({"goods": {"item": item, "quantity": quantity}})
    }

    pub fn goods_in(item: &str, quantity: u64, unit: &str, unit_value_fen: u64) -> Value {
        json!({"goods": {"item": item, "quantity": quantity, "unit": unit, "unit_value_fen": unit_value_fen}})
    }

    pub fn key_of(seed: u8) -> String {
        key_hex(&key(seed)).to_hex()
    }

    pub fn fund_open(id: &str, programme: &str, restricted: bool, opening_fen: u64) -> Value {
        ev(
            "fund.opened",
            id,
            json!({"name": format!("{programme} fund"), "programme": programme, "restricted": restricted,
                   "opening_balance_fen": opening_fen}),
        )
    }

    pub fn fund_close(id: &str, fund: &str) -> Value {
        ev("fund.closed", id, json!({"fund": fund, "reason": "programme ended"}))
    }

    pub fn case_open(id: &str, programme: &str) -> Value {
        ev(
            "case.opened",
            id,
            json!({"programme": programme, "beneficiary": "c1".repeat(32), "region": "Town A",
                   "summary": "household in need", "requested_fen": 300_000}),
        )
    }

    pub fn case_close(id: &str, case: &str) -> Value {
        ev("case.closed", id, json!({"case": case, "outcome": "helped"}))
    }

    /// A gift into a fund (`to` = "fund") or straight into a case (`to` = "case").
    pub fn donation(id: &str, to: &str, target: &str, amount: Value) -> Value {
        let channel = if amount.get("goods").is_some() { "goods" } else { "bank" };
        with(ev("donation.received", id, json!({(to): target, "channel": channel})), amount)
    }

    pub fn refund(id: &str, donation: &str, amount_fen: u64) -> Value {
        ev(
            "donation.refunded",
            id,
            json!({"donation": donation, "amount_fen": amount_fen, "reason": "donor asked"}),
        )
    }

    pub fn correct(id: &str, donation: &str, amount: Value) -> Value {
        with(ev("donation.corrected", id, json!({"donation": donation, "reason": "typing mistake"})), amount)
    }

    pub fn redirect(id: &str, donation: &str, fund: &str, amount: Value) -> Value {
        with(
            ev(
                "earmark.redirected",
                id,
                json!({"donation": donation, "fund": fund, "reason": "case needs less"}),
            ),
            amount,
        )
    }

    pub fn alloc(id: &str, fund: &str, case: &str, amount: Value) -> Value {
        with(ev("allocation.made", id, json!({"fund": fund, "case": case, "decision": "meeting 1"})), amount)
    }

    pub fn alloc_revoke(id: &str, allocation: &str, amount: Value) -> Value {
        with(
            ev("allocation.revoked", id, json!({"allocation": allocation, "reason": "over-approved"})),
            amount,
        )
    }

    pub fn disburse(id: &str, case: &str, amount: Value) -> Value {
        with(
            ev(
                "disbursement.made",
                id,
                json!({"case": case, "method": "bank", "payee": {"vendor": "County Hospital"},
                       "evidence": ["e1".repeat(32)]}),
            ),
            amount,
        )
    }

    pub fn disburse_return(id: &str, disbursement: &str, amount: Value) -> Value {
        with(
            ev("disbursement.returned", id, json!({"disbursement": disbursement, "reason": "bounced"})),
            amount,
        )
    }

    pub fn grant(id: &str, seed: u8, roles: &[&str]) -> Value {
        ev("key.granted", id, json!({"key": key_of(seed), "holder": "desk", "roles": roles}))
    }

    pub fn key_revoke(id: &str, seed: u8) -> Value {
        ev("key.revoked", id, json!({"key": key_of(seed), "reason": "left the office"}))
    }

    pub fn complaint(id: &str, subjects: &[&str]) -> Value {
        ev(
            "complaint.filed",
            id,
            json!({"channel": "hotline", "subjects": subjects, "summary": "the approved amount did not all arrive"}),
        )
    }

    pub fn complaint_update(id: &str, complaint: &str) -> Value {
        ev(
            "complaint.updated",
            id,
            json!({"complaint": complaint, "status": "investigating", "note": "called"}),
        )
    }

    pub fn complaint_resolve(id: &str, complaint: &str, actions: &[&str]) -> Value {
        ev(
            "complaint.resolved",
            id,
            json!({"complaint": complaint, "finding": "partly", "actions": actions, "summary": "paid in full"}),
        )
    }
}
