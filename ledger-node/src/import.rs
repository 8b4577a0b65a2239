//! `ledger-node import`: the spreadsheets a charity keeps (donations, cases, allocations,
//! disbursements, exported as CSV in UTF-8 or GBK) into signed events, judged row by row by
//! the node's own rules (`POST /v1/batch?dry_run=1`) before one all-or-nothing `/v1/batch`.
//!
//! The envelopes are deterministic (ids and salts derived from the file and the signing key,
//! Ed25519 signatures deterministic), so a re-run of the same file produces the same bytes
//! and the node logs nothing twice. Personal data never leaves this machine except in the
//! register file the office keeps (`--register`, mode 0600): identities become commitments.

use crate::client;
use crate::keys;
use crate::limits::{IMPORT_COLUMNS_MAX, IMPORT_FILE_BYTES_MAX, IMPORT_ROWS_MAX};
use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use ledger_core::commitment::{commitment, Identity, IdentityKind, SALT_BYTES};
use ledger_core::dsse::Envelope;
use ledger_core::hash::{sha256, Hash};
use ledger_core::limits::AMOUNT_MAX;
use ledger_core::refusal::Rule;
use ledger_core::time::Timestamp;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Domain tags: each derived value is a hash no other part of the system computes.
const SALT_DOMAIN: &[u8] = b"charity-ledger/import-salt/v1\n";
const ID_DOMAIN: &[u8] = b"charity-ledger/import-id/v1\n";
const REFERENCE_DOMAIN: &[u8] = b"charity-ledger/import-reference/v1\n";
/// Hex characters of a derived event id after its prefix: 80 bits, collision-free in practice.
const DERIVED_ID_HEX_CHARS: usize = 20;
/// A date without a time is taken at noon China time, well inside the day whatever the zone.
const DEFAULT_TIME: &str = "12:00:00";
const CHINA_OFFSET: &str = "+08:00";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Table {
    Donations,
    Cases,
    Allocations,
    Disbursements,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    /// Valid UTF-8 (with or without BOM) is read as UTF-8, anything else as GBK.
    Auto,
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    Gbk,
}

/// One column a table reads: its name in the code and the headers that mean it (compared
/// after `normalise_header`), Chinese first.
struct Column {
    name: &'static str,
    headers: &'static [&'static str],
    required: bool,
}

const fn col(name: &'static str, headers: &'static [&'static str], required: bool) -> Column {
    Column { name, headers, required }
}

const DONATION_COLUMNS: &[Column] = &[
    col("id", &["编号", "事件编号", "id", "event_id"], false),
    col("date", &["捐赠日期", "日期", "date", "at"], true),
    col("donor", &["捐赠人", "捐赠方", "donor", "donor_name"], false),
    col("donor_type", &["捐赠人类型", "捐赠方类型", "donor_type"], false),
    col("identity", &["证件号", "证件号码", "身份证号", "统一社会信用代码", "identity"], false),
    col("amount", &["金额(元)", "捐赠金额(元)", "金额", "amount_yuan", "amount"], true),
    col("channel", &["渠道", "捐赠渠道", "channel"], true),
    col("fund", &["基金", "基金编号", "fund"], false),
    col("case", &["项目", "个案", "个案编号", "case"], false),
    col("reference", &["票据号", "收据号", "票据编号", "reference", "receipt_no"], false),
];

const CASE_COLUMNS: &[Column] = &[
    col("id", &["编号", "个案编号", "id", "event_id"], true),
    col("date", &["立案日期", "日期", "date", "at"], true),
    col("programme", &["救助类别", "类别", "programme", "program"], true),
    col("identity", &["受助人证件号", "证件号", "身份证号", "beneficiary_identity", "identity"], true),
    col("region", &["地区", "region"], true),
    col("summary", &["摘要", "情况摘要", "summary"], true),
    col("requested", &["申请金额(元)", "申请金额", "requested_yuan"], true),
];

const ALLOCATION_COLUMNS: &[Column] = &[
    col("id", &["编号", "id", "event_id"], false),
    col("date", &["拨付日期", "日期", "date", "at"], true),
    col("fund", &["基金", "基金编号", "fund"], true),
    col("case", &["项目", "个案", "个案编号", "case"], true),
    col("amount", &["金额(元)", "拨付金额(元)", "金额", "amount_yuan", "amount"], true),
    col("decision", &["决定", "拨付决定", "decision"], true),
];

const DISBURSEMENT_COLUMNS: &[Column] = &[
    col("id", &["编号", "id", "event_id"], false),
    col("date", &["支付日期", "日期", "date", "at"], true),
    col("case", &["项目", "个案", "个案编号", "case"], true),
    col("amount", &["金额(元)", "支付金额(元)", "金额", "amount_yuan", "amount"], true),
    col("method", &["支付方式", "方式", "method"], true),
    col("identity", &["收款人证件号", "证件号", "身份证号", "payee_identity", "identity"], false),
    col("vendor", &["收款单位", "vendor", "payee_vendor"], false),
    col("evidence", &["凭证哈希", "evidence"], false),
];

impl Table {
    fn columns(self) -> &'static [Column] {
        match self {
            Table::Donations => DONATION_COLUMNS,
            Table::Cases => CASE_COLUMNS,
            Table::Allocations => ALLOCATION_COLUMNS,
            Table::Disbursements => DISBURSEMENT_COLUMNS,
        }
    }
    fn kind(self) -> &'static str {
        match self {
            Table::Donations => "donation.received",
            Table::Cases => "case.opened",
            Table::Allocations => "allocation.made",
            Table::Disbursements => "disbursement.made",
        }
    }
    /// The prefix of derived event ids.
    fn id_prefix(self) -> &'static str {
        match self {
            Table::Donations => "imp-don-",
            Table::Cases => "imp-case-",
            Table::Allocations => "imp-alloc-",
            Table::Disbursements => "imp-disb-",
        }
    }
}

