//! A donor's receipt, checked offline against the pinned key.

use crate::builder::{small_log, Builder};
use crate::support::{verify, write};
use serde_json::{json, Value};

fn check(bundle: &Value, vkey: Option<&str>, extra: &[&str]) -> crate::support::Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "receipt.json", serde_json::to_vec(bundle).expect("json"));
    let mut args: Vec<String> = vec!["receipt".into(), path.display().to_string(), "--json".into()];
    if let Some(k) = vkey {
        args.extend(["--log-key".into(), k.into()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    verify(&args)
}

#[test]
fn a_receipt_holds_and_shows_the_donation() {
    let b = small_log();
    let seq = b.state.lookup("d-1").expect("d-1").0;
    let bundle = b.receipt(seq, b.size());
    let run = check(&bundle, Some(&b.log_vkey()), &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let r = run.json();
    assert_eq!(r["ok"], true);
    assert_eq!(r["donation"]["id"], "d-1");
    assert_eq!(r["donation"]["fund"], "f-medical");
    assert_eq!(r["donation"]["amount_yuan"], "500.00");
    assert_eq!(r["donation"]["channel"], "wechat");
    assert_eq!(r["donation"]["date"], "2026-03-01");

    // In a smaller tree too, and for people.
    let bundle = b.receipt(seq, seq + 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "r.json", serde_json::to_vec(&bundle).expect("json"));
    let run = verify(&["receipt".to_string(), path.display().to_string(), "--log-key".into(), b.log_vkey()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("¥500.00 to fund f-medical, by wechat, on 2026-03-01"), "{}", run.stdout);
}

#[test]
fn with_the_export_the_receipt_shows_the_trace() {
    let b = small_log();
    let dir = tempfile::tempdir().expect("tempdir");
    let export = write(dir.path(), "log.jsonl", b.export());
    let seq = b.state.lookup("d-1").expect("d-1").0;
    let run =
        check(&b.receipt(seq, b.size()), Some(&b.log_vkey()), &["--export", export.to_str().expect("p")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let want: Vec<Value> = b.state.trace("d-1").expect("trace").iter().map(|p| p.to_json()).collect();
    assert_eq!(run.json()["trace"], json!(want));
}

#[test]
fn a_tampered_proof_fails() {
    let b = small_log();
    let seq = b.state.lookup("d-2").expect("d-2").0;
    let mut bundle = b.receipt(seq, b.size());
    let first = bundle["proof"][0].as_str().expect("proof").to_string();
    let mut raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &first).expect("b64");
    raw[0] ^= 0x80;
    bundle["proof"][0] = json!(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw));
    let run = check(&bundle, Some(&b.log_vkey()), &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.json()["violation"]["rule"], "inclusion");

    // The wrong seq for the entry, and a changed entry.
    let mut moved = b.receipt(seq, b.size());
    moved["seq"] = json!(seq + 1);
    assert_eq!(check(&moved, Some(&b.log_vkey()), &[]).code, 1);
    let mut changed = b.receipt(seq, b.size());
    changed["entry_b64"] = b.receipt(seq + 1, b.size())["entry_b64"].clone();
    assert_eq!(check(&changed, Some(&b.log_vkey()), &[]).code, 1);
}

#[test]
fn a_receipt_from_another_log_is_refused_with_a_clear_message() {
    let b = small_log();
    let other = Builder::new(50);
    let seq = b.state.lookup("d-1").expect("d-1").0;
    let run = check(&b.receipt(seq, b.size()), Some(&other.log_vkey()), &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let r = run.json();
    assert_eq!(r["violation"]["rule"], "other_log");
    assert!(r["violation"]["message"].as_str().unwrap_or("").contains("another log"), "{r:#}");
    // Without a pinned key the receipt's own key is used, and the tool says so.
    let run = check(&b.receipt(seq, b.size()), None, &[]);
    assert_eq!(run.code, 0);
    assert!(run.stderr.contains("WARNING"), "{}", run.stderr);
    assert_eq!(run.json()["log_key_source"], "receipt");
}
