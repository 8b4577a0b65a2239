//! Signed checkpoints and verifier keys from hostile text (SPEC.md §4, C2SP signed-note):
//! parsing and opening never panic, a parsed checkpoint has one spelling, and no note opens
//! under a key that did not sign it (the fuzzer has no secret key).
#![no_main]

use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::{add_cosignature, open_checkpoint, Checkpoint, LogKey, WitnessKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(cp) = Checkpoint::parse_signed_text(text) {
        assert_eq!(cp.signed_text(), text, "one spelling per checkpoint");
    }
    let key = LogKey::new("fuzz.example/log", SigningKey::from_bytes(&[7; 32]).verifying_key())
        .expect("a valid origin");
    let witness = WitnessKey::new("fuzz.example/witness", SigningKey::from_bytes(&[8; 32]).verifying_key())
        .expect("a valid name");
    assert!(open_checkpoint(text, &key, &[witness]).is_err(), "only the key's owner can sign");
    let _ = add_cosignature(text, "— fuzz.example/witness AAAAAAAAAAAA\n");
    if let Some((note, line)) = text.split_once('\u{0}') {
        let _ = add_cosignature(note, line);
    }
    let _ = LogKey::parse(text);
    let _ = WitnessKey::parse(text);
});
