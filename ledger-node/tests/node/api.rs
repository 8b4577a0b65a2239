//! Every endpoint of INTERFACES.md through `app()`, and every error code of SPEC.md §8.

use crate::support::*;
use ledger_core::checkpoint::{open_checkpoint, LogKey};
use ledger_core::encoding::{b64_decode_canonical, hash_from_b64};
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::merkle::{check_record, check_tree};
use ledger_core::types::Role;
use serde_json::{json, Value};

fn log_key() -> LogKey {
    LogKey::new(ORIGIN, key(3).verifying_key()).expect("log key")
}

fn proof_of(v: &Value) -> Vec<Hash> {
    v["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|p| hash_from_b64(p.as_str().expect("b64")).expect("hash"))
        .collect()
}

#[tokio::test]
async fn append_answers_seq_leaf_hash_and_a_checkpoint_that_includes_it() {
    let f = populated().await;
    let before = f.size().await;
    let body = json!({"v":1,"kind":"donation.received","id":"D-new","at":now(),"fund":"F-gen","amount_fen":100,"channel":"alipay"});
    let v = f.ok(Role::Intake, body).await;
    assert_eq!(v["seq"], before);
    let opened =
        open_checkpoint(v["checkpoint"].as_str().expect("note"), &log_key(), &[]).expect("checkpoint opens");
    assert_eq!(opened.checkpoint.size, before + 1);
    let (s, entry) = f.request("GET", &format!("/v1/entries/{before}"), vec![]).await;
    assert_eq!(s, 200);
    assert_eq!(leaf_hash(&entry).to_hex(), v["leaf_hash"].as_str().expect("leaf hash"));
}

#[tokio::test]
async fn retrying_the_same_envelope_is_idempotent_and_a_reused_id_is_refused() {
    let f = populated().await;
    let body = json!({"v":1,"kind":"donation.received","id":"D-retry","at":now(),"fund":"F-gen","amount_fen":100,"channel":"cash"});
    let env = sign(&body, &[&role_key(Role::Intake)]);
    let first = f.expect(201, env.clone()).await;
    let again = f.expect(200, env).await;
    assert_eq!(first["seq"], again["seq"]);
    let mut other = body.clone();
    other["amount_fen"] = json!(200);
    let v = f.expect(409, sign(&other, &[&role_key(Role::Intake)])).await;
    assert_eq!(v["error"], "duplicate_id");
    assert_eq!(v["seq"], first["seq"]);
}

#[tokio::test]
async fn every_error_code_has_the_spec_body() {
    let f = populated().await;
    let size = f.size().await;
    let intake = role_key(Role::Intake);
    // 413 too_large
    let (s, b) = f.request("POST", "/v1/entries", vec![b' '; 70 * 1024]).await;
    let v: Value = serde_json::from_slice(&b).expect("json");
    assert_eq!((s.as_u16(), v["error"].as_str()), (413, Some("too_large")));
    // 400 malformed: not JSON, unknown field, PII
    let (s, b) = f.request("POST", "/v1/entries", b"{not json".to_vec()).await;
    let v: Value = serde_json::from_slice(&b).expect("json");
    assert_eq!((s.as_u16(), v["error"].as_str()), (400, Some("malformed")));
    let unknown = json!({"v":1,"kind":"donation.received","id":"D-x","at":now(),"fund":"F-gen","amount_fen":1,"channel":"cash","extra":1});
    let v = f.expect(400, sign(&unknown, &[&intake])).await;
    assert_eq!(v["rule"], "field");
    let pii = json!({"v":1,"kind":"case.opened","id":"C-pii","at":now(),"programme":"medical","beneficiary":hex64(1),"region":"x","summary":"call 13812345678","requested_fen":1});
    let v = f.expect(400, sign(&pii, &[&role_key(Role::Caseworker)])).await;
    assert_eq!((v["error"].as_str(), v["rule"].as_str()), (Some("malformed"), Some("pii_detected")));
    // 403 bad_signature: a signature over other bytes
    let good = json!({"v":1,"kind":"donation.received","id":"D-sig","at":now(),"fund":"F-gen","amount_fen":1,"channel":"cash"});
    let mut env = sign(&good, &[&intake]);
    env.signatures[0].sig = sign(&json!({"other": 1}), &[&intake]).signatures[0].sig.clone();
    let v = f.expect(403, env).await;
    assert_eq!(v["error"], "bad_signature");
    // 403 unauthorized role
    let v = f.expect(403, sign(&good, &[&role_key(Role::Hotline)])).await;
    assert_eq!((v["error"].as_str(), v["rule"].as_str()), (Some("unauthorized"), Some("role")));
    // 422 rule_violation
    let over = json!({"v":1,"kind":"allocation.made","id":"A-over","at":now(),"fund":"F-med","case":"C-1","amount_fen":999_999,"decision":"m"});
    let v = f.expect(422, sign(&over, &[&role_key(Role::Allocator)])).await;
    assert_eq!(
        (v["error"].as_str(), v["rule"].as_str()),
        (Some("rule_violation"), Some("insufficient_funds"))
    );
    // 403 dual_control, then accepted with two signatures
    let big = json!({"v":1,"kind":"donation.received","id":"D-big","at":now(),"fund":"F-gen","amount_fen":10_000_000,"channel":"bank","donor_name":"某建材有限公司"});
    f.expect(201, sign(&big, &[&intake])).await;
    let alloc = json!({"v":1,"kind":"allocation.made","id":"A-big","at":now(),"fund":"F-gen","case":"C-1","amount_fen":6_000_000,"decision":"board"});
    let v = f.expect(403, sign(&alloc, &[&role_key(Role::Allocator)])).await;
    assert_eq!(v["rule"], "dual_control");
    f.expect(201, sign(&alloc, &[&role_key(Role::Allocator), &second_key(Role::Allocator)])).await;
    assert_eq!(f.size().await, size + 2, "only the two accepted entries were appended");
}

#[tokio::test]
async fn a_batch_is_all_or_nothing_and_names_the_bad_envelope() {
    let f = populated().await;
    let size = f.size().await;
    let intake = role_key(Role::Intake);
    let d = |i: u32, amount: u64| {
        sign(
            &json!({"v":1,"kind":"donation.received","id":format!("B-{i}"),"at":now(),"fund":"F-gen","amount_fen":amount,"channel":"cash"}),
            &[&intake],
        )
    };
    let bad = sign(
        &json!({"v":1,"kind":"allocation.made","id":"B-bad","at":now(),"fund":"F-med","case":"C-1","amount_fen":999_999,"decision":"m"}),
        &[&role_key(Role::Allocator)],
    );
    let batch = |envs: Vec<ledger_core::dsse::Envelope>| {
        format!("[{}]", envs.iter().map(|e| e.to_json()).collect::<Vec<_>>().join(",")).into_bytes()
    };
    let (s, b) = f.request("POST", "/v1/batch", batch(vec![d(1, 10), d(2, 20), bad])).await;
    let v: Value = serde_json::from_slice(&b).expect("json");
    assert_eq!(
        (s.as_u16(), v["index"].as_u64(), v["rule"].as_str()),
        (422, Some(2), Some("insufficient_funds"))
    );
    assert_eq!(f.size().await, size, "a refused batch appends nothing");
    let good = batch(vec![d(1, 10), d(2, 20), d(3, 30)]);
    let (s, b) = f.request("POST", "/v1/batch", good.clone()).await;
    let v: Value = serde_json::from_slice(&b).expect("json");
    assert_eq!((s.as_u16(), v["first_seq"].as_u64(), v["count"].as_u64()), (201, Some(size), Some(3)));
    let (s, b) = f.request("POST", "/v1/batch", good).await;
    let v: Value = serde_json::from_slice(&b).expect("json");
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["seqs"], json!([size, size + 1, size + 2]));
    // Steps 1–3 run over the whole batch first: a bad signature at index 1 is found before
    // the rule failure at index 0.
    let mut forged = d(9, 1);
    forged.signatures[0].sig = d(8, 1).signatures[0].sig.clone();
    let (s, b) = f.request("POST", "/v1/batch", batch(vec![bad_alloc(), forged])).await;
    let v: Value = serde_json::from_slice(&b).expect("json");
    assert_eq!((s.as_u16(), v["error"].as_str(), v["index"].as_u64()), (403, Some("bad_signature"), Some(1)));
    let (s, _) = f.request("POST", "/v1/batch", b"[]".to_vec()).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn a_dry_run_judges_every_envelope_and_appends_nothing() {
    let f = populated().await;
    let size = f.size().await;
    let intake = role_key(Role::Intake);
    let d = |id: &str, fund: &str, amount: u64| {
        sign(
            &json!({"v":1,"kind":"donation.received","id":id,"at":now(),"fund":fund,"amount_fen":amount,"channel":"cash"}),
            &[&intake],
        )
    };
    let batch = |envs: Vec<ledger_core::dsse::Envelope>| {
        format!("[{}]", envs.iter().map(|e| e.to_json()).collect::<Vec<_>>().join(",")).into_bytes()
    };
    let logged = d("DR-logged", "F-gen", 5);
    f.expect(201, logged.clone()).await;
    let mut forged = d("DR-forged", "F-gen", 1);
    forged.signatures[0].sig = d("DR-other", "F-gen", 1).signatures[0].sig.clone();
    // Index 2 is refused, and index 3 is judged without it: every verdict, not only the first.
    let envs = vec![
        d("DR-1", "F-gen", 10),
        logged,
        d("DR-2", "F-nope", 10),
        d("DR-3", "F-gen", 30),
        forged,
        d("DR-1", "F-gen", 10),
        bad_alloc(),
    ];
    let (s, b) = f.request("POST", "/v1/batch?dry_run=1", batch(envs)).await;
    let v: Value = serde_json::from_slice(&b).expect("json");
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["count"], 7);
    assert_eq!(v["new"], json!([0, 3]));
    assert_eq!(v["existing"], json!([{"index": 1, "seq": size}]));
    let refusals: Vec<(u64, &str)> = v["refusals"]
        .as_array()
        .expect("refusals")
        .iter()
        .map(|r| (r["index"].as_u64().expect("index"), r["rule"].as_str().expect("rule")))
        .collect();
    assert_eq!(
        refusals,
        [(2, "unknown_reference"), (4, "bad_signature"), (5, "duplicate_id"), (6, "insufficient_funds")]
    );
    assert_eq!(f.size().await, size + 1, "a dry run appends nothing");
    let (s, _) = f.request("GET", "/v1/events/DR-1", Vec::new()).await;
    assert_eq!(s, 404);
    let (s, b) = f.request("POST", "/v1/batch?dry_run=maybe", b"[]".to_vec()).await;
    assert_eq!(s, 400, "{}", String::from_utf8_lossy(&b));
}

