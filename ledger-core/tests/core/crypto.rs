//! DSSE envelopes and entries against dsse-and-entries.json; the Ed25519 edge cases that
//! `verify_strict` refuses and looser checks accept; envelope identity; strict entry parsing;
//! and the test vectors of docs/FORMAT.md, recomputed so the document cannot drift.

use crate::support::key;
use crate::vectors;
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use ed25519_dalek::{Signature, SigningKey, Verifier, VerifyingKey};
use ledger_core::checkpoint::{open_checkpoint, Checkpoint, LogSigner};
use ledger_core::dsse::{key_hex, pae, Envelope, EnvelopeSignature, PAYLOAD_TYPE};
use ledger_core::encoding::{b64_decode_canonical, b64_encode, hash_from_b64, hash_from_hex};
use ledger_core::entry::{Entry, VerifiedEntry};
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::merkle::{check_record, check_tree, prove_record, prove_tree, MemoryHashes};
use ledger_core::time::EntryTime;
use sha2::{Digest, Sha512};

fn s<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("{k} is a string"))
}

// ---------------------------------------------------------------------------------------------
// dsse-and-entries.json

#[test]
fn dsse_vector_pae_and_envelope() {
    let v = vectors("dsse-and-entries.json");
    let seed: [u8; 32] = hex::decode(s(&v, "signer_seed_hex")).expect("hex").try_into().expect("32 bytes");
    let k = SigningKey::from_bytes(&seed);
    assert_eq!(key_hex(&k).to_hex(), s(&v, "signer_key_hex"));
    assert_eq!(s(&v, "payload_type"), PAYLOAD_TYPE);
    let body = s(&v, "body_utf8").as_bytes();
    let want_pae = b64_decode_canonical(s(&v, "pae_base64")).expect("pae base64");
    assert_eq!(pae(PAYLOAD_TYPE, body), want_pae);
    assert!(want_pae.starts_with(b"DSSEv1 44 application/vnd.charity-ledger.event.v1+json 220 {"));

    let want: Envelope = serde_json::from_value(v["envelope"].clone()).expect("envelope shape");
    let signed = Envelope::sign(body, &[&k]);
    assert_eq!(signed, want, "Ed25519 is deterministic: the same key and body give the same envelope");
    assert_eq!(signed.to_json(), serde_json::to_string(&v["envelope"]).expect("json"));
    let verified = want.verify().expect("the vector verifies");
    assert_eq!(verified.body(), body);
    assert_eq!(verified.signers(), &[key_hex(&k)]);
    assert_eq!(verified.event().id().as_str(), "D-2026-000001");
}

#[test]
fn dsse_vector_entries_leaves_and_root() {
    let v = vectors("dsse-and-entries.json");
    let entries: Vec<&str> =
        v["entries_utf8"].as_array().expect("entries").iter().map(|e| e.as_str().expect("entry")).collect();
    let leaves: Vec<Hash> = v["leaf_hashes_hex"]
        .as_array()
        .expect("leaves")
        .iter()
        .map(|h| hash_from_hex(h.as_str().expect("hex")).expect("hash"))
        .collect();
    assert_eq!(entries.len(), leaves.len());
    let mut store = MemoryHashes::new();
    let mut prev = Hash::ZERO;
    for (seq, (bytes, want_leaf)) in entries.iter().zip(&leaves).enumerate() {
        // Its body names fund "F-medical", which no state here holds: parse and verify only.
        let entry =
            VerifiedEntry::parse_and_verify(bytes.as_bytes()).unwrap_or_else(|e| panic!("entry {seq}: {e}"));
        assert_eq!(entry.seq(), seq as u64);
        assert_eq!(entry.prev(), prev, "prev is the leaf hash of the entry before");
        assert_eq!(entry.leaf_hash(), *want_leaf);
        assert_eq!(leaf_hash(bytes.as_bytes()), *want_leaf);
        assert_eq!(entry.bytes(), bytes.as_bytes());
        // The same entry built from its parts has the same bytes.
        let parsed = Entry::parse(bytes.as_bytes()).expect("entry");
        let rebuilt = VerifiedEntry::new(
            seq as u64,
            prev,
            parsed.time.clone(),
            parsed.envelope.verify().expect("verify"),
        )
        .expect("entry");
        assert_eq!(rebuilt.bytes(), bytes.as_bytes());
        assert!(!bytes.contains('\n'), "entry bytes never hold a raw newline");
        store.append_leaf(*want_leaf);
        prev = *want_leaf;
    }
    assert_eq!(store.root(), hash_from_b64(s(&v, "root_base64")).expect("root"));
    // The first entry holds exactly the vector's envelope.
    let first = Entry::parse(entries[0].as_bytes()).expect("entry");
    assert_eq!(serde_json::to_value(&first.envelope).expect("json"), v["envelope"]);
}

