//! A valid log: exit 0, and every figure the verifier prints equals what the core computes.

use crate::builder::small_log;
use crate::support::write;
use crate::support::{verify, verify_lines};
use serde_json::json;

#[test]
fn a_valid_log_holds_and_its_figures_are_the_cores() {
    let b = small_log();
    let run = verify_lines(&b.lines, &b.log_vkey(), &[]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let r = run.json();
    assert_eq!(r["ok"], true);
    assert_eq!(r["violation"], serde_json::Value::Null);
    assert_eq!(r["entries"], b.size());
    assert_eq!(r["root"], b.state.root().to_base64());
    assert_eq!(r["balances"], serde_json::to_value(b.state.balances()).expect("json"));
    assert_eq!(r["totals"], serde_json::to_value(b.state.totals()).expect("json"));
    assert_eq!(r["log"]["log_key_source"], "pinned");
    // Flows by fund and programme, by hand from small_log.
    let f = &r["funds"]["f-general"];
    assert_eq!(f["opening_fen"], 1_000_000);
    assert_eq!(f["received_fen"], 20_000 + 1_000 + 1_001 + 1_002);
    assert_eq!(f["refunded_fen"], 5_000);
    assert_eq!(f["redirected_in_fen"], 5_000);
    assert_eq!(f["balance_fen"], b.state.fund("f-general").expect("fund").cash_fen);
    assert_eq!(f["goods"]["rice"], 60);
    assert_eq!(r["funds"]["f-medical"]["sponsor"], "Acme Pharma Co.");
    assert_eq!(r["funds"]["f-tmp"]["closed"], true);
    assert_eq!(r["funds"]["f-edu"]["corrected_fen"], 1_000);
    let medical = &r["programmes"]["medical"];
    assert_eq!(medical["received_fen"], 50_000 + 12_345);
    assert_eq!(medical["allocated_fen"], 40_000);
    assert_eq!(medical["revoked_fen"], 5_000);
    assert_eq!(medical["disbursed_fen"], 30_000);
    assert_eq!(medical["returned_fen"], 2_000);
    let elderly = &r["programmes"]["elderly"];
    assert_eq!(elderly["received_fen"], 30_000, "the earmarked gift counts for its case's programme");
    assert_eq!(elderly["disbursed_fen"], 20_000);
    assert_eq!(r["goods"]["rice"]["received"], 100);
    assert_eq!(r["goods"]["rice"]["disbursed"], 30);
    assert_eq!(r["complaints"], json!({"filed": 2, "open": 1, "resolved": 1}));
    assert_eq!(r["audits"]["planned"], 2);
    assert_eq!(r["audits"]["sampled"], 1);
    assert_eq!(r["audits"]["unsampled_plans"], json!(["p-2"]));
    assert_eq!(r["kinds"]["donation.received"], 9);
    assert_eq!(r["period"]["first_entry"], "2026-03-01 10:00:00 +08:00");
    let signatures: u64 = 2 + 9 * 2 + (b.size() - 10);
    assert_eq!(r["signatures"], signatures);
}

#[test]
fn the_human_summary_and_the_html_report_carry_the_figures() {
    let b = small_log();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = write(dir.path(), "log.jsonl", b.export());
    let html = dir.path().join("report.html");
    let run = verify(&[
        "log".as_ref(),
        log.as_os_str(),
        "--log-key".as_ref(),
        b.log_vkey().as_ref(),
        "--report".as_ref(),
        html.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("ALL CHECKS HOLD"), "{}", run.stdout);
    let received = b.state.totals().received_fen;
    let yuan = verifier::format::yuan(received);
    assert!(run.stdout.contains(&yuan), "total received {yuan} in:\n{}", run.stdout);
    assert!(run.stdout.contains("f-medical") && run.stdout.contains("medical 助医"), "{}", run.stdout);
    assert!(run.stdout.contains("plans never sampled: p-2"), "{}", run.stdout);
    let page = std::fs::read_to_string(&html).expect("html written");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<svg") && page.contains("全部检查通过"), "charts and the verdict");
    assert!(page.contains("收到") && page.contains("Received"), "Chinese then English labels");
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"), "no external assets");
    assert!(page.contains("Acme Pharma Co."));
}

#[test]
fn without_a_pinned_key_it_runs_but_says_so_loudly() {
    let b = small_log();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = write(dir.path(), "log.jsonl", b.export());
    let run = verify(&["log".as_ref(), log.as_os_str(), "--json".as_ref()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("WARNING") && run.stderr.contains("genesis"), "stderr: {}", run.stderr);
    let r = run.json();
    assert_eq!(r["log"]["log_key_source"], "genesis");
    assert_eq!(r["log"]["log_key"], b.log_vkey());
    assert!(r["warnings"][0].as_str().unwrap_or("").contains("NO --log-key"));
    let text = verify(&["log".as_ref(), log.as_os_str()]);
    assert!(text.stdout.contains("WARNING: this key came from the log itself"), "{}", text.stdout);
}

#[test]
fn published_balances_are_compared_fund_by_fund_at_their_own_size() {
    let b = small_log();
    let dir = tempfile::tempdir().expect("tempdir");
    // The same figures at an earlier size: the node's document for size 25.
    let mut early = ledger_core::rules::State::new();
    for line in b.lines.iter().take(25) {
        let entry = ledger_core::entry::VerifiedEntry::parse_and_verify(line).expect("entry");
        early.apply(&entry).expect("apply");
    }
    let doc = serde_json::to_value(early.balances()).expect("json");
    let good = write(dir.path(), "balances.json", serde_json::to_vec(&doc).expect("json"));
    let run = verify_lines(&b.lines, &b.log_vkey(), &["--balances", good.to_str().expect("path")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.json()["balances_check"]["status"], "equal");

    let mut bad = doc.clone();
    bad["funds"]["f-medical"]["cash_fen"] = json!(999);
    bad["cases"]["c-1"]["cash_fen"] = json!(1);
    bad["extra_field_from_a_newer_node"] = json!(true);
    let bad = write(dir.path(), "bad.json", serde_json::to_vec(&bad).expect("json"));
    let run = verify_lines(&b.lines, &b.log_vkey(), &["--balances", bad.to_str().expect("path")]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let r = run.json();
    assert_eq!(r["violation"]["rule"], "balances");
    assert_eq!(r["violation"]["size"], 25);
    let paths: Vec<&str> = r["balances_check"]["differences"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["path"].as_str())
        .collect();
    assert_eq!(paths, ["cases.c-1.cash_fen", "funds.f-medical.cash_fen"]);

    let mut beyond = doc;
    beyond["size"] = json!(b.size() + 5);
    let beyond = write(dir.path(), "beyond.json", serde_json::to_vec(&beyond).expect("json"));
    let run = verify_lines(&b.lines, &b.log_vkey(), &["--balances", beyond.to_str().expect("path")]);
    assert_eq!(run.code, 2, "a size beyond the log cannot be checked: {}", run.stdout);
}

#[test]
fn trace_recomputes_where_a_gift_went() {
    let b = small_log();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = write(dir.path(), "log.jsonl", b.export());
    for id in ["d-1", "d-2", "d-3", "d-4", "d-5"] {
        let run = verify(&[
            "trace".as_ref(),
            log.as_os_str(),
            "--donation".as_ref(),
            id.as_ref(),
            "--json".as_ref(),
        ]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        let want: Vec<serde_json::Value> =
            b.state.trace(id).expect("trace").iter().map(|p| p.to_json()).collect();
        assert_eq!(run.json()["trace"], json!(want), "trace of {id}");
    }
    let run = verify(&["trace".as_ref(), log.as_os_str(), "--donation".as_ref(), "d-4".as_ref()]);
    assert!(
        run.stdout.contains("redirect") || run.stdout.contains("waiting in fund f-general"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("paid out by x-3"), "{}", run.stdout);
    let run = verify(&["trace".as_ref(), log.as_os_str(), "--donation".as_ref(), "nope".as_ref()]);
    assert_eq!(run.code, 2, "an unknown donation is a bad argument");
}
