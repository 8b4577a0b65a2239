//! Free text, the personal-data guard, event ids and origins. Every number below is made up.
use ledger_core::limits::{ORIGIN_BYTES_MAX, TEXT_CHARS_MAX};
use ledger_core::text::{check_free_text, contains_pii, is_valid_event_id, is_valid_origin, TextError};
use proptest::prelude::*;

#[test]
fn free_text_limits() {
    assert_eq!(check_free_text(""), Ok(()));
    assert_eq!(check_free_text("为山区小学购买图书 100 册"), Ok(()));
    let max = "字".repeat(TEXT_CHARS_MAX);
    assert_eq!(check_free_text(&max), Ok(()), "500 three-byte characters");
    assert_eq!(check_free_text(&format!("{max}a")), Err(TextError::TooLong { chars: TEXT_CHARS_MAX + 1 }));
    // Length counts scalar values, not bytes or grapheme clusters.
    let emoji = "👍🏽".repeat(TEXT_CHARS_MAX / 2);
    assert_eq!(check_free_text(&emoji), Ok(()));
    assert!(check_free_text(&format!("{emoji}x")).is_err());
}

#[test]
fn control_characters_refused() {
    for (text, position) in [
        ("a\nb", 1),
        ("\t", 0),
        ("\r\n", 0),
        ("ab\u{0}", 2),
        ("捐款\u{1b}[31m", 2),
        ("x\u{7f}", 1),
        ("x\u{80}", 1),
        ("x\u{85}", 1),
        ("x\u{9f}", 1),
    ] {
        assert_eq!(check_free_text(text), Err(TextError::ControlCharacter { position }), "{text:?}");
    }
    // Not category Cc: allowed.
    for text in ["\u{a0}", "\u{200b}", "\u{2028}", "\u{feff}", "\u{a0}x\u{3000}"] {
        assert_eq!(check_free_text(text), Ok(()), "{text:?}");
    }
    let e = check_free_text("a\nb").expect_err("newline");
    assert!(e.to_string().contains("control"), "{e}");
}

#[test]
fn pii_table() {
    let cases: &[(&str, bool, &str)] = &[
        // Mobile numbers.
        ("13812345678", true, "plain mobile"),
        ("19912345678", true, "199"),
        ("电话13812345678联系", true, "inside Chinese text"),
        ("tel:13812345678.", true, "punctuation around"),
        ("x13812345678x", true, "letters around"),
        ("12812345678", false, "starts 12"),
        ("10812345678", false, "starts 10"),
        ("23812345678", false, "starts 2"),
        ("1381234567", false, "10 digits"),
        ("138123456789", false, "12 digits"),
        ("013812345678", false, "preceded by a digit"),
        ("138123456780", false, "followed by a digit"),
        ("138 1234 5678", false, "spaced"),
        ("138-1234-5678", false, "dashed"),
        ("+8613812345678", false, "with country code: 13 digits"),
        ("+86 13812345678", true, "country code then space"),
        ("１３８１２３４５６７８", false, "full-width digits"),
        ("1３812345678", false, "one full-width digit"),
        ("١٣٨١٢٣٤٥٦٧٨", false, "Arabic-Indic digits"),
        // Resident ID numbers (18 digits).
        ("110105194912310021", true, "18 digits"),
        ("11010519491231002X", true, "upper X"),
        ("11010519491231002x", true, "lower x: [0-9Xx]"),
        ("身份证11010519491231002X号", true, "inside Chinese text"),
        ("11010519491231002X1", false, "X followed by a digit"),
        ("11010519491231002XA", true, "X followed by a letter"),
        ("11010519491231002XX", true, "X followed by X"),
        ("1101051949123100211", false, "19 digits"),
        ("11010519491231002", false, "17 digits alone"),
        ("011010519491231002X", false, "preceded by a digit"),
        ("a11010519491231002Xb", true, "letters around"),
        ("010105194912310021", false, "starts 0"),
        ("110105174912310021", false, "century 17"),
        ("110105214912310021", false, "century 21"),
        ("110105184912310021", true, "century 18"),
        ("110105204912310021", true, "century 20"),
        ("110105194900310021", false, "month 00"),
        ("110105194913310021", false, "month 13"),
        ("110105194910310021", true, "month 10"),
        ("110105194912000021", false, "day 00"),
        ("110105194912320021", false, "day 32"),
        ("110105194902310021", true, "day 31 in February: the pattern is not a calendar"),
        ("110105194912300021", true, "day 30"),
        ("110105194912200021", true, "day 20"),
        ("11010519491231002Y", false, "Y is not a check character"),
        ("11010519491231002 X", false, "space before X"),
        ("１１０１０５１９４９１２３１００２Ｘ", false, "full-width"),
        // Mixed and neither.
        ("", false, "empty"),
        ("捐款 500 元", false, "small number"),
        ("2024-05-01T09:30:00+08:00", false, "timestamp"),
        ("0123456789abcdef0123456789abcdef", false, "hex"),
        ("订单 12345678901234567890", false, "20 digits"),
        ("a 13812345678 and 110105194912310021", true, "both"),
        ("12812345678 110105194913310021 13812345678", true, "last one"),
    ];
    for (text, expected, why) in cases {
        assert_eq!(contains_pii(text), *expected, "{why}: {text:?}");
        assert_eq!(reference_pii(text), *expected, "reference, {why}: {text:?}");
    }
}

