//! Who may sign what (SPEC.md §5), through `app()`: every role × every kind, revocation in the
//! middle of a batch, the two-admin quorum for key changes, and self-revocation.

use crate::support::*;
use ed25519_dalek::SigningKey;
use ledger_core::dsse::{key_hex, Envelope};
use ledger_core::hash::sha256;
use ledger_core::types::{Kind, Role};
use serde_json::{json, Value};

/// The role SPEC.md §5 names for each kind, written out again from the spec's table rather
/// than taken from the core, so that the two are checked against each other. `None`: no role
/// can sign it after seq 0 (genesis).
fn spec_role(kind: Kind) -> Option<Role> {
    Some(match kind {
        Kind::Genesis => return None,
        Kind::KeyGranted | Kind::KeyRevoked | Kind::WitnessPolicy | Kind::FundOpened | Kind::FundClosed => {
            Role::Admin
        }
        Kind::CaseOpened | Kind::CaseClosed => Role::Caseworker,
        Kind::DonationReceived | Kind::DonationRefunded | Kind::DonationCorrected => Role::Intake,
        Kind::EarmarkRedirected | Kind::AllocationMade | Kind::AllocationRevoked => Role::Allocator,
        Kind::DisbursementMade | Kind::DisbursementReturned => Role::Disburser,
        Kind::ComplaintFiled | Kind::ComplaintUpdated | Kind::ComplaintResolved => Role::Hotline,
        Kind::AuditPlanned
        | Kind::AuditSampled
        | Kind::AuditFinding
        | Kind::RectificationIssued
        | Kind::RectificationClosed => Role::Auditor,
    })
}

fn is_key_change(kind: Kind) -> bool {
    matches!(kind, Kind::KeyGranted | Kind::KeyRevoked | Kind::WitnessPolicy)
}

fn ev(kind: Kind, id: &str, extra: Value) -> Value {
    let mut b = json!({"v": 1, "kind": kind.as_str(), "id": id, "at": now()});
    if let (Value::Object(b), Value::Object(e)) = (&mut b, extra) {
        b.extend(e);
    }
    b
}

/// A key that exists only for one row of the matrix.
fn fresh_key(tag: &str) -> SigningKey {
    SigningKey::from_bytes(&sha256(&[b"authz-test-key\n", tag.as_bytes()]).0)
}

fn nonce(tag: &str) -> [u8; 32] {
    sha256(&[b"authz-test-nonce\n", tag.as_bytes()]).0
}

fn batch_body(envelopes: &[Envelope]) -> Vec<u8> {
    format!("[{}]", envelopes.iter().map(Envelope::to_json).collect::<Vec<_>>().join(",")).into_bytes()
}

async fn post_batch(f: &Fixture, envelopes: &[Envelope]) -> (u16, Value) {
    let (s, b) = f.request("POST", "/v1/batch", batch_body(envelopes)).await;
    (s.as_u16(), serde_json::from_slice(&b).expect("json answer"))
}

async fn seq_of(f: &Fixture, id: &str) -> u64 {
    let (s, v) = f.get(&format!("/v1/events/{id}")).await;
    assert_eq!(s, 200, "event {id}");
    v["seq"].as_u64().expect("seq")
}

