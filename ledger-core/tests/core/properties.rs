//! Random histories: funds and cases opened and closed, gifts in cash and goods (into funds and
//! earmarked), allocations, payments, revocations, returns, refunds, corrections and redirects,
//! with amounts picked mostly within what is there and sometimes beyond it. After every entry
//! the lots must be consistent (conservation, balances equal lots, every trace sums to its
//! gift), a refused entry must change nothing, and the totals must match a running model.

use crate::support::bodies::*;
use crate::support::{key, role_seed, second_seed, Harness};
use ledger_core::rules::Balances;
use ledger_core::types::{Kind, Role};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;

const PROGRAMMES: [&str; 7] =
    ["elderly", "children", "education", "medical", "disability", "poverty", "general"];
/// Goods as received: item, unit, unit value. "rice" in bags clashes with "rice" in kg.
const GOODS: [(&str, &str, u64); 3] =
    [("quilt", "piece", 8_000), ("rice", "kg", 600), ("rice", "bag", 30_000)];
/// Assets moved after receipt: cash, then the two items.
const ASSETS: [Option<&str>; 3] = [None, Some("quilt"), Some("rice")];

#[derive(Debug, Clone)]
enum Op {
    OpenFund { programme: usize, restricted: bool, opening_fen: u64 },
    OpenCase { programme: usize },
    Donate { earmarked: bool, target: usize, goods: Option<usize>, amount: u64 },
    Allocate { fund: usize, case: usize, asset: usize, part: u32 },
    Disburse { case: usize, asset: usize, part: u32 },
    Revoke { allocation: usize, part: u32 },
    Return { disbursement: usize, part: u32 },
    Refund { donation: usize, part: u32 },
    Correct { donation: usize, part: u32 },
    Redirect { donation: usize, fund: usize, part: u32 },
    CloseFund { fund: usize },
    CloseCase { case: usize },
    Wait { minutes: i64 },
}

/// `part` is per 200 of what is there: 1..=200 stays within it, 201..=260 goes beyond.
fn part() -> impl Strategy<Value = u32> {
    prop_oneof![8 => 1u32..=200, 1 => 201u32..=260, 1 => Just(200)]
}

fn op() -> impl Strategy<Value = Op> {
    let idx = 0usize..64;
    prop_oneof![
        1 => (0..PROGRAMMES.len(), any::<bool>(), prop_oneof![Just(0u64), 1u64..2_000_000])
            .prop_map(|(programme, restricted, opening_fen)| Op::OpenFund { programme, restricted, opening_fen }),
        1 => (0..PROGRAMMES.len()).prop_map(|programme| Op::OpenCase { programme }),
        4 => (any::<bool>(), idx.clone(), prop_oneof![3 => Just(None), 1 => (0..GOODS.len()).prop_map(Some)], 1u64..3_000_000)
            .prop_map(|(earmarked, target, goods, amount)| Op::Donate { earmarked, target, goods, amount }),
        4 => (idx.clone(), idx.clone(), 0..ASSETS.len(), part())
            .prop_map(|(fund, case, asset, part)| Op::Allocate { fund, case, asset, part }),
        3 => (idx.clone(), 0..ASSETS.len(), part()).prop_map(|(case, asset, part)| Op::Disburse { case, asset, part }),
        1 => (idx.clone(), part()).prop_map(|(allocation, part)| Op::Revoke { allocation, part }),
        1 => (idx.clone(), part()).prop_map(|(disbursement, part)| Op::Return { disbursement, part }),
        1 => (idx.clone(), part()).prop_map(|(donation, part)| Op::Refund { donation, part }),
        1 => (idx.clone(), part()).prop_map(|(donation, part)| Op::Correct { donation, part }),
        1 => (idx.clone(), idx.clone(), part()).prop_map(|(donation, fund, part)| Op::Redirect { donation, fund, part }),
        1 => idx.clone().prop_map(|fund| Op::CloseFund { fund }),
        1 => idx.clone().prop_map(|case| Op::CloseCase { case }),
        1 => (0i64..(30 * 60)).prop_map(|minutes| Op::Wait { minutes }),
    ]
}

