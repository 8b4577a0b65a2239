//! A deterministic county charity year (CONTEXT.md): about 70,000 signed events from genesis to
//! the year-end closings, for the demo node and for the verifier's tests.
//!
//! Why a generator and not a fixture file: the demo has to go through the node's real append
//! path (signatures, rules, dual control, the audit sample's seed root), and the tests need the
//! same history without a node. Both must see byte-identical envelopes for one configuration,
//! so everything here is derived from the seed: keys, salts, amounts and times. There is no
//! clock and no OS randomness; a SplitMix64 stream stands in for `rand`, so the crate needs no
//! new dependency and the stream cannot change under us with a dependency upgrade.
//!
//! Why it applies what it writes: the generator runs every event through
//! [`VerifiedEntry::new`] and [`State::apply`] as it goes, so it can only ever emit a history
//! the ledger accepts, plans with the balances the rules will see, and can compute the audit
//! sample, whose selection depends on the root of the log at the plan's seed size (and so on
//! every entry's bytes, times included). A refusal here is a bug in this file or in the rules,
//! never an input error, and it panics with the event that failed.
//!
//! Why bodies are written by hand: `serde_json`'s map order depends on a cargo feature
//! (`preserve_order`) that another crate in a build may switch on; writing the JSON text here
//! keeps the payload bytes, and so every signature and hash, the same in every build.
//!
//! Everything personal is invented: resident ID numbers use area code 99, which no place has,
//! so none can be anyone's; the company, town and school names are made up for the demo (any
//! likeness to a real one is accidental). Identities never enter a body: only their salted
//! commitments do, as SPEC.md §2 requires.

use crate::commitment::commitment_raw;
use crate::dsse::{key_hex, Envelope};
use crate::entry::VerifiedEntry;
use crate::hash::sha256;
use crate::refusal::{Refusal, Rule};
use crate::rules::{PortionPlace, State};
use crate::sample::selected_hash;
use crate::text::is_valid_origin;
use crate::time::{civil_from_days, days_from_civil, EntryTime};
use crate::types::{Kind, Programme};
use ed25519_dalek::SigningKey;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;

/// The genesis policy's dual-control threshold: ¥50,000, in fen.
pub const DUAL_CONTROL_FEN: u64 = 5_000_000;
/// The genesis policy's smallest audit rate: the county's "at least 10%" spot check.
pub const MIN_AUDIT_PERMILLE: u32 = 100;
/// The genesis policy's backdating allowance, in days.
pub const MAX_BACKDATE_DAYS: u32 = 30;
/// Largest accepted `scale`: beyond it the history no longer fits in memory comfortably
/// (about 1 KiB per event), and ids would need wider numbers.
pub const SCALE_MAX: u32 = 1000;
/// Years the scenario can depict: entry times must stay within what `EntryTime` writes, with
/// room for the +08:00 offset on both sides.
pub const YEAR_MIN: i32 = 1971;
pub const YEAR_MAX: i32 = 9998;

const SECOND_MS: i64 = 1000;
const MINUTE_MS: i64 = 60 * SECOND_MS;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
/// The county keeps China Standard Time; every `at` is written in it.
const UTC_OFFSET_MS: i64 = 8 * HOUR_MS;
const YUAN: u64 = 100;

/// Volumes at scale 1, chosen so that a year comes to about 70,000 events (CONTEXT.md):
/// about 20,000 gifts, 5,000 cases and 40,000 aid instalments.
const SMALL_GIFTS: u64 = 18_300;
const COMPANY_GIFTS: u64 = 280;
const GOODS_GIFTS: u64 = 420;
const EARMARKED_GIFTS: u64 = 1_000;
const CASES: u64 = 5_200;
/// A case not funded after this many weekly attempts is referred elsewhere and closed.
const ALLOCATION_ATTEMPTS_MAX: u32 = 5;
/// Share of finished cases the caseworkers close before the year ends, per mille.
const CLOSE_FINISHED_PERMILLE: u64 = 700;

/// What to generate. `scale` multiplies the volume of gifts, cases and payments (and the
/// opening balances that keep them funded); the one-off stories (refunds, complaints, the
/// audit) happen once whatever the scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioConfig {
    pub seed: u64,
    /// At least 1, at most [`SCALE_MAX`].
    pub scale: u32,
    /// The log's origin, written into genesis.
    pub origin: String,
    /// The calendar year depicted, e.g. 2026.
    pub year: i32,
}

impl Default for ScenarioConfig {
    fn default() -> ScenarioConfig {
        ScenarioConfig { seed: 1, scale: 1, origin: "lanling-charity.example/ledger".into(), year: 2026 }
    }
}

impl ScenarioConfig {
    /// Checks what [`generate`] relies on, so that a command line can refuse a bad value with
    /// a message instead of the generator panicking halfway through a year.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=SCALE_MAX).contains(&self.scale) {
            return Err(format!("scale must be 1 to {SCALE_MAX}, not {}", self.scale));
        }
        if !is_valid_origin(&self.origin) {
            return Err(format!("origin {:?} is not a log name (SPEC.md §4)", self.origin));
        }
        if !(YEAR_MIN..=YEAR_MAX).contains(&self.year) {
            return Err(format!("year must be {YEAR_MIN} to {YEAR_MAX}, not {}", self.year));
        }
        Ok(())
    }
}

/// The scenario's keys, one per desk of the federation, derived from the seed so that the demo
/// node, the verifier tests and a re-run all sign with the same keys. Derivation is
/// `SHA-256(domain || seed || label)`, so adding a desk later leaves the others unchanged.
pub struct RoleKeys {
    admins: [SigningKey; 2],
    log: SigningKey,
    /// `intake-1` and `intake-2` from the start; `intake-3` is granted at the mid-year key
    /// rotation, when `intake-1` is revoked.
    intake: [SigningKey; 3],
    caseworker: SigningKey,
    allocators: [SigningKey; 2],
    disbursers: [SigningKey; 2],
    hotline: SigningKey,
    auditor: SigningKey,
}

const KEY_DOMAIN: &[u8] = b"charity-ledger/scenario/key/v1\n";

impl RoleKeys {
    pub fn derive(seed: u64) -> RoleKeys {
        let k = |label: &str| {
            SigningKey::from_bytes(&sha256(&[KEY_DOMAIN, &seed.to_be_bytes(), label.as_bytes()]).0)
        };
        RoleKeys {
            admins: [k("admin-1"), k("admin-2")],
            log: k("log"),
            intake: [k("intake-1"), k("intake-2"), k("intake-3")],
            caseworker: k("caseworker"),
            allocators: [k("allocator-1"), k("allocator-2")],
            disbursers: [k("disburser-1"), k("disburser-2")],
            hotline: k("hotline"),
            auditor: k("auditor"),
        }
    }
    pub fn admins(&self) -> &[SigningKey] {
        &self.admins
    }
    /// The key that signs the log's checkpoints (it holds no role in the log).
    pub fn log_key(&self) -> &SigningKey {
        &self.log
    }
    /// All three intake keys; the first is revoked and the third granted at mid-year.
    pub fn intake(&self) -> &[SigningKey] {
        &self.intake
    }
    pub fn caseworker(&self) -> &SigningKey {
        &self.caseworker
    }
    pub fn allocators(&self) -> &[SigningKey] {
        &self.allocators
    }
    pub fn disbursers(&self) -> &[SigningKey] {
        &self.disbursers
    }
    pub fn hotline(&self) -> &SigningKey {
        &self.hotline
    }
    pub fn auditor(&self) -> &SigningKey {
        &self.auditor
    }
    /// Every key with its label (`admin-1`, `log`, `intake-3`, ...), for the demo's key files.
    pub fn all(&self) -> Vec<(String, &SigningKey)> {
        let groups: [(&str, &[SigningKey]); 8] = [
            ("admin", &self.admins),
            ("log", std::slice::from_ref(&self.log)),
            ("intake", &self.intake),
            ("caseworker", std::slice::from_ref(&self.caseworker)),
            ("allocator", &self.allocators),
            ("disburser", &self.disbursers),
            ("hotline", std::slice::from_ref(&self.hotline)),
            ("auditor", std::slice::from_ref(&self.auditor)),
        ];
        let mut out = Vec::with_capacity(14);
        for (label, keys) in groups {
            if let [only] = keys {
                out.push((label.to_string(), only));
            } else {
                out.extend(keys.iter().enumerate().map(|(i, k)| (format!("{label}-{}", i + 1), k)));
            }
        }
        out
    }
}

impl fmt::Debug for RoleKeys {
    /// Public keys only: secret keys do not belong in logs, even demo ones.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (label, key) in self.all() {
            m.entry(&label, &key_hex(key).to_hex());
        }
        m.finish()
    }
}

/// One append: the envelope, and the entry time the node must stamp on it. The time matters
/// beyond display: dual-control windows and the audit sample's seed root are computed from
/// entry times, so a node that stamps other times would refuse `audit.sampled`. It is
/// `max(at, previous time)`, which is also what a clock that follows the events' `at` gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioEvent {
    pub envelope: Envelope,
    pub time_ms: i64,
    pub kind: Kind,
    pub id: String,
}

/// What a donor keeps: enough to find their gift and prove it is theirs, and nothing the
/// public log holds. The identity is invented (see the module comment).
#[derive(Clone, PartialEq, Eq)]
pub struct DonorReceipt {
    pub donation_id: String,
    pub salt: [u8; 32],
    pub identity: String,
}

impl fmt::Debug for DonorReceipt {
    /// The salt and identity are what a receipt protects; debug output shows neither.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DonorReceipt")
            .field("donation_id", &self.donation_id)
            .field("salt", &"<redacted>")
            .field("identity", &"<redacted>")
            .finish()
    }
}

/// A generated year.
#[derive(Debug)]
pub struct Scenario {
    pub keys: RoleKeys,
    pub events: Vec<ScenarioEvent>,
    /// A few receipts for the donor journey: plain gifts, an earmarked gift, a refunded gift
    /// and a company's.
    pub receipts: Vec<DonorReceipt>,
}

impl Scenario {
    /// How many events of `kind` the year holds.
    pub fn count(&self, kind: Kind) -> usize {
        self.events.iter().filter(|e| e.kind == kind).count()
    }
}

/// Generates the year. Same configuration, same bytes.
///
/// # Panics
/// If `config.check()` fails, or if the ledger refuses a generated event (a bug).
pub fn generate(config: &ScenarioConfig) -> Scenario {
    if let Err(e) = config.check() {
        panic!("scenario configuration: {e}");
    }
    Generator::new(config).run()
}

// ---------------------------------------------------------------------------------------------
// Randomness: SplitMix64 (Steele, Lea, Flood 2014). Small, fast, and fixed forever here.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-40 for our `n`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n.max(1))) >> 64) as u64
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, permille: u64) -> bool {
        self.below(1000) < permille
    }
    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }
    fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        items[self.index(items.len())]
    }
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut r = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                return i;
            }
            r -= w;
        }
        weights.len() - 1
    }
    fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        out
    }
    fn hex32(&mut self) -> String {
        hex::encode(self.bytes32())
    }
}

// ---------------------------------------------------------------------------------------------
// Invented identities (never real: area code 99 does not exist) and their commitments.

const RESIDENT_ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const RESIDENT_ID_CHECK: &[u8; 11] = b"10X98765432";
const CREDIT_CODE_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_CODE_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// A resident ID number that passes its check digit, born in `years`, in the non-existent
/// area 99xxxx.
fn person_identity(rng: &mut Rng, years: (u64, u64)) -> String {
    let body = format!(
        "99{:04}{:04}{:02}{:02}{:03}",
        rng.below(10_000),
        rng.range(years.0, years.1),
        rng.range(1, 12),
        rng.range(1, 28),
        rng.below(1000)
    );
    let sum: u32 = body.bytes().zip(RESIDENT_ID_WEIGHTS).map(|(c, w)| u32::from(c - b'0') * w).sum();
    let check = char::from(RESIDENT_ID_CHECK[(sum % 11) as usize]);
    format!("{body}{check}")
}

