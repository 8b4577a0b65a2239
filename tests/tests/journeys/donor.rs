//! The donor: gives ¥200 to the medical fund at the counter, and at home checks the receipt
//! offline against the published log key, follows the gift to the payment that spent it, and
//! proves with the salt that the commitment in the entry is theirs. Then a gift of 20 quilts,
//! traced quilt by quilt, and what a donor is told when something is wrong.

use crate::{event, path_str, sha256_hex, Ledger, BENEFICIARY_ID, CALLER_ID, DONOR_ID};
use serde_json::{json, Value};

const FUND: &str = "F-MED";
const CASE: &str = "C-2026-031";

/// The federation's medical fund and a medical case; answers the beneficiary's commitment.
fn medical_fund_and_case(ledger: &Ledger) -> String {
    ledger.ok(
        &event(
            "fund.opened",
            FUND,
            json!({"name": "助医基金", "programme": "medical", "restricted": true, "opening_balance_fen": 0}),
        ),
        &[&ledger.admin1],
    );
    let (_salt, beneficiary) = ledger.commitment(BENEFICIARY_ID, None);
    ledger.ok(
        &event(
            "case.opened",
            CASE,
            json!({"programme": "medical", "beneficiary": beneficiary, "region": "兰陵镇",
                   "summary": "术后康复", "requested_fen": 50000}),
        ),
        &[&ledger.caseworker],
    );
    beneficiary
}

/// The `donor` field of the donation inside a receipt bundle, read from the entry bytes the
/// bundle carries (the bytes `ledger-verify receipt` checked).
fn donor_in_receipt(bundle: &Value) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let entry_bytes = b64.decode(bundle["entry_b64"].as_str().expect("entry_b64")).expect("base64");
    let entry = ledger_core::entry::Entry::parse(&entry_bytes).expect("the receipt holds an entry");
    let body: Value =
        serde_json::from_slice(&b64.decode(&entry.envelope.payload).expect("payload")).expect("body");
    body["donor"].as_str().expect("the gift names its donor's commitment").to_string()
}

/// The portions of a trace in `state`.
fn portions<'a>(trace: &'a Value, state: &str) -> Vec<&'a Value> {
    trace.as_array().expect("a trace is a list").iter().filter(|p| p["state"] == state).collect()
}

