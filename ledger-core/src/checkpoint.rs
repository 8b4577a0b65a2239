//! Checkpoints: the log's signed statement "I have `size` entries with this root", written as a
//! C2SP signed note (c2sp.org/signed-note, c2sp.org/tlog-checkpoint) so that Go's
//! `golang.org/x/mod/sumdb/note` and existing witnesses accept it, plus the witnesses'
//! c2sp.org/tlog-cosignature lines that make a split view detectable.
//!
//! Notes arrive from the network and from files, so parsing is strict: one spelling per
//! checkpoint (no leading zeros, canonical base64, no extension lines), bounded sizes, and
//! every signature checked with `verify_strict`.

// Notes are hostile input: make any unchecked arithmetic or indexing a build error.
#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use crate::encoding::{b64_decode_canonical, b64_encode, hash_from_b64};
use crate::hash::{sha256, Hash};
use crate::limits::{NOTE_BYTES_MAX, NOTE_SIGNATURES_MAX, ORIGIN_BYTES_MAX};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::fmt;

/// Signed-note signature type of the log's own Ed25519 key.
const SIG_TYPE_ED25519: u8 = 0x01;
/// Signed-note signature type of a timestamped Ed25519 witness cosignature (tlog-cosignature).
const SIG_TYPE_COSIGNATURE: u8 = 0x04;
/// Em dash and space: how every signature line starts.
const SIG_LINE_PREFIX: &str = "\u{2014} ";
/// tlog-cosignature: a timestamp must not exceed 2^63 - 1.
const COSIGNATURE_TIMESTAMP_MAX: u64 = (1 << 63) - 1;
const KEY_HASH_BYTES: usize = 4;
const ED25519_SIGNATURE_BYTES: usize = 64;
const TIMESTAMP_BYTES: usize = 8;

/// Why a note, key or checkpoint was refused. One variant per reason, so callers (and the
/// verifier's report) can say exactly what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    #[error("note is longer than {NOTE_BYTES_MAX} bytes")]
    TooLarge,
    #[error("note has more than {NOTE_SIGNATURES_MAX} signature lines")]
    TooManySignatures,
    #[error("note contains a control character other than newline")]
    ControlCharacter,
    #[error("note has no blank line between its text and its signatures")]
    MissingBlankLine,
    #[error("note has no signature lines")]
    NoSignatures,
    #[error("malformed signature line")]
    MalformedSignatureLine,
    #[error("checkpoint text is not three newline-terminated lines")]
    MalformedText,
    #[error("checkpoint has extension lines, which this log never writes")]
    ExtensionLine,
    #[error("origin is not a valid log name")]
    BadOrigin,
    #[error("key name is empty, too long, or contains a space, '+' or control character")]
    BadKeyName,
    #[error("tree size is not a decimal number without leading zeros that fits in 64 bits")]
    BadSize,
    #[error("root is not the canonical base64 of 32 bytes")]
    BadRoot,
    #[error("verifier key is not <name>+<8 lower-case hex>+<canonical base64>")]
    MalformedVerifierKey,
    #[error("verifier key has the wrong signature type byte")]
    WrongKeyType,
    #[error("verifier key hash does not match its name and public key")]
    KeyHashMismatch,
    #[error("not a valid Ed25519 public key")]
    BadPublicKey,
    #[error("Ed25519 public key has small order")]
    WeakPublicKey,
    #[error("checkpoint origin differs from the log key's name")]
    OriginMismatch,
    #[error("two signature lines from the same key")]
    DuplicateSignature,
    #[error("two different configured keys share a name and key hash")]
    AmbiguousKey,
    #[error("the log's signature does not verify")]
    InvalidLogSignature,
    #[error("note carries no signature from the log key")]
    MissingLogSignature,
    #[error("cosignature by {0} does not verify")]
    InvalidCosignature(String),
    #[error("cosignature timestamp exceeds 2^63 - 1")]
    TimestampOutOfRange,
}

