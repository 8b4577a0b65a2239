//! The event body (SPEC.md §2, §5): one typed struct per kind, parsed strictly from the DSSE
//! payload. Unknown fields, duplicate keys, wrong types, floats, over-long strings and personal
//! data are refused here, before any signature is checked or any state is read.

use crate::checkpoint::WitnessKey;
use crate::limits::{AMOUNT_MAX, BODY_BYTES_MAX, LIST_ITEMS_MAX, SIGNATURES_MAX};
use crate::refusal::{refuse, Refusal, Rule};
use crate::text::{contains_pii, is_valid_origin};
use crate::time::{Date, Timestamp};
use crate::types::*;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashSet;

macro_rules! bodies {
    ($( $variant:ident => $name:ident { $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)? } )+) => {
        $(
            #[derive(Debug, Clone, Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct $name {
                #[serde(rename = "v")]
                pub version: Version1,
                pub kind: Kind,
                pub id: EventId,
                pub at: Timestamp,
                $( $(#[$fm])* pub $field: $ty, )*
            }
        )+

        /// A parsed event body of any kind.
        #[derive(Debug, Clone)]
        #[non_exhaustive]
        pub enum Event { $( $variant($name), )+ }

        impl Event {
            pub fn kind(&self) -> Kind {
                match self { $( Event::$variant(_) => Kind::$variant, )+ }
            }
            pub fn id(&self) -> &EventId {
                match self { $( Event::$variant(b) => &b.id, )+ }
            }
            pub fn at(&self) -> &Timestamp {
                match self { $( Event::$variant(b) => &b.at, )+ }
            }
        }

        fn parse_kind(kind: Kind, bytes: &[u8]) -> Result<Event, serde_json::Error> {
            Ok(match kind { $( Kind::$variant => Event::$variant(serde_json::from_slice(bytes)?), )+ })
        }
    };
}

/// The policy fixed at genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub dual_control_fen: Amount,
    pub min_audit_permille: u32,
    pub max_backdate_days: u32,
}

/// Goods as received: the item, how many, in what unit, and the value of one unit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoodsReceived {
    pub item: Text,
    pub quantity: Amount,
    pub unit: Text,
    pub unit_value_fen: Amount,
}

/// Goods moved after receipt: the item and how many.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoodsMoved {
    pub item: Text,
    pub quantity: Amount,
}

/// Who was paid: a person by commitment, or a supplier by its public name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payee {
    pub commitment: Option<Hex32>,
    pub vendor: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Witness {
    pub name: Text,
    pub vkey: String,
    pub url: Text,
}

