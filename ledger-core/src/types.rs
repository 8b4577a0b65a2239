//! Typed values of the event body. Each is parsed once, at the edge, and cannot hold an
//! invalid value afterwards. A failed parse says which rule it broke: the message starts with
//! the rule's name (`hex: ...`), which `event::parse_body` turns back into a `Rule`.

use crate::encoding::hex32;
use crate::hash::Hash;
use crate::limits::{AMOUNT_MAX, TEXT_CHARS_MAX};
use crate::text::{check_free_text, is_valid_event_id};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A positive amount of fen or a positive quantity of goods, `1 ≤ n ≤ 2^53 − 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Amount(u64);

impl Amount {
    pub fn new(n: u64) -> Option<Amount> {
        (1..=AMOUNT_MAX).contains(&n).then_some(Amount(n))
    }
    pub fn get(self) -> u64 {
        self.0
    }
}

impl TryFrom<u64> for Amount {
    type Error = String;
    fn try_from(n: u64) -> Result<Self, String> {
        Amount::new(n).ok_or_else(|| format!("amount: {n} is outside 1..=2^53-1"))
    }
}

impl From<Amount> for u64 {
    fn from(a: Amount) -> u64 {
        a.0
    }
}

/// An amount that may be zero (`opening_balance_fen`), `0 ≤ n ≤ 2^53 − 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct AmountOrZero(u64);

impl AmountOrZero {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl TryFrom<u64> for AmountOrZero {
    type Error = String;
    fn try_from(n: u64) -> Result<Self, String> {
        if n <= AMOUNT_MAX {
            Ok(AmountOrZero(n))
        } else {
            Err(format!("amount: {n} is over 2^53-1"))
        }
    }
}

impl From<AmountOrZero> for u64 {
    fn from(a: AmountOrZero) -> u64 {
        a.0
    }
}

/// An event id, `^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`; it also names the object the event creates.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventId(Box<str>);

impl EventId {
    pub fn parse(s: &str) -> Option<EventId> {
        is_valid_event_id(s).then(|| EventId(s.into()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EventId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if is_valid_event_id(&s) {
            Ok(EventId(s.into_boxed_str()))
        } else {
            Err(format!("event_id: {s:?} is not an event id"))
        }
    }
}

impl From<EventId> for String {
    fn from(id: EventId) -> String {
        id.0.into()
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Ed25519 public key as written in the format: 64 lower-case hex characters. Whether the
/// bytes are a usable key is checked where the key is used (signing) or granted (`key.granted`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyHex(pub [u8; 32]);

impl KeyHex {
    pub fn parse(s: &str) -> Option<KeyHex> {
        hex32(s).map(KeyHex)
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    /// A key that can sign: a valid point that is not of small order (SPEC.md §1, §5).
    pub fn is_strong(&self) -> bool {
        match ed25519_dalek::VerifyingKey::from_bytes(&self.0) {
            Ok(k) => !k.is_weak(),
            Err(_) => false,
        }
    }
}

impl TryFrom<String> for KeyHex {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        KeyHex::parse(&s).ok_or_else(|| format!("hex: key {s:?} is not 64 lower-case hex characters"))
    }
}

impl From<KeyHex> for String {
    fn from(k: KeyHex) -> String {
        k.to_hex()
    }
}

impl fmt::Debug for KeyHex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHex({})", self.to_hex())
    }
}

impl fmt::Display for KeyHex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A hex-typed field: a commitment, a voucher or bank-slip hash, a nonce or its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Hex32(pub Hash);

impl TryFrom<String> for Hex32 {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        hex32(&s)
            .map(|b| Hex32(Hash(b)))
            .ok_or_else(|| format!("hex: {s:?} is not 64 lower-case hex characters"))
    }
}

impl From<Hex32> for String {
    fn from(h: Hex32) -> String {
        h.0.to_hex()
    }
}

/// Free text: at most 500 Unicode scalar values, no control characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text(Box<str>);

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Text {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match check_free_text(&s) {
            Ok(()) => Ok(Text(s.into_boxed_str())),
            Err(e) => Err(format!("text: {e} (limit {TEXT_CHARS_MAX} characters, no control characters)")),
        }
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        t.0.into()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

/// The one body version this implementation reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Version1;

impl TryFrom<u64> for Version1 {
    type Error = String;
    fn try_from(n: u64) -> Result<Self, String> {
        if n == 1 {
            Ok(Version1)
        } else {
            Err(format!("field: version {n} is not 1"))
        }
    }
}

impl From<Version1> for u64 {
    fn from(_: Version1) -> u64 {
        1
    }
}

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// What a key may sign, SPEC.md §5.
    Role {
        Admin = "admin",
        Intake = "intake",
        Caseworker = "caseworker",
        Allocator = "allocator",
        Disburser = "disburser",
        Hotline = "hotline",
        Auditor = "auditor",
    }
);

impl Role {
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

string_enum!(
    /// The six forms of help and the general fund, SPEC.md §5.
    Programme {
        Elderly = "elderly",
        Children = "children",
        Education = "education",
        Medical = "medical",
        Disability = "disability",
        Poverty = "poverty",
        General = "general",
    }
);

string_enum!(
    DonationChannel {
        Bank = "bank",
        Wechat = "wechat",
        Alipay = "alipay",
        Cash = "cash",
        Goods = "goods",
        Other = "other",
    }
);

string_enum!(
    DisbursementMethod {
        Bank = "bank",
        Cash = "cash",
        Goods = "goods",
        Service = "service",
    }
);

string_enum!(
    ComplaintChannel {
        Hotline = "hotline",
        Mailbox = "mailbox",
        Media = "media",
        Online = "online",
        Visit = "visit",
    }
);

string_enum!(
    ComplaintStatus {
        Investigating = "investigating",
        Referred = "referred",
    }
);

string_enum!(
    Finding {
        Substantiated = "substantiated",
        Partly = "partly",
        Unsubstantiated = "unsubstantiated",
    }
);

string_enum!(
    Population {
        Donations = "donations",
        Cases = "cases",
        Disbursements = "disbursements",
    }
);

string_enum!(
    Severity {
        Info = "info",
        Minor = "minor",
        Major = "major",
    }
);

string_enum!(
    Currency {
        Cny = "CNY",
    }
);

string_enum!(
    /// Every event kind of SPEC.md §5.
    Kind {
        Genesis = "ledger.genesis",
        KeyGranted = "key.granted",
        KeyRevoked = "key.revoked",
        WitnessPolicy = "witness.policy",
        FundOpened = "fund.opened",
        FundClosed = "fund.closed",
        CaseOpened = "case.opened",
        CaseClosed = "case.closed",
        DonationReceived = "donation.received",
        DonationRefunded = "donation.refunded",
        DonationCorrected = "donation.corrected",
        EarmarkRedirected = "earmark.redirected",
        AllocationMade = "allocation.made",
        AllocationRevoked = "allocation.revoked",
        DisbursementMade = "disbursement.made",
        DisbursementReturned = "disbursement.returned",
        ComplaintFiled = "complaint.filed",
        ComplaintUpdated = "complaint.updated",
        ComplaintResolved = "complaint.resolved",
        AuditPlanned = "audit.planned",
        AuditSampled = "audit.sampled",
        AuditFinding = "audit.finding",
        RectificationIssued = "rectification.issued",
        RectificationClosed = "rectification.closed",
    }
);
