//! Disclosure exports (SPEC.md §2: reports group events by entry time, shown in UTC+08:00):
//! spreadsheets (CSV for Excel and WPS), an IATI-style activity file, a 360Giving-style grants
//! file and the quarterly disclosure report, each a pure function of the log up to a stated
//! tree size. The node serves them and `ledger-verify export` recomputes them from a raw log;
//! both call this code, so the files are byte for byte the same.
//!
//! A [`Book`] is fed every entry in order (after `State::apply` accepted it); [`render`] then
//! takes the book and the state at the same size. Cash figures only: goods appear in the CSV
//! rows with their item and quantity, not in the money totals.

use crate::encoding::escape_markup;
use crate::entry::VerifiedEntry;
use crate::event::{Event, Quantity};
use crate::rules::State;
use crate::time::{civil_from_days, days_from_civil};
use crate::types::{Kind, Programme};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// UTC+08:00, the zone disclosures are shown in.
pub const CHINA_OFFSET_MS: i64 = 8 * 60 * 60 * 1000;
const MS_PER_DAY: i64 = 24 * 60 * 60 * 1000;
/// Excel and WPS take a CSV as UTF-8 only with this mark; without it they guess GBK.
const UTF8_BOM: &str = "\u{feff}";
/// Hex characters of a commitment shown for an anonymised individual recipient.
const ANONYMISED_HEX_CHARS: usize = 16;
/// Quarters a log may be asked about: years 1970 to 9999, as entry times allow.
const QUARTER_YEAR_MIN: i32 = 1970;
const QUARTER_YEAR_MAX: i32 = 9999;

/// A Unix millisecond time as `YYYY-MM-DD HH:MM:SS +08:00`.
pub fn china_time(ms: i64) -> String {
    let local = ms.saturating_add(CHINA_OFFSET_MS);
    let in_day = local.rem_euclid(MS_PER_DAY);
    match civil_from_days(local.div_euclid(MS_PER_DAY)) {
        Some((y, m, d)) => format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +08:00",
            in_day / 3_600_000,
            in_day / 60_000 % 60,
            in_day / 1000 % 60
        ),
        None => format!("{ms} ms"),
    }
}

/// A Unix millisecond time as the date `YYYY-MM-DD` in UTC+08:00.
pub fn china_date(ms: i64) -> String {
    china_time(ms).chars().take(10).collect()
}

/// Fen as yuan with exactly two decimals and no separators, as spreadsheets read numbers.
pub fn yuan_plain(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// Fen as `¥1,234.56`, for people.
pub fn yuan_text(fen: u64) -> String {
    let digits = (fen / 100).to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("¥{grouped}.{:02}", fen % 100)
}

/// The Chinese name of a programme (the six forms of help, 六助, and the general fund).
pub fn programme_zh(programme: Programme) -> &'static str {
    match programme {
        Programme::Elderly => "助老",
        Programme::Children => "助童",
        Programme::Education => "助学",
        Programme::Medical => "助医",
        Programme::Disability => "助残",
        Programme::Poverty => "助困",
        Programme::General => "综合",
    }
}

/// A calendar quarter in UTC+08:00, e.g. `2024Q1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quarter {
    year: i32,
    q: u32,
}

impl Quarter {
    pub fn parse(text: &str) -> Option<Quarter> {
        let (y, q) = text.split_once('Q')?;
        if y.len() != 4 || q.len() != 1 {
            return None;
        }
        let year: i32 = y.parse().ok()?;
        let q: u32 = q.parse().ok()?;
        ((QUARTER_YEAR_MIN..=QUARTER_YEAR_MAX).contains(&year) && (1..=4).contains(&q))
            .then_some(Quarter { year, q })
    }
    /// The quarter an entry time falls in, in UTC+08:00.
    pub fn of_ms(ms: i64) -> Option<Quarter> {
        let (y, m, _) = civil_from_days(ms.saturating_add(CHINA_OFFSET_MS).div_euclid(MS_PER_DAY))?;
        Some(Quarter { year: y, q: (m - 1) / 3 + 1 })
    }
    /// `[start, end)` in Unix milliseconds.
    pub fn range_ms(self) -> (i64, i64) {
        let start = |y: i32, q: u32| days_from_civil(y, 3 * q - 2, 1) * MS_PER_DAY - CHINA_OFFSET_MS;
        let end = if self.q == 4 { start(self.year + 1, 1) } else { start(self.year, self.q + 1) };
        (start(self.year, self.q), end)
    }
    pub fn label(self) -> String {
        format!("{}Q{}", self.year, self.q)
    }
    fn contains(self, ms: i64) -> bool {
        let (a, b) = self.range_ms();
        (a..b).contains(&ms)
    }
}

/// One export, by the name the node serves it under (`GET /v1/exports/{name}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    Donations,
    Allocations,
    Disbursements,
    Funds,
    Cases,
    Iati,
    Grants360,
    ReportMarkdown(Quarter),
    ReportHtml(Quarter),
}

