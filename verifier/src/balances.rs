//! Comparing a published `/v1/balances` document with the figures recomputed from the log,
//! fund by fund and case by case, at the document's own size.

use crate::limits::DIFFERENCES_LISTED_MAX;
use ledger_core::rules::Balances;
use serde::Serialize;
use serde_json::Value;

/// A balances document as published by the node.
#[derive(Debug, Clone)]
pub struct BalancesInput {
    pub label: String,
    pub doc: Balances,
}

impl BalancesInput {
    /// Parses a document; fields the verifier does not know are ignored (INTERFACES.md: more
    /// fields may be added), fields it knows must have their types.
    pub fn parse(label: &str, bytes: &[u8]) -> anyhow::Result<BalancesInput> {
        let doc: Balances = serde_json::from_slice(bytes)
            .map_err(|e| anyhow::anyhow!("{label} is not a /v1/balances document: {e}"))?;
        Ok(BalancesInput { label: label.to_string(), doc })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BalancesStatus {
    Equal,
    Differs,
    NotReached,
}

impl BalancesStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BalancesStatus::Equal => "equal",
            BalancesStatus::Differs => "differs",
            BalancesStatus::NotReached => "not_reached",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// Dotted path of the field, e.g. `funds.f-1.cash_fen`.
    pub path: String,
    pub published: Value,
    pub recomputed: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BalancesCheck {
    pub label: String,
    pub size: u64,
    pub status: BalancesStatus,
    pub message: String,
    /// The first differences, at most `DIFFERENCES_LISTED_MAX`.
    pub differences: Vec<Difference>,
    pub differences_total: u64,
}

/// Every field where `published` and `recomputed` differ; a field missing on one side is
/// shown as null there.
pub fn compare(published: &Balances, recomputed: &Balances) -> (Vec<Difference>, u64) {
    let mut out = Vec::new();
    let mut total = 0u64;
    let a = serde_json::to_value(published).unwrap_or(Value::Null);
    let b = serde_json::to_value(recomputed).unwrap_or(Value::Null);
    diff("", &a, &b, &mut out, &mut total);
    (out, total)
}

fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<Difference>, total: &mut u64) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                diff(&p, x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null), out, total);
            }
        }
        _ if a == b => {}
        _ => {
            *total += 1;
            if out.len() < DIFFERENCES_LISTED_MAX {
                out.push(Difference { path: path.to_string(), published: a.clone(), recomputed: b.clone() });
            }
        }
    }
}
