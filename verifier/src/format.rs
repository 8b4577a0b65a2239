//! How figures are written for people: yuan with two decimals and thousands separators, entry
//! times in UTC+08:00 (SPEC.md §2: reports group events by entry time, shown in UTC+08:00),
//! and the programmes' Chinese names.

/// `1234567` → `"1,234,567"`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Fen as yuan: `123456` → `"¥1,234.56"`.
pub fn yuan(fen: u64) -> String {
    format!("¥{}.{:02}", thousands(fen / 100), fen % 100)
}

/// Fen as yuan without symbol or separators: `123456` → `"1234.56"`.
pub fn yuan_plain(fen: u64) -> String {
    ledger_core::disclosure::yuan_plain(fen)
}

/// A Unix millisecond time as `YYYY-MM-DD HH:MM:SS +08:00`.
pub fn report_time(ms: i64) -> String {
    ledger_core::disclosure::china_time(ms)
}

/// A Unix millisecond time as the date `YYYY-MM-DD` in UTC+08:00.
pub fn report_date(ms: i64) -> String {
    ledger_core::disclosure::china_date(ms)
}

/// The Chinese name of a programme (the six forms of help, 六助, and the general fund).
pub fn programme_zh(programme: &str) -> &'static str {
    match programme {
        "elderly" => "助老",
        "children" => "助童",
        "education" => "助学",
        "medical" => "助医",
        "disability" => "助残",
        "poverty" => "助困",
        "general" => "综合",
        _ => "其他",
    }
}

/// Columns a text takes in a terminal: East Asian wide characters (Chinese names of
/// programmes, funds and goods) take two.
pub fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| {
            let wide = matches!(u32::from(c),
                0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
                | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60
                | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD);
            if wide {
                2
            } else {
                1
            }
        })
        .sum()
}

/// `text` followed by spaces up to `width` terminal columns.
pub fn pad(text: &str, width: usize) -> String {
    let mut out = text.to_string();
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(display_width(text))));
    out
}

/// Keeps at most `max` characters of untrusted text for a message.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut out: String = text.chars().take(max).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_time() {
        assert_eq!(yuan(0), "¥0.00");
        assert_eq!(yuan(5), "¥0.05");
        assert_eq!(yuan(123_456_789), "¥1,234,567.89");
        assert_eq!(yuan_plain(100_001), "1000.01");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        // 2026-03-01T02:00:00Z is ten o'clock in Beijing.
        assert_eq!(report_time(1_772_330_400_000), "2026-03-01 10:00:00 +08:00");
        assert_eq!(report_date(1_772_330_400_000), "2026-03-01");
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(display_width("medical 助医"), 12);
        assert_eq!(pad("大米", 6), "大米  ");
        assert_eq!(pad("rice", 6), "rice  ");
    }
}