// A slow, literal reading of the two patterns: try every start position, check the
// look-behind, the pattern byte by byte, then the look-ahead.

fn d(b: u8) -> bool {
    b.is_ascii_digit()
}

fn in_set(b: u8, lo: u8, hi: u8) -> bool {
    (lo..=hi).contains(&b)
}

fn mobile_at(s: &[u8], i: usize) -> bool {
    if i > 0 && d(s[i - 1]) {
        return false;
    }
    if i + 11 > s.len() {
        return false;
    }
    let m = &s[i..i + 11];
    if m[0] != b'1' || !in_set(m[1], b'3', b'9') || !m[2..].iter().all(|&b| d(b)) {
        return false;
    }
    !(i + 11 < s.len() && d(s[i + 11]))
}

fn id_at(s: &[u8], i: usize) -> bool {
    if i > 0 && d(s[i - 1]) {
        return false;
    }
    if i + 18 > s.len() {
        return false;
    }
    let m = &s[i..i + 18];
    let first = in_set(m[0], b'1', b'9') && m[1..6].iter().all(|&b| d(b));
    let century = matches!((m[6], m[7]), (b'1', b'8') | (b'1', b'9') | (b'2', b'0'));
    let year = d(m[8]) && d(m[9]);
    let month = matches!((m[10], m[11]), (b'0', b'1'..=b'9') | (b'1', b'0'..=b'2'));
    let day =
        matches!((m[12], m[13]), (b'0', b'1'..=b'9') | (b'1' | b'2', b'0'..=b'9') | (b'3', b'0'..=b'1'));
    let seq = m[14..17].iter().all(|&b| d(b));
    let check = d(m[17]) || m[17] == b'X' || m[17] == b'x';
    let after = !(i + 18 < s.len() && d(s[i + 18]));
    first && century && year && month && day && seq && check && after
}

fn reference_pii(s: &str) -> bool {
    let b = s.as_bytes();
    (0..b.len()).any(|i| mobile_at(b, i) || id_at(b, i))
}

/// Strings built from pieces likely to form or nearly form a match.
fn pii_ish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[0-9]{1,20}",
        2 => "1[3-9][0-9]{9}",
        2 => "[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]",
        1 => "[0-9]{17}[Xx]",
        1 => "[Xx ./-]{1,3}",
        1 => "[电话号身份证]{1,2}",
        1 => "[０-９]{1,5}",
        1 => "\\PC{1,3}",
    ];
    proptest::collection::vec(piece, 0..6).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn pii_scanner_matches_reference(s in pii_ish()) {
        prop_assert_eq!(contains_pii(&s), reference_pii(&s), "{:?}", s);
    }

    #[test]
    fn pii_scanner_matches_reference_on_digit_soup(s in "[0-9Xx a]{0,60}") {
        prop_assert_eq!(contains_pii(&s), reference_pii(&s), "{:?}", s);
    }

    #[test]
    fn free_text_never_panics(s in "\\PC{0,20}|[\\x00-\\x{a0}]{0,20}") {
        let _ = check_free_text(&s);
    }
}

#[test]
fn pii_scan_is_linear_on_long_digit_runs() {
    // 1 MB of digits and near-misses: must finish quickly (a backtracking scan would not).
    let s = "1381234567".repeat(100_000);
    assert!(!contains_pii(&s));
    let s = format!("{}X", "1".repeat(1_000_000));
    assert!(!contains_pii(&s));
}

#[test]
fn event_ids() {
    for id in ["a", "Z", "0", "donation-2024-0001", "case:42.a_b-c", &"a".repeat(64), "X-0000"] {
        assert!(is_valid_event_id(id), "refused {id:?}");
    }
    for id in
        ["", "-a", ".a", "_a", ":a", &"a".repeat(65), "a b", "a/b", "a\n", "捐款", "ａ", "a+b", "a@b", "é"]
    {
        assert!(!is_valid_event_id(id), "accepted {id:?}");
    }
}

#[test]
fn origins() {
    let max = format!("a/{}", "B".repeat(ORIGIN_BYTES_MAX - 2));
    for o in [
        "ledger.example.org",
        "ledger.example.org/charity/2024",
        "a",
        "localhost/Log_1.x-y",
        "0-9.a",
        max.as_str(),
    ] {
        assert!(is_valid_origin(o), "refused {o:?}");
    }
    let too_long = format!("{max}B");
    for o in [
        "",
        "Ledger.example.org",
        "/a",
        "a/",
        "a//b",
        "a/b c",
        "a b",
        "a_b",
        "a/b:c",
        "a\n",
        "例子.org",
        "a/é",
        too_long.as_str(),
    ] {
        assert!(!is_valid_origin(o), "accepted {o:?}");
    }
}