// ---------------------------------------------------------------------------------------------
// Ed25519 edge cases (SPEC.md §1): accepted only if `verify_strict` accepts.

const MESSAGE_BODY: &str = r#"{"v":1,"kind":"fund.opened","id":"F-1","at":"2026-03-01T10:00:00+08:00","name":"Medical relief fund","programme":"medical","restricted":true,"opening_balance_fen":0}"#;

/// An envelope of MESSAGE_BODY carrying exactly this (keyid, signature bytes).
fn envelope_with(key: [u8; 32], sig: [u8; 64]) -> Envelope {
    let mut e = Envelope::sign(MESSAGE_BODY.as_bytes(), &[&key_for_shape()]);
    e.signatures = vec![EnvelopeSignature { keyid: hex::encode(key), sig: b64_encode(&sig) }];
    e
}

fn key_for_shape() -> SigningKey {
    key(0x21)
}

fn message() -> Vec<u8> {
    pae(PAYLOAD_TYPE, MESSAGE_BODY.as_bytes())
}

/// The Ed25519 challenge `k = SHA-512(R || A || M) mod L`.
fn challenge(r: &[u8; 32], a: &[u8; 32], m: &[u8]) -> Scalar {
    let digest: [u8; 64] = Sha512::new().chain_update(r).chain_update(a).chain_update(m).finalize().into();
    Scalar::from_bytes_mod_order_wide(&digest)
}

fn sig_bytes(r: &[u8; 32], s: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(r);
    out[32..].copy_from_slice(s);
    out
}

fn refused_with(e: &Envelope) -> &'static str {
    match e.verify() {
        Ok(_) => "ok",
        Err(r) => r.rule.as_str(),
    }
}

/// Every encoding of a small-order point we can name: the eight torsion points, the identity
/// with its sign bit set, and the identity with y = p + 1 (non-canonical).
fn small_order_encodings() -> Vec<[u8; 32]> {
    let mut out: Vec<[u8; 32]> = EIGHT_TORSION.iter().map(|p| p.compress().to_bytes()).collect();
    let mut signed_identity = [0u8; 32];
    signed_identity[0] = 1;
    signed_identity[31] = 0x80;
    out.push(signed_identity);
    let mut p_plus_1 = [0xffu8; 32];
    p_plus_1[0] = 0xee;
    p_plus_1[31] = 0x7f;
    out.push(p_plus_1);
    out
}

#[test]
fn the_strict_envelope_verifies() {
    let k = key_for_shape();
    let e = Envelope::sign(MESSAGE_BODY.as_bytes(), &[&k]);
    assert_eq!(refused_with(&e), "ok");
}