/// A log's claim about its tree. Fields are public because a checkpoint is plain data; only
/// its signed form carries authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The exact bytes that are signed and cosigned: three lines, no extensions.
    pub fn signed_text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64())
    }

    /// Parses the signed text, accepting only the one spelling [`Checkpoint::signed_text`]
    /// writes, so a checkpoint and its text correspond one to one.
    pub fn parse_signed_text(text: &str) -> Result<Checkpoint, NoteError> {
        let body = text.strip_suffix('\n').ok_or(NoteError::MalformedText)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(NoteError::MalformedText);
        };
        if lines.next().is_some() {
            return Err(NoteError::ExtensionLine);
        }
        validate_origin(origin)?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size: parse_size(size)?,
            root: hash_from_b64(root).ok_or(NoteError::BadRoot)?,
        })
    }
}

/// `^[a-z0-9.-]+(/[A-Za-z0-9._-]+)*$`, at most ORIGIN_BYTES_MAX bytes: a schema-less URL that
/// is also a valid key name (no spaces, no '+').
fn validate_origin(origin: &str) -> Result<(), NoteError> {
    if origin.len() > ORIGIN_BYTES_MAX {
        return Err(NoteError::BadOrigin);
    }
    let mut segments = origin.split('/');
    let host = segments.next().unwrap_or_default();
    let host_ok =
        !host.is_empty() && host.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-'));
    let paths_ok = segments.all(|seg| {
        !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    });
    if host_ok && paths_ok {
        Ok(())
    } else {
        Err(NoteError::BadOrigin)
    }
}

/// signed-note key names: non-empty, no Unicode space, no '+'. We also bound the length and
/// forbid control characters, which a note may not contain anyway.
fn validate_key_name(name: &str) -> Result<(), NoteError> {
    let ok = !name.is_empty()
        && name.len() <= ORIGIN_BYTES_MAX
        && !name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '+');
    if ok {
        Ok(())
    } else {
        Err(NoteError::BadKeyName)
    }
}

/// Decimal, ASCII digits only, no leading zeros, fits in u64.
fn parse_size(text: &str) -> Result<u64, NoteError> {
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = text.len() > 1 && text.starts_with('0');
    if !digits_only || leading_zero {
        return Err(NoteError::BadSize);
    }
    text.parse::<u64>().map_err(|_| NoteError::BadSize)
}

/// `SHA-256(name || "\n" || type || pubkey)[:4]`, the signed-note key ID.
fn key_hash(name: &str, sig_type: u8, key: &VerifyingKey) -> [u8; KEY_HASH_BYTES] {
    let digest = sha256(&[name.as_bytes(), b"\n", &[sig_type], key.as_bytes()]);
    let mut out = [0u8; KEY_HASH_BYTES];
    out.copy_from_slice(&digest.0[..KEY_HASH_BYTES]);
    out
}

fn checked_public_key(key: VerifyingKey) -> Result<VerifyingKey, NoteError> {
    // verify_strict would refuse every signature under a small-order key anyway; refusing the
    // key itself turns a confusing "bad signature" into the real reason.
    if key.is_weak() {
        return Err(NoteError::WeakPublicKey);
    }
    Ok(key)
}

fn verifier_key_string(name: &str, sig_type: u8, key: &VerifyingKey) -> String {
    let mut data = Vec::with_capacity(1 + 32);
    data.push(sig_type);
    data.extend_from_slice(key.as_bytes());
    format!("{name}+{}+{}", hex::encode(key_hash(name, sig_type, key)), b64_encode(&data))
}

