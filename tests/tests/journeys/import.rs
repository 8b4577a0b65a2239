//! The donor desk's spreadsheet: `ledger-node import` of a CSV export in GBK (English
//! headers) and in UTF-8 with BOM (Chinese headers), against a real node. Every bad row is
//! listed with its spreadsheet line and the rule it breaks, one bad row appends nothing, a
//! re-run appends nothing twice, and no personal data reaches the log.

use super::*;
use base64::Engine as _;

const FUND: &str = "F-edu";
const CASE: &str = "C-import";
/// Made-up, checksum-valid, nobody's: a private donor's resident ID.
const PRIVATE_DONOR_ID: &str = DONOR_ID;
const PRIVATE_DONOR_NAME: &str = "王小明";
const PHONE: &str = "13800138000";

/// Today in UTC+08:00 as `YYYY-MM-DD`: imported gifts are dated today so that the backdating
/// rule (30 days in this ledger) accepts them.
fn today_china() -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis();
    let china = ledger_core::time::EntryTime::from_unix_ms(ms as i64 + 8 * 3600 * 1000).expect("a time");
    china.as_str()[..10].to_string()
}

fn fund_cash(ledger: &Ledger) -> u64 {
    ledger.get_ok("/v1/balances")["funds"][FUND]["cash_fen"].as_u64().expect("fund cash")
}

fn import(ledger: &Ledger, csv: &Path, extra: &[&str]) -> Run {
    let mut args =
        vec!["import", "--url", &ledger.url, "--key", ledger.intake.path(), "--csv", path_str(csv)];
    args.extend_from_slice(extra);
    ledger.node_cmd(&args)
}

/// Every event body in the log, decoded from the envelopes' base64 payloads.
fn logged_bodies(ledger: &Ledger) -> String {
    let export = std::fs::read_to_string(ledger.export("import.jsonl")).expect("export");
    let mut bodies = String::new();
    for line in export.lines() {
        let entry: Value = serde_json::from_str(line).expect("an entry");
        let payload = entry["envelope"]["payload"].as_str().expect("payload");
        let body = base64::engine::general_purpose::STANDARD.decode(payload).expect("base64");
        bodies.push_str(&String::from_utf8(body).expect("utf-8"));
        bodies.push('\n');
        bodies.push_str(line);
        bodies.push('\n');
    }
    bodies
}