/// Objects a kind's body refers to, made by the keys that may make them, for the row `tag`.
/// `size` is the log size before the setup batch; every kind's setup is at most one envelope
/// per row, so the batch ends at `size + rows`.
fn setup(kind: Kind, tag: &str, size: u64, rows: u64, d1: u64) -> Option<Envelope> {
    let obj = format!("obj-{tag}");
    let admins = [&key(1), &key(2)];
    let by = |role: Role, body: Value| sign(&body, &[&role_key(role)]);
    Some(match kind {
        Kind::KeyRevoked => sign(
            &ev(
                Kind::KeyGranted,
                &obj,
                json!({"key": key_hex(&fresh_key(tag)).to_hex(), "holder": "temp desk", "roles": ["hotline"]}),
            ),
            &admins,
        ),
        Kind::FundClosed => by(
            Role::Admin,
            ev(
                Kind::FundOpened,
                &obj,
                json!({"name":"short-lived","programme":"general","restricted":false,"opening_balance_fen":0}),
            ),
        ),
        Kind::CaseClosed => by(
            Role::Caseworker,
            ev(
                Kind::CaseOpened,
                &obj,
                json!({"programme":"elderly","beneficiary":hex64(0xca),"region":"x","summary":"visit","requested_fen":100}),
            ),
        ),
        Kind::DonationRefunded | Kind::DonationCorrected => by(
            Role::Intake,
            ev(Kind::DonationReceived, &obj, json!({"fund":"F-gen","amount_fen":1000,"channel":"bank"})),
        ),
        Kind::EarmarkRedirected => by(
            Role::Intake,
            ev(Kind::DonationReceived, &obj, json!({"case":"C-1","amount_fen":1000,"channel":"bank"})),
        ),
        Kind::AllocationRevoked => by(
            Role::Allocator,
            ev(
                Kind::AllocationMade,
                &obj,
                json!({"fund":"F-gen","case":"C-1","amount_fen":100,"decision":"m"}),
            ),
        ),
        Kind::DisbursementReturned => by(
            Role::Disburser,
            ev(
                Kind::DisbursementMade,
                &obj,
                json!({"case":"C-1","amount_fen":100,"method":"cash","payee":{"vendor":"Shop"},"evidence":[]}),
            ),
        ),
        Kind::ComplaintUpdated | Kind::ComplaintResolved => by(
            Role::Hotline,
            ev(Kind::ComplaintFiled, &obj, json!({"channel":"mailbox","subjects":["C-1"],"summary":"late"})),
        ),
        Kind::AuditSampled => by(
            Role::Auditor,
            ev(
                Kind::AuditPlanned,
                &obj,
                json!({"population":"donations","from_seq":d1,"to_seq":d1 + 1,"rate_permille":1000,
                       "seed_size":size + rows,"nonce_hash":sha256(&[&nonce(tag)]).to_hex(),"summary":"s"}),
            ),
        ),
        Kind::RectificationClosed => by(
            Role::Auditor,
            ev(
                Kind::RectificationIssued,
                &obj,
                json!({"finding":"FD-0","subject":"X-1","deadline":"2030-01-31","summary":"fix"}),
            ),
        ),
        _ => return None,
    })
}