/// A row the import refuses: its spreadsheet line (the header is line 1), the rule and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub line: u64,
    pub rule: String,
    pub message: String,
}

/// One line of the office's salt register: never logged, never printed.
#[derive(Clone)]
pub struct Secret {
    pub role: &'static str,
    pub identity: Identity,
    pub salt: [u8; SALT_BYTES],
    pub commitment: Hash,
}

/// A row turned into an event body that the core's parser accepts.
pub struct Row {
    pub line: u64,
    pub id: String,
    pub body: Vec<u8>,
    pub secret: Option<Secret>,
}

/// What a file gives: the good rows, the bad ones, and the headers nothing reads.
pub struct Parsed {
    pub rows: Vec<Row>,
    pub bad: Vec<BadRow>,
    pub ignored_headers: Vec<String>,
}

/// The file's text: a UTF-8 BOM is dropped; GBK is what Excel on Chinese Windows writes.
pub fn decode(bytes: &[u8], encoding: Encoding) -> Result<String> {
    let utf8 = |b: &[u8]| -> Result<String> {
        let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
        Ok(std::str::from_utf8(b).context("the file is not valid UTF-8 (try --encoding gbk)")?.to_string())
    };
    match encoding {
        Encoding::Utf8 => utf8(bytes),
        Encoding::Gbk => encoding_rs::GBK
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|t| t.into_owned())
            .context("the file is not valid GBK (try --encoding utf-8)"),
        Encoding::Auto => match utf8(bytes) {
            Ok(text) => Ok(text),
            Err(_) => decode(bytes, Encoding::Gbk)
                .context("the file is neither valid UTF-8 nor valid GBK: save it as CSV UTF-8"),
        },
    }
}

