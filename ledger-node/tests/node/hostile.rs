//! Hostile and malformed requests, as one table run through `app()` with `oneshot`: every row
//! names the request, the answer SPEC.md §8 demands (status, `error`, `rule`, and `index` or
//! `seq` where they apply) and how many entries it may append. After every row the log size
//! and `/v1/balances` are what they were (unless the row is meant to append) and `/healthz`
//! still answers. Rows run in order against one ledger, so a row may rely on an earlier one
//! (a replay needs the first append; a revoked key needs its revocation).

use crate::support::*;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use ledger_core::dsse::{key_hex, pae, Envelope, PAYLOAD_TYPE};
use ledger_core::encoding::b64_encode;
use ledger_core::types::Role;
use serde_json::{json, Value};

/// One request and the answer it must get.
struct Row {
    name: String,
    method: &'static str,
    path: String,
    body: Vec<u8>,
    status: u16,
    error: Option<&'static str>,
    rule: Option<&'static str>,
    index: Option<u64>,
    seq: Option<u64>,
    /// For a batch logged before: the seqs it was logged at.
    seqs: Option<Vec<u64>>,
    appends: u64,
}

fn req(name: &str, method: &'static str, path: &str, body: Vec<u8>) -> Row {
    Row {
        name: name.to_string(),
        method,
        path: path.to_string(),
        body,
        status: 0,
        error: None,
        rule: None,
        index: None,
        seq: None,
        seqs: None,
        appends: 0,
    }
}

/// `POST /v1/entries`.
fn entry(name: &str, body: impl Into<Vec<u8>>) -> Row {
    req(name, "POST", "/v1/entries", body.into())
}

/// `POST /v1/batch`.
fn batch(name: &str, body: impl Into<Vec<u8>>) -> Row {
    req(name, "POST", "/v1/batch", body.into())
}

fn get(name: &str, path: &str) -> Row {
    req(name, "GET", path, Vec::new())
}

impl Row {
    fn refused(mut self, status: u16, error: &'static str, rule: Option<&'static str>) -> Row {
        self.status = status;
        self.error = Some(error);
        self.rule = rule;
        self
    }
    fn too_large(self) -> Row {
        self.refused(413, "too_large", Some("too_large"))
    }
    fn malformed(self, rule: &'static str) -> Row {
        self.refused(400, "malformed", Some(rule))
    }
    fn bad_signature(self) -> Row {
        self.refused(403, "bad_signature", Some("bad_signature"))
    }
    fn duplicate(self, seq: u64) -> Row {
        let mut r = self.refused(409, "duplicate_id", Some("duplicate_id"));
        r.seq = Some(seq);
        r
    }
    fn unauthorized(self, rule: &'static str) -> Row {
        self.refused(403, "unauthorized", Some(rule))
    }
    fn violates(self, rule: &'static str) -> Row {
        self.refused(422, "rule_violation", Some(rule))
    }
    fn bad_request(self) -> Row {
        self.refused(400, "bad_request", None)
    }
    fn not_found(self) -> Row {
        self.refused(404, "not_found", None)
    }
    fn method_not_allowed(self) -> Row {
        self.refused(405, "method_not_allowed", None)
    }
    fn at_index(mut self, index: u64) -> Row {
        self.index = Some(index);
        self
    }
    /// Meant to succeed: 201 and `appends` new entries.
    fn accepted(mut self, appends: u64) -> Row {
        self.status = 201;
        self.appends = appends;
        self
    }
    /// An idempotent retry: 200 naming the seq it was logged at, nothing appended.
    fn replayed(mut self, seq: u64) -> Row {
        self.status = 200;
        self.seq = Some(seq);
        self
    }
}

/// Size and balances: what no refused request may change.
async fn observe(f: &Fixture) -> (u64, Value) {
    let (s, health) = f.get("/healthz").await;
    assert_eq!(s, 200, "/healthz answers");
    let (s, balances) = f.get("/v1/balances").await;
    assert_eq!(s, 200, "/v1/balances answers");
    (health["size"].as_u64().expect("size"), balances)
}

/// The one helper every row goes through: what the row got wrong, if anything.
async fn check(f: &Fixture, row: &Row) -> Vec<String> {
    let mut wrong = Vec::new();
    let (size, balances) = observe(f).await;
    let (status, bytes) = f.request(row.method, &row.path, row.body.clone()).await;
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
    let mut expect = |what: &str, got: String, want: String| {
        if got != want {
            wrong.push(format!("{}: {what} is {got}, expected {want} (answer {shown})", row.name));
        }
    };
    expect("status", status.as_u16().to_string(), row.status.to_string());
    match row.error {
        Some(error) => {
            expect("error", format!("{:?}", answer["error"].as_str()), format!("{:?}", Some(error)));
            let has_message = answer["message"].as_str().is_some_and(|m| !m.is_empty());
            expect("message present", has_message.to_string(), true.to_string());
            expect(
                "rule",
                format!("{:?}", answer.get("rule").and_then(Value::as_str)),
                format!("{:?}", row.rule),
            );
            expect(
                "index",
                format!("{:?}", answer.get("index").and_then(Value::as_u64)),
                format!("{:?}", row.index),
            );
        }
        None => expect("error", format!("{:?}", answer.get("error")), "None".to_string()),
    }
    if let Some(seq) = row.seq {
        expect("seq", format!("{:?}", answer["seq"].as_u64()), format!("{:?}", Some(seq)));
    }
    if let Some(seqs) = &row.seqs {
        expect("seqs", answer["seqs"].to_string(), json!(seqs).to_string());
    }
    if row.status == 201 && row.path == "/v1/entries" {
        expect("seq of a new entry", format!("{:?}", answer["seq"].as_u64()), format!("{:?}", Some(size)));
    }
    let (size_after, balances_after) = observe(f).await;
    expect("log size", size_after.to_string(), (size + row.appends).to_string());
    if row.appends == 0 && balances_after != balances {
        wrong.push(format!("{}: balances changed", row.name));
    }
    wrong
}

// ---------------------------------------------------------------------------------------------
// Building requests.

fn intake() -> SigningKey {
    role_key(Role::Intake)
}

fn body(kind: &str, id: &str, extra: Value) -> Value {
    let mut b = json!({"v": 1, "kind": kind, "id": id, "at": now()});
    if let (Value::Object(b), Value::Object(e)) = (&mut b, extra) {
        b.extend(e);
    }
    b
}

fn gift(id: &str, amount: Value) -> Value {
    body("donation.received", id, json!({"fund": "F-gen", "amount_fen": amount, "channel": "cash"}))
}

fn signed(body: &Value, keys: &[&SigningKey]) -> Vec<u8> {
    sign(body, keys).to_json().into_bytes()
}

/// An envelope around exact body bytes (for bodies `serde_json::Value` cannot hold).
fn signed_bytes(body: &[u8], keys: &[&SigningKey]) -> Vec<u8> {
    Envelope::sign(body, keys).to_json().into_bytes()
}

/// An envelope as JSON, edited by `edit`.
fn edited(envelope: &Envelope, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_str(&envelope.to_json()).expect("json");
    edit(&mut v);
    serde_json::to_vec(&v).expect("json")
}

fn batch_of(envelopes: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"[".to_vec();
    for (i, e) in envelopes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e);
    }
    out.push(b']');
    out
}

/// An author's `at` `delta_ms` from now.
fn at_offset(delta_ms: i64) -> String {
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    ledger_core::time::EntryTime::from_unix_ms(now_ms + delta_ms).expect("time").as_str().to_string()
}