/// Splits `<name>+<hash>+<base64(type || key)>`, checking the type and that the hash matches.
/// The caller validates the name under its own rule.
fn parse_verifier_key(vkey: &str, sig_type: u8) -> Result<(&str, VerifyingKey), NoteError> {
    let (name, rest) = vkey.split_once('+').ok_or(NoteError::MalformedVerifierKey)?;
    let (hash_hex, key_b64) = rest.split_once('+').ok_or(NoteError::MalformedVerifierKey)?;
    let hash_ok = hash_hex.len() == 2 * KEY_HASH_BYTES
        && hash_hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !hash_ok {
        return Err(NoteError::MalformedVerifierKey);
    }
    let mut claimed = [0u8; KEY_HASH_BYTES];
    hex::decode_to_slice(hash_hex, &mut claimed).map_err(|_| NoteError::MalformedVerifierKey)?;
    let data = b64_decode_canonical(key_b64).ok_or(NoteError::MalformedVerifierKey)?;
    let (&found_type, key_bytes) = data.split_first().ok_or(NoteError::BadPublicKey)?;
    if found_type != sig_type {
        return Err(NoteError::WrongKeyType);
    }
    let key_bytes: &[u8; 32] = key_bytes.try_into().map_err(|_| NoteError::BadPublicKey)?;
    let key = VerifyingKey::from_bytes(key_bytes).map_err(|_| NoteError::BadPublicKey)?;
    let key = checked_public_key(key)?;
    if key_hash(name, sig_type, &key) != claimed {
        return Err(NoteError::KeyHashMismatch);
    }
    Ok((name, key))
}

/// The log's public key as auditors configure it: its name is the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKey {
    origin: String,
    key: VerifyingKey,
    key_hash: [u8; KEY_HASH_BYTES],
}

impl LogKey {
    pub fn new(origin: &str, key: VerifyingKey) -> Result<LogKey, NoteError> {
        validate_origin(origin)?;
        let key = checked_public_key(key)?;
        Ok(LogKey { origin: origin.to_owned(), key_hash: key_hash(origin, SIG_TYPE_ED25519, &key), key })
    }

    /// Parses a published verifier key (`<origin>+<hash>+<base64(0x01 || key)>`).
    pub fn parse(vkey: &str) -> Result<LogKey, NoteError> {
        let (origin, key) = parse_verifier_key(vkey, SIG_TYPE_ED25519)?;
        LogKey::new(origin, key)
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    pub fn key_hash(&self) -> [u8; KEY_HASH_BYTES] {
        self.key_hash
    }

    /// The string the log publishes at `/v1/log-key` and auditors pass to the verifier.
    pub fn verifier_key(&self) -> String {
        verifier_key_string(&self.origin, SIG_TYPE_ED25519, &self.key)
    }
}

/// The log's signing side. Only the node holds one.
#[derive(Clone)]
pub struct LogSigner {
    key: SigningKey,
    log_key: LogKey,
}

impl fmt::Debug for LogSigner {
    // Never print the secret key, even in a debug log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogSigner").field("log_key", &self.log_key).finish_non_exhaustive()
    }
}

impl LogSigner {
    pub fn new(origin: &str, key: SigningKey) -> Result<LogSigner, NoteError> {
        let log_key = LogKey::new(origin, key.verifying_key())?;
        Ok(LogSigner { key, log_key })
    }

    pub fn log_key(&self) -> &LogKey {
        &self.log_key
    }

    /// Signs `checkpoint` and returns the whole note. Refuses another log's origin, so a
    /// misconfigured node cannot sign for a name it does not own.
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<String, NoteError> {
        if checkpoint.origin != self.log_key.origin {
            return Err(NoteError::OriginMismatch);
        }
        let text = checkpoint.signed_text();
        let signature = self.key.sign(text.as_bytes());
        let mut payload = Vec::with_capacity(KEY_HASH_BYTES + ED25519_SIGNATURE_BYTES);
        payload.extend_from_slice(&self.log_key.key_hash);
        payload.extend_from_slice(&signature.to_bytes());
        let note = format!("{text}\n{SIG_LINE_PREFIX}{} {}\n", self.log_key.origin, b64_encode(&payload));
        if note.len() > NOTE_BYTES_MAX {
            return Err(NoteError::TooLarge);
        }
        Ok(note)
    }
}

/// A witness's public cosigning key (tlog-cosignature, type 0x04), as an auditor configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessKey {
    name: String,
    key: VerifyingKey,
    key_hash: [u8; KEY_HASH_BYTES],
}

