//! The external auditor: pins the log key from outside the ledger, verifies the whole log and
//! the node's balances with `ledger-verify url`, commits to a sampling plan over a closed
//! window, draws the ≥ 10% sample once the log has passed the seed size, checks the sampled
//! payments' vouchers against the files on hand, and files a finding and a rectification that
//! is later closed. Then the bad path: a rigged sample is refused by the node, and a log in
//! which the auditor's own sample was swapped for a rigged one fails `ledger-verify log`.

use crate::{event, path_str, sha256_hex, Ledger, Run};
use ledger_core::dsse::Envelope;
use ledger_core::entry::Entry;
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::merkle::Frontier;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Payments in the audited window: over 30, and not a multiple of ten, so that the rounding
/// up of the 10% sample shows.
const PAYMENTS: u64 = 35;
const RATE_PERMILLE: u64 = 100;
const CASES: u64 = 7;

/// The audited period: the window `[from_seq, to_seq)`, its payments and where the vouchers are.
struct Year {
    from_seq: u64,
    to_seq: u64,
    payments: Vec<String>,
    vouchers: PathBuf,
}

/// A small county year: a general fund, ten gifts, seven cases and their allocations, then 35
/// payments, each against a voucher file kept on hand for the auditor.
fn a_year_of_payments(ledger: &Ledger) -> Year {
    let from_seq = ledger.size();
    let mut setup = vec![(
        event(
            "fund.opened",
            "F-GEN",
            json!({"name": "兰陵县慈善总会 非定向基金", "programme": "general", "restricted": false, "opening_balance_fen": 0}),
        ),
        &ledger.admin1,
    )];
    for d in 0..10 {
        let body = json!({"fund": "F-GEN", "amount_fen": 100000, "channel": "bank"});
        setup.push((event("donation.received", &format!("D-2026-{:04}", 1001 + d), body), &ledger.intake));
    }
    let programmes = ["elderly", "children", "education", "medical", "disability", "poverty", "elderly"];
    for c in 0..CASES {
        let case = format!("C-2026-{:03}", 101 + c);
        let beneficiary = sha256_hex(format!("beneficiary of {case}").as_bytes());
        setup.push((
            event(
                "case.opened",
                &case,
                json!({"programme": programmes[c as usize], "beneficiary": beneficiary, "region": "兰陵镇",
                       "summary": "年度救助", "requested_fen": 120000}),
            ),
            &ledger.caseworker,
        ));
        setup.push((
            event(
                "allocation.made",
                &format!("A-2026-{:03}", 101 + c),
                json!({"fund": "F-GEN", "case": case, "amount_fen": 120000, "decision": "2026年度救助会议"}),
            ),
            &ledger.allocator,
        ));
    }
    ledger.batch(&setup);

    let vouchers = ledger.path("vouchers");
    std::fs::create_dir(&vouchers).expect("vouchers dir");
    let mut payments = Vec::new();
    let mut bodies = Vec::new();
    for i in 0..PAYMENTS {
        let id = format!("X-2026-{:04}", 1001 + i);
        let case = format!("C-2026-{:03}", 101 + i % CASES);
        let amount = 20000 + 100 * i;
        let voucher = format!("付款凭证 {id}\n个案 {case}\n金额 {amount} 分\n经办人签字：____\n");
        std::fs::write(vouchers.join(format!("{id}.txt")), &voucher).expect("voucher file");
        let payee = if i % 3 == 0 {
            json!({"vendor": "兰陵县中心医院"})
        } else {
            json!({"commitment": sha256_hex(format!("beneficiary of {case}").as_bytes())})
        };
        let method = if i % 3 == 0 { "service" } else { "bank" };
        bodies.push((
            event(
                "disbursement.made",
                &id,
                json!({"case": case, "amount_fen": amount, "method": method, "payee": payee,
                       "evidence": [sha256_hex(voucher.as_bytes())]}),
            ),
            &ledger.disburser,
        ));
        payments.push(id);
    }
    ledger.batch(&bodies);
    Year { from_seq, to_seq: ledger.size(), payments, vouchers }
}