#[test]
fn a_donor_gives_200_yuan_and_checks_at_home_where_it_went() {
    let ledger = Ledger::start("donor-story.example/ledger");
    let beneficiary = medical_fund_and_case(&ledger);

    // At the counter: the clerk computes the donor's commitment on the desk machine. The ID
    // number stays there; the donor takes the salt home with the receipt code.
    let (salt, donor) = ledger.commitment(DONOR_ID, None);
    let gift = "D-2026-0141";
    let gift_seq = ledger.ok(
        &event(
            "donation.received",
            gift,
            json!({"fund": FUND, "amount_fen": 20000, "channel": "cash", "donor": donor}),
        ),
        &[&ledger.intake],
    );
    ledger.ok(
        &event(
            "donation.received",
            "D-2026-0142",
            json!({"fund": FUND, "amount_fen": 10000, "channel": "wechat"}),
        ),
        &[&ledger.intake],
    );
    // The committee allocates ¥250 to the case (the oldest gift first: all of the donor's ¥200),
    // and the disburser pays ¥180 of it against the hospital's invoice.
    ledger.ok(
        &event(
            "allocation.made",
            "A-2026-031",
            json!({"fund": FUND, "case": CASE, "amount_fen": 25000, "decision": "2026年第3次救助会议"}),
        ),
        &[&ledger.allocator],
    );
    let invoice = sha256_hex("兰陵县人民医院 住院费用发票 ¥180.00".as_bytes());
    ledger.ok(
        &event(
            "disbursement.made",
            "X-2026-031-1",
            json!({"case": CASE, "amount_fen": 18000, "method": "bank",
                   "payee": {"commitment": beneficiary}, "evidence": [invoice]}),
        ),
        &[&ledger.disburser],
    );

    // At home: the receipt bundle, fetched by code.
    let receipt = ledger.path("receipt.json");
    let printed = ledger
        .node_cmd(&["receipt", "--url", &ledger.url, "--donation", gift, "--out", path_str(&receipt)])
        .success("ledger-node receipt");
    for expected in [gift, "¥200.00", FUND, "ledger-verify receipt"] {
        assert!(
            printed.stdout.contains(expected),
            "the printed receipt lacks {expected:?}:\n{}",
            printed.stdout
        );
    }
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(&receipt).expect("the receipt file")).expect("JSON");
    assert_eq!(bundle["seq"].as_u64(), Some(gift_seq));

    // Offline, against the key the federation published (init printed it), not the receipt's.
    let checked = ledger.verify_cmd(&["receipt", path_str(&receipt), "--log-key", &ledger.log_key]);
    assert_eq!(checked.code, 0, "the receipt does not check:\n{}{}", checked.stdout, checked.stderr);
    assert!(checked.stdout.contains("receipt: OK"), "{}", checked.stdout);
    assert!(checked.stdout.contains(&format!("donation:   {gift} (seq {gift_seq})")), "{}", checked.stdout);
    assert!(checked.stdout.contains("¥200.00 to fund F-MED, by cash"), "{}", checked.stdout);
    assert!(!checked.stderr.contains("WARNING"), "a pinned key gives no warning: {}", checked.stderr);

    // The salt proves the commitment in the entry is the donor's; a wrong salt, or the right
    // salt with someone else's number, gives another commitment.
    let in_entry = donor_in_receipt(&bundle);
    assert_eq!(in_entry, donor);
    assert_eq!(ledger.commitment(DONOR_ID, Some(&salt)).1, in_entry, "ID + salt reproduce the entry's donor");
    let wrong_salt = format!("{}{}", if salt.starts_with('0') { '1' } else { '0' }, &salt[1..]);
    assert_ne!(ledger.commitment(DONOR_ID, Some(&wrong_salt)).1, in_entry, "a wrong salt must not match");
    assert_ne!(ledger.commitment(CALLER_ID, Some(&salt)).1, in_entry, "another person's ID must not match");

    // With the whole export the check also traces the gift: ¥180 paid out by the payment,
    // ¥20 still with the case.
    let export = ledger.export("ledger.jsonl");
    let args = ["receipt", path_str(&receipt), "--log-key", &ledger.log_key, "--export", path_str(&export)];
    let traced = ledger.verify_cmd(&args).success("ledger-verify receipt --export");
    for expected in [
        "paid out by X-2026-031-1 for case C-2026-031 (allocation A-2026-031)",
        "allocated to case C-2026-031 by A-2026-031, not yet paid out",
        "¥180.00",
        "¥20.00",
    ] {
        assert!(traced.stdout.contains(expected), "the trace lacks {expected:?}:\n{}", traced.stdout);
    }
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let report: Value =
        serde_json::from_str(&ledger.verify_cmd(&json_args).success("ledger-verify receipt --json").stdout)
            .expect("a JSON report");
    let trace = &report["trace"];
    let paid = portions(trace, "disbursed");
    assert_eq!(paid.len(), 1, "{trace}");
    assert_eq!((&paid[0]["disbursement"], &paid[0]["amount_fen"]), (&json!("X-2026-031-1"), &json!(18000)));
    let waiting = portions(trace, "in_case");
    assert_eq!(waiting.len(), 1, "{trace}");
    assert_eq!((&waiting[0]["case"], &waiting[0]["amount_fen"]), (&json!(CASE), &json!(2000)));
    assert_eq!(trace.as_array().map(Vec::len), Some(2), "nothing else: the portions add up to ¥200");
    // The verifier's trace, recomputed from the export alone, is the node's.
    assert_eq!(trace, &ledger.get_ok(&format!("/v1/donations/{gift}"))["trace"]);
}

#[test]
fn twenty_quilts_are_traced_quilt_by_quilt_to_the_case() {
    let ledger = Ledger::start("quilts.example/ledger");
    let beneficiary = medical_fund_and_case(&ledger);
    let gift = "D-2026-Q020";
    ledger.ok(
        &event(
            "donation.received",
            gift,
            json!({"fund": FUND, "channel": "goods", "donor_name": "兰陵县纺织厂",
                   "goods": {"item": "quilt", "quantity": 20, "unit": "床", "unit_value_fen": 15000}}),
        ),
        &[&ledger.intake],
    );
    ledger.ok(
        &event(
            "allocation.made",
            "A-2026-Q1",
            json!({"fund": FUND, "case": CASE, "goods": {"item": "quilt", "quantity": 15}, "decision": "冬季送温暖"}),
        ),
        &[&ledger.allocator],
    );
    ledger.ok(
        &event(
            "disbursement.made",
            "X-2026-Q1",
            json!({"case": CASE, "goods": {"item": "quilt", "quantity": 12}, "method": "goods",
                   "payee": {"commitment": beneficiary}, "evidence": [sha256_hex("签收单 12 床".as_bytes())]}),
        ),
        &[&ledger.disburser],
    );

    let receipt = ledger.path("quilts.json");
    let printed = ledger
        .node_cmd(&["receipt", "--url", &ledger.url, "--donation", gift, "--out", path_str(&receipt)])
        .success("ledger-node receipt");
    assert!(printed.stdout.contains("20 床 quilt"), "{}", printed.stdout);
    let export = ledger.export("ledger.jsonl");
    let args = ["receipt", path_str(&receipt), "--log-key", &ledger.log_key, "--export", path_str(&export)];
    let traced = ledger.verify_cmd(&args).success("ledger-verify receipt --export");
    assert!(traced.stdout.contains("20 床 of quilt"), "{}", traced.stdout);
    assert!(
        traced.stdout.contains("12 × quilt") && traced.stdout.contains("paid out by X-2026-Q1"),
        "{}",
        traced.stdout
    );

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let report: Value =
        serde_json::from_str(&ledger.verify_cmd(&json_args).success("ledger-verify receipt --json").stdout)
            .expect("a JSON report");
    let trace = &report["trace"];
    let quilts = |state: &str| -> Vec<(Value, Value)> {
        portions(trace, state).iter().map(|p| (p["item"].clone(), p["quantity"].clone())).collect()
    };
    assert_eq!(quilts("in_fund"), [(json!("quilt"), json!(5))], "5 still in the fund's store: {trace}");
    assert_eq!(quilts("in_case"), [(json!("quilt"), json!(3))], "3 with the case: {trace}");
    assert_eq!(quilts("disbursed"), [(json!("quilt"), json!(12))], "12 handed out: {trace}");
    assert_eq!(portions(trace, "disbursed")[0]["case"], CASE);
    assert_eq!(trace.as_array().map(Vec::len), Some(3), "{trace}");
    assert_eq!(trace, &ledger.get_ok(&format!("/v1/donations/{gift}"))["trace"]);

    // The published balances agree quilt by quilt.
    let balances = ledger.get_ok("/v1/balances");
    assert_eq!(balances["funds"][FUND]["goods"]["quilt"], 5, "{balances}");
    assert_eq!(balances["cases"][CASE]["goods"]["quilt"], 3, "{balances}");
    assert_eq!(balances["totals"]["goods"]["quilt"]["disbursed"], 12, "{balances}");
}

