//! A node in a temporary directory with genesis and one key per role, and helpers that drive
//! its router with `oneshot` exactly as an HTTP client would.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use ed25519_dalek::SigningKey;
use http_body_util::BodyExt;
use ledger_core::dsse::{key_hex, Envelope};
use ledger_core::types::Role;
use ledger_node::node::Node;
use ledger_node::{api, keys, store, DataDir};
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

pub const ORIGIN: &str = "test-county.example/ledger";

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The first key of a role; for admin, the first genesis admin.
pub fn role_key(role: Role) -> SigningKey {
    match role {
        Role::Admin => key(1),
        r => key(10 + r as u8),
    }
}

pub fn second_key(role: Role) -> SigningKey {
    key(40 + role as u8)
}

pub fn hex64(byte: u8) -> String {
    format!("{byte:02x}").repeat(32)
}

pub struct Fixture {
    /// Kept so the data directory lives as long as the node.
    _dir: tempfile::TempDir,
    pub app: Router,
}

/// An author's `at` for now (the node stamps entries with the system clock).
pub fn now() -> String {
    ledger_node::now_at()
}

pub fn sign(body: &Value, keys: &[&SigningKey]) -> Envelope {
    Envelope::sign(&serde_json::to_vec(body).expect("json"), keys)
}

impl Fixture {
    /// A node with genesis (admins 1 and 2, log key 3, dual control at ¥50,000) and every role
    /// granted, all through the API.
    pub async fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(dir.path());
        keys::write_secret(&data.log_key(), &key(3)).expect("log key");
        let node = Node::open(store::Store::open(&data.store()).expect("store"), key(3)).expect("node");
        let app = api::app(Arc::clone(&node));
        let f = Fixture { _dir: dir, app };
        let genesis = json!({
            "v": 1, "kind": "ledger.genesis", "id": "genesis", "at": now(),
            "origin": ORIGIN, "name": "Test County Charity Federation", "currency": "CNY",
            "admins": [key_hex(&key(1)).to_hex(), key_hex(&key(2)).to_hex()],
            "log_key": key_hex(&key(3)).to_hex(),
            "policy": {"dual_control_fen": 5_000_000u64, "min_audit_permille": 100, "max_backdate_days": 30}
        });
        f.expect(201, sign(&genesis, &[&key(1), &key(2)])).await;
        for role in Role::ALL.iter().skip(1) {
            for (n, k) in [(1, role_key(*role)), (2, second_key(*role))] {
                let body = json!({
                    "v": 1, "kind": "key.granted", "id": format!("grant-{role}-{n}"), "at": now(),
                    "key": key_hex(&k).to_hex(), "holder": format!("{role} desk {n}"), "roles": [role.as_str()]
                });
                f.expect(201, sign(&body, &[&key(1), &key(2)])).await;
            }
        }
        f
    }

    pub async fn request(&self, method: &str, path: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
        let req = Request::builder().method(method).uri(path).body(Body::from(body)).expect("request");
        let resp = self.app.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes().to_vec();
        (status, bytes)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, b) = self.request("GET", path, Vec::new()).await;
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    pub async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let (s, b) = self.request("GET", path, Vec::new()).await;
        (s, String::from_utf8(b).expect("utf-8"))
    }

    pub async fn post(&self, envelope: &Envelope) -> (StatusCode, Value) {
        let (s, b) = self.request("POST", "/v1/entries", envelope.to_json().into_bytes()).await;
        (s, serde_json::from_slice(&b).expect("json answer"))
    }

    /// Posts and asserts the status; returns the answer.
    pub async fn expect(&self, status: u16, envelope: Envelope) -> Value {
        let (s, v) = self.post(&envelope).await;
        assert_eq!(s.as_u16(), status, "answer: {v}");
        v
    }

    /// Signs with the role's first key and expects 201.
    pub async fn ok(&self, role: Role, body: Value) -> Value {
        self.expect(201, sign(&body, &[&role_key(role)])).await
    }

    pub async fn size(&self) -> u64 {
        self.get("/healthz").await.1["size"].as_u64().expect("size")
    }
}

/// A small ledger: a medical fund (restricted), a general fund, a case, two donations, an
/// allocation and a disbursement.
pub async fn populated() -> Fixture {
    let f = Fixture::new().await;
    f.ok(Role::Admin, json!({"v":1,"kind":"fund.opened","id":"F-med","at":now(),"name":"助医基金","programme":"medical","restricted":true,"opening_balance_fen":0})).await;
    f.ok(Role::Admin, json!({"v":1,"kind":"fund.opened","id":"F-gen","at":now(),"name":"General","programme":"general","restricted":false,"opening_balance_fen":100000})).await;
    f.ok(Role::Caseworker, json!({"v":1,"kind":"case.opened","id":"C-1","at":now(),"programme":"medical","beneficiary":hex64(0xc1),"region":"兰陵镇","summary":"surgery","requested_fen":300000})).await;
    f.ok(Role::Intake, json!({"v":1,"kind":"donation.received","id":"D-1","at":now(),"fund":"F-med","amount_fen":20000,"channel":"wechat","donor":hex64(0xd1)})).await;
    f.ok(Role::Intake, json!({"v":1,"kind":"donation.received","id":"D-2","at":now(),"fund":"F-med","amount_fen":5000,"channel":"cash"})).await;
    f.ok(Role::Allocator, json!({"v":1,"kind":"allocation.made","id":"A-1","at":now(),"fund":"F-med","case":"C-1","amount_fen":22000,"decision":"meeting 7"})).await;
    f.ok(Role::Disburser, json!({"v":1,"kind":"disbursement.made","id":"X-1","at":now(),"case":"C-1","amount_fen":15000,"method":"bank","payee":{"commitment":hex64(0xc1)},"evidence":[hex64(0xe1)]})).await;
    f
}
