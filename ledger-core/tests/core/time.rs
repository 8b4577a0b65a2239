//! Time forms: `at` timestamps, entry times, dates.
use ledger_core::time::{civil_from_days, days_from_civil, Date, EntryTime, TimeError, Timestamp};
use proptest::prelude::*;

const NS: i128 = 1_000_000_000;

fn ns(ts: &str) -> i128 {
    Timestamp::parse(ts).unwrap_or_else(|e| panic!("{ts}: {e}")).unix_nanos()
}

#[test]
fn timestamps_accepted_with_their_instants() {
    assert_eq!(ns("1970-01-01T00:00:00Z"), 0);
    assert_eq!(ns("1970-01-01T08:00:00+08:00"), 0);
    assert_eq!(ns("1969-12-31T19:00:00-05:00"), 0);
    assert_eq!(ns("1970-01-01T00:00:00.5Z"), NS / 2);
    assert_eq!(ns("1970-01-01T00:00:00.000000001Z"), 1);
    assert_eq!(ns("1970-01-01T00:00:00.123456789Z"), 123_456_789);
    assert_eq!(ns("1970-01-01T00:00:01.10Z"), NS + NS / 10);
    assert_eq!(ns("2000-01-01T00:00:00Z"), 946_684_800 * NS);
    assert_eq!(ns("2024-02-29T23:59:59Z"), 1_709_251_199 * NS);
    assert_eq!(ns("2024-03-01T07:59:59+08:00"), 1_709_251_199 * NS);
    assert_eq!(ns("2000-02-29T12:00:00Z"), 951_825_600 * NS);
    assert_eq!(ns("2024-06-01T12:00:00+23:59"), ns("2024-05-31T12:01:00Z"));
    assert_eq!(ns("2024-06-01T12:00:00-23:59"), ns("2024-06-02T11:59:00Z"));
    assert_eq!(ns("2024-06-01T12:00:00+00:00"), ns("2024-06-01T12:00:00Z"));
    // The extremes of the range, including an offset that crosses into year 0 / 10000 in UTC.
    assert_eq!(ns("0001-01-01T00:00:00Z"), -62_135_596_800 * NS);
    assert_eq!(ns("9999-12-31T23:59:59.999999999Z"), 253_402_300_800 * NS - 1);
    assert!(ns("0001-01-01T00:00:00+01:00") < ns("0001-01-01T00:00:00Z"));
    assert!(ns("9999-12-31T23:59:59-23:59") > ns("9999-12-31T23:59:59.999999999Z"));
}

#[test]
fn timestamp_keeps_its_text() {
    for text in ["2024-05-01T09:30:00+08:00", "2024-05-01T01:30:00.10Z", "2024-05-01T01:30:00.000Z"] {
        let ts = Timestamp::parse(text).expect("valid");
        assert_eq!(ts.as_str(), text);
        assert_eq!(ts.to_string(), text);
    }
    let a = Timestamp::parse("2024-05-01T09:30:00+08:00").expect("valid");
    let b = Timestamp::parse("2024-05-01T01:30:00Z").expect("valid");
    assert_eq!(a.unix_nanos(), b.unix_nanos());
    assert_ne!(a, b, "different texts are different timestamps");
}