/// Headers compared without case, spaces or the difference between full- and half-width
/// brackets: `金额（元）`, `金额(元)` and ` 金额 (元) ` are one header.
fn normalise_header(h: &str) -> String {
    h.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Yuan as a spreadsheet writes them (`1,234.50`, `¥100`, `100元`, `100.5`) into fen, exactly,
/// in integers. Refuses more than two decimals, a sign, zero, and more than 2^53−1 fen.
pub fn parse_yuan(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_prefix('¥').or_else(|| t.strip_prefix('￥')).unwrap_or(t).trim();
    let t = t.strip_suffix('元').unwrap_or(t).trim();
    if t.is_empty() {
        return Err("the amount is empty".into());
    }
    if t.starts_with('-') || t.starts_with('+') || t.starts_with('(') {
        return Err(format!("{t:?}: amounts are positive, without a sign"));
    }
    let (whole, fraction) = match t.split_once('.') {
        Some((w, f)) => (w, f),
        None => (t, ""),
    };
    if fraction.len() > 2 {
        return Err(format!("{t:?} has more than two decimals: fen are the smallest unit"));
    }
    if !fraction.chars().all(|c| c.is_ascii_digit()) || (t.contains('.') && fraction.is_empty()) {
        return Err(format!("{t:?} is not an amount in yuan"));
    }
    // Thousands separators only where they belong: 1,234,567 but not 12,34.
    let groups: Vec<&str> = whole.split(',').collect();
    let grouped_ok = groups.iter().enumerate().all(|(i, g)| {
        !g.is_empty()
            && g.chars().all(|c| c.is_ascii_digit())
            && (groups.len() == 1 || if i == 0 { g.len() <= 3 } else { g.len() == 3 })
    });
    if !grouped_ok {
        return Err(format!("{t:?} is not an amount in yuan"));
    }
    let digits: String = groups.concat();
    let overflow = || format!("{t:?} is over the largest amount (2^53−1 fen)");
    let yuan: u64 = digits.parse().map_err(|_| overflow())?;
    let fen_part: u64 = format!("{fraction:0<2}").parse().map_err(|_| format!("{t:?} is not an amount"))?;
    let fen = yuan.checked_mul(100).and_then(|f| f.checked_add(fen_part)).ok_or_else(overflow)?;
    if fen == 0 {
        return Err("the amount is zero".into());
    }
    if fen > AMOUNT_MAX {
        return Err(overflow());
    }
    Ok(fen)
}

/// A date (`2024-03-05`, `2024/3/5`, `2024年3月5日`, optionally with `HH:MM[:SS]`) or a full
/// timestamp into an author's `at`; dates without a zone are China time.
pub fn parse_date(text: &str) -> Result<String, String> {
    let t = text.trim();
    if let Ok(ts) = Timestamp::parse(t) {
        return Ok(ts.as_str().to_string());
    }
    let (date, time) = match t.split_once([' ', 'T']) {
        Some((d, tm)) => (d, Some(tm.trim())),
        None => (t, None),
    };
    let parts: Vec<&str> = date.trim_end_matches('日').split(['-', '/', '.', '年', '月']).collect();
    let bad = || format!("{t:?} is not a date (write 2024-03-05)");
    let [y, m, d] = parts.as_slice() else { return Err(bad()) };
    let num = |s: &str, max_len: usize| -> Option<u32> {
        (!s.is_empty() && s.len() <= max_len && s.chars().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())?
    };
    let (Some(y), Some(m), Some(d)) = (num(y, 4), num(m, 2), num(d, 2)) else { return Err(bad()) };
    let time = match time {
        None => DEFAULT_TIME.to_string(),
        Some(tm) => {
            let hm: Vec<&str> = tm.split(':').collect();
            let ok = (2..=3).contains(&hm.len()) && hm.iter().all(|p| num(p, 2).is_some());
            if !ok {
                return Err(bad());
            }
            let p = |i: usize| hm.get(i).and_then(|s| num(s, 2)).unwrap_or(0);
            format!("{:02}:{:02}:{:02}", p(0), p(1), p(2))
        }
    };
    let at = format!("{y:04}-{m:02}-{d:02}T{time}{CHINA_OFFSET}");
    Timestamp::parse(&at).map(|ts| ts.as_str().to_string()).map_err(|_| bad())
}

fn channel(text: &str) -> Option<&'static str> {
    Some(match text.trim().to_lowercase().as_str() {
        "银行" | "银行转账" | "转账" | "bank" => "bank",
        "微信" | "微信支付" | "wechat" => "wechat",
        "支付宝" | "alipay" => "alipay",
        "现金" | "cash" => "cash",
        "其他" | "other" => "other",
        _ => return None,
    })
}

fn programme(text: &str) -> Option<&'static str> {
    Some(match text.trim().to_lowercase().as_str() {
        "助老" | "elderly" => "elderly",
        "助童" | "children" => "children",
        "助学" | "education" => "education",
        "助医" | "medical" => "medical",
        "助残" | "disability" => "disability",
        "助困" | "poverty" => "poverty",
        "综合" | "general" => "general",
        _ => return None,
    })
}