bodies! {
    Genesis => Genesis {
        origin: String,
        name: Text,
        currency: Currency,
        admins: Vec<KeyHex>,
        log_key: KeyHex,
        policy: Policy,
    }
    KeyGranted => KeyGranted { key: KeyHex, holder: Text, roles: Vec<Role> }
    KeyRevoked => KeyRevoked { key: KeyHex, reason: Text }
    WitnessPolicy => WitnessPolicy { witnesses: Vec<Witness>, quorum: u32 }
    FundOpened => FundOpened {
        name: Text,
        programme: Programme,
        restricted: bool,
        #[serde(default)] sponsor: Option<Text>,
        opening_balance_fen: AmountOrZero,
    }
    FundClosed => FundClosed { fund: EventId, reason: Text }
    CaseOpened => CaseOpened {
        programme: Programme,
        beneficiary: Hex32,
        region: Text,
        summary: Text,
        requested_fen: Amount,
    }
    CaseClosed => CaseClosed { case: EventId, outcome: Text }
    DonationReceived => DonationReceived {
        #[serde(default)] fund: Option<EventId>,
        #[serde(default)] case: Option<EventId>,
        #[serde(default)] amount_fen: Option<Amount>,
        #[serde(default)] goods: Option<GoodsReceived>,
        channel: DonationChannel,
        #[serde(default)] donor: Option<Hex32>,
        #[serde(default)] donor_name: Option<Text>,
        #[serde(default)] reference: Option<Hex32>,
    }
    DonationRefunded => DonationRefunded { donation: EventId, amount_fen: Amount, reason: Text }
    DonationCorrected => DonationCorrected {
        donation: EventId,
        #[serde(default)] amount_fen: Option<Amount>,
        #[serde(default)] goods: Option<GoodsMoved>,
        reason: Text,
    }
    EarmarkRedirected => EarmarkRedirected {
        donation: EventId,
        fund: EventId,
        #[serde(default)] amount_fen: Option<Amount>,
        #[serde(default)] goods: Option<GoodsMoved>,
        reason: Text,
    }
    AllocationMade => AllocationMade {
        fund: EventId,
        case: EventId,
        #[serde(default)] amount_fen: Option<Amount>,
        #[serde(default)] goods: Option<GoodsMoved>,
        decision: Text,
    }
    AllocationRevoked => AllocationRevoked {
        allocation: EventId,
        #[serde(default)] amount_fen: Option<Amount>,
        #[serde(default)] goods: Option<GoodsMoved>,
        reason: Text,
    }
    DisbursementMade => DisbursementMade {
        case: EventId,
        #[serde(default)] amount_fen: Option<Amount>,
        #[serde(default)] goods: Option<GoodsMoved>,
        method: DisbursementMethod,
        payee: Payee,
        evidence: Vec<Hex32>,
    }
    DisbursementReturned => DisbursementReturned {
        disbursement: EventId,
        #[serde(default)] amount_fen: Option<Amount>,
        #[serde(default)] goods: Option<GoodsMoved>,
        reason: Text,
    }
    ComplaintFiled => ComplaintFiled {
        channel: ComplaintChannel,
        subjects: Vec<EventId>,
        summary: Text,
        #[serde(default)] complainant: Option<Hex32>,
    }
    ComplaintUpdated => ComplaintUpdated { complaint: EventId, status: ComplaintStatus, note: Text }
    ComplaintResolved => ComplaintResolved {
        complaint: EventId,
        finding: Finding,
        actions: Vec<EventId>,
        summary: Text,
    }
    AuditPlanned => AuditPlanned {
        population: Population,
        from_seq: u64,
        to_seq: u64,
        rate_permille: u32,
        seed_size: u64,
        nonce_hash: Hex32,
        summary: Text,
    }
    AuditSampled => AuditSampled { plan: EventId, nonce: Hex32, selected_count: u64, selected_hash: Hex32 }
    AuditFinding => AuditFinding { sample: EventId, subjects: Vec<EventId>, severity: Severity, summary: Text }
    RectificationIssued => RectificationIssued { finding: EventId, subject: EventId, deadline: Date, summary: Text }
    RectificationClosed => RectificationClosed { rectification: EventId, summary: Text }
}

/// What an event moves: cash in fen, or a quantity of one goods item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quantity<'a> {
    Cash(u64),
    Goods { item: &'a str, quantity: u64 },
}

impl<'a> Quantity<'a> {
    pub fn amount(&self) -> u64 {
        match self {
            Quantity::Cash(n) => *n,
            Quantity::Goods { quantity, .. } => *quantity,
        }
    }
}

fn exactly_one_quantity<'a>(
    amount_fen: &Option<Amount>,
    goods: Option<(&'a Text, Amount)>,
) -> Result<Quantity<'a>, Refusal> {
    match (amount_fen, goods) {
        (Some(a), None) => Ok(Quantity::Cash(a.get())),
        (None, Some((item, q))) => Ok(Quantity::Goods { item: item.as_str(), quantity: q.get() }),
        _ => refuse(Rule::Field, "exactly one of amount_fen and goods is required"),
    }
}

impl Event {
    /// The quantity a money- or goods-moving event moves; `None` for other kinds. Valid for
    /// every parsed event: `parse_body` has already refused a body without exactly one.
    pub fn quantity(&self) -> Option<Quantity<'_>> {
        fn moved<'a>(a: &Option<Amount>, g: &'a Option<GoodsMoved>) -> Option<Quantity<'a>> {
            exactly_one_quantity(a, g.as_ref().map(|g| (&g.item, g.quantity))).ok()
        }
        match self {
            Event::DonationReceived(b) => {
                exactly_one_quantity(&b.amount_fen, b.goods.as_ref().map(|g| (&g.item, g.quantity))).ok()
            }
            Event::DonationRefunded(b) => Some(Quantity::Cash(b.amount_fen.get())),
            Event::DonationCorrected(b) => moved(&b.amount_fen, &b.goods),
            Event::EarmarkRedirected(b) => moved(&b.amount_fen, &b.goods),
            Event::AllocationMade(b) => moved(&b.amount_fen, &b.goods),
            Event::AllocationRevoked(b) => moved(&b.amount_fen, &b.goods),
            Event::DisbursementMade(b) => moved(&b.amount_fen, &b.goods),
            Event::DisbursementReturned(b) => moved(&b.amount_fen, &b.goods),
            Event::FundOpened(b) => Some(Quantity::Cash(b.opening_balance_fen.get())),
            _ => None,
        }
    }

    /// Every commitment the event names (donor, beneficiary, complainant, payee), for lookup.
    pub fn commitments(&self) -> Vec<crate::hash::Hash> {
        match self {
            Event::DonationReceived(b) => b.donor.iter().map(|h| h.0).collect(),
            Event::CaseOpened(b) => vec![b.beneficiary.0],
            Event::ComplaintFiled(b) => b.complainant.iter().map(|h| h.0).collect(),
            Event::DisbursementMade(b) => b.payee.commitment.iter().map(|h| h.0).collect(),
            _ => Vec::new(),
        }
    }
}