#[test]
fn a_donor_is_told_plainly_when_something_is_wrong() {
    let ledger = Ledger::start("donor-mistakes.example/ledger");
    medical_fund_and_case(&ledger);
    let (_salt, donor) = ledger.commitment(DONOR_ID, None);
    let gift = "D-2026-0300";
    ledger.ok(
        &event(
            "donation.received",
            gift,
            json!({"fund": FUND, "amount_fen": 20000, "channel": "alipay", "donor": donor}),
        ),
        &[&ledger.intake],
    );

    // A code that is not in the log: the command says so and writes nothing.
    let nowhere = ledger.path("nowhere.json");
    let missing = ledger.node_cmd(&[
        "receipt",
        "--url",
        &ledger.url,
        "--donation",
        "D-2026-9999",
        "--out",
        path_str(&nowhere),
    ]);
    assert_eq!(missing.code, 1, "{missing:?}");
    for expected in ["404 not_found", "no donation.received with id D-2026-9999"] {
        assert!(missing.stderr.contains(expected), "the refusal lacks {expected:?}: {}", missing.stderr);
    }
    assert!(!nowhere.exists(), "no receipt file for a donation that does not exist");

    // A receipt checked against another log's key is refused, naming the reason.
    let receipt = ledger.path("receipt.json");
    ledger
        .node_cmd(&["receipt", "--url", &ledger.url, "--donation", gift, "--out", path_str(&receipt)])
        .success("ledger-node receipt");
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other_admin = other_dir.path().join("admin.key");
    tests::process::write_key_file(&other_admin, &rand::random());
    let other_key = tests::process::init_ledger(
        &other_dir.path().join("ledger"),
        "another-county.example/ledger",
        &[&other_admin],
    );
    assert_ne!(other_key, ledger.log_key);
    let foreign = ledger.verify_cmd(&["receipt", path_str(&receipt), "--log-key", &other_key]);
    assert_eq!(foreign.code, 1, "{foreign:?}");
    assert!(foreign.stdout.contains("receipt: FAILED"), "{}", foreign.stdout);
    assert!(
        foreign.stdout.contains("other_log") && foreign.stdout.contains("another log"),
        "{}",
        foreign.stdout
    );
    let own = ledger.verify_cmd(&["receipt", path_str(&receipt), "--log-key", &ledger.log_key]);
    assert_eq!(own.code, 0, "the same receipt holds under its own key: {own:?}");

    // The counter's laptop is lost: both admins revoke the intake key. A gift signed with it
    // afterwards is refused and nothing is written.
    ledger
        .sign_and_submit(
            &event(
                "key.revoked",
                "revoke-intake",
                json!({"key": ledger.intake.public_hex(), "reason": "柜台电脑遗失"}),
            ),
            &[&ledger.admin1, &ledger.admin2],
        )
        .success("revoking the intake key");
    let size = ledger.size();
    let late = event(
        "donation.received",
        "D-2026-0301",
        json!({"fund": FUND, "amount_fen": 5000, "channel": "cash"}),
    );
    let (status, answer) = ledger.post(&late, &[&ledger.intake]);
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        (answer["error"].as_str(), answer["rule"].as_str()),
        (Some("unauthorized"), Some("revoked")),
        "{answer}"
    );
    let by_command = ledger.sign_and_submit(&late, &[&ledger.intake]);
    assert_eq!(by_command.code, 1, "{by_command:?}");
    assert!(by_command.stderr.contains("refused (403 unauthorized, rule revoked)"), "{}", by_command.stderr);
    assert_eq!(ledger.size(), size, "nothing was logged");
    assert_eq!(ledger.get("/v1/donations/D-2026-0301").0, 404);
}