#[test]
fn the_desk_imports_its_spreadsheets_once_and_only_whole() {
    let ledger = Ledger::start("import-county.example/ledger");
    ledger.ok(
        &event(
            "fund.opened",
            FUND,
            json!({"name": "助学基金", "programme": "education", "restricted": false, "opening_balance_fen": 0}),
        ),
        &[&ledger.admin1],
    );
    let (_, beneficiary) = ledger.commitment(BENEFICIARY_ID, None);
    ledger.ok(
        &event(
            "case.opened",
            CASE,
            json!({"programme": "education", "beneficiary": beneficiary, "region": "兰陵镇",
                   "summary": "学费资助", "requested_fen": 300000}),
        ),
        &[&ledger.caseworker],
    );
    let today = today_china();

    // A GBK file with English headers and three bad rows among good ones: the dry run names
    // each by its line (the header is line 1) and rule; nothing is appended.
    let gbk_text = format!(
        "date,donor,donor_type,identity,amount_yuan,channel,fund,case,reference\n\
         {today},某某科技有限公司,单位,,\"5,000.00\",银行,{FUND},,R-1001\n\
         {today},,,,1.234,微信,{FUND},,R-1002\n\
         {today},,,,100,现金,F-nope,,R-1003\n\
         {today},{PRIVATE_DONOR_NAME},个人,,50,现金,{FUND},,R-1004\n"
    );
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&gbk_text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&gbk).is_err(), "the test file really is GBK, not UTF-8");
    let gbk_file = ledger.path("donations-gbk.csv");
    std::fs::write(&gbk_file, &gbk).expect("writing the GBK file");
    let size = ledger.size();
    let dry = import(&ledger, &gbk_file, &["--dry-run"]);
    assert_ne!(dry.code, 0, "bad rows fail a dry run too");
    let listed: Vec<&str> = dry.stderr.lines().filter(|l| l.starts_with("line ")).collect();
    assert_eq!(listed.len(), 3, "{}", dry.stderr);
    assert!(listed[0].starts_with("line 3: amount: "), "{}", listed[0]);
    assert!(listed[1].starts_with("line 4: unknown_reference: "), "{}", listed[1]);
    assert!(listed[2].starts_with("line 5: pii_detected: "), "{}", listed[2]);
    assert!(!dry.stderr.contains(PRIVATE_DONOR_NAME), "a name is never echoed");
    assert_eq!(ledger.size(), size, "a dry run appends nothing");

    // Without --dry-run: the same listing, a failure, and still nothing appended (line 2 is
    // good, but the file is all or nothing).
    let real = import(&ledger, &gbk_file, &[]);
    assert_ne!(real.code, 0);
    assert!(real.stderr.contains("3 of 4 rows are bad; nothing was appended"), "{}", real.stderr);
    assert_eq!(ledger.size(), size);
    assert_eq!(fund_cash(&ledger), 0);

    // The corrected GBK file imports.
    let fixed: String =
        gbk_text.lines().enumerate().filter(|(i, _)| *i < 2).map(|(_, l)| format!("{l}\n")).collect();
    std::fs::write(&gbk_file, encoding_rs::GBK.encode(&fixed).0).expect("writing the GBK file");
    import(&ledger, &gbk_file, &[]).success("importing the corrected GBK file");
    assert_eq!(ledger.size(), size + 1);
    assert_eq!(fund_cash(&ledger), 500_000);

    // UTF-8 with BOM, Chinese headers with full-width brackets, a private donor by ID number,
    // an anonymous gift to a case, and a phone column nobody reads.
    let utf8_text = format!(
        "\u{feff}捐赠日期,捐赠人,捐赠人类型,证件号,金额（元）,渠道,基金,项目,票据号,联系电话\r\n\
         {today},{PRIVATE_DONOR_NAME},个人,{PRIVATE_DONOR_ID},\"1,234.50\",微信,{FUND},,R-2001,{PHONE}\r\n\
         {today},,,,100元,现金,,{CASE},,\r\n\
         {today},,,,¥20,支付宝,{FUND},,,\r\n"
    );
    let utf8_file = ledger.path("donations-utf8.csv");
    std::fs::write(&utf8_file, &utf8_text).expect("writing the UTF-8 file");
    let register = ledger.path("register.csv");
    let run = import(&ledger, &utf8_file, &["--register", path_str(&register)]).success("importing UTF-8");
    assert!(run.stderr.contains("联系电话"), "the unread column is named: {}", run.stderr);
    assert!(!run.stdout.contains(PRIVATE_DONOR_ID) && !run.stderr.contains(PRIVATE_DONOR_ID));
    assert_eq!(ledger.size(), size + 4);
    assert_eq!(fund_cash(&ledger), 500_000 + 123_450 + 2_000);
    assert_eq!(ledger.get_ok("/v1/balances")["cases"][CASE]["cash_fen"], 10_000);

    // A re-run of either file appends nothing.
    let again = import(&ledger, &utf8_file, &["--register", path_str(&register)]).success("re-running");
    assert!(again.stdout.contains("nothing to append"), "{}", again.stdout);
    import(&ledger, &gbk_file, &[]).success("re-running the GBK file");
    assert_eq!(ledger.size(), size + 4);
    assert_eq!(fund_cash(&ledger), 625_450);

    // The register (0600) lets the office give the donor the salt; the commitment is on the
    // log and finds the gift.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&register).expect("register").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&register).expect("register");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("line,id,role,identity,salt,commitment"));
    let fields: Vec<&str> = lines.next().expect("one register line").split(',').collect();
    assert_eq!(lines.next(), None, "only the private donor has a commitment");
    assert_eq!((fields[0], fields[2], fields[3]), ("2", "donor", PRIVATE_DONOR_ID));
    let (_, recomputed) = ledger.commitment(PRIVATE_DONOR_ID, Some(fields[4]));
    assert_eq!(recomputed, fields[5]);
    let found = ledger.get_ok(&format!("/v1/lookup?commitment={}", fields[5]));
    assert_eq!(found["objects"][0]["id"], fields[1]);

    // No personal data on the log: not the ID number, the name or the phone number.
    let bodies = logged_bodies(&ledger);
    assert!(bodies.contains("某某科技有限公司"), "organisation names are public");
    for secret in [PRIVATE_DONOR_ID, PRIVATE_DONOR_NAME, PHONE] {
        assert!(!bodies.contains(secret), "{secret} reached the log");
    }
}
