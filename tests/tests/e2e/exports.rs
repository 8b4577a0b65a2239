//! Disclosure exports from the demo: the node's `/v1/exports/{name}?size=M` and
//! `ledger-verify export` over the raw log are the same bytes, the files open cleanly in a
//! spreadsheet (UTF-8 BOM, CRLF, yuan with two decimals), and their figures are the node's
//! `/v1/balances?size=M`.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use tests::process::ledger_verify_bin;
use tests::{demo, get_json, ledger_node_bin, scratch_dir};

fn get_bytes(url: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut ureq::get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}")).into_reader(),
        &mut bytes,
    )
    .expect("reading the body");
    bytes
}

/// Data rows of an export CSV as maps from the English part of each header, after checking
/// the spreadsheet conventions and the first row naming origin, size and root.
fn rows(bytes: &[u8], size: u64, root: &str) -> Vec<BTreeMap<String, String>> {
    let text = std::str::from_utf8(bytes).expect("UTF-8");
    let body = text.strip_prefix('\u{feff}').expect("a UTF-8 BOM for Excel and WPS");
    assert!(body.ends_with("\r\n"));
    assert!(!body.replace("\r\n", "").contains('\n'), "every line ends with CRLF");
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(body.as_bytes());
    let mut records = reader.records().map(|r| r.expect("a CSV record"));
    let meta = records.next().expect("the origin row");
    assert_eq!(&meta[3], size.to_string().as_str());
    assert_eq!(&meta[5], root);
    // `序号 seq` → `seq`; the 360Giving names (`Recipient Org:Identifier`) stay whole.
    let english =
        |h: &str| if h.is_ascii() { h.to_string() } else { h.rsplit(' ').next().unwrap_or(h).to_string() };
    let header: Vec<String> = records.next().expect("header").iter().map(english).collect();
    records.map(|r| header.iter().cloned().zip(r.iter().map(str::to_string)).collect()).collect()
}

/// Yuan with exactly two decimals into fen (an empty cell is 0).
fn fen(cell: &str) -> u64 {
    if cell.is_empty() {
        return 0;
    }
    let (y, f) = cell.split_once('.').unwrap_or_else(|| panic!("{cell:?} has no decimals"));
    assert_eq!(f.len(), 2, "{cell:?} has two decimals");
    y.parse::<u64>().expect("yuan") * 100 + f.parse::<u64>().expect("fen")
}

