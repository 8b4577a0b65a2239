//! Identity commitments (SPEC.md §2):
//! `SHA-256("charity-ledger/commit/v1\n" || salt || identity)`, with a 32-byte salt and the
//! identity as the upper-case 18-character resident ID number (GB 11643) or unified social
//! credit code (GB 32100), UTF-8.
//!
//! [`Identity::parse`] checks the check character of either form, so that a typo at the hotline
//! is caught before a commitment nobody can reproduce is written to the log.

use crate::hash::{sha256, Hash};
use std::fmt;

/// Domain separator of a commitment.
pub const COMMIT_DOMAIN: &[u8] = b"charity-ledger/commit/v1\n";
/// Bytes of a commitment salt.
pub const SALT_BYTES: usize = 32;
/// Characters of an identity (both forms).
pub const IDENTITY_CHARS: usize = 18;

/// Weights of ISO 7064 MOD 11-2 over the first 17 digits of a resident ID (2^(17−i) mod 11).
const RESIDENT_ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character of a resident ID, indexed by the weighted sum mod 11.
const RESIDENT_ID_CHECK: [u8; 11] = *b"10X98765432";
/// The 31 characters of a unified social credit code; a character's value is its index.
const CREDIT_CODE_ALPHABET: [u8; 31] = *b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of GB 32100-2015 over the first 17 characters (3^i mod 31).
const CREDIT_CODE_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
/// Modulus of the GB 32100 check.
const CREDIT_CODE_MODULUS: u32 = 31;

/// Why an identity is refused. No variant carries the identity or the expected check
/// character: errors may be logged, and a hint of the "right" check character would invite
/// fixing the wrong digit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommitmentError {
    #[error("an identity has {IDENTITY_CHARS} characters; this one has {chars}")]
    WrongLength { chars: usize },
    #[error("character {position} (counting from 1) cannot appear in a resident ID number or unified social credit code")]
    InvalidCharacter { position: usize },
    #[error("the resident ID number's check digit (ISO 7064 MOD 11-2) does not match; check the number for a typo")]
    ResidentIdCheckFailed,
    #[error("the unified social credit code's check character (GB 32100-2015) does not match; check the code for a typo")]
    CreditCodeCheckFailed,
}

/// Which of the two forms an [`Identity`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityKind {
    /// A person: 17 digits and a check digit or `X` (GB 11643).
    ResidentId,
    /// An organisation: unified social credit code (GB 32100).
    CreditCode,
}

/// A checked identity: 18 upper-case ASCII characters. Its `Debug` form hides the number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Identity(String);

impl Identity {
    /// Trims surrounding whitespace, upper-cases, and accepts 18 characters that pass the
    /// resident ID check or, failing that, the unified social credit code check.
    pub fn parse(text: &str) -> Result<Identity, CommitmentError> {
        let trimmed = text.trim();
        let chars = trimmed.chars().count();
        if chars != IDENTITY_CHARS {
            return Err(CommitmentError::WrongLength { chars });
        }
        if let Some(k) = trimmed.chars().position(|c| !c.is_ascii_alphanumeric()) {
            return Err(CommitmentError::InvalidCharacter { position: k + 1 });
        }
        let upper = trimmed.to_ascii_uppercase();
        let b = upper.as_bytes();
        let looks_like_resident_id =
            b[..17].iter().all(u8::is_ascii_digit) && (b[17].is_ascii_digit() || b[17] == b'X');
        if looks_like_resident_id && resident_id_check_ok(b) {
            return Ok(Identity(upper));
        }
        if let Some(k) = b.iter().position(|c| !CREDIT_CODE_ALPHABET.contains(c)) {
            return Err(CommitmentError::InvalidCharacter { position: k + 1 });
        }
        if credit_code_check_ok(b) {
            return Ok(Identity(upper));
        }
        Err(if looks_like_resident_id {
            CommitmentError::ResidentIdCheckFailed
        } else {
            CommitmentError::CreditCodeCheckFailed
        })
    }

    /// The identity as committed to: 18 upper-case ASCII characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Which form it is. An all-digit text that passes the resident ID check is a resident ID.
    pub fn kind(&self) -> IdentityKind {
        let b = self.0.as_bytes();
        let digits = b.len() == IDENTITY_CHARS
            && b[..17].iter().all(u8::is_ascii_digit)
            && (b[17].is_ascii_digit() || b[17] == b'X');
        if digits && resident_id_check_ok(b) {
            IdentityKind::ResidentId
        } else {
            IdentityKind::CreditCode
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identity(<redacted>)")
    }
}

/// ISO 7064 MOD 11-2 over 18 characters: 17 ASCII digits and the check character.
fn resident_id_check_ok(b: &[u8]) -> bool {
    if b.len() != IDENTITY_CHARS {
        return false;
    }
    let sum: u32 = b.iter().zip(RESIDENT_ID_WEIGHTS).map(|(c, w)| u32::from(c.wrapping_sub(b'0')) * w).sum();
    // `sum % 11` < 11 = the table's length.
    RESIDENT_ID_CHECK.get((sum % 11) as usize) == Some(&b[17])
}

/// GB 32100-2015 over 18 characters of the credit-code alphabet.
fn credit_code_check_ok(b: &[u8]) -> bool {
    if b.len() != IDENTITY_CHARS {
        return false;
    }
    let mut sum = 0u32;
    for (c, w) in b.iter().zip(CREDIT_CODE_WEIGHTS) {
        match CREDIT_CODE_ALPHABET.iter().position(|a| a == c) {
            Some(v) => sum += v as u32 * w,
            None => return false,
        }
    }
    let check = (CREDIT_CODE_MODULUS - sum % CREDIT_CODE_MODULUS) % CREDIT_CODE_MODULUS;
    CREDIT_CODE_ALPHABET.get(check as usize) == Some(&b[17])
}

/// The commitment to a checked identity.
pub fn commitment(salt: &[u8; SALT_BYTES], identity: &Identity) -> Hash {
    commitment_raw(salt, identity.as_str())
}

/// The commitment to any text, unchecked (for conformance vectors and tools).
pub fn commitment_raw(salt: &[u8; SALT_BYTES], identity: &str) -> Hash {
    sha256(&[COMMIT_DOMAIN, salt, identity.as_bytes()])
}
