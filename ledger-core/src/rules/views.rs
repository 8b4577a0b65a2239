//! What the state shows: balances (the `/v1/balances` document), traces, and the read models
//! of cases, complaints and audits. Pure functions of the state; the node serves them and the
//! verifier recomputes them.

use super::money::{Portion, CASH};
use super::State;
use crate::types::{Kind, Programme};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Totals of one goods item, in quantities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoodsTotals {
    pub received: u64,
    pub corrected: u64,
    pub disbursed: u64,
    pub returned: u64,
    pub held_in_funds: u64,
    pub held_in_cases: u64,
}

/// Ledger-wide totals: `_fen` figures count cash only; goods are counted by item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub opening_fen: u64,
    pub received_fen: u64,
    pub refunded_fen: u64,
    pub corrected_fen: u64,
    pub allocated_fen: u64,
    pub revoked_fen: u64,
    pub disbursed_fen: u64,
    pub returned_fen: u64,
    pub held_in_funds_fen: u64,
    pub held_in_cases_fen: u64,
    pub goods: BTreeMap<String, GoodsTotals>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundBalance {
    pub programme: Programme,
    pub restricted: bool,
    pub closed: bool,
    pub cash_fen: u64,
    pub goods: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseBalance {
    pub programme: Programme,
    pub closed: bool,
    pub cash_fen: u64,
    pub goods: BTreeMap<String, u64>,
}

/// The `/v1/balances` document at one tree size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balances {
    pub size: u64,
    pub root: String,
    pub totals: Totals,
    pub funds: BTreeMap<String, FundBalance>,
    pub cases: BTreeMap<String, CaseBalance>,
}

