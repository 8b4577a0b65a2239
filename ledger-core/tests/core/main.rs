//! Integration tests of ledger-core, organised as modules of one test binary.
use std::path::PathBuf;

mod checkpoint;
mod commitment;
mod crypto;
mod lots;
mod merkle;
mod properties;
mod rules;
mod sample;
mod scenario;
mod support;
mod text;
mod tiles;
mod time;
mod witness;

/// Reads a conformance vector file from ../shared/vectors (beside the workspace). Fails the test
/// loudly when the vectors are missing: a skipped conformance check would look like a pass.
pub fn vectors(name: &str) -> serde_json::Value {
    let dir = std::env::var_os("LEDGER_VECTORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"));
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("conformance vectors {} unreadable: {e}", path.display()));
    serde_json::from_str(&text).expect("vector file is JSON")
}