fn bad_alloc() -> ledger_core::dsse::Envelope {
    sign(
        &json!({"v":1,"kind":"allocation.made","id":"B-bad2","at":now(),"fund":"F-med","case":"C-1","amount_fen":999_999,"decision":"m"}),
        &[&role_key(Role::Allocator)],
    )
}

#[tokio::test]
async fn entries_pages_export_and_bad_parameters() {
    let f = populated().await;
    let size = f.size().await;
    let (s, b) = f.request("GET", "/v1/entries?start=2&limit=3", vec![]).await;
    assert_eq!(s, 200);
    let lines: Vec<&[u8]> = b.split(|c| *c == b'\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3);
    let first: Value = serde_json::from_slice(lines[0]).expect("entry");
    assert_eq!(first["seq"], 2);
    let (s, b) = f.request("GET", "/v1/export", vec![]).await;
    assert_eq!(s, 200);
    assert_eq!(b.iter().filter(|c| **c == b'\n').count() as u64, size);
    for bad in [
        "/v1/entries?limit=0",
        "/v1/entries?limit=1001",
        &format!("/v1/entries?start={}", size + 1),
        "/v1/entries/abc",
    ] {
        let (s, v) = f.get(bad).await;
        assert_eq!((s.as_u16(), v["error"].as_str()), (400, Some("bad_request")), "{bad}");
    }
    let (s, v) = f.get(&format!("/v1/entries/{size}")).await;
    assert_eq!((s.as_u16(), v["error"].as_str()), (404, Some("not_found")));
    let (s, v) = f.get("/no/such/path").await;
    assert_eq!((s.as_u16(), v["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn checkpoint_log_key_and_proofs_check_out() {
    let f = populated().await;
    let (_, old_note) = f.get_text("/checkpoint").await;
    let old = open_checkpoint(&old_note, &log_key(), &[]).expect("opens").checkpoint;
    f.ok(Role::Intake, json!({"v":1,"kind":"donation.received","id":"D-late","at":now(),"fund":"F-gen","amount_fen":5,"channel":"cash"})).await;
    let (s, note) = f.get_text("/checkpoint").await;
    assert_eq!(s, 200);
    let new = open_checkpoint(&note, &log_key(), &[]).expect("opens").checkpoint;
    assert_eq!(new.size, old.size + 1);
    let (_, vkey) = f.get_text("/v1/log-key").await;
    assert_eq!(vkey, log_key().verifier_key());
    for seq in [0, 3, new.size - 1] {
        let (s, v) = f.get(&format!("/v1/proof/inclusion?seq={seq}&size={}", new.size)).await;
        assert_eq!(s, 200);
        let (_, entry) = f.request("GET", &format!("/v1/entries/{seq}"), vec![]).await;
        check_record(&proof_of(&v), new.size, new.root, seq, leaf_hash(&entry))
            .expect("inclusion proof holds");
    }
    let (s, v) = f.get(&format!("/v1/proof/consistency?from={}&to={}", old.size, new.size)).await;
    assert_eq!(s, 200);
    check_tree(&proof_of(&v), new.size, new.root, old.size, old.root).expect("consistency proof holds");
    for bad in [
        format!("/v1/proof/inclusion?seq=0&size={}", new.size + 1),
        format!("/v1/proof/inclusion?seq={}&size={}", new.size, new.size),
        "/v1/proof/inclusion".to_string(),
        "/v1/proof/consistency?from=0&to=3".to_string(),
        format!("/v1/proof/consistency?from=3&to={}", new.size + 5),
    ] {
        assert_eq!(f.get(&bad).await.0, 400, "{bad}");
    }
}

#[tokio::test]
async fn balances_now_and_at_an_earlier_size() {
    let f = populated().await;
    let (_, now_b) = f.get("/v1/balances").await;
    let size = now_b["size"].as_u64().expect("size");
    assert_eq!(now_b["totals"]["received_fen"], 25000);
    assert_eq!(now_b["totals"]["opening_fen"], 100000);
    assert_eq!(now_b["funds"]["F-med"]["cash_fen"], 3000);
    assert_eq!(now_b["cases"]["C-1"]["cash_fen"], 7000);
    assert_eq!(now_b["totals"]["disbursed_fen"], 15000);
    // Before the disbursement (the last entry) the case held it all.
    let (s, before) = f.get(&format!("/v1/balances?size={}", size - 1)).await;
    assert_eq!(s, 200);
    assert_eq!(before["size"], size - 1);
    assert_eq!(before["cases"]["C-1"]["cash_fen"], 22000);
    assert_eq!(f.get(&format!("/v1/balances?size={}", size + 1)).await.0, 400);
}

#[tokio::test]
async fn funds_cases_donations_receipts_and_lookup() {
    let f = populated().await;
    let (s, v) = f.get("/v1/funds").await;
    assert_eq!(s, 200);
    let funds = v["funds"].as_array().expect("funds");
    assert_eq!(funds.len(), 2);
    assert!(funds.iter().any(|x| x["id"] == "F-med" && x["name"] == "助医基金" && x["cash_fen"] == 3000));
    let (s, v) = f.get("/v1/funds/F-gen").await;
    assert_eq!((s.as_u16(), v["balance"]["cash_fen"].as_u64()), (200, Some(100000)));
    assert_eq!(f.get("/v1/funds/C-1").await.0, 404, "a case is not a fund");
    let (s, case) = f.get("/v1/cases/C-1").await;
    assert_eq!(s, 200);
    assert_eq!(case["region"], "兰陵镇");
    assert_eq!(case["allocations"][0]["amount"], 22000);
    assert_eq!(case["disbursements"][0]["evidence"][0], hex64(0xe1));
    assert_eq!(case["disbursements"][0]["paid_from"][0]["donation"], "D-1");
    let (s, d) = f.get("/v1/donations/D-1").await;
    assert_eq!(s, 200);
    assert_eq!(d["donation"]["amount_fen"], 20000);
    assert_eq!(
        d["trace"],
        json!([
            {"state":"in_case","case":"C-1","allocation":"A-1","amount_fen":5000},
            {"state":"disbursed","case":"C-1","allocation":"A-1","disbursement":"X-1","amount_fen":15000}
        ])
    );
    let (s, r) = f.get("/v1/donations/D-1/receipt").await;
    assert_eq!(s, 200);
    let opened = open_checkpoint(r["checkpoint"].as_str().expect("note"), &log_key(), &[]).expect("opens");
    let entry = b64_decode_canonical(r["entry_b64"].as_str().expect("entry")).expect("b64");
    check_record(
        &proof_of(&r),
        opened.checkpoint.size,
        opened.checkpoint.root,
        r["seq"].as_u64().expect("seq"),
        leaf_hash(&entry),
    )
    .expect("receipt proof holds");
    assert_eq!(r["log_key"], log_key().verifier_key());
    let (s, l) = f.get(&format!("/v1/lookup?commitment={}", hex64(0xc1))).await;
    assert_eq!(s, 200);
    let kinds: Vec<&str> =
        l["objects"].as_array().expect("objects").iter().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(kinds, ["case.opened", "disbursement.made"]);
    assert_eq!(f.get("/v1/lookup?commitment=XYZ").await.0, 400);
    assert_eq!(f.get("/v1/donations/D-404").await.0, 404);
}

#[tokio::test]
async fn complaint_timeline_and_audit_with_sample() {
    let f = populated().await;
    let hot = Role::Hotline;
    f.ok(hot, json!({"v":1,"kind":"complaint.filed","id":"Q-1","at":now(),"channel":"hotline","subjects":["C-1"],"summary":"approved 3000, 2000 arrived"})).await;
    f.ok(hot, json!({"v":1,"kind":"complaint.updated","id":"Q-1-u","at":now(),"complaint":"Q-1","status":"investigating","note":"checking vouchers"})).await;
    f.ok(hot, json!({"v":1,"kind":"complaint.resolved","id":"Q-1-r","at":now(),"complaint":"Q-1","finding":"unsubstantiated","actions":["X-1"],"summary":"paid in full per voucher"})).await;
    let (s, c) = f.get("/v1/complaints/Q-1").await;
    assert_eq!(s, 200);
    assert_eq!(c["status"], "resolved");
    let kinds: Vec<&str> =
        c["timeline"].as_array().expect("timeline").iter().filter_map(|t| t["kind"].as_str()).collect();
    assert_eq!(kinds, ["complaint.filed", "complaint.updated", "complaint.resolved"]);
    assert_eq!(c["subjects"][0]["case"]["disbursements"][0]["id"], "X-1");

    // An audit over the disbursements: plan, let the log pass seed_size, sample.
    let nonce = [7u8; 32];
    let nonce_hash = ledger_core::hash::sha256(&[&nonce]).to_hex();
    let size = f.size().await;
    f.ok(Role::Auditor, json!({"v":1,"kind":"audit.planned","id":"P-1","at":now(),"population":"disbursements","from_seq":0,"to_seq":size,"rate_permille":1000,"seed_size":size + 2,"nonce_hash":nonce_hash,"summary":"year-end"})).await;
    f.ok(Role::Intake, json!({"v":1,"kind":"donation.received","id":"D-fill","at":now(),"fund":"F-gen","amount_fen":1,"channel":"cash"})).await;
    let (_, audit) = f.get("/v1/audits/P-1").await;
    let root = hash_from_b64(audit["status"]["seed_root"].as_str().expect("seed root known")).expect("root");
    let selected = ledger_core::sample::select(&root, &nonce, &[(size - 1, "X-1")], 1000);
    let hash = ledger_core::sample::selected_hash(&selected).to_hex();
    f.ok(Role::Auditor, json!({"v":1,"kind":"audit.sampled","id":"S-1","at":now(),"plan":"P-1","nonce":hex::encode(nonce),"selected_count":selected.len(),"selected_hash":hash})).await;
    f.ok(Role::Auditor, json!({"v":1,"kind":"audit.finding","id":"FD-1","at":now(),"sample":"S-1","subjects":["X-1"],"severity":"minor","summary":"voucher unsigned"})).await;
    f.ok(Role::Auditor, json!({"v":1,"kind":"rectification.issued","id":"RC-1","at":now(),"finding":"FD-1","subject":"X-1","deadline":"2027-01-31","summary":"sign the voucher"})).await;
    f.ok(Role::Auditor, json!({"v":1,"kind":"rectification.closed","id":"RC-1-c","at":now(),"rectification":"RC-1","summary":"signed"})).await;
    let (s, audit) = f.get("/v1/audits/P-1").await;
    assert_eq!(s, 200);
    assert_eq!(audit["selected"], json!(["X-1"]));
    assert_eq!(audit["findings"][0]["rectifications"][0]["closed"]["id"], "RC-1-c");
    assert_eq!(f.get("/v1/audits/Q-1").await.0, 404);
}

#[tokio::test]
async fn health_reports_size() {
    let f = populated().await;
    let (s, v) = f.get("/healthz").await;
    assert_eq!((s.as_u16(), v["status"].as_str()), (200, Some("ok")));
    assert_eq!(v["size"], v["checkpoint_size"]);
}
