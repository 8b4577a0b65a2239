//! Every kind of tampering gives exit 1 naming the first bad seq and the rule.

use crate::builder::{rechain, small_log, Builder, Logged};
use crate::support::{assert_violation, verify_lines};
use base64::Engine;
use ledger_core::dsse::Envelope;
use ledger_core::entry::Entry;
use serde_json::Value;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The seq of the entry with `id`.
fn seq_of(b: &Builder, id: &str) -> usize {
    b.state.lookup(id).unwrap_or_else(|| panic!("no {id}")).0 as usize
}

fn entry(line: &[u8]) -> Entry {
    Entry::parse(line).expect("valid entry")
}

fn body(envelope: &Envelope) -> Value {
    serde_json::from_slice(&B64.decode(&envelope.payload).expect("b64")).expect("json")
}

fn with_body(envelope: &Envelope, body: &Value) -> Envelope {
    Envelope { payload: B64.encode(serde_json::to_vec(body).expect("json")), ..envelope.clone() }
}

#[test]
fn a_flipped_byte_in_the_payload_breaks_the_signature() {
    let b = small_log();
    let j = seq_of(&b, "d-1");
    let mut lines = b.lines.clone();
    let mut e = entry(&lines[j]);
    let mut v = body(&e.envelope);
    v["amount_fen"] = Value::from(50_001);
    e.envelope = with_body(&e.envelope, &v);
    lines[j] = e.to_bytes();
    let r = assert_violation(&verify_lines(&lines, &b.log_vkey(), &[]), j as u64, "bad_signature");
    assert_eq!(r["violation"]["id"], "d-1");
    assert_eq!(r["violation"]["kind"], "donation.received");
    assert_eq!(r["entries"], j as u64, "the valid prefix is reported");

    // A raw byte flipped inside the base64 text: refused at that seq, whichever check sees it.
    let mut lines = b.lines.clone();
    let text = String::from_utf8(lines[j].clone()).expect("utf8");
    let at = text.find("\"payload\":\"").expect("payload") + 11 + 40;
    let mut bytes = lines[j].clone();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    lines[j] = bytes;
    let run = verify_lines(&lines, &b.log_vkey(), &[]);
    assert_eq!(run.code, 1);
    let r = run.json();
    assert_eq!(r["violation"]["seq"], j as u64);
    let rule = r["violation"]["rule"].as_str().unwrap_or("");
    assert!(["bad_signature", "json", "field", "text", "base64"].contains(&rule), "rule {rule}");
}

#[test]
fn a_flipped_byte_in_a_signature_is_a_bad_signature() {
    let b = small_log();
    let j = seq_of(&b, "x-1");
    let mut lines = b.lines.clone();
    let mut e = entry(&lines[j]);
    let mut sig = B64.decode(&e.envelope.signatures[0].sig).expect("b64");
    sig[5] ^= 0x01;
    e.envelope.signatures[0].sig = B64.encode(sig);
    lines[j] = e.to_bytes();
    assert_violation(&verify_lines(&lines, &b.log_vkey(), &[]), j as u64, "bad_signature");
}

#[test]
fn a_flipped_byte_in_the_time_breaks_the_order_or_the_chain() {
    let b = small_log();
    let j = seq_of(&b, "a-1");
    // The year's last digit 6 → 5: a year before the entry before it.
    let mut lines = b.lines.clone();
    let text = String::from_utf8(lines[j].clone()).expect("utf8");
    lines[j] = text.replacen("\"time\":\"2026", "\"time\":\"2025", 1).into_bytes();
    assert_violation(&verify_lines(&lines, &b.log_vkey(), &[]), j as u64, "time_order");
    // One millisecond later: still in order, but the next entry's prev no longer matches.
    let mut lines = b.lines.clone();
    let text = String::from_utf8(lines[j].clone()).expect("utf8");
    lines[j] = text.replacen(".000Z\"", ".001Z\"", 1).into_bytes();
    let r = assert_violation(&verify_lines(&lines, &b.log_vkey(), &[]), j as u64 + 1, "prev");
    let message = r["violation"]["message"].as_str().unwrap_or("");
    assert!(message.contains(&format!("seq {j}")), "names the altered entry: {message}");
}