/// One allocation or disbursement on a case, as the case page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseMovement {
    pub id: String,
    pub seq: u64,
    /// The fund an allocation came from; `None` for disbursements.
    pub fund: Option<String>,
    pub asset: String,
    pub amount: u64,
    /// Revoked (allocation) or returned (disbursement) since.
    pub reversed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseView {
    pub seq: u64,
    pub balance: CaseBalance,
    pub allocations: Vec<CaseMovement>,
    pub disbursements: Vec<CaseMovement>,
    /// Earmarked gifts received straight into the case.
    pub earmarked: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComplaintView {
    pub seq: u64,
    pub updates: Vec<u64>,
    pub resolved: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditView {
    pub plan_seq: u64,
    pub population: String,
    pub from_seq: u64,
    pub to_seq: u64,
    pub rate_permille: u32,
    pub seed_size: u64,
    /// The RFC 6962 root at `seed_size`, base64, once the log has reached it.
    pub seed_root: Option<String>,
    pub sample_seq: Option<u64>,
    /// Finding seqs filed against the sample.
    pub findings: Vec<u64>,
}

impl State {
    fn holdings_of<L: Default>(
        holdings: &super::money::AssetMap<L>,
        balance: impl Fn(&L) -> u64,
        state: &State,
    ) -> (u64, BTreeMap<String, u64>) {
        let mut cash = 0;
        let mut goods = BTreeMap::new();
        for (asset, h) in holdings.iter() {
            let n = balance(h);
            if asset == CASH {
                cash = n;
            } else if n > 0 {
                goods.insert(state.asset_name(asset).to_string(), n);
            }
        }
        (cash, goods)
    }

    fn fund_balance(&self, f: usize) -> FundBalance {
        let fund = &self.funds[f];
        let (cash_fen, goods) = Self::holdings_of(&fund.holdings, |h| h.balance, self);
        FundBalance {
            programme: fund.programme,
            restricted: fund.restricted,
            closed: fund.closed,
            cash_fen,
            goods,
        }
    }

    fn case_balance(&self, c: usize) -> CaseBalance {
        let case = &self.cases[c];
        let (cash_fen, goods) = Self::holdings_of(&case.holdings, |h| h.balance, self);
        CaseBalance { programme: case.programme, closed: case.closed, cash_fen, goods }
    }

    pub fn totals(&self) -> Totals {
        let c = self.totals[CASH as usize];
        let goods = self
            .totals
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, t)| {
                (
                    self.asset_name(i as u32).to_string(),
                    GoodsTotals {
                        received: t.received,
                        corrected: t.corrected,
                        disbursed: t.disbursed,
                        returned: t.returned,
                        held_in_funds: t.held_in_funds,
                        held_in_cases: t.held_in_cases,
                    },
                )
            })
            .collect();
        Totals {
            opening_fen: c.opening,
            received_fen: c.received,
            refunded_fen: c.refunded,
            corrected_fen: c.corrected,
            allocated_fen: c.allocated,
            revoked_fen: c.revoked,
            disbursed_fen: c.disbursed,
            returned_fen: c.returned,
            held_in_funds_fen: c.held_in_funds,
            held_in_cases_fen: c.held_in_cases,
            goods,
        }
    }

    /// Every fund and case with its balance, at the state's current size.
    pub fn balances(&self) -> Balances {
        let id = |seq: u64| self.name(seq).to_string();
        Balances {
            size: self.size,
            root: self.root().to_base64(),
            totals: self.totals(),
            funds: (0..self.funds.len()).map(|f| (id(self.funds[f].seq), self.fund_balance(f))).collect(),
            cases: (0..self.cases.len()).map(|c| (id(self.cases[c].seq), self.case_balance(c))).collect(),
        }
    }

    pub(super) fn object(&self, id: &str, kind: Kind) -> Option<(u64, usize)> {
        let seq = self.entries.seq_of(id)?;
        (self.entries.kind(seq)? == kind).then_some((seq, self.entries.obj(seq)? as usize))
    }

    /// The id of an entry an object of this state names.
    pub(super) fn name(&self, seq: u64) -> &str {
        self.entries.id(seq).expect("objects name entries of this log")
    }

    /// The trace of a donation: where every part of it is now (SPEC.md §6).
    pub fn trace(&self, donation_id: &str) -> Option<Vec<Portion>> {
        let (_, d) = self.object(donation_id, Kind::DonationReceived)?;
        Some(self.trace_of(d as u32))
    }

    pub fn fund(&self, id: &str) -> Option<FundBalance> {
        let (_, f) = self.object(id, Kind::FundOpened)?;
        Some(self.fund_balance(f))
    }

    pub fn case(&self, id: &str) -> Option<CaseView> {
        let (seq, c) = self.object(id, Kind::CaseOpened)?;
        let case = &self.cases[c];
        let name = |seq: u64| self.name(seq).to_string();
        let allocations = case
            .allocations
            .iter()
            .map(|&a| {
                let a = &self.allocations[a as usize];
                CaseMovement {
                    id: name(a.seq),
                    seq: a.seq,
                    fund: Some(name(self.funds[a.fund as usize].seq)),
                    asset: self.asset_name(a.asset).to_string(),
                    amount: a.amount,
                    reversed: a.revoked,
                }
            })
            .collect();
        let disbursements = case
            .disbursements
            .iter()
            .map(|&x| {
                let x = &self.disbursements[x as usize];
                CaseMovement {
                    id: name(x.seq),
                    seq: x.seq,
                    fund: None,
                    asset: self.asset_name(x.asset).to_string(),
                    amount: x.amount,
                    reversed: x.returned,
                }
            })
            .collect();
        let earmarked = case.earmarked.iter().map(|&d| name(self.donations[d as usize].seq)).collect();
        Some(CaseView { seq, balance: self.case_balance(c), allocations, disbursements, earmarked })
    }

    pub fn complaint(&self, id: &str) -> Option<ComplaintView> {
        let (_, c) = self.object(id, Kind::ComplaintFiled)?;
        let c = &self.complaints[c];
        Some(ComplaintView { seq: c.seq, updates: c.updates.clone(), resolved: c.resolved })
    }

    pub fn audit(&self, plan_id: &str) -> Option<AuditView> {
        let (_, p) = self.object(plan_id, Kind::AuditPlanned)?;
        let p = &self.plans[p];
        Some(AuditView {
            plan_seq: p.seq,
            population: p.population.as_str().to_string(),
            from_seq: p.from_seq,
            to_seq: p.to_seq,
            rate_permille: p.rate_permille,
            seed_size: p.seed_size,
            seed_root: p.root.map(|r| r.to_base64()),
            sample_seq: p.sample,
            findings: p.findings.clone(),
        })
    }

    /// Ids of plans that were never sampled (the verifier reports them).
    pub fn unsampled_plans(&self) -> Vec<String> {
        self.plans.iter().filter(|p| p.sample.is_none()).map(|p| self.name(p.seq).to_string()).collect()
    }

    /// The ids a sampled plan selected, recomputed (the entry carries only their count and hash).
    pub fn sample_selection(&self, plan_id: &str, nonce: &[u8; 32]) -> Option<Vec<String>> {
        let (_, p) = self.object(plan_id, Kind::AuditPlanned)?;
        self.select_sample(&self.plans[p], nonce).ok()
    }

    /// Counts of entries by kind, for reports.
    pub fn count_by_kind(&self) -> BTreeMap<&'static str, u64> {
        let mut out = BTreeMap::new();
        for (_, kind, _) in self.entries.iter() {
            *out.entry(kind.as_str()).or_default() += 1;
        }
        out
    }

    /// Open and resolved complaints.
    pub fn complaint_counts(&self) -> (u64, u64) {
        let resolved = self.complaints.iter().filter(|c| c.resolved.is_some()).count() as u64;
        (self.complaints.len() as u64 - resolved, resolved)
    }
}

