//! Where a gift went, portion by portion (SPEC.md §6), written for the donor.

use crate::format::{thousands, yuan};
use ledger_core::rules::{Portion, PortionAmount, PortionPlace};
use std::fmt::Write as _;

fn amount_text(amount: &PortionAmount) -> String {
    match amount {
        PortionAmount::Cash { amount_fen } => yuan(*amount_fen),
        PortionAmount::Goods { item, quantity, unit_value_fen } => format!(
            "{} × {item} (worth {})",
            thousands(*quantity),
            yuan(quantity.saturating_mul(*unit_value_fen))
        ),
    }
}

fn place_text(place: &PortionPlace) -> String {
    match place {
        PortionPlace::InFund { fund } => format!("waiting in fund {fund}  在基金中"),
        PortionPlace::InCase { case, allocation: Some(a) } => {
            format!("allocated to case {case} by {a}, not yet paid out  已拨付至个案")
        }
        PortionPlace::InCase { case, allocation: None } => {
            format!("given straight to case {case}, not yet paid out  定向至个案")
        }
        PortionPlace::Disbursed { case, allocation, disbursement } => format!(
            "paid out by {disbursement} for case {case}{}  已支付",
            allocation.as_ref().map(|a| format!(" (allocation {a})")).unwrap_or_default()
        ),
        PortionPlace::Refunded { refund } => format!("refunded to the donor by {refund}  已退款"),
        PortionPlace::Corrected { correction } => {
            format!("removed by correction {correction} (never received)  更正")
        }
    }
}

/// The trace as lines for people.
pub fn human(donation: &str, portions: &[Portion]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "where donation {donation} went (捐赠去向):");
    for p in portions {
        let _ = writeln!(out, "  {:>24}  {}", amount_text(&p.amount), place_text(&p.place));
    }
    if portions.is_empty() {
        let _ = writeln!(out, "  (nothing: the donation has no portions)");
    }
    out
}

/// The trace in the JSON shape of `/v1/donations/{id}`.
pub fn json(portions: &[Portion]) -> serde_json::Value {
    serde_json::Value::Array(portions.iter().map(Portion::to_json).collect())
}