#[test]
fn small_order_public_keys_are_refused() {
    let identity = {
        let mut b = [0u8; 32];
        b[0] = 1;
        b
    };
    let encodings = small_order_encodings();
    assert!(encodings.contains(&identity));
    assert_eq!(
        encodings.iter().filter(|e| CompressedEdwardsY(**e).decompress().is_some()).count(),
        encodings.len()
    );
    let m = message();
    for a in encodings {
        // With A of small order, R = the identity and S = 0 satisfy [S]B = R + [k]A whenever
        // [k]A is the identity (always for A = identity): a forgery that fits any message.
        let forged = sig_bytes(&identity, &[0u8; 32]);
        let point = CompressedEdwardsY(a).decompress().expect("a point");
        assert!(point.is_small_order());
        if point.is_identity() {
            let vk = VerifyingKey::from_bytes(&a).expect("dalek accepts the encoding");
            assert!(
                vk.verify(&m, &Signature::from_bytes(&forged)).is_ok(),
                "the loose check accepts the forgery"
            );
            assert!(vk.verify_strict(&m, &Signature::from_bytes(&forged)).is_err());
        }
        assert_eq!(refused_with(&envelope_with(a, forged)), "bad_signature", "key {}", hex::encode(a));
        // And with any other signature.
        let real = key_for_shape().sign_bytes(&m);
        assert_eq!(refused_with(&envelope_with(a, real)), "bad_signature", "key {}", hex::encode(a));
    }
}

#[test]
fn small_order_r_is_refused() {
    let k = key_for_shape();
    let a_bytes = k.verifying_key().to_bytes();
    let a = k.to_scalar();
    assert_eq!((a * B).compress().to_bytes(), a_bytes);
    let m = message();
    for r in small_order_encodings() {
        // S = k·a makes [S]B = [k]A, which equals R + [k]A exactly when R is the identity.
        let s = challenge(&r, &a_bytes, &m) * a;
        let sig = sig_bytes(&r, &s.to_bytes());
        let point = CompressedEdwardsY(r).decompress().expect("a point");
        if point.is_identity() && CompressedEdwardsY(r) == EdwardsPoint::default().compress() {
            assert!(
                k.verifying_key().verify(&m, &Signature::from_bytes(&sig)).is_ok(),
                "the loose check accepts"
            );
        }
        assert_eq!(refused_with(&envelope_with(a_bytes, sig)), "bad_signature", "R {}", hex::encode(r));
    }
}