/// What the history created so far, to pick names and sizes from.
#[derive(Default)]
struct Model {
    funds: Vec<String>,
    cases: Vec<String>,
    /// (id, asset index, amount, earmarked)
    donations: Vec<(String, usize, u64, bool)>,
    allocations: Vec<(String, usize, u64)>,
    disbursements: Vec<(String, usize, u64)>,
    next: u64,
    /// Cash: received, refunded, corrected, opening, as the accepted events say.
    received_fen: u64,
    refunded_fen: u64,
    corrected_fen: u64,
    opening_fen: u64,
}

fn pick(list: &[String], i: usize) -> Option<&str> {
    (!list.is_empty()).then(|| list[i % list.len()].as_str())
}

fn scaled(available: u64, part: u32) -> u64 {
    (u128::from(available) * u128::from(part) / 200).max(1) as u64
}

fn amount_of(asset: usize, n: u64) -> Value {
    match ASSETS[asset] {
        None => cash(n),
        Some(item) => goods(item, n),
    }
}

fn held(b: &Balances, group: &str, id: &str, asset: usize) -> u64 {
    let holder = match group {
        "funds" => b.funds.get(id).map(|f| (f.cash_fen, &f.goods)),
        _ => b.cases.get(id).map(|c| (c.cash_fen, &c.goods)),
    };
    match (holder, ASSETS[asset]) {
        (Some((cash, _)), None) => cash,
        (Some((_, goods)), Some(item)) => goods.get(item).copied().unwrap_or(0),
        (None, _) => 0,
    }
}

/// Mostly an asset the holder has (the `i`-th of them), so that most movements can succeed.
fn some_held(b: &Balances, group: &str, id: &str, i: usize) -> usize {
    let there: Vec<usize> = (0..ASSETS.len()).filter(|&a| held(b, group, id, a) > 0).collect();
    if there.is_empty() || i % 10 == 0 {
        i % ASSETS.len()
    } else {
        there[i % there.len()]
    }
}

