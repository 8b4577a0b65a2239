//! Checkpoints and cosignatures against checkpoint.json, and every refusal the parser owes.

use crate::vectors;
use ed25519_dalek::{Signer, SigningKey};
use ledger_core::checkpoint::{
    add_cosignature, open_checkpoint, Checkpoint, LogKey, LogSigner, NoteError, WitnessKey, WitnessSigner,
};
use ledger_core::encoding::{b64_decode_canonical, b64_encode, hash_from_b64};
use ledger_core::limits::{NOTE_BYTES_MAX, NOTE_SIGNATURES_MAX};

const WITNESS: &str = "witness.example/w1";

struct Fixture {
    signer: LogSigner,
    key: SigningKey,
    checkpoint: Checkpoint,
    note: String,
    verifier_key: String,
}

fn fixture() -> Fixture {
    let v = vectors("checkpoint.json");
    let s = |k: &str| v[k].as_str().expect(k).to_owned();
    let seed: [u8; 32] = hex::decode(s("log_seed_hex")).unwrap().try_into().unwrap();
    let key = SigningKey::from_bytes(&seed);
    let checkpoint = Checkpoint {
        origin: s("origin"),
        size: v["size"].as_u64().expect("size"),
        root: hash_from_b64(&s("root_base64")).expect("root"),
    };
    Fixture {
        signer: LogSigner::new(&s("origin"), key.clone()).unwrap(),
        key,
        checkpoint,
        note: s("note"),
        verifier_key: s("verifier_key"),
    }
}

/// Signs arbitrary text with the log key, so that refusals are shown to come from parsing and
/// not from a bad signature.
fn sign_text(f: &Fixture, text: &str) -> String {
    let sig = f.key.sign(text.as_bytes()).to_bytes();
    let mut payload = f.signer.log_key().key_hash().to_vec();
    payload.extend_from_slice(&sig);
    format!("{text}\n\u{2014} {} {}\n", f.checkpoint.origin, b64_encode(&payload))
}

fn open(f: &Fixture, note: &str) -> Result<Checkpoint, NoteError> {
    open_checkpoint(note, f.signer.log_key(), &[]).map(|o| o.checkpoint)
}

fn witness() -> WitnessSigner {
    WitnessSigner::new(WITNESS, SigningKey::from_bytes(&[4u8; 32])).unwrap()
}

#[test]
fn signer_reproduces_the_vector() {
    let f = fixture();
    assert_eq!(f.signer.sign(&f.checkpoint).unwrap(), f.note);
    assert_eq!(f.signer.log_key().verifier_key(), f.verifier_key);
    assert_eq!(f.checkpoint.signed_text(), f.note.split("\n\n").next().unwrap().to_owned() + "\n");
    let parsed = LogKey::parse(&f.verifier_key).unwrap();
    assert_eq!(&parsed, f.signer.log_key());
    assert_eq!(parsed.origin(), f.checkpoint.origin);
    let opened = open_checkpoint(&f.note, &parsed, &[]).unwrap();
    assert_eq!(opened.checkpoint, f.checkpoint);
    assert!(opened.cosigned_by.is_empty());
}

#[test]
fn signer_refuses_other_origins() {
    let f = fixture();
    let mut other = f.checkpoint.clone();
    other.origin = "other.example/ledger".into();
    assert_eq!(f.signer.sign(&other), Err(NoteError::OriginMismatch));
    assert!(LogSigner::new("Not A Origin", f.key.clone()).is_err());
}