impl WitnessKey {
    pub fn new(name: &str, key: VerifyingKey) -> Result<WitnessKey, NoteError> {
        validate_key_name(name)?;
        let key = checked_public_key(key)?;
        Ok(WitnessKey { name: name.to_owned(), key_hash: key_hash(name, SIG_TYPE_COSIGNATURE, &key), key })
    }

    /// Parses `<name>+<hash>+<base64(0x04 || key)>`.
    pub fn parse(vkey: &str) -> Result<WitnessKey, NoteError> {
        let (name, key) = parse_verifier_key(vkey, SIG_TYPE_COSIGNATURE)?;
        WitnessKey::new(name, key)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    pub fn key_hash(&self) -> [u8; KEY_HASH_BYTES] {
        self.key_hash
    }

    pub fn verifier_key(&self) -> String {
        verifier_key_string(&self.name, SIG_TYPE_COSIGNATURE, &self.key)
    }
}

/// A witness's signing side: used by witness tools and by tests.
#[derive(Clone)]
pub struct WitnessSigner {
    key: SigningKey,
    witness_key: WitnessKey,
}

impl fmt::Debug for WitnessSigner {
    // Never print the secret key, even in a debug log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WitnessSigner").field("witness_key", &self.witness_key).finish_non_exhaustive()
    }
}

/// The tlog-cosignature v1 signed message: a domain-separating header, the time, then the
/// checkpoint's signed text.
fn cosignature_message(text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{text}")
}

impl WitnessSigner {
    pub fn new(name: &str, key: SigningKey) -> Result<WitnessSigner, NoteError> {
        let witness_key = WitnessKey::new(name, key.verifying_key())?;
        Ok(WitnessSigner { key, witness_key })
    }

    pub fn witness_key(&self) -> &WitnessKey {
        &self.witness_key
    }

    /// One `— <name> <base64(key hash || timestamp || signature)>\n` line for `checkpoint` at
    /// `timestamp` (POSIX seconds). Refuses what no verifier would accept: a timestamp beyond
    /// 2^63 - 1, or a checkpoint whose text would not parse.
    pub fn cosign_line(&self, checkpoint: &Checkpoint, timestamp: u64) -> Result<String, NoteError> {
        if timestamp > COSIGNATURE_TIMESTAMP_MAX {
            return Err(NoteError::TimestampOutOfRange);
        }
        validate_origin(&checkpoint.origin)?;
        let message = cosignature_message(&checkpoint.signed_text(), timestamp);
        let signature = self.key.sign(message.as_bytes());
        let mut payload = Vec::with_capacity(KEY_HASH_BYTES + TIMESTAMP_BYTES + ED25519_SIGNATURE_BYTES);
        payload.extend_from_slice(&self.witness_key.key_hash);
        payload.extend_from_slice(&timestamp.to_be_bytes());
        payload.extend_from_slice(&signature.to_bytes());
        Ok(format!("{SIG_LINE_PREFIX}{} {}\n", self.witness_key.name, b64_encode(&payload)))
    }
}

/// A checkpoint whose log signature verified, with the configured witnesses that cosigned it
/// (name, POSIX timestamp), in note order. Quorum policy is the caller's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedCheckpoint {
    pub checkpoint: Checkpoint,
    pub cosigned_by: Vec<(String, u64)>,
}

/// One syntactically valid signature line.
struct SigLine<'a> {
    name: &'a str,
    key_hash: [u8; KEY_HASH_BYTES],
    /// The bytes after the key hash.
    body: Vec<u8>,
}

/// Parses `— <name> <base64>` (without its newline).
fn parse_sig_line(line: &str) -> Result<SigLine<'_>, NoteError> {
    let rest = line.strip_prefix(SIG_LINE_PREFIX).ok_or(NoteError::MalformedSignatureLine)?;
    let (name, b64) = rest.rsplit_once(' ').ok_or(NoteError::MalformedSignatureLine)?;
    validate_key_name(name).map_err(|_| NoteError::MalformedSignatureLine)?;
    let bytes = b64_decode_canonical(b64).ok_or(NoteError::MalformedSignatureLine)?;
    if bytes.len() <= KEY_HASH_BYTES {
        return Err(NoteError::MalformedSignatureLine);
    }
    let (hash, body) = bytes.split_at(KEY_HASH_BYTES);
    let mut key_hash = [0u8; KEY_HASH_BYTES];
    key_hash.copy_from_slice(hash);
    Ok(SigLine { name, key_hash, body: body.to_vec() })
}