fn method(text: &str) -> Option<&'static str> {
    Some(match text.trim().to_lowercase().as_str() {
        "银行" | "银行转账" | "转账" | "bank" => "bank",
        "现金" | "cash" => "cash",
        "服务" | "service" => "service",
        _ => return None,
    })
}

/// Whether a donor is an organisation (`单位`) or a private person (`个人`), if the sheet says.
fn organisation_flag(text: &str) -> Option<Result<bool, String>> {
    let t = text.trim().to_lowercase();
    match t.as_str() {
        "" => None,
        "单位" | "机构" | "企业" | "组织" | "organisation" | "organization" | "org" => Some(Ok(true)),
        "个人" | "individual" | "person" => Some(Ok(false)),
        _ => Some(Err(format!("donor type {t:?} is 个人/individual or 单位/organisation"))),
    }
}

/// A reference column is a hash on the ledger: kept when it is one, hashed otherwise.
fn reference_hash(text: &str) -> String {
    let t = text.trim();
    if t.len() == 64 && t.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return t.to_string();
    }
    sha256(&[REFERENCE_DOMAIN, t.as_bytes()]).to_hex()
}

/// The salt of a commitment: reproducible by the holder of the signing key alone, so a re-run
/// signs the same bytes, and no reader of the log can guess it.
fn derive_salt(seed: &[u8; 32], id: &str, role: &str) -> [u8; SALT_BYTES] {
    sha256(&[SALT_DOMAIN, seed, id.as_bytes(), b"\n", role.as_bytes()]).0
}

struct Cells<'a> {
    values: HashMap<&'static str, &'a str>,
}

impl Cells<'_> {
    fn get(&self, name: &str) -> &str {
        self.values.get(name).map_or("", |v| v.trim())
    }
    fn opt(&self, name: &str) -> Option<&str> {
        Some(self.get(name)).filter(|v| !v.is_empty())
    }
}

type RowResult<T> = Result<T, (Rule, String)>;

fn need<'a>(cells: &'a Cells, name: &str, header: &str) -> RowResult<&'a str> {
    cells.opt(name).ok_or_else(|| (Rule::Field, format!("{header} is empty")))
}

fn yuan_cell(cells: &Cells, name: &str, header: &str) -> RowResult<u64> {
    parse_yuan(need(cells, name, header)?).map_err(|m| (Rule::Amount, format!("{header}: {m}")))
}

fn identity_cell(cells: &Cells, header: &str) -> RowResult<Identity> {
    // The message never repeats the cell: it may be a person's ID number.
    Identity::parse(cells.get("identity")).map_err(|e| (Rule::Field, format!("{header}: {e}")))
}