/// `ledger-node audit plan` over the year's window at 10%; answers the plan's seed size.
fn plan(ledger: &Ledger, year: &Year, id: &str, nonce: &Path) -> u64 {
    let (from, to) = (year.from_seq.to_string(), year.to_seq.to_string());
    let planned = ledger.node_cmd(&[
        "audit",
        "plan",
        "--url",
        &ledger.url,
        "--key",
        ledger.auditor.path(),
        "--id",
        id,
        "--population",
        "disbursements",
        "--from-seq",
        &from,
        "--to-seq",
        &to,
        "--rate-permille",
        &RATE_PERMILLE.to_string(),
        "--summary",
        "2026年度发放抽查",
        "--nonce-out",
        path_str(nonce),
    ]);
    let planned = planned.success("audit plan");
    assert!(planned.stdout.contains(&format!("audit.planned {id} logged at seq")), "{}", planned.stdout);
    let audit = ledger.get_ok(&format!("/v1/audits/{id}"));
    assert_eq!(audit["sample"], Value::Null, "no sample before the reveal: {audit}");
    audit["plan"]["seed_size"].as_u64().expect("seed_size")
}

/// The year goes on: gifts come in until the log has reached `size`.
fn gifts_until(ledger: &Ledger, size: u64, prefix: &str) {
    let mut n = 0;
    while ledger.size() < size {
        n += 1;
        let body = json!({"fund": "F-GEN", "amount_fen": 5000 + n, "channel": "wechat"});
        ledger.ok(&event("donation.received", &format!("{prefix}-{n:03}"), body), &[&ledger.intake]);
    }
}

/// `ledger-node audit sample`: the seed root and the selected ids it printed.
fn sample(ledger: &Ledger, id: &str, plan: &str, nonce: &Path) -> Run {
    ledger.node_cmd(&[
        "audit",
        "sample",
        "--url",
        &ledger.url,
        "--key",
        ledger.auditor.path(),
        "--id",
        id,
        "--plan",
        plan,
        "--nonce-file",
        path_str(nonce),
    ])
}

fn parse_sample(run: &Run) -> (String, Vec<String>) {
    let mut lines = run.stdout.lines().skip_while(|l| !l.starts_with("seed root "));
    let head = lines.next().unwrap_or_else(|| panic!("no seed root in {:?}", run.stdout));
    let root = head.trim_start_matches("seed root ").split(';').next().expect("root").to_string();
    let ids = lines.map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    (root, ids)
}

fn read_nonce(path: &Path) -> [u8; 32] {
    let text = std::fs::read_to_string(path).expect("the nonce file");
    ledger_core::encoding::hex32(text.trim()).expect("64 hex characters")
}