/// A body of `kind` that the kind's own role may sign, given the setup for `tag`.
fn body_for(kind: Kind, tag: &str, d1: u64) -> Value {
    let obj = format!("obj-{tag}");
    let id = format!("ev-{tag}");
    let extra = match kind {
        Kind::Genesis => json!({"origin":ORIGIN,"name":"again","currency":"CNY",
            "admins":[key_hex(&key(1)).to_hex(),key_hex(&key(2)).to_hex()],"log_key":key_hex(&key(3)).to_hex(),
            "policy":{"dual_control_fen":5_000_000u64,"min_audit_permille":100,"max_backdate_days":30}}),
        Kind::KeyGranted => {
            json!({"key": key_hex(&fresh_key(tag)).to_hex(), "holder": "new desk", "roles": ["hotline"]})
        }
        Kind::KeyRevoked => json!({"key": key_hex(&fresh_key(tag)).to_hex(), "reason": "left"}),
        Kind::WitnessPolicy => json!({"witnesses": [], "quorum": 0}),
        Kind::FundOpened => {
            json!({"name":"new fund","programme":"children","restricted":true,"opening_balance_fen":0})
        }
        Kind::FundClosed => json!({"fund": obj, "reason": "ended"}),
        Kind::CaseOpened => {
            json!({"programme":"poverty","beneficiary":hex64(0xcb),"region":"x","summary":"s","requested_fen":100})
        }
        Kind::CaseClosed => json!({"case": obj, "outcome": "done"}),
        Kind::DonationReceived => json!({"fund":"F-gen","amount_fen":100,"channel":"wechat"}),
        Kind::DonationRefunded => json!({"donation": obj, "amount_fen": 100, "reason": "asked"}),
        Kind::DonationCorrected => json!({"donation": obj, "amount_fen": 100, "reason": "typo"}),
        Kind::EarmarkRedirected => {
            json!({"donation": obj, "fund": "F-gen", "amount_fen": 100, "reason": "less needed"})
        }
        Kind::AllocationMade => json!({"fund":"F-gen","case":"C-1","amount_fen":100,"decision":"m"}),
        Kind::AllocationRevoked => json!({"allocation": obj, "amount_fen": 50, "reason": "over"}),
        Kind::DisbursementMade => {
            json!({"case":"C-1","amount_fen":100,"method":"bank","payee":{"commitment":hex64(0xc1)},"evidence":[hex64(0xe4)]})
        }
        Kind::DisbursementReturned => json!({"disbursement": obj, "amount_fen": 50, "reason": "bounced"}),
        Kind::ComplaintFiled => json!({"channel":"hotline","subjects":["C-1"],"summary":"late"}),
        Kind::ComplaintUpdated => json!({"complaint": obj, "status": "referred", "note": "n"}),
        Kind::ComplaintResolved => {
            json!({"complaint": obj, "finding": "unsubstantiated", "actions": ["X-1"], "summary": "ok"})
        }
        Kind::AuditPlanned => {
            json!({"population":"donations","from_seq":d1,"to_seq":d1 + 1,"rate_permille":100,
            "seed_size":1_000_000_000u64,"nonce_hash":hex64(0xab),"summary":"s"})
        }
        Kind::AuditSampled => json!({"plan": obj, "nonce": hex::encode(nonce(tag)), "selected_count": 1,
            "selected_hash": ledger_core::sample::selected_hash(&["D-1"]).to_hex()}),
        Kind::AuditFinding => json!({"sample":"S-0","subjects":["X-1"],"severity":"info","summary":"s"}),
        Kind::RectificationIssued => {
            json!({"finding":"FD-0","subject":"X-1","deadline":"2030-01-31","summary":"s"})
        }
        Kind::RectificationClosed => json!({"rectification": obj, "summary": "closed"}),
    };
    ev(kind, &id, extra)
}