#[test]
fn refusals() {
    let f = fixture();
    let text = f.checkpoint.signed_text();
    let root = f.checkpoint.root.to_base64();
    let origin = &f.checkpoint.origin;

    // A flipped byte in the signature (after the 4-byte key hash).
    let (head, b64) = f.note.trim_end().rsplit_once(' ').unwrap();
    let mut raw = b64_decode_canonical(b64).unwrap();
    raw[10] ^= 1;
    let tampered = format!("{head} {}\n", b64_encode(&raw));
    assert_eq!(open(&f, &tampered), Err(NoteError::InvalidLogSignature));

    // The right name under the wrong key: the line is not from the configured key.
    let other = LogKey::new(origin, SigningKey::from_bytes(&[9u8; 32]).verifying_key()).unwrap();
    assert_eq!(open_checkpoint(&f.note, &other, &[]), Err(NoteError::MissingLogSignature));
    let elsewhere = LogKey::new("other.example/log", f.signer.log_key().public_key().to_owned()).unwrap();
    assert_eq!(open_checkpoint(&f.note, &elsewhere, &[]), Err(NoteError::OriginMismatch));

    let ext = sign_text(&f, &format!("{text}extension line\n"));
    assert_eq!(open(&f, &ext), Err(NoteError::ExtensionLine));

    let zero = sign_text(&f, &format!("{origin}\n07\n{root}\n"));
    assert_eq!(open(&f, &zero), Err(NoteError::BadSize));

    let no_blank = f.note.replacen("\n\n", "\n", 1);
    assert_eq!(open(&f, &no_blank), Err(NoteError::MissingBlankLine));

    // Same 32 bytes, but the last character carries non-zero padding bits.
    assert!(root.ends_with("c="));
    let loose_root = format!("{}d=", &root[..root.len() - 2]);
    assert!(b64_decode_canonical(&loose_root).is_none());
    let loose = sign_text(&f, &format!("{origin}\n7\n{loose_root}\n"));
    assert_eq!(open(&f, &loose), Err(NoteError::BadRoot));

    let sig_line = f.note.rsplit_once("\n\n").unwrap().1;
    let twice = format!("{}{sig_line}", f.note);
    assert_eq!(open(&f, &twice), Err(NoteError::DuplicateSignature));

    // Over-long: padded with lines from an unknown key, which would otherwise be ignored.
    let filler = format!("\u{2014} unknown.example/{} AAAAAAAA\n", "x".repeat(200));
    let mut long = f.note.clone();
    while long.len() <= NOTE_BYTES_MAX {
        long.push_str(&filler);
    }
    assert_eq!(open(&f, &long), Err(NoteError::TooLarge));

    let mut many = f.note.clone();
    for _ in 0..NOTE_SIGNATURES_MAX {
        many.push_str("\u{2014} u AAAAAAAA\n");
    }
    assert!(many.len() <= NOTE_BYTES_MAX);
    assert_eq!(open(&f, &many), Err(NoteError::TooManySignatures));

    // Unknown keys' lines are ignored, up to the limit.
    let mut some = f.note.clone();
    for _ in 0..NOTE_SIGNATURES_MAX - 1 {
        some.push_str("\u{2014} u AAAAAAAA\n");
    }
    assert_eq!(open(&f, &some), Ok(f.checkpoint.clone()));

    let cases: Vec<(String, NoteError)> = vec![
        (format!("{}\r", f.note), NoteError::ControlCharacter),
        (f.note.trim_end().to_owned(), NoteError::MalformedSignatureLine),
        (format!("{text}\n"), NoteError::NoSignatures),
        (f.note.replace('\u{2014}', "-"), NoteError::MalformedSignatureLine),
        (f.note.replace(&root, &f.checkpoint.root.to_hex()), NoteError::BadRoot),
        (sign_text(&f, &format!("{origin}\n7\n")), NoteError::MalformedText),
        (sign_text(&f, &format!("{origin}\n-7\n{root}\n")), NoteError::BadSize),
        (sign_text(&f, &format!("{origin}\n18446744073709551616\n{root}\n")), NoteError::BadSize),
        (format!("{}\u{2014} bad+name AAAAAAAA\n", f.note), NoteError::MalformedSignatureLine),
        (format!("{}\u{2014} u AAAAAA==\n", f.note), NoteError::MalformedSignatureLine),
        (format!("{}\u{2014} u AAAA\n", f.note), NoteError::MalformedSignatureLine),
    ];
    for (note, err) in cases {
        assert_eq!(open(&f, &note), Err(err), "{note:?}");
    }
}

#[test]
fn verifier_keys() {
    let f = fixture();
    let vk = &f.verifier_key;
    let (name, rest) = vk.split_once('+').unwrap();
    let (hash, data) = rest.split_once('+').unwrap();
    let mut raw = b64_decode_canonical(data).unwrap();
    raw[0] = 0x04;
    let cases = [
        (format!("{name}+{}+{data}", hash.to_uppercase()), NoteError::MalformedVerifierKey),
        (format!("{name}+{hash}"), NoteError::MalformedVerifierKey),
        (format!("{name}+00000000+{data}"), NoteError::KeyHashMismatch),
        (format!("other.example+{hash}+{data}"), NoteError::KeyHashMismatch),
        (format!("{name}+{hash}+{}", b64_encode(&raw)), NoteError::WrongKeyType),
        (format!("{name}+{hash}+{}", b64_encode(&raw[..20])), NoteError::WrongKeyType),
    ];
    for (vkey, err) in cases {
        assert_eq!(LogKey::parse(&vkey), Err(err), "{vkey}");
    }
    let w = witness();
    let wk = w.witness_key().verifier_key();
    assert_eq!(WitnessKey::parse(&wk).unwrap(), *w.witness_key());
    assert_eq!(LogKey::parse(&wk), Err(NoteError::WrongKeyType));
    assert_eq!(WitnessKey::parse(vk), Err(NoteError::WrongKeyType));
    assert!(wk.starts_with("witness.example/w1+"));
}

