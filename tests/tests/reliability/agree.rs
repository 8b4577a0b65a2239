//! The node and the verifier agree (issue 8): every envelope the real node refuses, forged by
//! hand into the next entry of the node's own export, makes `ledger-verify` exit 1 at that
//! seq naming the same rule. Whatever the node would not write, the auditor would catch if it
//! were written anyway.

use crate::support::{admins, first_envelopes, intake, key, lines, now, sign, Http, Ledger};
use ledger_core::dsse::{key_hex, Envelope};
use ledger_core::entry::Entry;
use ledger_core::hash::leaf_hash;
use serde_json::{json, Value};
use std::process::Command;
use tests::process::{ledger_verify_bin, NodeProcess};

fn hex64(byte: u8) -> String {
    format!("{byte:02x}").repeat(32)
}

/// Envelopes the node must refuse, each with a name for the failure message.
fn refused(setup_time: &str) -> Vec<(&'static str, Envelope)> {
    let [a1, a2] = admins();
    let int = intake();
    let alloc = key(23);
    let stranger = key(99);
    let body = |v: Value| v;
    let gift = |id: &str, extra: Value| {
        let mut b = json!({"v":1,"kind":"donation.received","id":id,"at":now(),"fund":"F","amount_fen":100,"channel":"cash"});
        if let (Value::Object(m), Value::Object(e)) = (&mut b, extra) {
            m.extend(e);
        }
        b
    };
    let mut forged_sig = sign(&gift("R-sig", json!({})), &[&int]);
    forged_sig.signatures[0].sig = sign(&gift("R-other", json!({})), &[&int]).signatures[0].sig.clone();
    vec![
        ("unknown signer", sign(&gift("R-role", json!({})), &[&stranger])),
        ("wrong role", sign(&gift("R-wrong", json!({})), &[&alloc])),
        ("reused id", sign(&gift("D-1", json!({"amount_fen": 7})), &[&int])),
        (
            "overdraft",
            sign(
                &body(
                    json!({"v":1,"kind":"allocation.made","id":"R-over","at":now(),"fund":"F","case":"C","amount_fen":999_999_999,"decision":"m"}),
                ),
                &[&alloc],
            ),
        ),
        (
            "restricted fund",
            sign(
                &body(
                    json!({"v":1,"kind":"allocation.made","id":"R-restr","at":now(),"fund":"F-med","case":"C-edu","amount_fen":10,"decision":"m"}),
                ),
                &[&alloc],
            ),
        ),
        ("unknown reference", sign(&gift("R-ref", json!({"fund": "F-none"})), &[&int])),
        ("closed fund", sign(&gift("R-closed", json!({"fund": "F-closed"})), &[&int])),
        ("future time", sign(&gift("R-future", json!({"at": "2099-01-01T00:00:00Z"})), &[&int])),
        ("backdated", sign(&gift("R-old", json!({"at": "2001-01-01T00:00:00Z"})), &[&int])),
        (
            "dual control",
            sign(
                &body(
                    json!({"v":1,"kind":"allocation.made","id":"R-dual","at":now(),"fund":"F","case":"C","amount_fen":6_000_000,"decision":"m"}),
                ),
                &[&alloc],
            ),
        ),
        (
            "key change by one admin",
            sign(
                &body(
                    json!({"v":1,"kind":"key.granted","id":"R-quorum","at":now(),"key":key_hex(&key(77)).to_hex(),"holder":"x","roles":["intake"]}),
                ),
                &[&a1],
            ),
        ),
        (
            "last admin kept",
            sign(
                &body(
                    json!({"v":1,"kind":"key.revoked","id":"R-last","at":setup_time,"key":key_hex(&a2).to_hex(),"reason":"x"}),
                ),
                &[&a1, &a2],
            ),
        ),
        (
            "over return",
            sign(
                &body(
                    json!({"v":1,"kind":"disbursement.returned","id":"R-ret","at":now(),"disbursement":"X-1","amount_fen":999_999,"reason":"x"}),
                ),
                &[&key(24)],
            ),
        ),
        (
            "pii in text",
            sign(
                &body(
                    json!({"v":1,"kind":"case.opened","id":"R-pii","at":now(),"programme":"medical","beneficiary":hex64(1),"region":"x","summary":"call 13812345678","requested_fen":1}),
                ),
                &[&key(22)],
            ),
        ),
        ("unknown field", sign(&gift("R-field", json!({"extra": 1})), &[&int])),
        ("bad signature", forged_sig),
    ]
}