/// Builds a row's body. `id` is the event id the row gets.
fn row_body(table: Table, cells: &Cells, id: &str, seed: &[u8; 32]) -> RowResult<(Value, Option<Secret>)> {
    let at = parse_date(need(cells, "date", "date 日期")?).map_err(|m| (Rule::Time, m))?;
    let mut b = Map::new();
    b.insert("v".into(), json!(1));
    b.insert("kind".into(), json!(table.kind()));
    b.insert("id".into(), json!(id));
    b.insert("at".into(), json!(at));
    let mut secret = None;
    let mut commit = |role: &'static str, identity: Identity| -> String {
        let salt = derive_salt(seed, id, role);
        let c = commitment(&salt, &identity);
        secret = Some(Secret { role, identity, salt, commitment: c });
        c.to_hex()
    };
    match table {
        Table::Donations => {
            match (cells.opt("fund"), cells.opt("case")) {
                (Some(f), None) => b.insert("fund".into(), json!(f)),
                (None, Some(c)) => b.insert("case".into(), json!(c)),
                _ => return Err((Rule::Field, "exactly one of fund 基金 and case 项目 is required".into())),
            };
            b.insert("amount_fen".into(), json!(yuan_cell(cells, "amount", "amount 金额(元)")?));
            let ch = need(cells, "channel", "channel 渠道")?;
            let ch = channel(ch).ok_or_else(|| {
                (Rule::Field, format!("channel {ch:?} is one of 银行/bank, 微信/wechat, 支付宝/alipay, 现金/cash, 其他/other"))
            })?;
            b.insert("channel".into(), json!(ch));
            let flag =
                organisation_flag(cells.get("donor_type")).transpose().map_err(|m| (Rule::Field, m))?;
            let identity =
                cells.opt("identity").map(|_| identity_cell(cells, "identity 证件号")).transpose()?;
            let is_org =
                flag.unwrap_or(identity.as_ref().is_some_and(|i| i.kind() == IdentityKind::CreditCode));
            if let Some(identity) = identity {
                if flag == Some(true) && identity.kind() == IdentityKind::ResidentId {
                    return Err((
                        Rule::Field,
                        "an organisation donor's identity is its credit code, not a resident ID".into(),
                    ));
                }
                b.insert("donor".into(), json!(commit("donor", identity)));
            }
            match cells.opt("donor") {
                Some(name) if is_org => {
                    b.insert("donor_name".into(), json!(name));
                }
                Some(_) if secret.is_none() => {
                    return Err((
                        Rule::PiiDetected,
                        "a private donor's name cannot go on the public log: give the resident ID number \
                         (证件号) to make a commitment, mark the donor 单位/organisation, or leave the \
                         name empty for an anonymous gift"
                            .into(),
                    ))
                }
                // A private donor with an ID: the name stays in the sheet; the log has the commitment.
                _ => {}
            }
            if let Some(r) = cells.opt("reference") {
                b.insert("reference".into(), json!(reference_hash(r)));
            }
        }
        Table::Cases => {
            let p = need(cells, "programme", "programme 救助类别")?;
            let p = programme(p).ok_or_else(|| {
                (
                    Rule::Field,
                    format!(
                        "programme {p:?} is one of 助老 助童 助学 助医 助残 助困 综合 (or the English names)"
                    ),
                )
            })?;
            b.insert("programme".into(), json!(p));
            let identity = identity_cell(cells, "beneficiary identity 受助人证件号")?;
            b.insert("beneficiary".into(), json!(commit("beneficiary", identity)));
            b.insert("region".into(), json!(need(cells, "region", "region 地区")?));
            b.insert("summary".into(), json!(need(cells, "summary", "summary 摘要")?));
            b.insert("requested_fen".into(), json!(yuan_cell(cells, "requested", "requested 申请金额(元)")?));
        }
        Table::Allocations => {
            b.insert("fund".into(), json!(need(cells, "fund", "fund 基金")?));
            b.insert("case".into(), json!(need(cells, "case", "case 项目")?));
            b.insert("amount_fen".into(), json!(yuan_cell(cells, "amount", "amount 金额(元)")?));
            b.insert("decision".into(), json!(need(cells, "decision", "decision 决定")?));
        }
        Table::Disbursements => {
            b.insert("case".into(), json!(need(cells, "case", "case 项目")?));
            b.insert("amount_fen".into(), json!(yuan_cell(cells, "amount", "amount 金额(元)")?));
            let m = need(cells, "method", "method 支付方式")?;
            let m = method(m).ok_or_else(|| {
                (Rule::Field, format!("method {m:?} is one of 银行/bank, 现金/cash, 服务/service"))
            })?;
            b.insert("method".into(), json!(m));
            let payee = match (cells.opt("identity"), cells.opt("vendor")) {
                (Some(_), None) => {
                    json!({"commitment": commit("payee", identity_cell(cells, "payee identity 收款人证件号")?)})
                }
                (None, Some(v)) => json!({"vendor": v}),
                _ => {
                    return Err((
                        Rule::Field,
                        "exactly one of payee identity 收款人证件号 and vendor 收款单位 is required".into(),
                    ))
                }
            };
            b.insert("payee".into(), payee);
            let evidence: Vec<&str> =
                cells.get("evidence").split([';', '；', ' ']).filter(|s| !s.is_empty()).collect();
            b.insert("evidence".into(), json!(evidence));
        }
    }
    Ok((Value::Object(b), secret))
}