#[test]
fn a_flipped_byte_in_the_seq_is_a_seq_fault() {
    let b = small_log();
    let j = 20;
    let mut lines = b.lines.clone();
    let text = String::from_utf8(lines[j].clone()).expect("utf8");
    lines[j] = text.replacen("{\"seq\":20,", "{\"seq\":30,", 1).into_bytes();
    let r = assert_violation(&verify_lines(&lines, &b.log_vkey(), &[]), j as u64, "seq");
    assert_eq!(r["violation"]["code"], "chain");
}

#[test]
fn removed_duplicated_reordered_and_inserted_entries_break_the_sequence() {
    let b = small_log();
    let vkey = b.log_vkey();
    let j = 15;
    let mut removed = b.lines.clone();
    removed.remove(j);
    assert_violation(&verify_lines(&removed, &vkey, &[]), j as u64, "seq");

    let mut duplicated = b.lines.clone();
    duplicated.insert(j + 1, b.lines[j].clone());
    assert_violation(&verify_lines(&duplicated, &vkey, &[]), j as u64 + 1, "seq");

    let mut reordered = b.lines.clone();
    reordered.swap(j, j + 1);
    assert_violation(&verify_lines(&reordered, &vkey, &[]), j as u64, "seq");

    // A well-formed, properly signed entry slipped in at seq j with the right prev: the
    // original entry j then sits at j + 1 and says seq j.
    let mut forged = Builder::new(0);
    forged.state = ledger_core::rules::State::new();
    for line in &b.lines[..j] {
        let e = ledger_core::entry::VerifiedEntry::parse_and_verify(line).expect("entry");
        forged.state.apply(&e).expect("apply");
    }
    forged.lines.clear();
    forged.time_ms = entry(&b.lines[j - 1]).time.unix_ms();
    let extra = forged.body(
        "donation.received",
        "d-inserted",
        serde_json::json!({"fund": "f-general", "amount_fen": 100, "channel": "cash"}),
    );
    forged.add(extra);
    let mut inserted = b.lines.clone();
    inserted.insert(j, forged.lines[0].clone());
    assert_violation(&verify_lines(&inserted, &vkey, &[]), j as u64 + 1, "seq");

    // The last line cut short: not a valid entry.
    let mut truncated = b.lines.clone();
    let last = truncated.len() - 1;
    truncated[last].truncate(40);
    assert_violation(&verify_lines(&truncated, &vkey, &[]), last as u64, "entry_syntax");
}

#[test]
fn an_entry_re_signed_by_an_unauthorised_key_is_refused_for_its_role() {
    let b = small_log();
    let j = seq_of(&b, "a-3");
    let mut events: Vec<Logged> = b.events.clone();
    let body_bytes = B64.decode(&events[j].envelope.payload).expect("b64");
    events[j].envelope = Envelope::sign(&body_bytes, &[&b.keys.stranger]);
    let r = assert_violation(&verify_lines(&rechain(&events), &b.log_vkey(), &[]), j as u64, "role");
    assert_eq!(r["violation"]["code"], "unauthorized");
    assert_eq!(r["violation"]["id"], "a-3");

    // Signed by a real key of the wrong desk: still the role rule.
    let mut events: Vec<Logged> = b.events.clone();
    events[j].envelope = Envelope::sign(&body_bytes, &[&b.keys.intake]);
    assert_violation(&verify_lines(&rechain(&events), &b.log_vkey(), &[]), j as u64, "role");
}