fn run(bin: &Path, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().expect("running a binary");
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{}\n{}",
        bin.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn node_and_verifier_exports_are_byte_identical_and_match_balances() {
    let demo = demo();
    let latest = get_json(&format!("{}/healthz", demo.url))["checkpoint_size"].as_u64().expect("size");
    let m = latest * 2 / 3;
    let dir = scratch_dir("exports");
    let log = dir.join("log.jsonl");
    std::fs::write(&log, get_bytes(&format!("{}/v1/export", demo.url))).expect("writing the log");

    // The verifier recomputes every export at M from the raw log, checking it on the way.
    let out_dir = dir.join("verifier");
    let printed = run(
        &ledger_verify_bin(),
        &[
            "export",
            log.to_str().expect("path"),
            "--size",
            &m.to_string(),
            "--format",
            "all",
            "--out",
            out_dir.to_str().expect("path"),
            "--log-key",
            &demo.log_key,
        ],
    );
    let balances = get_json(&format!("{}/v1/balances?size={m}", demo.url));
    let root = balances["root"].as_str().expect("root").to_string();
    assert!(printed.contains(&format!("computed at tree size {m} with root {root}")), "{printed}");
    let names: Vec<String> = std::fs::read_dir(&out_dir)
        .expect("the verifier's files")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.len() >= 9, "the fixed exports and at least one quarter's reports: {names:?}");
    for name in &names {
        let ours = std::fs::read(out_dir.join(name)).expect("the verifier's file");
        let node = get_bytes(&format!("{}/v1/exports/{name}?size={m}", demo.url));
        assert!(ours == node, "{name}: the node's bytes differ from the verifier's");
    }

    // `ledger-node export --url --format` writes the same files.
    let cli_dir = dir.join("node-cli");
    run(
        &ledger_node_bin(),
        &[
            "export",
            "--url",
            &demo.url,
            "--format",
            "all",
            "--size",
            &m.to_string(),
            "--out",
            cli_dir.to_str().expect("path"),
        ],
    );
    for name in ["donations.csv", "funds.csv", "iati.xml", "360giving.csv"] {
        assert!(
            std::fs::read(cli_dir.join(name)).expect("file")
                == std::fs::read(out_dir.join(name)).expect("file")
        );
    }

    // Figures: the funds' and cases' balances and the totals are those of /v1/balances?size=M.
    let read = |name: &str| rows(&std::fs::read(out_dir.join(name)).expect("file"), m, &root);
    let funds = read("funds.csv");
    assert_eq!(funds.len(), balances["funds"].as_object().expect("funds").len());
    for f in &funds {
        assert_eq!(
            fen(&f["cash_balance_yuan"]),
            balances["funds"][&f["id"]]["cash_fen"].as_u64().expect("cash"),
            "{f:?}"
        );
    }
    let cases = read("cases.csv");
    assert_eq!(cases.len(), balances["cases"].as_object().expect("cases").len());
    let case_cash: u64 = cases.iter().map(|c| fen(&c["cash_balance_yuan"])).sum();
    assert_eq!(case_cash, balances["totals"]["held_in_cases_fen"].as_u64().expect("held"));
    let sum = |rows: &[BTreeMap<String, String>], kind: &str| -> u64 {
        rows.iter().filter(|r| r["kind"] == kind).map(|r| fen(&r["amount_yuan"])).sum()
    };
    let totals = &balances["totals"];
    let donations = read("donations.csv");
    assert_eq!(sum(&donations, "donation.received"), totals["received_fen"].as_u64().expect("received"));
    assert_eq!(sum(&donations, "donation.refunded"), totals["refunded_fen"].as_u64().expect("refunded"));
    let allocations = read("allocations.csv");
    assert_eq!(sum(&allocations, "allocation.made"), totals["allocated_fen"].as_u64().expect("allocated"));
    let disbursements = read("disbursements.csv");
    assert_eq!(
        sum(&disbursements, "disbursement.made"),
        totals["disbursed_fen"].as_u64().expect("disbursed")
    );
    for r in donations.iter().chain(&allocations).chain(&disbursements) {
        let seq: u64 = r["seq"].parse().expect("every row names its seq");
        assert!(seq < m);
        assert!(!r["at"].is_empty());
    }

    // The quarterly report's "raised" figure is the sum of that quarter's gifts in the CSV, and
    // it names its seqs.
    let quarter = names.iter().find(|n| n.ends_with(".md")).expect("a report").clone();
    let label = &quarter["report-".len()..quarter.len() - 3];
    let (year, q): (u32, u32) = (label[..4].parse().expect("year"), label[5..].parse().expect("q"));
    let in_quarter = |r: &&BTreeMap<String, String>| {
        let t = &r["entry_time"];
        t[..4].parse::<u32>().ok() == Some(year) && (t[5..7].parse::<u32>().expect("month") - 1) / 3 + 1 == q
    };
    let raised: u64 = donations
        .iter()
        .filter(in_quarter)
        .filter(|r| r["kind"] == "donation.received")
        .map(|r| fen(&r["amount_yuan"]))
        .sum();
    let report = std::fs::read_to_string(out_dir.join(&quarter)).expect("report");
    let totals_row = report.lines().find(|l| l.starts_with("| 全部 all |")).expect("the totals row");
    let raised_cell = totals_row.split(" | ").nth(1).expect("raised");
    assert!(
        raised_cell.starts_with(&format!("{} [^1]", ledger_core::disclosure::yuan_text(raised))),
        "{totals_row} vs {raised}"
    );
    assert!(report.contains("\n[^1]: seq "), "the figure's seqs are listed");
    assert!(report.contains(&format!("tree size {m} with root {root}")));
    let html = String::from_utf8(get_bytes(&format!(
        "{}/v1/exports/{}?size={m}",
        demo.url,
        quarter.replace(".md", ".html")
    )))
    .expect("html");
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains(&ledger_core::disclosure::yuan_text(raised))
    );

    // No personal data: commitments only, recipients anonymised.
    let grants = read("360giving.csv");
    assert!(!grants.is_empty());
    for g in &grants {
        assert!(g["Recipient Org:Identifier"].starts_with("individual-"), "{g:?}");
        assert_eq!(g["Recipient Org:Identifier"].len(), "individual-".len() + 16);
    }
    let iati = std::fs::read_to_string(out_dir.join("iati.xml")).expect("iati");
    assert!(iati.contains(&format!("size {m} root {root}")));
    assert!(
        iati.contains("<transaction-type code=\"1\"/>") && iati.contains("<transaction-type code=\"3\"/>")
    );
    let bad: Value = ureq::get(&format!("{}/v1/exports/nope.csv", demo.url))
        .call()
        .err()
        .and_then(|e| match e {
            ureq::Error::Status(404, r) => r.into_json().ok(),
            _ => None,
        })
        .expect("an unknown export is 404 with the error body");
    assert_eq!(bad["error"], "not_found");
}
