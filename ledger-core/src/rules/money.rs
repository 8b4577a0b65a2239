//! Lots and attribution (SPEC.md §6): which gift paid for what. Cash and each goods item are
//! separate assets; every movement takes from lots in the order the format fixes, so the
//! verifier recomputes exactly the attribution the node published.

use super::State;
use crate::event::{Event, Quantity};
use crate::refusal::{refuse, Refusal, Rule};
use crate::types::{Kind, Programme};
use smallvec::SmallVec;
use std::collections::BTreeMap;

/// Lots of one gift or one allocation: most have one or two, kept inline.
pub(super) type LotList = SmallVec<[u32; 4]>;

/// "No object" in a u32 index field.
pub(super) const NONE: u32 = u32::MAX;
/// Asset index of cash.
pub(super) const CASH: u32 = 0;

/// A lot: what is left of one gift (or an opening balance) in one fund, or in one case under
/// one allocation.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Lot {
    pub holder: u32,
    pub in_case: bool,
    pub asset: u32,
    /// The donation it came from; `NONE` for a fund's opening balance.
    pub donation: u32,
    /// The allocation that put it in its case; `NONE` for fund lots and earmarked gifts.
    pub allocation: u32,
    /// For a case lot from an allocation, the fund lot it came from.
    pub source: u32,
    /// Fund lot: the seq that created it. Case lot: the first half of its order key.
    pub position: u64,
    /// Fund lot: its index in the fund's position order.
    pub slot: u32,
    pub remaining: u64,
}

/// What a fund or a case holds, by asset, in asset order. Nearly every holder has cash only, so
/// the list stays inline; a B-tree allocated a node of eleven slots per holder.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct AssetMap<V>(SmallVec<[(u32, V); 1]>);

