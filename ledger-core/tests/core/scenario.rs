//! The generated county year: every event is accepted by a fresh state with every signature
//! checked, the volumes match CONTEXT.md, the year is deterministic, and donors' receipts open
//! their commitments. One year is generated once and shared by the tests.

use ledger_core::commitment::{commitment_raw, Identity};
use ledger_core::dsse::VerifiedEnvelope;
use ledger_core::entry::VerifiedEntry;
use ledger_core::event::Event;
use ledger_core::rules::State;
use ledger_core::scenario::{generate, Scenario, ScenarioConfig};
use ledger_core::time::EntryTime;
use ledger_core::types::Kind;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Instant;

fn config(seed: u64) -> ScenarioConfig {
    ScenarioConfig { seed, scale: 1, origin: "lanling-charity.example/ledger".into(), year: 2026 }
}

fn year() -> &'static Scenario {
    static YEAR: OnceLock<Scenario> = OnceLock::new();
    YEAR.get_or_init(|| {
        let started = Instant::now();
        let s = generate(&config(7));
        eprintln!("generated {} events in {:?}", s.events.len(), started.elapsed());
        s
    })
}

/// Verifies every envelope's signatures on all cores; order is kept.
fn verify_all(s: &Scenario) -> Vec<VerifiedEnvelope> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = s.events.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = s
            .events
            .chunks(chunk)
            .map(|events| {
                scope.spawn(move || {
                    events
                        .iter()
                        .map(|e| {
                            e.envelope.verify().unwrap_or_else(|r| panic!("{} does not verify: {r}", e.id))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("verifier thread")).collect()
    })
}

#[test]
fn every_event_applies_to_a_fresh_state_with_signatures_checked() {
    let s = year();
    let started = Instant::now();
    let verified = verify_all(s);
    eprintln!("verified {} envelopes in {:?}", verified.len(), started.elapsed());
    let mut state = State::new();
    let mut last_ms = i64::MIN;
    for (e, envelope) in s.events.iter().zip(verified) {
        assert!(e.time_ms >= last_ms, "{}: times never go back", e.id);
        last_ms = e.time_ms;
        let event = envelope.event();
        assert_eq!(event.id().as_str(), e.id, "the event's id is its body's");
        assert_eq!(event.kind(), e.kind, "{}: the event's kind is its body's", e.id);
        let at_ms = (event.at().unix_nanos() / 1_000_000) as i64;
        assert!(event.at().as_str().ends_with("+08:00"), "{}: at is county time", e.id);
        assert!(
            at_ms <= e.time_ms && e.time_ms - at_ms < 86_400_000,
            "{}: time is at or a little after at",
            e.id
        );
        let time = EntryTime::from_unix_ms(e.time_ms).expect("entry time");
        let entry = VerifiedEntry::new(state.size(), state.last_leaf(), time, envelope).expect("entry");
        state.apply(&entry).unwrap_or_else(|r| panic!("{} {} refused: {r}", e.kind, e.id));
    }
    state.check_lots().expect("lots consistent at year end");
    assert!(state.unsampled_plans().is_empty(), "every audit plan was sampled");
    let (open, resolved) = state.complaint_counts();
    assert!(resolved >= 4 && open <= 2, "complaints: {open} open, {resolved} resolved");
    let totals = state.totals();
    eprintln!(
        "received ¥{} (opening ¥{}), disbursed ¥{}, held in funds ¥{}, in cases ¥{}, refunded ¥{}, corrected ¥{}",
        totals.received_fen / 100,
        totals.opening_fen / 100,
        totals.disbursed_fen / 100,
        totals.held_in_funds_fen / 100,
        totals.held_in_cases_fen / 100,
        totals.refunded_fen / 100,
        totals.corrected_fen / 100
    );
    assert!(!totals.goods.is_empty(), "goods were received");
}

#[test]
fn every_kind_but_witness_policy_appears_and_volumes_fit_a_county() {
    let s = year();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &s.events {
        *counts.entry(e.kind.as_str()).or_default() += 1;
    }
    eprintln!("{} events: {counts:#?}", s.events.len());
    for kind in Kind::ALL {
        let n = counts.get(kind.as_str()).copied().unwrap_or(0);
        if *kind == Kind::WitnessPolicy {
            assert_eq!(n, 0, "the scenario declares no witnesses");
        } else {
            assert!(n > 0, "{kind} appears");
        }
    }
    let within = |kind: Kind, lo: usize, hi: usize| {
        let n = s.count(kind);
        assert!((lo..=hi).contains(&n), "{kind}: {n} not in {lo}..={hi}");
    };
    within(Kind::DonationReceived, 15_000, 25_000);
    within(Kind::CaseOpened, 4_000, 6_000);
    within(Kind::DisbursementMade, 30_000, 50_000);
    assert!((60_000..=85_000).contains(&s.events.len()), "{} events", s.events.len());
    assert_eq!(s.count(Kind::FundOpened), 10, "seven funds and three named funds");
    assert_eq!(s.count(Kind::FundClosed), 1, "one named fund closes at year end");
    assert_eq!(s.events[0].kind, Kind::Genesis);
    // Dual control: some allocations, disbursements and a refund carry two signatures.
    for kind in [Kind::AllocationMade, Kind::DisbursementMade, Kind::DonationRefunded] {
        let dual = s.events.iter().filter(|e| e.kind == kind && e.envelope.signatures.len() == 2).count();
        assert!(dual > 0, "some {kind} is signed by two keys");
    }
}

#[test]
fn the_year_spreads_over_its_twelve_months() {
    let s = year();
    let month_of =
        |ms: i64| EntryTime::from_unix_ms(ms + 8 * 3_600_000).expect("time").as_str()[..7].to_string();
    let mut months: BTreeMap<String, usize> = BTreeMap::new();
    for e in &s.events {
        *months.entry(month_of(e.time_ms)).or_default() += 1;
    }
    assert_eq!(
        months.keys().cloned().collect::<Vec<_>>(),
        (1..=12).map(|m| format!("2026-{m:02}")).collect::<Vec<_>>()
    );
    for (month, n) in &months {
        assert!(*n > 2_000, "{month} has only {n} events");
    }
}

#[test]
fn the_same_configuration_gives_the_same_bytes() {
    let a = year();
    let b = generate(&config(7));
    assert_eq!(a.events.len(), b.events.len());
    assert_eq!(a.events.first(), b.events.first());
    assert_eq!(a.events.last(), b.events.last());
    assert!(a.events.iter().zip(&b.events).all(|(x, y)| x == y), "every envelope and time is identical");
    assert_eq!(a.receipts, b.receipts);
    let keys = |s: &Scenario| s.keys.all().iter().map(|(l, k)| (l.clone(), k.to_bytes())).collect::<Vec<_>>();
    assert_eq!(keys(a), keys(&b));
    let labels: Vec<String> = a.keys.all().into_iter().map(|(l, _)| l).collect();
    for label in [
        "admin-1",
        "admin-2",
        "log",
        "intake-1",
        "intake-2",
        "intake-3",
        "caseworker",
        "allocator-2",
        "disburser-2",
        "hotline",
        "auditor",
    ] {
        assert!(labels.iter().any(|l| l == label), "key {label} is listed");
    }
}

#[test]
fn another_seed_gives_another_year() {
    // Keys alone differ by seed, so genesis differs; that is enough to tell years apart.
    let a = ledger_core::scenario::RoleKeys::derive(7);
    let b = ledger_core::scenario::RoleKeys::derive(8);
    assert_ne!(a.admins()[0].to_bytes(), b.admins()[0].to_bytes());
}

#[test]
fn receipts_open_their_donors_commitments_and_identities_stay_off_the_log() {
    let s = year();
    assert!(s.receipts.len() >= 5, "{} receipts", s.receipts.len());
    let by_id: BTreeMap<&str, usize> = s.events.iter().enumerate().map(|(i, e)| (e.id.as_str(), i)).collect();
    for r in &s.receipts {
        Identity::parse(&r.identity).expect("a receipt's identity is shape-valid");
        let i = by_id[r.donation_id.as_str()];
        let envelope = s.events[i].envelope.trust_stored().expect("parses");
        let Event::DonationReceived(body) = envelope.event() else {
            panic!("{} is not a donation", r.donation_id)
        };
        let donor = body.donor.expect("a receipt's donation names its donor");
        assert_eq!(
            donor.0,
            commitment_raw(&r.salt, &r.identity),
            "receipt {} opens its commitment",
            r.donation_id
        );
        assert!(!format!("{r:?}").contains(&r.identity), "debug output hides the identity");
    }
    // No identity of a receipt, nor anything shaped like one, is in any body (the PII guard
    // would have refused it; this checks the receipts' own numbers as plain text too).
    for e in &s.events {
        let body = e.envelope.trust_stored().expect("parses").body().to_vec();
        let text = String::from_utf8(body).expect("utf-8");
        for r in &s.receipts {
            assert!(!text.contains(&r.identity), "{} holds a donor's identity", e.id);
        }
    }
}

#[test]
fn configurations_are_checked() {
    assert!(config(1).check().is_ok());
    assert!(ScenarioConfig { scale: 0, ..config(1) }.check().is_err());
    assert!(ScenarioConfig { origin: "Not An Origin".into(), ..config(1) }.check().is_err());
    assert!(ScenarioConfig { year: 1960, ..config(1) }.check().is_err());
}

/// `Event::referenced_ids` names exactly the ids a plain scan of the body's reference fields
/// finds (a string, or strings in a list), except a complaint's verdict `finding`.
#[test]
fn referenced_ids_are_the_reference_fields_of_the_body() {
    const FIELDS: &[&str] = &[
        "fund",
        "case",
        "donation",
        "allocation",
        "disbursement",
        "complaint",
        "plan",
        "sample",
        "finding",
        "rectification",
        "subject",
        "subjects",
        "actions",
    ];
    let mut kinds_with_references = std::collections::BTreeSet::new();
    for signed in &year().events {
        let envelope = signed.envelope.verify().expect("verifies");
        let body: serde_json::Value = serde_json::from_slice(envelope.body()).expect("json");
        let mut scanned: Vec<&str> = FIELDS
            .iter()
            .filter(|f| !(body["kind"] == "complaint.resolved" && **f == "finding"))
            .flat_map(|f| match &body[*f] {
                serde_json::Value::String(s) => vec![s.as_str()],
                serde_json::Value::Array(items) => items.iter().filter_map(|v| v.as_str()).collect(),
                _ => Vec::new(),
            })
            .collect();
        scanned.sort_unstable();
        scanned.dedup();
        let typed: Vec<&str> = envelope.event().referenced_ids().iter().map(|id| id.as_str()).collect();
        assert_eq!(typed, scanned, "{body}");
        if !typed.is_empty() {
            kinds_with_references.insert(body["kind"].as_str().unwrap_or_default().to_string());
        }
    }
    // The year exercises most kinds that refer to others, so the comparison is not vacuous.
    assert!(kinds_with_references.len() >= 8, "{kinds_with_references:?}");
}
