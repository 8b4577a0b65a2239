//! The two text encodings of the format, each with exactly one accepted spelling per value:
//! lower-case hex for keys, commitments and chain hashes; canonical padded standard base64 for
//! signatures, payloads, roots and proofs.

use crate::hash::Hash;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

pub fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard, padded base64 and refuses any text that is not the canonical encoding of
/// the bytes it decodes to (so one value has one spelling and re-encoding is the identity).
pub fn b64_decode_canonical(text: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(text).ok()?;
    // The engine already refuses non-zero trailing bits by default; the round trip also
    // pins padding and alphabet, whatever the engine's configuration becomes.
    if STANDARD.encode(&bytes) != text {
        return None;
    }
    Some(bytes)
}

/// Parses exactly 64 lower-case hex characters into 32 bytes.
pub fn hex32(text: &str) -> Option<[u8; 32]> {
    let b = text.as_bytes();
    if b.len() != 64 || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

pub fn hash_from_hex(text: &str) -> Option<Hash> {
    hex32(text).map(Hash)
}

pub fn hash_from_b64(text: &str) -> Option<Hash> {
    let v = b64_decode_canonical(text)?;
    let arr: [u8; 32] = v.try_into().ok()?;
    Some(Hash(arr))
}

/// Escapes text for XML or HTML element content and attribute values (IATI files, the
/// disclosure report, the transparency page, the verifier's report).
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_must_be_canonical() {
        assert_eq!(b64_decode_canonical("AQ=="), Some(vec![1]));
        assert_eq!(b64_decode_canonical("AR=="), None, "non-zero trailing bits");
        assert_eq!(b64_decode_canonical("AQ"), None, "padding missing");
        assert_eq!(b64_decode_canonical("A-=="), None, "url-safe alphabet");
        assert_eq!(b64_decode_canonical(" AQ=="), None, "whitespace");
    }

    #[test]
    fn hex_must_be_lower_case_and_exact_length() {
        let lower = "ab".repeat(32);
        assert!(hex32(&lower).is_some());
        assert!(hex32(&lower.to_uppercase()).is_none());
        assert!(hex32(&"ab".repeat(31)).is_none());
        assert!(hex32(&format!("{}zz", "ab".repeat(31))).is_none());
    }
}