#[test]
fn a_changed_amount_re_signed_by_the_right_key_still_breaks_the_rules() {
    let b = small_log();
    let vkey = b.log_vkey();
    // Overdraw: allocate more than the fund holds.
    let j = seq_of(&b, "a-1");
    let mut events: Vec<Logged> = b.events.clone();
    let mut v = body(&events[j].envelope);
    v["amount_fen"] = Value::from(60_000);
    events[j].envelope = Envelope::sign(&serde_json::to_vec(&v).expect("json"), &[&b.keys.allocator]);
    let r = assert_violation(&verify_lines(&rechain(&events), &vkey, &[]), j as u64, "insufficient_funds");
    assert_eq!(r["violation"]["code"], "rule_violation");

    // A refund larger than what is left of the gift.
    let j = seq_of(&b, "r-1");
    let mut events: Vec<Logged> = b.events.clone();
    let mut v = body(&events[j].envelope);
    v["amount_fen"] = Value::from(25_000);
    events[j].envelope = Envelope::sign(&serde_json::to_vec(&v).expect("json"), &[&b.keys.intake]);
    assert_violation(&verify_lines(&rechain(&events), &vkey, &[]), j as u64, "insufficient_funds");

    // A large payment single-signed: dual control.
    let j = seq_of(&b, "x-1");
    let mut events: Vec<Logged> = b.events.clone();
    let mut v = body(&events[j].envelope);
    v["amount_fen"] = Value::from(crate::builder::DUAL_CONTROL_FEN);
    events[j].envelope = Envelope::sign(&serde_json::to_vec(&v).expect("json"), &[&b.keys.disburser]);
    let lines = rechain(&events);
    let run = verify_lines(&lines, &vkey, &[]);
    // The case does not hold that much either; the first failing rule is the funds one.
    assert_violation(&run, j as u64, "insufficient_funds");

    // The audit sample's count changed: the recomputed sample disagrees.
    let j = seq_of(&b, "s-1");
    let mut events: Vec<Logged> = b.events.clone();
    let mut v = body(&events[j].envelope);
    v["selected_count"] = Value::from(v["selected_count"].as_u64().unwrap_or(0) + 1);
    events[j].envelope = Envelope::sign(&serde_json::to_vec(&v).expect("json"), &[&b.keys.auditor]);
    assert_violation(&verify_lines(&rechain(&events), &vkey, &[]), j as u64, "bad_sample");
}

#[test]
fn a_genesis_naming_another_log_key_is_another_log() {
    let b = small_log();
    let other = Builder::new(50);
    let run = verify_lines(&b.lines, &other.log_vkey(), &[]);
    let r = assert_violation(&run, 0, "log_key");
    assert!(r["violation"]["message"].as_str().unwrap_or("").contains("another log"));
}

#[test]
fn an_over_long_line_and_an_empty_log_are_violations() {
    let b = small_log();
    let mut lines = b.lines.clone();
    lines.insert(3, vec![b'x'; ledger_core::limits::ENTRY_BYTES_MAX + 10]);
    assert_violation(&verify_lines(&lines, &b.log_vkey(), &[]), 3, "too_large");
    assert_violation(&verify_lines(&[], &b.log_vkey(), &[]), 0, "genesis_only");
}

#[test]
fn the_pipelines_signature_check_gives_the_cores_verdicts() {
    // verify_line caches decompressed keys; it must accept and refuse exactly as
    // VerifiedEntry::parse_and_verify does, with the same rule and message.
    let b = small_log();
    let mut cases: Vec<Vec<u8>> = b.lines.clone();
    for line in b.lines.iter().take(12) {
        let mut e = entry(line);
        let mut sig = B64.decode(&e.envelope.signatures[0].sig).expect("b64");
        sig[40] ^= 0x10;
        e.envelope.signatures[0].sig = B64.encode(&sig);
        cases.push(e.to_bytes());
        let mut e = entry(line);
        e.envelope.signatures[0].keyid = ledger_core::dsse::key_hex(&b.keys.stranger).to_hex();
        cases.push(e.to_bytes());
        let mut e = entry(line);
        e.envelope.signatures[0].keyid = "00".repeat(32);
        cases.push(e.to_bytes());
        let mut e = entry(line);
        if e.envelope.signatures.len() > 1 {
            e.envelope.signatures.swap(0, 1);
            let s = e.envelope.signatures[0].sig.clone();
            e.envelope.signatures[0].sig = e.envelope.signatures[1].sig.clone();
            e.envelope.signatures[1].sig = s;
            cases.push(e.to_bytes());
        }
    }
    for bytes in &cases {
        let ours =
            verifier::pipeline::verify_line(bytes).map(|e| e.leaf_hash()).map_err(|r| (r.rule, r.message));
        let core = ledger_core::entry::VerifiedEntry::parse_and_verify(bytes)
            .map(|e| e.leaf_hash())
            .map_err(|r| (r.rule, r.message));
        assert_eq!(ours, core, "{}", String::from_utf8_lossy(bytes));
    }
}