#[test]
fn timestamps_refused() {
    let bad = [
        "",
        "2024-05-01",
        "2024-05-01T09:30:00",             // no zone
        "2024-05-01t09:30:00Z",            // lower-case t
        "2024-05-01T09:30:00z",            // lower-case z
        "2024-05-01 09:30:00Z",            // space
        "2024-05-01T09:30Z",               // no seconds
        "2024-05-01T09:30:60Z",            // leap second
        "2024-05-01T24:00:00Z",            // hour 24
        "2024-05-01T09:60:00Z",            // minute 60
        "2024-05-01T09:30:00.Z",           // empty fraction
        "2024-05-01T09:30:00.1234567890Z", // 10 digits
        "2024-05-01T09:30:00,5Z",          // comma
        "2024-05-01T09:30:00+8:00",        // short offset
        "2024-05-01T09:30:00+0800",        // no colon
        "2024-05-01T09:30:00+08",          // no minutes
        "2024-05-01T09:30:00+24:00",       // offset too large
        "2024-05-01T09:30:00+08:60",       // offset minutes
        "2024-05-01T09:30:00Z ",           // trailing space
        " 2024-05-01T09:30:00Z",           // leading space
        "2024-05-01T09:30:00Z\n",          // trailing newline
        "2024-05-01T09:30:00ZZ",
        "2024-05-01T09:30:00+08:00Z",
        "2023-02-29T00:00:00Z", // not a leap year
        "1900-02-29T00:00:00Z", // century, not a leap year
        "2024-04-31T00:00:00Z",
        "2024-00-10T00:00:00Z",
        "2024-13-10T00:00:00Z",
        "2024-01-00T00:00:00Z",
        "2024-01-32T00:00:00Z",
        "0000-01-01T00:00:00Z",  // year 0
        "10000-01-01T00:00:00Z", // five-digit year
        "+2024-01-01T00:00:00Z",
        "-2024-01-01T00:00:00Z",
        "２０２４-05-01T09:30:00Z",  // full-width digits
        "2024-05-01T09:30:00−08:00", // U+2212 minus sign
        "2024-5-01T09:30:00Z",
        "2024-05-1T09:30:00Z",
    ];
    for text in bad {
        assert!(Timestamp::parse(text).is_err(), "accepted {text:?}");
    }
}

#[test]
fn timestamp_errors_say_what_is_wrong() {
    assert_eq!(
        Timestamp::parse("2023-02-29T00:00:00Z"),
        Err(TimeError::NoSuchDate { year: 2023, month: 2, day: 29 })
    );
    assert_eq!(
        Timestamp::parse("2024-05-01T09:30:60Z"),
        Err(TimeError::FieldOutOfRange { field: "second", value: 60, min: 0, max: 59 })
    );
    assert_eq!(
        Timestamp::parse("2024-05-01T09:30:00.1234567890Z"),
        Err(TimeError::FractionDigits { digits: 10 })
    );
    assert_eq!(Timestamp::parse("2024-05-01T09:30:00Z "), Err(TimeError::TrailingText { position: 20 }));
    let e = Timestamp::parse("2024-05-01t09:30:00Z").expect_err("lower-case t");
    assert!(matches!(e, TimeError::Syntax { position: 10, .. }), "{e:?}");
    assert!(e.to_string().contains("`T`"), "{e}");
    let e = Timestamp::parse("2024-05-01T09:30:00").expect_err("no zone");
    assert!(e.to_string().contains("`Z`"), "{e}");
    let e = Timestamp::parse("2023-02-29T00:00:00Z").expect_err("no such date");
    assert_eq!(e.to_string(), "2023-02-29 is not a calendar date");
}

#[test]
fn timestamp_serde_is_a_strict_string() {
    let ts: Timestamp = serde_json::from_str("\"2024-05-01T09:30:00+08:00\"").expect("valid");
    assert_eq!(ts.as_str(), "2024-05-01T09:30:00+08:00");
    assert_eq!(serde_json::to_string(&ts).expect("serialises"), "\"2024-05-01T09:30:00+08:00\"");
    assert!(serde_json::from_str::<Timestamp>("\"2024-05-01T09:30:00\"").is_err());
    assert!(serde_json::from_str::<Timestamp>("1714527000").is_err());
    assert!(serde_json::from_str::<Timestamp>("null").is_err());
}

