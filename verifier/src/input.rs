//! Reading the auditor's inputs at the edge: files with a size limit, verifier keys, and the
//! log key a genesis entry names. Everything here fails with a message for the person running
//! the tool (exit code 2); nothing here judges the ledger.

use anyhow::{bail, Context, Result};
use ledger_core::checkpoint::{LogKey, WitnessKey};
use ledger_core::types::KeyHex;
use std::io::Read;
use std::path::Path;

/// Reads a whole file of at most `max` bytes.
pub fn read_bounded(path: &Path, max: u64, what: &str) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {what} {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if bytes.len() as u64 > max {
        bail!("{what} {} is larger than {max} bytes", path.display());
    }
    Ok(bytes)
}

/// Reads a whole UTF-8 text file of at most `max` bytes.
pub fn read_text_bounded(path: &Path, max: u64, what: &str) -> Result<String> {
    let bytes = read_bounded(path, max, what)?;
    String::from_utf8(bytes).with_context(|| format!("{what} {} is not UTF-8 text", path.display()))
}

/// A log verifier key as given on the command line (`origin+hash+base64`).
pub fn parse_log_key(text: &str) -> Result<LogKey> {
    LogKey::parse(text.trim())
        .with_context(|| format!("--log-key {:?} is not a log verifier key", text.trim()))
}

/// A witness verifier key as given on the command line.
pub fn parse_witness_key(text: &str) -> Result<WitnessKey> {
    WitnessKey::parse(text.trim())
        .with_context(|| format!("--witness {:?} is not a witness verifier key", text.trim()))
}

/// The log key a genesis entry names, under the log's origin.
pub fn log_key_from_genesis(origin: &str, key: &KeyHex) -> std::result::Result<LogKey, String> {
    let public = ed25519_dalek::VerifyingKey::from_bytes(&key.0)
        .map_err(|_| format!("genesis log_key {key} is not an Ed25519 public key"))?;
    LogKey::new(origin, public).map_err(|e| format!("genesis log_key {key} under origin {origin}: {e}"))
}