#[tokio::test]
async fn every_role_signs_every_kind_and_only_the_spec_role_is_accepted() {
    let f = populated().await;
    let d1 = seq_of(&f, "D-1").await;
    // A sample and a finding that the audit kinds' bodies name.
    let size = f.size().await;
    let auditor = role_key(Role::Auditor);
    let n0 = nonce("zero");
    let audit = [
        ev(
            Kind::AuditPlanned,
            "P-0",
            json!({"population":"donations","from_seq":d1,"to_seq":d1 + 1,"rate_permille":1000,
            "seed_size":size + 1,"nonce_hash":sha256(&[&n0]).to_hex(),"summary":"s"}),
        ),
        ev(
            Kind::AuditSampled,
            "S-0",
            json!({"plan":"P-0","nonce":hex::encode(n0),"selected_count":1,
            "selected_hash":ledger_core::sample::selected_hash(&["D-1"]).to_hex()}),
        ),
        ev(
            Kind::AuditFinding,
            "FD-0",
            json!({"sample":"S-0","subjects":["X-1"],"severity":"minor","summary":"s"}),
        ),
    ];
    let audit: Vec<Envelope> = audit.iter().map(|b| sign(b, &[&auditor])).collect();
    let (s, v) = post_batch(&f, &audit).await;
    assert_eq!(s, 201, "audit setup: {v}");

    let roles = Role::ALL;
    let mut checked = 0;
    for &kind in Kind::ALL {
        let size = f.size().await;
        let tag = |role: Role| format!("{}-{}", kind.as_str().replace('.', "-"), role.as_str());
        let setups: Vec<Envelope> =
            roles.iter().filter_map(|&r| setup(kind, &tag(r), size, roles.len() as u64, d1)).collect();
        if !setups.is_empty() {
            assert_eq!(setups.len(), roles.len());
            let (s, v) = post_batch(&f, &setups).await;
            assert_eq!(s, 201, "setup for {kind}: {v}");
        }
        for &role in roles {
            let body = body_for(kind, &tag(role), d1);
            let before = f.size().await;
            let (status, answer) = f.post(&sign(&body, &[&role_key(role)])).await;
            let got = (status.as_u16(), answer["error"].as_str(), answer["rule"].as_str());
            let want = match spec_role(kind) {
                None => (422, Some("rule_violation"), Some("genesis_only")),
                Some(r) if r != role => (403, Some("unauthorized"), Some("role")),
                // Two admins hold keys in the fixture, so one admin alone may not change keys.
                Some(_) if is_key_change(kind) => (403, Some("unauthorized"), Some("key_change_quorum")),
                Some(_) => (201, None, None),
            };
            assert_eq!(got, want, "{role} signs {kind}: {answer}");
            let appended = if status == 201 { 1 } else { 0 };
            assert_eq!(f.size().await, before + appended, "{role} signs {kind}: log size");
            if is_key_change(kind) && spec_role(kind) == Some(role) {
                // With the second admin's signature the same body is accepted.
                let v = f.expect(201, sign(&body, &[&key(1), &key(2)])).await;
                assert_eq!(v["seq"], before);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, Kind::ALL.len() * Role::ALL.len());
    assert_eq!(checked, 24 * 7);
}

fn gift(id: &str, signer: &SigningKey) -> Envelope {
    sign(
        &ev(Kind::DonationReceived, id, json!({"fund":"F-gen","amount_fen":100,"channel":"cash"})),
        &[signer],
    )
}

fn revoke(id: &str, who: &SigningKey, signers: &[&SigningKey]) -> Envelope {
    sign(&ev(Kind::KeyRevoked, id, json!({"key": key_hex(who).to_hex(), "reason": "left"})), signers)
}

fn grant(id: &str, who: &SigningKey, roles: &[&str], signers: &[&SigningKey]) -> Envelope {
    sign(
        &ev(Kind::KeyGranted, id, json!({"key": key_hex(who).to_hex(), "holder": "desk", "roles": roles})),
        signers,
    )
}

#[tokio::test]
async fn a_key_revoked_inside_a_batch_cannot_sign_the_next_entry() {
    let f = populated().await;
    let intake2 = second_key(Role::Intake);
    let admins = [&key(1), &key(2)];
    for k in [0usize, 1, 3] {
        let size = f.size().await;
        let mut envs: Vec<Envelope> = (0..k).map(|i| gift(&format!("MB-{k}-{i}"), &intake2)).collect();
        envs.push(revoke(&format!("MB-{k}-revoke"), &intake2, &admins));
        envs.push(gift(&format!("MB-{k}-after"), &intake2));
        let (s, v) = post_batch(&f, &envs).await;
        assert_eq!(
            (s, v["error"].as_str(), v["rule"].as_str(), v["index"].as_u64()),
            (403, Some("unauthorized"), Some("revoked"), Some(k as u64 + 1)),
            "revoked at index {k}: {v}"
        );
        assert_eq!(f.size().await, size, "nothing of the batch is appended");
        for e in &envs {
            let id = serde_json::from_slice::<Value>(
                &ledger_core::encoding::b64_decode_canonical(&e.payload).expect("payload"),
            )
            .expect("json")["id"]
                .as_str()
                .expect("id")
                .to_string();
            assert_eq!(f.get(&format!("/v1/events/{id}")).await.0, 404, "{id} was not logged");
        }
        // The refused revocation never happened: the key still signs.
        f.expect(201, gift(&format!("MB-{k}-still"), &intake2)).await;
    }
    // The same batch without the last envelope goes through, and the key is then revoked.
    let envs = vec![gift("MB-ok-0", &intake2), revoke("MB-ok-revoke", &intake2, &admins)];
    let (s, v) = post_batch(&f, &envs).await;
    assert_eq!(s, 201, "{v}");
    let v = f.expect(403, gift("MB-ok-after", &intake2)).await;
    assert_eq!(v["rule"], "revoked");
}

#[tokio::test]
async fn key_changes_need_two_admins_while_two_admins_hold_keys() {
    let f = populated().await;
    let (a1, a2, a3) = (key(1), key(2), key(60));
    let newcomer = key(61);
    let intake = role_key(Role::Intake);
    for (signers, rule) in [
        (vec![&a1], "key_change_quorum"),
        (vec![&a2], "key_change_quorum"),
        (vec![&a1, &intake], "role"),
        (vec![&intake, &a2], "role"),
    ] {
        let v = f.expect(403, grant("KQ-1", &newcomer, &["intake"], &signers)).await;
        assert_eq!(v["rule"], rule);
    }
    let policy = ev(Kind::WitnessPolicy, "KQ-w", json!({"witnesses": [], "quorum": 0}));
    assert_eq!(f.expect(403, sign(&policy, &[&a1])).await["rule"], "key_change_quorum");
    f.expect(201, sign(&policy, &[&a1, &a2])).await;
    f.expect(201, grant("KQ-1", &newcomer, &["intake"], &[&a1, &a2])).await;
    // A third admin; still two signatures needed.
    f.expect(201, grant("KQ-admin3", &a3, &["admin"], &[&a1, &a2])).await;
    assert_eq!(f.expect(403, revoke("KQ-r3", &a3, &[&a1])).await["rule"], "key_change_quorum");
    // The admin being removed may be one of the two.
    f.expect(201, revoke("KQ-r3", &a3, &[&a1, &a3])).await;
    assert_eq!(f.expect(422, grant("KQ-back", &a3, &["admin"], &[&a1, &a2])).await["rule"], "key_revoked");
    f.expect(201, revoke("KQ-r2", &a2, &[&a1, &a2])).await;
    // One admin left: it changes keys alone, but cannot remove itself or its admin role.
    f.expect(201, grant("KQ-2", &key(62), &["hotline"], &[&a1])).await;
    assert_eq!(f.expect(422, revoke("KQ-r1", &a1, &[&a1])).await["rule"], "last_admin");
    assert_eq!(f.expect(422, grant("KQ-demote", &a1, &["auditor"], &[&a1])).await["rule"], "last_admin");
    // Granting admin back to a revoked admin is refused: revoked keys stay revoked.
    assert_eq!(f.expect(422, grant("KQ-back2", &a2, &["admin"], &[&a1])).await["rule"], "key_revoked");
}

#[tokio::test]
async fn a_key_may_revoke_itself_alone_and_then_signs_nothing() {
    let f = populated().await;
    let intake2 = second_key(Role::Intake);
    let hotline = role_key(Role::Hotline);
    // Revoking itself with a co-signer who is no admin is not self-revocation.
    let v = f.expect(403, revoke("SR-1", &intake2, &[&intake2, &hotline])).await;
    assert_eq!(v["rule"], "role");
    // Nor may one key revoke another of the same role.
    let v = f.expect(403, revoke("SR-1", &intake2, &[&role_key(Role::Intake)])).await;
    assert_eq!(v["rule"], "role");
    f.expect(201, revoke("SR-1", &intake2, &[&intake2])).await;
    assert_eq!(f.expect(403, gift("SR-gift", &intake2)).await["rule"], "revoked");
    assert_eq!(f.expect(403, revoke("SR-2", &intake2, &[&intake2])).await["rule"], "revoked");
    assert_eq!(
        f.expect(422, revoke("SR-3", &intake2, &[&key(1), &key(2)])).await["rule"],
        "already_resolved"
    );
    assert_eq!(
        f.expect(422, grant("SR-4", &intake2, &["intake"], &[&key(1), &key(2)])).await["rule"],
        "key_revoked"
    );
    // An admin may leave alone too, while another admin remains; the last one may not.
    f.expect(201, revoke("SR-a2", &key(2), &[&key(2)])).await;
    assert_eq!(f.expect(422, revoke("SR-a1", &key(1), &[&key(1)])).await["rule"], "last_admin");
    // The remaining admin now changes keys alone.
    f.expect(201, grant("SR-5", &key(63), &["intake"], &[&key(1)])).await;
    f.expect(201, gift("SR-gift-2", &key(63))).await;
}