#[test]
fn entry_times() {
    let t = EntryTime::parse("2024-05-01T01:30:00.250Z").expect("valid");
    assert_eq!(t.unix_ms(), 1_714_527_000_250);
    assert_eq!(t.as_str(), "2024-05-01T01:30:00.250Z");
    assert_eq!(t.to_string(), "2024-05-01T01:30:00.250Z");
    assert_eq!(t.unix_nanos(), 1_714_527_000_250 * 1_000_000);
    assert_eq!(EntryTime::from_unix_ms(1_714_527_000_250), Some(t.clone()));

    let epoch = EntryTime::from_unix_ms(0).expect("epoch");
    assert_eq!(epoch.as_str(), "1970-01-01T00:00:00.000Z");
    let last = EntryTime::from_unix_ms(253_402_300_799_999).expect("last");
    assert_eq!(last.as_str(), "9999-12-31T23:59:59.999Z");
    assert_eq!(EntryTime::from_unix_ms(253_402_300_800_000), None);
    assert_eq!(EntryTime::from_unix_ms(-1), None);
    assert_eq!(EntryTime::from_unix_ms(i64::MIN), None);
    assert_eq!(EntryTime::from_unix_ms(i64::MAX), None);
    assert_eq!(
        EntryTime::from_unix_ms(951_782_400_000).expect("leap day").as_str(),
        "2000-02-29T00:00:00.000Z"
    );

    assert!(epoch < t && t < last);
    let mut v = vec![last.clone(), epoch.clone(), t.clone()];
    v.sort();
    assert_eq!(v, vec![epoch, t, last]);
}

#[test]
fn entry_times_refused() {
    for text in [
        "2024-05-01T01:30:00Z",
        "2024-05-01T01:30:00.2Z",
        "2024-05-01T01:30:00.25Z",
        "2024-05-01T01:30:00.2500Z",
        "2024-05-01T01:30:00.250+00:00",
        "2024-05-01T09:30:00.250+08:00",
        "2024-05-01T01:30:00.250z",
        "2024-05-01T01:30:00.250",
        "2024-05-01T01:30:00.250Z ",
        "1969-12-31T23:59:59.999Z",
        "0001-01-01T00:00:00.000Z",
        "2023-02-29T00:00:00.000Z",
        "2024-05-01T01:30:60.000Z",
    ] {
        assert!(EntryTime::parse(text).is_err(), "accepted {text:?}");
    }
    assert_eq!(EntryTime::parse("2024-05-01T01:30:00Z"), Err(TimeError::EntryFractionDigits { digits: 0 }));
    assert_eq!(
        EntryTime::parse("2024-05-01T01:30:00.2500Z"),
        Err(TimeError::EntryFractionDigits { digits: 4 })
    );
    assert_eq!(EntryTime::parse("1969-12-31T23:59:59.999Z"), Err(TimeError::EntryYearOutOfRange));
}

#[test]
fn entry_time_serde() {
    let t: EntryTime = serde_json::from_str("\"2024-05-01T01:30:00.250Z\"").expect("valid");
    assert_eq!(t.unix_ms(), 1_714_527_000_250);
    assert_eq!(serde_json::to_string(&t).expect("serialises"), "\"2024-05-01T01:30:00.250Z\"");
    assert!(serde_json::from_str::<EntryTime>("\"2024-05-01T01:30:00Z\"").is_err());
    assert!(serde_json::from_str::<EntryTime>("1714527000250").is_err());
}

#[test]
fn dates() {
    let d = Date::parse("2024-02-29").expect("leap day");
    assert_eq!(d.as_str(), "2024-02-29");
    assert_eq!(d.days_since_epoch(), days_from_civil(2024, 2, 29));
    assert!(Date::parse("2000-02-29").is_ok());
    assert!(Date::parse("0001-01-01").is_ok());
    assert!(Date::parse("9999-12-31").is_ok());
    assert!(Date::parse("2024-01-01").expect("valid") < Date::parse("2024-12-31").expect("valid"));
    for text in [
        "2023-02-29",
        "2100-02-29",
        "2024-06-31",
        "2024-00-01",
        "2024-13-01",
        "2024-01-00",
        "0000-01-01",
        "2024-1-01",
        "2024-01-01T00:00:00Z",
        "2024-01-01 ",
        "20240101",
        "",
    ] {
        assert!(Date::parse(text).is_err(), "accepted {text:?}");
    }
    let d: Date = serde_json::from_str("\"2024-12-31\"").expect("valid");
    assert_eq!(serde_json::to_string(&d).expect("serialises"), "\"2024-12-31\"");
    assert!(serde_json::from_str::<Date>("\"2024-12-32\"").is_err());
}