impl Event {
    /// The events this one names in its reference fields (the fund, case or gift it acts on, a
    /// complaint's subjects and actions, an audit's plan, sample and finding), sorted, each
    /// once: the read models' index of what points at an object. A complaint's `finding` is a
    /// verdict, not an event, and is not among them.
    pub fn referenced_ids(&self) -> Vec<&EventId> {
        let mut ids: Vec<&EventId> = match self {
            Event::Genesis(_)
            | Event::KeyGranted(_)
            | Event::KeyRevoked(_)
            | Event::WitnessPolicy(_)
            | Event::FundOpened(_)
            | Event::CaseOpened(_)
            | Event::AuditPlanned(_) => Vec::new(),
            Event::FundClosed(b) => vec![&b.fund],
            Event::CaseClosed(b) => vec![&b.case],
            Event::DonationReceived(b) => b.fund.iter().chain(&b.case).collect(),
            Event::DonationRefunded(b) => vec![&b.donation],
            Event::DonationCorrected(b) => vec![&b.donation],
            Event::EarmarkRedirected(b) => vec![&b.donation, &b.fund],
            Event::AllocationMade(b) => vec![&b.fund, &b.case],
            Event::AllocationRevoked(b) => vec![&b.allocation],
            Event::DisbursementMade(b) => vec![&b.case],
            Event::DisbursementReturned(b) => vec![&b.disbursement],
            Event::ComplaintFiled(b) => b.subjects.iter().collect(),
            Event::ComplaintUpdated(b) => vec![&b.complaint],
            Event::ComplaintResolved(b) => std::iter::once(&b.complaint).chain(&b.actions).collect(),
            Event::AuditSampled(b) => vec![&b.plan],
            Event::AuditFinding(b) => std::iter::once(&b.sample).chain(&b.subjects).collect(),
            Event::RectificationIssued(b) => vec![&b.finding, &b.subject],
            Event::RectificationClosed(b) => vec![&b.rectification],
        };
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Parses and checks an event body: steps 1–2 of SPEC.md §8 for the payload.
pub fn parse_body(bytes: &[u8]) -> Result<Event, Refusal> {
    if bytes.len() > BODY_BYTES_MAX {
        return refuse(
            Rule::TooLarge,
            format!("event body is {} bytes, over the limit of {BODY_BYTES_MAX}", bytes.len()),
        );
    }
    // One untyped pass serves the syntax check, the kind, and the shape and PII checks; the
    // typed parse that follows refuses duplicate keys, unknown fields and wrong types.
    let scan = BodyScan::of(bytes).map_err(serde_refusal)?;
    let kind = match &scan.kind {
        Some(Some(k)) => Kind::parse(k).ok_or_else(|| {
            Refusal::new(Rule::Field, format!("unknown variant `{k}`: not a kind of event"))
        })?,
        Some(None) => return refuse(Rule::Field, "kind is not a string"),
        None => return refuse(Rule::Field, "missing field `kind`"),
    };
    let event = parse_kind(kind, bytes).map_err(serde_refusal)?;
    if let Some(path) = scan.loose_shape() {
        return refuse(
            Rule::Field,
            format!("field {path} is null, or a list where the format has an object or a value"),
        );
    }
    validate(&event)?;
    // Every string but hex fields and times is searched for ID and phone numbers. The typed
    // body cannot tell us where strings were (ids, enums, nested texts), so the scan did.
    if let Some(path) = scan.pii() {
        return refuse(
            Rule::PiiDetected,
            format!("field {path} looks like a resident ID or mobile number; the public log takes commitments only"),
        );
    }
    Ok(event)
}

/// The fields whose value is a JSON list.
const LIST_FIELDS: &[&str] = &["admins", "roles", "witnesses", "evidence", "subjects", "actions"];

/// Keys whose string values are hex-typed or timestamps, which the PII guard skips (SPEC.md §2).
const PII_EXEMPT_KEYS: &[&str] = &[
    "at",
    "deadline",
    "key",
    "admins",
    "log_key",
    "donor",
    "beneficiary",
    "complainant",
    "commitment",
    "reference",
    "evidence",
    "nonce_hash",
    "selected_hash",
    "nonce",
];

/// One step of a path into the body: an object's key or a list's index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step<'de> {
    Key(Cow<'de, str>),
    Index(usize),
}

/// What one pass over the body's JSON finds, without building a tree of it:
///
/// - the top-level `kind` (`Some(None)`: present but not a string; the last one if repeated,
///   though the typed parse refuses a repeated key anyway);
/// - loose shapes: serde also reads a struct from the list of its field values, and an absent
///   optional field from `null`. The format has one spelling for each: objects as objects,
///   absent fields absent. So a null anywhere, or a list anywhere but in a list field, is one;
/// - personal data: a string, or a key, that looks like a resident ID or mobile number, outside
///   the keys of [`PII_EXEMPT_KEYS`] and everything under them.
///
/// Of several findings, the one reported is the one a walk of the body with its keys in sorted
/// order meets first (the format's bodies have sorted keys, and a message should not depend on
/// the order a client wrote them in): a list or null before what it holds, and a value's own
/// finding before its key's.
#[derive(Debug, Default)]
struct BodyScan<'de> {
    kind: Option<Option<Cow<'de, str>>>,
    /// The first loose shape, and whether it is a list.
    loose: Option<(Vec<Step<'de>>, bool)>,
    pii: Option<Vec<Step<'de>>>,
    /// Where the walk is.
    path: Vec<Step<'de>>,
}

impl<'de> BodyScan<'de> {
    fn of(bytes: &'de [u8]) -> Result<BodyScan<'de>, serde_json::Error> {
        use serde::de::DeserializeSeed;
        let mut scan = BodyScan::default();
        // The same two calls as `serde_json::from_slice`, so the same inputs are refused with
        // the same errors as a parse into a `serde_json::Value`.
        let mut de = serde_json::Deserializer::from_slice(bytes);
        Walk { scan: &mut scan, list_field: false, pii_searched: true, keep_text: false }
            .deserialize(&mut de)?;
        de.end()?;
        Ok(scan)
    }

    fn loose_shape(&self) -> Option<String> {
        self.loose.as_ref().map(|(path, is_list)| {
            let text = path_text(path);
            if *is_list && text.is_empty() {
                "(the body)".to_string()
            } else {
                text
            }
        })
    }

    fn pii(&self) -> Option<String> {
        self.pii.as_deref().map(path_text)
    }

    fn found_loose(&mut self, is_list: bool) {
        // Pre-order: nothing under a finding is one (a null holds nothing, and what a stray
        // list holds is reported as the list), so a prefix never competes.
        if self.loose.as_ref().is_none_or(|(best, _)| walks_before(&self.path, best, false)) {
            self.loose = Some((self.path.clone(), is_list));
        }
    }

    fn found_pii(&mut self) {
        // A key is searched after its value: of a path and a longer one under it, the longer.
        if self.pii.as_ref().is_none_or(|best| walks_before(&self.path, best, true)) {
            self.pii = Some(self.path.clone());
        }
    }
}

/// Whether a walk in sorted key order meets `a` before `b`. Where one is a prefix of the other,
/// `deeper_first` says which comes first.
fn walks_before(a: &[Step<'_>], b: &[Step<'_>], deeper_first: bool) -> bool {
    for (x, y) in a.iter().zip(b) {
        match (x, y) {
            (Step::Key(x), Step::Key(y)) if x != y => return x < y,
            (Step::Index(x), Step::Index(y)) if x != y => return x < y,
            _ => {}
        }
    }
    if deeper_first {
        a.len() > b.len()
    } else {
        a.len() < b.len()
    }
}

/// `a.b[2].c`: keys joined by dots, indices in brackets.
fn path_text(path: &[Step<'_>]) -> String {
    let mut text = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(k);
            }
            Step::Index(i) => text.push_str(&format!("[{i}]")),
        }
    }
    text
}

/// Walks one JSON value of the body for [`BodyScan`]. Returns the value's text if it is a
/// string and `keep_text` asked for it.
struct Walk<'s, 'de> {
    scan: &'s mut BodyScan<'de>,
    /// The value is that of a key in [`LIST_FIELDS`].
    list_field: bool,
    /// No key above is in [`PII_EXEMPT_KEYS`].
    pii_searched: bool,
    keep_text: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for Walk<'_, 'de> {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Walk<'_, 'de> {
    fn text<E>(self, s: Cow<'de, str>) -> Result<Option<Cow<'de, str>>, E> {
        if self.pii_searched && contains_pii(&s) {
            self.scan.found_pii();
        }
        Ok(self.keep_text.then_some(s))
    }
}

impl<'de> serde::de::Visitor<'de> for Walk<'_, 'de> {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        self.scan.found_loose(false);
        Ok(None)
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        self.text(Cow::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        self.text(Cow::Owned(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        self.text(Cow::Owned(s))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
        if !self.list_field {
            self.scan.found_loose(true);
        }
        let mut i = 0usize;
        loop {
            self.scan.path.push(Step::Index(i));
            let walk = Walk {
                scan: &mut *self.scan,
                list_field: false,
                pii_searched: self.pii_searched,
                keep_text: false,
            };
            let item = items.next_element_seed(walk);
            self.scan.path.pop();
            if item?.is_none() {
                return Ok(None);
            }
            i += 1;
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let top = self.scan.path.is_empty();
        while let Some(key) = map.next_key_seed(Key)? {
            let exempt = PII_EXEMPT_KEYS.contains(&key.as_ref());
            let is_kind = top && key == "kind";
            let walk = Walk {
                scan: &mut *self.scan,
                list_field: LIST_FIELDS.contains(&key.as_ref()),
                pii_searched: self.pii_searched && !exempt,
                keep_text: is_kind,
            };
            let key_has_pii = self.pii_searched && !exempt && contains_pii(&key);
            walk.scan.path.push(Step::Key(key));
            let value = map.next_value_seed(walk);
            if let Ok(text) = &value {
                if is_kind {
                    self.scan.kind = Some(text.clone());
                }
                if key_has_pii {
                    self.scan.found_pii();
                }
            }
            self.scan.path.pop();
            value?;
        }
        Ok(None)
    }
}

/// An object key, borrowed from the body unless it had escapes.
struct Key;

impl<'de> serde::de::DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s))
    }
}

/// Turns a serde error into a refusal. Our own value types start their messages with the
/// name of the rule they broke; serde's own messages are about JSON syntax or field shape.
fn serde_refusal(e: serde_json::Error) -> Refusal {
    let message = e.to_string();
    let rule = if e.is_syntax() || e.is_eof() {
        Rule::Json
    } else {
        [
            ("amount: ", Rule::Amount),
            ("event_id: ", Rule::EventId),
            ("hex: ", Rule::Hex),
            ("text: ", Rule::Text),
            ("time: ", Rule::Time),
            ("field: ", Rule::Field),
        ]
        .iter()
        .find(|(prefix, _)| message.starts_with(prefix))
        .map(|(_, rule)| *rule)
        .unwrap_or(Rule::Field)
    };
    Refusal::new(rule, message)
}

fn check_list_len(name: &str, len: usize, max: usize) -> Result<(), Refusal> {
    if len > max {
        return refuse(Rule::Field, format!("{name} has {len} items, over the limit of {max}"));
    }
    Ok(())
}

fn check_distinct<T: std::hash::Hash + Eq>(name: &str, items: &[T]) -> Result<(), Refusal> {
    let mut seen = HashSet::new();
    if items.iter().all(|i| seen.insert(i)) {
        Ok(())
    } else {
        refuse(Rule::Field, format!("{name} names the same item twice"))
    }
}

fn check_strong_key(name: &str, key: &KeyHex) -> Result<(), Refusal> {
    if key.is_strong() {
        Ok(())
    } else {
        refuse(Rule::WeakKey, format!("{name} {key} is not a usable Ed25519 key (invalid or small order)"))
    }
}

/// The stateless checks that types alone do not express.
fn validate(event: &Event) -> Result<(), Refusal> {
    if event.quantity().is_none()
        && matches!(
            event.kind(),
            Kind::DonationReceived
                | Kind::DonationCorrected
                | Kind::EarmarkRedirected
                | Kind::AllocationMade
                | Kind::AllocationRevoked
                | Kind::DisbursementMade
                | Kind::DisbursementReturned
        )
    {
        return refuse(Rule::Field, "exactly one of amount_fen and goods is required");
    }
    match event {
        Event::Genesis(b) => {
            if !is_valid_origin(&b.origin) {
                return refuse(Rule::Field, format!("origin {:?} is not a log name", b.origin));
            }
            if b.admins.is_empty() || b.admins.len() > SIGNATURES_MAX {
                return refuse(Rule::Field, format!("admins must list 1 to {SIGNATURES_MAX} keys"));
            }
            check_distinct("admins", &b.admins)?;
            for k in &b.admins {
                check_strong_key("admin key", k)?;
            }
            check_strong_key("log_key", &b.log_key)?;
            let p = &b.policy;
            if !(100..=1000).contains(&p.min_audit_permille) {
                return refuse(Rule::Field, "policy.min_audit_permille must be 100 to 1000");
            }
            if p.max_backdate_days > 3650 {
                return refuse(Rule::Field, "policy.max_backdate_days must be 0 to 3650");
            }
        }
        Event::KeyGranted(b) => {
            check_strong_key("key", &b.key)?;
            check_list_len("roles", b.roles.len(), Role::ALL.len())?;
            check_distinct("roles", &b.roles)?;
        }
        Event::WitnessPolicy(b) => {
            check_list_len("witnesses", b.witnesses.len(), LIST_ITEMS_MAX)?;
            let mut names = Vec::new();
            for w in &b.witnesses {
                match WitnessKey::parse(&w.vkey) {
                    Ok(k) => names.push(k.name().to_string()),
                    Err(e) => return refuse(Rule::Field, format!("witness vkey {:?}: {e}", w.vkey)),
                }
            }
            check_distinct("witnesses", &names)?;
            if b.quorum as usize > b.witnesses.len() {
                return refuse(Rule::Field, "quorum is larger than the number of witnesses");
            }
        }
        Event::DonationReceived(b) => {
            if b.fund.is_some() == b.case.is_some() {
                return refuse(Rule::Field, "exactly one of fund and case is required");
            }
            if let Some(g) = &b.goods {
                let value = g.quantity.get().checked_mul(g.unit_value_fen.get());
                if value.is_none_or(|v| v > AMOUNT_MAX) {
                    return refuse(Rule::Amount, "goods quantity × unit_value_fen is over 2^53-1");
                }
            }
        }
        Event::DisbursementMade(b) => {
            if b.payee.commitment.is_some() == b.payee.vendor.is_some() {
                return refuse(Rule::Field, "payee must be exactly one of commitment and vendor");
            }
            check_list_len("evidence", b.evidence.len(), LIST_ITEMS_MAX)?;
        }
        Event::ComplaintFiled(b) => check_list_len("subjects", b.subjects.len(), LIST_ITEMS_MAX)?,
        Event::ComplaintResolved(b) => check_list_len("actions", b.actions.len(), LIST_ITEMS_MAX)?,
        Event::AuditFinding(b) => check_list_len("subjects", b.subjects.len(), LIST_ITEMS_MAX)?,
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// `parse_body` as it was before the single-pass scan: a `serde_json::Value` tree walked
    /// in its (sorted) key order. The scan must refuse exactly what this refuses, alike.
    fn reference_parse_body(bytes: &[u8]) -> Result<Event, Refusal> {
        if bytes.len() > BODY_BYTES_MAX {
            return refuse(
                Rule::TooLarge,
                format!("event body is {} bytes, over the limit of {BODY_BYTES_MAX}", bytes.len()),
            );
        }
        let tree: Value = serde_json::from_slice(bytes).map_err(serde_refusal)?;
        let kind = match tree.get("kind") {
            Some(Value::String(k)) => Kind::parse(k).ok_or_else(|| {
                Refusal::new(Rule::Field, format!("unknown variant `{k}`: not a kind of event"))
            })?,
            Some(_) => return refuse(Rule::Field, "kind is not a string"),
            None => return refuse(Rule::Field, "missing field `kind`"),
        };
        let event = parse_kind(kind, bytes).map_err(serde_refusal)?;
        if let Some(path) = find_loose_shape(&tree, "", false) {
            return refuse(
                Rule::Field,
                format!("field {path} is null, or a list where the format has an object or a value"),
            );
        }
        validate(&event)?;
        if let Some(path) = find_pii(&tree, "") {
            return refuse(
                Rule::PiiDetected,
                format!("field {path} looks like a resident ID or mobile number; the public log takes commitments only"),
            );
        }
        Ok(event)
    }

    fn find_loose_shape(value: &Value, path: &str, list_field: bool) -> Option<String> {
        match value {
            Value::Null => Some(path.to_string()),
            Value::Array(items) if list_field => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| find_loose_shape(v, &format!("{path}[{i}]"), false)),
            Value::Array(_) => {
                Some(if path.is_empty() { "(the body)".to_string() } else { path.to_string() })
            }
            Value::Object(map) => map.iter().find_map(|(k, v)| {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                find_loose_shape(v, &p, LIST_FIELDS.contains(&k.as_str()))
            }),
            _ => None,
        }
    }

    fn find_pii(value: &Value, path: &str) -> Option<String> {
        match value {
            Value::String(s) => contains_pii(s).then(|| path.to_string()),
            Value::Array(items) => {
                items.iter().enumerate().find_map(|(i, v)| find_pii(v, &format!("{path}[{i}]")))
            }
            Value::Object(map) => map.iter().find_map(|(k, v)| {
                if PII_EXEMPT_KEYS.contains(&k.as_str()) {
                    None
                } else {
                    let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    find_pii(v, &p).or_else(|| contains_pii(k).then(|| p.clone()))
                }
            }),
            _ => None,
        }
    }

    fn outcome(r: Result<Event, Refusal>) -> Result<String, (Rule, String)> {
        r.map(|e| format!("{e:?}")).map_err(|e| (e.rule, e.message))
    }

    fn check(bytes: &[u8]) {
        assert_eq!(
            outcome(parse_body(bytes)),
            outcome(reference_parse_body(bytes)),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }

    /// Compact JSON with each object's keys in sorted or in reverse order.
    fn write(v: &Value, reverse: bool, out: &mut String) {
        match v {
            Value::Object(map) => {
                out.push('{');
                let mut entries: Vec<_> = map.iter().collect();
                if reverse {
                    entries.reverse();
                }
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, reverse, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, reverse, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    /// Every node of `v`, as a list of steps (keys and indices).
    fn paths(v: &Value, here: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
        out.push(here.clone());
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    here.push(json!(k));
                    paths(child, here, out);
                    here.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    here.push(json!(i));
                    paths(child, here, out);
                    here.pop();
                }
            }
            _ => {}
        }
    }

    fn at<'v>(v: &'v mut Value, path: &[Value]) -> Option<&'v mut Value> {
        path.iter().try_fold(v, |v, step| match step {
            Value::String(k) => v.get_mut(k.as_str()),
            Value::Number(i) => v.get_mut(i.as_u64()? as usize),
            _ => None,
        })
    }

    fn bases() -> Vec<Value> {
        let key = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
        let hash = "bf8348b4107daaacf154ae780e1d5a7ee7a98f912d22e70c1f808550aaf26ef9";
        vec![
            json!({"admins":[key],"at":"2026-03-01T02:00:00.000Z","currency":"CNY","id":"genesis","kind":"ledger.genesis","log_key":"91a28a0b74381593a4d9469579208926afc8ad82c8839b7644359b9eba9a4b3a","name":"Test county charity federation","origin":"test-county.example/ledger","policy":{"dual_control_fen":5000000,"max_backdate_days":30,"min_audit_permille":100},"v":1}),
            json!({"at":"2026-03-01T02:01:00.000Z","holder":"intake desk","id":"grant-intake","key":"ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1","kind":"key.granted","roles":["intake"],"v":1}),
            json!({"amount_fen":10000,"at":"2026-03-01T02:11:00.000Z","channel":"wechat","donor":hash,"fund":"f-general","id":"d-0-0","kind":"donation.received","v":1}),
            json!({"at":"2026-03-01T02:11:00.000Z","channel":"wechat","goods":{"item":"rice","quantity":5,"unit":"bag","unit_value_fen":100},"case":"c-1","id":"d-0-1","kind":"donation.received","v":1}),
            json!({"amount_fen":20000,"at":"2026-03-01T02:19:00.000Z","case":"c-0","evidence":[hash],"id":"x-0-0","kind":"disbursement.made","method":"bank","payee":{"vendor":"County People's Hospital"},"v":1}),
            json!({"at":"2026-03-01T02:19:00.000Z","channel":"phone","id":"cf-1","kind":"complaint.filed","subjects":["x-0-0","d-0-0"],"summary":"late","v":1}),
        ]
    }

    #[test]
    fn the_scan_refuses_exactly_what_the_tree_walk_refused() {
        let replacements = [
            json!(null),
            json!([]),
            json!(["a", null]),
            json!("13812345678"),
            json!("no. 11010519491231002X here"),
            json!({"13812345678": "x"}),
            json!({"a": null, "b": "13912345678"}),
            json!(7),
            json!(1.5),
        ];
        let mut count = 0;
        for base in bases() {
            let mut all = Vec::new();
            paths(&base, &mut Vec::new(), &mut all);
            let mut bodies = vec![base.clone()];
            for path in &all {
                for r in &replacements {
                    let mut b = base.clone();
                    if let Some(node) = at(&mut b, path) {
                        *node = r.clone();
                    }
                    bodies.push(b.clone());
                    // A second finding elsewhere, to check which of two is reported.
                    for other in &all {
                        for r2 in [json!(null), json!("13812345678"), json!([1])] {
                            let mut b2 = b.clone();
                            if let Some(node) = at(&mut b2, other) {
                                *node = r2;
                            }
                            bodies.push(b2);
                        }
                    }
                }
                // A personal-data key inside every object.
                let mut b = base.clone();
                if let Some(Value::Object(map)) = at(&mut b, path) {
                    map.insert("13712345678".into(), json!("v"));
                    bodies.push(b);
                }
            }
            for body in bodies {
                for reverse in [false, true] {
                    let mut text = String::new();
                    write(&body, reverse, &mut text);
                    check(text.as_bytes());
                    count += 1;
                }
            }
        }
        assert!(count > 1000, "{count}");
    }

    #[test]
    fn the_scan_and_the_tree_walk_agree_on_syntax_and_odd_shapes() {
        for text in [
            "",
            "null",
            "[]",
            "[1,{\"kind\":\"x\"}]",
            "\"kind\"",
            "{",
            "{\"kind\":\"fund.closed\"",
            "{\"kind\":1}",
            "{\"kind\":null}",
            "{\"kind\":\"no.such\"}",
            "{\"kind\":\"fund.closed\",\"kind\":\"x\"}",
            "{\"kind\":\"x\",\"kind\":\"fund.closed\"}",
            "{\"kind\":\"fund.closed\",\"v\":1,\"id\":\"F\",\"at\":\"2026-03-01T10:00:00Z\",\"fund\":\"F0\",\"reason\":\"done\"} x",
            "{\"kind\":\"fund.closed\",\"v\":1,\"id\":\"F\",\"at\":\"2026-03-01T10:00:00Z\",\"fund\":\"F0\",\"reason\":\"done\",\"reason\":\"done\"}",
            "{\"kind\":\"fund.closed\",\"v\":1,\"id\":\"F\",\"at\":\"2026-03-01T10:00:00Z\",\"fund\":\"F0\",\"reason\":\"13812345678\"}",
            "{\"kind\":\"fund.closed\",\"v\":1,\"id\":\"F\",\"at\":\"2026-03-01T10:00:00Z\",\"fund\":\"F0\",\"reason\":\"\\u0031\\u00338\\u0031\\u0032345678\"}",
            "{\"k\\u0069nd\":\"fund.closed\",\"v\":1,\"id\":\"F\",\"at\":\"2026-03-01T10:00:00Z\",\"fund\":\"F0\",\"reason\":\"ok\"}",
            "{\"kind\":\"fund.clos\\u0065d\",\"v\":1,\"id\":\"F\",\"at\":\"2026-03-01T10:00:00Z\",\"fund\":\"F0\",\"reason\":\"ok\"}",
            "{\"kind\":\"fund.closed\",\"v\":1,\"id\":\"F\",\"at\":\"2026-03-01T10:00:00Z\",\"fund\":\"F0\",\"reason\":\"ok\",\"\":[null]}",
            "{\"kind\":\"fund.closed\",\"v\":1e0,\"id\":\"F\",\"at\":\"2026-03-01T10:00:00Z\",\"fund\":\"F0\",\"reason\":\"ok\"}",
            "{\"kind\":\"fund.closed\",\"v\":1,\"id\":\"F\",\"at\":\"2026-03-01T10:00:00Z\",\"fund\":\"F0\",\"reason\":\"\\ud800\"}",
            "{\"kind\":\"fund.closed\"}\n",
            " {\"kind\" : \"fund.closed\"} ",
        ] {
            check(text.as_bytes());
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        check(deep.as_bytes());
        let deep = format!("{{\"kind\":\"fund.closed\",\"x\":{}{}}}", "[".repeat(126), "]".repeat(126));
        check(deep.as_bytes());
    }
}