/// `s + ℓ`, the same scalar written non-canonically (Ed25519's group order ℓ, little-endian).
fn add_group_order(s: &[u8]) -> Vec<u8> {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut out = vec![0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(s[i]) + u16::from(L[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    out
}

async fn seq_of(f: &Fixture, id: &str) -> u64 {
    let (s, v) = f.get(&format!("/v1/events/{id}")).await;
    assert_eq!(s, 200, "event {id}");
    v["seq"].as_u64().expect("seq")
}

// ---------------------------------------------------------------------------------------------
// The table.

/// The envelope and transport: size, JSON syntax, DSSE shape, base64, signatures.
fn envelope_rows() -> Vec<Row> {
    let k = intake();
    let good = sign(&gift("D-env", json!(100)), &[&k]);
    let good_json = good.to_json();
    let mut rows = vec![
        entry("empty body", Vec::new()).malformed("envelope"),
        entry("not JSON", b"{not json".to_vec()).malformed("envelope"),
        entry("JSON null", b"null".to_vec()).malformed("envelope"),
        entry("JSON array", b"[]".to_vec()).malformed("envelope"),
        entry("JSON string", b"\"envelope\"".to_vec()).malformed("envelope"),
        entry("JSON number", b"42".to_vec()).malformed("envelope"),
        entry("JSON true", b"true".to_vec()).malformed("envelope"),
        entry("10,000 [", vec![b'['; 10_000]).malformed("envelope"),
        entry("10,000 nested objects", "{\"a\":".repeat(10_000).into_bytes()).malformed("envelope"),
        entry("10,000 nested arrays closed", format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)))
            .malformed("envelope"),
        entry("deep nesting inside payloadType", {
            let mut s = good_json.clone();
            s = s.replacen(
                &format!("\"{PAYLOAD_TYPE}\""),
                &format!("{}1{}", "[".repeat(5000), "]".repeat(5000)),
                1,
            );
            s
        })
        .malformed("envelope"),
        entry("invalid UTF-8", vec![0xff, 0xfe, b'{', b'}']).malformed("envelope"),
        entry("UTF-8 byte order mark first", {
            let mut b = "\u{feff}".as_bytes().to_vec();
            b.extend_from_slice(good_json.as_bytes());
            b
        })
        .malformed("envelope"),
        entry("trailing garbage", format!("{good_json}x")).malformed("envelope"),
        entry("two envelopes", format!("{good_json}{good_json}")).malformed("envelope"),
        entry("body over 64 KiB", vec![b' '; 70 * 1024]).too_large(),
        entry("body 1 byte over 64 KiB", {
            let mut b = good_json.clone().into_bytes();
            b.resize(64 * 1024 + 1, b' ');
            b
        })
        .too_large(),
        entry("payload over the 16 KiB body limit", {
            let big = gift("D-huge", json!(1));
            let mut text = serde_json::to_string(&big).expect("json");
            text.insert_str(text.len() - 1, &format!(",\"pad\":\"{}\"", "x".repeat(17 * 1024)));
            signed_bytes(text.as_bytes(), &[&k])
        })
        .too_large(),
        entry(
            "missing payload",
            edited(&good, |v| {
                v.as_object_mut().expect("obj").remove("payload");
            }),
        )
        .malformed("envelope"),
        entry(
            "missing payloadType",
            edited(&good, |v| {
                v.as_object_mut().expect("obj").remove("payloadType");
            }),
        )
        .malformed("envelope"),
        entry(
            "missing signatures",
            edited(&good, |v| {
                v.as_object_mut().expect("obj").remove("signatures");
            }),
        )
        .malformed("envelope"),
        entry("unknown envelope field", edited(&good, |v| v["note"] = json!("hi"))).malformed("envelope"),
        entry("unknown signature field", edited(&good, |v| v["signatures"][0]["alg"] = json!("ed25519")))
            .malformed("envelope"),
        entry("duplicate payload key in envelope", {
            let other = sign(&gift("D-other", json!(99_999)), &[&k]);
            good_json.replacen("{", &format!("{{\"payload\":\"{}\",", other.payload), 1)
        })
        .malformed("envelope"),
        entry("duplicate signatures key in envelope", good_json.replacen("{", "{\"signatures\":[],", 1))
            .malformed("envelope"),
        entry("duplicate keyid in a signature", {
            let keyid = &good.signatures[0].keyid;
            good_json.replacen("{\"keyid\"", &format!("{{\"keyid\":\"{keyid}\",\"keyid\""), 1)
        })
        .malformed("envelope"),
        entry("payload is a number", edited(&good, |v| v["payload"] = json!(12))).malformed("envelope"),
        entry("payload is null", edited(&good, |v| v["payload"] = Value::Null)).malformed("envelope"),
        entry("signatures is an object", edited(&good, |v| v["signatures"] = json!({"keyid": "x"})))
            .malformed("envelope"),
        entry("signature is a string", edited(&good, |v| v["signatures"] = json!(["sig"])))
            .malformed("envelope"),
        entry(
            "payloadType application/json",
            edited(&good, |v| v["payloadType"] = json!("application/json")),
        )
        .malformed("payload_type"),
        entry("payloadType empty", edited(&good, |v| v["payloadType"] = json!(""))).malformed("payload_type"),
        entry(
            "payloadType upper case",
            edited(&good, |v| v["payloadType"] = json!(PAYLOAD_TYPE.to_uppercase())),
        )
        .malformed("payload_type"),
        entry(
            "payloadType of in-toto",
            edited(&good, |v| v["payloadType"] = json!("application/vnd.in-toto+json")),
        )
        .malformed("payload_type"),
        entry("payload not base64", edited(&good, |v| v["payload"] = json!("!!!!"))).malformed("base64"),
        entry(
            "payload base64 with a line break",
            edited(&good, |v| {
                let p = good.payload.clone();
                v["payload"] = json!(format!("{}\n{}", &p[..8], &p[8..]));
            }),
        )
        .malformed("base64"),
        entry(
            "payload base64 with leading space",
            edited(&good, |v| v["payload"] = json!(format!(" {}", good.payload))),
        )
        .malformed("base64"),
        entry("payload empty", edited(&good, |v| v["payload"] = json!(""))).malformed("json"),
        entry("signatures empty", edited(&good, |v| v["signatures"] = json!([]))).malformed("signatures"),
        entry("nine signatures", {
            let keys: Vec<SigningKey> = (100..109).map(key).collect();
            let refs: Vec<&SigningKey> = keys.iter().collect();
            Envelope::sign(&serde_json::to_vec(&gift("D-nine", json!(1))).expect("json"), &refs).to_json()
        })
        .malformed("signatures"),
        entry(
            "one key signs twice",
            edited(&good, |v| {
                let s = v["signatures"][0].clone();
                v["signatures"] = json!([s.clone(), s]);
            }),
        )
        .malformed("signatures"),
        entry(
            "keyid upper-case hex",
            edited(&good, |v| v["signatures"][0]["keyid"] = json!(good.signatures[0].keyid.to_uppercase())),
        )
        .malformed("hex"),
        entry("keyid short", edited(&good, |v| v["signatures"][0]["keyid"] = json!("ab".repeat(31))))
            .malformed("hex"),
        entry("keyid not hex", edited(&good, |v| v["signatures"][0]["keyid"] = json!("zz".repeat(32))))
            .malformed("hex"),
        entry("keyid empty", edited(&good, |v| v["signatures"][0]["keyid"] = json!(""))).malformed("hex"),
        entry("sig not base64", edited(&good, |v| v["signatures"][0]["sig"] = json!("%%%%")))
            .malformed("base64"),
        entry("sig 63 bytes", edited(&good, |v| v["signatures"][0]["sig"] = json!(b64_encode(&[7u8; 63]))))
            .malformed("base64"),
        entry("sig 65 bytes", edited(&good, |v| v["signatures"][0]["sig"] = json!(b64_encode(&[7u8; 65]))))
            .malformed("base64"),
        entry(
            "sig without padding",
            edited(&good, |v| {
                v["signatures"][0]["sig"] = json!(good.signatures[0].sig.trim_end_matches('='))
            }),
        )
        .malformed("base64"),
        entry(
            "sig with non-zero trailing bits",
            edited(&good, |v| {
                // 64 bytes end in one base64 character carrying 4 data bits and 2 zero bits, then
                // "==": flipping a zero bit keeps the bytes and breaks canonical form.
                let sig = &good.signatures[0].sig;
                let last = sig.as_bytes()[sig.len() - 3];
                let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                let pos = alphabet.iter().position(|c| *c == last).expect("b64 char");
                let noisy = alphabet[pos | 1] as char;
                v["signatures"][0]["sig"] = json!(format!("{}{}==", &sig[..sig.len() - 3], noisy));
            }),
        )
        .malformed("base64"),
        entry("sig url-safe alphabet", {
            let sig = base64::engine::general_purpose::URL_SAFE.encode([0xfb_u8; 64]);
            edited(&good, |v| v["signatures"][0]["sig"] = json!(sig))
        })
        .malformed("base64"),
    ];
    // The payload in non-canonical base64: a body whose length leaves "==" at the end, with
    // a zero bit of the last data character set.
    let mut pad = String::new();
    loop {
        let b = gift(&format!("D-b64{pad}"), json!(1));
        let bytes = serde_json::to_vec(&b).expect("json");
        if bytes.len() % 3 == 1 {
            let env = Envelope::sign(&bytes, &[&k]);
            let p = env.payload.clone();
            let last = p.as_bytes()[p.len() - 3];
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let pos = alphabet.iter().position(|c| *c == last).expect("b64 char");
            let noisy = format!("{}{}==", &p[..p.len() - 3], alphabet[pos | 1] as char);
            rows.push(
                entry("payload with non-zero trailing bits", edited(&env, |v| v["payload"] = json!(noisy)))
                    .malformed("base64"),
            );
            rows.push(
                entry(
                    "payload without padding",
                    edited(&env, |v| v["payload"] = json!(p.trim_end_matches('='))),
                )
                .malformed("base64"),
            );
            break;
        }
        pad.push('x');
    }
    // The payload in the URL-safe alphabet: a body whose standard base64 holds '+' or '/'.
    let mut found = false;
    for n in 0..30 {
        let b = body(
            "donation.received",
            &format!("D-url{n}"),
            json!({"fund":"F-gen","amount_fen":1,"channel":"cash","donor_name":format!("{}???~~~", "?".repeat(n))}),
        );
        let bytes = serde_json::to_vec(&b).expect("json");
        let std = base64::engine::general_purpose::STANDARD.encode(&bytes);
        if std.contains('+') || std.contains('/') {
            let env = Envelope::sign(&bytes, &[&k]);
            let url = base64::engine::general_purpose::URL_SAFE.encode(&bytes);
            rows.push(
                entry("payload in url-safe base64", edited(&env, |v| v["payload"] = json!(url)))
                    .malformed("base64"),
            );
            found = true;
            break;
        }
    }
    assert!(found, "a body with '+' or '/' in its base64");
    rows
}

/// Bodies that are not valid under SPEC.md §2, each correctly signed by a key that may sign
/// the kind: refused at step 2, before any signature or state is looked at.
fn body_rows() -> Vec<Row> {
    let k = intake();
    let cw = role_key(Role::Caseworker);
    let alloc = role_key(Role::Allocator);
    let disb = role_key(Role::Disburser);
    let admin = role_key(Role::Admin);
    let hot = role_key(Role::Hotline);
    let g = |id: &str, extra: Value| -> Value {
        let mut b = gift(id, json!(100));
        if let (Value::Object(b), Value::Object(e)) = (&mut b, extra) {
            b.extend(e);
        }
        b
    };
    let without = |mut b: Value, field: &str| -> Value {
        b.as_object_mut().expect("obj").remove(field);
        b
    };
    let case = |id: &str, summary: &str| {
        body(
            "case.opened",
            id,
            json!({"programme":"medical","beneficiary":hex64(0xc2),"region":"兰陵镇","summary":summary,"requested_fen":1000}),
        )
    };
    let s = |b: &Value| signed(b, &[&k]);
    let raw = |text: String| signed_bytes(text.as_bytes(), &[&k]);
    let at = now();
    vec![
        entry("body not JSON", raw("{\"v\":1,".to_string())).malformed("json"),
        entry("body is a JSON array", raw("[1,2]".to_string())).malformed("field"),
        entry("body is null", raw("null".to_string())).malformed("field"),
        entry("body is a string", raw("\"donation\"".to_string())).malformed("field"),
        entry("body nested 10,000 deep", raw(format!("{{\"kind\":{}", "[".repeat(10_000)))).malformed("json"),
        entry(
            "body with 5,000 nested arrays in an unknown field",
            raw(format!(
                "{{\"v\":1,\"kind\":\"donation.received\",\"x\":{}{}}}",
                "[".repeat(5000),
                "]".repeat(5000)
            )),
        )
        .malformed("json"),
        entry("body with a NUL byte", raw(format!("{{\"v\":1,\"kind\":\"donation.received\",\"id\":\"D-nul\u{0}\",\"at\":\"{at}\"}}")))
            .malformed("json"),
        entry("body invalid UTF-8", signed_bytes(b"{\"v\":1,\"kind\":\"donation.received\",\"id\":\"\xff\"}", &[&k]))
            .malformed("json"),
        entry("missing v", s(&without(g("D-nov", json!({})), "v"))).malformed("field"),
        entry("v is 2", s(&g("D-v2", json!({"v": 2})))).malformed("field"),
        entry("v is a string", s(&g("D-vs", json!({"v": "1"})))).malformed("field"),
        entry("v is a float", raw(serde_json::to_string(&g("D-vf", json!({}))).expect("json").replacen("\"v\":1", "\"v\":1.0", 1)))
            .malformed("field"),
        entry("missing kind", s(&without(g("D-nokind", json!({})), "kind"))).malformed("field"),
        entry("unknown kind", s(&g("D-uk", json!({"kind": "donation.stolen"})))).malformed("field"),
        entry("kind in upper case", s(&g("D-ukc", json!({"kind": "Donation.Received"})))).malformed("field"),
        entry("kind empty", s(&g("D-uke", json!({"kind": ""})))).malformed("field"),
        entry("kind is a number", s(&g("D-ukn", json!({"kind": 8})))).malformed("field"),
        entry("unknown field", s(&g("D-unk", json!({"memo": "hello"})))).malformed("field"),
        entry("unknown field named like a signature", s(&g("D-unk2", json!({"signatures": []})))).malformed("field"),
        entry("duplicate amount_fen in body", raw(format!(
            "{{\"v\":1,\"kind\":\"donation.received\",\"id\":\"D-dupkey\",\"at\":\"{at}\",\"fund\":\"F-gen\",\"amount_fen\":1,\"amount_fen\":100000000,\"channel\":\"cash\"}}"
        )))
        .malformed("field"),
        entry("duplicate kind in body", raw(format!(
            "{{\"v\":1,\"kind\":\"donation.received\",\"kind\":\"fund.opened\",\"id\":\"D-dupkind\",\"at\":\"{at}\",\"fund\":\"F-gen\",\"amount_fen\":1,\"channel\":\"cash\"}}"
        )))
        .malformed("field"),
        entry("duplicate id in body", raw(format!(
            "{{\"v\":1,\"kind\":\"donation.received\",\"id\":\"D-a\",\"id\":\"D-b\",\"at\":\"{at}\",\"fund\":\"F-gen\",\"amount_fen\":1,\"channel\":\"cash\"}}"
        )))
        .malformed("field"),
        entry("body of another kind's fields", signed(&body("donation.received", "D-wrong", json!({"name":"x","programme":"general","restricted":false,"opening_balance_fen":0})), &[&k]))
            .malformed("field"),
        entry("id empty", s(&gift("", json!(1)))).malformed("event_id"),
        entry("id starts with a dash", s(&gift("-D", json!(1)))).malformed("event_id"),
        entry("id 65 characters", s(&gift(&"D".repeat(65), json!(1)))).malformed("event_id"),
        entry("id with a space", s(&gift("D 1", json!(1)))).malformed("event_id"),
        entry("id with a slash", s(&gift("D/../1", json!(1)))).malformed("event_id"),
        entry("id with non-ASCII", s(&gift("捐赠-1", json!(1)))).malformed("event_id"),
        entry("id is a number", s(&g("D-x", json!({"id": 7})))).malformed("field"),
        entry("at lower-case t", s(&g("D-t1", json!({"at": "2026-03-01t10:00:00Z"})))).malformed("time"),
        entry("at without zone", s(&g("D-t2", json!({"at": "2026-03-01T10:00:00"})))).malformed("time"),
        entry("at second 60", s(&g("D-t3", json!({"at": "2026-03-01T10:00:60Z"})))).malformed("time"),
        entry("at month 13", s(&g("D-t4", json!({"at": "2026-13-01T10:00:00Z"})))).malformed("time"),
        entry("at 30 February", s(&g("D-t5", json!({"at": "2026-02-30T10:00:00Z"})))).malformed("time"),
        entry("at offset +24:00", s(&g("D-t6", json!({"at": "2026-03-01T10:00:00+24:00"})))).malformed("time"),
        entry("at empty", s(&g("D-t7", json!({"at": ""})))).malformed("time"),
        entry("at a Unix number", s(&g("D-t8", json!({"at": 1_772_330_400})))).malformed("field"),
        entry("at with a space", s(&g("D-t9", json!({"at": "2026-03-01 10:00:00Z"})))).malformed("time"),
        entry("amount zero", s(&gift("D-a0", json!(0)))).malformed("amount"),
        entry("amount negative", s(&gift("D-a1", json!(-1)))).malformed("field"),
        entry("amount 2^53", s(&gift("D-a2", json!(9_007_199_254_740_992u64)))).malformed("amount"),
        entry("amount 2^64 - 1", s(&gift("D-a3", json!(u64::MAX)))).malformed("amount"),
        entry("amount 2^64", raw(serde_json::to_string(&gift("D-a4", json!(1))).expect("json").replacen("\"amount_fen\":1", "\"amount_fen\":18446744073709551616", 1)))
            .malformed("field"),
        entry("amount float 1.5", s(&gift("D-a5", json!(1.5)))).malformed("field"),
        entry("amount float 100.0", raw(serde_json::to_string(&gift("D-a6", json!(1))).expect("json").replacen("\"amount_fen\":1", "\"amount_fen\":100.0", 1)))
            .malformed("field"),
        entry("amount exponent 1e3", raw(serde_json::to_string(&gift("D-a7", json!(1))).expect("json").replacen("\"amount_fen\":1", "\"amount_fen\":1e3", 1)))
            .malformed("field"),
        entry("amount as a string", s(&gift("D-a8", json!("100")))).malformed("field"),
        entry("amount as a boolean", s(&gift("D-a9", json!(true)))).malformed("field"),
        entry("amount null", s(&gift("D-a10", Value::Null))).malformed("field"),
        entry("amount as a list", s(&gift("D-a11", json!([100])))).malformed("field"),
        entry("goods value over 2^53", s(&without(g("D-gv", json!({"goods":{"item":"rice","quantity":1u64 << 30,"unit":"kg","unit_value_fen":1u64 << 30},"channel":"goods"})), "amount_fen")))
            .malformed("amount"),
        entry("both amount_fen and goods", s(&g("D-both", json!({"goods":{"item":"rice","quantity":1,"unit":"kg","unit_value_fen":1}}))))
            .malformed("field"),
        entry("neither amount_fen nor goods", s(&without(g("D-none", json!({})), "amount_fen"))).malformed("field"),
        entry("both fund and case", s(&g("D-fc", json!({"case": "C-1"})))).malformed("field"),
        entry("neither fund nor case", s(&without(g("D-nfc", json!({})), "fund"))).malformed("field"),
        entry("unknown channel", s(&g("D-ch", json!({"channel": "bitcoin"})))).malformed("field"),
        entry("optional field null", s(&g("D-null", json!({"donor": null})))).malformed("field"),
        entry("object given as a list", s(&without(g("D-lst", json!({"goods":["rice",1,"kg",1],"channel":"goods"})), "amount_fen")))
            .malformed("field"),
        entry("donor upper-case hex", s(&g("D-h1", json!({"donor": hex64(0xab).to_uppercase()})))).malformed("hex"),
        entry("donor 63 hex characters", s(&g("D-h2", json!({"donor": &hex64(0xab)[1..]})))).malformed("hex"),
        entry("reference not hex", s(&g("D-h3", json!({"reference": "slip-2026-001"})))).malformed("hex"),
        entry("text of 501 characters", s(&g("D-long", json!({"donor_name": "字".repeat(501)})))).malformed("text"),
        entry("text with NUL", s(&g("D-c0", json!({"donor_name": "A\u{0}B"})))).malformed("text"),
        entry("text with a newline", s(&g("D-c1", json!({"donor_name": "A\nB"})))).malformed("text"),
        entry("text with DEL", s(&g("D-c2", json!({"donor_name": "A\u{7f}B"})))).malformed("text"),
        entry("text with C1 control", s(&g("D-c3", json!({"donor_name": "A\u{85}B"})))).malformed("text"),
        entry("payee both commitment and vendor", signed(&body("disbursement.made", "X-pp", json!({"case":"C-1","amount_fen":1,"method":"bank","payee":{"commitment":hex64(1),"vendor":"Shop"},"evidence":[]})), &[&disb]))
            .malformed("field"),
        entry("payee empty", signed(&body("disbursement.made", "X-pe", json!({"case":"C-1","amount_fen":1,"method":"bank","payee":{},"evidence":[]})), &[&disb]))
            .malformed("field"),
        entry("evidence of 65 hashes", signed(&body("disbursement.made", "X-ev", json!({"case":"C-1","amount_fen":1,"method":"bank","payee":{"vendor":"Shop"},"evidence":vec![hex64(0xe2); 65]})), &[&disb]))
            .malformed("field"),
        entry("unknown programme", signed(&body("fund.opened", "F-x", json!({"name":"x","programme":"space","restricted":false,"opening_balance_fen":0})), &[&admin]))
            .malformed("field"),
        entry("restricted as a string", signed(&body("fund.opened", "F-y", json!({"name":"x","programme":"general","restricted":"yes","opening_balance_fen":0})), &[&admin]))
            .malformed("field"),
        entry("opening balance negative", signed(&body("fund.opened", "F-z", json!({"name":"x","programme":"general","restricted":false,"opening_balance_fen":-5})), &[&admin]))
            .malformed("field"),
        entry("grant of a small-order key", signed(&body("key.granted", "g-weak", json!({"key":format!("01{}", "00".repeat(31)),"holder":"x","roles":["intake"]})), &[&admin, &key(2)]))
            .malformed("weak_key"),
        entry("grant of an unknown role", signed(&body("key.granted", "g-role", json!({"key":key_hex(&key(77)).to_hex(),"holder":"x","roles":["root"]})), &[&admin, &key(2)]))
            .malformed("field"),
        entry("grant naming a role twice", signed(&body("key.granted", "g-twice", json!({"key":key_hex(&key(77)).to_hex(),"holder":"x","roles":["intake","intake"]})), &[&admin, &key(2)]))
            .malformed("field"),
        entry("complaint subjects given as a string", signed(&body("complaint.filed", "Q-s", json!({"channel":"hotline","subjects":"C-1","summary":"x"})), &[&hot]))
            .malformed("field"),
        entry("allocation goods with a unit", signed(&body("allocation.made", "A-gu", json!({"fund":"F-gen","case":"C-1","goods":{"item":"rice","quantity":1,"unit":"kg"},"decision":"m"})), &[&alloc]))
            .malformed("field"),
        // The personal-data guard: every string but hex fields and times.
        entry("PII: ID number in summary", signed(&case("C-p1", "患者身份证110101199003071234"), &[&cw])).malformed("pii_detected"),
        entry("PII: ID number ending in X", signed(&case("C-p2", "id 11010119900307123X."), &[&cw])).malformed("pii_detected"),
        entry("PII: ID number ending in x", signed(&case("C-p3", "id 11010119900307123x"), &[&cw])).malformed("pii_detected"),
        entry("PII: mobile in summary", signed(&case("C-p4", "联系电话13812345678"), &[&cw])).malformed("pii_detected"),
        entry("PII: mobile in region", signed(&body("case.opened", "C-p5", json!({"programme":"medical","beneficiary":hex64(0xc2),"region":"19912345678","summary":"s","requested_fen":1000})), &[&cw]))
            .malformed("pii_detected"),
        entry("PII: mobile in the id", signed(&gift("D-13812345678", json!(1)), &[&k])).malformed("pii_detected"),
        entry("PII: mobile in donor_name", s(&g("D-p6", json!({"donor_name": "王先生 15912345678"})))).malformed("pii_detected"),
        entry("PII: ID in goods item", s(&without(g("D-p7", json!({"goods":{"item":"110101199003071234","quantity":1,"unit":"kg","unit_value_fen":1},"channel":"goods"})), "amount_fen")))
            .malformed("pii_detected"),
        entry("PII: mobile in allocation decision", signed(&body("allocation.made", "A-p", json!({"fund":"F-gen","case":"C-1","amount_fen":1,"decision":"approved by 13700000000"})), &[&alloc]))
            .malformed("pii_detected"),
        entry("PII: mobile in payee vendor", signed(&body("disbursement.made", "X-p", json!({"case":"C-1","amount_fen":1,"method":"bank","payee":{"vendor":"shop 13612345678"},"evidence":[]})), &[&disb]))
            .malformed("pii_detected"),
        entry("PII: ID in key holder", signed(&body("key.granted", "g-pii", json!({"key":key_hex(&key(78)).to_hex(),"holder":"clerk 110101199003071234","roles":["intake"]})), &[&admin, &key(2)]))
            .malformed("pii_detected"),
        entry("PII: mobile in complaint summary", signed(&body("complaint.filed", "Q-p", json!({"channel":"hotline","subjects":["C-1"],"summary":"caller 18812345678 says"})), &[&hot]))
            .malformed("pii_detected"),
        entry("PII: ID in fund sponsor", signed(&body("fund.opened", "F-p", json!({"name":"x","programme":"general","restricted":false,"sponsor":"110101199003071234","opening_balance_fen":0})), &[&admin]))
            .malformed("pii_detected"),
        entry("PII: mobile in an unknown field's name is still refused", raw(format!(
            "{{\"v\":1,\"kind\":\"donation.received\",\"id\":\"D-pk\",\"at\":\"{at}\",\"fund\":\"F-gen\",\"amount_fen\":1,\"channel\":\"cash\",\"13812345678\":1}}"
        )))
        .malformed("field"),
        // Near misses of the guard are ordinary text and are accepted.
        entry("not PII: 12-digit number", signed(&case("C-np1", "invoice 138123456789"), &[&cw])).accepted(1),
        entry("not PII: 11 digits starting 12", signed(&case("C-np2", "invoice 12812345678"), &[&cw])).accepted(1),
        entry("not PII: ID with month 13", signed(&case("C-np3", "ref 110101199013071234"), &[&cw])).accepted(1),
    ]
}

/// Signatures that do not verify: step 3, 403 `bad_signature`.
fn signature_rows() -> Vec<Row> {
    let k = intake();
    let b = gift("D-sig", json!(100));
    let good = sign(&b, &[&k]);
    let bytes = serde_json::to_vec(&b).expect("json");
    let sig_of = |sig: &[u8]| b64_encode(sig);
    let raw_sig = k.sign(&pae(PAYLOAD_TYPE, &bytes)).to_bytes();
    let weak_key = format!("01{}", "00".repeat(31));
    let mut weak_sig = vec![0u8; 64];
    weak_sig[0] = 1;
    vec![
        entry(
            "signature over other bytes",
            edited(&good, |v| {
                v["signatures"][0]["sig"] = json!(sign(&json!({"other": 1}), &[&k]).signatures[0].sig)
            }),
        )
        .bad_signature(),
        entry(
            "signature over the raw body, not the PAE",
            edited(&good, |v| v["signatures"][0]["sig"] = json!(sig_of(&k.sign(&bytes).to_bytes()))),
        )
        .bad_signature(),
        entry(
            "signature under another keyid",
            edited(&good, |v| {
                v["signatures"][0]["keyid"] = json!(key_hex(&role_key(Role::Caseworker)).to_hex())
            }),
        )
        .bad_signature(),
        entry(
            "signature all zeros",
            edited(&good, |v| v["signatures"][0]["sig"] = json!(sig_of(&[0u8; 64]))),
        )
        .bad_signature(),
        entry(
            "signature with S + l (non-canonical)",
            edited(&good, |v| {
                let mut s = raw_sig.to_vec();
                let high = add_group_order(&s[32..]);
                s[32..].copy_from_slice(&high);
                v["signatures"][0]["sig"] = json!(sig_of(&s));
            }),
        )
        .bad_signature(),
        entry(
            "small-order keyid with identity signature",
            edited(&good, |v| {
                v["signatures"][0]["keyid"] = json!(weak_key);
                v["signatures"][0]["sig"] = json!(sig_of(&weak_sig));
            }),
        )
        .bad_signature(),
        entry(
            "keyid not on the curve",
            edited(&good, |v| v["signatures"][0]["keyid"] = json!("ff".repeat(32))),
        )
        .bad_signature(),
        entry(
            "second of two signatures forged",
            edited(&sign(&b, &[&k, &second_key(Role::Intake)]), |v| {
                v["signatures"][1]["sig"] = json!(sig_of(&[9u8; 64]))
            }),
        )
        .bad_signature(),
        entry(
            "payload swapped under a valid signature",
            edited(&good, |v| v["payload"] = json!(sign(&gift("D-sig", json!(100_000_000)), &[&k]).payload)),
        )
        .bad_signature(),
        // Check order (SPEC.md §8): a malformed body is reported before a bad signature, and a
        // bad signature before an unknown key.
        entry(
            "bad signature and malformed body: malformed first",
            edited(&sign(&gift("D-o1", json!(0)), &[&k]), |v| {
                v["signatures"][0]["sig"] = json!(sig_of(&[0u8; 64]))
            }),
        )
        .malformed("amount"),
        entry(
            "bad signature by an unknown key: bad_signature first",
            edited(&sign(&b, &[&key(99)]), |v| v["signatures"][0]["sig"] = json!(sig_of(&[0u8; 64]))),
        )
        .bad_signature(),
    ]
}

/// Authority, replays, reused ids, times and the rules of SPEC.md §5, in an order that lets a
/// later row rely on an earlier one.
async fn state_rows(f: &Fixture, appended_before: u64) -> Vec<Row> {
    let k = intake();
    let k2 = second_key(Role::Intake);
    let admin = key(1);
    let admin2 = key(2);
    let alloc = role_key(Role::Allocator);
    let alloc2 = second_key(Role::Allocator);
    let disb = role_key(Role::Disburser);
    let disb2 = second_key(Role::Disburser);
    let cw = role_key(Role::Caseworker);
    let hot = role_key(Role::Hotline);
    let hot2 = second_key(Role::Hotline);
    let auditor = role_key(Role::Auditor);
    let size = f.size().await + appended_before;
    let d1 = seq_of(f, "D-1").await;
    let x1 = seq_of(f, "X-1").await;
    let grant_seq = seq_of(f, "grant-intake-1").await;

    let fresh = gift("D-fresh", json!(100));
    let fresh_env = signed(&fresh, &[&k]);
    let allocation = |id: &str, fund: &str, case: &str, amount: u64| {
        body(
            "allocation.made",
            id,
            json!({"fund":fund,"case":case,"amount_fen":amount,"decision":"meeting 9"}),
        )
    };
    let disbursement = |id: &str, amount: u64| {
        body(
            "disbursement.made",
            id,
            json!({"case":"C-1","amount_fen":amount,"method":"bank","payee":{"vendor":"County Hospital"},"evidence":[hex64(0xe3)]}),
        )
    };
    let refund = |id: &str, donation: &str, amount: u64| {
        body("donation.refunded", id, json!({"donation":donation,"amount_fen":amount,"reason":"donor asked"}))
    };
    let revoke = |id: &str, who: &SigningKey| {
        body("key.revoked", id, json!({"key": key_hex(who).to_hex(), "reason": "left"}))
    };
    let grant = |id: &str, who: &SigningKey, roles: Value| {
        body("key.granted", id, json!({"key": key_hex(who).to_hex(), "holder": "desk", "roles": roles}))
    };
    let goods_gift = |id: &str, unit: &str| {
        body(
            "donation.received",
            id,
            json!({"fund":"F-gen","goods":{"item":"rice","quantity":10,"unit":unit,"unit_value_fen":500},"channel":"goods"}),
        )
    };
    let batch_gifts =
        |ids: &[&str]| -> Vec<Vec<u8>> { ids.iter().map(|id| signed(&gift(id, json!(10)), &[&k])).collect() };

    vec![
        // Authority (step 5).
        entry("unknown key", signed(&gift("D-u1", json!(100)), &[&key(99)])).unauthorized("role"),
        entry("caseworker signs a donation", signed(&gift("D-u2", json!(100)), &[&cw])).unauthorized("role"),
        entry("admin signs a donation", signed(&gift("D-u3", json!(100)), &[&admin])).unauthorized("role"),
        entry("log key signs a donation", signed(&gift("D-u4", json!(100)), &[&key(3)])).unauthorized("role"),
        entry("intake and an unknown key", signed(&gift("D-u5", json!(100)), &[&k, &key(98)])).unauthorized("role"),
        entry("allocation by intake", signed(&allocation("A-u", "F-gen", "C-1", 100), &[&k])).unauthorized("role"),
        entry("grant by one admin of two", signed(&grant("g-u1", &key(70), json!(["intake"])), &[&admin])).unauthorized("key_change_quorum"),
        entry("grant by an admin and intake", signed(&grant("g-u2", &key(70), json!(["intake"])), &[&admin, &k])).unauthorized("role"),
        entry("witness policy by one admin", signed(&body("witness.policy", "w-u", json!({"witnesses": [], "quorum": 0})), &[&admin])).unauthorized("key_change_quorum"),
        entry("revocation of another key by hotline", signed(&revoke("r-u", &k), &[&hot])).unauthorized("role"),
        entry("hotline revokes itself, second key", signed(&revoke("r-hot2", &hot2), &[&hot2])).accepted(1),
        entry("revoked key signs", signed(&body("complaint.filed", "Q-rev", json!({"channel":"hotline","subjects":["C-1"],"summary":"x"})), &[&hot2])).unauthorized("revoked"),
        entry("revoked key revokes itself again", signed(&revoke("r-hot2-again", &hot2), &[&hot2])).unauthorized("revoked"),
        entry("revoked key granted again", signed(&grant("g-hot2", &hot2, json!(["hotline"])), &[&admin, &admin2])).violates("key_revoked"),
        entry("revoking a revoked key", signed(&revoke("r-hot2-3", &hot2), &[&admin, &admin2])).violates("already_resolved"),
        entry("revoking a key that holds no role", signed(&revoke("r-none", &key(97)), &[&admin, &admin2])).violates("unknown_reference"),
        // Replays and reused ids (step 4).
        entry("a new donation", fresh_env.clone()).accepted(1),
        entry("the same envelope again", fresh_env.clone()).replayed(size + 1),
        entry("the same envelope a third time", fresh_env.clone()).replayed(size + 1),
        entry("same envelope with whitespace", {
            let mut b = b"  ".to_vec();
            b.extend_from_slice(&fresh_env);
            b.extend_from_slice(b"\n");
            b
        })
        .replayed(size + 1),
        entry("same id, other amount", signed(&gift("D-fresh", json!(101)), &[&k])).duplicate(size + 1),
        entry("same body, one more signature", signed(&fresh, &[&k, &k2])).duplicate(size + 1),
        entry("same body, signed by another intake key", signed(&fresh, &[&k2])).duplicate(size + 1),
        entry("reuse of a fixture donation id", signed(&gift("D-1", json!(100)), &[&k])).duplicate(d1),
        entry("reuse of a disbursement id by a donation", signed(&gift("X-1", json!(100)), &[&k])).duplicate(x1),
        entry("reuse of a grant id", signed(&gift("grant-intake-1", json!(100)), &[&k])).duplicate(grant_seq),
        entry("reuse of the genesis id", signed(&body("ledger.genesis", "genesis", json!({"origin":ORIGIN,"name":"x","currency":"CNY","admins":[key_hex(&admin).to_hex(),key_hex(&admin2).to_hex()],"log_key":key_hex(&key(3)).to_hex(),"policy":{"dual_control_fen":1,"min_audit_permille":100,"max_backdate_days":30}})), &[&admin, &admin2]))
            .duplicate(0),
        entry("reused id by an unknown key: duplicate before authority", signed(&gift("D-1", json!(100)), &[&key(99)])).duplicate(d1),
        batch("a logged batch again", batch_of(std::slice::from_ref(&fresh_env))).replayed_batch(vec![size + 1]),
        batch("logged and new envelopes mixed", batch_of(&[fresh_env.clone(), signed(&gift("D-mix", json!(1)), &[&k])]))
            .refused(409, "duplicate_id", Some("duplicate_id"))
            .at_index(1),
        batch("one envelope twice in a batch", { let e = signed(&gift("D-twice", json!(1)), &[&k]); batch_of(&[e.clone(), e]) })
            .refused(409, "duplicate_id", Some("duplicate_id"))
            .at_index(1),
        batch("two envelopes with one id in a batch", batch_of(&[signed(&gift("D-same", json!(1)), &[&k]), signed(&gift("D-same", json!(2)), &[&k])]))
            .refused(409, "duplicate_id", Some("duplicate_id"))
            .at_index(1),
        // Times (step 6).
        entry("at 25 hours ahead", signed(&g_at("D-f1", at_offset(25 * 3_600_000)), &[&k])).violates("future_time"),
        entry("at in the year 9999", signed(&g_at("D-f2", "9999-12-31T23:59:59Z".into()), &[&k])).violates("future_time"),
        entry("at 31 days back", signed(&g_at("D-b1", at_offset(-31 * 86_400_000)), &[&k])).violates("backdated"),
        entry("at in 1970", signed(&g_at("D-b2", "1970-01-01T00:00:00Z".into()), &[&k])).violates("backdated"),
        entry("at in year 1", signed(&g_at("D-b3", "0001-01-01T00:00:00Z".into()), &[&k])).violates("backdated"),
        entry("at 23 hours ahead is accepted", signed(&g_at("D-f-ok", at_offset(23 * 3_600_000)), &[&k])).accepted(1),
        entry("at 29 days back is accepted", signed(&g_at("D-b-ok", at_offset(-29 * 86_400_000)), &[&k])).accepted(1),
        // Genesis and references.
        entry("a second genesis", signed(&body("ledger.genesis", "genesis-2", json!({"origin":ORIGIN,"name":"x","currency":"CNY","admins":[key_hex(&admin).to_hex(),key_hex(&admin2).to_hex()],"log_key":key_hex(&key(3)).to_hex(),"policy":{"dual_control_fen":1,"min_audit_permille":100,"max_backdate_days":30}})), &[&admin, &admin2]))
            .violates("genesis_only"),
        entry("donation to an unknown fund", signed(&body("donation.received", "D-r1", json!({"fund":"F-none","amount_fen":1,"channel":"cash"})), &[&k])).violates("unknown_reference"),
        entry("donation to a case id given as fund", signed(&body("donation.received", "D-r2", json!({"fund":"C-1","amount_fen":1,"channel":"cash"})), &[&k])).violates("unknown_reference"),
        entry("refund of an unknown donation", signed(&refund("R-r", "D-none", 1), &[&k])).violates("unknown_reference"),
        entry("complaint about an unknown event", signed(&body("complaint.filed", "Q-r", json!({"channel":"hotline","subjects":["nothing-here"],"summary":"x"})), &[&hot])).violates("unknown_reference"),
        entry("allocation revoked of a disbursement id", signed(&body("allocation.revoked", "AR-r", json!({"allocation":"X-1","amount_fen":1,"reason":"x"})), &[&alloc])).violates("unknown_reference"),
        // Closed and non-empty objects.
        entry("open an empty fund", signed(&body("fund.opened", "F-closing", json!({"name":"closing","programme":"general","restricted":false,"opening_balance_fen":0})), &[&admin])).accepted(1),
        entry("close it", signed(&body("fund.closed", "F-closing-c", json!({"fund":"F-closing","reason":"done"})), &[&admin])).accepted(1),
        entry("close it again", signed(&body("fund.closed", "F-closing-c2", json!({"fund":"F-closing","reason":"done"})), &[&admin])).violates("already_resolved"),
        entry("donation to a closed fund", signed(&body("donation.received", "D-closed", json!({"fund":"F-closing","amount_fen":1,"channel":"cash"})), &[&k])).violates("not_open"),
        entry("close a fund that holds money", signed(&body("fund.closed", "F-gen-c", json!({"fund":"F-gen","reason":"x"})), &[&admin])).violates("not_empty"),
        entry("close a case that holds money", signed(&body("case.closed", "C-1-c", json!({"case":"C-1","outcome":"x"})), &[&cw])).violates("not_empty"),
        // Overdrafts, restricted funds, assets.
        entry("allocation over the fund", signed(&allocation("A-o1", "F-med", "C-1", 999_999), &[&alloc])).violates("insufficient_funds"),
        entry("disbursement over the case", signed(&disbursement("X-o1", 7001), &[&disb])).violates("insufficient_funds"),
        entry("refund over what is unspent", signed(&refund("R-o1", "D-1", 20_000), &[&k])).violates("insufficient_funds"),
        entry("revocation over what the case holds", signed(&body("allocation.revoked", "AR-o", json!({"allocation":"A-1","amount_fen":7001,"reason":"x"})), &[&alloc])).violates("over_revoke"),
        entry("return over what was paid", signed(&body("disbursement.returned", "XR-o", json!({"disbursement":"X-1","amount_fen":15_001,"reason":"x"})), &[&disb])).violates("over_return"),
        entry("over the threshold and the balance: the rule before dual control", signed(&allocation("A-o2", "F-gen", "C-1", 999_999_999), &[&alloc])).violates("insufficient_funds"),
        entry("an unauthorised signer and an overdraft: authority first", signed(&allocation("A-o3", "F-med", "C-1", 999_999), &[&k])).unauthorized("role"),
        entry("open an education case", signed(&body("case.opened", "C-edu", json!({"programme":"education","beneficiary":hex64(0xc3),"region":"x","summary":"tuition","requested_fen":5000})), &[&cw])).accepted(1),
        entry("restricted medical fund to an education case", signed(&allocation("A-rf", "F-med", "C-edu", 100), &[&alloc])).violates("restricted_fund"),
        entry("unrestricted fund to an education case", signed(&allocation("A-ok", "F-gen", "C-edu", 100), &[&alloc])).accepted(1),
        entry("a goods donation", signed(&goods_gift("D-rice", "kg"), &[&k])).accepted(1),
        entry("refund of a goods donation", signed(&refund("R-rice", "D-rice", 1), &[&k])).violates("wrong_asset"),
        entry("goods of one item in another unit", signed(&goods_gift("D-rice2", "bag"), &[&k])).violates("unit_mismatch"),
        entry("allocation of goods the fund lacks", signed(&body("allocation.made", "A-g", json!({"fund":"F-med","case":"C-1","goods":{"item":"rice","quantity":1},"decision":"m"})), &[&alloc])).violates("insufficient_funds"),
        entry("audit rate under the policy", signed(&body("audit.planned", "P-low", json!({"population":"donations","from_seq":0,"to_seq":1,"rate_permille":50,"seed_size":1_000_000,"nonce_hash":hex64(5),"summary":"x"})), &[&auditor])).violates("bad_sample"),
        entry("audit window reversed", signed(&body("audit.planned", "P-rev", json!({"population":"donations","from_seq":5,"to_seq":2,"rate_permille":100,"seed_size":1_000_000,"nonce_hash":hex64(5),"summary":"x"})), &[&auditor])).violates("bad_sample"),
        entry("audit seed in the past", signed(&body("audit.planned", "P-past", json!({"population":"donations","from_seq":0,"to_seq":2,"rate_permille":100,"seed_size":1,"nonce_hash":hex64(5),"summary":"x"})), &[&auditor])).violates("bad_sample"),
        entry("sample of an unknown plan", signed(&body("audit.sampled", "S-x", json!({"plan":"P-none","nonce":hex64(1),"selected_count":1,"selected_hash":hex64(2)})), &[&auditor])).violates("unknown_reference"),
        // Dual control (step 7): one signature over the threshold, and splitting under it.
        entry("a large gift", signed(&gift("D-big", json!(20_000_000)), &[&k])).accepted(1),
        entry("allocation over the threshold, one signature", signed(&allocation("A-big1", "F-gen", "C-1", 6_000_000), &[&alloc])).unauthorized("dual_control"),
        entry("allocation at the threshold, one signature", signed(&allocation("A-big2", "F-gen", "C-1", 5_000_000), &[&alloc])).unauthorized("dual_control"),
        entry("allocation over the threshold, two signatures", signed(&allocation("A-big3", "F-gen", "C-1", 6_000_000), &[&alloc, &alloc2])).accepted(1),
        entry("allocation over the threshold, one allocator and one intake", signed(&allocation("A-big4", "F-gen", "C-1", 6_000_000), &[&alloc, &k])).unauthorized("role"),
        // The fixture's A-1 (22,000 fen) and X-1 (15,000 fen) were single-signed on C-1 moments
        // ago: they count in the 24-hour window too.
        entry("split: first part", signed(&allocation("A-s1", "F-gen", "C-1", 3_000_000), &[&alloc])).accepted(1),
        entry("split: second part up to 1 fen under", signed(&allocation("A-s2", "F-gen", "C-1", 5_000_000 - 22_000 - 3_000_000 - 1), &[&alloc])).accepted(1),
        entry("split: third part reaches the threshold", signed(&allocation("A-s3", "F-gen", "C-1", 1), &[&alloc])).unauthorized("dual_control"),
        entry("split: same amount on another case is fine", signed(&allocation("A-s4", "F-gen", "C-edu", 1), &[&alloc])).accepted(1),
        entry("disbursement over the threshold, one signature", signed(&disbursement("X-big1", 5_000_000), &[&disb])).unauthorized("dual_control"),
        entry("disbursement split: first part", signed(&disbursement("X-s1", 5_000_000 - 15_000 - 1), &[&disb])).accepted(1),
        entry("disbursement split: one more fen", signed(&disbursement("X-s2", 1), &[&disb])).unauthorized("dual_control"),
        entry("disbursement split: two signatures pass", signed(&disbursement("X-s3", 1), &[&disb, &disb2])).accepted(1),
        entry("refund split: first part", signed(&refund("R-s1", "D-big", 3_000_000), &[&k])).accepted(1),
        entry("refund split: second part", signed(&refund("R-s2", "D-big", 2_000_000), &[&k])).unauthorized("dual_control"),
        entry("refund split: second part by two", signed(&refund("R-s3", "D-big", 2_000_000), &[&k, &k2])).accepted(1),
        // Batches: all or nothing, and the index names the culprit.
        batch("batch over 32 MiB", vec![b' '; 33 * 1024 * 1024]).too_large(),
        batch("batch of 1001 envelopes", {
            let e = signed(&gift("D-1001", json!(1)), &[&k]);
            batch_of(&vec![e; 1001])
        })
        .too_large(),
        batch("batch empty", b"[]".to_vec()).malformed("field"),
        batch("batch not an array", b"{}".to_vec()).malformed("json"),
        batch("batch not JSON", b"[{".to_vec()).malformed("json"),
        batch("batch 10,000 [", vec![b'['; 10_000]).malformed("json"),
        batch("batch of numbers", b"[1,2]".to_vec()).malformed("envelope").at_index(0),
        batch("batch with a payload over the body limit at 1", {
            let mut text = serde_json::to_string(&gift("D-bl", json!(1))).expect("json");
            text.insert_str(text.len() - 1, &format!(",\"pad\":\"{}\"", "x".repeat(17 * 1024)));
            batch_of(&[signed(&gift("D-bl0", json!(1)), &[&k]), signed_bytes(text.as_bytes(), &[&k])])
        })
        .too_large()
        .at_index(1),
        batch("batch with a bad signature at 2", {
            let mut envs = batch_gifts(&["B-1", "B-2"]);
            envs.push(edited(&sign(&gift("B-3", json!(1)), &[&k]), |v| v["signatures"][0]["sig"] = json!(b64_encode(&[0u8; 64]))));
            batch_of(&envs)
        })
        .bad_signature()
        .at_index(2),
        batch("batch with an overdraft at 1", batch_of(&[signed(&gift("B-4", json!(1)), &[&k]), signed(&allocation("B-5", "F-med", "C-1", 999_999), &[&alloc])]))
            .violates("insufficient_funds")
            .at_index(1),
        batch("batch with an unauthorised signer at 2", batch_of(&[signed(&gift("B-6", json!(1)), &[&k]), signed(&gift("B-7", json!(1)), &[&k]), signed(&gift("B-8", json!(1)), &[&cw])]))
            .unauthorized("role")
            .at_index(2),
        batch("batch with an overdraft over the threshold at 1: the rule, not dual control", batch_of(&[
            signed(&gift("B-9", json!(1_000)), &[&k]),
            signed(&allocation("B-10", "F-med", "C-1", 10_000_000), &[&alloc]),
        ]))
        .violates("insufficient_funds")
        .at_index(1),
        batch("batch of three good gifts", batch_of(&batch_gifts(&["B-11", "B-12", "B-13"]))).accepted(3),
        // The last admin: revoke one of two admins, then the other may not go.
        entry("revoke the second admin", signed(&revoke("r-admin2", &admin2), &[&admin, &admin2])).accepted(1),
        entry("the last admin revokes itself", signed(&revoke("r-admin1", &admin), &[&admin])).violates("last_admin"),
        entry("the last admin loses the admin role", signed(&grant("g-admin1", &admin, json!(["intake"])), &[&admin])).violates("last_admin"),
        entry("the revoked admin signs a fund", signed(&body("fund.opened", "F-rev", json!({"name":"x","programme":"general","restricted":false,"opening_balance_fen":0})), &[&admin2])).unauthorized("revoked"),
    ]
}

fn g_at(id: &str, at: String) -> Value {
    let mut b = gift(id, json!(100));
    b["at"] = json!(at);
    b
}

impl Row {
    /// A whole batch logged before: 200 with its seqs.
    fn replayed_batch(mut self, seqs: Vec<u64>) -> Row {
        self.status = 200;
        self.seqs = Some(seqs);
        self
    }
}

/// Reads with bad parameters, unknown paths and wrong methods.
fn read_rows(size: u64) -> Vec<Row> {
    let over = size + 1;
    let mut rows = vec![
        get("entries limit 0", "/v1/entries?limit=0").bad_request(),
        get("entries limit 1001", "/v1/entries?limit=1001").bad_request(),
        get("entries limit negative", "/v1/entries?limit=-5").bad_request(),
        get("entries limit not a number", "/v1/entries?limit=ten").bad_request(),
        get("entries start beyond the log", &format!("/v1/entries?start={over}")).bad_request(),
        get("entries start u64::MAX", &format!("/v1/entries?start={}", u64::MAX)).bad_request(),
        get("entries start 2^64", "/v1/entries?start=18446744073709551616").bad_request(),
        get("entries start float", "/v1/entries?start=1.5").bad_request(),
        get("entries start empty", "/v1/entries?start=").bad_request(),
        get("entries start twice", "/v1/entries?start=1&start=2").bad_request(),
        get("entry seq not a number", "/v1/entries/abc").bad_request(),
        get("entry seq negative", "/v1/entries/-1").bad_request(),
        get("entry seq 2^64", "/v1/entries/18446744073709551616").bad_request(),
        get("entry seq beyond the log", &format!("/v1/entries/{size}")).not_found(),
        get("entry seq u64::MAX", &format!("/v1/entries/{}", u64::MAX)).not_found(),
        get("inclusion without seq", "/v1/proof/inclusion").bad_request(),
        get("inclusion seq not a number", "/v1/proof/inclusion?seq=x").bad_request(),
        get("inclusion size beyond the checkpoint", &format!("/v1/proof/inclusion?seq=0&size={over}"))
            .bad_request(),
        get("inclusion seq not in the tree", &format!("/v1/proof/inclusion?seq={size}&size={size}"))
            .bad_request(),
        get("inclusion size 0", "/v1/proof/inclusion?seq=0&size=0").bad_request(),
        get("inclusion size u64::MAX", &format!("/v1/proof/inclusion?seq=0&size={}", u64::MAX)).bad_request(),
        get("consistency without from", "/v1/proof/consistency").bad_request(),
        get("consistency from 0", "/v1/proof/consistency?from=0&to=3").bad_request(),
        get("consistency from over to", "/v1/proof/consistency?from=5&to=3").bad_request(),
        get("consistency to beyond the checkpoint", &format!("/v1/proof/consistency?from=1&to={over}"))
            .bad_request(),
        get("consistency from negative", "/v1/proof/consistency?from=-1").bad_request(),
        get("balances size beyond the checkpoint", &format!("/v1/balances?size={over}")).bad_request(),
        get("balances size not a number", "/v1/balances?size=latest").bad_request(),
        get("balances size negative", "/v1/balances?size=-1").bad_request(),
        get("balances size u64::MAX", &format!("/v1/balances?size={}", u64::MAX)).bad_request(),
        get("lookup without commitment", "/v1/lookup").bad_request(),
        get("lookup commitment not hex", "/v1/lookup?commitment=xyz").bad_request(),
        get("lookup commitment upper case", &format!("/v1/lookup?commitment={}", hex64(0xd1).to_uppercase()))
            .bad_request(),
        get("lookup commitment of 66 characters", &format!("/v1/lookup?commitment={}ab", hex64(0xd1)))
            .bad_request(),
        get("lookup commitment as a list", "/v1/lookup?commitment[]=ab").bad_request(),
        get("unknown fund", "/v1/funds/F-none").not_found(),
        get("a case as a fund", "/v1/funds/C-1").not_found(),
        get("unknown case", "/v1/cases/C-none").not_found(),
        get("a fund as a case", "/v1/cases/F-gen").not_found(),
        get("unknown donation", "/v1/donations/D-none").not_found(),
        get("a case as a donation", "/v1/donations/C-1").not_found(),
        get("receipt of an unknown donation", "/v1/donations/D-none/receipt").not_found(),
        get("receipt of a fund", "/v1/donations/F-gen/receipt").not_found(),
        get("unknown complaint", "/v1/complaints/Q-none").not_found(),
        get("a case as a complaint", "/v1/complaints/C-1").not_found(),
        get("unknown audit", "/v1/audits/P-none").not_found(),
        get("unknown event", "/v1/events/nothing").not_found(),
        get("event id 10,000 characters", &format!("/v1/events/{}", "x".repeat(10_000))).not_found(),
        get("event id with invalid UTF-8 escape", "/v1/events/%FF%FE").bad_request(),
        get("fund id with invalid UTF-8 escape", "/v1/funds/%C0%AF").bad_request(),
        get("unknown path", "/no/such/path").not_found(),
        get("v2 API", "/v2/entries").not_found(),
        get("path past an entry", "/v1/entries/1/extra").not_found(),
        get("dot-dot path", "/v1/../../etc/passwd").not_found(),
        get("encoded dot-dot path", "/v1/%2e%2e/%2e%2e/etc/passwd").not_found(),
        get("double slash", "//v1/balances").not_found(),
        get("trailing slash", "/v1/balances/").not_found(),
        get("upper-case path", "/V1/BALANCES").not_found(),
    ];
    for (method, path) in [
        ("DELETE", "/v1/entries"),
        ("PUT", "/v1/entries"),
        ("GET", "/v1/batch"),
        ("PUT", "/v1/batch"),
        ("POST", "/v1/entries/0"),
        ("DELETE", "/v1/entries/0"),
        ("POST", "/checkpoint"),
        ("POST", "/v1/balances"),
        ("PATCH", "/v1/funds/F-gen"),
        ("POST", "/healthz"),
        ("DELETE", "/v1/donations/D-1"),
        ("POST", "/v1/export"),
    ] {
        rows.push(req(&format!("{method} {path}"), method, path, b"{}".to_vec()).method_not_allowed());
    }
    rows
}

#[tokio::test]
async fn hostile_requests_are_refused_with_the_spec_answer_and_change_nothing() {
    let f = populated().await;
    let mut rows = envelope_rows();
    rows.extend(body_rows());
    rows.extend(signature_rows());
    let appended: u64 = rows.iter().map(|r| r.appends).sum();
    rows.extend(state_rows(&f, appended).await);
    let size = f.size().await + rows.iter().map(|r| r.appends).sum::<u64>();
    rows.extend(read_rows(size));
    assert!(rows.len() >= 150, "the table has {} rows", rows.len());
    let mut wrong = Vec::new();
    let mut forged = 0;
    for row in &rows {
        wrong.extend(check(&f, row).await);
        if let Some(verdict) = verifier_agrees(&f, row).await {
            forged += 1;
            wrong.extend(verdict.err());
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} rows answered wrongly:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
    assert!(forged >= 100, "only {forged} refused envelopes were forged into the log");
    println!(
        "{forged} refused envelopes forged into the log, each flagged by the verifier with the node's rule"
    );
    // The ledger is still whole: every entry re-verifies and replays to the balances served.
    let (_, export) = f.request("GET", "/v1/export", Vec::new()).await;
    let mut state = ledger_core::rules::State::new();
    for line in export.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let e = ledger_core::entry::VerifiedEntry::parse_and_verify(line).expect("entry verifies");
        state.apply(&e).expect("entry applies");
    }
    let (_, served) = f.get("/v1/balances").await;
    assert_eq!(served, serde_json::to_value(state.balances()).expect("json"));
    println!("{} hostile rows checked", rows.len());
}

// ---------------------------------------------------------------------------------------------
// Node and verifier agree (issue 8): an envelope the node refused, written anyway into the next
// entry of the node's own export (with, for a batch, the envelopes before it), is flagged by the
// verifier at that seq with the rule the node named. What the node would not write, an auditor
// would catch if it were written.

/// The envelopes of a refused append that could stand in a log: the row's envelope, or a
/// batch's envelopes up to the refused one. `None` for requests that are not envelopes at all
/// (bad JSON, a broken DSSE shape: never an entry, so nothing to forge) and for requests refused
/// for their size on the wire, whose envelope may be fine.
fn forgeable(row: &Row) -> Option<Vec<Envelope>> {
    row.rule?;
    match row.path.as_str() {
        "/v1/entries" if row.body.len() <= ledger_node::limits::ENTRY_REQUEST_BYTES_MAX => {
            Envelope::from_json(&row.body).ok().map(|e| vec![e])
        }
        "/v1/batch" if row.body.len() <= ledger_node::limits::BATCH_REQUEST_BYTES_MAX => {
            let items: Vec<Value> = serde_json::from_slice(&row.body).ok()?;
            let upto = usize::try_from(row.index?).ok()?;
            items
                .iter()
                .take(upto + 1)
                .map(|v| Envelope::from_json(v.to_string().as_bytes()).ok())
                .collect::<Option<Vec<_>>>()
                .filter(|envs| envs.len() == upto + 1)
        }
        _ => None,
    }
}

/// `None` when the row is not a refused envelope; otherwise whether the verifier agrees.
async fn verifier_agrees(f: &Fixture, row: &Row) -> Option<Result<(), String>> {
    let envelopes = forgeable(row)?;
    let rule = row.rule?;
    let (_, export) = f.request("GET", "/v1/export", Vec::new()).await;
    let mut log = export.to_vec();
    let lines: Vec<&[u8]> = export.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let last = lines.last().map(|l| ledger_core::entry::Entry::parse(l).expect("stored entry parses"))?;
    // The time the node would have stamped: now, never before the last entry's.
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let time = ledger_core::time::EntryTime::from_unix_ms(now_ms).expect("time").max(last.time.clone());
    let mut prev = ledger_core::hash::leaf_hash(lines.last()?);
    // A batch's envelopes that were logged before would not be written again.
    let logged: Vec<Envelope> =
        lines.iter().map(|l| ledger_core::entry::Entry::parse(l).expect("stored entry").envelope).collect();
    // A batch mixing them is refused as a request (a retry must be whole): the new envelope
    // may be fine on its own, so there is nothing to forge.
    if envelopes.iter().any(|e| logged.iter().any(|l| l.same_as(e))) {
        return None;
    }
    let first = lines.len() as u64;
    let want_seq = first + envelopes.len() as u64 - 1;
    for (i, envelope) in envelopes.into_iter().enumerate() {
        let entry = ledger_core::entry::Entry {
            seq: first + i as u64,
            prev: prev.to_hex(),
            time: time.clone(),
            envelope,
        };
        let bytes = entry.to_bytes();
        prev = ledger_core::hash::leaf_hash(&bytes);
        log.extend_from_slice(&bytes);
        log.push(b'\n');
    }
    let job = verifier::analysis::Job {
        command: "log".into(),
        source_label: row.name.clone(),
        pinned: Some(ledger_core::checkpoint::LogKey::new(ORIGIN, key(3).verifying_key()).expect("log key")),
        ..Default::default()
    };
    let source = Box::new(verifier::pipeline::ReaderSource::new(std::io::Cursor::new(log)));
    let outcome = verifier::analysis::run(&job, source, &indicatif::ProgressBar::hidden(), false)
        .expect("the verifier runs");
    let got = outcome.report.violations.first().map(|v| (v.seq, v.rule.clone()));
    if got == Some((Some(want_seq), rule.to_string())) {
        Some(Ok(()))
    } else {
        Some(Err(format!(
            "{}: the node refused it with {rule}; forged at seq {want_seq}, the verifier said {got:?}",
            row.name
        )))
    }
}