/// A note split into its checkpoint text and its syntactically valid signature lines; no
/// signature is verified yet.
struct SplitNote<'a> {
    text: &'a str,
    checkpoint: Checkpoint,
    lines: Vec<SigLine<'a>>,
}

fn split_note(note: &str) -> Result<SplitNote<'_>, NoteError> {
    if note.len() > NOTE_BYTES_MAX {
        return Err(NoteError::TooLarge);
    }
    if note.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::ControlCharacter);
    }
    // signed-note: the text ends at the last blank line.
    let blank = note.rfind("\n\n").ok_or(NoteError::MissingBlankLine)?;
    let text = note.get(..=blank).ok_or(NoteError::MissingBlankLine)?;
    let sigs =
        note.get(blank..).and_then(|rest| rest.strip_prefix("\n\n")).ok_or(NoteError::MissingBlankLine)?;
    if sigs.is_empty() {
        return Err(NoteError::NoSignatures);
    }
    let sigs = sigs.strip_suffix('\n').ok_or(NoteError::MalformedSignatureLine)?;
    // Bound the work before parsing or verifying anything.
    if sigs.split('\n').count() > NOTE_SIGNATURES_MAX {
        return Err(NoteError::TooManySignatures);
    }
    let checkpoint = Checkpoint::parse_signed_text(text)?;
    let lines = sigs.split('\n').map(parse_sig_line).collect::<Result<Vec<_>, _>>()?;
    Ok(SplitNote { text, checkpoint, lines })
}

fn signature_from(bytes: &[u8]) -> Option<Signature> {
    let bytes: &[u8; ED25519_SIGNATURE_BYTES] = bytes.try_into().ok()?;
    Some(Signature::from_bytes(bytes))
}

fn verify_log_line(log_key: &LogKey, text: &str, body: &[u8]) -> Result<(), NoteError> {
    let signature = signature_from(body).ok_or(NoteError::InvalidLogSignature)?;
    log_key.key.verify_strict(text.as_bytes(), &signature).map_err(|_| NoteError::InvalidLogSignature)
}

/// Verifies one cosignature and returns its timestamp.
fn verify_cosignature(key: &WitnessKey, text: &str, body: &[u8]) -> Result<u64, NoteError> {
    let invalid = || NoteError::InvalidCosignature(key.name.clone());
    if body.len() != TIMESTAMP_BYTES + ED25519_SIGNATURE_BYTES {
        return Err(invalid());
    }
    let (time_bytes, sig_bytes) = body.split_at(TIMESTAMP_BYTES);
    let time_bytes: [u8; TIMESTAMP_BYTES] = time_bytes.try_into().map_err(|_| invalid())?;
    let timestamp = u64::from_be_bytes(time_bytes);
    if timestamp > COSIGNATURE_TIMESTAMP_MAX {
        return Err(invalid());
    }
    let signature = signature_from(sig_bytes).ok_or_else(invalid)?;
    key.key
        .verify_strict(cosignature_message(text, timestamp).as_bytes(), &signature)
        .map_err(|_| invalid())?;
    Ok(timestamp)
}

/// The checkpoint a note claims, before any signature is checked: a witness reads the origin
/// to choose the log key it then opens the note with. Never trust the answer on its own.
pub fn claimed_checkpoint(note: &str) -> Result<Checkpoint, NoteError> {
    split_note(note).map(|split| split.checkpoint)
}