/// Reads a decoded CSV text into rows, each checked by the core's parser. Pure: the seed is
/// the first signing key's, for the derived salts.
pub fn parse_csv(text: &str, table: Table, seed: &[u8; 32]) -> Result<Parsed> {
    // The csv reader counts a CRLF record's line one short after it (the LF is read with the
    // next record); Excel writes CRLF, and line numbers must match what the user sees.
    let text = text.replace("\r\n", "\n");
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(text.as_bytes());
    let headers = reader.headers().context("reading the header line")?.clone();
    if headers.len() > IMPORT_COLUMNS_MAX {
        bail!("the header has {} columns, over the limit of {IMPORT_COLUMNS_MAX}", headers.len());
    }
    let columns = table.columns();
    let mut position: HashMap<&'static str, usize> = HashMap::new();
    let mut ignored_headers = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let n = normalise_header(h);
        match columns.iter().find(|c| c.headers.iter().any(|a| normalise_header(a) == n)) {
            Some(c) => {
                if position.insert(c.name, i).is_some() {
                    bail!("two columns of the header mean {} (the second is {h:?})", c.name);
                }
            }
            None if n.is_empty() => {}
            None => ignored_headers.push(h.trim().to_string()),
        }
    }
    let missing: Vec<String> = columns
        .iter()
        .filter(|c| c.required && !position.contains_key(c.name))
        .map(|c| format!("{} ({})", c.headers[0], c.name))
        .collect();
    if !missing.is_empty() {
        bail!("the header lacks the columns {}; see docs/guide-import.md", missing.join(", "));
    }
    let mut parsed = Parsed { rows: Vec::new(), bad: Vec::new(), ignored_headers };
    let mut seen: HashMap<Hash, u32> = HashMap::new();
    for record in reader.records() {
        let record = record.context("reading the CSV")?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if parsed.rows.len() + parsed.bad.len() >= IMPORT_ROWS_MAX {
            bail!(
                "the file has more than {IMPORT_ROWS_MAX} rows, one batch's worth: split it into files of at \
                 most {IMPORT_ROWS_MAX} rows so that each imports all or nothing"
            );
        }
        let values: HashMap<&'static str, &str> =
            position.iter().map(|(name, &i)| (*name, record.get(i).unwrap_or(""))).collect();
        let cells = Cells { values };
        let id = match cells.opt("id") {
            Some(id) => id.to_string(),
            None => derived_id(table, &cells, &mut seen),
        };
        let outcome = row_body(table, &cells, &id, seed).and_then(|(body, secret)| {
            let bytes = serde_json::to_vec(&body).map_err(|e| (Rule::Json, e.to_string()))?;
            ledger_core::event::parse_body(&bytes).map_err(|r| (r.rule, r.message))?;
            Ok((bytes, secret))
        });
        match outcome {
            Ok((body, secret)) => parsed.rows.push(Row { line, id, body, secret }),
            Err((rule, message)) => {
                parsed.bad.push(BadRow { line, rule: rule.as_str().to_string(), message })
            }
        }
    }
    Ok(parsed)
}

/// An id from the row itself: from the reference (receipt number) when there is one, else
/// from every cell the table reads and the count of identical rows before it. The same file
/// gives the same ids; an edited row gets a new one.
fn derived_id(table: Table, cells: &Cells, seen: &mut HashMap<Hash, u32>) -> String {
    let mut parts: Vec<&[u8]> = vec![ID_DOMAIN, table.kind().as_bytes()];
    let names: Vec<&str> = match cells.opt("reference") {
        Some(_) => vec!["reference"],
        None => table.columns().iter().map(|c| c.name).collect(),
    };
    let values: Vec<String> = names.iter().map(|n| format!("\n{n}={}", cells.get(n))).collect();
    parts.extend(values.iter().map(|v| v.as_bytes()));
    let row_hash = sha256(&parts);
    let n = seen.entry(row_hash).or_insert(0);
    *n += 1;
    let occurrence = n.to_string();
    let id_hash = sha256(&[row_hash.0.as_slice(), b"#", occurrence.as_bytes()]);
    format!("{}{}", table.id_prefix(), &id_hash.to_hex()[..DERIVED_ID_HEX_CHARS])
}

/// The command line's request.
pub struct ImportArgs {
    pub url: String,
    pub keys: Vec<PathBuf>,
    pub csv: PathBuf,
    pub table: Table,
    pub encoding: Encoding,
    pub dry_run: bool,
    pub register: Option<PathBuf>,
}

