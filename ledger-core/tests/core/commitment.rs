//! Identity commitments. Every identity here is made up or is the published sample number of
//! its standard; none belongs to a real person.
use crate::vectors;
use ledger_core::commitment::{commitment, commitment_raw, CommitmentError, Identity, IdentityKind};
use ledger_core::encoding::hex32;

/// The sample number printed in GB 11643 itself (also the vector's identity).
const SAMPLE_RESIDENT_ID: &str = "11010519491231002X";
/// The sample code printed in GB 32100-2015.
const SAMPLE_CREDIT_CODE: &str = "91350100M000100Y43";

fn salt_of(v: &serde_json::Value) -> [u8; 32] {
    hex32(v["salt_hex"].as_str().expect("salt_hex")).expect("salt is 64 hex")
}

#[test]
fn commitment_vector() {
    let v = vectors("commitment.json");
    let salt = salt_of(&v);
    let identity = v["identity"].as_str().expect("identity");
    let expected = v["commitment_hex"].as_str().expect("commitment_hex");
    // The vector's made-up identity happens to pass the MOD 11-2 check (it is the standard's
    // sample number), so the checked path is tested, not only `commitment_raw`.
    assert_eq!(commitment_raw(&salt, identity).to_hex(), expected);
    let id = Identity::parse(identity).expect("vector identity passes its check digit");
    assert_eq!(id.kind(), IdentityKind::ResidentId);
    assert_eq!(commitment(&salt, &id).to_hex(), expected);
    // The same identity typed in lower case with stray spaces commits identically.
    let sloppy = format!("  {}\t", identity.to_lowercase());
    let id = Identity::parse(&sloppy).expect("normalised");
    assert_eq!(id.as_str(), identity);
    assert_eq!(commitment(&salt, &id).to_hex(), expected);
}

#[test]
fn commitment_depends_on_every_input() {
    let salt = [7u8; 32];
    let mut other_salt = salt;
    other_salt[31] ^= 1;
    let a = commitment_raw(&salt, SAMPLE_RESIDENT_ID);
    assert_ne!(a, commitment_raw(&other_salt, SAMPLE_RESIDENT_ID));
    assert_ne!(a, commitment_raw(&salt, "11010519491231002x"));
    assert_eq!(
        a,
        ledger_core::hash::sha256(&[b"charity-ledger/commit/v1\n", &salt, SAMPLE_RESIDENT_ID.as_bytes()])
    );
}

/// Computes a resident ID check character independently (table form of MOD 11-2: the weights
/// are 2^(17-i) mod 11), to build made-up valid numbers.
fn with_resident_check(body17: &str) -> String {
    let sum: u32 =
        body17.bytes().enumerate().map(|(i, c)| u32::from(c - b'0') * (1u32 << (17 - i)) % 11).sum();
    let r = (12 - sum % 11) % 11; // the value of the check character
    let c = if r == 10 { 'X' } else { char::from(b'0' + r as u8) };
    format!("{body17}{c}")
}

/// Computes a credit code check character independently (weights 3^i mod 31).
fn with_credit_check(body17: &str) -> String {
    const A: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    let mut w = 1u32;
    let mut sum = 0u32;
    for c in body17.chars() {
        sum += A.find(c).expect("alphabet") as u32 * w;
        w = w * 3 % 31;
    }
    let check = (31 - sum % 31) % 31;
    format!("{body17}{}", &A[check as usize..check as usize + 1])
}

#[test]
fn resident_ids() {
    assert_eq!(with_resident_check("11010519491231002"), SAMPLE_RESIDENT_ID);
    for body in [
        "44030419900101123",
        "32010219851231456",
        "51010420000229789",
        "65010119700101000",
        "12345619991231999",
    ] {
        let good = with_resident_check(body);
        let id = Identity::parse(&good).unwrap_or_else(|e| panic!("{good}: {e}"));
        assert_eq!(id.kind(), IdentityKind::ResidentId);
        assert_eq!(id.as_str(), good);
        // Every single-character typo in the body is caught.
        for pos in 0..17 {
            let mut typo = good.clone().into_bytes();
            typo[pos] = if typo[pos] == b'9' { b'0' } else { typo[pos] + 1 };
            let typo = String::from_utf8(typo).expect("ascii");
            let r = Identity::parse(&typo);
            // An all-digit typo could in principle pass the credit-code check instead; then it
            // is accepted as an organisation. Check that it is never taken for a person.
            match r {
                Err(e) => assert_eq!(e, CommitmentError::ResidentIdCheckFailed, "{typo}"),
                Ok(id) => assert_eq!(id.kind(), IdentityKind::CreditCode, "{typo}"),
            }
        }
    }
    let e = Identity::parse("110105194912310021").expect_err("bad check digit");
    assert_eq!(e, CommitmentError::ResidentIdCheckFailed);
    assert!(e.to_string().contains("resident ID"), "{e}");
    assert!(!e.to_string().contains("11010519"), "the error must not echo the number");
}

#[test]
fn credit_codes() {
    assert_eq!(with_credit_check("91350100M000100Y4"), SAMPLE_CREDIT_CODE);
    for body in [
        SAMPLE_CREDIT_CODE,
        &with_credit_check("91110108MA01ABCD1"),
        &with_credit_check("5311000050000123X"),
        &with_credit_check("Y1440300MJL000001"),
    ] {
        let id = Identity::parse(body).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(id.kind(), IdentityKind::CreditCode);
    }
    let lower = Identity::parse(" 91350100m000100y43 ").expect("normalised");
    assert_eq!(lower.as_str(), SAMPLE_CREDIT_CODE);

    let e = Identity::parse("91350100M000100Y44").expect_err("bad check");
    assert_eq!(e, CommitmentError::CreditCodeCheckFailed);
    assert!(e.to_string().contains("credit code"), "{e}");
    // I, O, S, V and Z are not in the alphabet.
    for c in ['I', 'O', 'S', 'V', 'Z'] {
        let t = format!("91350100M000100{c}43");
        assert_eq!(Identity::parse(&t), Err(CommitmentError::InvalidCharacter { position: 16 }), "{t}");
    }
}

#[test]
fn malformed_identities() {
    assert_eq!(Identity::parse(""), Err(CommitmentError::WrongLength { chars: 0 }));
    assert_eq!(Identity::parse("11010519491231002"), Err(CommitmentError::WrongLength { chars: 17 }));
    assert_eq!(Identity::parse("11010519491231002X1"), Err(CommitmentError::WrongLength { chars: 19 }));
    assert_eq!(
        Identity::parse("１１０１０５１９４９１２３１００２Ｘ"),
        Err(CommitmentError::InvalidCharacter { position: 1 })
    );
    assert_eq!(Identity::parse("110105 19491231002"), Err(CommitmentError::InvalidCharacter { position: 7 }));
    assert_eq!(
        Identity::parse("11010519491231002-"),
        Err(CommitmentError::InvalidCharacter { position: 18 })
    );
    let e = Identity::parse("1101051949").expect_err("short");
    assert!(e.to_string().contains("18"), "{e}");
}

#[test]
fn debug_hides_the_number() {
    let id = Identity::parse(SAMPLE_RESIDENT_ID).expect("valid");
    let shown = format!("{id:?}");
    assert!(!shown.contains("1101"), "{shown}");
}