#[test]
fn cosignature_round_trip() {
    let f = fixture();
    let w = witness();
    let line = w.cosign_line(&f.checkpoint, 1_700_000_000).unwrap();
    assert!(line.starts_with("\u{2014} witness.example/w1 ") && line.ends_with('\n'));
    let note = add_cosignature(&f.note, &line).unwrap();
    assert_eq!(note, format!("{}{line}", f.note));
    let keys = [w.witness_key().clone()];
    let opened = open_checkpoint(&note, f.signer.log_key(), &keys).unwrap();
    assert_eq!(opened.checkpoint, f.checkpoint);
    assert_eq!(opened.cosigned_by, vec![(WITNESS.to_owned(), 1_700_000_000)]);

    // Not configured: ignored, and the log signature alone still opens the note.
    let opened = open_checkpoint(&note, f.signer.log_key(), &[]).unwrap();
    assert!(opened.cosigned_by.is_empty());
    let stranger = WitnessSigner::new(WITNESS, SigningKey::from_bytes(&[5u8; 32])).unwrap();
    let opened = open_checkpoint(&note, f.signer.log_key(), &[stranger.witness_key().clone()]).unwrap();
    assert!(opened.cosigned_by.is_empty());

    // A second witness, in line order.
    let w2 = WitnessSigner::new("bureau.example/witness", SigningKey::from_bytes(&[6u8; 32])).unwrap();
    let line2 = w2.cosign_line(&f.checkpoint, 0).unwrap();
    let note2 = add_cosignature(&note, &line2).unwrap();
    let both = [w2.witness_key().clone(), w.witness_key().clone()];
    let opened = open_checkpoint(&note2, f.signer.log_key(), &both).unwrap();
    assert_eq!(
        opened.cosigned_by,
        vec![(WITNESS.to_owned(), 1_700_000_000), ("bureau.example/witness".to_owned(), 0)]
    );

    // Tampered signature or timestamp: a configured witness's bad line is an error.
    let (head, b64) = line.trim_end().rsplit_once(' ').unwrap();
    for byte in [5usize, 11, 12, 40, 75] {
        let mut raw = b64_decode_canonical(b64).unwrap();
        raw[byte] ^= 1;
        let bad = add_cosignature(&f.note, &format!("{head} {}\n", b64_encode(&raw))).unwrap();
        assert_eq!(
            open_checkpoint(&bad, f.signer.log_key(), &keys),
            Err(NoteError::InvalidCosignature(WITNESS.to_owned())),
            "byte {byte}"
        );
    }
    // A cosignature of another checkpoint does not carry over.
    let mut other = f.checkpoint.clone();
    other.size += 1;
    let foreign = w.cosign_line(&other, 1_700_000_000).unwrap();
    let bad = add_cosignature(&f.note, &foreign).unwrap();
    assert_eq!(
        open_checkpoint(&bad, f.signer.log_key(), &keys),
        Err(NoteError::InvalidCosignature(WITNESS.to_owned()))
    );

    assert_eq!(add_cosignature(&note, &line), Err(NoteError::DuplicateSignature));
    assert_eq!(add_cosignature(&f.note, line.trim_end()), Err(NoteError::MalformedSignatureLine));
    assert_eq!(add_cosignature(&f.note, &format!("{line}{line}")), Err(NoteError::MalformedSignatureLine));
    assert_eq!(add_cosignature("not a note", &line), Err(NoteError::MissingBlankLine));
    assert_eq!(w.cosign_line(&f.checkpoint, 1 << 63), Err(NoteError::TimestampOutOfRange));
    assert!(w.cosign_line(&f.checkpoint, (1 << 63) - 1).is_ok());
}

#[test]
fn cosignature_message_is_tlog_cosignature_v1() {
    // Independent of the module: rebuild the signed message from the C2SP text and verify.
    let f = fixture();
    let w = witness();
    let line = w.cosign_line(&f.checkpoint, 1_679_315_147).unwrap();
    let raw = b64_decode_canonical(line.trim_end().rsplit_once(' ').unwrap().1).unwrap();
    assert_eq!(raw.len(), 4 + 8 + 64);
    assert_eq!(raw[..4], w.witness_key().key_hash());
    assert_eq!(raw[4..12], 1_679_315_147u64.to_be_bytes());
    let mut key_id_input = b"witness.example/w1\n\x04".to_vec();
    key_id_input.extend_from_slice(w.witness_key().public_key().as_bytes());
    let digest = ledger_core::hash::sha256(&[&key_id_input]);
    assert_eq!(raw[..4], digest.0[..4]);
    let message = format!("cosignature/v1\ntime 1679315147\n{}", f.checkpoint.signed_text());
    let sig = ed25519_dalek::Signature::from_bytes(&raw[12..].try_into().unwrap());
    assert!(w.witness_key().public_key().verify_strict(message.as_bytes(), &sig).is_ok());
}
