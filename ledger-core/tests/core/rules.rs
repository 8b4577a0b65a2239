//! Every rule of SPEC.md §5 and §8: a valid case accepted and each invalid one refused with its
//! rule name. Each table row starts from a fresh copy of a small ledger (`ledger()`), appends
//! its setup (which must be accepted), then its step, and `check` compares the outcome. A
//! refused step must leave the state exactly as it was.

use crate::support::bodies::*;
use crate::support::{hex64, key, role_seed, second_seed, Harness, DUAL_CONTROL_FEN, T0_MS};
use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::WitnessKey;
use ledger_core::dsse::{Envelope, EnvelopeSignature, PAYLOAD_TYPE};
use ledger_core::encoding::{b64_decode_canonical, b64_encode};
use ledger_core::hash::{sha256, Hash};
use ledger_core::limits::{AMOUNT_MAX, DUAL_CONTROL_WINDOW_MS, TEXT_CHARS_MAX};
use ledger_core::refusal::Refusal;
use ledger_core::rules::{Applied, Balances, State};
use ledger_core::sample;
use ledger_core::types::Role;
use serde_json::{json, Value};

// Seeds of the harness keys (support.rs): two admins, the log key, one key per role and a
// second key for intake, allocator and disburser. `STRANGER` holds no role.
const ADMIN: u8 = 1;
const ADMIN2: u8 = 2;
const LOG: u8 = 3;
const INTAKE: u8 = 11;
const CASEWORKER: u8 = 12;
const ALLOCATOR: u8 = 13;
const DISBURSER: u8 = 14;
const HOTLINE: u8 = 15;
const AUDITOR: u8 = 16;
const INTAKE2: u8 = 41;
const ALLOCATOR2: u8 = 43;
const DISBURSER2: u8 = 44;
const STRANGER: u8 = 99;
const HOUR_MS: i64 = 60 * 60 * 1000;
const DAY_MS: i64 = 24 * HOUR_MS;

#[test]
fn seeds_match_the_harness() {
    let pairs = [
        (INTAKE, Role::Intake),
        (CASEWORKER, Role::Caseworker),
        (ALLOCATOR, Role::Allocator),
        (DISBURSER, Role::Disburser),
        (HOTLINE, Role::Hotline),
        (AUDITOR, Role::Auditor),
    ];
    for (seed, role) in pairs {
        assert_eq!(seed, role_seed(role), "{role}");
    }
    assert_eq!(
        (INTAKE2, ALLOCATOR2, DISBURSER2),
        (second_seed(Role::Intake), second_seed(Role::Allocator), second_seed(Role::Disburser))
    );
}

// ---------------------------------------------------------------------------------------------
// The table machinery.

enum Step {
    /// Signed by the key of the role its kind needs (two admins for key changes).
    Append(Value),
    /// Signed by exactly these keys (seeds).
    By(Value, Vec<u8>),
    /// Raw body bytes, signed by these keys.
    Bytes(Vec<u8>, Vec<u8>),
    /// The node's clock moves forward.
    Advance(i64),
    /// In a setup: a step that must be refused (and so leave no trace).
    Expect(Box<Step>),
}

fn a(body: Value) -> Step {
    Step::Append(body)
}

fn by(body: Value, seeds: &[u8]) -> Step {
    Step::By(body, seeds.to_vec())
}