impl<V: Default> AssetMap<V> {
    pub fn get(&self, asset: u32) -> Option<&V> {
        let i = self.0.binary_search_by_key(&asset, |e| e.0).ok()?;
        Some(&self.0[i].1)
    }
    pub fn get_mut(&mut self, asset: u32) -> Option<&mut V> {
        let i = self.0.binary_search_by_key(&asset, |e| e.0).ok()?;
        Some(&mut self.0[i].1)
    }
    pub fn entry_or_default(&mut self, asset: u32) -> &mut V {
        let i = match self.0.binary_search_by_key(&asset, |e| e.0) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (asset, V::default()));
                i
            }
        };
        &mut self.0[i].1
    }
    pub fn iter(&self) -> impl Iterator<Item = (u32, &V)> + '_ {
        self.0.iter().map(|(a, v)| (*a, v))
    }
    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.0.iter().map(|e| &e.1)
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct FundLots {
    pub order: Vec<u32>,
    /// Every lot before this slot is empty: FIFO starts here.
    pub cursor: usize,
    pub balance: u64,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct CaseLots {
    pub order: BTreeMap<(u64, u64), u32>,
    pub balance: u64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Donation {
    pub seq: u64,
    pub asset: u32,
    pub unit_value: u64,
    /// The case of an earmarked gift, and its lot there.
    pub case: u32,
    pub earmark_lot: u32,
    pub fund_lots: LotList,
    pub case_lots: LotList,
    /// (disbursement, portion index) of every payment that took from this gift.
    pub disbursed: SmallVec<[(u32, u32); 2]>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Allocation {
    pub seq: u64,
    pub fund: u32,
    pub case: u32,
    pub asset: u32,
    pub lots: LotList,
    pub amount: u64,
    pub revoked: u64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct DisbursedPortion {
    pub lot: u32,
    pub paid: u64,
    pub returned: u64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Disbursement {
    pub seq: u64,
    pub case: u32,
    pub asset: u32,
    /// Most payments take from one lot.
    pub portions: SmallVec<[DisbursedPortion; 1]>,
    pub amount: u64,
    pub returned: u64,
}

/// Running totals of one asset: fen for cash, quantities for a goods item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AssetTotals {
    pub opening: u64,
    pub received: u64,
    pub refunded: u64,
    pub corrected: u64,
    pub allocated: u64,
    pub revoked: u64,
    pub disbursed: u64,
    pub returned: u64,
    pub held_in_funds: u64,
    pub held_in_cases: u64,
}

/// A planned movement of one asset: the lots (or, for returns, disbursement portions) it takes
/// from, and what it names.
#[derive(Debug, Clone)]
pub(super) struct Movement {
    pub asset: u32,
    /// A goods item seen for the first time: (item, unit).
    pub new_item: Option<(Box<str>, Box<str>)>,
    pub amount: u64,
    pub value_fen: u64,
    pub unit_value: u64,
    pub fund: u32,
    pub case: u32,
    pub donation: u32,
    /// The allocation or disbursement a revocation or return names.
    pub target: u32,
    pub takes: Vec<(u32, u64)>,
}

impl Movement {
    fn new(asset: u32, amount: u64) -> Movement {
        Movement {
            asset,
            new_item: None,
            amount,
            value_fen: amount,
            unit_value: 1,
            fund: NONE,
            case: NONE,
            donation: NONE,
            target: NONE,
            takes: Vec::new(),
        }
    }
}

/// Where a portion of a gift is now (SPEC.md §6, the trace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortionPlace {
    InFund { fund: String },
    InCase { case: String, allocation: Option<String> },
    Disbursed { case: String, allocation: Option<String>, disbursement: String },
    Refunded { refund: String },
    Corrected { correction: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortionAmount {
    Cash { amount_fen: u64 },
    Goods { item: String, quantity: u64, unit_value_fen: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portion {
    pub place: PortionPlace,
    pub amount: PortionAmount,
}

impl Portion {
    /// The JSON shape of INTERFACES.md (`/v1/donations/{id}`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{json, Value};
        let mut v = match &self.place {
            PortionPlace::InFund { fund } => json!({"state": "in_fund", "fund": fund}),
            PortionPlace::InCase { case, allocation } => {
                json!({"state": "in_case", "case": case, "allocation": allocation})
            }
            PortionPlace::Disbursed { case, allocation, disbursement } => {
                json!({"state": "disbursed", "case": case, "allocation": allocation, "disbursement": disbursement})
            }
            PortionPlace::Refunded { refund } => json!({"state": "refunded", "refund": refund}),
            PortionPlace::Corrected { correction } => json!({"state": "corrected", "correction": correction}),
        };
        if let Value::Object(map) = &mut v {
            match &self.amount {
                PortionAmount::Cash { amount_fen } => {
                    map.insert("amount_fen".into(), json!(amount_fen));
                }
                PortionAmount::Goods { item, quantity, unit_value_fen } => {
                    map.insert("item".into(), json!(item));
                    map.insert("quantity".into(), json!(quantity));
                    map.insert("unit_value_fen".into(), json!(unit_value_fen));
                }
            }
        }
        v
    }

    pub fn quantity(&self) -> u64 {
        match self.amount {
            PortionAmount::Cash { amount_fen } => amount_fen,
            PortionAmount::Goods { quantity, .. } => quantity,
        }
    }
}

impl AssetTotals {
    /// Openings and receipts: every balance, and refunds and corrections, are parts of it.
    pub(super) fn came_in(&self) -> u64 {
        self.opening.saturating_add(self.received)
    }
}

impl State {
    fn asset_of(&self, q: &Quantity<'_>) -> Option<u32> {
        match q {
            Quantity::Cash(_) => Some(CASH),
            Quantity::Goods { item, .. } => self.item_index.get(*item).copied(),
        }
    }

    pub(super) fn asset_name(&self, asset: u32) -> &str {
        match asset {
            CASH => "cash",
            i => self.items.get(i as usize - 1).map_or("?", |(name, _)| &**name),
        }
    }

    fn asset_matches(&self, q: &Quantity<'_>, asset: u32, what: &str) -> Result<(), Refusal> {
        if self.asset_of(q) == Some(asset) {
            Ok(())
        } else {
            refuse(
                Rule::WrongAsset,
                format!("{what} is in {}, the event moves {}", self.asset_name(asset), describe(q)),
            )
        }
    }

    /// For goods, the gift's `unit_value_fen`; 1 for cash (a fund's opening balance is cash),
    /// so value = quantity × unit. Every lot of a gift has its unit value, so lots do not copy it.
    fn unit_value(&self, lot: u32) -> u64 {
        match self.lots[lot as usize].donation {
            NONE => 1,
            d => self.donations[d as usize].unit_value,
        }
    }

    fn value_of(&self, takes: &[(u32, u64)]) -> Result<u64, Refusal> {
        takes.iter().try_fold(0u64, |acc, &(lot, n)| {
            n.checked_mul(self.unit_value(lot))
                .and_then(|v| acc.checked_add(v))
                .ok_or_else(|| Refusal::new(Rule::Overflow, "the value of the goods moved overflows"))
        })
    }

    /// FIFO over a fund's lots in position order.
    fn take_from_fund(&self, fund: u32, asset: u32, amount: u64) -> Option<Vec<(u32, u64)>> {
        let lots = self.funds[fund as usize].holdings.get(asset)?;
        if lots.balance < amount {
            return None;
        }
        take_in_order(&self.lots, lots.order[lots.cursor..].iter().copied(), amount)
    }

    /// A case's lots in their order.
    fn take_from_case(&self, case: u32, asset: u32, amount: u64) -> Option<Vec<(u32, u64)>> {
        let lots = self.cases[case as usize].holdings.get(asset)?;
        if lots.balance < amount {
            return None;
        }
        take_in_order(&self.lots, lots.order.values().copied(), amount)
    }

    /// A gift's unspent money: its earmarked lot first, then its fund lots in position order.
    fn take_unspent(&self, d: &Donation, amount: u64) -> Option<Vec<(u32, u64)>> {
        let earmark = (d.earmark_lot != NONE).then_some(d.earmark_lot);
        take_in_order(&self.lots, earmark.into_iter().chain(d.fund_lots.iter().copied()), amount)
    }

    pub(super) fn plan_money(&self, event: &Event) -> Result<Movement, Refusal> {
        let q = event.quantity().ok_or_else(|| Refusal::new(Rule::Field, "the event moves nothing"))?;
        let amount = q.amount();
        let insufficient = |what: String| Refusal::new(Rule::InsufficientFunds, what);
        let m = match event {
            Event::DonationReceived(b) => {
                let asset = match (&b.goods, self.asset_of(&q)) {
                    (Some(g), Some(asset)) => {
                        let unit = &self.items[asset as usize - 1].1;
                        if **unit != *g.unit.as_str() {
                            return refuse(
                                Rule::UnitMismatch,
                                format!(
                                    "item {} is counted in {unit:?}, not {:?}",
                                    g.item.as_str(),
                                    g.unit.as_str()
                                ),
                            );
                        }
                        asset
                    }
                    (Some(_), None) => self.items.len() as u32 + 1,
                    (None, _) => CASH,
                };
                // Every balance is part of what came in: if that fits, no balance overflows.
                self.check_total_room(asset, AssetTotals::came_in, amount)?;
                let mut m = Movement::new(asset, amount);
                if let Some(g) = &b.goods {
                    m.unit_value = g.unit_value_fen.get();
                    m.value_fen = amount.saturating_mul(m.unit_value);
                    if asset as usize > self.items.len() {
                        m.new_item = Some((g.item.as_str().into(), g.unit.as_str().into()));
                    }
                }
                if let Some(fund) = &b.fund {
                    m.fund = self.resolve(fund, Kind::FundOpened)?;
                    if self.funds[m.fund as usize].closed {
                        return refuse(Rule::NotOpen, format!("fund {fund} is closed"));
                    }
                } else if let Some(case) = &b.case {
                    m.case = self.resolve(case, Kind::CaseOpened)?;
                    if self.cases[m.case as usize].closed {
                        return refuse(Rule::NotOpen, format!("case {case} is closed"));
                    }
                }
                m
            }
            Event::DonationRefunded(crate::event::DonationRefunded { donation, .. })
            | Event::DonationCorrected(crate::event::DonationCorrected { donation, .. }) => {
                let d = self.resolve(donation, Kind::DonationReceived)?;
                let gift = &self.donations[d as usize];
                if matches!(event, Event::DonationRefunded(_)) && gift.asset != CASH {
                    return refuse(
                        Rule::WrongAsset,
                        format!("donation {donation} is goods; refunds are cash only"),
                    );
                }
                self.asset_matches(&q, gift.asset, &format!("donation {donation}"))?;
                let mut m = Movement::new(gift.asset, amount);
                m.donation = d;
                m.takes = self.take_unspent(gift, amount).ok_or_else(|| {
                    insufficient(format!("donation {donation} has less than {amount} unspent"))
                })?;
                m.value_fen = self.value_of(&m.takes)?;
                m
            }
            Event::EarmarkRedirected(b) => {
                let d = self.resolve(&b.donation, Kind::DonationReceived)?;
                let gift = &self.donations[d as usize];
                self.asset_matches(&q, gift.asset, &format!("donation {}", b.donation))?;
                if gift.earmark_lot == NONE {
                    return Err(insufficient(format!(
                        "donation {} was not earmarked for a case",
                        b.donation
                    )));
                }
                let f = self.resolve(&b.fund, Kind::FundOpened)?;
                let fund = &self.funds[f as usize];
                if fund.closed {
                    return refuse(Rule::NotOpen, format!("fund {} is closed", b.fund));
                }
                let case_programme = self.cases[gift.case as usize].programme;
                if fund.programme != case_programme && fund.programme != Programme::General {
                    return refuse(
                        Rule::RestrictedFund,
                        format!(
                            "an earmarked gift moves to a {case_programme} fund or a general fund, not to {}",
                            fund.programme
                        ),
                    );
                }
                if self.lots[gift.earmark_lot as usize].remaining < amount {
                    return Err(insufficient(format!(
                        "donation {} has less than {amount} unspent in its case",
                        b.donation
                    )));
                }
                let mut m = Movement::new(gift.asset, amount);
                m.donation = d;
                m.fund = f;
                m.case = gift.case;
                m.takes = vec![(gift.earmark_lot, amount)];
                m.value_fen = self.value_of(&m.takes)?;
                m
            }
            Event::AllocationMade(b) => {
                let f = self.resolve(&b.fund, Kind::FundOpened)?;
                let c = self.resolve(&b.case, Kind::CaseOpened)?;
                let (fund, case) = (&self.funds[f as usize], &self.cases[c as usize]);
                if case.closed {
                    return refuse(Rule::NotOpen, format!("case {} is closed", b.case));
                }
                if fund.restricted && fund.programme != case.programme {
                    return refuse(
                        Rule::RestrictedFund,
                        format!(
                            "restricted fund {} serves {} cases only, case {} is {}",
                            b.fund, fund.programme, b.case, case.programme
                        ),
                    );
                }
                let asset = self
                    .asset_of(&q)
                    .ok_or_else(|| insufficient(format!("fund {} holds no {}", b.fund, describe(&q))))?;
                let mut m = Movement::new(asset, amount);
                m.fund = f;
                m.case = c;
                m.takes = self.take_from_fund(f, asset, amount).ok_or_else(|| {
                    insufficient(format!("fund {} holds less than {}", b.fund, describe(&q)))
                })?;
                m.value_fen = self.value_of(&m.takes)?;
                m
            }
            Event::AllocationRevoked(b) => {
                let a = self.resolve(&b.allocation, Kind::AllocationMade)?;
                let alloc = &self.allocations[a as usize];
                self.asset_matches(&q, alloc.asset, &format!("allocation {}", b.allocation))?;
                let mut m = Movement::new(alloc.asset, amount);
                m.target = a;
                m.fund = alloc.fund;
                m.case = alloc.case;
                m.takes =
                    take_in_order(&self.lots, alloc.lots.iter().rev().copied(), amount).ok_or_else(|| {
                        Refusal::new(
                            Rule::OverRevoke,
                            format!("case holds less than {} from allocation {}", describe(&q), b.allocation),
                        )
                    })?;
                m.value_fen = self.value_of(&m.takes)?;
                m
            }
            Event::DisbursementMade(b) => {
                let c = self.resolve(&b.case, Kind::CaseOpened)?;
                let asset = self
                    .asset_of(&q)
                    .ok_or_else(|| insufficient(format!("case {} holds no {}", b.case, describe(&q))))?;
                let mut m = Movement::new(asset, amount);
                m.case = c;
                m.takes = self.take_from_case(c, asset, amount).ok_or_else(|| {
                    insufficient(format!("case {} holds less than {}", b.case, describe(&q)))
                })?;
                m.value_fen = self.value_of(&m.takes)?;
                m
            }
            Event::DisbursementReturned(b) => {
                let x = self.resolve(&b.disbursement, Kind::DisbursementMade)?;
                let paid = &self.disbursements[x as usize];
                self.asset_matches(&q, paid.asset, &format!("disbursement {}", b.disbursement))?;
                let mut m = Movement::new(paid.asset, amount);
                m.target = x;
                m.case = paid.case;
                let mut left = amount;
                for (i, p) in paid.portions.iter().enumerate().rev() {
                    let n = left.min(p.paid - p.returned);
                    if n > 0 {
                        m.takes.push((i as u32, n));
                        left -= n;
                    }
                    if left == 0 {
                        break;
                    }
                }
                if left > 0 {
                    return refuse(
                        Rule::OverReturn,
                        format!(
                            "disbursement {} has less than {} not yet returned",
                            b.disbursement,
                            describe(&q)
                        ),
                    );
                }
                let lots: Vec<(u32, u64)> =
                    m.takes.iter().map(|&(i, n)| (paid.portions[i as usize].lot, n)).collect();
                m.value_fen = self.value_of(&lots)?;
                m
            }
            _ => return refuse(Rule::Field, format!("{} moves no money", event.kind())),
        };
        // What came in bounds every balance; these running totals are bounded by nothing but
        // u64, since the same money may go back and forth.
        let counter: Option<fn(&AssetTotals) -> u64> = match event {
            Event::AllocationMade(_) => Some(|t| t.allocated),
            Event::AllocationRevoked(_) => Some(|t| t.revoked),
            Event::DisbursementMade(_) => Some(|t| t.disbursed),
            Event::DisbursementReturned(_) => Some(|t| t.returned),
            _ => None,
        };
        if let Some(total) = counter {
            self.check_total_room(m.asset, total, m.amount)?;
        }
        Ok(m)
    }

    pub(super) fn open_fund_balance(&mut self, fund: u32, seq: u64, amount: u64) {
        if amount == 0 {
            return;
        }
        let lot = self.new_fund_lot(fund, CASH, NONE, seq);
        self.lots[lot as usize].remaining = amount;
        self.funds[fund as usize].holdings.entry_or_default(CASH).balance += amount;
        let t = &mut self.totals[CASH as usize];
        t.opening += amount;
        t.held_in_funds += amount;
    }

    fn new_fund_lot(&mut self, fund: u32, asset: u32, donation: u32, position: u64) -> u32 {
        let lot = self.lots.len() as u32;
        let holdings = self.funds[fund as usize].holdings.entry_or_default(asset);
        let slot = holdings.order.len() as u32;
        holdings.order.push(lot);
        self.lots.push(Lot {
            holder: fund,
            in_case: false,
            asset,
            donation,
            allocation: NONE,
            source: NONE,
            position,
            slot,
            remaining: 0,
        });
        lot
    }

    fn new_case_lot(&mut self, case: u32, key: (u64, u64), template: Lot) -> u32 {
        let lot = self.lots.len() as u32;
        self.cases[case as usize].holdings.entry_or_default(template.asset).order.insert(key, lot);
        self.lots.push(Lot { holder: case, in_case: true, position: key.0, remaining: 0, ..template });
        if template.donation != NONE {
            self.donations[template.donation as usize].case_lots.push(lot);
        }
        lot
    }

    /// Takes `n` out of a lot, keeping its holder's balance and the totals in step.
    fn drain(&mut self, lot: u32, n: u64) {
        let l = &mut self.lots[lot as usize];
        l.remaining -= n;
        let (holder, asset, in_case) = (l.holder, l.asset, l.in_case);
        let t = &mut self.totals[asset as usize];
        if in_case {
            t.held_in_cases -= n;
            if let Some(h) = self.cases[holder as usize].holdings.get_mut(asset) {
                h.balance -= n;
            }
        } else {
            t.held_in_funds -= n;
            if let Some(h) = self.funds[holder as usize].holdings.get_mut(asset) {
                h.balance -= n;
                while h.cursor < h.order.len() && self.lots[h.order[h.cursor] as usize].remaining == 0 {
                    h.cursor += 1;
                }
            }
        }
    }

    /// Puts `n` into a lot (refilled in place if it was emptied).
    fn fill(&mut self, lot: u32, n: u64) {
        let l = &mut self.lots[lot as usize];
        l.remaining += n;
        let (holder, asset, in_case, slot) = (l.holder, l.asset, l.in_case, l.slot as usize);
        let t = &mut self.totals[asset as usize];
        if in_case {
            t.held_in_cases += n;
            self.cases[holder as usize].holdings.entry_or_default(asset).balance += n;
        } else {
            t.held_in_funds += n;
            let h = self.funds[holder as usize].holdings.entry_or_default(asset);
            h.balance += n;
            h.cursor = h.cursor.min(slot);
        }
    }

    /// Applies a planned movement; returns the index of the object the event created.
    pub(super) fn commit_money(&mut self, event: &Event, seq: u64, m: Movement) -> u32 {
        let asset = m.asset;
        if let Some((item, unit)) = m.new_item {
            self.item_index.insert(item.clone(), self.items.len() as u32 + 1);
            self.items.push((item, unit));
            self.totals.push(AssetTotals::default());
        }
        match event {
            Event::DonationReceived(_) => {
                let d = self.donations.len() as u32;
                self.donations.push(Donation {
                    seq,
                    asset,
                    unit_value: m.unit_value,
                    case: m.case,
                    earmark_lot: NONE,
                    fund_lots: LotList::new(),
                    case_lots: LotList::new(),
                    disbursed: SmallVec::new(),
                });
                self.totals[asset as usize].received += m.amount;
                let lot = if m.fund != NONE {
                    let lot = self.new_fund_lot(m.fund, asset, d, seq);
                    self.donations[d as usize].fund_lots.push(lot);
                    lot
                } else {
                    let template = lot_template(asset, d, NONE, NONE);
                    let lot = self.new_case_lot(m.case, (seq, seq), template);
                    self.donations[d as usize].earmark_lot = lot;
                    self.cases[m.case as usize].earmarked.push(d);
                    lot
                };
                self.fill(lot, m.amount);
                d
            }
            Event::DonationRefunded(_) | Event::DonationCorrected(_) => {
                for &(lot, n) in &m.takes {
                    self.drain(lot, n);
                }
                let corrected = matches!(event, Event::DonationCorrected(_));
                let t = &mut self.totals[asset as usize];
                if corrected {
                    t.corrected += m.amount;
                } else {
                    t.refunded += m.amount;
                }
                self.outflows.entry(m.donation).or_default().push((seq, m.amount, corrected));
                NONE
            }
            Event::EarmarkRedirected(_) => {
                let gift = &self.donations[m.donation as usize];
                let existing =
                    gift.fund_lots.iter().copied().find(|&l| self.lots[l as usize].holder == m.fund);
                let target = match existing {
                    Some(lot) => lot,
                    None => {
                        let lot = self.new_fund_lot(m.fund, asset, m.donation, seq);
                        self.donations[m.donation as usize].fund_lots.push(lot);
                        lot
                    }
                };
                for &(lot, n) in &m.takes {
                    self.drain(lot, n);
                }
                self.fill(target, m.amount);
                NONE
            }
            Event::AllocationMade(_) => {
                let a = self.allocations.len() as u32;
                let mut lots = LotList::with_capacity(m.takes.len());
                for &(source, n) in &m.takes {
                    self.drain(source, n);
                    let s = self.lots[source as usize].clone();
                    let mut template = lot_template(asset, s.donation, a, source);
                    template.slot = NONE;
                    let lot = self.new_case_lot(m.case, (s.position, seq), template);
                    self.fill(lot, n);
                    lots.push(lot);
                }
                self.allocations.push(Allocation {
                    seq,
                    fund: m.fund,
                    case: m.case,
                    asset,
                    lots,
                    amount: m.amount,
                    revoked: 0,
                });
                self.cases[m.case as usize].allocations.push(a);
                self.totals[asset as usize].allocated += m.amount;
                a
            }
            Event::AllocationRevoked(_) => {
                for &(lot, n) in &m.takes {
                    self.drain(lot, n);
                    let source = self.lots[lot as usize].source;
                    self.fill(source, n);
                }
                self.allocations[m.target as usize].revoked += m.amount;
                self.totals[asset as usize].revoked += m.amount;
                NONE
            }
            Event::DisbursementMade(_) => {
                let x = self.disbursements.len() as u32;
                let mut portions = SmallVec::with_capacity(m.takes.len());
                for (i, &(lot, n)) in m.takes.iter().enumerate() {
                    self.drain(lot, n);
                    let donation = self.lots[lot as usize].donation;
                    if donation != NONE {
                        self.donations[donation as usize].disbursed.push((x, i as u32));
                    }
                    portions.push(DisbursedPortion { lot, paid: n, returned: 0 });
                }
                self.disbursements.push(Disbursement {
                    seq,
                    case: m.case,
                    asset,
                    portions,
                    amount: m.amount,
                    returned: 0,
                });
                self.cases[m.case as usize].disbursements.push(x);
                self.totals[asset as usize].disbursed += m.amount;
                x
            }
            Event::DisbursementReturned(_) => {
                for &(i, n) in &m.takes {
                    let portion = &mut self.disbursements[m.target as usize].portions[i as usize];
                    portion.returned += n;
                    let lot = portion.lot;
                    self.fill(lot, n);
                }
                self.disbursements[m.target as usize].returned += m.amount;
                self.totals[asset as usize].returned += m.amount;
                NONE
            }
            _ => NONE,
        }
    }

    /// Conservation per asset (SPEC.md §6), after every entry: a failure is a bug in this
    /// code, never a property of the input, and must stop the writer.
    pub(super) fn check_conservation(&self) -> Result<(), Refusal> {
        for (asset, t) in self.totals.iter().enumerate() {
            let came_in = i128::from(t.opening) + i128::from(t.received)
                - i128::from(t.refunded)
                - i128::from(t.corrected);
            let is_now = i128::from(t.held_in_funds) + i128::from(t.held_in_cases) + i128::from(t.disbursed)
                - i128::from(t.returned);
            if came_in != is_now {
                return refuse(
                    Rule::Conservation,
                    format!(
                        "{}: {came_in} came in but {is_now} is accounted for",
                        self.asset_name(asset as u32)
                    ),
                );
            }
        }
        Ok(())
    }

    /// Recomputes every balance from the lots and compares it with the running figures. Costs
    /// a pass over all lots: for tests and for the verifier's final check.
    pub fn check_lots(&self) -> Result<(), String> {
        let mut funds: Vec<BTreeMap<u32, u64>> = vec![BTreeMap::new(); self.funds.len()];
        let mut cases: Vec<BTreeMap<u32, u64>> = vec![BTreeMap::new(); self.cases.len()];
        let mut held = vec![(0u64, 0u64); self.totals.len()];
        for l in &self.lots {
            let (map, slot) = if l.in_case {
                (&mut cases[l.holder as usize], &mut held[l.asset as usize].1)
            } else {
                (&mut funds[l.holder as usize], &mut held[l.asset as usize].0)
            };
            *map.entry(l.asset).or_default() += l.remaining;
            *slot += l.remaining;
        }
        for (i, f) in self.funds.iter().enumerate() {
            for (asset, h) in f.holdings.iter() {
                if funds[i].get(&asset).copied().unwrap_or(0) != h.balance {
                    return Err(format!(
                        "fund {} balance of asset {asset} differs from its lots",
                        self.name(f.seq)
                    ));
                }
                if h.order[..h.cursor].iter().any(|&l| self.lots[l as usize].remaining > 0) {
                    return Err("a fund's FIFO cursor skips a non-empty lot".into());
                }
            }
        }
        for (i, c) in self.cases.iter().enumerate() {
            for (asset, h) in c.holdings.iter() {
                if cases[i].get(&asset).copied().unwrap_or(0) != h.balance {
                    return Err(format!("case {} balance differs from its lots", self.name(c.seq)));
                }
            }
        }
        for (asset, t) in self.totals.iter().enumerate() {
            if (t.held_in_funds, t.held_in_cases) != held[asset] {
                return Err(format!("held totals of {} differ from the lots", self.asset_name(asset as u32)));
            }
        }
        for (i, d) in self.donations.iter().enumerate() {
            let traced: u64 = self.trace_of(i as u32).iter().map(Portion::quantity).sum();
            let received = self.received_amount(i as u32);
            if traced != received {
                return Err(format!(
                    "trace of donation {} sums to {traced}, not {received}",
                    self.name(d.seq)
                ));
            }
        }
        self.check_conservation().map_err(|e| e.message)
    }

    fn received_amount(&self, donation: u32) -> u64 {
        let d = &self.donations[donation as usize];
        // What came in = what is anywhere now + what left. An earmarked gift's lot is one of
        // its case lots (`new_case_lot` records every case lot of a donation).
        let lots: u64 =
            d.fund_lots.iter().chain(d.case_lots.iter()).map(|&l| self.lots[l as usize].remaining).sum();
        let paid: u64 = d
            .disbursed
            .iter()
            .map(|&(x, p)| {
                let p = &self.disbursements[x as usize].portions[p as usize];
                p.paid - p.returned
            })
            .sum();
        let out: u64 = self.outflows_of(donation).iter().map(|o| o.1).sum();
        lots + paid + out
    }

    /// (seq, amount, is a correction) of every refund and correction of a donation.
    fn outflows_of(&self, donation: u32) -> &[(u64, u64, bool)] {
        self.outflows.get(&donation).map_or(&[], Vec::as_slice)
    }

    /// The trace of a donation (SPEC.md §6) by its object index.
    pub(super) fn trace_of(&self, d: u32) -> Vec<Portion> {
        let gift = &self.donations[d as usize];
        let id = |seq: u64| self.name(seq).to_string();
        let amount = |n: u64| match gift.asset {
            CASH => PortionAmount::Cash { amount_fen: n },
            a => PortionAmount::Goods {
                item: self.asset_name(a).to_string(),
                quantity: n,
                unit_value_fen: gift.unit_value,
            },
        };
        // (state rank, seq of the last reference, allocation seq, portion)
        let mut out: Vec<(u8, u64, u64, Portion)> = Vec::new();
        for &l in &gift.fund_lots {
            let lot = &self.lots[l as usize];
            if lot.remaining > 0 {
                let fund_seq = self.funds[lot.holder as usize].seq;
                out.push((
                    0,
                    fund_seq,
                    0,
                    Portion {
                        place: PortionPlace::InFund { fund: id(fund_seq) },
                        amount: amount(lot.remaining),
                    },
                ));
            }
        }
        let alloc = |lot: &Lot| -> (Option<String>, u64) {
            if lot.allocation == NONE {
                (None, gift.seq)
            } else {
                let s = self.allocations[lot.allocation as usize].seq;
                (Some(id(s)), s)
            }
        };
        for &l in &gift.case_lots {
            let lot = &self.lots[l as usize];
            if lot.remaining > 0 {
                let case = id(self.cases[lot.holder as usize].seq);
                let (allocation, aseq) = alloc(lot);
                out.push((
                    1,
                    aseq,
                    aseq,
                    Portion {
                        place: PortionPlace::InCase { case, allocation },
                        amount: amount(lot.remaining),
                    },
                ));
            }
        }
        for &(x, p) in &gift.disbursed {
            let paid = &self.disbursements[x as usize];
            let portion = &paid.portions[p as usize];
            let net = portion.paid - portion.returned;
            if net > 0 {
                let lot = &self.lots[portion.lot as usize];
                let (allocation, aseq) = alloc(lot);
                let place = PortionPlace::Disbursed {
                    case: id(self.cases[lot.holder as usize].seq),
                    allocation,
                    disbursement: id(paid.seq),
                };
                out.push((2, paid.seq, aseq, Portion { place, amount: amount(net) }));
            }
        }
        for &(seq, n, corrected) in self.outflows_of(d) {
            let place = if corrected {
                PortionPlace::Corrected { correction: id(seq) }
            } else {
                PortionPlace::Refunded { refund: id(seq) }
            };
            out.push((if corrected { 4 } else { 3 }, seq, 0, Portion { place, amount: amount(n) }));
        }
        out.sort_by_key(|(rank, s, a, _)| (*rank, *s, *a));
        out.into_iter().map(|(_, _, _, p)| p).collect()
    }
}

fn lot_template(asset: u32, donation: u32, allocation: u32, source: u32) -> Lot {
    Lot {
        holder: NONE,
        in_case: true,
        asset,
        donation,
        allocation,
        source,
        position: 0,
        slot: NONE,
        remaining: 0,
    }
}

/// Takes `amount` from lots in the given order; `None` if they hold less.
fn take_in_order(lots: &[Lot], order: impl Iterator<Item = u32>, amount: u64) -> Option<Vec<(u32, u64)>> {
    let mut left = amount;
    let mut takes = Vec::new();
    for lot in order {
        if left == 0 {
            break;
        }
        let n = left.min(lots[lot as usize].remaining);
        if n > 0 {
            takes.push((lot, n));
            left -= n;
        }
    }
    (left == 0).then_some(takes)
}

fn describe(q: &Quantity<'_>) -> String {
    match q {
        Quantity::Cash(n) => format!("{n} fen"),
        Quantity::Goods { item, quantity } => format!("{quantity} × {item}"),
    }
}
