//! The supervision hotline: "my mother's case was approved for ¥3,000 but only ¥2,000
//! arrived". From the ID number and the salt kept at the office the hotline finds the case,
//! follows the money to the voucher, files and updates a complaint, and — the complaint being
//! substantiated — resolves it with the corrective payment. An unfounded complaint is resolved
//! naming the payment that was checked, and the hotline's mistakes are refused by rule name.

use crate::{event, sha256_hex, Desk, Ledger, BENEFICIARY_ID, CALLER_ID};
use serde_json::{json, Value};

const FUND: &str = "F-MED";
const CASE: &str = "C-2026-017";
const FIRST_PAYMENT: &str = "X-2026-017-1";

/// What the office keeps off the ledger for one case.
struct Register {
    salt: String,
    commitment: String,
}

/// A medical fund with three gifts; a case approved for ¥3,000 of which ¥2,000 is paid against
/// a bank slip written to `voucher`.
fn approved_3000_paid_2000(ledger: &Ledger, voucher: &std::path::Path) -> Register {
    ledger.ok(
        &event(
            "fund.opened",
            FUND,
            json!({"name": "助医基金", "programme": "medical", "restricted": true, "opening_balance_fen": 0}),
        ),
        &[&ledger.admin1],
    );
    for (id, fen) in [("D-2026-0501", 150000), ("D-2026-0502", 100000), ("D-2026-0503", 80000)] {
        ledger.ok(
            &event("donation.received", id, json!({"fund": FUND, "amount_fen": fen, "channel": "bank"})),
            &[&ledger.intake],
        );
    }
    // The caseworker opens the case under the beneficiary's commitment; the salt goes into the
    // office's register, the ID number nowhere.
    let (salt, commitment) = ledger.commitment(BENEFICIARY_ID, None);
    ledger.ok(
        &event(
            "case.opened",
            CASE,
            json!({"programme": "medical", "beneficiary": commitment, "region": "兰陵镇",
                   "summary": "心脏手术后续治疗", "requested_fen": 300000}),
        ),
        &[&ledger.caseworker],
    );
    ledger.ok(
        &event(
            "allocation.made",
            "A-2026-017",
            json!({"fund": FUND, "case": CASE, "amount_fen": 300000, "decision": "2026年第7次救助会议"}),
        ),
        &[&ledger.allocator],
    );
    std::fs::write(voucher, "农商银行转账回单 收款人承诺值见账本 金额 2000.00 元").expect("voucher");
    let slip = sha256_hex(&std::fs::read(voucher).expect("voucher"));
    ledger.ok(
        &event(
            "disbursement.made",
            FIRST_PAYMENT,
            json!({"case": CASE, "amount_fen": 200000, "method": "bank",
                   "payee": {"commitment": commitment}, "evidence": [slip]}),
        ),
        &[&ledger.disburser],
    );
    Register { salt, commitment }
}

/// `ledger-node complaint ...` with the hotline's key.
fn complaint(ledger: &Ledger, hotline: &Desk, action: &str, id: &str, rest: &[&str]) -> crate::Run {
    let mut args = vec!["complaint", action, "--url", &ledger.url, "--key", hotline.path(), "--id", id];
    args.extend_from_slice(rest);
    ledger.node_cmd(&args)
}

fn total_paid(case: &Value) -> u64 {
    case["disbursements"]
        .as_array()
        .expect("disbursements")
        .iter()
        .map(|d| d["amount"].as_u64().expect("amount"))
        .sum()
}