/// A unified social credit code that passes its check character, registered in the
/// non-existent area 99xxxx.
fn company_identity(rng: &mut Rng) -> String {
    let mut body = format!("9199{:04}", rng.below(10_000));
    for _ in 0..9 {
        body.push(char::from(*rng.pick(CREDIT_CODE_ALPHABET)));
    }
    let value = |c: u8| CREDIT_CODE_ALPHABET.iter().position(|&a| a == c).unwrap_or(0) as u32;
    let sum: u32 = body.bytes().zip(CREDIT_CODE_WEIGHTS).map(|(c, w)| value(c) * w).sum();
    let check = CREDIT_CODE_ALPHABET[((31 - sum % 31) % 31) as usize];
    body.push(char::from(check));
    body
}

/// A fresh salt and the commitment to `identity` under it.
fn commit(rng: &mut Rng, identity: &str) -> ([u8; 32], String) {
    let salt = rng.bytes32();
    (salt, commitment_raw(&salt, identity).to_hex())
}

// ---------------------------------------------------------------------------------------------
// Bodies, written by hand in a fixed field order (see the module comment).

struct Body {
    kind: Kind,
    id: String,
    at_ms: i64,
    json: String,
}

fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_str(&mut out, s);
    out
}

fn json_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| json_str(s)).collect();
    format!("[{}]", quoted.join(","))
}

fn goods_received(item: &Item, quantity: u64, unit_value_fen: u64) -> String {
    format!(
        "{{\"item\":{},\"quantity\":{quantity},\"unit\":{},\"unit_value_fen\":{unit_value_fen}}}",
        json_str(item.name),
        json_str(item.unit)
    )
}

fn goods_moved(item: &Item, quantity: u64) -> String {
    format!("{{\"item\":{},\"quantity\":{quantity}}}", json_str(item.name))
}

impl Body {
    fn new(kind: Kind, id: String, at_ms: i64) -> Body {
        let mut json = String::with_capacity(400);
        json.push_str("{\"v\":1,\"kind\":");
        push_json_str(&mut json, kind.as_str());
        json.push_str(",\"id\":");
        push_json_str(&mut json, &id);
        json.push_str(",\"at\":");
        push_json_str(&mut json, &at_text(at_ms));
        Body { kind, id, at_ms, json }
    }
    fn key(&mut self, key: &str) {
        self.json.push(',');
        push_json_str(&mut self.json, key);
        self.json.push(':');
    }
    fn text(mut self, key: &str, value: &str) -> Body {
        self.key(key);
        push_json_str(&mut self.json, value);
        self
    }
    fn num(mut self, key: &str, value: u64) -> Body {
        self.key(key);
        self.json.push_str(&value.to_string());
        self
    }
    fn flag(mut self, key: &str, value: bool) -> Body {
        self.key(key);
        self.json.push_str(if value { "true" } else { "false" });
        self
    }
    /// A value already written as JSON (an object or a list).
    fn raw(mut self, key: &str, json: &str) -> Body {
        self.key(key);
        self.json.push_str(json);
        self
    }
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.json.len() + 1);
        out.extend_from_slice(self.json.as_bytes());
        out.push(b'}');
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Time: the county's calendar in +08:00.

/// `at` text for a UTC instant, in China Standard Time, to the second.
fn at_text(utc_ms: i64) -> String {
    let local = utc_ms + UTC_OFFSET_MS;
    let (y, m, d) = civil_from_days(local.div_euclid(DAY_MS)).unwrap_or((1970, 1, 1));
    let s = local.rem_euclid(DAY_MS) / SECOND_MS;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+08:00", s / 3600, s / 60 % 60, s % 60)
}

/// The local date of a UTC instant, `YYYY-MM-DD`.
fn date_text(utc_ms: i64) -> String {
    let (y, m, d) = civil_from_days((utc_ms + UTC_OFFSET_MS).div_euclid(DAY_MS)).unwrap_or((1970, 1, 1));
    format!("{y:04}-{m:02}-{d:02}")
}

// ---------------------------------------------------------------------------------------------
// The county's programmes, goods and names. All names are invented.

struct ProgrammeInfo {
    programme: Programme,
    fund_name: &'static str,
    /// Restricted balance carried from last year, in yuan, at scale 1.
    opening_yuan: u64,
    /// Share of gifts given to this programme's fund, in proportion to what its cases need
    /// (cases × mean request), so that no programme runs dry for long.
    gift_weight: u64,
    /// Share of cases.
    case_weight: u64,
    requested_yuan: (u64, u64),
    instalments: (u64, u64),
    interval_days: i64,
    /// Birth years of beneficiaries.
    born: (u64, u64),
    summaries: &'static [&'static str],
    outcomes: &'static [&'static str],
}

const PROGRAMMES: [ProgrammeInfo; 6] = [
    ProgrammeInfo {
        programme: Programme::Elderly,
        fund_name: "助老基金",
        opening_yuan: 400_000,
        gift_weight: 13,
        case_weight: 22,
        requested_yuan: (1_200, 6_000),
        // Twice-monthly living allowance or meal-service payments.
        instalments: (12, 24),
        interval_days: 15,
        born: (1930, 1960),
        summaries: &[
            "独居高龄老人，无固定收入，申请按月生活补助",
            "失能老人居家照护补贴",
            "空巢老人冬季取暖及生活补助",
            "农村特困老人日常生活补助",
            "高龄老人助餐服务补贴",
        ],
        outcomes: &["救助金已按期发放完毕，项目结束", "老人已入住敬老院集中供养，救助结束"],
    },
    ProgrammeInfo {
        programme: Programme::Children,
        fund_name: "助童基金",
        opening_yuan: 300_000,
        gift_weight: 12,
        case_weight: 14,
        requested_yuan: (2_000, 8_000),
        instalments: (6, 15),
        interval_days: 20,
        born: (2008, 2022),
        summaries: &[
            "事实无人抚养儿童生活补助",
            "单亲困难家庭儿童生活及学习补助",
            "留守儿童营养改善补助",
            "先天性心脏病患儿术后康复补助",
        ],
        outcomes: &["本年度补助已发放完毕", "儿童已纳入政府保障，本项救助结束"],
    },
    ProgrammeInfo {
        programme: Programme::Education,
        fund_name: "助学基金",
        opening_yuan: 500_000,
        gift_weight: 16,
        case_weight: 16,
        requested_yuan: (2_000, 10_000),
        instalments: (3, 6),
        interval_days: 40,
        born: (2002, 2014),
        summaries: &[
            "困难家庭大学新生入学资助",
            "高中在读学生助学金",
            "职业院校困难学生学费资助",
            "因病致困家庭学生学费补助",
        ],
        outcomes: &["本学年资助已发放完毕", "学生已获国家助学贷款，本项资助结束"],
    },
    ProgrammeInfo {
        programme: Programme::Medical,
        fund_name: "大病救助基金（助医）",
        opening_yuan: 1_200_000,
        gift_weight: 35,
        case_weight: 15,
        requested_yuan: (3_000, 20_000),
        instalments: (3, 8),
        interval_days: 10,
        born: (1940, 2018),
        summaries: &[
            "重大疾病住院治疗救助",
            "尿毒症长期透析费用补助",
            "恶性肿瘤放化疗费用救助",
            "意外伤害住院费用救助",
            "白血病患者治疗费用救助",
        ],
        outcomes: &["治疗费用救助已拨付完毕", "患者病情稳定出院，救助结束"],
    },
    ProgrammeInfo {
        programme: Programme::Disability,
        fund_name: "助残基金",
        opening_yuan: 250_000,
        gift_weight: 12,
        case_weight: 12,
        requested_yuan: (2_000, 10_000),
        instalments: (8, 14),
        interval_days: 30,
        born: (1950, 2015),
        summaries: &[
            "重度残疾人康复训练补助",
            "残疾人辅助器具适配资助",
            "精神障碍患者居家康复补助",
            "残疾人家庭无障碍改造",
        ],
        outcomes: &["康复补助已发放完毕", "辅助器具已适配到位，项目结束"],
    },
    ProgrammeInfo {
        programme: Programme::Poverty,
        fund_name: "助困基金",
        opening_yuan: 350_000,
        gift_weight: 11,
        case_weight: 21,
        requested_yuan: (1_000, 5_000),
        instalments: (4, 12),
        interval_days: 15,
        born: (1945, 2005),
        summaries: &[
            "低保边缘家庭冬季生活救助",
            "因灾受损家庭临时救助",
            "困难家庭冬季御寒物资救助",
            "突发变故家庭临时生活救助",
        ],
        outcomes: &["临时救助已发放完毕", "家庭生活已恢复正常，救助结束"],
    },
];

const GENERAL_FUND_NAME: &str = "慈善综合基金（非限定性）";
/// The general fund's unrestricted balance carried from last year, in yuan, at scale 1.
const GENERAL_OPENING_YUAN: u64 = 6_000_000;
/// Share of small gifts left to the federation's discretion (the general fund).
const GENERAL_GIFT_WEIGHT: u64 = 10;

/// A big medical case (major illness): far above the dual-control threshold.
const BIG_MEDICAL_PERMILLE: u64 = 15;
const BIG_MEDICAL_YUAN: (u64, u64) = (80_000, 220_000);

struct Item {
    name: &'static str,
    unit: &'static str,
    unit_value_yuan: (u64, u64),
    quantity: (u64, u64),
    /// The fund a gift of it usually goes to.
    fund: Programme,
    /// Cases it is handed to.
    serves: &'static [Programme],
}

const ITEMS: [Item; 8] = [
    Item {
        name: "棉被",
        unit: "条",
        unit_value_yuan: (80, 160),
        quantity: (20, 200),
        fund: Programme::Poverty,
        serves: &[Programme::Poverty, Programme::Elderly],
    },
    Item {
        name: "棉衣",
        unit: "件",
        unit_value_yuan: (60, 200),
        quantity: (20, 300),
        fund: Programme::Poverty,
        serves: &[Programme::Poverty, Programme::Children, Programme::Elderly],
    },
    Item {
        name: "衣柜",
        unit: "个",
        unit_value_yuan: (300, 800),
        quantity: (2, 20),
        fund: Programme::Poverty,
        serves: &[Programme::Poverty],
    },
    Item {
        name: "书桌",
        unit: "张",
        unit_value_yuan: (150, 400),
        quantity: (5, 50),
        fund: Programme::Education,
        serves: &[Programme::Education, Programme::Children],
    },
    Item {
        name: "书包",
        unit: "个",
        unit_value_yuan: (30, 80),
        quantity: (20, 300),
        fund: Programme::Education,
        serves: &[Programme::Education, Programme::Children],
    },
    Item {
        name: "大米",
        unit: "袋",
        unit_value_yuan: (40, 70),
        quantity: (20, 200),
        fund: Programme::Elderly,
        serves: &[Programme::Elderly, Programme::Poverty],
    },
    Item {
        name: "食用油",
        unit: "桶",
        unit_value_yuan: (50, 90),
        quantity: (20, 200),
        fund: Programme::Elderly,
        serves: &[Programme::Elderly, Programme::Poverty],
    },
    Item {
        name: "轮椅",
        unit: "台",
        unit_value_yuan: (300, 1_200),
        quantity: (2, 20),
        fund: Programme::Disability,
        serves: &[Programme::Disability],
    },
];

const TOWNS: [&str; 16] = [
    "青石镇",
    "柳泉镇",
    "东岭乡",
    "南湖镇",
    "杏园镇",
    "石桥乡",
    "白沙镇",
    "枣林镇",
    "桃溪镇",
    "双河乡",
    "芦山镇",
    "凤鸣街道",
    "龙湾街道",
    "云台镇",
    "梨花乡",
    "西岗镇",
];

