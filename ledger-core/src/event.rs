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
    // One untyped parse serves the syntax check, the kind, and the shape and PII walks; the
    // typed parse that follows refuses duplicate keys, unknown fields and wrong types.
    let tree: serde_json::Value = serde_json::from_slice(bytes).map_err(serde_refusal)?;
    let kind = match tree.get("kind") {
        Some(serde_json::Value::String(k)) => Kind::parse(k).ok_or_else(|| {
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
    // Every string but hex fields and times is searched for ID and phone numbers. The typed
    // body cannot tell us where strings were (ids, enums, nested texts), so walk the JSON tree.
    if let Some(path) = find_pii(&tree, "") {
        return refuse(
            Rule::PiiDetected,
            format!("field {path} looks like a resident ID or mobile number; the public log takes commitments only"),
        );
    }
    Ok(event)
}

/// The fields whose value is a JSON list.
const LIST_FIELDS: &[&str] = &["admins", "roles", "witnesses", "evidence", "subjects", "actions"];

/// Serde also reads a struct from the list of its field values, and an absent optional field
/// from `null`. The format has one spelling for each: objects as objects, absent fields absent.
/// So a null anywhere, or a list anywhere but in a list field, is refused.
fn find_loose_shape(value: &serde_json::Value, path: &str, list_field: bool) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::Null => Some(path.to_string()),
        Value::Array(items) if list_field => {
            items.iter().enumerate().find_map(|(i, v)| find_loose_shape(v, &format!("{path}[{i}]"), false))
        }
        Value::Array(_) => Some(if path.is_empty() { "(the body)".to_string() } else { path.to_string() }),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            find_loose_shape(v, &p, LIST_FIELDS.contains(&k.as_str()))
        }),
        _ => None,
    }
}

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

fn find_pii(value: &serde_json::Value, path: &str) -> Option<String> {
    match value {
        serde_json::Value::String(s) => contains_pii(s).then(|| path.to_string()),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, v)| find_pii(v, &format!("{path}[{i}]")))
        }
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
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