/// Opens a signed checkpoint: the log's signature must verify, every line from a configured
/// witness must verify, and lines from keys nobody configured are ignored (signed-note says
/// verifiers MUST ignore unknown keys, so anyone may add lines without breaking the note).
pub fn open_checkpoint(
    note: &str,
    log_key: &LogKey,
    witnesses: &[WitnessKey],
) -> Result<OpenedCheckpoint, NoteError> {
    let split = split_note(note)?;
    if split.checkpoint.origin != log_key.origin {
        return Err(NoteError::OriginMismatch);
    }
    let mut seen: Vec<(&str, [u8; KEY_HASH_BYTES])> = Vec::new();
    let mut log_signed = false;
    let mut cosigned_by = Vec::new();
    for line in &split.lines {
        let is_log = line.name == log_key.origin && line.key_hash == log_key.key_hash;
        let mut matching = witnesses.iter().filter(|w| w.name == line.name && w.key_hash == line.key_hash);
        let witness = matching.next();
        // Two different keys behind one (name, key hash) would make the line's meaning depend
        // on which one we try first.
        let ambiguous =
            matching.any(|w| Some(w) != witness) || (is_log && witness.is_some_and(|w| w.key != log_key.key));
        if ambiguous {
            return Err(NoteError::AmbiguousKey);
        }
        if !is_log && witness.is_none() {
            continue;
        }
        if seen.contains(&(line.name, line.key_hash)) {
            return Err(NoteError::DuplicateSignature);
        }
        seen.push((line.name, line.key_hash));
        if is_log {
            verify_log_line(log_key, split.text, &line.body)?;
            log_signed = true;
        } else if let Some(witness) = witness {
            let timestamp = verify_cosignature(witness, split.text, &line.body)?;
            cosigned_by.push((witness.name.clone(), timestamp));
        }
    }
    if !log_signed {
        return Err(NoteError::MissingLogSignature);
    }
    Ok(OpenedCheckpoint { checkpoint: split.checkpoint, cosigned_by })
}

/// Appends one signature line (a witness's cosignature) to a signed note. Checks only the
/// form, since no keys are at hand: the result still has to pass [`open_checkpoint`]. Refuses
/// a second line from the same (name, key hash), which opening would refuse too.
pub fn add_cosignature(note: &str, line: &str) -> Result<String, NoteError> {
    let split = split_note(note)?;
    let bare = line.strip_suffix('\n').ok_or(NoteError::MalformedSignatureLine)?;
    if bare.contains('\n') {
        return Err(NoteError::MalformedSignatureLine);
    }
    if bare.chars().any(|c| c < ' ') {
        return Err(NoteError::ControlCharacter);
    }
    let new = parse_sig_line(bare)?;
    if split.lines.iter().any(|l| l.name == new.name && l.key_hash == new.key_hash) {
        return Err(NoteError::DuplicateSignature);
    }
    if split.lines.len() >= NOTE_SIGNATURES_MAX {
        return Err(NoteError::TooManySignatures);
    }
    let out = format!("{note}{line}");
    if out.len() > NOTE_BYTES_MAX {
        return Err(NoteError::TooLarge);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        for ok in ["a", "lanling-charity.example/ledger", "x.y/A_b.c-d/E", "0-9."] {
            assert_eq!(validate_origin(ok), Ok(()), "{ok}");
        }
        let long = "a".repeat(ORIGIN_BYTES_MAX + 1);
        for bad in ["", "A.example", "a/", "/a", "a//b", "a b", "a+b", "a/b c", "é", long.as_str()] {
            assert_eq!(validate_origin(bad), Err(NoteError::BadOrigin), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        for bad in ["", "00", "07", "+7", "-1", " 7", "7 ", "18446744073709551616", "٣"] {
            assert_eq!(parse_size(bad), Err(NoteError::BadSize), "{bad}");
        }
    }

    #[test]
    fn key_names() {
        assert_eq!(validate_key_name("witness.example/w1"), Ok(()));
        for bad in ["", "a b", "a+b", "a\u{a0}b", "a\tb", "a\u{7f}"] {
            assert_eq!(validate_key_name(bad), Err(NoteError::BadKeyName), "{bad:?}");
        }
    }
}