fn lines(export: &Path) -> Vec<Vec<u8>> {
    std::fs::read(export)
        .expect("export")
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn body_of(entry: &Entry) -> Value {
    let payload = ledger_core::encoding::b64_decode_canonical(&entry.envelope.payload).expect("payload");
    serde_json::from_slice(&payload).expect("body")
}

/// The sample recomputed here from the exported entries alone: the root of the first
/// `seed_size` entries, then the rule of FORMAT.md §8.
fn recompute_sample(
    export: &[Vec<u8>],
    seed_size: u64,
    year: &Year,
    nonce: &[u8; 32],
) -> (Hash, Vec<String>) {
    let mut frontier = Frontier::new();
    let mut population = Vec::new();
    for (seq, line) in export.iter().enumerate().take(seed_size as usize) {
        let entry = Entry::parse(line).expect("an entry");
        let body = body_of(&entry);
        if body["kind"] == "disbursement.made" && (year.from_seq..year.to_seq).contains(&(seq as u64)) {
            population.push((seq as u64, body["id"].as_str().expect("id").to_string()));
        }
        frontier.push(leaf_hash(line));
    }
    assert_eq!(frontier.size(), seed_size, "the export reaches the seed size");
    assert_eq!(population.len() as u64, PAYMENTS);
    let root = frontier.root();
    let refs: Vec<(u64, &str)> = population.iter().map(|(s, id)| (*s, id.as_str())).collect();
    let selected = ledger_core::sample::select(&root, nonce, &refs, RATE_PERMILLE as u32);
    (root, selected.into_iter().map(str::to_string).collect())
}

/// The payments a charity would rather have audited: the first ones not in the honest sample.
fn cherry_picked(year: &Year, honest: &[String]) -> Vec<String> {
    year.payments.iter().filter(|p| !honest.contains(p)).take(honest.len()).cloned().collect()
}

fn verify_url(ledger: &Ledger) -> Value {
    let run = ledger.verify_cmd(&["url", &ledger.url, "--log-key", &ledger.log_key, "--json"]);
    assert_eq!(run.code, 0, "ledger-verify url:\n{}\n{}", run.stdout, run.stderr);
    serde_json::from_str(&run.stdout).expect("a JSON report")
}

#[test]
fn the_auditor_verifies_the_year_samples_it_and_follows_up() {
    let ledger = Ledger::start("auditor-story.example/ledger");
    let year = a_year_of_payments(&ledger);

    // 1–2. The key is pinned from init's output (what the federation publishes in the paper),
    // and the whole log is verified against it, with the node's published balances.
    let report = verify_url(&ledger);
    assert_eq!(report["ok"], true);
    assert_eq!(report["entries"].as_u64(), Some(year.to_seq));
    assert_eq!(report["log"]["log_key_source"], "pinned");
    assert_eq!(report["balances_check"]["status"], "equal", "{}", report["balances_check"]);
    let published = ledger.get_ok(&format!("/v1/balances?size={}", year.to_seq));
    for part in ["totals", "funds", "cases"] {
        assert_eq!(report["balances"][part], published[part], "the recomputed {part} are the published ones");
    }
    let paid: u64 = (0..PAYMENTS).map(|i| 20000 + 100 * i).sum();
    assert_eq!(report["totals"]["disbursed_fen"].as_u64(), Some(paid));
    assert_eq!(published["totals"]["disbursed_fen"].as_u64(), Some(paid));
    assert_eq!(report["kinds"]["disbursement.made"].as_u64(), Some(PAYMENTS));

    // 3. The plan: the window is closed, the nonce secret (0600), its hash in the log.
    let nonce_file = ledger.path("nonce.key");
    let seed_size = plan(&ledger, &year, "AUD-2026-1", &nonce_file);
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&nonce_file).expect("nonce file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the nonce is kept private");
    let nonce = read_nonce(&nonce_file);
    let plan_body = &ledger.get_ok("/v1/events/AUD-2026-1")["event"];
    assert_eq!(plan_body["nonce_hash"], sha256_hex(&nonce), "the log holds only the nonce's hash");
    assert!(seed_size > ledger.size(), "the root that decides the sample does not exist yet");

    // Too early: the sample cannot be drawn before the log reaches the seed size.
    let size = ledger.size();
    let early = sample(&ledger, "AUD-2026-1-S", "AUD-2026-1", &nonce_file);
    assert_eq!(early.code, 1, "{early:?}");
    assert!(
        early.stderr.contains(&format!("shorter than the plan's seed size {seed_size}")),
        "{}",
        early.stderr
    );
    assert_eq!(ledger.size(), size);

    // 4. The year goes on past the seed size; the auditor reveals the nonce and samples.
    gifts_until(&ledger, seed_size, "D-2026-L");
    let sampled = sample(&ledger, "AUD-2026-1-S", "AUD-2026-1", &nonce_file).success("audit sample");
    let (root, selected) = parse_sample(&sampled);
    let expected_count = (PAYMENTS * RATE_PERMILLE).div_ceil(1000);
    assert_eq!(expected_count, 4, "ceil(35 × 10%)");
    assert_eq!(selected.len() as u64, expected_count, "{}", sampled.stdout);
    let mut distinct = selected.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), selected.len(), "no payment twice");
    assert!(
        selected.iter().all(|id| year.payments.contains(id)),
        "only payments of the window: {selected:?}"
    );
    // The sample is the rule's, recomputed here from the exported entries alone...
    let export = lines(&ledger.export("after-sample.jsonl"));
    let (seed_root, recomputed) = recompute_sample(&export, seed_size, &year, &nonce);
    assert_eq!((root.as_str(), &selected), (seed_root.to_base64().as_str(), &recomputed));
    // ... and the node shows the same.
    let audit = ledger.get_ok("/v1/audits/AUD-2026-1");
    assert_eq!(audit["sample"]["id"], "AUD-2026-1-S");
    assert_eq!(audit["sample"]["selected_count"].as_u64(), Some(expected_count));
    assert_eq!(audit["selected"], json!(selected));
    assert_eq!(audit["status"]["seed_root"], json!(root));

    // 5. The vouchers: each sampled payment's evidence is the SHA-256 of the voucher on file.
    for id in &selected {
        let payment = ledger.get_ok(&format!("/v1/events/{id}"));
        assert_eq!(payment["event"]["kind"], "disbursement.made");
        let seq = payment["seq"].as_u64().expect("seq");
        assert!((year.from_seq..year.to_seq).contains(&seq), "{id} at {seq} is in the window");
        let on_file = std::fs::read(year.vouchers.join(format!("{id}.txt"))).expect("voucher on file");
        assert_eq!(payment["event"]["evidence"], json!([sha256_hex(&on_file)]), "voucher of {id}");
    }

    // A finding on the first sampled payment, a rectification with a deadline, later closed:
    // each signed with the auditor's key file by `ledger-node sign` and sent with `submit`.
    let subject = selected[0].clone();
    let year_now: u32 = crate::now()[..4].parse().expect("a year");
    let auditor = [&ledger.auditor];
    ledger
        .sign_and_submit(
            &event(
                "audit.finding",
                "AUD-2026-1-F1",
                json!({"sample": "AUD-2026-1-S", "subjects": [subject], "severity": "minor",
                       "summary": "付款凭证缺少经办人签字"}),
            ),
            &auditor,
        )
        .success("audit.finding");
    ledger
        .sign_and_submit(
            &event(
                "rectification.issued",
                "AUD-2026-1-R1",
                json!({"finding": "AUD-2026-1-F1", "subject": subject,
                       "deadline": format!("{}-03-31", year_now + 1), "summary": "补齐经办人签字并复核同期凭证"}),
            ),
            &auditor,
        )
        .success("rectification.issued");
    let open = ledger.get_ok("/v1/audits/AUD-2026-1");
    assert_eq!(open["findings"][0]["rectifications"][0]["closed"], Value::Null, "{open}");
    ledger
        .sign_and_submit(
            &event(
                "rectification.closed",
                "AUD-2026-1-R1-C",
                json!({"rectification": "AUD-2026-1-R1", "summary": "已补签，同期凭证复核无误"}),
            ),
            &auditor,
        )
        .success("rectification.closed");

    let audit = ledger.get_ok("/v1/audits/AUD-2026-1");
    let findings = audit["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{audit}");
    assert_eq!(findings[0]["finding"]["id"], "AUD-2026-1-F1");
    assert_eq!(findings[0]["finding"]["subjects"], json!([subject]));
    let rectifications = findings[0]["rectifications"].as_array().expect("rectifications");
    assert_eq!(rectifications.len(), 1, "{audit}");
    assert_eq!(rectifications[0]["issued"]["id"], "AUD-2026-1-R1");
    assert_eq!(rectifications[0]["closed"]["id"], "AUD-2026-1-R1-C");
    // Closing it twice is refused.
    let twice = ledger.post(
        &event(
            "rectification.closed",
            "AUD-2026-1-R1-C2",
            json!({"rectification": "AUD-2026-1-R1", "summary": "再次关闭"}),
        ),
        &[&ledger.auditor],
    );
    assert_eq!((twice.0, twice.1["rule"].as_str()), (422, Some("already_resolved")), "{}", twice.1);

    // The whole log, audit included, still verifies.
    let report = verify_url(&ledger);
    assert_eq!(report["entries"].as_u64(), Some(ledger.size()));
    assert_eq!(report["balances_check"]["status"], "equal");
    let audits = &report["audits"];
    assert_eq!(
        [
            &audits["planned"],
            &audits["sampled"],
            &audits["findings"],
            &audits["rectifications_issued"],
            &audits["rectifications_closed"]
        ],
        [&json!(1), &json!(1), &json!(1), &json!(1), &json!(1)],
        "{audits}"
    );
    assert_eq!(audits["unsampled_plans"], json!([]));
}