/// What the node said of the signed rows.
struct Verdicts {
    new: Vec<usize>,
    existing: Vec<(usize, u64)>,
    bad: Vec<BadRow>,
}

fn batch_json(envelopes: &[&Envelope]) -> Vec<u8> {
    let items: Vec<String> = envelopes.iter().map(|e| e.to_json()).collect();
    format!("[{}]", items.join(",")).into_bytes()
}

fn refused_message(status: u16, answer: &Value) -> String {
    format!(
        "{status} {}{}: {}",
        answer["error"].as_str().unwrap_or("?"),
        answer["rule"].as_str().map(|r| format!(", rule {r}")).unwrap_or_default(),
        answer["message"].as_str().unwrap_or("")
    )
}

fn check_with_node(base: &str, rows: &[Row], envelopes: &[Envelope]) -> Result<Verdicts> {
    let refs: Vec<&Envelope> = envelopes.iter().collect();
    let (status, answer) =
        client::post_json(&client::agent(), &format!("{base}/v1/batch?dry_run=1"), &batch_json(&refs))?;
    if status != 200 || answer["dry_run"] != json!(true) {
        bail!("the node could not check the rows ({})", refused_message(status, &answer));
    }
    let indexes = |v: &Value| -> Vec<Value> { v.as_array().cloned().unwrap_or_default() };
    let line = |i: usize| rows.get(i).map_or(0, |r| r.line);
    let mut verdicts = Verdicts { new: Vec::new(), existing: Vec::new(), bad: Vec::new() };
    for i in indexes(&answer["new"]) {
        verdicts.new.push(i.as_u64().context("dry run: index")? as usize);
    }
    for e in indexes(&answer["existing"]) {
        let i = e["index"].as_u64().context("dry run: index")? as usize;
        verdicts.existing.push((i, e["seq"].as_u64().unwrap_or(0)));
    }
    for r in indexes(&answer["refusals"]) {
        let i = r["index"].as_u64().context("dry run: index")? as usize;
        verdicts.bad.push(BadRow {
            line: line(i),
            rule: r["rule"].as_str().unwrap_or("?").to_string(),
            message: r["message"].as_str().unwrap_or("").to_string(),
        });
    }
    Ok(verdicts)
}

/// Writes the register (mode 0600): one line per commitment the file makes.
pub fn write_register(path: &Path, rows: &[Row]) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating the register {}", path.display()))?;
    // An older file keeps its mode on open: make it private too.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    let mut w = csv::Writer::from_writer(file);
    w.write_record(["line", "id", "role", "identity", "salt", "commitment"])?;
    for row in rows {
        if let Some(s) = &row.secret {
            w.write_record([
                row.line.to_string().as_str(),
                &row.id,
                s.role,
                s.identity.as_str(),
                &hex::encode(s.salt),
                &s.commitment.to_hex(),
            ])?;
        }
    }
    let file = w.into_inner().map_err(|e| anyhow::anyhow!("writing the register: {e}"))?;
    file.sync_all()?;
    Ok(())
}

fn print_bad(bad: &[BadRow]) {
    for b in bad {
        eprintln!("line {}: {}: {}", b.line, b.rule, b.message);
    }
}