impl Model {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{}", self.next)
    }

    /// The body an op stands for, or `None` when it names nothing yet.
    fn body(&mut self, op: &Op, b: &Balances) -> Option<Value> {
        Some(match *op {
            Op::OpenFund { programme, restricted, opening_fen } => {
                fund_open(&self.id("F"), PROGRAMMES[programme], restricted, opening_fen)
            }
            Op::OpenCase { programme } => case_open(&self.id("C"), PROGRAMMES[programme]),
            Op::Donate { earmarked, target, goods, amount } => {
                let (to, list) = if earmarked { ("case", &self.cases) } else { ("fund", &self.funds) };
                let target = pick(list, target)?.to_string();
                let what = match goods {
                    None => cash(amount),
                    Some(g) => goods_in(GOODS[g].0, amount % 50 + 1, GOODS[g].1, GOODS[g].2),
                };
                donation(&self.id("D"), to, &target, what)
            }
            Op::Allocate { fund, case, asset, part } => {
                let (fund, case) =
                    (pick(&self.funds, fund)?.to_string(), pick(&self.cases, case)?.to_string());
                let asset = some_held(b, "funds", &fund, asset);
                let n = scaled(held(b, "funds", &fund, asset), part);
                alloc(&self.id("A"), &fund, &case, amount_of(asset, n))
            }
            Op::Disburse { case, asset, part } => {
                let case = pick(&self.cases, case)?.to_string();
                let asset = some_held(b, "cases", &case, asset);
                let n = scaled(held(b, "cases", &case, asset), part);
                disburse(&self.id("X"), &case, amount_of(asset, n))
            }
            Op::Revoke { allocation, part } => {
                let (id, asset, n) =
                    self.allocations.get(allocation % self.allocations.len().max(1))?.clone();
                alloc_revoke(&self.id("V"), &id, amount_of(asset, scaled(n, part)))
            }
            Op::Return { disbursement, part } => {
                let (id, asset, n) =
                    self.disbursements.get(disbursement % self.disbursements.len().max(1))?.clone();
                disburse_return(&self.id("R"), &id, amount_of(asset, scaled(n, part)))
            }
            Op::Refund { donation, part } => {
                // Mostly cash gifts: a refund of goods is refused (wrong_asset), which the
                // tables test; here it would only waste the step.
                let cash_gifts: Vec<_> =
                    self.donations.iter().filter(|d| d.1 == 0 || donation % 8 == 0).collect();
                let (id, _, n, _) = (*cash_gifts.get(donation % cash_gifts.len().max(1))?).clone();
                refund(&self.id("RF"), &id, scaled(n, part))
            }
            Op::Correct { donation, part } => {
                let (id, asset, n, _) = self.donations.get(donation % self.donations.len().max(1))?.clone();
                correct(&self.id("K"), &id, amount_of(asset, scaled(n, part)))
            }
            Op::Redirect { donation, fund, part } => {
                // Mostly earmarked gifts into F-0 (general): the others are refused, which the
                // tables test.
                let earmarked: Vec<_> = self.donations.iter().filter(|d| d.3 || donation % 8 == 0).collect();
                let (id, asset, n, _) = (*earmarked.get(donation % earmarked.len().max(1))?).clone();
                let fund = if fund % 2 == 0 { "F-0" } else { pick(&self.funds, fund)? }.to_string();
                redirect(&self.id("E"), &id, &fund, amount_of(asset, scaled(n, part)))
            }
            Op::CloseFund { fund } => {
                let fund = pick(&self.funds, fund)?.to_string();
                fund_close(&self.id("FC"), &fund)
            }
            Op::CloseCase { case } => {
                let case = pick(&self.cases, case)?.to_string();
                case_close(&self.id("CC"), &case)
            }
            Op::Wait { .. } => return None,
        })
    }

    /// Records what an accepted body created.
    fn accepted(&mut self, body: &Value) {
        let id = body["id"].as_str().unwrap_or_default().to_string();
        let asset_amount = || -> (usize, u64) {
            match (&body["amount_fen"], &body["goods"]) {
                (Value::Number(n), _) => (0, n.as_u64().unwrap_or(0)),
                (_, g) => {
                    let item = g["item"].as_str().unwrap_or_default();
                    (
                        ASSETS.iter().position(|a| *a == Some(item)).unwrap_or(0),
                        g["quantity"].as_u64().unwrap_or(0),
                    )
                }
            }
        };
        match body["kind"].as_str().unwrap_or_default() {
            "fund.opened" => {
                self.opening_fen += body["opening_balance_fen"].as_u64().unwrap_or(0);
                self.funds.push(id);
            }
            "case.opened" => self.cases.push(id),
            "donation.received" => {
                let (asset, n) = asset_amount();
                if asset == 0 {
                    self.received_fen += n;
                }
                self.donations.push((id, asset, n, body.get("case").is_some()));
            }
            "allocation.made" => {
                let (asset, n) = asset_amount();
                self.allocations.push((id, asset, n));
            }
            "disbursement.made" => {
                let (asset, n) = asset_amount();
                self.disbursements.push((id, asset, n));
            }
            "donation.refunded" => self.refunded_fen += asset_amount().1,
            "donation.corrected" => {
                if let (0, n) = asset_amount() {
                    self.corrected_fen += n;
                }
            }
            _ => {}
        }
    }
}

/// Signs with the role's key, or with both of its keys when `two` (dual control).
fn signers(kind: Kind, two: bool) -> Vec<u8> {
    let role = crate::support::role_of(kind);
    let mut seeds = vec![if role == Role::Admin { 1 } else { role_seed(role) }];
    if two && matches!(role, Role::Intake | Role::Allocator | Role::Disburser) {
        seeds.push(second_seed(role));
    }
    seeds
}