const COMPANIES: [&str; 16] = [
    "青禾建材有限公司",
    "汇川物流有限公司",
    "丰年食品有限公司",
    "石泉机械有限公司",
    "柳岸纺织有限公司",
    "云岭农业科技有限公司",
    "长汀商贸有限公司",
    "北辰电气有限公司",
    "沐阳置业有限公司",
    "鸿渐化工有限公司",
    "远岫包装有限公司",
    "澄川医药有限公司",
    "禾谷粮油有限公司",
    "朗峰汽车销售有限公司",
    "金沂石材有限公司",
    "县个体劳动者协会",
];

const HOSPITALS: [&str; 4] = ["县人民医院", "县中医医院", "县妇幼保健院", "市第二人民医院"];
const SCHOOLS: [&str; 3] = ["县第一中学", "县第三中学", "县职业中专"];

struct NamedFund {
    sponsor: &'static str,
    name: &'static str,
    programme: Programme,
    opened: (u32, u32),
    /// (month, day, yuan) of the sponsor's gifts.
    gifts: [(u32, u32, u64); 2],
    /// Emptied and closed at year end.
    closes: bool,
}

const NAMED_FUNDS: [NamedFund; 3] = [
    NamedFund {
        sponsor: "青禾建材有限公司",
        name: "青禾建材冠名助学基金",
        programme: Programme::Education,
        opened: (1, 6),
        gifts: [(1, 6, 300_000), (7, 3, 200_000)],
        closes: false,
    },
    NamedFund {
        sponsor: "汇川物流有限公司",
        name: "汇川物流冠名大病救助基金",
        programme: Programme::Medical,
        opened: (3, 10),
        gifts: [(3, 10, 500_000), (9, 2, 300_000)],
        closes: false,
    },
    NamedFund {
        sponsor: "丰年食品有限公司",
        name: "丰年食品冠名敬老基金",
        programme: Programme::Elderly,
        opened: (4, 8),
        gifts: [(4, 8, 200_000), (8, 8, 120_000)],
        closes: true,
    },
];
/// The closing named fund takes no more gifts or allocations after this date (month, day):
/// the sponsor's agreement ends with the year and the balance is paid out in one decision.
const NAMED_FREEZE: (u32, u32) = (12, 1);

/// Complaints that arrive on their own dates; the substantiated one is set off by a missed
/// instalment instead (see `Action::ArmSkip`).
struct ComplaintScript {
    date: (u32, u32),
    channel: &'static str,
    about_payment: bool,
    summary: &'static str,
    complainant: bool,
    updates: &'static [(i64, &'static str, &'static str)],
    resolution: Option<(i64, &'static str, &'static str)>,
}

const COMPLAINTS: [ComplaintScript; 5] = [
    ComplaintScript {
        date: (3, 3),
        channel: "hotline",
        about_payment: true,
        summary: "来电反映某受助家庭经济条件较好，质疑其是否符合救助条件",
        complainant: true,
        updates: &[(3, "investigating", "已安排社工入户核查家庭收入与支出情况")],
        resolution: Some((
            12,
            "unsubstantiated",
            "经入户核查及村级评议复核，该家庭因病致贫情况属实，符合救助条件",
        )),
    },
    ComplaintScript {
        date: (7, 20),
        channel: "visit",
        about_payment: false,
        summary: "群众来访反映村级评议过程未公开公示",
        complainant: false,
        updates: &[(2, "referred", "已转所在镇民政办核查评议及公示程序")],
        resolution: Some((20, "partly", "评议结果属实但公示时间不足，已要求镇村补足公示期并规范程序")),
    },
    ComplaintScript {
        date: (9, 25),
        channel: "media",
        about_payment: true,
        summary: "网络媒体质疑一笔救助款的支付金额与票据不符",
        complainant: false,
        updates: &[(1, "investigating", "已调取结算单据与银行付款凭证")],
        resolution: Some((9, "unsubstantiated", "经核对结算单与付款凭证，金额一致，所述情况不实")),
    },
    ComplaintScript {
        date: (11, 5),
        channel: "online",
        about_payment: false,
        summary: "网上留言反映救助申请审批时间过长",
        complainant: true,
        updates: &[(2, "investigating", "已联系经办社工核查审批进度")],
        resolution: Some((8, "unsubstantiated", "该申请按规定流程办理，未超时限，已向留言人说明进度")),
    },
    ComplaintScript {
        date: (12, 18),
        channel: "mailbox",
        about_payment: false,
        summary: "来信反映受助人领取的物资数量与公示不符",
        complainant: false,
        updates: &[(4, "investigating", "已调取物资发放登记表并联系受助人核实")],
        resolution: None,
    },
];

// ---------------------------------------------------------------------------------------------
// The simulation: a queue of timed actions, each of which reads the state and appends events.

#[derive(Debug, Clone)]
enum Gift {
    Small,
    Company,
    Goods,
    Earmarked,
}

#[derive(Debug, Clone)]
enum Action {
    Setup,
    Gift(Gift),
    NamedFundOpen(usize),
    NamedFundGift(usize, u64),
    OpenCase,
    Allocate {
        case: usize,
        attempt: u32,
    },
    Instalment {
        case: usize,
    },
    GoodsDelivery {
        case: usize,
    },
    CloseCase {
        case: usize,
    },
    KeyRotation,
    /// A gift paid twice by mistake, refunded a day or two later.
    DuplicateGift {
        big: bool,
    },
    Refund {
        donation: String,
        amount_fen: u64,
        reason: &'static str,
    },
    /// A gift recorded with a wrong figure, corrected soon after.
    MistypedGift {
        goods: bool,
    },
    Correct {
        donation: String,
        goods: Option<usize>,
        amount: u64,
        reason: &'static str,
    },
    RedirectEarmark,
    ArmRevoke,
    Revoke {
        case: usize,
        allocation: String,
    },
    ArmBounce,
    Return {
        case: usize,
        disbursement: String,
        amount_fen: u64,
    },
    Repay {
        case: usize,
    },
    ArmSkip,
    Substantiated {
        case: usize,
        step: u8,
    },
    Complaint {
        script: usize,
        step: usize,
    },
    MarkAuditWindow,
    AuditPlan,
    AuditSample,
    AuditFinding,
    RectificationIssue,
    RectificationClose,
    EmptyNamedFund(usize),
    CloseNamedFund(usize),
}

struct Scheduled {
    time_ms: i64,
    order: u64,
    action: Action,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.time_ms, self.order) == (other.time_ms, other.order)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed, so the max-heap pops the earliest action first; ties go to the one scheduled
    /// first, which keeps the order independent of the heap's internals.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time_ms, other.order).cmp(&(self.time_ms, self.order))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Desk {
    Admin,
    /// Both admins: genesis and key changes.
    Admins,
    Intake,
    Caseworker,
    Allocator,
    Disburser,
    Hotline,
    Auditor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Opened, waiting for an allocation decision.
    Assessing,
    Paying,
    Done,
    Cancelled,
    Closed,
}

/// What the generator knows of a case. Balances are mirrored here because the state's case
/// view scans every donation; the rules would refuse any payment the mirror got wrong.
struct CasePlan {
    id: String,
    programme: Programme,
    town: usize,
    /// The beneficiary, as the office's register holds them.
    identity: String,
    requested_fen: u64,
    cash_fen: u64,
    /// Kept back from the last instalment for a payment owed (a missed or bounced one).
    reserved_fen: u64,
    goods: Vec<(usize, u64)>,
    instalment_fen: u64,
    instalments_left: u64,
    interval_ms: i64,
    stage: Stage,
    /// A story (complaint, bounce) is running on the case: do not close it yet.
    hold: bool,
    active_pos: Option<usize>,
    last_payment: Option<String>,
}

#[derive(Default)]
struct Counters {
    donation: u64,
    case: u64,
    allocation: u64,
    payment: u64,
    case_closed: u64,
    refund: u64,
    correction: u64,
    redirect: u64,
    revoke: u64,
    returned: u64,
    complaint: u64,
}

/// Which receipts are still wanted for the donor journey.
#[derive(Default)]
struct Receipts {
    plain: usize,
    earmarked: bool,
    refunded: bool,
    company: bool,
}

/// How many plain gifts get a receipt.
const PLAIN_RECEIPTS: usize = 4;

#[derive(Default)]
struct Arms {
    revoke: bool,
    bounce: bool,
    skip: bool,
}

#[derive(Default)]
struct Audit {
    to_seq: u64,
    plan: String,
    nonce: [u8; 32],
    seed_size: u64,
    sample: String,
    selected: Vec<String>,
    finding: String,
    rectification: String,
}

struct FundInfo {
    id: String,
    programme: Programme,
    open: bool,
    /// Named funds: index into `NAMED_FUNDS`.
    named: Option<usize>,
}

struct Generator {
    seed: u64,
    scale: u64,
    origin: String,
    year: i32,
    year_start_ms: i64,
    year_end_ms: i64,
    days_in_year: i64,
    rng: Rng,
    keys: RoleKeys,
    /// The two intake keys in service (indices into `keys.intake`).
    intake_pair: [usize; 2],
    state: State,
    last_time_ms: i64,
    events: Vec<ScenarioEvent>,
    receipts: Vec<DonorReceipt>,
    kept: Receipts,
    queue: BinaryHeap<Scheduled>,
    next_order: u64,
    n: Counters,
    /// Programme funds 0..6 in `PROGRAMMES` order, the general fund at 6, named funds after.
    funds: Vec<FundInfo>,
    cases: Vec<CasePlan>,
    /// Cases a donor may still earmark a gift for (opened, not finished).
    active: Vec<usize>,
    payments: Vec<String>,
    earmarks: Vec<(String, usize)>,
    arms: Arms,
    complaint_ids: Vec<Option<String>>,
    substantiated: (String, String),
    audit: Audit,
    named_freeze_ms: i64,
}

const GENERAL: usize = 6;