/// Runs an import. Exit status through `Err`: any bad row fails the whole file.
pub fn run(args: &ImportArgs) -> Result<()> {
    let base = args.url.trim_end_matches('/');
    let keys: Vec<SigningKey> = args.keys.iter().map(|p| keys::read_secret(p)).collect::<Result<_>>()?;
    let seed = keys.first().context("import needs --key")?.to_bytes();
    let mut bytes = Vec::new();
    std::fs::File::open(&args.csv)
        .with_context(|| format!("opening {}", args.csv.display()))?
        .take(IMPORT_FILE_BYTES_MAX + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > IMPORT_FILE_BYTES_MAX {
        bail!("{} is over the limit of {IMPORT_FILE_BYTES_MAX} bytes", args.csv.display());
    }
    let text = decode(&bytes, args.encoding)?;
    let parsed = parse_csv(&text, args.table, &seed)?;
    if !parsed.ignored_headers.is_empty() {
        eprintln!("ignored columns (not read, never sent): {}", parsed.ignored_headers.join(", "));
    }
    let refs: Vec<&SigningKey> = keys.iter().collect();
    let envelopes: Vec<Envelope> = parsed.rows.iter().map(|r| Envelope::sign(&r.body, &refs)).collect();
    let mut bad = parsed.bad.clone();
    let verdicts = if envelopes.is_empty() {
        Verdicts { new: Vec::new(), existing: Vec::new(), bad: Vec::new() }
    } else {
        check_with_node(base, &parsed.rows, &envelopes)?
    };
    bad.extend(verdicts.bad);
    bad.sort_by_key(|b| b.line);
    let total = parsed.rows.len() + parsed.bad.len();
    if !bad.is_empty() {
        print_bad(&bad);
        bail!("{} of {total} rows are bad; nothing was appended", bad.len());
    }
    if let Some(path) = &args.register {
        write_register(path, &parsed.rows)?;
    }
    let new: Vec<&Envelope> = verdicts.new.iter().filter_map(|&i| envelopes.get(i)).collect();
    if args.dry_run {
        println!(
            "dry run: {total} rows are good; {} would be appended, {} were imported before. Nothing was appended.",
            new.len(),
            verdicts.existing.len()
        );
        return Ok(());
    }
    if new.is_empty() {
        println!("nothing to append: all {total} rows were imported before");
        return Ok(());
    }
    let (status, answer) =
        client::post_json(&client::agent(), &format!("{base}/v1/batch"), &batch_json(&new))?;
    match status {
        201 => {
            let first = answer["first_seq"].as_u64().unwrap_or(0);
            println!(
                "appended {} rows at seqs {first}..{}; {} were imported before",
                new.len(),
                first + new.len() as u64 - 1,
                verdicts.existing.len()
            );
            Ok(())
        }
        200 => {
            println!("nothing appended: every row was logged before");
            Ok(())
        }
        _ => {
            // The state moved between the check and the append: the batch is all or nothing.
            let line = answer["index"]
                .as_u64()
                .and_then(|i| verdicts.new.get(i as usize))
                .and_then(|&i| parsed.rows.get(i));
            bail!(
                "the node refused the batch{}: {}; nothing was appended",
                line.map(|r| format!(" at line {}", r.line)).unwrap_or_default(),
                refused_message(status, &answer)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_into_fen() {
        let check = |text: &str, expected: Result<u64, ()>| {
            assert_eq!(parse_yuan(text).map_err(|_| ()), expected, "{text:?}");
        };
        check("1,234.50", Ok(123_450));
        check("¥100", Ok(10_000));
        check("￥100", Ok(10_000));
        check("100元", Ok(10_000));
        check(" 0.01 ", Ok(1));
        check("12.3", Ok(1230));
        check("90071992547409.91", Ok(AMOUNT_MAX));
        check("90071992547409.92", Err(()));
        check("99999999999999999999", Err(()));
        check("1.234", Err(()));
        check("-5", Err(()));
        check("0", Err(()));
        check("0.00", Err(()));
        check("12,34", Err(()));
        check("1e3", Err(()));
        check("1.", Err(()));
        check("", Err(()));
    }

    #[test]
    fn dates_are_china_time() {
        assert_eq!(parse_date("2024-03-05").as_deref(), Ok("2024-03-05T12:00:00+08:00"));
        assert_eq!(parse_date("2024/3/5 9:30").as_deref(), Ok("2024-03-05T09:30:00+08:00"));
        assert_eq!(parse_date("2024年3月5日").as_deref(), Ok("2024-03-05T12:00:00+08:00"));
        assert_eq!(parse_date("2024-03-05T01:02:03Z").as_deref(), Ok("2024-03-05T01:02:03Z"));
        assert!(parse_date("2024-02-30").is_err());
        assert!(parse_date("yesterday").is_err());
    }

    #[test]
    fn gbk_and_utf8_with_bom_decode_alike() {
        let text = "捐赠日期,金额(元)\n2024-03-05,100\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        assert_eq!(decode(&gbk, Encoding::Auto).expect("gbk"), text);
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        assert_eq!(decode(&bom, Encoding::Auto).expect("utf-8"), text);
        assert!(decode(&gbk, Encoding::Utf8).is_err());
    }
}
