//! DSSE envelopes from hostile bytes (SPEC.md §1): parsing and verifying never panic, an
//! envelope that parses has one spelling (it survives a round trip unchanged), and a verified
//! envelope names as many signers as it carries signatures, all distinct.
#![no_main]

use ledger_core::dsse::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = Envelope::from_json(data) else { return };
    let again = Envelope::from_json(envelope.to_json().as_bytes()).expect("a parsed envelope re-parses");
    assert_eq!(again, envelope);
    assert!(envelope.same_as(&again));
    if let Ok(verified) = envelope.verify() {
        assert_eq!(verified.signers().len(), envelope.signatures.len());
        let mut keys = verified.signers().to_vec();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), envelope.signatures.len(), "no key signs twice");
        assert!(verified.body().len() <= ledger_core::limits::BODY_BYTES_MAX);
    }
});