impl Export {
    /// The exports that do not depend on a quarter.
    pub const FIXED: &'static [Export] = &[
        Export::Donations,
        Export::Allocations,
        Export::Disbursements,
        Export::Funds,
        Export::Cases,
        Export::Iati,
        Export::Grants360,
    ];

    pub fn parse(name: &str) -> Option<Export> {
        if let Some(fixed) = Export::FIXED.iter().find(|e| e.name() == name) {
            return Some(*fixed);
        }
        let rest = name.strip_prefix("report-")?;
        if let Some(q) = rest.strip_suffix(".md") {
            return Quarter::parse(q).map(Export::ReportMarkdown);
        }
        rest.strip_suffix(".html").and_then(Quarter::parse).map(Export::ReportHtml)
    }

    pub fn name(&self) -> String {
        match self {
            Export::Donations => "donations.csv".into(),
            Export::Allocations => "allocations.csv".into(),
            Export::Disbursements => "disbursements.csv".into(),
            Export::Funds => "funds.csv".into(),
            Export::Cases => "cases.csv".into(),
            Export::Iati => "iati.xml".into(),
            Export::Grants360 => "360giving.csv".into(),
            Export::ReportMarkdown(q) => format!("report-{}.md", q.label()),
            Export::ReportHtml(q) => format!("report-{}.html", q.label()),
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Export::Iati => "application/xml; charset=utf-8",
            Export::ReportMarkdown(_) => "text/markdown; charset=utf-8",
            Export::ReportHtml(_) => "text/html; charset=utf-8",
            _ => "text/csv; charset=utf-8",
        }
    }
}

/// One logged event a disclosure reads, with where and when it was logged.
#[derive(Debug, Clone)]
struct Record {
    seq: u64,
    time_ms: i64,
    event: Event,
}

/// The events up to a tree size that disclosures read, in log order.
#[derive(Debug, Clone, Default)]
pub struct Book {
    records: Vec<Record>,
    /// Index in `records` of each fund's and case's opening event, by id.
    opened: HashMap<String, usize>,
    /// Closing seq of each fund and case.
    closed: HashMap<String, u64>,
    size: u64,
    quarters: Vec<Quarter>,
}

impl Book {
    pub fn new() -> Book {
        Book::default()
    }

    /// Takes an entry the state has just accepted.
    pub fn observe(&mut self, entry: &VerifiedEntry) {
        self.size = entry.seq() + 1;
        let time_ms = entry.time().unix_ms();
        if let Some(q) = Quarter::of_ms(time_ms) {
            if self.quarters.last() != Some(&q) {
                self.quarters.push(q);
            }
        }
        let event = entry.event();
        match event {
            Event::FundClosed(b) => {
                self.closed.insert(b.fund.as_str().to_string(), entry.seq());
                return;
            }
            Event::CaseClosed(b) => {
                self.closed.insert(b.case.as_str().to_string(), entry.seq());
                return;
            }
            Event::FundOpened(_) | Event::CaseOpened(_) => {
                self.opened.insert(event.id().as_str().to_string(), self.records.len());
            }
            Event::DonationReceived(_)
            | Event::DonationRefunded(_)
            | Event::DonationCorrected(_)
            | Event::EarmarkRedirected(_)
            | Event::AllocationMade(_)
            | Event::AllocationRevoked(_)
            | Event::DisbursementMade(_)
            | Event::DisbursementReturned(_) => {}
            _ => return,
        }
        self.records.push(Record { seq: entry.seq(), time_ms, event: event.clone() });
    }

    /// Entries observed so far: the tree size the book is at.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The quarters (UTC+08:00) that hold entries, oldest first.
    pub fn quarters(&self) -> &[Quarter] {
        &self.quarters
    }

    /// Every export of this book: the fixed ones and both reports of every quarter.
    pub fn exports(&self) -> Vec<Export> {
        let mut all = Export::FIXED.to_vec();
        for q in &self.quarters {
            all.push(Export::ReportMarkdown(*q));
            all.push(Export::ReportHtml(*q));
        }
        all
    }

    fn opening(&self, id: &str) -> Option<&Event> {
        self.opened.get(id).and_then(|&i| self.records.get(i)).map(|r| &r.event)
    }
}

/// Renders one export of the log at the book's size. `state` must be the state at that size.
pub fn render(export: Export, book: &Book, state: &State) -> Result<Vec<u8>, String> {
    if state.size() != book.size() {
        return Err(format!("the state is at size {}, the book at {}", state.size(), book.size()));
    }
    let origin = Origin::of(state)?;
    let text = match export {
        Export::Donations => donations_csv(book, state, &origin),
        Export::Allocations => allocations_csv(book, state, &origin),
        Export::Disbursements => disbursements_csv(book, state, &origin),
        Export::Funds => funds_csv(book, state, &origin),
        Export::Cases => cases_csv(book, state, &origin),
        Export::Iati => iati_xml(book, state, &origin),
        Export::Grants360 => grants_csv(book, state, &origin),
        Export::ReportMarkdown(q) => report_markdown(&quarter_report(book, state, &origin, q)),
        Export::ReportHtml(q) => report_html(&quarter_report(book, state, &origin, q)),
    };
    Ok(text.into_bytes())
}

/// What every export names: the log, the tree size and the root it was computed at.
#[derive(Clone)]
struct Origin {
    origin: String,
    name: String,
    size: u64,
    root: String,
}