/// Light look-ups for the verifier's report: which fund or case an object belongs to, so that
/// flows can be attributed to funds and programmes without copying the state's tables.
impl State {
    /// Where a donation was received: `(Kind::FundOpened, fund id)`, or `(Kind::CaseOpened,
    /// case id)` for a gift earmarked to a case.
    pub fn donation_origin(&self, donation_id: &str) -> Option<(Kind, String)> {
        let (_, d) = self.object(donation_id, Kind::DonationReceived)?;
        let gift = self.donations.get(d)?;
        let id = |seq: u64| self.entries.id(seq).map(str::to_string);
        if gift.case != super::money::NONE {
            let case = self.cases.get(gift.case as usize)?;
            return Some((Kind::CaseOpened, id(case.seq)?));
        }
        // A gift to a fund creates its first fund lot in that fund, at receipt.
        let lot = self.lots.get(*gift.fund_lots.first()? as usize)?;
        let fund = self.funds.get(lot.holder as usize)?;
        Some((Kind::FundOpened, id(fund.seq)?))
    }

    /// The fund and the case of an allocation.
    pub fn allocation_parties(&self, allocation_id: &str) -> Option<(String, String)> {
        let (_, a) = self.object(allocation_id, Kind::AllocationMade)?;
        let a = self.allocations.get(a)?;
        let id = |seq: u64| self.entries.id(seq).map(str::to_string);
        Some((id(self.funds.get(a.fund as usize)?.seq)?, id(self.cases.get(a.case as usize)?.seq)?))
    }

    /// The case a disbursement paid from.
    pub fn disbursement_case(&self, disbursement_id: &str) -> Option<String> {
        let (_, x) = self.object(disbursement_id, Kind::DisbursementMade)?;
        let case = self.cases.get(self.disbursements.get(x)?.case as usize)?;
        self.entries.id(case.seq).map(str::to_string)
    }

    /// A case's programme, without building its whole view.
    pub fn case_programme(&self, case_id: &str) -> Option<Programme> {
        let (_, c) = self.object(case_id, Kind::CaseOpened)?;
        self.cases.get(c).map(|c| c.programme)
    }

    /// A fund's programme and whether it is restricted, without building its balance.
    pub fn fund_programme(&self, fund_id: &str) -> Option<(Programme, bool)> {
        let (_, f) = self.object(fund_id, Kind::FundOpened)?;
        self.funds.get(f).map(|f| (f.programme, f.restricted))
    }
}
