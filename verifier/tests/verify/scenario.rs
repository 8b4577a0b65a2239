//! A realistic county year from `ledger_core::scenario`: the verifier agrees with the core on
//! every figure, and a pinned key from the scenario's own log key holds.

use crate::support::{verify, write};
use ledger_core::checkpoint::LogSigner;
use ledger_core::entry::VerifiedEntry;
use ledger_core::rules::State;
use ledger_core::scenario::{generate, ScenarioConfig};
use ledger_core::time::EntryTime;

#[test]
fn a_generated_county_year_holds_with_the_cores_figures() {
    let config = ScenarioConfig::default();
    let scenario = generate(&config);
    let mut state = State::new();
    let mut export = Vec::new();
    for ev in &scenario.events {
        let envelope = ev.envelope.verify().expect("generated envelopes verify");
        let time = EntryTime::from_unix_ms(ev.time_ms).expect("time");
        let entry = VerifiedEntry::new(state.size(), state.last_leaf(), time, envelope).expect("entry");
        state.apply(&entry).expect("generated events apply");
        export.extend_from_slice(entry.bytes());
        export.push(b'\n');
    }
    let vkey = LogSigner::new(&config.origin, scenario.keys.log_key().clone())
        .expect("signer")
        .log_key()
        .verifier_key();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = write(dir.path(), "year.jsonl", &export);
    let html = dir.path().join("year.html");
    let run = verify(&[
        "log".as_ref(),
        log.as_os_str(),
        "--log-key".as_ref(),
        vkey.as_ref(),
        "--json".as_ref(),
        "--report".as_ref(),
        html.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{}{}", &run.stdout[..run.stdout.len().min(4000)], run.stderr);
    let r = run.json();
    assert_eq!(r["entries"], state.size());
    assert_eq!(r["balances"], serde_json::to_value(state.balances()).expect("json"));
    assert_eq!(r["audits"]["unsampled_plans"], serde_json::json!(state.unsampled_plans()));
    let (open, resolved) = state.complaint_counts();
    assert_eq!(r["complaints"]["open"], open);
    assert_eq!(r["complaints"]["resolved"], resolved);
    // Fund flows add up to the totals.
    let sum = |field: &str| -> u64 {
        r["funds"].as_object().expect("funds").values().map(|f| f[field].as_u64().unwrap_or(0)).sum()
    };
    assert_eq!(sum("opening_fen"), r["totals"]["opening_fen"].as_u64().unwrap_or(0));
    assert_eq!(sum("balance_fen"), r["totals"]["held_in_funds_fen"].as_u64().unwrap_or(0));
    assert!(std::fs::metadata(&html).map(|m| m.len()).unwrap_or(0) > 1000);
}
