//! Event bodies from hostile bytes (SPEC.md §2): `parse_body` never panics, and what it accepts
//! is within the limits; the text rules (free text, the personal-data guard, ids, origins) never
//! panic on any string either.
#![no_main]

use ledger_core::event::parse_body;
use ledger_core::limits::{AMOUNT_MAX, BODY_BYTES_MAX};
use ledger_core::text::{check_free_text, contains_pii, is_valid_event_id, is_valid_origin};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = parse_body(data) {
        assert!(data.len() <= BODY_BYTES_MAX);
        assert!(is_valid_event_id(event.id().as_str()));
        if let Some(q) = event.quantity() {
            assert!(q.amount() <= AMOUNT_MAX);
        }
        let _ = event.commitments();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = contains_pii(text);
        let _ = check_free_text(text);
        let _ = is_valid_event_id(text);
        let _ = is_valid_origin(text);
    }
});