#[test]
fn approved_3000_but_only_2000_arrived() {
    let ledger = Ledger::start("hotline-story.example/ledger");
    let voucher = ledger.path("bank-slip-X-2026-017-1.txt");
    let register = approved_3000_paid_2000(&ledger, &voucher);

    // 1. Find the case: the caller gives the ID number, the register gives the salt.
    let (_, commitment) = ledger.commitment(BENEFICIARY_ID, Some(&register.salt));
    assert_eq!(commitment, register.commitment);
    let found = ledger.get_ok(&format!("/v1/lookup?commitment={commitment}"));
    let named: Vec<(&str, &str)> = found["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| (o["id"].as_str().unwrap_or(""), o["kind"].as_str().unwrap_or("")))
        .collect();
    assert!(named.contains(&(CASE, "case.opened")), "the lookup finds the case: {found}");
    assert!(named.contains(&(FIRST_PAYMENT, "disbursement.made")), "and the payment to her: {found}");

    // 2. Follow the money: ¥3,000 allocated, ¥2,000 paid, ¥1,000 still held by the case.
    let case = ledger.get_ok(&format!("/v1/cases/{CASE}"));
    let allocations = case["allocations"].as_array().expect("allocations");
    assert_eq!(allocations.len(), 1, "{case}");
    assert_eq!((&allocations[0]["fund"], &allocations[0]["amount"]), (&json!(FUND), &json!(300000)));
    let payments = case["disbursements"].as_array().expect("disbursements");
    assert_eq!(payments.len(), 1, "{case}");
    assert_eq!((&payments[0]["id"], &payments[0]["amount"]), (&json!(FIRST_PAYMENT), &json!(200000)));
    assert_eq!(case["balance"]["cash_fen"], 100000, "{case}");
    // The voucher on file is the one the payment names, and the payment was made from the
    // oldest gift (¥1,500) and part of the next one (¥500).
    let slip = sha256_hex(&std::fs::read(&voucher).expect("voucher"));
    assert_eq!(payments[0]["evidence"], json!([slip]));
    let paid_from: Vec<(&str, u64)> = payments[0]["paid_from"]
        .as_array()
        .expect("paid_from")
        .iter()
        .map(|s| (s["donation"].as_str().unwrap_or("?"), s["amount"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(paid_from, [("D-2026-0501", 150000), ("D-2026-0502", 50000)], "{case}");

    // 3. File it, with the caller's own commitment, and note the investigation.
    let (_, caller) = ledger.commitment(CALLER_ID, None);
    let subjects = ["--subject", CASE, "--subject", FIRST_PAYMENT];
    let mut rest = subjects.to_vec();
    rest.extend(["--summary", "批准3000元，到账2000元", "--complainant", &caller]);
    complaint(&ledger, &ledger.hotline, "file", "Q-2026-017", &rest).success("complaint file");
    complaint(
        &ledger,
        &ledger.hotline,
        "update",
        "Q-2026-017-u1",
        &["--complaint", "Q-2026-017", "--note", "调取银行回单与会议决议"],
    )
    .success("complaint update");
    let open = ledger.get_ok("/v1/complaints/Q-2026-017");
    assert_eq!(open["status"], "investigating", "{open}");

    // 4. Substantiated: the second instalment was never paid. The disburser pays it (signed on
    // the disburser's machine with `ledger-node sign`), and the hotline resolves the complaint
    // naming that payment.
    let corrective = event(
        "disbursement.made",
        "X-2026-017-2",
        json!({"case": CASE, "amount_fen": 100000, "method": "bank",
               "payee": {"commitment": commitment}, "evidence": [sha256_hex(b"second bank slip, 1000.00")]}),
    );
    let paid = ledger.sign_and_submit(&corrective, &[&ledger.disburser]).success("the corrective payment");
    let corrective_seq: u64 = paid.stdout.trim().parse().expect("submit prints the seq");
    complaint(
        &ledger,
        &ledger.hotline,
        "resolve",
        "Q-2026-017-r",
        &[
            "--complaint",
            "Q-2026-017",
            "--finding",
            "substantiated",
            "--action",
            "X-2026-017-2",
            "--summary",
            "第二期1000元漏发，已补发",
        ],
    )
    .success("complaint resolve");

    // 5. The public timeline: filed, updated, resolved; the case is now fully paid.
    let resolved = ledger.get_ok("/v1/complaints/Q-2026-017");
    assert_eq!(resolved["status"], "resolved", "{resolved}");
    let timeline: Vec<(&str, &str)> = resolved["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|t| (t["kind"].as_str().unwrap_or(""), t["event"]["id"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        timeline,
        [
            ("complaint.filed", "Q-2026-017"),
            ("complaint.updated", "Q-2026-017-u1"),
            ("complaint.resolved", "Q-2026-017-r")
        ]
    );
    let resolution = &resolved["timeline"][2]["event"];
    assert_eq!(
        (&resolution["finding"], &resolution["actions"]),
        (&json!("substantiated"), &json!(["X-2026-017-2"]))
    );
    assert_eq!(resolved["complaint"]["complainant"], caller);
    let traced_case = &resolved["subjects"][0]["case"];
    assert_eq!(traced_case["id"], CASE, "{resolved}");
    assert_eq!(total_paid(traced_case), 300000, "{traced_case}");
    assert_eq!(traced_case["balance"]["cash_fen"], 0, "{traced_case}");
    let now_paid = ledger.get_ok(&format!("/v1/cases/{CASE}"));
    assert_eq!(total_paid(&now_paid), 300000);
    let second = now_paid["disbursements"]
        .as_array()
        .expect("disbursements")
        .iter()
        .find(|d| d["id"] == "X-2026-017-2");
    assert_eq!(second.map(|d| d["seq"].clone()), Some(json!(corrective_seq)));
}

#[test]
fn an_unfounded_complaint_is_resolved_naming_the_payment_checked() {
    let ledger = Ledger::start("hotline-unfounded.example/ledger");
    let voucher = ledger.path("bank-slip.txt");
    approved_3000_paid_2000(&ledger, &voucher);
    complaint(
        &ledger,
        &ledger.hotline,
        "file",
        "Q-2026-018",
        &["--subject", FIRST_PAYMENT, "--channel", "mailbox", "--summary", "来信称2000元未到账"],
    )
    .success("complaint file");
    // The bank slip on file matches the payment's evidence: the money did arrive.
    let payment = ledger.get_ok(&format!("/v1/events/{FIRST_PAYMENT}"));
    assert_eq!(payment["event"]["evidence"], json!([sha256_hex(&std::fs::read(&voucher).expect("voucher"))]));
    complaint(
        &ledger,
        &ledger.hotline,
        "resolve",
        "Q-2026-018-r",
        &[
            "--complaint",
            "Q-2026-018",
            "--finding",
            "unsubstantiated",
            "--action",
            FIRST_PAYMENT,
            "--summary",
            "银行回单证实已到账",
        ],
    )
    .success("complaint resolve");
    let resolved = ledger.get_ok("/v1/complaints/Q-2026-018");
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["complaint"]["channel"], "mailbox");
    let kinds: Vec<&str> = resolved["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|t| t["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["complaint.filed", "complaint.resolved"]);
    assert_eq!(resolved["timeline"][1]["event"]["finding"], "unsubstantiated");
    // The subject is traced to the gifts that paid it.
    let subject = &resolved["subjects"][0];
    assert_eq!((&subject["id"], &subject["kind"]), (&json!(FIRST_PAYMENT), &json!("disbursement.made")));
    assert_eq!(subject["paid_from"].as_array().map(Vec::len), Some(2), "{subject}");
}

#[test]
fn the_hotlines_mistakes_are_refused_by_rule_name() {
    let ledger = Ledger::start("hotline-mistakes.example/ledger");
    let register = approved_3000_paid_2000(&ledger, &ledger.path("slip.txt"));

    // A commitment copied wrong: 400 bad_request, whatever the mistake.
    let half = &register.commitment[..32];
    let upper = register.commitment.to_uppercase();
    for bad in [half, upper.as_str(), "not-a-commitment", ""] {
        let (status, answer) = ledger.get(&format!("/v1/lookup?commitment={bad}"));
        assert_eq!((status, answer["error"].as_str()), (400, Some("bad_request")), "{bad:?}: {answer}");
    }
    let (status, answer) = ledger.get("/v1/lookup");
    assert_eq!((status, answer["error"].as_str()), (400, Some("bad_request")), "{answer}");
    // A well-formed commitment nobody holds is no error: nothing names it.
    let (_, stranger) = ledger.commitment(CALLER_ID, None);
    assert_eq!(ledger.get_ok(&format!("/v1/lookup?commitment={stranger}"))["objects"], json!([]));
    // An unknown complaint id is 404 not_found.
    let (status, answer) = ledger.get("/v1/complaints/Q-2099-001");
    assert_eq!((status, answer["error"].as_str()), (404, Some("not_found")), "{answer}");

    // A complaint about a case that does not exist is refused and not logged.
    let size = ledger.size();
    let unknown = complaint(
        &ledger,
        &ledger.hotline,
        "file",
        "Q-2026-019",
        &["--subject", "C-2026-999", "--summary", "个案编号记错"],
    );
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(unknown.stderr.contains("rule unknown_reference"), "{}", unknown.stderr);
    assert_eq!(ledger.size(), size);

    // Only the hotline files complaints: the same complaint signed by a caseworker is refused.
    let (status, answer) = ledger.post(
        &event(
            "complaint.filed",
            "Q-2026-020",
            json!({"channel": "hotline", "subjects": [CASE], "summary": "代为投诉"}),
        ),
        &[&ledger.caseworker],
    );
    assert_eq!((status, answer["rule"].as_str()), (403, Some("role")), "{answer}");

    // A resolved complaint cannot be updated (nor resolved again).
    complaint(&ledger, &ledger.hotline, "file", "Q-2026-021", &["--subject", CASE, "--summary", "询问进度"])
        .success("complaint file");
    complaint(
        &ledger,
        &ledger.hotline,
        "resolve",
        "Q-2026-021-r",
        &[
            "--complaint",
            "Q-2026-021",
            "--finding",
            "unsubstantiated",
            "--action",
            FIRST_PAYMENT,
            "--summary",
            "已解释",
        ],
    )
    .success("complaint resolve");
    let size = ledger.size();
    let late = complaint(
        &ledger,
        &ledger.hotline,
        "update",
        "Q-2026-021-u1",
        &["--complaint", "Q-2026-021", "--note", "来电人再次询问"],
    );
    assert_eq!(late.code, 1, "{late:?}");
    assert!(late.stderr.contains("422 rule_violation, rule already_resolved"), "{}", late.stderr);
    let again = complaint(
        &ledger,
        &ledger.hotline,
        "resolve",
        "Q-2026-021-r2",
        &[
            "--complaint",
            "Q-2026-021",
            "--finding",
            "substantiated",
            "--action",
            FIRST_PAYMENT,
            "--summary",
            "改判",
        ],
    );
    assert!(again.code == 1 && again.stderr.contains("rule already_resolved"), "{again:?}");
    assert_eq!(ledger.size(), size, "nothing was logged");
}
