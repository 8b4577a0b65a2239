//! The two text encodings of the format, each with exactly one accepted spelling per value:
//! lower-case hex for keys, commitments and chain hashes; canonical padded standard base64 for
//! signatures, payloads, roots and proofs.

use crate::hash::Hash;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// Standard base64 that decodes only canonical text: the standard alphabet, padding exactly as
/// the encoder writes it, and zero bits after the last byte. Each setting is spelled out, not
/// taken from the engine's defaults, because together they make decoding the inverse of
/// encoding: a text it accepts is the one encoding of the bytes it yields.
const CANONICAL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_allow_trailing_bits(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

pub fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard, padded base64 and refuses any text that is not the canonical encoding of
/// the bytes it decodes to (so one value has one spelling and re-encoding is the identity).
///
/// No re-encoding is needed to check that: [`CANONICAL`] refuses every other spelling (the
/// tests compare it with the round trip on every short text over a small alphabet).
pub fn b64_decode_canonical(text: &str) -> Option<Vec<u8>> {
    CANONICAL.decode(text).ok()
}

/// Parses exactly 64 lower-case hex characters into 32 bytes.
pub fn hex32(text: &str) -> Option<[u8; 32]> {
    let b: &[u8; 64] = text.as_bytes().try_into().ok()?;
    // Every entry and body carries several of these: a table lookup per digit and one test
    // at the end, no branch per character.
    let mut out = [0u8; 32];
    let mut invalid = 0u8;
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let (hi, lo) = (HEX_DIGIT[usize::from(pair[0])], HEX_DIGIT[usize::from(pair[1])]);
        invalid |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    (invalid & NOT_HEX == 0).then_some(out)
}

/// Marks a byte that is not a lower-case hex digit in [`HEX_DIGIT`].
const NOT_HEX: u8 = 0x10;

/// The value of each lower-case hex digit; [`NOT_HEX`] for every other byte.
const HEX_DIGIT: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

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

    /// The round trip the decoder used to make: decode leniently, re-encode, compare.
    fn round_trip(text: &str) -> Option<Vec<u8>> {
        let bytes = STANDARD.decode(text).ok()?;
        (STANDARD.encode(&bytes) == text).then_some(bytes)
    }

    #[test]
    fn canonical_decoding_refuses_exactly_what_the_round_trip_refuses() {
        // Every text of up to 6 characters over symbols that cover the cases: zero and
        // non-zero trailing bits (A, B, Q, g), both alphabets' extra symbols, padding, space.
        let symbols = ['A', 'B', 'Q', 'g', '/', '+', '-', '_', '=', ' '];
        let mut texts = vec![String::new()];
        let mut all = Vec::new();
        for _ in 0..6 {
            texts = texts.iter().flat_map(|t| symbols.iter().map(move |c| format!("{t}{c}"))).collect();
            all.extend(texts.iter().cloned());
        }
        for t in &all {
            assert_eq!(b64_decode_canonical(t), round_trip(t), "{t:?}");
        }
        // And every byte string of up to 3 bytes over a few values, through its encoding and
        // every one-character change of it.
        for len in 0..=3u32 {
            for n in 0..(6u32.pow(len)) {
                let bytes: Vec<u8> = (0..len)
                    .map(|i| [0u8, 1, 0x3f, 0x80, 0xfe, 0xff][(n / 6u32.pow(i) % 6) as usize])
                    .collect();
                let text = STANDARD.encode(&bytes);
                assert_eq!(b64_decode_canonical(&text), Some(bytes.clone()));
                for i in 0..text.len() {
                    for c in ['A', 'B', '/', '+', '=', '-'] {
                        let mut changed = text.clone().into_bytes();
                        changed[i] = c as u8;
                        let changed = String::from_utf8(changed).unwrap_or_default();
                        assert_eq!(b64_decode_canonical(&changed), round_trip(&changed), "{changed:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn hex32_decodes_as_the_hex_crate_does() {
        let bytes: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
        let text = hex::encode(&bytes);
        assert_eq!(hex32(&text).map(|a| a.to_vec()), Some(bytes));
        for bad in ['g', 'G', 'A', 'F', '/', ':', '`', ' ', 'é'] {
            for i in [0, 1, 62, 63] {
                let mut t: Vec<char> = text.chars().collect();
                t[i] = bad;
                let t: String = t.into_iter().collect();
                assert!(hex32(&t).is_none(), "{t:?}");
            }
        }
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