fn setup(http: &Http, base: &str) -> String {
    let [a1, a2] = admins();
    let at = now();
    let mut envs = first_envelopes();
    for (seed, role) in [(22u8, "caseworker"), (23, "allocator"), (24, "disburser")] {
        envs.push(sign(&json!({"v":1,"kind":"key.granted","id":format!("grant-{role}"),"at":at,"key":key_hex(&key(seed)).to_hex(),"holder":role,"roles":[role]}), &[&a1, &a2]));
    }
    let fund = |id: &str, programme: &str, restricted: bool| {
        sign(
            &json!({"v":1,"kind":"fund.opened","id":id,"at":at,"name":id,"programme":programme,"restricted":restricted,"opening_balance_fen":0}),
            &[&a1],
        )
    };
    envs.push(fund("F-med", "medical", true));
    envs.push(fund("F-closed", "general", false));
    envs.push(sign(
        &json!({"v":1,"kind":"fund.closed","id":"F-closed-x","at":at,"fund":"F-closed","reason":"merged"}),
        &[&a1],
    ));
    let case = |id: &str, programme: &str| {
        sign(
            &json!({"v":1,"kind":"case.opened","id":id,"at":at,"programme":programme,"beneficiary":hex64(9),"region":"兰陵镇","summary":"s","requested_fen":100000}),
            &[&key(22)],
        )
    };
    envs.push(case("C", "medical"));
    envs.push(case("C-edu", "education"));
    envs.push(sign(&json!({"v":1,"kind":"donation.received","id":"D-1","at":at,"fund":"F","amount_fen":50000,"channel":"bank"}), &[&intake()]));
    envs.push(sign(&json!({"v":1,"kind":"donation.received","id":"D-2","at":at,"fund":"F-med","amount_fen":50000,"channel":"bank"}), &[&intake()]));
    envs.push(sign(&json!({"v":1,"kind":"allocation.made","id":"A-1","at":at,"fund":"F","case":"C","amount_fen":20000,"decision":"m"}), &[&key(23)]));
    envs.push(sign(&json!({"v":1,"kind":"disbursement.made","id":"X-1","at":at,"case":"C","amount_fen":5000,"method":"bank","payee":{"vendor":"县医院"},"evidence":[]}), &[&key(24)]));
    for env in envs {
        let (s, v) = http.post_envelope(base, &env).expect("node answers");
        assert_eq!(s, 201, "setup refused: {v}");
    }
    at
}

#[test]
fn whatever_the_node_refuses_the_verifier_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::init(&dir.path().join("ledger"), dir.path());
    let node = NodeProcess::serve(&ledger.data, &ledger.stderr_log).expect("node starts");
    let http = Http::new();
    let setup_time = setup(&http, &node.url);
    // Revoke the second admin so the first is the last one: then revoking it is last_admin.
    let [a1, a2] = admins();
    let revoke = sign(
        &json!({"v":1,"kind":"key.revoked","id":"revoke-a1","at":setup_time,"key":key_hex(&a1).to_hex(),"reason":"rotation"}),
        &[&a1, &a2],
    );
    assert_eq!(http.post_envelope(&node.url, &revoke).expect("answer").0, 201);

    let mut refusals = Vec::new();
    for (name, env) in refused(&setup_time) {
        let (status, answer) = http.post_envelope(&node.url, &env).expect("node answers");
        assert!(status >= 400, "{name}: the node accepted it ({status} {answer})");
        let rule =
            answer["rule"].as_str().unwrap_or_else(|| panic!("{name}: no rule in {answer}")).to_string();
        refusals.push((name, env, rule));
    }
    let (s, export) = http.get(&format!("{}/v1/export", node.url)).expect("export");
    assert_eq!(s, 200);
    let entries = lines(&export);
    let last = Entry::parse(entries.last().expect("entries")).expect("entry");
    let vkey = ledger.log_key.verifier_key();
    let mut disagreements = Vec::new();
    for (name, envelope, rule) in &refusals {
        // The entry the node would have written, had it accepted the envelope.
        let forged = Entry {
            seq: entries.len() as u64,
            prev: leaf_hash(entries.last().expect("entries")).to_hex(),
            time: last.time.clone(),
            envelope: envelope.clone(),
        };
        let mut text = export.clone();
        text.extend_from_slice(&forged.to_bytes());
        text.push(b'\n');
        let file = dir.path().join("forged.jsonl");
        std::fs::write(&file, &text).expect("write");
        let out = Command::new(ledger_verify_bin())
            .arg("log")
            .arg(&file)
            .args(["--log-key", &vkey, "--json"])
            .output()
            .expect("run ledger-verify");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let got =
            (out.status.code(), report["violation"]["seq"].as_u64(), report["violation"]["rule"].as_str());
        if got != (Some(1), Some(entries.len() as u64), Some(rule.as_str())) {
            disagreements.push(format!("{name}: node refused with {rule}, verifier said {got:?}"));
        }
    }
    assert!(disagreements.is_empty(), "node and verifier disagree:\n{}", disagreements.join("\n"));
    // And the honest export itself verifies.
    let file = dir.path().join("honest.jsonl");
    std::fs::write(&file, &export).expect("write");
    let status = Command::new(ledger_verify_bin())
        .arg("log")
        .arg(&file)
        .args(["--log-key", &vkey])
        .output()
        .expect("run");
    assert_eq!(status.status.code(), Some(0), "{}", String::from_utf8_lossy(&status.stdout));
}
