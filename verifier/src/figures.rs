//! Flows per fund and per programme, gathered entry by entry as the log is applied: the
//! state keeps balances, the report also wants how much came in and went out where. Only
//! accepted entries are counted, and only cash (goods are counted by item in the totals).
//!
//! Attribution: a gift counts for the fund it was given to, or for the programme of the case
//! it was earmarked to; its refunds and corrections count where it was received. Allocations,
//! revocations, disbursements and returns count for the programme of the case.

use ledger_core::event::{Event, Quantity};
use ledger_core::rules::{Balances, State};
use ledger_core::types::{Kind, Programme};
use serde::Serialize;
use std::collections::BTreeMap;

/// One fund: what it is, and its cash flows in fen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FundFlows {
    pub name: String,
    pub programme: String,
    pub restricted: bool,
    pub sponsor: Option<String>,
    pub closed: bool,
    pub opening_fen: u64,
    pub donations: u64,
    pub received_fen: u64,
    pub refunded_fen: u64,
    pub corrected_fen: u64,
    pub redirected_in_fen: u64,
    pub allocated_fen: u64,
    pub revoked_fen: u64,
    pub balance_fen: u64,
    pub goods: BTreeMap<String, u64>,
}

/// One programme: its cash flows in fen and what it holds now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProgrammeFlows {
    pub funds: u64,
    pub cases: u64,
    pub opening_fen: u64,
    pub donations: u64,
    pub received_fen: u64,
    pub refunded_fen: u64,
    pub corrected_fen: u64,
    pub allocated_fen: u64,
    pub revoked_fen: u64,
    pub disbursements: u64,
    pub disbursed_fen: u64,
    pub returned_fen: u64,
    pub held_in_funds_fen: u64,
    pub held_in_cases_fen: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Flows {
    funds: BTreeMap<String, FundFlows>,
    programmes: BTreeMap<Programme, ProgrammeFlows>,
}

fn cash(event: &Event) -> Option<u64> {
    match event.quantity()? {
        Quantity::Cash(n) => Some(n),
        Quantity::Goods { .. } => None,
    }
}

fn add(to: &mut u64, n: u64) {
    *to = to.saturating_add(n);
}

impl Flows {
    fn programme(&mut self, p: Programme) -> &mut ProgrammeFlows {
        self.programmes.entry(p).or_default()
    }

    /// The programme a gift, refund or correction counts for, and the fund if it was given
    /// to one.
    fn origin(&self, state: &State, donation: &str) -> Option<(Programme, Option<String>)> {
        match state.donation_origin(donation)? {
            (Kind::FundOpened, fund) => Some((state.fund_programme(&fund)?.0, Some(fund))),
            (_, case) => Some((state.case_programme(&case)?, None)),
        }
    }

    /// Counts an entry that `state` has just accepted (so every reference resolves).
    pub fn observe(&mut self, state: &State, event: &Event) {
        let amount = cash(event);
        match event {
            Event::FundOpened(b) => {
                let opening = b.opening_balance_fen.get();
                self.funds.insert(
                    b.id.as_str().to_string(),
                    FundFlows {
                        name: b.name.as_str().to_string(),
                        programme: b.programme.as_str().to_string(),
                        restricted: b.restricted,
                        sponsor: b.sponsor.as_ref().map(|s| s.as_str().to_string()),
                        opening_fen: opening,
                        ..FundFlows::default()
                    },
                );
                let p = self.programme(b.programme);
                p.funds += 1;
                add(&mut p.opening_fen, opening);
            }
            Event::CaseOpened(b) => self.programme(b.programme).cases += 1,
            Event::DonationReceived(b) => {
                let programme = match (&b.fund, &b.case) {
                    (Some(fund), _) => {
                        if let Some(f) = self.funds.get_mut(fund.as_str()) {
                            f.donations += 1;
                            add(&mut f.received_fen, amount.unwrap_or(0));
                        }
                        state.fund_programme(fund.as_str()).map(|p| p.0)
                    }
                    (None, Some(case)) => state.case_programme(case.as_str()),
                    (None, None) => None,
                };
                if let Some(p) = programme {
                    let p = self.programme(p);
                    p.donations += 1;
                    add(&mut p.received_fen, amount.unwrap_or(0));
                }
            }
            Event::DonationRefunded(b) => self.outflow(state, b.donation.as_str(), amount, false),
            Event::DonationCorrected(b) => self.outflow(state, b.donation.as_str(), amount, true),
            Event::EarmarkRedirected(b) => {
                if let (Some(n), Some(f)) = (amount, self.funds.get_mut(b.fund.as_str())) {
                    add(&mut f.redirected_in_fen, n);
                }
            }
            Event::AllocationMade(b) => {
                let Some(n) = amount else { return };
                if let Some(f) = self.funds.get_mut(b.fund.as_str()) {
                    add(&mut f.allocated_fen, n);
                }
                if let Some(p) = state.case_programme(b.case.as_str()) {
                    add(&mut self.programme(p).allocated_fen, n);
                }
            }
            Event::AllocationRevoked(b) => {
                let Some(n) = amount else { return };
                let Some((fund, case)) = state.allocation_parties(b.allocation.as_str()) else { return };
                if let Some(f) = self.funds.get_mut(&fund) {
                    add(&mut f.revoked_fen, n);
                }
                if let Some(p) = state.case_programme(&case) {
                    add(&mut self.programme(p).revoked_fen, n);
                }
            }
            Event::DisbursementMade(b) => {
                if let Some(p) = state.case_programme(b.case.as_str()) {
                    let p = self.programme(p);
                    p.disbursements += 1;
                    add(&mut p.disbursed_fen, amount.unwrap_or(0));
                }
            }
            Event::DisbursementReturned(b) => {
                let Some(n) = amount else { return };
                let case = state.disbursement_case(b.disbursement.as_str());
                if let Some(p) = case.and_then(|c| state.case_programme(&c)) {
                    add(&mut self.programme(p).returned_fen, n);
                }
            }
            _ => {}
        }
    }

    fn outflow(&mut self, state: &State, donation: &str, amount: Option<u64>, corrected: bool) {
        let Some(n) = amount else { return };
        let Some((programme, fund)) = self.origin(state, donation) else { return };
        if let Some(f) = fund.and_then(|f| self.funds.get_mut(&f)) {
            add(if corrected { &mut f.corrected_fen } else { &mut f.refunded_fen }, n);
        }
        let p = self.programme(programme);
        add(if corrected { &mut p.corrected_fen } else { &mut p.refunded_fen }, n);
    }

    /// The flows with the balances they end in.
    pub fn finish(
        mut self,
        balances: &Balances,
    ) -> (BTreeMap<String, ProgrammeFlows>, BTreeMap<String, FundFlows>) {
        for (id, b) in &balances.funds {
            if let Some(f) = self.funds.get_mut(id) {
                f.closed = b.closed;
                f.balance_fen = b.cash_fen;
                f.goods = b.goods.clone();
            }
            add(&mut self.programme(b.programme).held_in_funds_fen, b.cash_fen);
        }
        for b in balances.cases.values() {
            add(&mut self.programme(b.programme).held_in_cases_fen, b.cash_fen);
        }
        let programmes = self.programmes.into_iter().map(|(p, f)| (p.as_str().to_string(), f)).collect();
        (programmes, self.funds)
    }
}