#[test]
fn non_canonical_s_is_refused() {
    let k = key_for_shape();
    let m = message();
    let good = k.sign_bytes(&m);
    let e = envelope_with(k.verifying_key().to_bytes(), good);
    assert_eq!(refused_with(&e), "ok");
    // S + L: the same scalar mod L, another encoding.
    let l: [u8; 32] = hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
        .expect("hex")
        .try_into()
        .expect("32");
    let mut s_plus_l = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(good[32 + i]) + u16::from(l[i]) + carry;
        s_plus_l[i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    assert_eq!(&Scalar::from_bytes_mod_order(s_plus_l).to_bytes()[..], &good[32..]);
    let mut bad = good;
    bad[32..].copy_from_slice(&s_plus_l);
    assert_eq!(refused_with(&envelope_with(k.verifying_key().to_bytes(), bad)), "bad_signature");
    // An S with the top bits set is not a scalar at all.
    let mut high = good;
    high[63] |= 0xe0;
    assert_eq!(refused_with(&envelope_with(k.verifying_key().to_bytes(), high)), "bad_signature");
}

#[test]
fn mixed_order_r_passes_the_cofactored_equation_and_is_refused() {
    let k = key_for_shape();
    let a = k.to_scalar();
    let a_point = a * B;
    let a_bytes = a_point.compress().to_bytes();
    let m = message();
    let r = Scalar::from_bytes_mod_order([0x42; 32]);
    for (i, t) in EIGHT_TORSION.iter().enumerate().skip(1) {
        // R' = rB + T, S = r + k·a with k = H(R' || A || M).
        let r_prime = r * B + t;
        let r_bytes = r_prime.compress().to_bytes();
        let kk = challenge(&r_bytes, &a_bytes, &m);
        let s = r + kk * a;
        let sig = sig_bytes(&r_bytes, &s.to_bytes());
        // The cofactored equation 8·(S·B − R' − k·A) = identity holds ...
        let residue = s * B - r_prime - kk * a_point;
        assert!(residue.mul_by_cofactor().is_identity(), "torsion point {i}: cofactored equation holds");
        // ... the cofactorless one does not, so neither dalek check nor the envelope accepts it.
        assert!(!residue.is_identity());
        assert!(!r_prime.is_small_order(), "R' is of mixed order, not small order");
        assert!(k.verifying_key().verify_strict(&m, &Signature::from_bytes(&sig)).is_err());
        assert_eq!(refused_with(&envelope_with(a_bytes, sig)), "bad_signature", "torsion point {i}");
    }
}

trait SignBytes {
    fn sign_bytes(&self, m: &[u8]) -> [u8; 64];
}

impl SignBytes for SigningKey {
    fn sign_bytes(&self, m: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.sign(m).to_bytes()
    }
}

// ---------------------------------------------------------------------------------------------
// Envelope identity and strict entry parsing.

#[test]
fn same_envelope_is_payload_and_signature_set() {
    let (k1, k2, k3) = (key(0x31), key(0x32), key(0x33));
    let body = MESSAGE_BODY.as_bytes();
    let one_two = Envelope::sign(body, &[&k1, &k2]);
    let mut two_one = one_two.clone();
    two_one.signatures.reverse();
    assert_ne!(one_two, two_one, "different bytes");
    assert!(one_two.same_as(&two_one), "the same envelope");
    assert!(two_one.same_as(&one_two));
    assert!(one_two.same_as(&Envelope::sign(body, &[&k1]).add_signature(&k2).expect("add")));
    assert!(!one_two.same_as(&Envelope::sign(body, &[&k1])), "a subset");
    assert!(!one_two.same_as(&Envelope::sign(body, &[&k1, &k3])), "another signer");
    assert!(!one_two.same_as(&Envelope::sign(&[body, b" "].concat(), &[&k1, &k2])), "another payload");
    let mut doubled = Envelope::sign(body, &[&k1]);
    doubled.signatures.push(doubled.signatures[0].clone());
    assert!(!one_two.same_as(&doubled), "a duplicated signature is not another signer");
}

#[test]
fn entries_have_one_encoding() {
    let k = key(0x31);
    let env = Envelope::sign(MESSAGE_BODY.as_bytes(), &[&k]).verify().expect("verify");
    let time = EntryTime::parse("2026-03-01T02:00:00.000Z").expect("time");
    let entry = VerifiedEntry::new(0, Hash::ZERO, time, env).expect("entry");
    let text = String::from_utf8(entry.bytes().to_vec()).expect("utf-8");
    assert!(text.starts_with(r#"{"seq":0,"prev":"0000000000000000000000000000000000000000000000000000000000000000","time":"2026-03-01T02:00:00.000Z","envelope":{"payload":""#));
    assert!(Entry::parse(text.as_bytes()).is_ok());
    assert!(VerifiedEntry::parse_and_verify(text.as_bytes()).is_ok());
    let prev = "0".repeat(64);
    let reordered =
        text.replacen(&format!(r#""seq":0,"prev":"{prev}","#), &format!(r#""prev":"{prev}","seq":0,"#), 1);
    assert_ne!(reordered, text);
    let payload = &entry.envelope().envelope().payload;
    let payload_then_type = format!(r#""payload":"{payload}","payloadType":"{PAYLOAD_TYPE}""#);
    let type_then_payload = format!(r#""payloadType":"{PAYLOAD_TYPE}","payload":"{payload}""#);
    let cases = [
        ("a space after a colon", text.replacen(r#""seq":0"#, r#""seq": 0"#, 1)),
        ("a space at the end", format!("{text} ")),
        ("a newline at the end", format!("{text}\n")),
        ("fields reordered", reordered),
        ("an unknown field", text.replacen("{", r#"{"note":"x","#, 1)),
        ("a missing field", text.replacen(r#""seq":0,"#, "", 1)),
        ("an upper-case prev", text.replacen(&prev, &"AB".repeat(32), 1)),
        ("a short prev", text.replacen(&prev, &"0".repeat(62), 1)),
        ("seconds without milliseconds", text.replacen("02:00:00.000Z", "02:00:00Z", 1)),
        ("an offset time", text.replacen("2026-03-01T02:00:00.000Z", "2026-03-01T10:00:00.000+08:00", 1)),
        ("a seq as a string", text.replacen(r#""seq":0"#, r#""seq":"0""#, 1)),
        ("an envelope field renamed", text.replacen(r#""payloadType":"#, r#""payload_type":"#, 1)),
        ("envelope fields reordered", text.replacen(&payload_then_type, &type_then_payload, 1)),
        (
            "an escaped character",
            text.replacen("vnd.charity-ledger.event.v1+json", "vnd.charity-ledger.event.v1\\u002bjson", 1),
        ),
        ("not JSON", "{".to_string()),
    ];
    for (what, bytes) in cases {
        assert_ne!(bytes, text, "{what}: the case changes the bytes");
        let got = Entry::parse(bytes.as_bytes()).map(|_| ()).map_err(|e| e.rule.as_str());
        assert_eq!(got, Err("entry_syntax"), "{what}");
        let got = VerifiedEntry::parse_and_verify(bytes.as_bytes()).map(|_| ()).map_err(|e| e.rule.as_str());
        assert_eq!(got, Err("entry_syntax"), "{what}");
    }
    // Over the entry limit: refused before parsing.
    let huge = format!("{text}{}", " ".repeat(ledger_core::limits::ENTRY_BYTES_MAX));
    assert_eq!(Entry::parse(huge.as_bytes()).map(|_| ()).map_err(|e| e.rule.as_str()), Err("too_large"));
}

// ---------------------------------------------------------------------------------------------
// docs/FORMAT.md test vectors, recomputed here.

/// The seed of the example author key: bytes 0x00..0x1f.
fn doc_author() -> SigningKey {
    SigningKey::from_bytes(&std::array::from_fn(|i| i as u8))
}

/// The seed of the example log key: bytes 0x20..0x3f.
fn doc_log_key() -> SigningKey {
    SigningKey::from_bytes(&std::array::from_fn(|i| 0x20 + i as u8))
}

const DOC_ORIGIN: &str = "county.example/ledger";

fn doc_body(i: usize) -> String {
    MESSAGE_BODY.replace(r#""id":"F-1""#, &format!(r#""id":"F-{i}""#))
}

/// Entry i of the example log: the body with id F-i, signed by the example key, at
/// 2026-03-01T02:00:0i.000Z, chained to entry i − 1.
fn doc_entries(n: usize) -> Vec<VerifiedEntry> {
    let k = doc_author();
    let mut out: Vec<VerifiedEntry> = Vec::new();
    for i in 0..n {
        let env = Envelope::sign(doc_body(i).as_bytes(), &[&k]).verify().expect("verify");
        let time = EntryTime::parse(&format!("2026-03-01T02:00:0{i}.000Z")).expect("time");
        let prev = out.last().map_or(Hash::ZERO, |e| e.leaf_hash());
        out.push(VerifiedEntry::new(i as u64, prev, time, env).expect("entry"));
    }
    out
}

/// Every value the document shows, by name.
fn doc_vectors() -> Vec<(&'static str, String)> {
    let k = doc_author();
    let body = doc_body(0);
    let env = Envelope::sign(body.as_bytes(), &[&k]);
    let entries = doc_entries(7);
    let mut store = MemoryHashes::new();
    for e in &entries {
        store.append_leaf(e.leaf_hash());
    }
    let root = store.root();
    let inclusion = prove_record(7, 2, &store).expect("inclusion proof");
    check_record(&inclusion, 7, root, 2, entries[2].leaf_hash()).expect("inclusion checks");
    let mut small = MemoryHashes::new();
    for e in &entries[..3] {
        small.append_leaf(e.leaf_hash());
    }
    let consistency = prove_tree(7, 3, &store).expect("consistency proof");
    check_tree(&consistency, 7, root, 3, small.root()).expect("consistency checks");
    let signer = LogSigner::new(DOC_ORIGIN, doc_log_key()).expect("log key");
    let checkpoint = Checkpoint { origin: DOC_ORIGIN.to_string(), size: 7, root };
    let note = signer.sign(&checkpoint).expect("sign");
    assert_eq!(open_checkpoint(&note, signer.log_key(), &[]).expect("opens").checkpoint, checkpoint);
    let lines = |hashes: &[Hash]| hashes.iter().map(|h| h.to_base64()).collect::<Vec<_>>().join("\n");
    let leaves = entries.iter().map(|e| e.leaf_hash().to_hex()).collect::<Vec<_>>().join("\n");
    vec![
        ("author seed", hex::encode(k.to_bytes())),
        ("author key", key_hex(&k).to_hex()),
        ("body", body.clone()),
        ("PAE", String::from_utf8(pae(PAYLOAD_TYPE, body.as_bytes())).expect("PAE of a JSON body is text")),
        ("signature", env.signatures[0].sig.clone()),
        ("envelope", env.to_json()),
        ("entry 0", String::from_utf8(entries[0].bytes().to_vec()).expect("utf-8")),
        ("leaf hash of entry 0", entries[0].leaf_hash().to_hex()),
        ("entry 1", String::from_utf8(entries[1].bytes().to_vec()).expect("utf-8")),
        ("leaf hashes of entries 0-6", leaves),
        ("root of 7", root.to_base64()),
        ("root of 3", small.root().to_base64()),
        ("inclusion proof of entry 2 in 7", lines(&inclusion)),
        ("consistency proof from 3 to 7", lines(&consistency)),
        ("log seed", hex::encode(doc_log_key().to_bytes())),
        ("log verifier key", signer.log_key().verifier_key()),
        ("checkpoint", note),
    ]
}

#[test]
fn format_doc_vectors_are_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/FORMAT.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{} unreadable: {e}", path.display()));
    use ledger_core::limits::*;
    // The limits table: one row per constant of limits.rs, "| `NAME` | value |".
    let limits: Vec<(&'static str, String)> = [
        ("BODY_BYTES_MAX", BODY_BYTES_MAX as u64),
        ("ENTRY_BYTES_MAX", ENTRY_BYTES_MAX as u64),
        ("SIGNATURES_MAX", SIGNATURES_MAX as u64),
        ("TEXT_CHARS_MAX", TEXT_CHARS_MAX as u64),
        ("ID_CHARS_MAX", ID_CHARS_MAX as u64),
        ("AMOUNT_MAX", AMOUNT_MAX),
        ("LIST_ITEMS_MAX", LIST_ITEMS_MAX as u64),
        ("ORIGIN_BYTES_MAX", ORIGIN_BYTES_MAX as u64),
        ("NOTE_BYTES_MAX", NOTE_BYTES_MAX as u64),
        ("NOTE_SIGNATURES_MAX", NOTE_SIGNATURES_MAX as u64),
        ("PROOF_HASHES_MAX", PROOF_HASHES_MAX as u64),
        ("TIME_FRACTION_DIGITS_MAX", TIME_FRACTION_DIGITS_MAX as u64),
        ("DUAL_CONTROL_WINDOW_MS", DUAL_CONTROL_WINDOW_MS as u64),
        ("FUTURE_SKEW_MS", FUTURE_SKEW_MS as u64),
    ]
    .into_iter()
    .map(|(name, value)| (name, format!("| `{name}` | {value} |")))
    .collect();
    let missing: Vec<String> = doc_vectors()
        .into_iter()
        .chain(limits)
        .filter(|(_, value)| !doc.contains(value.as_str()))
        .map(|(name, value)| format!("--- {name}:\n{value}"))
        .collect();
    assert!(missing.is_empty(), "docs/FORMAT.md lacks these values, verbatim:\n{}", missing.join("\n"));
}