enum Want {
    Accepted,
    Refused(&'static str),
    /// `duplicate_id`, naming the seq that holds the id.
    Duplicate(u64),
}

struct Row {
    what: String,
    setup: Vec<Step>,
    step: Step,
    want: Want,
}

fn ok(what: &str, step: Step) -> Row {
    Row { what: what.to_string(), setup: Vec::new(), step, want: Want::Accepted }
}

fn no(what: &str, step: Step, rule: &'static str) -> Row {
    Row { what: what.to_string(), setup: Vec::new(), step, want: Want::Refused(rule) }
}

impl Row {
    fn after(mut self, setup: impl IntoIterator<Item = Step>) -> Row {
        self.setup.extend(setup);
        self
    }
}

fn fresh(base: &Harness) -> Harness {
    Harness {
        state: base.state.clone(),
        admin: base.admin.clone(),
        admin2: base.admin2.clone(),
        time_ms: base.time_ms,
    }
}

fn run(h: &mut Harness, step: &Step) -> Result<Applied, Refusal> {
    let keys = |seeds: &[u8]| -> Vec<SigningKey> { seeds.iter().map(|&s| key(s)).collect() };
    match step {
        Step::Append(body) => h.append(body.clone()),
        Step::By(body, seeds) => {
            let ks = keys(seeds);
            h.append_with(body.clone(), &ks.iter().collect::<Vec<_>>())
        }
        Step::Bytes(bytes, seeds) => {
            let ks = keys(seeds);
            h.append_bytes(bytes, &ks.iter().collect::<Vec<_>>())
        }
        Step::Advance(ms) => {
            h.time_ms += ms;
            Ok(Applied::default())
        }
        Step::Expect(inner) => run(h, inner),
    }
}

/// What a refusal must leave untouched.
fn snapshot(state: &State) -> (u64, Hash, i64, Balances) {
    (state.size(), state.last_leaf(), state.last_time_ms(), state.balances())
}

fn run_row(base: &Harness, row: &Row) -> Result<(), String> {
    let mut h = fresh(base);
    for (i, s) in row.setup.iter().enumerate() {
        match (s, run(&mut h, s)) {
            (Step::Expect(_), Ok(_)) => {
                return Err(format!("setup step {i} was accepted, expected a refusal"))
            }
            (Step::Expect(_), Err(_)) | (_, Ok(_)) => {}
            (_, Err(e)) => return Err(format!("setup step {i} was refused: {e}")),
        }
    }
    let before = snapshot(&h.state);
    let got = run(&mut h, &row.step);
    match (&row.want, got) {
        (Want::Accepted, Ok(_)) => {
            if h.state.size() != before.0 + 1 {
                return Err("accepted but the log did not grow by one".into());
            }
        }
        (Want::Accepted, Err(e)) => return Err(format!("refused: {e}")),
        (Want::Refused(rule), Ok(_)) => return Err(format!("accepted, expected {rule}")),
        (Want::Duplicate(_), Ok(_)) => return Err("accepted, expected duplicate_id".into()),
        (want, Err(e)) => {
            let (rule, seq) = match want {
                Want::Refused(r) => (*r, None),
                Want::Duplicate(s) => ("duplicate_id", Some(*s)),
                Want::Accepted => unreachable!(),
            };
            if e.rule.as_str() != rule {
                return Err(format!("expected {rule}, got {e}"));
            }
            if seq.is_some() && e.seq != seq {
                return Err(format!("duplicate_id names seq {:?}, expected {seq:?}", e.seq));
            }
            if snapshot(&h.state) != before {
                return Err("the refusal changed the state".into());
            }
        }
    }
    h.state.check_lots().map_err(|e| format!("lots inconsistent: {e}"))
}

/// Runs every row on a fresh copy of `base`; reports all failing rows at once.
fn check(base: &Harness, rows: Vec<Row>) {
    assert!(!rows.is_empty());
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|row| run_row(base, row).err().map(|e| format!("  {}: {e}", row.what)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// The ledger every table starts from. After it:
/// F-med 8000 (D-1); F-gen 5000 (D-2) and 15 quilts (D-G); F-edu empty; F-eld 500 (opening);
/// C-med 4000 (2000 of D-1 under A-1, D-E's 2000 earmarked); C-edu 3 quilts (A-G).
fn ledger() -> Harness {
    let mut h = Harness::new();
    let steps = [
        fund_open("F-med", "medical", true, 1000),      // 10
        fund_open("F-gen", "general", false, 0),        // 11
        fund_open("F-edu", "education", true, 0),       // 12
        fund_open("F-eld", "elderly", false, 500),      // 13
        case_open("C-med", "medical"),                  // 14
        case_open("C-edu", "education"),                // 15
        donation("D-1", "fund", "F-med", cash(10_000)), // 16
        donation("D-2", "fund", "F-gen", cash(5_000)),  // 17
        donation("D-G", "fund", "F-gen", goods_in("quilt", 20, "piece", 8_000)), // 18
        donation("D-E", "case", "C-med", cash(2_000)),  // 19
        alloc("A-1", "F-med", "C-med", cash(3_000)),    // 20: opening 1000 + D-1 2000
        disburse("X-1", "C-med", cash(1_000)),          // 21: the opening's 1000
        alloc("A-G", "F-gen", "C-edu", goods("quilt", 5)), // 22
        disburse("X-G", "C-edu", goods("quilt", 2)),    // 23
    ];
    for body in steps {
        let id = body["id"].clone();
        h.append(body).unwrap_or_else(|e| panic!("ledger step {id}: {e}"));
    }
    assert_eq!(h.state.size(), 24);
    h
}

fn d9() -> Value {
    donation("D-9", "fund", "F-med", cash(100))
}

#[test]
fn the_base_ledger_is_as_described() {
    let h = ledger();
    let b = serde_json::to_value(h.state.balances()).expect("json");
    assert_eq!(b["funds"]["F-med"]["cash_fen"], 8000);
    assert_eq!(b["funds"]["F-gen"]["cash_fen"], 5000);
    assert_eq!(b["funds"]["F-gen"]["goods"], json!({"quilt": 15}));
    assert_eq!(b["funds"]["F-edu"]["cash_fen"], 0);
    assert_eq!(b["funds"]["F-eld"]["cash_fen"], 500);
    assert_eq!(b["cases"]["C-med"]["cash_fen"], 4000);
    assert_eq!(b["cases"]["C-edu"]["goods"], json!({"quilt": 3}));
    h.state.check_lots().expect("lots");
}

// ---------------------------------------------------------------------------------------------
// genesis_only

#[test]
fn genesis_only() {
    let admins = [key_of(ADMIN), key_of(ADMIN2)];
    let genesis = ev(
        "ledger.genesis",
        "genesis-2",
        json!({"origin": "test.example/ledger", "name": "Again", "currency": "CNY", "admins": admins,
               "log_key": key_of(LOG),
               "policy": {"dual_control_fen": 100, "min_audit_permille": 100, "max_backdate_days": 30}}),
    );
    check(
        &ledger(),
        vec![
            no(
                "a second genesis, signed by the admins",
                by(genesis.clone(), &[ADMIN, ADMIN2]),
                "genesis_only",
            ),
            // Decision (a) of docs/FORMAT.md: position is checked before authority.
            no("a second genesis, signed by a stranger", by(genesis.clone(), &[STRANGER]), "genesis_only"),
        ],
    );

    // At seq 0, on an empty state.
    let empty = Harness { state: State::new(), admin: key(ADMIN), admin2: key(ADMIN2), time_ms: T0_MS };
    let first = with(genesis.clone(), json!({"id": "genesis"}));
    check(
        &empty,
        vec![
            ok("genesis signed by every admin", by(first.clone(), &[ADMIN, ADMIN2])),
            ok("genesis signed by every admin, in any order", by(first.clone(), &[ADMIN2, ADMIN])),
            no("genesis signed by one of two admins", by(first.clone(), &[ADMIN]), "role"),
            no("genesis with a junk extra signer", by(first.clone(), &[ADMIN, ADMIN2, STRANGER]), "role"),
            no("a fund first", by(fund_open("F-1", "general", false, 0), &[ADMIN]), "genesis_only"),
            no("a key grant first", by(grant("G-1", INTAKE, &["intake"]), &[ADMIN, ADMIN2]), "genesis_only"),
            no("a donation first, by a stranger", by(d9(), &[STRANGER]), "genesis_only"),
            no(
                "genesis with its at a day and a second ahead",
                by(with(first.clone(), json!({"at": "2026-03-02T02:00:01Z"})), &[ADMIN, ADMIN2]),
                "future_time",
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// unauthorized: role, revoked, key_change_quorum; and the key rules last_admin, key_revoked,
// weak_key, already_resolved, unknown_reference.

fn witness_policy(id: &str) -> Value {
    let vkey =
        WitnessKey::new("witness.example/bureau", key(60).verifying_key()).expect("witness").verifier_key();
    ev(
        "witness.policy",
        id,
        json!({"witnesses": [{"name": "Civil affairs bureau", "vkey": vkey, "url": "https://witness.example/"}],
               "quorum": 1}),
    )
}

#[test]
fn authority() {
    let revoke_intake = || a(key_revoke("RK-1", INTAKE));
    let revoke_admin2 = || a(key_revoke("RK-1", ADMIN2));
    let third_admin = || a(grant("G-3", 50, &["admin"]));
    check(
        &ledger(),
        vec![
            // role
            ok("intake signs a donation", by(d9(), &[INTAKE])),
            ok("the second intake key signs a donation", by(d9(), &[INTAKE2])),
            ok("two intake keys sign a donation", by(d9(), &[INTAKE, INTAKE2])),
            no("a caseworker signs a donation", by(d9(), &[CASEWORKER]), "role"),
            no("an admin signs a donation", by(d9(), &[ADMIN]), "role"),
            no("an unknown key signs", by(d9(), &[STRANGER]), "role"),
            no("the log key signs an event", by(d9(), &[LOG]), "role"),
            no("junk extra signer: an unknown key", by(d9(), &[INTAKE, STRANGER]), "role"),
            no("junk extra signer: a key of another role", by(d9(), &[INTAKE, CASEWORKER]), "role"),
            no("junk extra signer first", by(d9(), &[HOTLINE, INTAKE]), "role"),
            ok("either admin opens a fund alone", by(fund_open("F-9", "general", false, 0), &[ADMIN2])),
            no("intake opens a fund", by(fund_open("F-9", "general", false, 0), &[INTAKE]), "role"),
            no("an admin opens a case", by(case_open("C-9", "medical"), &[ADMIN]), "role"),
            no("a disburser allocates", by(alloc("A-9", "F-med", "C-med", cash(1)), &[DISBURSER]), "role"),
            no("an allocator disburses", by(disburse("X-9", "C-med", cash(1)), &[ALLOCATOR]), "role"),
            no("an auditor files a complaint", by(complaint("Q-9", &["D-1"]), &[AUDITOR]), "role"),
            no("an intake key closes a case", by(case_close("CC-9", "C-edu"), &[INTAKE]), "role"),
            no(
                "two non-admins grant a key",
                by(grant("G-9", 50, &["intake"]), &[INTAKE, CASEWORKER]),
                "role",
            ),
            no(
                "an admin and a non-admin grant a key",
                by(grant("G-9", 50, &["intake"]), &[ADMIN, INTAKE]),
                "role",
            ),
            // revoked
            no("a key signs after its revocation", by(d9(), &[INTAKE]), "revoked").after([revoke_intake()]),
            ok("the other intake key still signs", by(d9(), &[INTAKE2])).after([revoke_intake()]),
            ok("a key revokes itself alone", by(key_revoke("RK-1", INTAKE), &[INTAKE])),
            no("a key signs after revoking itself", by(d9(), &[INTAKE]), "revoked")
                .after([by(key_revoke("RK-1", INTAKE), &[INTAKE])]),
            no("a revoked key revokes itself again", by(key_revoke("RK-2", INTAKE), &[INTAKE]), "revoked")
                .after([revoke_intake()]),
            no(
                "a revoked admin opens a fund",
                by(fund_open("F-9", "general", false, 0), &[ADMIN2]),
                "revoked",
            )
            .after([revoke_admin2()]),
            no(
                "a revoked key as the second signer",
                by(alloc("A-9", "F-med", "C-med", cash(1)), &[ALLOCATOR, ALLOCATOR2]),
                "revoked",
            )
            .after([a(key_revoke("RK-1", ALLOCATOR2))]),
            no("a key revokes another key alone", by(key_revoke("RK-1", INTAKE2), &[INTAKE]), "role"),
            no("an unknown key revokes itself", by(key_revoke("RK-1", STRANGER), &[STRANGER]), "role"),
            // key_change_quorum
            no("one admin of two grants", by(grant("G-9", 50, &["intake"]), &[ADMIN]), "key_change_quorum"),
            no("one admin of two revokes", by(key_revoke("RK-1", INTAKE), &[ADMIN]), "key_change_quorum"),
            no("one admin of two sets witnesses", by(witness_policy("W-1"), &[ADMIN2]), "key_change_quorum"),
            ok("two admins set witnesses", a(witness_policy("W-1"))),
            ok("two admins grant", a(grant("G-9", 50, &["intake"]))),
            ok("the only admin left grants alone", by(grant("G-9", 50, &["intake"]), &[ADMIN]))
                .after([revoke_admin2()]),
            ok("the only admin left sets witnesses alone", by(witness_policy("W-1"), &[ADMIN]))
                .after([revoke_admin2()]),
            no(
                "three admins: one is not enough",
                by(grant("G-9", 51, &["intake"]), &[ADMIN]),
                "key_change_quorum",
            )
            .after([third_admin()]),
            ok("three admins: any two", by(grant("G-9", 51, &["intake"]), &[ADMIN2, 50]))
                .after([third_admin()]),
            no(
                "an admin revoked by self-revocation no longer counts for quorum",
                by(grant("G-9", 51, &["intake"]), &[ADMIN, ADMIN2]),
                "revoked",
            )
            .after([by(key_revoke("RK-1", ADMIN2), &[ADMIN2])]),
            // last_admin
            no("the last admin revokes itself", by(key_revoke("RK-2", ADMIN), &[ADMIN]), "last_admin")
                .after([revoke_admin2()]),
            no(
                "the last admin loses the admin role",
                by(grant("G-9", ADMIN, &["intake"]), &[ADMIN]),
                "last_admin",
            )
            .after([revoke_admin2()]),
            ok("the last admin gains a role", by(grant("G-9", ADMIN, &["admin", "auditor"]), &[ADMIN]))
                .after([revoke_admin2()]),
            ok("one of two admins is revoked by both", revoke_admin2()),
            ok("one of two admins revokes itself alone", by(key_revoke("RK-1", ADMIN2), &[ADMIN2])),
            ok("one of two admins loses the role", a(grant("G-9", ADMIN2, &["auditor"]))),
            no(
                "then the other cannot lose it",
                by(grant("G-10", ADMIN, &["auditor"]), &[ADMIN]),
                "last_admin",
            )
            .after([a(grant("G-9", ADMIN2, &["auditor"]))]),
            // key_revoked, re-grants
            no("a revoked key is granted again", a(grant("G-9", INTAKE, &["intake"])), "key_revoked")
                .after([revoke_intake()]),
            no("a self-revoked key is granted again", a(grant("G-9", INTAKE, &["hotline"])), "key_revoked")
                .after([by(key_revoke("RK-1", INTAKE), &[INTAKE])]),
            ok("a grant replaces the roles", a(grant("G-9", INTAKE, &["intake", "hotline"]))),
            no("a role taken away by a new grant", by(d9(), &[INTAKE]), "role").after([a(grant(
                "G-9",
                INTAKE,
                &["hotline"],
            ))]),
            ok("a role added by a new grant", by(complaint("Q-9", &["D-1"]), &[INTAKE])).after([a(grant(
                "G-9",
                INTAKE,
                &["intake", "hotline"],
            ))]),
            ok("a grant with no roles", a(grant("G-9", 50, &[]))),
            // key.revoked: decision (d) of docs/FORMAT.md
            no("revoking a revoked key", a(key_revoke("RK-2", INTAKE)), "already_resolved")
                .after([revoke_intake()]),
            no("revoking an unknown key", a(key_revoke("RK-1", STRANGER)), "unknown_reference"),
        ],
    );
}

/// Every small-order point (the 8-torsion subgroup) and non-points, as keys.
fn weak_keys() -> Vec<String> {
    let mut out: Vec<String> = EIGHT_TORSION.iter().map(|p| hex::encode(p.compress().to_bytes())).collect();
    // Identity with the sign bit set, and the non-canonical identity y = p + 1.
    out.push(format!("01{}80", "00".repeat(30)));
    let mut p_plus_1 = [0xffu8; 32];
    p_plus_1[0] = 0xee;
    p_plus_1[31] = 0x7f;
    out.push(hex::encode(p_plus_1));
    // A y with no x on the curve (y = 2 is not a point of edwards25519).
    out.push(format!("02{}", "00".repeat(31)));
    out
}

#[test]
fn weak_keys_are_refused_where_keys_are_named() {
    let weak = weak_keys();
    assert!(weak.contains(&format!("01{}", "00".repeat(31))), "the identity is among them");
    let mut rows = Vec::new();
    for (i, k) in weak.iter().enumerate() {
        let body = with(grant("G-9", 50, &["intake"]), json!({"key": k}));
        rows.push(no(&format!("key.granted of weak key {i} {k}"), a(body), "weak_key"));
        let admins = json!([key_of(ADMIN), k]);
        let genesis = ev(
            "ledger.genesis",
            "genesis-2",
            json!({"origin": "test.example/ledger", "name": "n", "currency": "CNY", "admins": admins,
                   "log_key": key_of(LOG),
                   "policy": {"dual_control_fen": 100, "min_audit_permille": 100, "max_backdate_days": 30}}),
        );
        rows.push(no(
            &format!("genesis naming weak admin key {i}"),
            by(genesis.clone(), &[ADMIN]),
            "weak_key",
        ));
        let weak_log = with(genesis, json!({"admins": [key_of(ADMIN)], "log_key": k}));
        rows.push(no(&format!("genesis naming weak log key {i}"), by(weak_log, &[ADMIN]), "weak_key"));
    }
    rows.push(ok("a strong key", a(grant("G-9", 50, &["intake"]))));
    check(&ledger(), rows);
}

/// A key revoked at seq N signs nothing after N, of any kind; what it signed before stands.
#[test]
fn a_revocation_in_the_middle() {
    let mut h = ledger();
    h.append_with(d9(), &[&key(INTAKE)]).expect("signed before the revocation");
    let revocation = h.append(key_revoke("RK-1", INTAKE));
    assert!(revocation.is_ok(), "{revocation:?}");
    let n = h.state.size() - 1;
    let (_, revoked) = h.state.key_roles(&ledger_core::dsse::key_hex(&key(INTAKE))).expect("known key");
    assert!(revoked);
    let after = [
        donation("D-10", "fund", "F-med", cash(100)),
        donation("D-11", "case", "C-med", cash(100)),
        refund("RF-10", "D-1", 10),
        correct("K-10", "D-9", cash(10)),
        key_revoke("RK-2", INTAKE),
    ];
    for body in after {
        let before = h.state.size();
        let e = h.append_with(body.clone(), &[&key(INTAKE)]).expect_err("a revoked key signs nothing");
        assert_eq!(e.rule.as_str(), "revoked", "{}: {e}", body["id"]);
        assert_eq!(h.state.size(), before);
        // The same act by a key that is not revoked goes through.
        h.append_with(body.clone(), &[&key(INTAKE2)])
            .or_else(|e| if body["kind"] == "key.revoked" { Ok(Applied::default()) } else { Err(e) })
            .expect("the other intake key signs it");
    }
    assert_eq!(h.state.lookup("D-9").map(|(s, _)| s), Some(n - 1), "what it signed before stands");
    h.state.check_lots().expect("lots");
}

// ---------------------------------------------------------------------------------------------
// Time: future_time and backdated (SPEC.md §2).

fn at(body: Value, at: &str) -> Value {
    with(body, json!({"at": at}))
}

#[test]
fn time_window() {
    // The entry time is T0 = 2026-03-01T02:00:00Z; the policy allows 30 days back.
    check(
        &ledger(),
        vec![
            ok("at equal to the entry time", a(at(d9(), "2026-03-01T02:00:00Z"))),
            ok("at exactly 24 h ahead", a(at(d9(), "2026-03-02T02:00:00Z"))),
            ok("at exactly 24 h ahead, in +08:00", a(at(d9(), "2026-03-02T10:00:00+08:00"))),
            no("at 24 h and 1 ms ahead", a(at(d9(), "2026-03-02T02:00:00.001Z")), "future_time"),
            no("at 24 h and 1 ns ahead", a(at(d9(), "2026-03-02T02:00:00.000000001Z")), "future_time"),
            no("at a year ahead", a(at(d9(), "2027-03-01T02:00:00Z")), "future_time"),
            ok("at exactly 30 days back", a(at(d9(), "2026-01-30T02:00:00Z"))),
            ok("at exactly 30 days back, in -05:00", a(at(d9(), "2026-01-29T21:00:00-05:00"))),
            no("at 30 days and 1 ms back", a(at(d9(), "2026-01-30T01:59:59.999Z")), "backdated"),
            no("at a year back", a(at(d9(), "2025-03-01T02:00:00Z")), "backdated"),
            ok("the clock moved 29 days on", a(d9())).after([Step::Advance(29 * DAY_MS)]),
            ok("the clock moved exactly 30 days on", a(d9())).after([Step::Advance(30 * DAY_MS)]),
            no("the clock moved 30 days and 1 ms on", a(d9()), "backdated")
                .after([Step::Advance(30 * DAY_MS + 1)]),
            no(
                "key events are timed too",
                a(at(grant("G-9", 50, &[]), "2027-01-01T00:00:00Z")),
                "future_time",
            ),
            no(
                "closing is timed too",
                a(at(fund_close("FC-9", "F-edu"), "2020-01-01T00:00:00Z")),
                "backdated",
            ),
        ],
    );
}

#[test]
fn backdating_follows_the_policy() {
    let mut h = Harness { state: State::new(), admin: key(ADMIN), admin2: key(ADMIN2), time_ms: T0_MS };
    let genesis = ev(
        "ledger.genesis",
        "genesis",
        json!({"origin": "strict.example/ledger", "name": "Strict", "currency": "CNY", "admins": [key_of(ADMIN)],
               "log_key": key_of(LOG),
               "policy": {"dual_control_fen": 100, "min_audit_permille": 1000, "max_backdate_days": 0}}),
    );
    h.append_with(genesis, &[&key(ADMIN)]).expect("genesis");
    check(
        &h,
        vec![
            ok(
                "at the entry time",
                by(at(fund_open("F-1", "general", false, 0), "2026-03-01T02:00:00Z"), &[ADMIN]),
            ),
            no(
                "1 ms before the entry time",
                by(at(fund_open("F-1", "general", false, 0), "2026-03-01T01:59:59.999Z"), &[ADMIN]),
                "backdated",
            ),
            // The single admin is the last: key changes need one signature.
            ok("the only admin grants alone", by(grant("G-1", INTAKE, &["intake"]), &[ADMIN])),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// duplicate_id and unknown_reference.

#[test]
fn duplicate_ids() {
    check(
        &ledger(),
        vec![
            Row {
                want: Want::Duplicate(16),
                ..ok("a donation id used by a donation", a(donation("D-1", "fund", "F-med", cash(1))))
            },
            Row {
                want: Want::Duplicate(0),
                ..ok("the genesis id", a(donation("genesis", "fund", "F-med", cash(1))))
            },
            Row {
                want: Want::Duplicate(10),
                ..ok("an id of another kind", a(case_open("F-med", "medical")))
            },
            Row { want: Want::Duplicate(1), ..ok("a grant's id", a(complaint("grant-11", &["D-1"]))) },
            // Step 4 comes before step 5: a wrong signer still hears duplicate_id.
            Row {
                want: Want::Duplicate(16),
                ..ok("by a wrong key", by(donation("D-1", "fund", "F-med", cash(1)), &[STRANGER]))
            },
            Row { want: Want::Duplicate(24), ..ok("the very same envelope again", a(d9())) }.after([a(d9())]),
            ok("ids are case-sensitive", a(donation("d-1", "fund", "F-med", cash(1)))),
        ],
    );
}

#[test]
fn references() {
    let nothing = "NOPE";
    check(
        &ledger(),
        vec![
            no("donation to no fund", a(donation("D-9", "fund", nothing, cash(1))), "unknown_reference"),
            no(
                "donation to a case named as fund",
                a(donation("D-9", "fund", "C-med", cash(1))),
                "unknown_reference",
            ),
            no(
                "donation to a fund named as case",
                a(donation("D-9", "case", "F-med", cash(1))),
                "unknown_reference",
            ),
            no("fund.closed of a case", a(fund_close("FC-9", "C-edu")), "unknown_reference"),
            no("fund.closed of nothing", a(fund_close("FC-9", nothing)), "unknown_reference"),
            no("case.closed of a fund", a(case_close("CC-9", "F-edu")), "unknown_reference"),
            no("refund of an allocation", a(refund("RF-9", "A-1", 1)), "unknown_reference"),
            no("refund of nothing", a(refund("RF-9", nothing, 1)), "unknown_reference"),
            no("correction of a disbursement", a(correct("K-9", "X-1", cash(1))), "unknown_reference"),
            no("redirect of a case", a(redirect("E-9", "C-med", "F-med", cash(1))), "unknown_reference"),
            no("redirect into a case", a(redirect("E-9", "D-E", "C-med", cash(1))), "unknown_reference"),
            no("allocation from a case", a(alloc("A-9", "C-edu", "C-med", cash(1))), "unknown_reference"),
            no("allocation to a fund", a(alloc("A-9", "F-med", "F-gen", cash(1))), "unknown_reference"),
            no("allocation to nothing", a(alloc("A-9", "F-med", nothing, cash(1))), "unknown_reference"),
            no("revocation of a disbursement", a(alloc_revoke("V-9", "X-1", cash(1))), "unknown_reference"),
            no("disbursement from a donation", a(disburse("X-9", "D-E", cash(1))), "unknown_reference"),
            no("return of an allocation", a(disburse_return("R-9", "A-1", cash(1))), "unknown_reference"),
            no("complaint about nothing", a(complaint("Q-9", &["D-1", nothing])), "unknown_reference"),
            ok(
                "complaint about any earlier event",
                a(complaint("Q-9", &["genesis", "grant-11", "D-1", "X-1"])),
            ),
            no("update of a donation", a(complaint_update("QU-9", "D-1")), "unknown_reference"),
            no("resolution of nothing", a(complaint_resolve("QR-9", nothing, &[])), "unknown_reference"),
            no(
                "resolution naming an unknown action",
                a(complaint_resolve("QR-9", "Q-1", &["X-1", nothing])),
                "unknown_reference",
            )
            .after([a(complaint("Q-1", &["X-1"]))]),
            no("a later event is unknown", a(complaint("Q-9", &["Q-9"])), "unknown_reference"),
            no(
                "sample of a donation",
                a(sampled_body("S-9", "D-1", [7; 32], 1, Hash::ZERO)),
                "unknown_reference",
            ),
            no("finding on a plan", a(finding("FI-9", "D-1")), "unknown_reference"),
            no("rectification on a donation", a(rectification("RC-9", "D-1", "D-1")), "unknown_reference"),
            no(
                "closing a rectification that is a donation",
                a(rectification_close("RCC-9", "D-1")),
                "unknown_reference",
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Closed objects, not_open, not_empty, already_resolved (SPEC.md §5, "Closed objects").

#[test]
fn closed_funds() {
    // F-edu gets 1000, gives it all to C-edu under A-ed, is closed, then 400 comes back.
    let closed_with_money = || {
        vec![
            a(donation("D-ed", "fund", "F-edu", cash(1000))),
            a(donation("D-ee", "case", "C-edu", cash(500))),
            a(alloc("A-ed", "F-edu", "C-edu", cash(1000))),
            a(fund_close("FC-ed", "F-edu")),
            a(alloc_revoke("V-ed", "A-ed", cash(400))),
        ]
    };
    check(
        &ledger(),
        vec![
            ok("closing an empty fund", a(fund_close("FC-9", "F-edu"))),
            no("closing a fund that holds cash", a(fund_close("FC-9", "F-med")), "not_empty"),
            no("closing a fund that holds goods", a(fund_close("FC-9", "F-gen")), "not_empty")
                .after([a(alloc("A-9", "F-gen", "C-med", cash(5000)))]),
            ok("closing a fund once emptied", a(fund_close("FC-9", "F-gen"))).after([
                a(alloc("A-9", "F-gen", "C-med", cash(5000))),
                a(alloc("A-10", "F-gen", "C-edu", goods("quilt", 15))),
            ]),
            no("closing a fund twice", a(fund_close("FC-10", "F-edu")), "already_resolved")
                .after([a(fund_close("FC-9", "F-edu"))]),
            no("a donation to a closed fund", a(donation("D-9", "fund", "F-edu", cash(1))), "not_open")
                .after([a(fund_close("FC-9", "F-edu"))]),
            ok("a revocation brings money back into a closed fund", a(alloc_revoke("V-9", "A-ed", cash(1))))
                .after(closed_with_money()),
            ok("an allocation out of a closed fund", a(alloc("A-9", "F-edu", "C-edu", cash(400))))
                .after(closed_with_money()),
            no("more than it got back", a(alloc("A-9", "F-edu", "C-edu", cash(401))), "insufficient_funds")
                .after(closed_with_money()),
            ok("a refund out of a closed fund", a(refund("RF-9", "D-ed", 400))).after(closed_with_money()),
            ok("a correction out of a closed fund", a(correct("K-9", "D-ed", cash(400))))
                .after(closed_with_money()),
            no(
                "a donation into a closed fund with money",
                a(donation("D-9", "fund", "F-edu", cash(1))),
                "not_open",
            )
            .after(closed_with_money()),
            no("a redirect into a closed fund", a(redirect("E-9", "D-ee", "F-edu", cash(1))), "not_open")
                .after(closed_with_money()),
            no("closing it again", a(fund_close("FC-9", "F-edu")), "already_resolved")
                .after(closed_with_money()),
            ok("a complaint may name a closed fund", a(complaint("Q-9", &["F-edu"])))
                .after(closed_with_money()),
        ],
    );
}

#[test]
fn closed_cases() {
    // C-x gets 1000 earmarked (D-x) and 1000 from F-gen (A-x), pays out 2000 (X-x: A-x's lot comes
    // first, its fund lot being older), is closed, then 1500 comes back (D-x's 1000, A-x's 500).
    let closed_with_money = || {
        vec![
            a(case_open("C-x", "children")),
            a(donation("D-x", "case", "C-x", cash(1000))),
            a(alloc("A-x", "F-gen", "C-x", cash(1000))),
            a(disburse("X-x", "C-x", cash(2000))),
            a(case_close("CC-x", "C-x")),
            a(disburse_return("R-x", "X-x", cash(1500))),
        ]
    };
    let empty_closed = || vec![a(case_open("C-x", "children")), a(case_close("CC-x", "C-x"))];
    check(
        &ledger(),
        vec![
            ok("closing an empty case", a(case_close("CC-9", "C-x")))
                .after([a(case_open("C-x", "children"))]),
            no("closing a case that holds cash", a(case_close("CC-9", "C-med")), "not_empty"),
            no("closing a case that holds goods", a(case_close("CC-9", "C-edu")), "not_empty"),
            no("closing a case twice", a(case_close("CC-9", "C-x")), "already_resolved")
                .after(empty_closed()),
            no("a donation to a closed case", a(donation("D-9", "case", "C-x", cash(1))), "not_open")
                .after(empty_closed()),
            no("an allocation to a closed case", a(alloc("A-9", "F-gen", "C-x", cash(1))), "not_open")
                .after(empty_closed()),
            // Disbursing out of a closed case is allowed; an empty one simply holds nothing.
            no(
                "a disbursement from an empty closed case",
                a(disburse("X-9", "C-x", cash(1))),
                "insufficient_funds",
            )
            .after(empty_closed()),
            ok("a return into a closed case", a(disburse_return("R-9", "X-x", cash(500))))
                .after(closed_with_money()),
            ok("a disbursement out of a closed case", a(disburse("X-9", "C-x", cash(1500))))
                .after(closed_with_money()),
            no("more than it got back", a(disburse("X-9", "C-x", cash(1501))), "insufficient_funds")
                .after(closed_with_money()),
            ok("a revocation out of a closed case", a(alloc_revoke("V-9", "A-x", cash(500))))
                .after(closed_with_money()),
            no("revoking more than it holds of A-x", a(alloc_revoke("V-9", "A-x", cash(501))), "over_revoke")
                .after(closed_with_money()),
            ok("a refund out of a closed case", a(refund("RF-9", "D-x", 1000))).after(closed_with_money()),
            ok("a correction out of a closed case", a(correct("K-9", "D-x", cash(1000))))
                .after(closed_with_money()),
            ok("a redirect out of a closed case", a(redirect("E-9", "D-x", "F-gen", cash(1000))))
                .after(closed_with_money()),
            no("an earmarked gift into it", a(donation("D-9", "case", "C-x", cash(1))), "not_open")
                .after(closed_with_money()),
            no("an allocation into it", a(alloc("A-9", "F-gen", "C-x", cash(1))), "not_open")
                .after(closed_with_money()),
            ok(
                "closing is not possible until emptied, then again not",
                a(disburse("X-9", "C-x", cash(1500))),
            )
            .after(closed_with_money()),
            no("closing it again, even emptied", a(case_close("CC-9", "C-x")), "already_resolved")
                .after(closed_with_money().into_iter().chain([a(disburse("X-9", "C-x", cash(1500)))])),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Money: insufficient_funds, restricted_fund, wrong_asset, unit_mismatch, over_revoke, over_return.

#[test]
fn money_rules() {
    check(
        &ledger(),
        vec![
            // insufficient_funds
            ok("an allocation of all a fund holds", a(alloc("A-9", "F-med", "C-med", cash(8000)))),
            no(
                "an allocation of more than a fund holds",
                a(alloc("A-9", "F-med", "C-med", cash(8001))),
                "insufficient_funds",
            ),
            no(
                "an allocation from an empty fund",
                a(alloc("A-9", "F-edu", "C-edu", cash(1))),
                "insufficient_funds",
            ),
            no(
                "an allocation of goods a fund lacks",
                a(alloc("A-9", "F-med", "C-med", goods("quilt", 1))),
                "insufficient_funds",
            ),
            no(
                "an allocation of an item never received",
                a(alloc("A-9", "F-gen", "C-med", goods("rice", 1))),
                "insufficient_funds",
            ),
            ok("goods: all the fund holds", a(alloc("A-9", "F-gen", "C-med", goods("quilt", 15)))),
            no(
                "goods: more than the fund holds",
                a(alloc("A-9", "F-gen", "C-med", goods("quilt", 16))),
                "insufficient_funds",
            ),
            ok("a disbursement of all a case holds", a(disburse("X-9", "C-med", cash(4000)))),
            no(
                "a disbursement of more than a case holds",
                a(disburse("X-9", "C-med", cash(4001))),
                "insufficient_funds",
            ),
            no(
                "a disbursement of goods the case lacks",
                a(disburse("X-9", "C-med", goods("quilt", 1))),
                "insufficient_funds",
            ),
            no(
                "goods: more than the case holds",
                a(disburse("X-9", "C-edu", goods("quilt", 4))),
                "insufficient_funds",
            ),
            // D-1: 8000 waits in F-med; its 2000 allocated to C-med is no longer the donor's to take back.
            ok("a refund of all that waits in the fund", a(refund("RF-9", "D-1", 8000))),
            no("a refund of allocated money", a(refund("RF-9", "D-1", 8001)), "insufficient_funds"),
            ok("a correction of all that waits", a(correct("K-9", "D-1", cash(8000)))),
            no("a correction of more", a(correct("K-9", "D-1", cash(8001))), "insufficient_funds"),
            no(
                "refund then correction over the rest",
                a(correct("K-9", "D-1", cash(3001))),
                "insufficient_funds",
            )
            .after([a(refund("RF-9", "D-1", 5000))]),
            ok("a refund of an earmarked gift from its case", a(refund("RF-9", "D-E", 2000))),
            no("more than the earmarked gift", a(refund("RF-9", "D-E", 2001)), "insufficient_funds"),
            ok("a redirect of the whole earmark", a(redirect("E-9", "D-E", "F-med", cash(2000)))),
            no(
                "a redirect of more than the earmark",
                a(redirect("E-9", "D-E", "F-med", cash(2001))),
                "insufficient_funds",
            ),
            // Decision (c) of docs/FORMAT.md.
            no(
                "a redirect of a gift that was not earmarked",
                a(redirect("E-9", "D-1", "F-med", cash(1))),
                "insufficient_funds",
            ),
            ok("a refund after a redirect takes from the fund lot", a(refund("RF-9", "D-E", 2000)))
                .after([a(redirect("E-9", "D-E", "F-gen", cash(1500)))]),
            // restricted_fund
            no(
                "a restricted fund to another programme",
                a(alloc("A-9", "F-med", "C-edu", cash(1))),
                "restricted_fund",
            ),
            ok("a restricted fund to its own programme", a(alloc("A-9", "F-med", "C-med", cash(1)))),
            ok("an unrestricted general fund serves any case", a(alloc("A-9", "F-gen", "C-edu", cash(1)))),
            ok(
                "an unrestricted programme fund serves any case",
                a(alloc("A-9", "F-eld", "C-med", cash(500))),
            ),
            ok("an unrestricted fund serves another programme", a(alloc("A-9", "F-eld", "C-edu", cash(1)))),
            ok("a redirect into a fund of the case's programme", a(redirect("E-9", "D-E", "F-med", cash(1)))),
            ok("a redirect into a general fund", a(redirect("E-9", "D-E", "F-gen", cash(1)))),
            no(
                "a redirect into a restricted fund of another programme",
                a(redirect("E-9", "D-E", "F-edu", cash(1))),
                "restricted_fund",
            ),
            no(
                "a redirect into an unrestricted fund of another programme",
                a(redirect("E-9", "D-E", "F-eld", cash(1))),
                "restricted_fund",
            ),
            // wrong_asset
            no("a refund of a goods donation", a(refund("RF-9", "D-G", 1)), "wrong_asset"),
            no("a cash correction of a goods donation", a(correct("K-9", "D-G", cash(1))), "wrong_asset"),
            ok("a goods correction of a goods donation", a(correct("K-9", "D-G", goods("quilt", 15)))),
            no(
                "a goods correction of a cash donation",
                a(correct("K-9", "D-1", goods("quilt", 1))),
                "wrong_asset",
            ),
            no("a correction naming another item", a(correct("K-9", "D-G", goods("rice", 1))), "wrong_asset"),
            no(
                "a goods revocation of a cash allocation",
                a(alloc_revoke("V-9", "A-1", goods("quilt", 1))),
                "wrong_asset",
            ),
            no(
                "a cash revocation of a goods allocation",
                a(alloc_revoke("V-9", "A-G", cash(1))),
                "wrong_asset",
            ),
            no(
                "a goods return of a cash disbursement",
                a(disburse_return("R-9", "X-1", goods("quilt", 1))),
                "wrong_asset",
            ),
            no(
                "a cash return of a goods disbursement",
                a(disburse_return("R-9", "X-G", cash(1))),
                "wrong_asset",
            ),
            no(
                "a goods redirect of a cash earmark",
                a(redirect("E-9", "D-E", "F-med", goods("quilt", 1))),
                "wrong_asset",
            ),
            // unit_mismatch
            no(
                "an item in another unit",
                a(donation("D-9", "fund", "F-gen", goods_in("quilt", 1, "box", 8000))),
                "unit_mismatch",
            ),
            ok(
                "the same unit at another value",
                a(donation("D-9", "fund", "F-gen", goods_in("quilt", 1, "piece", 9000))),
            ),
            ok(
                "a new item in its own unit",
                a(donation("D-9", "case", "C-med", goods_in("rice", 10, "kg", 600))),
            ),
            // over_revoke: C-med holds 2000 of A-1 (the rest was paid out by X-1).
            ok("revoking all the case holds of it", a(alloc_revoke("V-9", "A-1", cash(2000)))),
            no("revoking more", a(alloc_revoke("V-9", "A-1", cash(2001))), "over_revoke"),
            no("revoking again after it is all back", a(alloc_revoke("V-10", "A-1", cash(1))), "over_revoke")
                .after([a(alloc_revoke("V-9", "A-1", cash(2000)))]),
            ok("goods: revoking what is left", a(alloc_revoke("V-9", "A-G", goods("quilt", 3)))),
            no(
                "goods: revoking what was paid out",
                a(alloc_revoke("V-9", "A-G", goods("quilt", 4))),
                "over_revoke",
            ),
            // over_return
            ok("returning all of a payment", a(disburse_return("R-9", "X-1", cash(1000)))),
            no("returning more than was paid", a(disburse_return("R-9", "X-1", cash(1001))), "over_return"),
            no(
                "returning more than is left to return",
                a(disburse_return("R-10", "X-1", cash(401))),
                "over_return",
            )
            .after([a(disburse_return("R-9", "X-1", cash(600)))]),
            ok("goods: returning what was given", a(disburse_return("R-9", "X-G", goods("quilt", 2)))),
            no("goods: returning more", a(disburse_return("R-9", "X-G", goods("quilt", 3))), "over_return"),
            ok("a revocation after a return of its money", a(alloc_revoke("V-9", "A-1", cash(3000))))
                .after([a(disburse_return("R-9", "X-1", cash(1000)))]),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// dual_control (SPEC.md §5): single signatures at or over the threshold, aggregated over 24 h.

#[test]
fn dual_control() {
    const T: u64 = DUAL_CONTROL_FEN;
    let mut base = ledger();
    for body in [
        donation("D-B", "fund", "F-gen", cash(60_000_000)),
        donation("D-EB", "case", "C-med", cash(30_000_000)),
        donation("D-EC", "case", "C-med", cash(30_000_000)),
        donation("D-TV", "fund", "F-gen", goods_in("tv", 10, "set", 1_000_000)),
    ] {
        base.append(body).expect("setup");
    }
    // A-1 (3000 fen, single-signed on C-med) leaves the window: each row starts with nothing in it.
    base.time_ms += DUAL_CONTROL_WINDOW_MS + 1;
    let big_to_case = || by(alloc("A-B", "F-gen", "C-med", cash(20_000_000)), &[ALLOCATOR, ALLOCATOR2]);
    let single_alloc = |id: &str, case: &str, n: u64| by(alloc(id, "F-gen", case, cash(n)), &[ALLOCATOR]);
    let two = [ALLOCATOR, ALLOCATOR2];
    // 3M at t, 1M at t + 12 h, 1M at t + 24 h + 1 ms: then only the last two are in the window.
    let sliding = || {
        vec![
            single_alloc("A-9", "C-med", 3_000_000),
            Step::Advance(12 * HOUR_MS),
            single_alloc("A-10", "C-med", 1_000_000),
            Step::Advance(12 * HOUR_MS + 1),
            single_alloc("A-12", "C-med", 1_000_000),
        ]
    };
    check(
        &base,
        vec![
            // One event against the threshold.
            ok("just under, one signature", single_alloc("A-9", "C-med", T - 1)),
            no("exactly at, one signature", single_alloc("A-9", "C-med", T), "dual_control"),
            no("over, one signature", single_alloc("A-9", "C-med", 3 * T), "dual_control"),
            ok("at, two signatures", by(alloc("A-9", "F-gen", "C-med", cash(T)), &two)),
            ok(
                "at, two signatures in either order",
                by(alloc("A-9", "F-gen", "C-med", cash(T)), &[ALLOCATOR2, ALLOCATOR]),
            ),
            no(
                "two signatures, one without the role",
                by(alloc("A-9", "F-gen", "C-med", cash(T)), &[ALLOCATOR, DISBURSER]),
                "role",
            ),
            // Step 6 before step 7.
            no(
                "over the threshold and over the balance",
                single_alloc("A-9", "C-med", 100_000_000),
                "insufficient_funds",
            ),
            // 24 h aggregation of single-signed allocations on one case.
            no(
                "3M then 2M single on the same case",
                single_alloc("A-10", "C-med", 2_000_000),
                "dual_control",
            )
            .after([single_alloc("A-9", "C-med", 3_000_000)]),
            ok("3M then just under 2M", single_alloc("A-10", "C-med", 1_999_999))
                .after([single_alloc("A-9", "C-med", 3_000_000)]),
            ok("3M then 2M on another case", single_alloc("A-10", "C-edu", 2_000_000))
                .after([single_alloc("A-9", "C-med", 3_000_000)]),
            ok("3M then 2M with two signatures", by(alloc("A-10", "F-gen", "C-med", cash(2_000_000)), &two))
                .after([single_alloc("A-9", "C-med", 3_000_000)]),
            ok("a two-signed event does not count", single_alloc("A-10", "C-med", 2_000_000))
                .after([by(alloc("A-9", "F-gen", "C-med", cash(3_000_000)), &two)]),
            no("three single events", single_alloc("A-11", "C-med", 1_000_000), "dual_control")
                .after([single_alloc("A-9", "C-med", 2_000_000), single_alloc("A-10", "C-med", 2_000_000)]),
            no(
                "by different keys, still single-signed",
                by(alloc("A-10", "F-gen", "C-med", cash(2_000_000)), &[ALLOCATOR2]),
                "dual_control",
            )
            .after([single_alloc("A-9", "C-med", 3_000_000)]),
            no("23 h later it still counts", single_alloc("A-10", "C-med", 2_000_000), "dual_control")
                .after([single_alloc("A-9", "C-med", 3_000_000), Step::Advance(23 * HOUR_MS)]),
            no(
                "exactly 24 h later it still counts",
                single_alloc("A-10", "C-med", 2_000_000),
                "dual_control",
            )
            .after([single_alloc("A-9", "C-med", 3_000_000), Step::Advance(DUAL_CONTROL_WINDOW_MS)]),
            ok("24 h and 1 ms later it no longer counts", single_alloc("A-10", "C-med", 2_000_000))
                .after([single_alloc("A-9", "C-med", 3_000_000), Step::Advance(DUAL_CONTROL_WINDOW_MS + 1)]),
            no(
                "a sliding window: the recent ones count",
                single_alloc("A-11", "C-med", 3_000_000),
                "dual_control",
            )
            .after(sliding()),
            ok("a sliding window: the old one does not", single_alloc("A-11", "C-med", 2_999_999))
                .after(sliding()),
            ok("a sliding window: all old", single_alloc("A-11", "C-med", 4_999_999))
                .after([single_alloc("A-9", "C-med", 4_000_000), Step::Advance(DAY_MS + 1)]),
            ok("an event refused for dual control does not count", single_alloc("A-10", "C-med", T - 1))
                .after([single_alloc("A-9", "C-med", T).into_refusal()]),
            ok("an event refused for its rules does not count", single_alloc("A-10", "C-med", T - 1))
                .after([single_alloc("A-9", "C-med", 100_000_000).into_refusal()]),
            // Disbursements on one case; allocations and disbursements are apart.
            no(
                "disbursements add up on a case",
                by(disburse("X-10", "C-med", cash(2_000_000)), &[DISBURSER]),
                "dual_control",
            )
            .after([big_to_case(), by(disburse("X-9", "C-med", cash(3_000_000)), &[DISBURSER])]),
            ok(
                "an allocation and a disbursement do not add up",
                by(disburse("X-9", "C-med", cash(2_000_000)), &[DISBURSER]),
            )
            .after([single_alloc("A-9", "C-med", 3_000_000)]),
            ok(
                "a disbursement at the threshold with two",
                by(disburse("X-9", "C-med", cash(T)), &[DISBURSER, DISBURSER2]),
            ),
            no(
                "a disbursement at the threshold alone",
                by(disburse("X-9", "C-med", cash(T)), &[DISBURSER]),
                "dual_control",
            ),
            // Refunds, corrections and redirects on one donation.
            no("a refund at the threshold alone", by(refund("RF-9", "D-EB", T), &[INTAKE]), "dual_control"),
            ok("a refund at the threshold with two", by(refund("RF-9", "D-EB", T), &[INTAKE, INTAKE2])),
            no(
                "refunds add up on a donation",
                by(refund("RF-10", "D-EB", 2_000_000), &[INTAKE]),
                "dual_control",
            )
            .after([by(refund("RF-9", "D-EB", 3_000_000), &[INTAKE])]),
            ok("refunds of two donations do not add up", by(refund("RF-10", "D-EC", 2_000_000), &[INTAKE]))
                .after([by(refund("RF-9", "D-EB", 3_000_000), &[INTAKE])]),
            ok(
                "a refund and a correction do not add up",
                by(correct("K-9", "D-EB", cash(2_000_000)), &[INTAKE]),
            )
            .after([by(refund("RF-9", "D-EB", 3_000_000), &[INTAKE])]),
            no(
                "corrections add up on a donation",
                by(correct("K-10", "D-EB", cash(2_000_000)), &[INTAKE]),
                "dual_control",
            )
            .after([by(correct("K-9", "D-EB", cash(3_000_000)), &[INTAKE])]),
            no(
                "redirects add up on a donation",
                by(redirect("E-10", "D-EB", "F-gen", cash(2_000_000)), &[ALLOCATOR]),
                "dual_control",
            )
            .after([by(redirect("E-9", "D-EB", "F-med", cash(3_000_000)), &[ALLOCATOR])]),
            ok(
                "redirects of two donations do not add up",
                by(redirect("E-10", "D-EC", "F-gen", cash(2_000_000)), &[ALLOCATOR]),
            )
            .after([by(redirect("E-9", "D-EB", "F-med", cash(3_000_000)), &[ALLOCATOR])]),
            ok("a redirect at the threshold with two", by(redirect("E-9", "D-EB", "F-gen", cash(T)), &two)),
            // Goods count at quantity × the unit value of the lots taken.
            no(
                "goods worth the threshold alone",
                by(alloc("A-9", "F-gen", "C-med", goods("tv", 5)), &[ALLOCATOR]),
                "dual_control",
            ),
            ok("goods worth less alone", by(alloc("A-9", "F-gen", "C-med", goods("tv", 4)), &[ALLOCATOR])),
            ok(
                "goods worth the threshold with two",
                by(alloc("A-9", "F-gen", "C-med", goods("tv", 5)), &two),
            ),
            ok("quilts are cheap", by(alloc("A-9", "F-gen", "C-med", goods("quilt", 15)), &[ALLOCATOR])),
            no(
                "goods disbursed alone",
                by(disburse("X-9", "C-med", goods("tv", 5)), &[DISBURSER]),
                "dual_control",
            )
            .after([by(alloc("A-9", "F-gen", "C-med", goods("tv", 10)), &two)]),
            no(
                "goods and cash add up on a case",
                by(alloc("A-10", "F-gen", "C-med", cash(1_000_000)), &[ALLOCATOR]),
                "dual_control",
            )
            .after([by(alloc("A-9", "F-gen", "C-med", goods("tv", 4)), &[ALLOCATOR])]),
            // Revocations and returns are never under dual control.
            ok("a big revocation alone", by(alloc_revoke("V-9", "A-B", cash(20_000_000)), &[ALLOCATOR]))
                .after([big_to_case()]),
            ok("a big return alone", by(disburse_return("R-9", "X-9", cash(T)), &[DISBURSER]))
                .after([by(disburse("X-9", "C-med", cash(T)), &[DISBURSER, DISBURSER2])]),
        ],
    );
}

impl Step {
    /// A setup step that is expected to be refused: wraps it so the setup runner accepts the
    /// refusal (a refused event must leave no trace, dual-control windows included).
    fn into_refusal(self) -> Step {
        Step::Expect(Box::new(self))
    }
}

// ---------------------------------------------------------------------------------------------
// Audit sampling (SPEC.md §7): bad_sample, already_sampled; findings and rectifications.

const NONCE: [u8; 32] = [0x5a; 32];

fn plan_body(id: &str, population: &str, window: (u64, u64), rate: u32, seed_size: u64) -> Value {
    ev(
        "audit.planned",
        id,
        json!({"population": population, "from_seq": window.0, "to_seq": window.1, "rate_permille": rate,
               "seed_size": seed_size, "nonce_hash": sha256(&[&NONCE]).to_hex(), "summary": "spot check"}),
    )
}

fn sampled_body(id: &str, plan: &str, nonce: [u8; 32], count: u64, hash: Hash) -> Value {
    ev(
        "audit.sampled",
        id,
        json!({"plan": plan, "nonce": hex::encode(nonce), "selected_count": count, "selected_hash": hash.to_hex()}),
    )
}

fn finding(id: &str, sample: &str) -> Value {
    ev(
        "audit.finding",
        id,
        json!({"sample": sample, "subjects": ["X-1"], "severity": "minor", "summary": "voucher missing"}),
    )
}

fn rectification(id: &str, finding: &str, subject: &str) -> Value {
    ev(
        "rectification.issued",
        id,
        json!({"finding": finding, "subject": subject, "deadline": "2026-04-01", "summary": "file the voucher"}),
    )
}

fn rectification_close(id: &str, rectification: &str) -> Value {
    ev("rectification.closed", id, json!({"rectification": rectification, "summary": "voucher filed"}))
}

/// The sample `plan_id` selects in `h` (whose log has reached the plan's seed size), computed
/// here from the population and the seed root, not by the rules.
fn expected_sample(h: &Harness, plan_id: &str, kind: &str, nonce: &[u8; 32]) -> (Vec<String>, Hash) {
    let plan = h.state.audit(plan_id).expect("plan");
    let root_b64 = plan.seed_root.expect("the log reached the seed size");
    let root = ledger_core::encoding::hash_from_b64(&root_b64).expect("root");
    let ids: Vec<(u64, String)> = (plan.from_seq..plan.to_seq)
        .filter(|&s| h.state.lookup(h.state.id_at(s).expect("id")).map(|(_, k)| k.as_str()) == Some(kind))
        .map(|s| (s, h.state.id_at(s).expect("id").to_string()))
        .collect();
    let population: Vec<(u64, &str)> = ids.iter().map(|(s, id)| (*s, id.as_str())).collect();
    let selected: Vec<String> = sample::select(&root, nonce, &population, plan.rate_permille)
        .into_iter()
        .map(str::to_string)
        .collect();
    let refs: Vec<&str> = selected.iter().map(String::as_str).collect();
    (selected.clone(), sample::selected_hash(&refs))
}

/// The ledger with plan P-1 (donations in [10, 24) at 500 ‰, seed size 26) at seq 24 and a
/// filler at seq 25, so the log has just reached the seed size.
fn planned() -> Harness {
    let mut h = ledger();
    h.append(plan_body("P-1", "donations", (10, 24), 500, 26)).expect("plan");
    assert!(h.state.audit("P-1").expect("plan").seed_root.is_none(), "no root before the seed size");
    h.append(complaint("Q-1", &["D-1"])).expect("filler");
    h
}

#[test]
fn the_seed_root_is_the_root_at_seed_size() {
    let mut h = planned();
    let root_at_seed = h.state.root();
    assert_eq!(h.state.audit("P-1").expect("plan").seed_root, Some(root_at_seed.to_base64()));
    h.append(complaint("Q-2", &["D-1"])).expect("later entry");
    assert_ne!(h.state.root(), root_at_seed);
    assert_eq!(
        h.state.audit("P-1").expect("plan").seed_root,
        Some(root_at_seed.to_base64()),
        "fixed once reached"
    );
    // Computed here: the four donations D-1, D-2, D-G, D-E at seqs 16–19, ceil(4 × 0.5) = 2.
    let population = [(16, "D-1"), (17, "D-2"), (18, "D-G"), (19, "D-E")];
    for (seq, id) in population {
        assert_eq!(h.state.lookup(id).map(|(s, _)| s), Some(seq));
    }
    let selected = sample::select(&root_at_seed, &NONCE, &population, 500);
    assert_eq!(selected.len(), 2);
    let (expected, hash) = expected_sample(&h, "P-1", "donation.received", &NONCE);
    assert_eq!(expected, selected);
    let applied = h.append(sampled_body("S-1", "P-1", NONCE, 2, hash)).expect("sample");
    assert_eq!(applied.selected, expected, "apply reports the selection");
    assert_eq!(h.state.sample_selection("P-1", &NONCE), Some(expected));
    assert_eq!(h.state.audit("P-1").expect("plan").sample_seq, Some(27));
}

#[test]
fn audit_rules() {
    let base = planned();
    let (selected, hash) = expected_sample(&base, "P-1", "donation.received", &NONCE);
    let refs: Vec<&str> = selected.iter().map(String::as_str).collect();
    let reversed: Vec<&str> = refs.iter().rev().copied().collect();
    let good = |id: &str| sampled_body(id, "P-1", NONCE, 2, hash);
    // The same computation over a later root, and with another nonce, gives another sample.
    let mut later = fresh(&base);
    later.append(complaint("Q-2", &["D-1"])).expect("filler");
    let later_root = later.state.root();
    let population = [(16, "D-1"), (17, "D-2"), (18, "D-G"), (19, "D-E")];
    let later_hash = sample::selected_hash(&sample::select(&later_root, &NONCE, &population, 500));
    assert_ne!(later_hash, hash, "pick another nonce: the later root happens to select the same");
    // A plan over cases (C-med, C-edu at 14, 15) and one over disbursements (X-1, X-G at 21, 23).
    let plan_and_sample = |plan: Value, kind: &str| -> (Step, Value) {
        let mut h = fresh(&base);
        h.append(plan.clone()).expect("plan");
        let (sel, hash) = expected_sample(&h, plan["id"].as_str().expect("id"), kind, &NONCE);
        (
            a(plan.clone()),
            sampled_body("S-2", plan["id"].as_str().expect("id"), NONCE, sel.len() as u64, hash),
        )
    };
    let (cases_plan, cases_sample) =
        plan_and_sample(plan_body("P-2", "cases", (10, 26), 500, 27), "case.opened");
    let (disb_plan, disb_sample) =
        plan_and_sample(plan_body("P-2", "disbursements", (20, 24), 1000, 27), "disbursement.made");
    assert_eq!(disb_sample["selected_count"], 2);
    let sampled = || [a(good("S-1"))];
    check(
        &base,
        vec![
            ok("the sample", a(good("S-1"))),
            ok("the sample later on uses the root at seed size", a(good("S-1")))
                .after([a(complaint("Q-2", &["D-1"]))]),
            no(
                "a sample over a later root",
                a(sampled_body("S-1", "P-1", NONCE, 2, later_hash)),
                "bad_sample",
            )
            .after([a(complaint("Q-2", &["D-1"]))]),
            no("another nonce", a(sampled_body("S-1", "P-1", [0x5b; 32], 2, hash)), "bad_sample"),
            no("one too few", a(sampled_body("S-1", "P-1", NONCE, 1, hash)), "bad_sample"),
            no("one too many", a(sampled_body("S-1", "P-1", NONCE, 3, hash)), "bad_sample"),
            no(
                "ids out of score order",
                a(sampled_body("S-1", "P-1", NONCE, 2, sample::selected_hash(&reversed))),
                "bad_sample",
            ),
            no(
                "one id only",
                a(sampled_body("S-1", "P-1", NONCE, 2, sample::selected_hash(&refs[..1]))),
                "bad_sample",
            ),
            no("the hash of nothing", a(sampled_body("S-1", "P-1", NONCE, 2, sha256(&[]))), "bad_sample"),
            no("a second sample", a(good("S-2")), "already_sampled").after(sampled()),
            no(
                "a second sample with another nonce",
                a(sampled_body("S-2", "P-1", [0x5b; 32], 2, hash)),
                "already_sampled",
            )
            .after(sampled()),
            ok("a sample over cases", a(cases_sample.clone())).after([cases_plan]),
            ok("a sample over disbursements", a(disb_sample.clone())).after([disb_plan]),
            no("a sample before the seed size", a(with(good("S-2"), json!({"plan": "P-2"}))), "bad_sample")
                .after([a(plan_body("P-2", "donations", (10, 24), 500, 28))]),
            no(
                "an empty population",
                a(sampled_body("S-2", "P-2", NONCE, 0, sample::selected_hash(&[]))),
                "bad_sample",
            )
            .after([a(plan_body("P-2", "cases", (16, 20), 500, 27))]),
            // Plans: the rate, the window and the seed size.
            ok("the policy's minimum rate", a(plan_body("P-2", "donations", (10, 24), 100, 27))),
            no("under the minimum rate", a(plan_body("P-2", "donations", (10, 24), 99, 27)), "bad_sample"),
            ok("the whole population", a(plan_body("P-2", "donations", (10, 24), 1000, 27))),
            no("over 1000 ‰", a(plan_body("P-2", "donations", (10, 24), 1001, 27)), "bad_sample"),
            ok("a window up to this seq", a(plan_body("P-2", "donations", (10, 26), 100, 27))),
            no("a window past this seq", a(plan_body("P-2", "donations", (10, 27), 100, 28)), "bad_sample"),
            no("an empty window", a(plan_body("P-2", "donations", (20, 20), 100, 27)), "bad_sample"),
            no("a reversed window", a(plan_body("P-2", "donations", (20, 10), 100, 27)), "bad_sample"),
            no(
                "a seed size already reached",
                a(plan_body("P-2", "donations", (10, 24), 100, 26)),
                "bad_sample",
            ),
            no("a seed size in the past", a(plan_body("P-2", "donations", (10, 24), 100, 5)), "bad_sample"),
            // Findings and rectifications.
            ok("a finding on the sample", a(finding("FI-1", "S-1"))).after(sampled()),
            no("a finding on the plan", a(finding("FI-1", "P-1")), "unknown_reference").after(sampled()),
            ok("a rectification", a(rectification("RC-1", "FI-1", "X-1")))
                .after([a(good("S-1")), a(finding("FI-1", "S-1"))]),
            ok("closing it", a(rectification_close("RCC-1", "RC-1"))).after([
                a(good("S-1")),
                a(finding("FI-1", "S-1")),
                a(rectification("RC-1", "FI-1", "X-1")),
            ]),
            no("closing it twice", a(rectification_close("RCC-2", "RC-1")), "already_resolved").after([
                a(good("S-1")),
                a(finding("FI-1", "S-1")),
                a(rectification("RC-1", "FI-1", "X-1")),
                a(rectification_close("RCC-1", "RC-1")),
            ]),
            no(
                "a rectification naming a sample as finding",
                a(rectification("RC-1", "S-1", "X-1")),
                "unknown_reference",
            )
            .after(sampled()),
            no(
                "a rectification about nothing",
                a(rectification("RC-1", "FI-1", "NOPE")),
                "unknown_reference",
            )
            .after([a(good("S-1")), a(finding("FI-1", "S-1"))]),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Complaints.

#[test]
fn complaints() {
    let filed = || [a(complaint("Q-1", &["X-1", "C-med"]))];
    let resolved = || [a(complaint("Q-1", &["X-1"])), a(complaint_resolve("QR-1", "Q-1", &["X-1"]))];
    check(
        &ledger(),
        vec![
            ok("a complaint", filed().into_iter().next().expect("one")),
            ok(
                "a complaint with a complainant",
                a(with(complaint("Q-1", &["X-1"]), json!({"complainant": hex64(0xc7)}))),
            ),
            ok("a complaint about nothing in particular", a(complaint("Q-1", &[]))),
            ok("an update", a(complaint_update("QU-1", "Q-1"))).after(filed()),
            ok("a referral", a(with(complaint_update("QU-2", "Q-1"), json!({"status": "referred"}))))
                .after(filed().into_iter().chain([a(complaint_update("QU-1", "Q-1"))])),
            ok("a resolution", a(complaint_resolve("QR-1", "Q-1", &["X-1", "A-1"]))).after(filed()),
            ok("a resolution after updates", a(complaint_resolve("QR-1", "Q-1", &[])))
                .after(filed().into_iter().chain([a(complaint_update("QU-1", "Q-1"))])),
            no("an update after the resolution", a(complaint_update("QU-1", "Q-1")), "already_resolved")
                .after(resolved()),
            no("a second resolution", a(complaint_resolve("QR-2", "Q-1", &[])), "already_resolved")
                .after(resolved()),
            ok("a new complaint about the same", a(complaint("Q-2", &["X-1", "Q-1", "QR-1"])))
                .after(resolved()),
        ],
    );
    let h = {
        let mut h = ledger();
        for s in resolved() {
            run(&mut h, &s).expect("resolved");
        }
        h
    };
    let view = h.state.complaint("Q-1").expect("complaint");
    assert_eq!((view.seq, view.resolved), (24, Some(25)));
}

// ---------------------------------------------------------------------------------------------
// malformed (SPEC.md §8 step 2): the rule names the stateless check (decision (e)).

fn raw(body: &str) -> Step {
    Step::Bytes(body.as_bytes().to_vec(), vec![INTAKE])
}

fn intake(body: Value) -> Step {
    by(body, &[INTAKE])
}

/// d9 written by hand, with `extra` spliced in before the closing brace.
fn d9_text(extra: &str) -> String {
    format!(
        r#"{{"v":1,"kind":"donation.received","id":"D-9","at":"2026-03-01T10:00:00+08:00","fund":"F-med","amount_fen":100,"channel":"bank"{extra}}}"#
    )
}

/// d9 with a byte that is not UTF-8 inside the channel string.
fn invalid_utf8() -> Vec<u8> {
    let text = d9_text("");
    let at = text.find("bank").expect("bank") + 1;
    let mut bytes = text.into_bytes();
    bytes[at] = 0xff;
    bytes
}

fn genesis_body(extra: Value) -> Value {
    with(
        ev(
            "ledger.genesis",
            "genesis-2",
            json!({"origin": "test.example/ledger", "name": "n", "currency": "CNY", "admins": [key_of(ADMIN)],
                   "log_key": key_of(LOG),
                   "policy": {"dual_control_fen": 100, "min_audit_permille": 100, "max_backdate_days": 30}}),
        ),
        extra,
    )
}

#[test]
fn malformed_json_and_fields() {
    let goods_alloc = alloc("A-9", "F-gen", "C-med", goods("quilt", 1));
    let x9 = disburse("X-9", "C-med", cash(1));
    check(
        &ledger(),
        vec![
            ok("the hand-written body", raw(&d9_text(""))),
            ok("whitespace between tokens", raw(&d9_text("").replace(',', " ,\n\t"))),
            // json
            no("empty", raw(""), "json"),
            no("truncated", raw("{\"v\":1,"), "json"),
            no("an open brace", raw("{"), "json"),
            no("trailing text", raw(&format!("{} x", d9_text(""))), "json"),
            no("two objects", raw(&format!("{0}{0}", d9_text(""))), "json"),
            no("a trailing comma", raw(&d9_text(",")), "json"),
            no("single quotes", raw(&d9_text("").replace("\"bank\"", "'bank'")), "json"),
            no("invalid UTF-8 in a string", Step::Bytes(invalid_utf8(), vec![INTAKE]), "json"),
            // field: unknown, duplicate, missing, wrong type
            no("an unknown field", intake(with(d9(), json!({"memo": "hi"}))), "field"),
            no(
                "an unknown nested field",
                intake(with(
                    donation("D-9", "fund", "F-gen", goods_in("quilt", 1, "piece", 1)),
                    json!({"goods": {"item": "quilt", "quantity": 1, "unit": "piece", "unit_value_fen": 1, "colour": "red"}}),
                )),
                "field",
            ),
            no("a duplicate key", raw(&d9_text(r#","amount_fen":100"#)), "field"),
            no("a duplicate key with another value", raw(&d9_text(r#","fund":"F-gen""#)), "field"),
            no("a duplicate kind", raw(&d9_text(r#","kind":"donation.received""#)), "field"),
            no(
                "a duplicate nested key",
                raw(
                    r#"{"v":1,"kind":"disbursement.made","id":"X-9","at":"2026-03-01T10:00:00+08:00","case":"C-med","amount_fen":1,"method":"bank","payee":{"vendor":"A","vendor":"B"},"evidence":[]}"#,
                ),
                "field",
            ),
            no("missing channel", intake(without(d9(), "channel")), "field"),
            no("missing id", intake(without(d9(), "id")), "field"),
            no("missing at", intake(without(d9(), "at")), "field"),
            no("missing v", intake(without(d9(), "v")), "field"),
            no("missing kind", intake(without(d9(), "kind")), "field"),
            no("missing evidence", by(without(x9.clone(), "evidence"), &[DISBURSER]), "field"),
            no("an amount as a string", intake(with(d9(), json!({"amount_fen": "100"}))), "field"),
            no("a float amount", raw(&d9_text("").replace("100", "100.0")), "field"),
            no("an exponent amount", raw(&d9_text("").replace("100", "1e2")), "field"),
            no("a negative amount", raw(&d9_text("").replace("100", "-1")), "field"),
            no("minus zero", raw(&d9_text("").replace("100", "-0")), "field"),
            no("an amount beyond u64", raw(&d9_text("").replace("100", "18446744073709551616")), "field"),
            no(
                "a boolean as a string",
                a(with(fund_open("F-9", "general", false, 0), json!({"restricted": "no"}))),
                "field",
            ),
            no("a list as a string", a(with(complaint("Q-9", &[]), json!({"subjects": "D-1"}))), "field"),
            no("an id as a number", intake(with(d9(), json!({"id": 9}))), "field"),
            no("a body that is a list", raw(r#"["donation.received"]"#), "field"),
            no("a body that is a string", raw(r#""donation.received""#), "field"),
            no("v = 2", intake(with(d9(), json!({"v": 2}))), "field"),
            no("v as a string", intake(with(d9(), json!({"v": "1"}))), "field"),
            no("an unknown kind", intake(with(d9(), json!({"kind": "donation.pledged"}))), "field"),
            no("an unknown channel", intake(with(d9(), json!({"channel": "paypal"}))), "field"),
            no(
                "an unknown programme",
                a(with(case_open("C-9", "medical"), json!({"programme": "sports"}))),
                "field",
            ),
            no("an unknown role", a(grant("G-9", 50, &["boss"])), "field"),
            no("a role twice", a(grant("G-9", 50, &["intake", "intake"])), "field"),
            no(
                "an unknown population",
                a(with(plan_body("P-9", "donations", (10, 24), 100, 30), json!({"population": "funds"}))),
                "field",
            ),
            no(
                "an unknown status",
                a(with(complaint_update("QU-9", "Q-1"), json!({"status": "closed"}))),
                "field",
            ),
            // Decision (e): exactly one of amount_fen / goods, fund / case, commitment / vendor.
            no("both amount_fen and goods", intake(with(d9(), goods_in("quilt", 1, "piece", 1))), "field"),
            no("neither amount_fen nor goods", intake(without(d9(), "amount_fen")), "field"),
            no("both in an allocation", a(with(goods_alloc.clone(), cash(1))), "field"),
            no("neither in a disbursement", by(without(x9.clone(), "amount_fen"), &[DISBURSER]), "field"),
            no("both fund and case", intake(with(d9(), json!({"case": "C-med"}))), "field"),
            no("neither fund nor case", intake(without(d9(), "fund")), "field"),
            no(
                "a payee with both",
                by(with(x9.clone(), json!({"payee": {"vendor": "A", "commitment": hex64(1)}})), &[DISBURSER]),
                "field",
            ),
            no("a payee with neither", by(with(x9.clone(), json!({"payee": {}})), &[DISBURSER]), "field"),
            no(
                "goods with a unit outside a donation",
                a(with(
                    goods_alloc.clone(),
                    json!({"goods": {"item": "quilt", "quantity": 1, "unit": "piece"}}),
                )),
                "field",
            ),
            // Strict shapes: an object written as a list, and null for an absent field.
            no(
                "a payee written as a list",
                by(with(x9.clone(), json!({"payee": [null, "County Hospital"]})), &[DISBURSER]),
                "field",
            ),
            no(
                "goods written as a list",
                a(with(goods_alloc.clone(), json!({"goods": ["quilt", 1]}))),
                "field",
            ),
            no("an optional field as null", intake(with(d9(), json!({"case": null}))), "field"),
            no("an optional donor as null", intake(with(d9(), json!({"donor": null}))), "field"),
            no(
                "a sponsor as null",
                a(with(fund_open("F-9", "general", false, 0), json!({"sponsor": null}))),
                "field",
            ),
            // Lists and genesis.
            no("65 subjects", a(complaint("Q-9", &["D-1"; 65])), "field"),
            ok("64 subjects", a(complaint("Q-9", &["D-1"; 64]))),
            no(
                "65 evidence hashes",
                by(with(x9.clone(), json!({"evidence": vec![hex64(0xe1); 65]})), &[DISBURSER]),
                "field",
            ),
            no("genesis in dollars", by(genesis_body(json!({"currency": "USD"})), &[ADMIN]), "field"),
            no("genesis with no admins", by(genesis_body(json!({"admins": []})), &[ADMIN]), "field"),
            no(
                "genesis with 9 admins",
                by(genesis_body(json!({"admins": (50..59).map(key_of).collect::<Vec<_>>()})), &[ADMIN]),
                "field",
            ),
            no(
                "genesis naming an admin twice",
                by(genesis_body(json!({"admins": [key_of(ADMIN), key_of(ADMIN)]})), &[ADMIN]),
                "field",
            ),
            no(
                "genesis with a bad origin",
                by(genesis_body(json!({"origin": "Test Ledger"})), &[ADMIN]),
                "field",
            ),
            no(
                "an audit minimum under 100",
                by(
                    genesis_body(
                        json!({"policy": {"dual_control_fen": 100, "min_audit_permille": 99, "max_backdate_days": 30}}),
                    ),
                    &[ADMIN],
                ),
                "field",
            ),
            no(
                "an audit minimum over 1000",
                by(
                    genesis_body(
                        json!({"policy": {"dual_control_fen": 100, "min_audit_permille": 1001, "max_backdate_days": 30}}),
                    ),
                    &[ADMIN],
                ),
                "field",
            ),
            no(
                "a backdate over 3650 days",
                by(
                    genesis_body(
                        json!({"policy": {"dual_control_fen": 100, "min_audit_permille": 100, "max_backdate_days": 3651}}),
                    ),
                    &[ADMIN],
                ),
                "field",
            ),
            no(
                "a policy with an unknown field",
                by(
                    genesis_body(
                        json!({"policy": {"dual_control_fen": 100, "min_audit_permille": 100, "max_backdate_days": 30, "x": 1}}),
                    ),
                    &[ADMIN],
                ),
                "field",
            ),
            no("a quorum over the witnesses", a(with(witness_policy("W-1"), json!({"quorum": 2}))), "field"),
            no(
                "a witness key that is not one",
                a(with(
                    witness_policy("W-1"),
                    json!({"witnesses": [{"name": "w", "vkey": "junk", "url": "u"}]}),
                )),
                "field",
            ),
            no(
                "a witness twice",
                a(with(
                    witness_policy("W-1"),
                    json!({"witnesses": [witness_policy("x")["witnesses"][0], witness_policy("x")["witnesses"][0]]}),
                )),
                "field",
            ),
        ],
    );
}

#[test]
fn malformed_values() {
    let max = AMOUNT_MAX;
    let long = "a".repeat(TEXT_CHARS_MAX);
    let han = "慈".repeat(TEXT_CHARS_MAX);
    let reason = |text: String| a(with(refund("RF-9", "D-1", 1), json!({"reason": text})));
    check(
        &ledger(),
        vec![
            // amount
            no("zero fen", intake(with(d9(), cash(0))), "amount"),
            ok("2^53 - 1 fen", intake(with(d9(), cash(max)))),
            no("2^53 fen", intake(with(d9(), cash(max + 1))), "amount"),
            no("a zero request", a(with(case_open("C-9", "medical"), json!({"requested_fen": 0}))), "amount"),
            ok("a zero opening balance", a(fund_open("F-9", "general", false, 0))),
            ok("an opening balance of 2^53 - 1", a(fund_open("F-9", "general", false, max))),
            no("an opening balance of 2^53", a(fund_open("F-9", "general", false, max + 1)), "amount"),
            no(
                "zero goods",
                intake(donation("D-9", "fund", "F-gen", goods_in("quilt", 0, "piece", 1))),
                "amount",
            ),
            no(
                "a zero unit value",
                intake(donation("D-9", "fund", "F-gen", goods_in("quilt", 1, "piece", 0))),
                "amount",
            ),
            ok(
                "a goods value of 2^53 - 1",
                intake(donation("D-9", "fund", "F-gen", goods_in("gold", 1, "bar", max))),
            ),
            no(
                "a goods value of 2^53",
                intake(donation("D-9", "fund", "F-gen", goods_in("gold", 1 << 27, "bar", 1 << 26))),
                "amount",
            ),
            no(
                "a goods value overflowing u64",
                intake(donation("D-9", "fund", "F-gen", goods_in("gold", max, "bar", max))),
                "amount",
            ),
            no("zero quantity moved", a(alloc("A-9", "F-gen", "C-med", goods("quilt", 0))), "amount"),
            no("a zero refund", a(refund("RF-9", "D-1", 0)), "amount"),
            no(
                "a zero dual-control threshold",
                by(
                    genesis_body(
                        json!({"policy": {"dual_control_fen": 0, "min_audit_permille": 100, "max_backdate_days": 30}}),
                    ),
                    &[ADMIN],
                ),
                "amount",
            ),
            // text
            ok("500 characters", reason(long.clone())),
            ok("500 Chinese characters (1500 bytes)", reason(han.clone())),
            no("501 characters", reason(format!("{long}a")), "text"),
            no("501 Chinese characters", reason(format!("{han}慈")), "text"),
            no("a bell", reason("ring\u{7}".into()), "text"),
            no("a newline", reason("two\nlines".into()), "text"),
            no("a tab", reason("a\tb".into()), "text"),
            no("a DEL", reason("a\u{7f}".into()), "text"),
            no("a C1 control", reason("a\u{85}b".into()), "text"),
            no("a NUL", reason("a\u{0}b".into()), "text"),
            ok("an empty text", reason(String::new())),
            no(
                "a long holder",
                a(with(grant("G-9", 50, &[]), json!({"holder": format!("{long}a")}))),
                "text",
            ),
            no(
                "a control character in a unit",
                intake(donation("D-9", "fund", "F-gen", goods_in("quilt", 1, "pie\rce", 1))),
                "text",
            ),
            no("a long item code", a(alloc("A-9", "F-gen", "C-med", goods(&format!("{long}q"), 1))), "text"),
            no(
                "a control character in a vendor",
                by(
                    with(disburse("X-9", "C-med", cash(1)), json!({"payee": {"vendor": "A\u{1b}B"}})),
                    &[DISBURSER],
                ),
                "text",
            ),
            // event_id
            ok("a 64-character id", intake(with(d9(), json!({"id": "D".repeat(64)})))),
            ok("an id with . _ : -", intake(with(d9(), json!({"id": "D.2026_03:01-9"})))),
            no("a 65-character id", intake(with(d9(), json!({"id": "D".repeat(65)}))), "event_id"),
            no("an empty id", intake(with(d9(), json!({"id": ""}))), "event_id"),
            no("an id starting with -", intake(with(d9(), json!({"id": "-D9"}))), "event_id"),
            no("an id with a space", intake(with(d9(), json!({"id": "D 9"}))), "event_id"),
            no("an id with a slash", intake(with(d9(), json!({"id": "D/9"}))), "event_id"),
            no("a non-ASCII id", intake(with(d9(), json!({"id": "D-é"}))), "event_id"),
            no("an id with a trailing newline", intake(with(d9(), json!({"id": "D-9\n"}))), "event_id"),
            no("a reference that is not an id", intake(with(d9(), json!({"fund": "F med"}))), "event_id"),
            no("a subject that is not an id", a(complaint("Q-9", &["D-1", "?"])), "event_id"),
            // hex
            ok("a lower-case donor", intake(with(d9(), json!({"donor": hex64(0xab)})))),
            no(
                "an upper-case donor",
                intake(with(d9(), json!({"donor": hex64(0xab).to_uppercase()}))),
                "hex",
            ),
            no("63 hex characters", intake(with(d9(), json!({"reference": &hex64(0xab)[1..]}))), "hex"),
            no(
                "65 hex characters",
                intake(with(d9(), json!({"reference": format!("{}a", hex64(0xab))}))),
                "hex",
            ),
            no(
                "a non-hex character",
                intake(with(d9(), json!({"reference": format!("g{}", &hex64(0xab)[1..])}))),
                "hex",
            ),
            no(
                "an upper-case key",
                a(with(grant("G-9", 50, &[]), json!({"key": key_of(50).to_uppercase()}))),
                "hex",
            ),
            no(
                "an upper-case evidence hash",
                by(
                    with(
                        disburse("X-9", "C-med", cash(1)),
                        json!({"evidence": [hex64(0xee).to_uppercase()]}),
                    ),
                    &[DISBURSER],
                ),
                "hex",
            ),
            no(
                "an upper-case nonce hash",
                a(with(
                    plan_body("P-9", "donations", (10, 24), 100, 30),
                    json!({"nonce_hash": hex64(0xab).to_uppercase()}),
                )),
                "hex",
            ),
            // time
            no("no zone", intake(at(d9(), "2026-03-01T10:00:00")), "time"),
            no("a lower-case t", intake(at(d9(), "2026-03-01t10:00:00Z")), "time"),
            no("a lower-case z", intake(at(d9(), "2026-03-01T10:00:00z")), "time"),
            no("a space for T", intake(at(d9(), "2026-03-01 10:00:00Z")), "time"),
            no("February 30", intake(at(d9(), "2026-02-30T10:00:00Z")), "time"),
            no("second 60", intake(at(d9(), "2026-03-01T10:00:60Z")), "time"),
            no("hour 24", intake(at(d9(), "2026-03-01T24:00:00Z")), "time"),
            no("ten fraction digits", intake(at(d9(), "2026-03-01T10:00:00.0000000001Z")), "time"),
            no("a date alone", intake(at(d9(), "2026-03-01")), "time"),
            no(
                "a deadline with a time",
                a(with(rectification("RC-9", "FI-1", "X-1"), json!({"deadline": "2026-04-01T00:00:00Z"}))),
                "time",
            ),
            no(
                "a deadline on February 29 of 2026",
                a(with(rectification("RC-9", "FI-1", "X-1"), json!({"deadline": "2026-02-29"}))),
                "time",
            ),
            no(
                "a short deadline",
                a(with(rectification("RC-9", "FI-1", "X-1"), json!({"deadline": "2026-4-1"}))),
                "time",
            ),
        ],
    );
}

#[test]
fn personal_data() {
    let id_number = "11010519491231002X";
    let mobile = "13812345678";
    let summary = |text: &str| a(with(complaint("Q-9", &["D-1"]), json!({"summary": text})));
    check(
        &ledger(),
        vec![
            no("an ID number in free text", summary(&format!("applicant {id_number} says")), "pii_detected"),
            no("an ID number ending in x", summary("id 11010519491231002x."), "pii_detected"),
            no("an ID number ending in a digit", summary("110105194912310021"), "pii_detected"),
            no("a mobile number in free text", summary(&format!("call {mobile} after 5pm")), "pii_detected"),
            no("a mobile number beside Chinese text", summary(&format!("电话{mobile}联系")), "pii_detected"),
            no(
                "a mobile number in an id",
                intake(with(d9(), json!({"id": format!("D-{mobile}")}))),
                "pii_detected",
            ),
            no(
                "an ID number in an id",
                intake(with(d9(), json!({"id": format!("D-{id_number}")}))),
                "pii_detected",
            ),
            no(
                "a mobile number in a reference id",
                intake(with(d9(), json!({"fund": format!("F-{mobile}")}))),
                "pii_detected",
            ),
            no("a mobile number in a subject", a(complaint("Q-9", &["D-13912345678"])), "pii_detected"),
            no(
                "a mobile number in a donor name",
                intake(with(d9(), json!({"donor_name": format!("Zhang {mobile}")}))),
                "pii_detected",
            ),
            no(
                "a mobile number in a nested vendor",
                by(
                    with(disburse("X-9", "C-med", cash(1)), json!({"payee": {"vendor": mobile}})),
                    &[DISBURSER],
                ),
                "pii_detected",
            ),
            no(
                "a mobile number in a holder",
                a(with(grant("G-9", 50, &[]), json!({"holder": mobile}))),
                "pii_detected",
            ),
            no(
                "a mobile number in an item code",
                intake(donation("D-9", "fund", "F-gen", goods_in(mobile, 1, "piece", 1))),
                "pii_detected",
            ),
            ok(
                "a hex field is not searched",
                intake(with(d9(), json!({"donor": format!("{mobile}{}", "a".repeat(53))}))),
            ),
            ok("a number is not a string", intake(with(d9(), cash(13_812_345_678)))),
            ok("a mobile number with dashes", summary("call 138-1234-5678")),
            ok("twelve digits", summary("ref 138123456789")),
            ok("a mobile-like number starting 12", summary("ref 12812345678")),
            ok("an ID-like number with month 13", summary("110105194913310021")),
            ok("an ID-like number from the 1700s", summary("110105174912310021")),
        ],
    );
}

#[test]
fn too_large() {
    use ledger_core::limits::BODY_BYTES_MAX;
    let body = d9_text("");
    let pad = |n: usize| format!("{}{}", &body[..body.len() - 1], " ".repeat(n - body.len()) + "}");
    assert_eq!(pad(BODY_BYTES_MAX).len(), BODY_BYTES_MAX);
    check(
        &ledger(),
        vec![
            ok("a body of the limit", raw(&pad(BODY_BYTES_MAX))),
            no("one byte over", raw(&pad(BODY_BYTES_MAX + 1)), "too_large"),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// malformed envelopes (SPEC.md §1): payload type, base64, signatures; then bad_signature.

fn check_envelopes(rows: Vec<(&str, Envelope, &str)>) {
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|(what, env, want)| {
            let got = env.verify().map(|_| "ok").map_err(|e| e.rule.as_str());
            let got = got.unwrap_or_else(|r| r);
            (got != *want).then(|| format!("  {what}: expected {want}, got {got}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} envelopes failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// Changes the last data character of a base64 text so its unused low bits are not zero: the
/// same bytes, another spelling.
fn non_canonical(b64: &str) -> String {
    let data = b64.trim_end_matches('=');
    let pad = &b64[data.len()..];
    assert!(!pad.is_empty(), "needs padding to have unused bits");
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let last = data.chars().last().expect("data");
    let i = alphabet.find(last).expect("base64 character");
    let swapped = alphabet.chars().nth(i + 1).expect("not the last character");
    format!("{}{swapped}{pad}", &data[..data.len() - 1])
}

#[test]
fn malformed_envelopes_and_bad_signatures() {
    let body = serde_json::to_vec(&d9()).expect("json");
    let k = key(INTAKE);
    let env = Envelope::sign(&body, &[&k]);
    let set = |f: &dyn Fn(&mut Envelope)| {
        let mut e = env.clone();
        f(&mut e);
        e
    };
    let sig_bytes = b64_decode_canonical(&env.signatures[0].sig).expect("sig");
    let other_sig = Envelope::sign(&serde_json::to_vec(&with(d9(), cash(101))).expect("json"), &[&k]);
    let nine: Vec<SigningKey> = (50..59).map(key).collect();
    let eight: Vec<&SigningKey> = nine.iter().take(8).collect();
    let mut body_mod3 = body.clone();
    while body_mod3.len() % 3 == 0 {
        body_mod3.push(b' ');
    }
    let padded = Envelope::sign(&body_mod3, &[&k]);
    let bad_body = serde_json::to_vec(&with(d9(), json!({"memo": "x"}))).expect("json");
    check_envelopes(vec![
        ("the envelope", env.clone(), "ok"),
        ("a body whose base64 has padding", padded.clone(), "ok"),
        ("another payload type", set(&|e| e.payload_type = "application/json".into()), "payload_type"),
        (
            "the payload type in capitals",
            set(&|e| e.payload_type = PAYLOAD_TYPE.to_uppercase()),
            "payload_type",
        ),
        ("an empty payload type", set(&|e| e.payload_type.clear()), "payload_type"),
        (
            "payload without padding",
            {
                let mut e = padded.clone();
                e.payload = e.payload.trim_end_matches('=').to_string();
                e
            },
            "base64",
        ),
        (
            "payload with non-zero unused bits",
            {
                let mut e = padded.clone();
                e.payload = non_canonical(&e.payload);
                e
            },
            "base64",
        ),
        ("payload with a line break", set(&|e| e.payload.insert(4, '\n')), "base64"),
        (
            "payload in the URL-safe alphabet",
            set(&|e| e.payload = e.payload.replace('+', "-").replace('/', "_") + "-"),
            "base64",
        ),
        (
            "signature with non-zero unused bits",
            set(&|e| e.signatures[0].sig = non_canonical(&e.signatures[0].sig)),
            "base64",
        ),
        ("signature of 63 bytes", set(&|e| e.signatures[0].sig = b64_encode(&sig_bytes[..63])), "base64"),
        (
            "signature of 65 bytes",
            set(&|e| e.signatures[0].sig = b64_encode(&[&sig_bytes[..], &[0]].concat())),
            "base64",
        ),
        ("no signature", set(&|e| e.signatures.clear()), "signatures"),
        ("eight signatures", Envelope::sign(&body, &eight), "ok"),
        ("nine signatures", Envelope::sign(&body, &nine.iter().collect::<Vec<_>>()), "signatures"),
        ("one key twice", Envelope::sign(&body, &[&k, &k]), "signatures"),
        (
            "one key twice, other signatures",
            set(&|e| e.signatures.push(other_sig.signatures[0].clone())),
            "signatures",
        ),
        (
            "an upper-case keyid",
            set(&|e| e.signatures[0].keyid = e.signatures[0].keyid.to_uppercase()),
            "hex",
        ),
        ("a short keyid", set(&|e| e.signatures[0].keyid.pop().map(|_| ()).unwrap_or(())), "hex"),
        (
            "a signature over another body",
            set(&|e| e.signatures[0].sig = other_sig.signatures[0].sig.clone()),
            "bad_signature",
        ),
        (
            "a signature under another keyid",
            set(&|e| e.signatures[0].keyid = key_of(INTAKE2)),
            "bad_signature",
        ),
        (
            "a flipped bit",
            set(&|e| {
                let mut b = sig_bytes.clone();
                b[10] ^= 1;
                e.signatures[0].sig = b64_encode(&b);
            }),
            "bad_signature",
        ),
        (
            "one good and one bad signature",
            set(&|e| {
                e.signatures
                    .push(EnvelopeSignature { keyid: key_of(INTAKE2), sig: env.signatures[0].sig.clone() })
            }),
            "bad_signature",
        ),
        (
            "a signature over the body, not its PAE",
            set(&|e| {
                use ed25519_dalek::Signer;
                e.signatures[0].sig = b64_encode(&k.sign(&body).to_bytes());
            }),
            "bad_signature",
        ),
        // Step 2 before step 3: a malformed body answers malformed even when signed badly.
        (
            "a bad body with a bad signature",
            {
                let mut e = Envelope::sign(&bad_body, &[&k]);
                e.signatures[0].sig = env.signatures[0].sig.clone();
                e
            },
            "field",
        ),
    ]);
    // The wire form: exactly three fields, no duplicates.
    let json = env.to_json();
    assert_eq!(Envelope::from_json(json.as_bytes()).expect("round trip"), env);
    for (what, text) in [
        ("an extra field", json.replacen('{', r#"{"x":1,"#, 1)),
        ("no signatures field", format!(r#"{{"payload":"{}","payloadType":"{PAYLOAD_TYPE}"}}"#, env.payload)),
        ("a duplicate field", json.replacen('{', &format!(r#"{{"payload":"{}","#, env.payload), 1)),
        ("a signature with an extra field", json.replace(r#""sig":"#, r#""x":1,"sig":"#)),
        ("not JSON", "{".to_string()),
    ] {
        assert_eq!(
            Envelope::from_json(text.as_bytes()).map_err(|e| e.rule.as_str()),
            Err("envelope"),
            "{what}"
        );
    }
    // A second signature by a key that already signed.
    assert_eq!(env.add_signature(&k).map_err(|e| e.rule.as_str()), Err("signatures"));
    let two = env.add_signature(&key(INTAKE2)).expect("second signature");
    assert_eq!(two.verify().expect("verifies").signers().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// overflow: ledger totals are u64 and every amount is at most 2^53 − 1, so 2049 maximal amounts
// overflow a total. Each must be refused with `overflow`, never wrap or stop the writer.

fn max_cash() -> Value {
    cash(AMOUNT_MAX)
}

#[test]
fn overflow_of_money_received() {
    let mut h = ledger();
    // Already in: 1500 in openings and 17000 received, in cash.
    let came_in = |h: &Harness| {
        let t = h.state.totals();
        u128::from(t.opening_fen) + u128::from(t.received_fen)
    };
    let mut i = 0;
    // Openings and gifts together: what came in must fit, not each figure alone.
    while came_in(&h) + u128::from(AMOUNT_MAX) <= u128::from(u64::MAX) {
        let body = if i % 2 == 0 {
            fund_open(&format!("F-big-{i}"), "general", false, AMOUNT_MAX)
        } else {
            donation(&format!("D-big-{i}"), "fund", "F-gen", max_cash())
        };
        h.append(body).unwrap_or_else(|e| panic!("step {i}: {e}"));
        i += 1;
    }
    let room = u64::MAX - u64::try_from(came_in(&h)).expect("fits");
    for body in [
        donation("D-over", "fund", "F-gen", cash(room + 1)),
        donation("D-over", "case", "C-med", max_cash()),
        fund_open("F-over", "general", false, room + 1),
    ] {
        h.refused(body, "overflow");
    }
    h.append(donation("D-last", "fund", "F-gen", cash(room))).expect("exactly up to u64::MAX");
    h.refused(donation("D-over", "fund", "F-gen", cash(1)), "overflow");
    h.append(fund_open("F-zero", "general", false, 0)).expect("a zero opening adds nothing");
    h.state.check_lots().expect("lots");
}

#[test]
fn overflow_of_goods_received_and_value_moved() {
    let mut h = ledger();
    // 2049 gold bars each worth 2^53 − 1: their quantity is small, their value is not.
    for i in 0..2049 {
        h.append(donation(&format!("D-gold-{i}"), "fund", "F-gen", goods_in("gold", 1, "bar", AMOUNT_MAX)))
            .unwrap_or_else(|e| panic!("gift {i}: {e}"));
    }
    let two = [&key(ALLOCATOR), &key(ALLOCATOR2)];
    let e = h
        .append_with(alloc("A-gold", "F-gen", "C-med", goods("gold", 2049)), &two)
        .expect_err("value overflows");
    assert_eq!(e.rule.as_str(), "overflow", "{e}");
    h.append_with(alloc("A-gold", "F-gen", "C-med", goods("gold", 2048)), &two)
        .expect("2048 bars fit in u64 fen");
    // Quantities: 2^53 − 1 units of one item, 2049 times.
    for i in 0..2048 {
        h.append(donation(&format!("D-rice-{i}"), "fund", "F-gen", goods_in("rice", AMOUNT_MAX, "g", 1)))
            .unwrap_or_else(|e| panic!("gift {i}: {e}"));
    }
    h.refused(donation("D-rice-over", "fund", "F-gen", goods_in("rice", AMOUNT_MAX, "g", 1)), "overflow");
    h.state.check_lots().expect("lots");
}

#[test]
fn overflow_of_money_moved_back_and_forth() {
    let mut h = ledger();
    h.append(donation("D-max", "fund", "F-gen", max_cash())).expect("gift");
    let allocators = [&key(ALLOCATOR), &key(ALLOCATOR2)];
    let disbursers = [&key(DISBURSER), &key(DISBURSER2)];
    // Allocate and revoke the same money until the allocated total is full.
    let mut i = 0u64;
    while h.state.totals().allocated_fen <= u64::MAX - AMOUNT_MAX {
        h.append_with(alloc(&format!("A-max-{i}"), "F-gen", "C-med", max_cash()), &allocators)
            .expect("allocation");
        h.append(alloc_revoke(&format!("V-max-{i}"), &format!("A-max-{i}"), max_cash())).expect("revocation");
        i += 1;
    }
    let e = h.append_with(alloc("A-over", "F-gen", "C-med", max_cash()), &allocators).expect_err("overflow");
    assert_eq!(e.rule.as_str(), "overflow", "allocated total: {e}");
    h.state.check_lots().expect("lots");

    // The same for payments and returns, on a case that holds 2^53 − 1 fen.
    let mut h = ledger();
    h.append(case_open("C-x", "children")).expect("case");
    h.append(donation("D-max", "case", "C-x", max_cash())).expect("gift");
    let mut j = 0u64;
    while h.state.totals().disbursed_fen <= u64::MAX - AMOUNT_MAX {
        h.append_with(disburse(&format!("X-max-{j}"), "C-x", max_cash()), &disbursers).expect("payment");
        h.append(disburse_return(&format!("R-max-{j}"), &format!("X-max-{j}"), max_cash())).expect("return");
        j += 1;
    }
    let e = h.append_with(disburse("X-over", "C-x", max_cash()), &disbursers).expect_err("overflow");
    assert_eq!(e.rule.as_str(), "overflow", "disbursed total: {e}");
    h.state.check_lots().expect("lots");
}

// ---------------------------------------------------------------------------------------------
// Chain faults (decision (f) of docs/FORMAT.md): what the verifier finds in a broken log.

#[test]
fn chain_faults() {
    use ledger_core::entry::VerifiedEntry;
    use ledger_core::time::EntryTime;
    let h = ledger();
    let env = || {
        Envelope::sign(&serde_json::to_vec(&d9()).expect("json"), &[&key(INTAKE)]).verify().expect("verify")
    };
    let at = |ms: i64| EntryTime::from_unix_ms(ms).expect("time");
    let (size, prev, last) = (h.state.size(), h.state.last_leaf(), h.state.last_time_ms());
    let cases = [
        ("the right entry", VerifiedEntry::new(size, prev, at(last), env()), "ok"),
        ("a seq gap", VerifiedEntry::new(size + 1, prev, at(last), env()), "seq"),
        ("a repeated seq", VerifiedEntry::new(size - 1, prev, at(last), env()), "seq"),
        ("a wrong prev", VerifiedEntry::new(size, Hash([7; 32]), at(last), env()), "prev"),
        ("the zero prev", VerifiedEntry::new(size, Hash::ZERO, at(last), env()), "prev"),
        ("a time before the last entry", VerifiedEntry::new(size, prev, at(last - 1), env()), "time_order"),
    ];
    for (what, entry, want) in cases {
        let mut state = h.state.clone();
        let got = state.apply(&entry.expect("entry")).map(|_| "ok").unwrap_or_else(|e| e.rule.as_str());
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn rule_names_and_codes() {
    use ledger_core::refusal::{Code, Rule};
    let table: &[(Rule, &str, &str, u16)] = &[
        (Rule::TooLarge, "too_large", "too_large", 413),
        (Rule::Json, "json", "malformed", 400),
        (Rule::Envelope, "envelope", "malformed", 400),
        (Rule::PayloadType, "payload_type", "malformed", 400),
        (Rule::Base64, "base64", "malformed", 400),
        (Rule::Hex, "hex", "malformed", 400),
        (Rule::Signatures, "signatures", "malformed", 400),
        (Rule::Text, "text", "malformed", 400),
        (Rule::EventId, "event_id", "malformed", 400),
        (Rule::Time, "time", "malformed", 400),
        (Rule::Amount, "amount", "malformed", 400),
        (Rule::Field, "field", "malformed", 400),
        (Rule::WeakKey, "weak_key", "malformed", 400),
        (Rule::PiiDetected, "pii_detected", "malformed", 400),
        (Rule::BadSignature, "bad_signature", "bad_signature", 403),
        (Rule::DuplicateId, "duplicate_id", "duplicate_id", 409),
        (Rule::Role, "role", "unauthorized", 403),
        (Rule::Revoked, "revoked", "unauthorized", 403),
        (Rule::KeyChangeQuorum, "key_change_quorum", "unauthorized", 403),
        (Rule::GenesisOnly, "genesis_only", "rule_violation", 422),
        (Rule::FutureTime, "future_time", "rule_violation", 422),
        (Rule::Backdated, "backdated", "rule_violation", 422),
        (Rule::UnknownReference, "unknown_reference", "rule_violation", 422),
        (Rule::NotOpen, "not_open", "rule_violation", 422),
        (Rule::NotEmpty, "not_empty", "rule_violation", 422),
        (Rule::InsufficientFunds, "insufficient_funds", "rule_violation", 422),
        (Rule::RestrictedFund, "restricted_fund", "rule_violation", 422),
        (Rule::WrongAsset, "wrong_asset", "rule_violation", 422),
        (Rule::UnitMismatch, "unit_mismatch", "rule_violation", 422),
        (Rule::OverRevoke, "over_revoke", "rule_violation", 422),
        (Rule::OverReturn, "over_return", "rule_violation", 422),
        (Rule::LastAdmin, "last_admin", "rule_violation", 422),
        (Rule::KeyRevoked, "key_revoked", "rule_violation", 422),
        (Rule::BadSample, "bad_sample", "rule_violation", 422),
        (Rule::AlreadySampled, "already_sampled", "rule_violation", 422),
        (Rule::AlreadyResolved, "already_resolved", "rule_violation", 422),
        (Rule::Overflow, "overflow", "rule_violation", 422),
        (Rule::DualControl, "dual_control", "unauthorized", 403),
        (Rule::EntrySyntax, "entry_syntax", "chain", 500),
        (Rule::Seq, "seq", "chain", 500),
        (Rule::Prev, "prev", "chain", 500),
        (Rule::TimeOrder, "time_order", "chain", 500),
        (Rule::Conservation, "conservation", "invariant", 500),
    ];
    for &(rule, name, code, status) in table {
        assert_eq!(rule.as_str(), name);
        assert_eq!(rule.code().as_str(), code, "{name}");
        assert_eq!(rule.code().http_status(), status, "{name}");
    }
    assert_eq!(Code::Malformed.http_status(), 400);
}
