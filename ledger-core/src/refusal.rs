//! Why an envelope or an entry is refused: one type for the node (which answers with it, SPEC.md
//! §8) and the verifier (which reports it), so both name the same rule for the same fault.

use std::fmt;

/// The error code of SPEC.md §8, with its HTTP status. `Chain` and `Invariant` never reach a
/// client of the node: the first is what the verifier finds in a broken log, the second a bug
/// that stops the node before it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    TooLarge,
    Malformed,
    BadSignature,
    DuplicateId,
    Unauthorized,
    RuleViolation,
    Chain,
    Invariant,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::TooLarge => "too_large",
            Code::Malformed => "malformed",
            Code::BadSignature => "bad_signature",
            Code::DuplicateId => "duplicate_id",
            Code::Unauthorized => "unauthorized",
            Code::RuleViolation => "rule_violation",
            Code::Chain => "chain",
            Code::Invariant => "invariant",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            Code::TooLarge => 413,
            Code::Malformed => 400,
            Code::BadSignature | Code::Unauthorized => 403,
            Code::DuplicateId => 409,
            Code::RuleViolation => 422,
            Code::Chain | Code::Invariant => 500,
        }
    }
}

/// The rule a refusal names. The names are the contract (SPEC.md §8); the `Malformed*` family
/// refines `malformed` so a client learns which stateless check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    // step 1–2: size and syntax
    TooLarge,
    Json,
    Envelope,
    PayloadType,
    Base64,
    Hex,
    Signatures,
    Text,
    EventId,
    Time,
    Amount,
    Field,
    WeakKey,
    PiiDetected,
    // step 3
    BadSignature,
    // step 4
    DuplicateId,
    // step 5
    Role,
    Revoked,
    KeyChangeQuorum,
    // step 6
    GenesisOnly,
    FutureTime,
    Backdated,
    UnknownReference,
    NotOpen,
    NotEmpty,
    InsufficientFunds,
    RestrictedFund,
    WrongAsset,
    UnitMismatch,
    OverRevoke,
    OverReturn,
    LastAdmin,
    KeyRevoked,
    BadSample,
    AlreadySampled,
    AlreadyResolved,
    Overflow,
    // step 7
    DualControl,
    // the log itself (verifier)
    EntrySyntax,
    Seq,
    Prev,
    TimeOrder,
    // a broken invariant of this implementation
    Conservation,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        use Rule::*;
        match self {
            TooLarge => "too_large",
            Json => "json",
            Envelope => "envelope",
            PayloadType => "payload_type",
            Base64 => "base64",
            Hex => "hex",
            Signatures => "signatures",
            Text => "text",
            EventId => "event_id",
            Time => "time",
            Amount => "amount",
            Field => "field",
            WeakKey => "weak_key",
            PiiDetected => "pii_detected",
            BadSignature => "bad_signature",
            DuplicateId => "duplicate_id",
            Role => "role",
            Revoked => "revoked",
            KeyChangeQuorum => "key_change_quorum",
            GenesisOnly => "genesis_only",
            FutureTime => "future_time",
            Backdated => "backdated",
            UnknownReference => "unknown_reference",
            NotOpen => "not_open",
            NotEmpty => "not_empty",
            InsufficientFunds => "insufficient_funds",
            RestrictedFund => "restricted_fund",
            WrongAsset => "wrong_asset",
            UnitMismatch => "unit_mismatch",
            OverRevoke => "over_revoke",
            OverReturn => "over_return",
            LastAdmin => "last_admin",
            KeyRevoked => "key_revoked",
            BadSample => "bad_sample",
            AlreadySampled => "already_sampled",
            AlreadyResolved => "already_resolved",
            Overflow => "overflow",
            DualControl => "dual_control",
            EntrySyntax => "entry_syntax",
            Seq => "seq",
            Prev => "prev",
            TimeOrder => "time_order",
            Conservation => "conservation",
        }
    }

    /// The §8 code this rule answers with.
    pub fn code(self) -> Code {
        use Rule::*;
        match self {
            TooLarge => Code::TooLarge,
            Json | Envelope | PayloadType | Base64 | Hex | Signatures | Text | EventId | Time | Amount
            | Field | WeakKey | PiiDetected => Code::Malformed,
            BadSignature => Code::BadSignature,
            DuplicateId => Code::DuplicateId,
            Role | Revoked | KeyChangeQuorum | DualControl => Code::Unauthorized,
            EntrySyntax | Seq | Prev | TimeOrder => Code::Chain,
            Conservation => Code::Invariant,
            _ => Code::RuleViolation,
        }
    }
}

/// A refused envelope or entry: the code and rule of SPEC.md §8 and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: Rule,
    pub message: String,
    /// For `duplicate_id`, the seq of the entry that already holds the id.
    pub seq: Option<u64>,
}

impl Refusal {
    pub fn new(rule: Rule, message: impl Into<String>) -> Refusal {
        Refusal { rule, message: message.into(), seq: None }
    }

    pub fn code(&self) -> Code {
        self.rule.code()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code().as_str(), self.rule.as_str(), self.message)
    }
}

impl std::error::Error for Refusal {}

/// Shorthand for building a refusal in the rules: `refuse(Rule::NotOpen, format!(..))`.
pub fn refuse<T>(rule: Rule, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal::new(rule, message))
}
