//! Log entries from hostile bytes (SPEC.md §3, §5): every line of the input is parsed as a
//! stored entry and applied to one state, in order. Nothing panics; an entry that parses has
//! exactly one spelling (its bytes re-serialise to themselves); an entry that applies keeps
//! the lots consistent and money conserved. Signatures are not checked (`parse_trusted`), so
//! the fuzzer can reach the rules with any signer it names; seed it with an export.
#![no_main]

use ledger_core::entry::{Entry, VerifiedEntry};
use ledger_core::rules::State;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut state = State::new();
    for line in data.split(|b| *b == b'\n').take(64) {
        let Ok(entry) = Entry::parse(line) else { continue };
        assert_eq!(entry.to_bytes(), line, "one spelling per entry");
        let Ok(verified) = VerifiedEntry::parse_trusted(line) else { continue };
        let before = state.size();
        match state.apply(&verified) {
            Ok(_) => {
                assert_eq!(state.size(), before + 1);
                state.check_lots().expect("lots stay consistent after an applied entry");
            }
            Err(_) => assert_eq!(state.size(), before, "a refused entry changes nothing"),
        }
    }
});