/// Runs a history, checking after every entry; returns how many events of each kind were
/// accepted.
fn run_history(ops: &[(Op, bool)]) -> Result<BTreeMap<String, usize>, TestCaseError> {
    let mut h = Harness::new();
    let mut m = Model::default();
    let mut accepted: BTreeMap<String, usize> = BTreeMap::new();
    for step in [fund_open("F-0", "general", false, 0), case_open("C-0", "medical")] {
        m.accepted(&step);
        h.append(step).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    for (op, two) in ops {
        if let Op::Wait { minutes } = op {
            h.time_ms += minutes * 60_000;
            continue;
        }
        let before = (h.state.size(), h.state.last_leaf(), h.state.balances());
        let Some(body) = m.body(op, &before.2) else { continue };
        let kind = Kind::parse(body["kind"].as_str().unwrap_or_default()).expect("kind");
        let keys: Vec<_> = signers(kind, *two).into_iter().map(key).collect();
        match h.append_with(body.clone(), &keys.iter().collect::<Vec<_>>()) {
            Ok(_) => {
                *accepted.entry(kind.as_str().to_string()).or_default() += 1;
                m.accepted(&body);
                prop_assert_eq!(h.state.size(), before.0 + 1);
            }
            Err(e) => {
                prop_assert_ne!(e.rule.as_str(), "conservation", "{}", e);
                let after = (h.state.size(), h.state.last_leaf(), h.state.balances());
                prop_assert!(after == before, "refused {} ({}) changed the state", body["id"], e);
            }
        }
        if let Err(e) = h.state.check_lots() {
            return Err(TestCaseError::fail(format!("after {}: {e}", body)));
        }
        let t = h.state.totals();
        prop_assert_eq!(
            (t.opening_fen, t.received_fen, t.refunded_fen, t.corrected_fen),
            (m.opening_fen, m.received_fen, m.refunded_fen, m.corrected_fen)
        );
        let b = h.state.balances();
        let funds: u64 = b.funds.values().map(|f| f.cash_fen).sum();
        let cases: u64 = b.cases.values().map(|c| c.cash_fen).sum();
        prop_assert_eq!((funds, cases), (t.held_in_funds_fen, t.held_in_cases_fen));
        for (id, _, n, _) in &m.donations {
            let traced: u64 = h.state.trace(id).expect("donation").iter().map(|p| p.quantity()).sum();
            prop_assert_eq!(traced, *n, "trace of {}", id);
        }
        let goods_zero = b
            .funds
            .values()
            .flat_map(|f| f.goods.values())
            .chain(b.cases.values().flat_map(|c| c.goods.values()));
        for q in goods_zero {
            prop_assert!(*q > 0, "goods with zero quantity are left out of balances");
        }
    }
    Ok(accepted)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_keep_the_lots_consistent(ops in proptest::collection::vec((op(), any::<bool>()), 0..100)) {
        run_history(&ops)?;
    }
}

#[test]
fn a_fixed_long_history() {
    // A deterministic history long enough to reach every kind, to catch a weak generator.
    let mut ops = Vec::new();
    for i in 0..40usize {
        ops.push((
            Op::OpenFund { programme: i % 7, restricted: i % 3 == 0, opening_fen: (i as u64) * 1000 },
            false,
        ));
        ops.push((Op::OpenCase { programme: (i * 5) % 7 }, false));
        ops.push((
            Op::Donate {
                earmarked: i % 4 == 0,
                target: i,
                goods: (i % 5 == 0).then_some(i % 3),
                amount: 100_000 + i as u64,
            },
            false,
        ));
        ops.push((Op::Allocate { fund: i, case: i * 3, asset: i % 3, part: 150 }, i % 2 == 0));
        ops.push((Op::Disburse { case: i * 3, asset: i % 3, part: 120 }, i % 2 == 0));
        ops.push((Op::Return { disbursement: i, part: 50 }, false));
        ops.push((Op::Revoke { allocation: i, part: 60 }, false));
        ops.push((Op::Refund { donation: i * 7, part: 30 }, false));
        ops.push((Op::Correct { donation: i * 11, part: 20 }, false));
        ops.push((Op::Redirect { donation: i * 13, fund: i, part: 100 }, true));
        ops.push((Op::CloseCase { case: i * 17 }, false));
        ops.push((Op::CloseFund { fund: i * 19 }, false));
        ops.push((Op::Wait { minutes: 700 }, false));
    }
    let accepted = run_history(&ops).expect("history");
    for kind in [
        "fund.opened",
        "case.opened",
        "donation.received",
        "allocation.made",
        "disbursement.made",
        "disbursement.returned",
        "allocation.revoked",
        "donation.refunded",
        "donation.corrected",
        "earmark.redirected",
        "case.closed",
    ] {
        assert!(accepted.get(kind).copied().unwrap_or(0) > 0, "no {kind} was accepted: {accepted:?}");
    }
}