#[test]
fn a_rigged_sample_is_refused_by_the_node_and_flagged_by_the_verifier() {
    let ledger = Ledger::start("rigged-sample.example/ledger");
    let year = a_year_of_payments(&ledger);

    // An honest first audit, then a second plan over the same window.
    let nonce1 = ledger.path("nonce-1.key");
    let seed1 = plan(&ledger, &year, "AUD-2026-1", &nonce1);
    gifts_until(&ledger, seed1, "D-2026-L");
    let (_, honest1) =
        parse_sample(&sample(&ledger, "AUD-2026-1-S", "AUD-2026-1", &nonce1).success("audit sample"));
    let nonce2 = ledger.path("nonce-2.key");
    let seed2 = plan(&ledger, &year, "AUD-2026-2", &nonce2);
    gifts_until(&ledger, seed2, "D-2026-M");

    // Someone reveals plan 2's real nonce but names payments of their own choosing: the count
    // is right, the hash is not the rule's. The node refuses it and logs nothing.
    let export = lines(&ledger.export("before-rig.jsonl"));
    let (_, honest2) = recompute_sample(&export, seed2, &year, &read_nonce(&nonce2));
    let rigged2 = cherry_picked(&year, &honest2);
    let ids: Vec<&str> = rigged2.iter().map(String::as_str).collect();
    let size = ledger.size();
    let (status, answer) = ledger.post(
        &event(
            "audit.sampled",
            "AUD-2026-2-S",
            json!({"plan": "AUD-2026-2", "nonce": hex::encode(read_nonce(&nonce2)), "selected_count": rigged2.len(),
                   "selected_hash": ledger_core::sample::selected_hash(&ids).to_hex()}),
        ),
        &[&ledger.auditor],
    );
    assert_eq!(
        (status, answer["error"].as_str(), answer["rule"].as_str()),
        (422, Some("rule_violation"), Some("bad_sample")),
        "{answer}"
    );
    assert_eq!(ledger.size(), size, "nothing was logged");
    assert_eq!(ledger.get_ok("/v1/audits/AUD-2026-2")["sample"], Value::Null);

    // The honest export verifies...
    let honest_file = ledger.export("honest.jsonl");
    let holds = ledger.verify_cmd(&["log", path_str(&honest_file), "--log-key", &ledger.log_key]);
    assert_eq!(holds.code, 0, "the untouched export verifies:\n{}{}", holds.stdout, holds.stderr);

    // ... and one in which the first audit's sample was replaced by a rigged one, re-signed by
    // the auditor's own key, with every later entry re-chained, does not: the verifier
    // recomputes the sample and names the entry.
    let mut entries = lines(&honest_file);
    let at = entries
        .iter()
        .position(|l| body_of(&Entry::parse(l).expect("entry"))["id"] == "AUD-2026-1-S")
        .expect("the sample is in the export");
    let mut entry = Entry::parse(&entries[at]).expect("entry");
    let mut body = body_of(&entry);
    let rigged1 = cherry_picked(&year, &honest1);
    let ids: Vec<&str> = rigged1.iter().map(String::as_str).collect();
    body["selected_hash"] = json!(ledger_core::sample::selected_hash(&ids).to_hex());
    entry.envelope = Envelope::sign(&serde_json::to_vec(&body).expect("json"), &[&ledger.auditor.key]);
    entries[at] = entry.to_bytes();
    for i in at + 1..entries.len() {
        let mut next = Entry::parse(&entries[i]).expect("entry");
        next.prev = leaf_hash(&entries[i - 1]).to_hex();
        entries[i] = next.to_bytes();
    }
    let rigged_file = ledger.path("rigged.jsonl");
    let mut text = Vec::new();
    for e in &entries {
        text.extend_from_slice(e);
        text.push(b'\n');
    }
    std::fs::write(&rigged_file, text).expect("writing the rigged export");

    let flagged = ledger.verify_cmd(&["log", path_str(&rigged_file), "--log-key", &ledger.log_key]);
    assert_eq!(flagged.code, 1, "{}{}", flagged.stdout, flagged.stderr);
    assert!(
        flagged.stdout.contains(&format!("VIOLATION at seq {at}: rule bad_sample")),
        "{}",
        flagged.stdout
    );
    let json_run =
        ledger.verify_cmd(&["log", path_str(&rigged_file), "--log-key", &ledger.log_key, "--json"]);
    assert_eq!(json_run.code, 1);
    let report: Value = serde_json::from_str(&json_run.stdout).expect("a JSON report");
    let v = &report["violation"];
    assert_eq!(
        (&v["seq"], &v["rule"], &v["id"]),
        (&json!(at), &json!("bad_sample"), &json!("AUD-2026-1-S")),
        "{v}"
    );
    assert_eq!(report["entries"].as_u64(), Some(at as u64), "everything before it holds");
}