/// A reference instant computed by counting days year by year (independent of the
/// days-from-civil formula).
fn slow_days(y: i64, m: u32, d: u32) -> i64 {
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days = 0i64;
    if y >= 1970 {
        for yy in 1970..y {
            days += if leap(yy) { 366 } else { 365 };
        }
    } else {
        for yy in y..1970 {
            days -= if leap(yy) { 366 } else { 365 };
        }
    }
    let month_days = [31, if leap(y) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    for md in month_days.iter().take(m as usize - 1) {
        days += md;
    }
    days + i64::from(d) - 1
}

proptest! {
    #[test]
    fn timestamp_instant_matches_reference(
        y in 1i64..=9999, m in 1u32..=12, d in 1u32..=31,
        h in 0u32..24, mi in 0u32..60, s in 0u32..60,
        frac in proptest::option::of((1usize..=9, 0u32..1_000_000_000)),
        off in proptest::option::of((any::<bool>(), 0u32..24, 0u32..60)),
    ) {
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let dim = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let valid_day = d <= dim[m as usize - 1];
        let mut text = format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
        let mut frac_ns = 0i128;
        if let Some((digits, v)) = frac {
            let v = v % 10u32.pow(digits as u32);
            text.push_str(&format!(".{v:0digits$}"));
            frac_ns = i128::from(v) * 10i128.pow(9 - digits as u32);
        }
        let mut off_s = 0i64;
        match off {
            None => text.push('Z'),
            Some((neg, oh, om)) => {
                text.push_str(&format!("{}{oh:02}:{om:02}", if neg { '-' } else { '+' }));
                off_s = (i64::from(oh) * 3600 + i64::from(om) * 60) * if neg { -1 } else { 1 };
            }
        }
        let parsed = Timestamp::parse(&text);
        prop_assert_eq!(parsed.is_ok(), valid_day, "{}", text);
        if let Ok(ts) = parsed {
            let secs = slow_days(y, m, d) * 86_400
                + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s) - off_s;
            prop_assert_eq!(ts.unix_nanos(), i128::from(secs) * NS + frac_ns);
            prop_assert_eq!(ts.as_str(), text.as_str());
        }
    }

    #[test]
    fn entry_time_round_trips(ms in 0i64..=253_402_300_799_999) {
        let t = EntryTime::from_unix_ms(ms).expect("in range");
        prop_assert_eq!(t.unix_ms(), ms);
        let back = EntryTime::parse(t.as_str()).expect("canonical text parses");
        prop_assert_eq!(back.unix_ms(), ms);
        prop_assert_eq!(back.as_str(), t.as_str());
        let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000)).expect("in range");
        let y = i64::from(y);
        prop_assert_eq!(slow_days(y, m, d), ms.div_euclid(86_400_000));
        // The entry time and a `Z` timestamp of the same text agree on the instant.
        let ts = Timestamp::parse(t.as_str()).expect("also a timestamp");
        prop_assert_eq!(ts.unix_nanos(), t.unix_nanos());
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
        let _ = Timestamp::parse(&s);
        let _ = EntryTime::parse(&s);
        let _ = Date::parse(&s);
    }

    #[test]
    fn near_miss_text_never_panics(s in "[0-9T:Z+.\\-]{0,40}") {
        if let Ok(ts) = Timestamp::parse(&s) {
            prop_assert_eq!(ts.as_str(), s.as_str());
        }
        let _ = EntryTime::parse(&s);
        let _ = Date::parse(&s);
    }
}
