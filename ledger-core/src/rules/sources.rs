//! The other direction of the trace: which gifts (and allocations) paid a disbursement, and
//! which gifts a case holds now. The hotline follows a complaint back to the donors with these.

use super::money::{CASH, NONE};
use super::State;
use crate::types::Kind;
use serde::Serialize;

/// One gift's part in a payment or a case balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The donation; `None` for a fund's opening balance.
    pub donation: Option<String>,
    /// The allocation that brought it to the case; `None` for an earmarked gift.
    pub allocation: Option<String>,
    /// `cash` or the goods item.
    pub asset: String,
    /// Paid (disbursement) or held now (case).
    pub amount: u64,
    /// Returned since (disbursement only).
    pub returned: u64,
}

impl State {
    fn source_names(&self, donation: u32, allocation: u32) -> (Option<String>, Option<String>) {
        let name = |seq: u64| self.name(seq).to_string();
        let d = (donation != NONE).then(|| name(self.donations[donation as usize].seq));
        let a = (allocation != NONE).then(|| name(self.allocations[allocation as usize].seq));
        (d, a)
    }

    /// The gifts that paid a disbursement, portion by portion.
    pub fn disbursement_sources(&self, id: &str) -> Option<Vec<Source>> {
        let (_, x) = self.object(id, Kind::DisbursementMade)?;
        let x = &self.disbursements[x];
        Some(
            x.portions
                .iter()
                .map(|p| {
                    let lot = &self.lots[p.lot as usize];
                    let (donation, allocation) = self.source_names(lot.donation, lot.allocation);
                    Source {
                        donation,
                        allocation,
                        asset: self.asset_name(x.asset).to_string(),
                        amount: p.paid,
                        returned: p.returned,
                    }
                })
                .collect(),
        )
    }

    /// The gifts a case holds now, lot by lot, in the order disbursements take them.
    pub fn case_sources(&self, id: &str) -> Option<Vec<Source>> {
        let (_, c) = self.object(id, Kind::CaseOpened)?;
        let case = &self.cases[c];
        let mut out = Vec::new();
        for (asset, lots) in case.holdings.iter() {
            for &l in lots.order.values() {
                let lot = &self.lots[l as usize];
                if lot.remaining > 0 {
                    let (donation, allocation) = self.source_names(lot.donation, lot.allocation);
                    let asset =
                        if asset == CASH { "cash".to_string() } else { self.asset_name(asset).to_string() };
                    out.push(Source { donation, allocation, asset, amount: lot.remaining, returned: 0 });
                }
            }
        }
        Some(out)
    }
}