impl Origin {
    fn of(state: &State) -> Result<Origin, String> {
        let info = state.info().ok_or("the log has no genesis: nothing to disclose")?;
        Ok(Origin {
            origin: info.origin.clone(),
            name: info.name.clone(),
            size: state.size(),
            root: state.root().to_base64(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// CSV: UTF-8 with BOM, CRLF, RFC 4180 quoting. The first row names the log, size and root; the
// second is the header; every data row names its seq.

/// One CSV field. Text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) is
/// prefixed with `'`: log text is written by outsiders, and a cell must never execute.
fn field(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if guarded.contains([',', '"', '\r', '\n']) || guarded.starts_with(' ') || guarded.ends_with(' ') {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

struct Csv {
    out: String,
}

impl Csv {
    fn new(origin: &Origin, header: &[&str]) -> Csv {
        let mut csv = Csv { out: UTF8_BOM.to_string() };
        csv.row(&[
            "来源 origin".to_string(),
            origin.origin.clone(),
            "树大小 size".to_string(),
            origin.size.to_string(),
            "根 root".to_string(),
            origin.root.clone(),
        ]);
        csv.row(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
        csv
    }
    fn row(&mut self, cells: &[String]) {
        let line: Vec<String> = cells.iter().map(|c| field(c)).collect();
        self.out.push_str(&line.join(","));
        self.out.push_str("\r\n");
    }
}

fn opt(s: Option<&str>) -> String {
    s.unwrap_or("").to_string()
}

/// Cash and goods columns of a movement: amount in yuan, or item and quantity.
fn quantity_cells(q: Option<Quantity<'_>>) -> [String; 3] {
    match q {
        Some(Quantity::Cash(fen)) => [yuan_plain(fen), String::new(), String::new()],
        Some(Quantity::Goods { item, quantity }) => [String::new(), item.to_string(), quantity.to_string()],
        None => [String::new(), String::new(), String::new()],
    }
}

fn cash(q: Option<Quantity<'_>>) -> u64 {
    match q {
        Some(Quantity::Cash(fen)) => fen,
        _ => 0,
    }
}

/// The fund or case a donation was received into, and its programme.
fn donation_home(state: &State, donation: &str) -> (String, String, Option<Programme>) {
    match state.donation_origin(donation) {
        Some((Kind::FundOpened, id)) => {
            let p = state.fund_programme(&id).map(|(p, _)| p);
            ("fund".into(), id, p)
        }
        Some((_, id)) => {
            let p = state.case_programme(&id);
            ("case".into(), id, p)
        }
        None => (String::new(), String::new(), None),
    }
}

fn programme_cell(p: Option<Programme>) -> String {
    p.map(|p| p.as_str().to_string()).unwrap_or_default()
}

fn head(r: &Record) -> [String; 5] {
    [
        r.seq.to_string(),
        china_time(r.time_ms),
        r.event.at().as_str().to_string(),
        r.event.kind().as_str().to_string(),
        r.event.id().as_str().to_string(),
    ]
}

const HEAD: [&str; 5] = ["序号 seq", "记账时间 entry_time", "发生时间 at", "类型 kind", "编号 id"];

fn donations_csv(book: &Book, state: &State, origin: &Origin) -> String {
    let mut header = HEAD.to_vec();
    header.extend([
        "捐赠 donation",
        "去向类型 to_kind",
        "去向 to",
        "项目类别 programme",
        "金额(元) amount_yuan",
        "物品 item",
        "数量 quantity",
        "渠道 channel",
        "捐赠人承诺值 donor_commitment",
        "单位捐赠人 donor_name",
        "票据哈希 reference",
        "原因 reason",
    ]);
    let mut csv = Csv::new(origin, &header);
    for r in &book.records {
        let (donation, reason, extra): (&str, &str, [String; 4]) = match &r.event {
            Event::DonationReceived(b) => (
                b.id.as_str(),
                "",
                [
                    b.channel.as_str().to_string(),
                    b.donor.map(|d| d.0.to_hex()).unwrap_or_default(),
                    opt(b.donor_name.as_ref().map(|t| t.as_str())),
                    b.reference.map(|d| d.0.to_hex()).unwrap_or_default(),
                ],
            ),
            Event::DonationRefunded(b) => (b.donation.as_str(), b.reason.as_str(), Default::default()),
            Event::DonationCorrected(b) => (b.donation.as_str(), b.reason.as_str(), Default::default()),
            Event::EarmarkRedirected(b) => (b.donation.as_str(), b.reason.as_str(), Default::default()),
            _ => continue,
        };
        let (to_kind, to, programme) = match &r.event {
            Event::EarmarkRedirected(b) => {
                let id = b.fund.as_str().to_string();
                let p = state.fund_programme(&id).map(|(p, _)| p);
                ("fund".to_string(), id, p)
            }
            _ => donation_home(state, donation),
        };
        let mut row: Vec<String> = head(r).to_vec();
        row.extend([donation.to_string(), to_kind, to, programme_cell(programme)]);
        row.extend(quantity_cells(r.event.quantity()));
        row.extend(extra);
        row.push(reason.to_string());
        csv.row(&row);
    }
    csv.out
}

fn allocations_csv(book: &Book, state: &State, origin: &Origin) -> String {
    let mut header = HEAD.to_vec();
    header.extend([
        "拨付 allocation",
        "基金 fund",
        "个案 case",
        "项目类别 programme",
        "金额(元) amount_yuan",
        "物品 item",
        "数量 quantity",
        "决定或原因 decision_or_reason",
    ]);
    let mut csv = Csv::new(origin, &header);
    for r in &book.records {
        let (allocation, text) = match &r.event {
            Event::AllocationMade(b) => (b.id.as_str(), b.decision.as_str()),
            Event::AllocationRevoked(b) => (b.allocation.as_str(), b.reason.as_str()),
            _ => continue,
        };
        let (fund, case) = state.allocation_parties(allocation).unwrap_or_default();
        let programme = state.case_programme(&case);
        let mut row: Vec<String> = head(r).to_vec();
        row.extend([allocation.to_string(), fund, case, programme_cell(programme)]);
        row.extend(quantity_cells(r.event.quantity()));
        row.push(text.to_string());
        csv.row(&row);
    }
    csv.out
}

fn disbursements_csv(book: &Book, state: &State, origin: &Origin) -> String {
    let mut header = HEAD.to_vec();
    header.extend([
        "支付 disbursement",
        "个案 case",
        "项目类别 programme",
        "金额(元) amount_yuan",
        "物品 item",
        "数量 quantity",
        "方式 method",
        "收款人承诺值 payee_commitment",
        "收款单位 payee_vendor",
        "凭证哈希 evidence",
        "原因 reason",
    ]);
    let mut csv = Csv::new(origin, &header);
    for r in &book.records {
        let (disbursement, case, extra, reason) = match &r.event {
            Event::DisbursementMade(b) => (
                b.id.as_str().to_string(),
                b.case.as_str().to_string(),
                [
                    b.method.as_str().to_string(),
                    b.payee.commitment.map(|c| c.0.to_hex()).unwrap_or_default(),
                    opt(b.payee.vendor.as_ref().map(|t| t.as_str())),
                    b.evidence.iter().map(|e| e.0.to_hex()).collect::<Vec<_>>().join(" "),
                ],
                "",
            ),
            Event::DisbursementReturned(b) => (
                b.disbursement.as_str().to_string(),
                state.disbursement_case(b.disbursement.as_str()).unwrap_or_default(),
                Default::default(),
                b.reason.as_str(),
            ),
            _ => continue,
        };
        let programme = state.case_programme(&case);
        let mut row: Vec<String> = head(r).to_vec();
        row.extend([disbursement, case, programme_cell(programme)]);
        row.extend(quantity_cells(r.event.quantity()));
        row.extend(extra);
        row.push(reason.to_string());
        csv.row(&row);
    }
    csv.out
}

fn goods_text(goods: &BTreeMap<String, u64>) -> String {
    goods.iter().map(|(item, n)| format!("{item}:{n}")).collect::<Vec<_>>().join("; ")
}

fn funds_csv(book: &Book, state: &State, origin: &Origin) -> String {
    let mut csv = Csv::new(
        origin,
        &[
            "序号 seq",
            "编号 id",
            "名称 name",
            "项目类别 programme",
            "限定用途 restricted",
            "冠名方 sponsor",
            "设立时间 opened_at",
            "期初余额(元) opening_balance_yuan",
            "已关闭 closed",
            "关闭序号 closed_seq",
            "现金余额(元) cash_balance_yuan",
            "物资余额 goods_balance",
        ],
    );
    for r in &book.records {
        let Event::FundOpened(b) = &r.event else { continue };
        let Some(balance) = state.fund(b.id.as_str()) else { continue };
        csv.row(&[
            r.seq.to_string(),
            b.id.as_str().to_string(),
            b.name.as_str().to_string(),
            b.programme.as_str().to_string(),
            b.restricted.to_string(),
            opt(b.sponsor.as_ref().map(|t| t.as_str())),
            china_time(r.time_ms),
            yuan_plain(b.opening_balance_fen.get()),
            balance.closed.to_string(),
            book.closed.get(b.id.as_str()).map(u64::to_string).unwrap_or_default(),
            yuan_plain(balance.cash_fen),
            goods_text(&balance.goods),
        ]);
    }
    csv.out
}

fn cases_csv(book: &Book, state: &State, origin: &Origin) -> String {
    let mut csv = Csv::new(
        origin,
        &[
            "序号 seq",
            "编号 id",
            "项目类别 programme",
            "受助人承诺值 beneficiary_commitment",
            "地区 region",
            "摘要 summary",
            "申请金额(元) requested_yuan",
            "立案时间 opened_at",
            "已关闭 closed",
            "关闭序号 closed_seq",
            "现金余额(元) cash_balance_yuan",
            "物资余额 goods_balance",
        ],
    );
    for r in &book.records {
        let Event::CaseOpened(b) = &r.event else { continue };
        let Some(view) = state.case(b.id.as_str()) else { continue };
        csv.row(&[
            r.seq.to_string(),
            b.id.as_str().to_string(),
            b.programme.as_str().to_string(),
            b.beneficiary.0.to_hex(),
            b.region.as_str().to_string(),
            b.summary.as_str().to_string(),
            yuan_plain(b.requested_fen.get()),
            china_time(r.time_ms),
            view.balance.closed.to_string(),
            book.closed.get(b.id.as_str()).map(u64::to_string).unwrap_or_default(),
            yuan_plain(view.balance.cash_fen),
            goods_text(&view.balance.goods),
        ]);
    }
    csv.out
}

// ---------------------------------------------------------------------------------------------
// IATI-style activity file: one activity per programme, cash transactions only.

/// IATI transaction-type codes (codelist TransactionType).
const IATI_INCOMING_FUNDS: u8 = 1;
const IATI_OUTGOING_COMMITMENT: u8 = 2;
const IATI_DISBURSEMENT: u8 = 3;
const IATI_EXPENDITURE: u8 = 4;

/// One cash movement attributed to a programme, with its sign.
struct Flow {
    seq: u64,
    time_ms: i64,
    id: String,
    kind: Kind,
    programme: Programme,
    code: u8,
    fen: u64,
    /// A reversal (refund, correction, revocation, return): a negative transaction.
    negative: bool,
}

/// Every cash movement, attributed to the programme it belongs to. The mapping to IATI types:
/// gifts and opening balances are incoming funds (1), allocations to a case are outgoing
/// commitments (2), payments to a person are disbursements (3), payments to a supplier are
/// expenditure (4); refunds, corrections, revocations and returns are the same type negated.
/// A redirected earmark leaves its case's programme and enters the fund's.
fn flows(book: &Book, state: &State) -> Vec<Flow> {
    let mut out = Vec::new();
    for r in &book.records {
        let fen = cash(r.event.quantity());
        if fen == 0 {
            continue;
        }
        let mut push = |programme: Option<Programme>, code: u8, negative: bool| {
            if let Some(programme) = programme {
                out.push(Flow {
                    seq: r.seq,
                    time_ms: r.time_ms,
                    id: r.event.id().as_str().to_string(),
                    kind: r.event.kind(),
                    programme,
                    code,
                    fen,
                    negative,
                });
            }
        };
        let fund_p = |id: &str| state.fund_programme(id).map(|(p, _)| p);
        let alloc_p = |id: &str| state.allocation_parties(id).and_then(|(_, c)| state.case_programme(&c));
        match &r.event {
            Event::FundOpened(b) => push(Some(b.programme), IATI_INCOMING_FUNDS, false),
            Event::DonationReceived(b) => {
                push(donation_home(state, b.id.as_str()).2, IATI_INCOMING_FUNDS, false)
            }
            Event::DonationRefunded(b) => {
                push(donation_home(state, b.donation.as_str()).2, IATI_INCOMING_FUNDS, true)
            }
            Event::DonationCorrected(b) => {
                push(donation_home(state, b.donation.as_str()).2, IATI_INCOMING_FUNDS, true)
            }
            Event::EarmarkRedirected(b) => {
                push(donation_home(state, b.donation.as_str()).2, IATI_INCOMING_FUNDS, true);
                push(fund_p(b.fund.as_str()), IATI_INCOMING_FUNDS, false);
            }
            Event::AllocationMade(b) => push(alloc_p(b.id.as_str()), IATI_OUTGOING_COMMITMENT, false),
            Event::AllocationRevoked(b) => {
                push(alloc_p(b.allocation.as_str()), IATI_OUTGOING_COMMITMENT, true)
            }
            Event::DisbursementMade(b) => {
                let code = if b.payee.vendor.is_some() { IATI_EXPENDITURE } else { IATI_DISBURSEMENT };
                push(state.case_programme(b.case.as_str()), code, false)
            }
            Event::DisbursementReturned(b) => {
                let made = book
                    .records
                    .iter()
                    .find(|x| x.event.id().as_str() == b.disbursement.as_str())
                    .map(|x| &x.event);
                let code = match made {
                    Some(Event::DisbursementMade(m)) if m.payee.vendor.is_some() => IATI_EXPENDITURE,
                    _ => IATI_DISBURSEMENT,
                };
                let case = state.disbursement_case(b.disbursement.as_str()).unwrap_or_default();
                push(state.case_programme(&case), code, true)
            }
            _ => {}
        }
    }
    out
}

fn signed_yuan(fen: u64, negative: bool) -> String {
    format!("{}{}", if negative { "-" } else { "" }, yuan_plain(fen))
}

fn iati_xml(book: &Book, state: &State, origin: &Origin) -> String {
    let all = flows(book, state);
    let generated = book.records.last().map(|r| r.time_ms).or(Some(state.last_time_ms())).unwrap_or(0);
    let iso = |ms: i64| {
        crate::time::EntryTime::from_unix_ms(ms).map(|t| t.as_str().to_string()).unwrap_or_default()
    };
    let mut x = String::new();
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        x,
        "<!-- charity-ledger export: origin {} size {} root {} -->",
        escape_markup(&origin.origin),
        origin.size,
        escape_markup(&origin.root)
    );
    let _ = writeln!(x, r#"<iati-activities version="2.03" generated-datetime="{}">"#, iso(generated));
    for programme in Programme::ALL {
        let mine: Vec<&Flow> = all.iter().filter(|f| f.programme == *programme).collect();
        if mine.is_empty() {
            continue;
        }
        let _ = writeln!(x, r#"  <iati-activity default-currency="CNY" xml:lang="zh">"#);
        let _ = writeln!(
            x,
            "    <iati-identifier>{}-{}</iati-identifier>",
            escape_markup(&origin.origin),
            programme
        );
        let _ = writeln!(
            x,
            r#"    <reporting-org ref="{}" type="22"><narrative>{}</narrative></reporting-org>"#,
            escape_markup(&origin.origin),
            escape_markup(&origin.name)
        );
        let _ = writeln!(
            x,
            r#"    <title><narrative>{}</narrative><narrative xml:lang="en">{}</narrative></title>"#,
            programme_zh(*programme),
            programme
        );
        let _ = writeln!(x, r#"    <activity-status code="2"/>"#);
        for f in mine {
            let date = china_date(f.time_ms);
            let _ = writeln!(x, r#"    <transaction ref="{}">"#, escape_markup(&f.id));
            let _ = writeln!(x, r#"      <transaction-type code="{}"/>"#, f.code);
            let _ = writeln!(x, r#"      <transaction-date iso-date="{date}"/>"#);
            let _ = writeln!(
                x,
                r#"      <value currency="CNY" value-date="{date}">{}</value>"#,
                signed_yuan(f.fen, f.negative)
            );
            let _ = writeln!(
                x,
                "      <description><narrative xml:lang=\"en\">seq {} {} {}</narrative></description>",
                f.seq,
                f.kind,
                escape_markup(&f.id)
            );
            let _ = writeln!(x, "    </transaction>");
        }
        let _ = writeln!(x, "  </iati-activity>");
    }
    let _ = writeln!(x, "</iati-activities>");
    x
}

// ---------------------------------------------------------------------------------------------
// 360Giving-style grants: one row per allocation to a case, the recipient anonymised.

fn grants_csv(book: &Book, state: &State, origin: &Origin) -> String {
    let mut csv = Csv::new(
        origin,
        &[
            "Identifier",
            "Title",
            "Description",
            "Currency",
            "Amount Awarded",
            "Award Date",
            "Recipient Org:Identifier",
            "Recipient Org:Name",
            "Funding Org:Identifier",
            "Funding Org:Name",
            "Grant Programme:Title",
            "Beneficiary Location:Name",
            "Last modified",
            "Ledger seq",
            "Amount Revoked",
        ],
    );
    let mut revoked: HashMap<&str, u64> = HashMap::new();
    for r in &book.records {
        if let Event::AllocationRevoked(b) = &r.event {
            *revoked.entry(b.allocation.as_str()).or_default() += cash(r.event.quantity());
        }
    }
    for r in &book.records {
        let Event::AllocationMade(b) = &r.event else { continue };
        let fen = cash(r.event.quantity());
        if fen == 0 {
            continue;
        }
        let (beneficiary, region, programme) = match book.opening(b.case.as_str()) {
            Some(Event::CaseOpened(c)) => {
                (c.beneficiary.0.to_hex(), c.region.as_str().to_string(), Some(c.programme))
            }
            _ => (String::new(), String::new(), state.case_programme(b.case.as_str())),
        };
        let programme_title =
            programme.map(|p| format!("{} {}", programme_zh(p), p.as_str())).unwrap_or_default();
        csv.row(&[
            format!("{}-{}", origin.origin.replace('/', "-"), b.id.as_str()),
            format!("拨付 allocation to case {}", b.case.as_str()),
            b.decision.as_str().to_string(),
            "CNY".to_string(),
            yuan_plain(fen),
            r.event.at().as_str().chars().take(10).collect(),
            format!("individual-{}", &beneficiary[..ANONYMISED_HEX_CHARS.min(beneficiary.len())]),
            "个人受助人 Individual beneficiary".to_string(),
            origin.origin.clone(),
            origin.name.clone(),
            programme_title,
            region,
            crate::time::EntryTime::from_unix_ms(r.time_ms)
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            r.seq.to_string(),
            yuan_plain(revoked.get(b.id.as_str()).copied().unwrap_or(0)),
        ]);
    }
    csv.out
}

// ---------------------------------------------------------------------------------------------
// The quarterly disclosure report: one model, written as Markdown and as HTML.

/// A figure and the seqs of the entries that make it.
#[derive(Debug, Clone, Default)]
struct Figure {
    fen: u64,
    seqs: Vec<u64>,
}

impl Figure {
    fn add(&mut self, seq: u64, fen: u64) {
        self.fen = self.fen.saturating_add(fen);
        if self.seqs.last() != Some(&seq) {
            self.seqs.push(seq);
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Line {
    raised: Figure,
    refunded: Figure,
    corrected: Figure,
    allocated: Figure,
    revoked: Figure,
    disbursed: Figure,
    returned: Figure,
    /// Cash held at the report's size (traceable through `/v1/balances?size=`).
    balance_fen: u64,
}

/// Which figure of a line an entry adds to.
type Pick = fn(&mut Line) -> &mut Figure;

struct QuarterReport {
    origin: Origin,
    quarter: Quarter,
    range: (i64, i64),
    /// First and last seq logged in the quarter.
    seqs: Option<(u64, u64)>,
    total: Line,
    programmes: Vec<(Programme, Line)>,
    funds: Vec<(String, String, Line)>,
}

fn quarter_report(book: &Book, state: &State, origin: &Origin, quarter: Quarter) -> QuarterReport {
    let mut total = Line::default();
    let mut programmes: BTreeMap<Programme, Line> = BTreeMap::new();
    let mut funds: BTreeMap<String, Line> = BTreeMap::new();
    let mut first_last: Option<(u64, u64)> = None;
    for r in book.records.iter().filter(|r| quarter.contains(r.time_ms)) {
        first_last = Some(first_last.map_or((r.seq, r.seq), |(a, _)| (a, r.seq)));
        let fen = cash(r.event.quantity());
        if fen == 0 {
            continue;
        }
        // Which figure the entry adds to, for the programme and (if any) the fund.
        let (pick, programme, fund): (Pick, Option<Programme>, Option<String>) = match &r.event {
            Event::DonationReceived(b) => {
                let (to_kind, to, p) = donation_home(state, b.id.as_str());
                (|l| &mut l.raised, p, (to_kind == "fund").then_some(to))
            }
            Event::DonationRefunded(b) => {
                let (to_kind, to, p) = donation_home(state, b.donation.as_str());
                (|l| &mut l.refunded, p, (to_kind == "fund").then_some(to))
            }
            Event::DonationCorrected(b) => {
                let (to_kind, to, p) = donation_home(state, b.donation.as_str());
                (|l| &mut l.corrected, p, (to_kind == "fund").then_some(to))
            }
            Event::AllocationMade(b) => {
                let (f, c) = state.allocation_parties(b.id.as_str()).unwrap_or_default();
                (|l| &mut l.allocated, state.case_programme(&c), Some(f))
            }
            Event::AllocationRevoked(b) => {
                let (f, c) = state.allocation_parties(b.allocation.as_str()).unwrap_or_default();
                (|l| &mut l.revoked, state.case_programme(&c), Some(f))
            }
            Event::DisbursementMade(b) => (|l| &mut l.disbursed, state.case_programme(b.case.as_str()), None),
            Event::DisbursementReturned(b) => {
                let c = state.disbursement_case(b.disbursement.as_str()).unwrap_or_default();
                (|l| &mut l.returned, state.case_programme(&c), None)
            }
            _ => continue,
        };
        pick(&mut total).add(r.seq, fen);
        if let Some(p) = programme {
            pick(programmes.entry(p).or_default()).add(r.seq, fen);
        }
        if let Some(f) = fund {
            pick(funds.entry(f).or_default()).add(r.seq, fen);
        }
    }
    let balances = state.balances();
    total.balance_fen = balances.totals.held_in_funds_fen.saturating_add(balances.totals.held_in_cases_fen);
    for (id, f) in &balances.funds {
        let line = programmes.entry(f.programme).or_default();
        line.balance_fen = line.balance_fen.saturating_add(f.cash_fen);
        if f.cash_fen > 0 || funds.contains_key(id) {
            funds.entry(id.clone()).or_default().balance_fen = f.cash_fen;
        }
    }
    for c in balances.cases.values() {
        let line = programmes.entry(c.programme).or_default();
        line.balance_fen = line.balance_fen.saturating_add(c.cash_fen);
    }
    let fund_name = |id: &str| match book.opening(id) {
        Some(Event::FundOpened(b)) => b.name.as_str().to_string(),
        _ => String::new(),
    };
    QuarterReport {
        origin: origin.clone(),
        quarter,
        range: quarter.range_ms(),
        seqs: first_last,
        total,
        programmes: programmes.into_iter().collect(),
        funds: funds.into_iter().map(|(id, l)| (fund_name(&id), id, l)).collect(),
    }
}

/// `[1, 2, 3, 7]` → `1–3, 7`.
fn seq_ranges(seqs: &[u64]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < seqs.len() {
        let start = seqs[i];
        let mut end = start;
        while i + 1 < seqs.len() && seqs[i + 1] == end + 1 {
            i += 1;
            end = seqs[i];
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}–{end}") });
        i += 1;
    }
    parts.join(", ")
}

/// A report table cell: a figure with a footnote number (its seqs), or plain text.
enum Cell {
    Text(String),
    Figure(u64, Option<usize>),
}

/// The report's tables, with footnotes numbered in order of appearance.
struct Layout {
    header: Vec<String>,
    tables: Vec<(String, Vec<String>, Vec<Vec<Cell>>)>,
    notes: Vec<String>,
}

fn layout(r: &QuarterReport) -> Layout {
    let mut notes: Vec<String> = Vec::new();
    let mut fig = |f: &Figure| -> Cell {
        if f.seqs.is_empty() {
            return Cell::Figure(f.fen, None);
        }
        notes.push(seq_ranges(&f.seqs));
        Cell::Figure(f.fen, Some(notes.len()))
    };
    let columns: Vec<String> = [
        "募集 raised",
        "退款 refunded",
        "更正 corrected",
        "拨付 allocated",
        "撤回 revoked",
        "支出 used (disbursed)",
        "退回 returned",
        "结余 balance",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut row = |label: Vec<Cell>, l: &Line| -> Vec<Cell> {
        let mut cells = label;
        for f in [&l.raised, &l.refunded, &l.corrected, &l.allocated, &l.revoked, &l.disbursed, &l.returned] {
            cells.push(fig(f));
        }
        cells.push(Cell::Figure(l.balance_fen, None));
        cells
    };
    let mut tables = Vec::new();
    let mut head = vec!["".to_string()];
    head.extend(columns.iter().cloned());
    tables.push(("合计 Totals".to_string(), head, vec![row(vec![Cell::Text("全部 all".into())], &r.total)]));
    let mut head = vec!["项目类别 programme".to_string()];
    head.extend(columns.iter().cloned());
    let rows = r
        .programmes
        .iter()
        .map(|(p, l)| row(vec![Cell::Text(format!("{} {}", programme_zh(*p), p))], l))
        .collect();
    tables.push(("按项目类别 By programme".to_string(), head, rows));
    let mut head = vec!["基金 fund".to_string(), "编号 id".to_string()];
    head.extend(columns.iter().cloned());
    let rows = r
        .funds
        .iter()
        .map(|(name, id, l)| row(vec![Cell::Text(name.clone()), Cell::Text(id.clone())], l))
        .collect();
    tables.push(("按基金 By fund".to_string(), head, rows));
    let (start, end) = r.range;
    let header = vec![
        format!("机构 Organisation: {}", r.origin.name),
        format!("日志 Log: {}", r.origin.origin),
        format!(
            "期间 Period: {} 至 to {} (UTC+08:00, by entry time 按记账时间)",
            china_time(start),
            china_time(end.saturating_sub(1))
        ),
        match r.seqs {
            Some((a, b)) => format!("本季度资金、基金与个案记账序号 Seqs of the quarter's money, fund and case entries: {a}–{b}"),
            None => "本季度无资金记账 No money, fund or case entries were logged in the quarter".to_string(),
        },
        format!(
            "计算依据 Computed from the log at tree size {} with root {}; 结余为该树大小时的数额 balances are as at that size (`/v1/balances?size={}`).",
            r.origin.size, r.origin.root, r.origin.size
        ),
        "金额为现金，单位元；实物不计入 Cash only, in yuan; goods are not counted. 每个数字的脚注列出构成它的记账序号 Each figure's footnote lists the seqs that make it."
            .to_string(),
        format!(
            "复核 Reproduce: `ledger-verify export log.jsonl --size {} --format report-{}.md`",
            r.origin.size,
            r.quarter.label()
        ),
    ];
    Layout { header, tables, notes }
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

fn report_markdown(r: &QuarterReport) -> String {
    let l = layout(r);
    let mut out = String::new();
    let _ = writeln!(out, "# 信息公开季度报告 Quarterly disclosure report {}\n", r.quarter.label());
    for h in &l.header {
        let _ = writeln!(out, "- {}", md_escape(h));
    }
    for (title, head, rows) in &l.tables {
        let _ = writeln!(out, "\n## {title}\n");
        let _ = writeln!(out, "| {} |", head.iter().map(|h| md_escape(h)).collect::<Vec<_>>().join(" | "));
        let _ = writeln!(out, "|{}", head.iter().map(|_| "---|").collect::<String>());
        for row in rows {
            let cells: Vec<String> = row
                .iter()
                .map(|c| match c {
                    Cell::Text(t) => md_escape(t),
                    Cell::Figure(fen, None) => yuan_text(*fen),
                    Cell::Figure(fen, Some(n)) => format!("{} [^{n}]", yuan_text(*fen)),
                })
                .collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    }
    if !l.notes.is_empty() {
        let _ = writeln!(out, "\n## 脚注 Notes: seqs of each figure\n");
        for (i, n) in l.notes.iter().enumerate() {
            let _ = writeln!(out, "[^{}]: seq {n}", i + 1);
        }
    }
    out
}

fn report_html(r: &QuarterReport) -> String {
    let l = layout(r);
    let e = escape_markup;
    let mut out = String::new();
    let title = format!("信息公开季度报告 Quarterly disclosure report {}", r.quarter.label());
    let _ = writeln!(out, "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">");
    let _ = writeln!(out, "<title>{}</title>", e(&title));
    let _ = writeln!(
        out,
        "<style>body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}\
         th,td{{border:1px solid #bbb;padding:.3em .6em}}td.n{{text-align:right;white-space:nowrap}}\
         sup a{{text-decoration:none}}</style>\n</head>\n<body>"
    );
    let _ = writeln!(out, "<h1>{}</h1>\n<ul>", e(&title));
    for h in &l.header {
        let _ = writeln!(out, "<li>{}</li>", e(h));
    }
    let _ = writeln!(out, "</ul>");
    for (title, head, rows) in &l.tables {
        let _ = writeln!(
            out,
            "<h2>{}</h2>\n<table>\n<tr>{}</tr>",
            e(title),
            head.iter().map(|h| format!("<th>{}</th>", e(h))).collect::<String>()
        );
        for row in rows {
            let cells: String = row
                .iter()
                .map(|c| match c {
                    Cell::Text(t) => format!("<td>{}</td>", e(t)),
                    Cell::Figure(fen, None) => format!("<td class=\"n\">{}</td>", yuan_text(*fen)),
                    Cell::Figure(fen, Some(n)) => {
                        format!(
                            "<td class=\"n\">{}<sup><a href=\"#n{n}\">[{n}]</a></sup></td>",
                            yuan_text(*fen)
                        )
                    }
                })
                .collect();
            let _ = writeln!(out, "<tr>{cells}</tr>");
        }
        let _ = writeln!(out, "</table>");
    }
    if !l.notes.is_empty() {
        let _ = writeln!(out, "<h2>脚注 Notes: seqs of each figure</h2>\n<ol>");
        for (i, n) in l.notes.iter().enumerate() {
            let _ = writeln!(out, "<li id=\"n{}\">seq {}</li>", i + 1, e(n));
        }
        let _ = writeln!(out, "</ol>");
    }
    let _ = writeln!(out, "</body>\n</html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_follow_china_time() {
        let q = Quarter::parse("2024Q1").expect("quarter");
        let (start, end) = q.range_ms();
        assert_eq!(china_time(start), "2024-01-01 00:00:00 +08:00");
        assert_eq!(china_time(end), "2024-04-01 00:00:00 +08:00");
        assert_eq!(Quarter::of_ms(start - 1).map(Quarter::label).as_deref(), Some("2023Q4"));
        assert_eq!(Quarter::of_ms(start).map(Quarter::label).as_deref(), Some("2024Q1"));
        assert!(Quarter::parse("2024Q5").is_none());
        assert!(Quarter::parse("24Q1").is_none());
    }

    #[test]
    fn export_names_round_trip() {
        for name in ["donations.csv", "iati.xml", "360giving.csv", "report-2025Q3.md", "report-2025Q3.html"] {
            assert_eq!(Export::parse(name).map(|e| e.name()).as_deref(), Some(name));
        }
        assert!(Export::parse("report-2025Q3.pdf").is_none());
        assert!(Export::parse("../etc/passwd").is_none());
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("+1"), "'+1");
    }

    #[test]
    fn figures_in_yuan() {
        assert_eq!(yuan_plain(123_456), "1234.56");
        assert_eq!(yuan_plain(5), "0.05");
        assert_eq!(yuan_text(123_456_789), "¥1,234,567.89");
        assert_eq!(seq_ranges(&[1, 2, 3, 7, 9, 10]), "1–3, 7, 9–10");
    }
}