/// The stream's start, hashed from the seed so that seeds 1, 2, 3 start far apart.
fn rng_seed(seed: u64) -> u64 {
    let digest = sha256(&[b"charity-ledger/scenario/rng/v1\n", &seed.to_be_bytes()]).0;
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

fn programme_index(p: Programme) -> usize {
    PROGRAMMES.iter().position(|i| i.programme == p).unwrap_or(GENERAL)
}

impl Generator {
    fn new(config: &ScenarioConfig) -> Generator {
        let first_day = days_from_civil(config.year, 1, 1);
        let next_first_day = days_from_civil(config.year + 1, 1, 1);
        let year_start_ms = first_day * DAY_MS - UTC_OFFSET_MS;
        let mut g = Generator {
            seed: config.seed,
            scale: u64::from(config.scale),
            origin: config.origin.clone(),
            year: config.year,
            year_start_ms,
            year_end_ms: next_first_day * DAY_MS - UTC_OFFSET_MS,
            days_in_year: next_first_day - first_day,
            rng: Rng(rng_seed(config.seed)),
            keys: RoleKeys::derive(config.seed),
            intake_pair: [0, 1],
            state: State::new(),
            last_time_ms: 0,
            events: Vec::with_capacity(75_000 * config.scale.min(4) as usize),
            receipts: Vec::new(),
            kept: Receipts::default(),
            queue: BinaryHeap::new(),
            next_order: 0,
            n: Counters::default(),
            funds: Vec::new(),
            cases: Vec::new(),
            active: Vec::new(),
            payments: Vec::new(),
            earmarks: Vec::new(),
            arms: Arms::default(),
            complaint_ids: vec![None; COMPLAINTS.len()],
            substantiated: (String::new(), String::new()),
            audit: Audit::default(),
            named_freeze_ms: 0,
        };
        g.named_freeze_ms = g.date_ms(NAMED_FREEZE.0, NAMED_FREEZE.1);
        g
    }

    // --- calendar ----------------------------------------------------------------------------

    /// UTC ms of local midnight of `month`/`day` of the year.
    fn date_ms(&self, month: u32, day: u32) -> i64 {
        (days_from_civil(self.year, month, day) - days_from_civil(self.year, 1, 1)) * DAY_MS
            + self.year_start_ms
    }
    fn day_of(&self, ms: i64) -> i64 {
        (ms - self.year_start_ms).div_euclid(DAY_MS)
    }
    /// Monday is 0. 1970-01-01 was a Thursday.
    fn weekday(&self, day: i64) -> i64 {
        (days_from_civil(self.year, 1, 1) + day + 3).rem_euclid(7)
    }
    /// The office works Monday to Friday; a weekend date moves to the Monday after.
    fn workday(&self, day: i64) -> i64 {
        match self.weekday(day) {
            5 => day + 2,
            6 => day + 1,
            _ => day,
        }
    }
    /// A random moment of office hours (08:30–17:30) on the first workday from `day`.
    fn office_time(&mut self, day: i64) -> i64 {
        let day = self.workday(day);
        self.year_start_ms
            + day * DAY_MS
            + 8 * HOUR_MS
            + 30 * MINUTE_MS
            + self.rng.below(9 * 3600) as i64 * SECOND_MS
    }
    /// Office hours `days` after `from_ms`.
    fn office_after(&mut self, from_ms: i64, days: i64) -> i64 {
        let day = self.day_of(from_ms) + days;
        self.office_time(day)
    }
    /// A fixed local time on a workday on or after `month`/`day`.
    fn fixed(&self, month: u32, day: u32, hour: i64, minute: i64) -> i64 {
        let d = self.workday(self.day_of(self.date_ms(month, day)));
        self.year_start_ms + d * DAY_MS + hour * HOUR_MS + minute * MINUTE_MS
    }
    /// A fixed local time on the last workday on or before `month`/`day`: for year-end acts,
    /// which moving forward would push into the next year.
    fn fixed_before(&self, month: u32, day: u32, hour: i64, minute: i64) -> i64 {
        let mut d = self.day_of(self.date_ms(month, day));
        while self.weekday(d) >= 5 {
            d -= 1;
        }
        self.year_start_ms + d * DAY_MS + hour * HOUR_MS + minute * MINUTE_MS
    }
    fn month_of_day(&self, day: i64) -> u32 {
        civil_from_days(days_from_civil(self.year, 1, 1) + day).map_or(1, |(_, m, _)| m)
    }

    /// Weights of the year's days for gifts: the Spring Festival, Charity Day and the "99
    /// Giving Day" (5–9 September) and December's winter appeal bring more.
    fn gift_day_weights(&self) -> Vec<u64> {
        (0..self.days_in_year)
            .map(|d| {
                let (_, m, day) = civil_from_days(days_from_civil(self.year, 1, 1) + d).unwrap_or((0, 1, 1));
                match (m, day) {
                    (9, 5..=9) => 60,
                    (1, _) | (2, 1..=20) => 16,
                    (12, _) => 15,
                    _ => 10,
                }
            })
            .collect()
    }

    /// Day weights for new cases: continuing beneficiaries re-registered and winter relief in
    /// January–February, school fees in August–September, none after mid-December (nothing
    /// could be paid before the year closes).
    fn case_day_weights(&self) -> Vec<u64> {
        (0..self.days_in_year)
            .map(|d| {
                if self.weekday(d) >= 5 || d == 0 {
                    return 0;
                }
                let (_, m, day) = civil_from_days(days_from_civil(self.year, 1, 1) + d).unwrap_or((0, 1, 1));
                match (m, day) {
                    (12, 16..=31) => 0,
                    (12, _) | (10 | 11, _) => 7,
                    (1 | 2, _) => 22,
                    (8 | 9, _) => 13,
                    _ => 10,
                }
            })
            .collect()
    }

    // --- the queue ---------------------------------------------------------------------------

    /// Queues an action. What would fall after the year is left for next year's log.
    fn schedule(&mut self, time_ms: i64, action: Action) {
        if time_ms >= self.year_end_ms {
            return;
        }
        self.next_order += 1;
        self.queue.push(Scheduled { time_ms, order: self.next_order, action });
    }

    fn run(mut self) -> Scenario {
        self.schedule(self.year_start_ms + 8 * HOUR_MS, Action::Setup);
        self.schedule_volumes();
        self.schedule_stories();
        while let Some(s) = self.queue.pop() {
            self.perform(s.time_ms, s.action);
        }
        Scenario { keys: self.keys, events: self.events, receipts: self.receipts }
    }

    fn schedule_volumes(&mut self) {
        let gift_days = self.gift_day_weights();
        let gifts = [
            (SMALL_GIFTS, Gift::Small),
            (COMPANY_GIFTS, Gift::Company),
            (GOODS_GIFTS, Gift::Goods),
            (EARMARKED_GIFTS, Gift::Earmarked),
        ];
        for (count, gift) in gifts {
            for _ in 0..count * self.scale {
                let day = self.rng.weighted(&gift_days) as i64;
                let office = !matches!(gift, Gift::Small | Gift::Earmarked);
                let t = if office {
                    self.office_time(day.max(1))
                } else {
                    // Online gifts come at any hour from early morning to late evening; the
                    // first day only after the ledger has opened.
                    let from = if day == 0 { 9 * 3600 } else { 7 * 3600 };
                    self.year_start_ms + day * DAY_MS + self.rng.range(from, 23 * 3600 - 1) as i64 * SECOND_MS
                };
                self.schedule(t, Action::Gift(gift.clone()));
            }
        }
        let case_days = self.case_day_weights();
        for _ in 0..CASES * self.scale {
            let day = self.rng.weighted(&case_days) as i64;
            let t = self.office_time(day);
            self.schedule(t, Action::OpenCase);
        }
    }

    fn schedule_stories(&mut self) {
        for (i, f) in NAMED_FUNDS.iter().enumerate() {
            let t = self.fixed(f.opened.0, f.opened.1, 9, 30);
            self.schedule(t, Action::NamedFundOpen(i));
            for &(m, d, yuan) in &f.gifts {
                let t = self.fixed(m, d, 10, 0);
                self.schedule(t, Action::NamedFundGift(i, yuan * YUAN));
            }
            if f.closes {
                let t = self.fixed_before(12, 29, 10, 0);
                self.schedule(t, Action::EmptyNamedFund(i));
                let t = self.fixed_before(12, 30, 15, 0);
                self.schedule(t, Action::CloseNamedFund(i));
            }
        }
        let stories = [
            ((2, 20, 11, 5), Action::DuplicateGift { big: false }),
            ((5, 14, 15, 40), Action::DuplicateGift { big: false }),
            ((9, 21, 10, 20), Action::DuplicateGift { big: true }),
            ((3, 18, 14, 10), Action::MistypedGift { goods: false }),
            ((11, 20, 9, 45), Action::MistypedGift { goods: true }),
            ((6, 2, 11, 0), Action::RedirectEarmark),
            ((4, 15, 8, 30), Action::ArmRevoke),
            ((6, 8, 8, 30), Action::ArmBounce),
            ((5, 6, 8, 30), Action::ArmSkip),
            ((7, 1, 9, 0), Action::KeyRotation),
            ((10, 1, 0, 0), Action::MarkAuditWindow),
            ((10, 15, 10, 0), Action::AuditPlan),
            ((10, 20, 10, 0), Action::AuditSample),
            ((11, 10, 15, 0), Action::AuditFinding),
            ((11, 12, 10, 0), Action::RectificationIssue),
            ((12, 8, 16, 0), Action::RectificationClose),
        ];
        for ((m, d, h, min), action) in stories {
            // The audit window closes at local midnight, weekend or not.
            let t = if matches!(action, Action::MarkAuditWindow) {
                self.date_ms(m, d)
            } else {
                self.fixed(m, d, h, min)
            };
            self.schedule(t, action);
        }
        for (i, c) in COMPLAINTS.iter().enumerate() {
            let t = self.fixed(c.date.0, c.date.1, 9, 15);
            self.schedule(t, Action::Complaint { script: i, step: 0 });
        }
    }

    fn perform(&mut self, t: i64, action: Action) {
        match action {
            Action::Setup => self.setup(t),
            Action::Gift(g) => self.gift(t, g),
            Action::NamedFundOpen(i) => self.named_fund_open(t, i),
            Action::NamedFundGift(i, fen) => self.named_fund_gift(t, i, fen),
            Action::OpenCase => self.open_case(t),
            Action::Allocate { case, attempt } => self.allocate(t, case, attempt),
            Action::Instalment { case } => self.instalment(t, case),
            Action::GoodsDelivery { case } => self.goods_delivery(t, case),
            Action::CloseCase { case } => self.close_case(t, case),
            Action::KeyRotation => self.key_rotation(t),
            Action::DuplicateGift { big } => self.duplicate_gift(t, big),
            Action::Refund { donation, amount_fen, reason } => self.refund(t, &donation, amount_fen, reason),
            Action::MistypedGift { goods } => self.mistyped_gift(t, goods),
            Action::Correct { donation, goods, amount, reason } => {
                self.correct(t, &donation, goods, amount, reason)
            }
            Action::RedirectEarmark => self.redirect_earmark(t),
            Action::ArmRevoke => self.arms.revoke = true,
            Action::Revoke { case, allocation } => self.revoke(t, case, &allocation),
            Action::ArmBounce => self.arms.bounce = true,
            Action::Return { case, disbursement, amount_fen } => {
                self.returned(t, case, &disbursement, amount_fen)
            }
            Action::Repay { case } => self.repay(t, case),
            Action::ArmSkip => self.arms.skip = true,
            Action::Substantiated { case, step } => self.substantiated(t, case, step),
            Action::Complaint { script, step } => self.complaint(t, script, step),
            Action::MarkAuditWindow => self.audit.to_seq = self.state.size(),
            Action::AuditPlan => self.audit_plan(t),
            Action::AuditSample => self.audit_sample(t),
            Action::AuditFinding => self.audit_finding(t),
            Action::RectificationIssue => self.rectification_issue(t),
            Action::RectificationClose => self.rectification_close(t),
            Action::EmptyNamedFund(i) => self.empty_named_fund(t, i),
            Action::CloseNamedFund(i) => self.close_named_fund(t, i),
        }
    }

    // --- appending ---------------------------------------------------------------------------

    /// Signs, applies and records one event. Money events go out single-signed first; if the
    /// rules answer `dual_control` (the value, with what was single-signed on the same case or
    /// gift in the last 24 hours, reaches the threshold), the desk's second key co-signs, as it
    /// would on the second officer's machine. Any other refusal is a bug.
    fn emit(&mut self, body: Body, desk: Desk) -> String {
        let time_ms = self.last_time_ms.max(body.at_ms);
        let flip = self.rng.index(2);
        let (first, second): (&SigningKey, Option<&SigningKey>) = match desk {
            Desk::Admin => (&self.keys.admins[flip], None),
            Desk::Admins => (&self.keys.admins[0], Some(&self.keys.admins[1])),
            Desk::Intake => {
                let [a, b] = self.intake_pair;
                let (a, b) = if flip == 0 { (a, b) } else { (b, a) };
                (&self.keys.intake[a], Some(&self.keys.intake[b]))
            }
            Desk::Allocator => (&self.keys.allocators[flip], Some(&self.keys.allocators[1 - flip])),
            Desk::Disburser => (&self.keys.disbursers[flip], Some(&self.keys.disbursers[1 - flip])),
            Desk::Caseworker => (&self.keys.caseworker, None),
            Desk::Hotline => (&self.keys.hotline, None),
            Desk::Auditor => (&self.keys.auditor, None),
        };
        let bytes = body.bytes();
        let mut envelope = match (desk, second) {
            (Desk::Admins, Some(k)) => Envelope::sign(&bytes, &[first, k]),
            _ => Envelope::sign(&bytes, &[first]),
        };
        if let Err(refusal) = apply(&mut self.state, &envelope, time_ms) {
            let cosigner = match (refusal.rule, second) {
                (Rule::DualControl, Some(k)) if envelope.signatures.len() == 1 => k,
                _ => bug(&body, &refusal),
            };
            envelope = envelope.add_signature(cosigner).unwrap_or_else(|e| bug(&body, &e));
            if let Err(refusal) = apply(&mut self.state, &envelope, time_ms) {
                bug(&body, &refusal);
            }
        }
        self.last_time_ms = time_ms;
        self.events.push(ScenarioEvent { envelope, time_ms, kind: body.kind, id: body.id.clone() });
        body.id
    }

    /// A few seconds to minutes after `t`: the next step of one sitting.
    fn later(&mut self, t: i64) -> i64 {
        t + self.rng.range(20, 240) as i64 * SECOND_MS
    }

    // --- setup -------------------------------------------------------------------------------

    fn setup(&mut self, mut t: i64) {
        let admins = json_list(&self.keys.admins.iter().map(|k| key_hex(k).to_hex()).collect::<Vec<_>>());
        let policy = format!(
            "{{\"dual_control_fen\":{DUAL_CONTROL_FEN},\"min_audit_permille\":{MIN_AUDIT_PERMILLE},\"max_backdate_days\":{MAX_BACKDATE_DAYS}}}"
        );
        let body = Body::new(Kind::Genesis, "genesis".into(), t)
            .text("origin", &self.origin.clone())
            .text("name", &format!("县慈善联合总会{}年度捐赠与救助账本", self.year))
            .text("currency", "CNY")
            .raw("admins", &admins)
            .text("log_key", &key_hex(&self.keys.log).to_hex())
            .raw("policy", &policy);
        self.emit(body, Desk::Admins);
        let grants: [(&str, &str, usize, &str); 9] = [
            ("intake-1", "intake", 0, "捐赠受理岗（一）"),
            ("intake-2", "intake", 1, "捐赠受理岗（二）"),
            ("caseworker", "caseworker", 0, "救助个案岗"),
            ("allocator-1", "allocator", 0, "资金分配岗（一）"),
            ("allocator-2", "allocator", 1, "资金分配岗（二）"),
            ("disburser-1", "disburser", 0, "救助发放岗（一）"),
            ("disburser-2", "disburser", 1, "救助发放岗（二）"),
            ("hotline", "hotline", 0, "监督热线与意见箱"),
            ("auditor", "auditor", 0, "第三方审计（会计师事务所）"),
        ];
        for (label, role, i, holder) in grants {
            t = self.later(t);
            let key = match role {
                "intake" => &self.keys.intake[i],
                "caseworker" => &self.keys.caseworker,
                "allocator" => &self.keys.allocators[i],
                "disburser" => &self.keys.disbursers[i],
                "hotline" => &self.keys.hotline,
                _ => &self.keys.auditor,
            };
            let body = Body::new(Kind::KeyGranted, format!("key-grant-{label}"), t)
                .text("key", &key_hex(key).to_hex())
                .text("holder", holder)
                .raw("roles", &json_list(&[role.to_string()]));
            self.emit(body, Desk::Admins);
        }
        for (i, p) in PROGRAMMES.iter().enumerate() {
            t = self.later(t);
            let id = format!("fund-{}", p.programme.as_str());
            let body = Body::new(Kind::FundOpened, id.clone(), t)
                .text("name", p.fund_name)
                .text("programme", p.programme.as_str())
                .flag("restricted", true)
                .num("opening_balance_fen", p.opening_yuan * YUAN * self.scale);
            self.emit(body, Desk::Admin);
            debug_assert_eq!(self.funds.len(), i);
            self.funds.push(FundInfo { id, programme: p.programme, open: true, named: None });
        }
        t = self.later(t);
        let body = Body::new(Kind::FundOpened, "fund-general".into(), t)
            .text("name", GENERAL_FUND_NAME)
            .text("programme", Programme::General.as_str())
            .flag("restricted", false)
            .num("opening_balance_fen", GENERAL_OPENING_YUAN * YUAN * self.scale);
        self.emit(body, Desk::Admin);
        self.funds.push(FundInfo {
            id: "fund-general".into(),
            programme: Programme::General,
            open: true,
            named: None,
        });
        for (i, f) in NAMED_FUNDS.iter().enumerate() {
            self.funds.push(FundInfo {
                id: format!("fund-named-{}", i + 1),
                programme: f.programme,
                open: false,
                named: Some(i),
            });
        }
    }

    fn named_fund_open(&mut self, t: i64, i: usize) {
        let f = &NAMED_FUNDS[i];
        let fund = GENERAL + 1 + i;
        let body = Body::new(Kind::FundOpened, self.funds[fund].id.clone(), t)
            .text("name", f.name)
            .text("programme", f.programme.as_str())
            .flag("restricted", true)
            .text("sponsor", f.sponsor)
            .num("opening_balance_fen", 0);
        self.emit(body, Desk::Admin);
        self.funds[fund].open = true;
    }

    fn named_fund_gift(&mut self, t: i64, i: usize, fen: u64) {
        let fund = self.funds[GENERAL + 1 + i].id.clone();
        let reference = self.rng.hex32();
        let at = t + 5 * MINUTE_MS;
        let body = Body::new(Kind::DonationReceived, self.next_donation_id(), at)
            .text("fund", &fund)
            .num("amount_fen", fen)
            .text("channel", "bank")
            .text("donor_name", NAMED_FUNDS[i].sponsor)
            .text("reference", &reference);
        self.emit(body, Desk::Intake);
    }

    fn key_rotation(&mut self, t: i64) {
        let body = Body::new(Kind::KeyGranted, "key-grant-intake-3".into(), t)
            .text("key", &key_hex(&self.keys.intake[2]).to_hex())
            .text("holder", "捐赠受理岗（三）")
            .raw("roles", &json_list(&["intake".to_string()]));
        self.emit(body, Desk::Admins);
        let t = self.later(t);
        let body = Body::new(Kind::KeyRevoked, "key-revoke-intake-1".into(), t)
            .text("key", &key_hex(&self.keys.intake[0]).to_hex())
            .text("reason", "岗位调整，原受理岗密钥停用，由新密钥接替");
        self.emit(body, Desk::Admins);
        self.intake_pair = [1, 2];
    }

    // --- gifts -------------------------------------------------------------------------------

    fn next_donation_id(&mut self) -> String {
        self.n.donation += 1;
        format!("don-{:06}", self.n.donation)
    }

    /// Whether gifts may still go to fund `f`.
    fn fund_takes_gifts(&self, f: usize, t: i64) -> bool {
        let info = &self.funds[f];
        info.open && !(info.named.is_some_and(|i| NAMED_FUNDS[i].closes) && t >= self.named_freeze_ms)
    }

    fn gift_fund(&mut self, company: bool) -> usize {
        let mut weights: Vec<u64> = PROGRAMMES.iter().map(|p| p.gift_weight).collect();
        weights.push(if company { 3 * GENERAL_GIFT_WEIGHT } else { GENERAL_GIFT_WEIGHT });
        self.rng.weighted(&weights)
    }

    /// A private donor's commitment, and the receipt when this one is kept for the demo.
    fn private_donor(&mut self, donation_id: &str, keep_receipt: bool) -> String {
        let identity = person_identity(&mut self.rng, (1950, 2004));
        let (salt, commitment) = commit(&mut self.rng, &identity);
        if keep_receipt {
            self.receipts.push(DonorReceipt { donation_id: donation_id.to_string(), salt, identity });
        }
        commitment
    }

    fn small_amount(&mut self) -> u64 {
        const ROUND_FEN: [u64; 12] = [100, 200, 500, 666, 888, 1000, 2000, 5000, 6660, 8880, 10000, 20000];
        const ROUND_WEIGHT: [u64; 12] = [6, 4, 8, 3, 3, 16, 14, 18, 4, 4, 14, 6];
        if self.rng.chance(350) {
            ROUND_FEN[self.rng.weighted(&ROUND_WEIGHT)]
        } else {
            self.rng.range(YUAN, 500 * YUAN)
        }
    }

    fn gift(&mut self, t: i64, gift: Gift) {
        match gift {
            Gift::Small => self.small_gift(t),
            Gift::Company => self.company_gift(t),
            Gift::Goods => self.goods_gift(t),
            Gift::Earmarked => self.earmarked_gift(t),
        }
    }

    fn small_gift(&mut self, t: i64) {
        let id = self.next_donation_id();
        let fund = self.gift_fund(false);
        let amount = self.small_amount();
        const CHANNELS: [&str; 5] = ["wechat", "alipay", "bank", "cash", "other"];
        let channel = CHANNELS[self.rng.weighted(&[45, 30, 8, 12, 5])];
        let mut body = Body::new(Kind::DonationReceived, id.clone(), t)
            .text("fund", &self.funds[fund].id.clone())
            .num("amount_fen", amount)
            .text("channel", channel);
        if self.rng.chance(850) {
            let keep = self.kept.plain < PLAIN_RECEIPTS && channel != "cash";
            self.kept.plain += usize::from(keep);
            let c = self.private_donor(&id, keep);
            body = body.text("donor", &c);
        }
        if channel == "bank" && self.rng.chance(500) {
            body = body.text("reference", &self.rng.hex32());
        }
        self.emit(body, Desk::Intake);
    }

    fn company_amount(&mut self) -> u64 {
        let yuan = match self.rng.weighted(&[50, 30, 15, 5]) {
            0 => self.rng.range(5, 20),
            1 => self.rng.range(20, 80),
            2 => self.rng.range(80, 200),
            _ => self.rng.range(200, 500),
        } * 1000;
        yuan * YUAN
    }

    fn company_gift(&mut self, t: i64) {
        let id = self.next_donation_id();
        // Half the companies answer the federation's appeal for the programme that is shortest
        // of money; the rest give where they like.
        let fund = if self.rng.chance(500) {
            (0..PROGRAMMES.len()).min_by_key(|&f| (self.fund_cash(f), f)).unwrap_or(GENERAL)
        } else {
            self.gift_fund(true)
        };
        let amount = self.company_amount();
        let company = self.rng.pick_str(&COMPANIES);
        let mut body = Body::new(Kind::DonationReceived, id.clone(), t)
            .text("fund", &self.funds[fund].id.clone())
            .num("amount_fen", amount)
            .text("channel", "bank")
            .text("donor_name", company);
        if self.rng.chance(600) {
            let identity = company_identity(&mut self.rng);
            let (salt, c) = commit(&mut self.rng, &identity);
            if !self.kept.company {
                self.kept.company = true;
                self.receipts.push(DonorReceipt { donation_id: id.clone(), salt, identity });
            }
            body = body.text("donor", &c);
        }
        if self.rng.chance(800) {
            body = body.text("reference", &self.rng.hex32());
        }
        self.emit(body, Desk::Intake);
    }

    fn goods_gift(&mut self, t: i64) {
        let id = self.next_donation_id();
        let item_index = self.rng.weighted(&[18, 18, 6, 8, 12, 14, 14, 5]);
        let item = &ITEMS[item_index];
        let quantity = self.rng.range(item.quantity.0, item.quantity.1);
        let unit_value = self.rng.range(item.unit_value_yuan.0, item.unit_value_yuan.1) * YUAN;
        let fund = if self.rng.chance(700) { programme_index(item.fund) } else { GENERAL };
        let mut body = Body::new(Kind::DonationReceived, id.clone(), t)
            .text("fund", &self.funds[fund].id.clone())
            .raw("goods", &goods_received(item, quantity, unit_value))
            .text("channel", "goods");
        if self.rng.chance(500) {
            body = body.text("donor_name", self.rng.pick_str(&COMPANIES));
        } else {
            let c = self.private_donor(&id, false);
            body = body.text("donor", &c);
        }
        self.emit(body, Desk::Intake);
    }

    fn earmarked_gift(&mut self, t: i64) {
        if self.active.is_empty() {
            return self.small_gift(t);
        }
        let c = self.active[self.rng.index(self.active.len())];
        let id = self.next_donation_id();
        let amount = if self.cases[c].programme == Programme::Medical {
            self.rng.range(500, 30_000) * YUAN
        } else {
            self.rng.range(100, 5_000) * YUAN
        };
        let channel = ["wechat", "alipay", "bank"][self.rng.weighted(&[45, 35, 20])];
        let mut body = Body::new(Kind::DonationReceived, id.clone(), t)
            .text("case", &self.cases[c].id.clone())
            .num("amount_fen", amount)
            .text("channel", channel);
        if self.rng.chance(900) {
            let keep = !self.kept.earmarked;
            self.kept.earmarked = true;
            let d = self.private_donor(&id, keep);
            body = body.text("donor", &d);
        }
        self.emit(body, Desk::Intake);
        self.cases[c].cash_fen += amount;
        self.earmarks.push((id, c));
    }

    /// A donor pays twice by mistake; the second gift is refunded a day or two later. The big
    /// one (a company's bank transfer) is over the dual-control threshold, so two intake
    /// officers sign the refund.
    fn duplicate_gift(&mut self, t: i64, big: bool) {
        let id = self.next_donation_id();
        let fund = self.richest_fund();
        let amount = if big { 60_000 * YUAN } else { 200 * YUAN };
        let mut body = Body::new(Kind::DonationReceived, id.clone(), t)
            .text("fund", &self.funds[fund].id.clone())
            .num("amount_fen", amount);
        if big {
            body = body
                .text("channel", "bank")
                .text("donor_name", COMPANIES[7])
                .text("reference", &self.rng.hex32());
        } else {
            let keep = !self.kept.refunded;
            self.kept.refunded = true;
            let c = self.private_donor(&id, keep);
            body = body.text("channel", "wechat").text("donor", &c);
        }
        self.emit(body, Desk::Intake);
        let reason = if big {
            "捐赠企业财务重复转账，经核实后原路退回重复部分"
        } else {
            "捐赠人误操作重复支付，经本人申请原路退回"
        };
        let days = 1 + self.rng.below(2) as i64;
        let when = self.office_after(t, days);
        self.schedule(when, Action::Refund { donation: id, amount_fen: amount, reason });
    }

    /// The programme or general fund holding the most cash. A story that takes a gift back
    /// (refund, correction) puts it there: allocations spend a fund's older lots first, so the
    /// gift is still unspent a day later, where a nearly empty fund might have paid it out.
    fn richest_fund(&self) -> usize {
        (0..=GENERAL).max_by_key(|&f| (self.fund_cash(f), std::cmp::Reverse(f))).unwrap_or(GENERAL)
    }

    /// What of a gift is still unspent where it waits (its fund, or its earmarked case).
    fn unspent(&self, donation: &str) -> u64 {
        self.state
            .trace(donation)
            .unwrap_or_default()
            .iter()
            .filter(|p| {
                matches!(p.place, PortionPlace::InFund { .. } | PortionPlace::InCase { allocation: None, .. })
            })
            .map(|p| p.quantity())
            .sum()
    }

    fn refund(&mut self, t: i64, donation: &str, amount_fen: u64, reason: &str) {
        let amount = amount_fen.min(self.unspent(donation));
        if amount == 0 {
            return;
        }
        self.n.refund += 1;
        let body = Body::new(Kind::DonationRefunded, format!("refund-{:03}", self.n.refund), t)
            .text("donation", donation)
            .num("amount_fen", amount)
            .text("reason", reason);
        self.emit(body, Desk::Intake);
    }

    /// A gift recorded with a wrong figure: cash typed with one digit too many, or goods
    /// counted before the delivery was checked. The correction removes what never came.
    fn mistyped_gift(&mut self, t: i64, goods: bool) {
        let id = self.next_donation_id();
        let identity = person_identity(&mut self.rng, (1950, 2000));
        let (_, donor) = commit(&mut self.rng, &identity);
        let (body, action) = if goods {
            let item = 0;
            let fund = [programme_index(Programme::Poverty), GENERAL]
                .into_iter()
                .max_by_key(|&f| {
                    let held = self
                        .state
                        .fund(&self.funds[f].id)
                        .and_then(|b| b.goods.get(ITEMS[item].name).copied());
                    (held.unwrap_or(0), std::cmp::Reverse(f))
                })
                .unwrap_or(GENERAL);
            let body = Body::new(Kind::DonationReceived, id.clone(), t)
                .text("fund", &self.funds[fund].id.clone())
                .raw("goods", &goods_received(&ITEMS[item], 120, 110 * YUAN))
                .text("channel", "goods")
                .text("donor_name", COMPANIES[4]);
            let action = Action::Correct {
                donation: id,
                goods: Some(item),
                amount: 20,
                reason: "入库清点时实收棉被一百条，登记时误记为一百二十条，更正冲减",
            };
            (body, action)
        } else {
            let fund = self.richest_fund();
            let body = Body::new(Kind::DonationReceived, id.clone(), t)
                .text("fund", &self.funds[fund].id.clone())
                .num("amount_fen", 8_000 * YUAN)
                .text("channel", "cash")
                .text("donor", &donor);
            let action = Action::Correct {
                donation: id,
                goods: None,
                amount: 7_200 * YUAN,
                reason: "现金捐款实收八百元，登记时多录一位，更正冲减",
            };
            (body, action)
        };
        self.emit(body, Desk::Intake);
        let when = if goods { self.office_after(t, 1) } else { t + 2 * HOUR_MS };
        self.schedule(when, action);
    }

    fn correct(&mut self, t: i64, donation: &str, goods: Option<usize>, amount: u64, reason: &str) {
        let amount = amount.min(self.unspent(donation));
        if amount == 0 {
            return;
        }
        self.n.correction += 1;
        let mut body = Body::new(Kind::DonationCorrected, format!("correction-{:03}", self.n.correction), t)
            .text("donation", donation);
        body = match goods {
            Some(item) => body.raw("goods", &goods_moved(&ITEMS[item], amount)),
            None => body.num("amount_fen", amount),
        };
        let body = body.text("reason", reason);
        self.emit(body, Desk::Intake);
    }

    /// A patient's treatment ended before an earmarked gift was used: with the donor's consent
    /// the rest moves into the programme's fund. Looks back over recent earmarked gifts for
    /// one whose case still holds it.
    fn redirect_earmark(&mut self, t: i64) {
        let recent: Vec<(String, usize)> = self.earmarks.iter().rev().take(500).cloned().collect();
        for (donation, c) in recent {
            let case = &self.cases[c];
            if case.hold || !matches!(case.stage, Stage::Paying | Stage::Assessing) {
                continue;
            }
            let held = self.unspent(&donation);
            if held < 1_000 * YUAN || held > case.cash_fen {
                continue;
            }
            let fund = self.funds[programme_index(case.programme)].id.clone();
            self.n.redirect += 1;
            let body = Body::new(Kind::EarmarkRedirected, format!("redirect-{:03}", self.n.redirect), t)
                .text("donation", &donation)
                .text("fund", &fund)
                .num("amount_fen", held)
                .text(
                    "reason",
                    "受助人已获其他渠道足额救助，经捐赠人同意，定向捐款余额转入本项目基金统筹使用",
                );
            self.emit(body, Desk::Allocator);
            self.cases[c].cash_fen -= held;
            return;
        }
    }

    // --- cases -------------------------------------------------------------------------------

    fn activate(&mut self, c: usize) {
        self.cases[c].active_pos = Some(self.active.len());
        self.active.push(c);
    }

    fn deactivate(&mut self, c: usize) {
        if let Some(pos) = self.cases[c].active_pos.take() {
            self.active.swap_remove(pos);
            if let Some(&moved) = self.active.get(pos) {
                self.cases[moved].active_pos = Some(pos);
            }
        }
    }

    fn open_case(&mut self, t: i64) {
        let p = self.rng.weighted(&PROGRAMMES.iter().map(|p| p.case_weight).collect::<Vec<_>>());
        let info = &PROGRAMMES[p];
        let big = info.programme == Programme::Medical && self.rng.chance(BIG_MEDICAL_PERMILLE);
        let (lo, hi) = if big { BIG_MEDICAL_YUAN } else { info.requested_yuan };
        let requested = self.rng.range(lo / 100, hi / 100) * 100 * YUAN;
        let identity = person_identity(&mut self.rng, info.born);
        let (_, beneficiary) = commit(&mut self.rng, &identity);
        let town = self.rng.index(TOWNS.len());
        let summary = *self.rng.pick(info.summaries);
        self.n.case += 1;
        let id = format!("case-{:05}", self.n.case);
        let body = Body::new(Kind::CaseOpened, id.clone(), t)
            .text("programme", info.programme.as_str())
            .text("beneficiary", &beneficiary)
            .text("region", TOWNS[town])
            .text("summary", summary)
            .num("requested_fen", requested);
        self.emit(body, Desk::Caseworker);
        let c = self.cases.len();
        self.cases.push(CasePlan {
            id,
            programme: info.programme,
            town,
            identity,
            requested_fen: requested,
            cash_fen: 0,
            reserved_fen: 0,
            goods: Vec::new(),
            instalment_fen: 0,
            instalments_left: 0,
            interval_ms: 0,
            stage: Stage::Assessing,
            hold: false,
            active_pos: None,
            last_payment: None,
        });
        self.activate(c);
        let days = self.rng.range(2, 10) as i64;
        let when = self.office_after(t, days);
        self.schedule(when, Action::Allocate { case: c, attempt: 0 });
    }

    fn fund_cash(&self, f: usize) -> u64 {
        self.state.fund(&self.funds[f].id).map_or(0, |b| b.cash_fen)
    }

    /// Which fund pays for a case of programme `p`: the sponsor's named fund now and then,
    /// else the programme's own fund, else the general fund; `None` if none holds `need`.
    fn choose_fund(&mut self, t: i64, p: Programme, need: u64) -> Option<usize> {
        let named = (GENERAL + 1..self.funds.len()).find(|&f| {
            let info = &self.funds[f];
            info.programme == p && self.fund_takes_gifts(f, t)
        });
        if let Some(f) = named {
            if self.rng.chance(400) && self.fund_cash(f) >= need {
                return Some(f);
            }
        }
        [programme_index(p), GENERAL].into_iter().find(|&f| self.fund_cash(f) >= need)
    }

    fn allocation_body(&mut self, t: i64, fund: usize, c: usize) -> Body {
        self.n.allocation += 1;
        Body::new(Kind::AllocationMade, format!("alloc-{:05}", self.n.allocation), t)
            .text("fund", &self.funds[fund].id.clone())
            .text("case", &self.cases[c].id.clone())
    }

    fn decision(&mut self, t: i64) -> String {
        let (_, m, _) = civil_from_days((t + UTC_OFFSET_MS).div_euclid(DAY_MS)).unwrap_or((0, 1, 1));
        format!("{}年{}月救助评审会第{}号决定", self.year, m, self.rng.range(1, 40))
    }

    fn allocate(&mut self, t: i64, c: usize, attempt: u32) {
        if self.cases[c].stage != Stage::Assessing {
            return;
        }
        let case = &self.cases[c];
        let need = case.requested_fen.saturating_sub(case.cash_fen);
        let programme = case.programme;
        if need >= 100 * YUAN {
            let factor = self.rng.range(600, 1000);
            let mut target = (need * factor / 1000 / (10 * YUAN) * 10 * YUAN).max(100 * YUAN);
            let mut fund = self.choose_fund(t, programme, target);
            if fund.is_none() {
                // Not enough anywhere: grant what the programme or the general fund can spare,
                // if that is at least half of what was decided.
                let best = [programme_index(programme), GENERAL]
                    .into_iter()
                    .max_by_key(|&f| (self.fund_cash(f), std::cmp::Reverse(f)))
                    .unwrap_or(GENERAL);
                let spare = self.fund_cash(best) / (10 * YUAN) * 10 * YUAN;
                if spare >= target / 2 && spare >= 100 * YUAN {
                    target = spare;
                    fund = Some(best);
                }
            }
            match fund {
                Some(f) => {
                    let decision = self.decision(t);
                    let body =
                        self.allocation_body(t, f, c).num("amount_fen", target).text("decision", &decision);
                    let id = self.emit(body, Desk::Allocator);
                    self.cases[c].cash_fen += target;
                    if self.arms.revoke && self.cases[c].cash_fen == target {
                        // The review after the decision finds the household over the income
                        // line: the allocation is revoked before anything is paid.
                        self.arms.revoke = false;
                        self.cases[c].stage = Stage::Cancelled;
                        self.deactivate(c);
                        let when = self.office_after(t, 2);
                        self.schedule(when, Action::Revoke { case: c, allocation: id });
                        return;
                    }
                }
                None if attempt < ALLOCATION_ATTEMPTS_MAX && self.cases[c].cash_fen == 0 => {
                    let when = self.office_after(t, 7);
                    if self.day_of(when) < self.day_of(self.date_ms(12, 27)) {
                        self.schedule(when, Action::Allocate { case: c, attempt: attempt + 1 });
                        return;
                    }
                }
                None => {}
            }
        }
        let t = self.later(t);
        self.maybe_allocate_goods(t, c);
        if self.cases[c].cash_fen == 0 && self.cases[c].goods.is_empty() {
            // Never funded: referred to the civil-affairs office and closed, holding nothing.
            self.cases[c].stage = Stage::Done;
            self.deactivate(c);
            let when = self.office_after(t, 1);
            self.schedule(when, Action::CloseCase { case: c });
            return;
        }
        self.plan_instalments(t, c);
    }

    /// Winter relief (quilts, coats, rice) in November–February, school things in
    /// August–September, wheelchairs any time: from the programme's fund or the general fund.
    fn maybe_allocate_goods(&mut self, t: i64, c: usize) {
        let programme = self.cases[c].programme;
        let month = self.month_of_day(self.day_of(t));
        let season = match programme {
            Programme::Poverty | Programme::Elderly | Programme::Children => matches!(month, 11 | 12 | 1 | 2),
            Programme::Education => matches!(month, 8 | 9),
            Programme::Disability => true,
            _ => false,
        };
        let chance = if programme == Programme::Disability { 150 } else { 450 };
        if !season || !self.rng.chance(chance) {
            return;
        }
        for f in [programme_index(programme), GENERAL] {
            let Some(balance) = self.state.fund(&self.funds[f].id) else { continue };
            let candidates: Vec<usize> = (0..ITEMS.len())
                .filter(|&i| {
                    ITEMS[i].serves.contains(&programme)
                        && balance.goods.get(ITEMS[i].name).is_some_and(|&q| q > 0)
                })
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let item = *self.rng.pick(&candidates);
            let held = balance.goods.get(ITEMS[item].name).copied().unwrap_or(0);
            let quantity = if ITEMS[item].unit == "台" { 1 } else { self.rng.range(1, 3) }.min(held);
            let decision = self.decision(t);
            let body = self
                .allocation_body(t, f, c)
                .raw("goods", &goods_moved(&ITEMS[item], quantity))
                .text("decision", &decision);
            self.emit(body, Desk::Allocator);
            self.cases[c].goods.push((item, quantity));
            let days = self.rng.range(2, 6) as i64;
            let when = self.office_after(t, days);
            self.schedule(when, Action::GoodsDelivery { case: c });
            return;
        }
    }

    /// Spreads the case's money over instalments at the programme's rhythm. Plans run past
    /// the year end like real ones: what falls in the next year is not in this log, and its
    /// money stays in the case (allocated, not yet paid) when the year closes.
    fn plan_instalments(&mut self, t: i64, c: usize) {
        let info = &PROGRAMMES[programme_index(self.cases[c].programme)];
        let big = self.cases[c].requested_fen >= BIG_MEDICAL_YUAN.0 * YUAN;
        let (lo, hi) = if big { (1, 2) } else { info.instalments };
        let interval_ms = info.interval_days * DAY_MS;
        // A case given goods only has no cash to spread: one round closes its plan.
        let k = if self.cases[c].cash_fen == 0 { 1 } else { self.rng.range(lo, hi) };
        let first = t + self.rng.range(5, 15) as i64 * DAY_MS;
        let case = &mut self.cases[c];
        case.stage = Stage::Paying;
        case.instalments_left = k;
        case.interval_ms = interval_ms;
        case.instalment_fen = case.cash_fen / k / YUAN * YUAN;
        let when = self.office_time(self.day_of(first));
        self.schedule(when, Action::Instalment { case: c });
    }

    /// How a payment reaches the beneficiary: a transfer to them (by commitment), cash at a
    /// visit, or a supplier paid directly (hospital, school, care home, rehabilitation centre).
    fn payee(&mut self, c: usize, goods: bool) -> (&'static str, String) {
        let case = &self.cases[c];
        let (programme, town, identity) = (case.programme, case.town, case.identity.clone());
        let person = |rng: &mut Rng| {
            let (_, commitment) = commit(rng, &identity);
            format!("{{\"commitment\":\"{commitment}\"}}")
        };
        let vendor = |name: &str| format!("{{\"vendor\":{}}}", json_str(name));
        if goods {
            return ("goods", person(&mut self.rng));
        }
        let roll = self.rng.below(100);
        match programme {
            Programme::Medical if roll < 75 => ("bank", vendor(self.rng.pick_str(&HOSPITALS))),
            Programme::Elderly if roll < 20 => ("service", vendor(&format!("{}敬老院", TOWNS[town]))),
            Programme::Elderly if roll < 40 => ("cash", person(&mut self.rng)),
            Programme::Children if roll < 15 => ("cash", person(&mut self.rng)),
            Programme::Education if roll < 40 => ("bank", vendor(self.rng.pick_str(&SCHOOLS))),
            Programme::Disability if roll < 40 => ("service", vendor("县残疾人康复中心")),
            Programme::Poverty if roll < 15 => ("service", vendor("惠民爱心超市")),
            Programme::Poverty if roll < 40 => ("cash", person(&mut self.rng)),
            _ => ("bank", person(&mut self.rng)),
        }
    }

    fn evidence(&mut self) -> String {
        let n = if self.rng.chance(300) { 2 } else { 1 };
        let hashes: Vec<String> = (0..n).map(|_| self.rng.hex32()).collect();
        json_list(&hashes)
    }

    /// Pays `amount` (cash) or `goods` out of case `c`; returns the disbursement id.
    fn pay(
        &mut self,
        t: i64,
        c: usize,
        amount: u64,
        goods: Option<(usize, u64)>,
        forced_bank: bool,
    ) -> String {
        let (method, payee) = if forced_bank {
            let identity = self.cases[c].identity.clone();
            let (_, commitment) = commit(&mut self.rng, &identity);
            ("bank", format!("{{\"commitment\":\"{commitment}\"}}"))
        } else {
            self.payee(c, goods.is_some())
        };
        self.n.payment += 1;
        let id = format!("pay-{:06}", self.n.payment);
        let mut body = Body::new(Kind::DisbursementMade, id, t).text("case", &self.cases[c].id.clone());
        body = match goods {
            Some((item, quantity)) => body.raw("goods", &goods_moved(&ITEMS[item], quantity)),
            None => body.num("amount_fen", amount),
        };
        let evidence = self.evidence();
        let body = body.text("method", method).raw("payee", &payee).raw("evidence", &evidence);
        let id = self.emit(body, Desk::Disburser);
        match goods {
            Some((item, quantity)) => {
                if let Some(g) = self.cases[c].goods.iter_mut().find(|g| g.0 == item) {
                    g.1 -= quantity;
                }
                self.cases[c].goods.retain(|g| g.1 > 0);
            }
            None => self.cases[c].cash_fen -= amount,
        }
        self.cases[c].last_payment = Some(id.clone());
        self.payments.push(id.clone());
        id
    }

    fn instalment(&mut self, t: i64, c: usize) {
        let case = &self.cases[c];
        if case.stage != Stage::Paying || case.instalments_left == 0 {
            return;
        }
        let last = case.instalments_left == 1;
        let free = case.cash_fen - case.reserved_fen;
        let amount = if last { free } else { case.instalment_fen.min(free) };
        let left_after = case.instalments_left - 1;
        let can_story = !last && !case.hold && amount > 0 && left_after >= 3;
        self.cases[c].instalments_left = left_after;
        if can_story && self.arms.skip {
            // The instalment is missed by mistake; the family will call the hotline.
            self.arms.skip = false;
            let case = &mut self.cases[c];
            case.reserved_fen += amount;
            case.hold = true;
            let when = self.office_after(t, 18);
            self.schedule(when, Action::Substantiated { case: c, step: 0 });
        } else if amount > 0 {
            let bounce = can_story && self.arms.bounce;
            let id = self.pay(t, c, amount, None, bounce);
            if bounce {
                // The beneficiary's account had been closed: the bank sends the money back.
                self.arms.bounce = false;
                self.cases[c].hold = true;
                let when = self.office_after(t, 2);
                self.schedule(when, Action::Return { case: c, disbursement: id, amount_fen: amount });
            }
        }
        if last {
            self.finish(t, c);
        } else {
            let next = t + self.cases[c].interval_ms;
            let when = self.office_time(self.day_of(next));
            self.schedule(when, Action::Instalment { case: c });
        }
    }

    /// The plan is paid out: no more earmarked gifts; most cases are closed soon after.
    fn finish(&mut self, t: i64, c: usize) {
        self.cases[c].stage = Stage::Done;
        self.deactivate(c);
        if self.rng.chance(CLOSE_FINISHED_PERMILLE) {
            let days = self.rng.range(3, 20) as i64;
            let when = self.office_after(t, days);
            self.schedule(when, Action::CloseCase { case: c });
        }
    }

    fn goods_delivery(&mut self, t: i64, c: usize) {
        let goods = self.cases[c].goods.clone();
        let mut t = t;
        for (item, quantity) in goods {
            self.pay(t, c, 0, Some((item, quantity)), false);
            t = self.later(t);
        }
    }

    /// Closes a case, first paying out anything left in it (a case closes empty).
    fn close_case(&mut self, t: i64, c: usize) {
        if matches!(self.cases[c].stage, Stage::Closed) {
            return;
        }
        if self.cases[c].hold {
            let when = self.office_after(t, 7);
            return self.schedule(when, Action::CloseCase { case: c });
        }
        let mut t = t;
        let rest = self.cases[c].cash_fen;
        if rest > 0 {
            self.pay(t, c, rest, None, false);
            t = self.later(t);
        }
        for (item, quantity) in self.cases[c].goods.clone() {
            self.pay(t, c, 0, Some((item, quantity)), false);
            t = self.later(t);
        }
        let outcome = match self.cases[c].stage {
            Stage::Cancelled => "复核发现家庭收入超出救助标准，撤销救助，款项已退回原基金",
            _ if self.cases[c].last_payment.is_none() => "本年度资金不足未能资助，已转介民政部门临时救助",
            _ => *self.rng.pick(PROGRAMMES[programme_index(self.cases[c].programme)].outcomes),
        };
        self.n.case_closed += 1;
        let body = Body::new(Kind::CaseClosed, format!("case-close-{:05}", self.n.case_closed), t)
            .text("case", &self.cases[c].id.clone())
            .text("outcome", outcome);
        self.emit(body, Desk::Caseworker);
        self.cases[c].stage = Stage::Closed;
    }

    fn revoke(&mut self, t: i64, c: usize, allocation: &str) {
        let amount = self.cases[c].cash_fen;
        self.n.revoke += 1;
        let body = Body::new(Kind::AllocationRevoked, format!("revoke-{:03}", self.n.revoke), t)
            .text("allocation", allocation)
            .num("amount_fen", amount)
            .text("reason", "入户复核发现家庭收入超出救助标准，撤销本次拨付，款项退回原基金");
        self.emit(body, Desk::Allocator);
        self.cases[c].cash_fen = 0;
        let when = self.office_after(t, 1);
        self.schedule(when, Action::CloseCase { case: c });
    }

    fn returned(&mut self, t: i64, c: usize, disbursement: &str, amount: u64) {
        self.n.returned += 1;
        let body = Body::new(Kind::DisbursementReturned, format!("return-{:03}", self.n.returned), t)
            .text("disbursement", disbursement)
            .num("amount_fen", amount)
            .text("reason", "收款银行账户已注销，款项被银行退回");
        self.emit(body, Desk::Disburser);
        let case = &mut self.cases[c];
        case.cash_fen += amount;
        case.reserved_fen += amount;
        let when = self.office_after(t, 3);
        self.schedule(when, Action::Repay { case: c });
    }

    fn repay(&mut self, t: i64, c: usize) {
        let amount = self.cases[c].reserved_fen.min(self.cases[c].cash_fen);
        if amount > 0 {
            self.pay(t, c, amount, None, true);
        }
        let case = &mut self.cases[c];
        case.reserved_fen -= amount;
        case.hold = false;
    }

    // --- supervision -------------------------------------------------------------------------

    /// The missed instalment: the family calls, the hotline investigates, the office pays what
    /// was owed, and the resolution names that payment.
    fn substantiated(&mut self, t: i64, c: usize, step: u8) {
        match step {
            0 => {
                self.n.complaint += 1;
                let id = format!("complaint-{:02}", self.n.complaint);
                let mut subjects = vec![self.cases[c].id.clone()];
                subjects.extend(self.cases[c].last_payment.clone());
                let identity = person_identity(&mut self.rng, (1960, 2000));
                let (_, complainant) = commit(&mut self.rng, &identity);
                let body = Body::new(Kind::ComplaintFiled, id.clone(), t)
                    .text("channel", "hotline")
                    .raw("subjects", &json_list(&subjects))
                    .text("summary", "受助人家属来电反映：批准的救助金有一期未按时到账")
                    .text("complainant", &complainant);
                self.emit(body, Desk::Hotline);
                self.substantiated.0 = id;
                let when = self.office_after(t, 2);
                self.schedule(when, Action::Substantiated { case: c, step: 1 });
            }
            1 => {
                let body = Body::new(Kind::ComplaintUpdated, format!("{}-update-1", self.substantiated.0), t)
                    .text("complaint", &self.substantiated.0.clone())
                    .text("status", "investigating")
                    .text("note", "已调取发放台账与银行流水，正在核对");
                self.emit(body, Desk::Hotline);
                let when = self.office_after(t, 4);
                self.schedule(when, Action::Substantiated { case: c, step: 2 });
            }
            2 => {
                let amount = self.cases[c].reserved_fen.min(self.cases[c].cash_fen);
                if amount > 0 {
                    self.substantiated.1 = self.pay(t, c, amount, None, true);
                }
                let case = &mut self.cases[c];
                case.reserved_fen -= amount;
                case.hold = false;
                let when = self.office_after(t, 1);
                self.schedule(when, Action::Substantiated { case: c, step: 3 });
            }
            _ => {
                let (complaint, corrective) = self.substantiated.clone();
                let actions: Vec<String> = Some(corrective).filter(|s| !s.is_empty()).into_iter().collect();
                let body = Body::new(Kind::ComplaintResolved, format!("{complaint}-resolved"), t)
                    .text("complaint", &complaint)
                    .text("finding", if actions.is_empty() { "partly" } else { "substantiated" })
                    .raw("actions", &json_list(&actions))
                    .text(
                        "summary",
                        "经核实，一期救助金因经办疏漏漏发，已补发到位，并对经办人员进行批评教育",
                    );
                self.emit(body, Desk::Hotline);
            }
        }
    }

    fn complaint(&mut self, t: i64, script: usize, step: usize) {
        let s = &COMPLAINTS[script];
        if step == 0 {
            let subject = if s.about_payment && !self.payments.is_empty() {
                self.payments[self.rng.index(self.payments.len())].clone()
            } else if !self.cases.is_empty() {
                self.cases[self.rng.index(self.cases.len())].id.clone()
            } else {
                return;
            };
            self.n.complaint += 1;
            let id = format!("complaint-{:02}", self.n.complaint);
            let mut body = Body::new(Kind::ComplaintFiled, id.clone(), t)
                .text("channel", s.channel)
                .raw("subjects", &json_list(&[subject]))
                .text("summary", s.summary);
            if s.complainant {
                let identity = person_identity(&mut self.rng, (1950, 2000));
                let (_, c) = commit(&mut self.rng, &identity);
                body = body.text("complainant", &c);
            }
            self.emit(body, Desk::Hotline);
            self.complaint_ids[script] = Some(id);
        } else {
            let Some(id) = self.complaint_ids[script].clone() else { return };
            if let Some(&(_, status, note)) = s.updates.get(step - 1) {
                let body = Body::new(Kind::ComplaintUpdated, format!("{id}-update-{step}"), t)
                    .text("complaint", &id)
                    .text("status", status)
                    .text("note", note);
                self.emit(body, Desk::Hotline);
            } else if let Some((_, finding, summary)) = s.resolution {
                let body = Body::new(Kind::ComplaintResolved, format!("{id}-resolved"), t)
                    .text("complaint", &id)
                    .text("finding", finding)
                    .raw("actions", "[]")
                    .text("summary", summary);
                self.emit(body, Desk::Hotline);
                return;
            } else {
                return;
            }
        }
        // The next step, counted in days from the filing date.
        let next = step + 1;
        let days = s.updates.get(next - 1).map(|u| u.0).or(s.resolution.map(|r| r.0));
        if let Some(days) = days {
            let filed = self.fixed(s.date.0, s.date.1, 9, 15);
            let when = self.office_after(filed, days).max(t + MINUTE_MS);
            self.schedule(when, Action::Complaint { script, step: next });
        }
    }

    fn audit_nonce(&self) -> [u8; 32] {
        sha256(&[b"charity-ledger/scenario/audit-nonce/v1\n", &self.seed.to_be_bytes()]).0
    }

    /// The accounting firm commits to a 10% sample of January–September payments: the window
    /// is closed, the seed size lies a little ahead, and only the nonce's hash is published.
    fn audit_plan(&mut self, t: i64) {
        self.audit.nonce = self.audit_nonce();
        let seq = self.state.size();
        self.audit.seed_size = seq + 300;
        self.audit.plan = "audit-plan-01".into();
        let body = Body::new(Kind::AuditPlanned, self.audit.plan.clone(), t)
            .text("population", "disbursements")
            .num("from_seq", 0)
            .num("to_seq", self.audit.to_seq)
            .num("rate_permille", u64::from(MIN_AUDIT_PERMILLE))
            .num("seed_size", self.audit.seed_size)
            .text("nonce_hash", &sha256(&[&self.audit.nonce]).to_hex())
            .text("summary", "第三方会计师事务所对本年一至九月救助支出按百分之十比例随机抽查");
        self.emit(body, Desk::Auditor);
    }

    fn audit_sample(&mut self, t: i64) {
        if self.audit.plan.is_empty() {
            return;
        }
        if self.state.size() < self.audit.seed_size {
            let when = self.office_after(t, 1);
            return self.schedule(when, Action::AuditSample);
        }
        let selected = self
            .state
            .sample_selection(&self.audit.plan, &self.audit.nonce)
            .unwrap_or_else(|| panic!("scenario bug: the audit plan's sample cannot be computed"));
        let ids: Vec<&str> = selected.iter().map(String::as_str).collect();
        self.audit.sample = "audit-sample-01".into();
        let body = Body::new(Kind::AuditSampled, self.audit.sample.clone(), t)
            .text("plan", &self.audit.plan.clone())
            .text("nonce", &hex::encode(self.audit.nonce))
            .num("selected_count", ids.len() as u64)
            .text("selected_hash", &selected_hash(&ids).to_hex());
        self.emit(body, Desk::Auditor);
        self.audit.selected = selected;
    }

    fn audit_finding(&mut self, t: i64) {
        if self.audit.sample.is_empty() || self.audit.selected.is_empty() {
            return;
        }
        let subjects: Vec<String> = self.audit.selected.iter().take(3).cloned().collect();
        self.audit.finding = "audit-finding-01".into();
        let body = Body::new(Kind::AuditFinding, self.audit.finding.clone(), t)
            .text("sample", &self.audit.sample.clone())
            .raw("subjects", &json_list(&subjects))
            .text("severity", "minor")
            .text("summary", "抽查样本中有三笔支出的受助人签收单据不全，其余样本凭证齐全、金额相符");
        self.emit(body, Desk::Auditor);
    }

    fn rectification_issue(&mut self, t: i64) {
        if self.audit.finding.is_empty() {
            return;
        }
        self.audit.rectification = "rectification-01".into();
        let body = Body::new(Kind::RectificationIssued, self.audit.rectification.clone(), t)
            .text("finding", &self.audit.finding.clone())
            .text("subject", &self.audit.selected[0].clone())
            .text("deadline", &date_text(t + 30 * DAY_MS))
            .text("summary", "整改通知：限期补齐受助人签收单据，完善发放台账");
        self.emit(body, Desk::Auditor);
    }

    fn rectification_close(&mut self, t: i64) {
        if self.audit.rectification.is_empty() {
            return;
        }
        let body = Body::new(Kind::RectificationClosed, format!("{}-closed", self.audit.rectification), t)
            .text("rectification", &self.audit.rectification.clone())
            .text("summary", "已补齐签收单据并完善台账，经复核整改完成");
        self.emit(body, Desk::Auditor);
    }

    // --- year end ----------------------------------------------------------------------------

    /// The sponsor's agreement ends: the named fund's balance goes to elderly cases in one
    /// decision (two allocators sign when it reaches the threshold), leaving the fund empty.
    fn empty_named_fund(&mut self, t: i64, i: usize) {
        let f = GENERAL + 1 + i;
        let balance = self.fund_cash(f);
        if balance == 0 {
            return;
        }
        let programme = NAMED_FUNDS[i].programme;
        let target = (0..self.cases.len()).rev().find(|&c| {
            let case = &self.cases[c];
            case.programme == programme && matches!(case.stage, Stage::Paying | Stage::Done) && !case.hold
        });
        let Some(c) = target else { return };
        let body = self
            .allocation_body(t, f, c)
            .num("amount_fen", balance)
            .text("decision", "冠名基金协议期满，理事会决定将余额一次性拨付敬老救助项目");
        self.emit(body, Desk::Allocator);
        self.cases[c].cash_fen += balance;
    }

    fn close_named_fund(&mut self, t: i64, i: usize) {
        let f = GENERAL + 1 + i;
        if !self.funds[f].open || self.fund_cash(f) > 0 {
            return;
        }
        let body = Body::new(Kind::FundClosed, format!("close-{}", self.funds[f].id), t)
            .text("fund", &self.funds[f].id.clone())
            .text("reason", "冠名协议期满，基金余额已全部拨付，按协议关闭");
        self.emit(body, Desk::Admin);
        self.funds[f].open = false;
    }
}

/// Applies a freshly signed envelope at `time_ms`. The signatures were just made with the
/// generator's own keys, so only the checks after them are run (`trust_stored`); the tests
/// verify every signature on the way back in.
fn apply(state: &mut State, envelope: &Envelope, time_ms: i64) -> Result<(), Refusal> {
    let verified = envelope.trust_stored()?;
    let time = EntryTime::from_unix_ms(time_ms)
        .ok_or_else(|| Refusal::new(Rule::Time, format!("{time_ms} ms is not an entry time")))?;
    let entry = VerifiedEntry::new(state.size(), state.last_leaf(), time, verified)?;
    state.apply(&entry).map(|_| ())
}

fn bug(body: &Body, refusal: &Refusal) -> ! {
    panic!(
        "scenario bug: the ledger refused {} {}: {refusal}\nbody: {}",
        body.kind,
        body.id,
        String::from_utf8_lossy(&body.bytes())
    )
}
