//! String rules of the event body (SPEC.md §2): free text, the personal-data guard, event ids
//! and origins. Every check is a hand-written scanner, linear in the input.

use crate::limits::{ID_CHARS_MAX, ORIGIN_BYTES_MAX, TEXT_CHARS_MAX};

/// Why a free-text field is refused. Positions count Unicode scalar values from 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    #[error("text has {chars} characters; at most {max} are allowed", max = TEXT_CHARS_MAX)]
    TooLong { chars: usize },
    #[error("text has a control character at character {position}")]
    ControlCharacter { position: usize },
}

/// Free text: at most [`TEXT_CHARS_MAX`] Unicode scalar values and no control character
/// (general category Cc: U+0000–U+001F and U+007F–U+009F). Length is reported first.
pub fn check_free_text(s: &str) -> Result<(), TextError> {
    let mut chars = 0usize;
    let mut first_control = None;
    for c in s.chars() {
        if c.is_control() && first_control.is_none() {
            first_control = Some(chars);
        }
        chars += 1;
    }
    if chars > TEXT_CHARS_MAX {
        return Err(TextError::TooLong { chars });
    }
    match first_control {
        Some(position) => Err(TextError::ControlCharacter { position }),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Personal data guard.

/// Digits of a mobile number: `1[3-9]` and nine more.
const MOBILE_DIGITS: usize = 11;
/// Digits before a resident ID's last character.
const RESIDENT_ID_BODY_DIGITS: usize = 17;
/// A resident ID number's full length.
const RESIDENT_ID_CHARS: usize = 18;

/// Whether `s` contains, anywhere, a mainland resident ID number
/// `(?<![0-9])[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx](?![0-9])`
/// or a mainland mobile number `(?<![0-9])1[3-9][0-9]{9}(?![0-9])`, with `[0-9]` ASCII only.
///
/// Both patterns are bounded by non-digits on both sides, so a match is a whole maximal run of
/// ASCII digits: 11 digits (mobile), 18 digits (ID ending in a digit), or 17 digits followed by
/// `X`/`x` and then a non-digit (ID ending in X). One pass over the runs decides it. Bytes of
/// multi-byte UTF-8 characters are ≥ 0x80, so they never look like digits or `X`.
pub fn contains_pii(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0usize;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let run = &b[start..i];
        let hit = match run.len() {
            MOBILE_DIGITS => is_mobile(run),
            RESIDENT_ID_CHARS => is_resident_id_body(run),
            RESIDENT_ID_BODY_DIGITS => {
                matches!(b.get(i), Some(b'X' | b'x'))
                    && !b.get(i + 1).is_some_and(u8::is_ascii_digit)
                    && is_resident_id_body(run)
            }
            _ => false,
        };
        if hit {
            return true;
        }
    }
    false
}

/// `1[3-9][0-9]{9}`, given 11 ASCII digits.
fn is_mobile(d: &[u8]) -> bool {
    d.len() == MOBILE_DIGITS && d[0] == b'1' && (b'3'..=b'9').contains(&d[1])
}

/// The first 17 characters of a resident ID, given at least 17 ASCII digits:
/// `[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}`.
fn is_resident_id_body(d: &[u8]) -> bool {
    if d.len() < RESIDENT_ID_BODY_DIGITS {
        return false;
    }
    let two = |k: usize| u32::from(d[k] - b'0') * 10 + u32::from(d[k + 1] - b'0');
    let century = two(6);
    let month = two(10);
    let day = two(12);
    d[0] != b'0' && (18..=20).contains(&century) && (1..=12).contains(&month) && (1..=31).contains(&day)
}

// ---------------------------------------------------------------------------------------------
// Identifiers.

/// An event id: `^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$` (end means end of text; no trailing
/// newline is tolerated).
pub fn is_valid_event_id(s: &str) -> bool {
    let b = s.as_bytes();
    match b.split_first() {
        Some((first, rest)) => {
            b.len() <= ID_CHARS_MAX
                && first.is_ascii_alphanumeric()
                && rest.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
        }
        None => false,
    }
}

/// An origin (log name): `^[a-z0-9.-]+(/[A-Za-z0-9._-]+)*$`, at most [`ORIGIN_BYTES_MAX`] bytes.
pub fn is_valid_origin(s: &str) -> bool {
    if s.len() > ORIGIN_BYTES_MAX {
        return false;
    }
    let mut parts = s.split('/');
    let host_ok = parts.next().is_some_and(|host| {
        !host.is_empty()
            && host.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'-'))
    });
    host_ok
        && parts.all(|seg| {
            !seg.is_empty()
                && seg.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_classification() {
        assert!(contains_pii("13812345678"));
        assert!(!contains_pii("12812345678"));
        assert!(contains_pii("11010519491231002X"));
        assert!(!contains_pii(""));
    }
}
