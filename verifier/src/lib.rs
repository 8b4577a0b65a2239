//! `ledger-verify`, the auditor's tool: recomputes a charity ledger from its entries alone
//! and says whether the accounts hold, without trusting the charity or its node.
//!
//! It runs the very same `ledger_core` code the node runs (`VerifiedEntry::parse_and_verify`,
//! `State::apply`), so the two cannot disagree about what is valid. What it adds is the outside
//! view: streaming with bounded memory and every core busy (`pipeline`), the checks only an
//! outsider can make — checkpoints, witnesses, forks, published balances, receipts
//! (`checkpoints`, `balances`, `receipt`, `consistency`) — and reports people can read (`report`,
//! `html`). It must never depend on `ledger-node`.
#![forbid(unsafe_code)]

pub mod analysis;
pub mod balances;
pub mod checkpoints;
pub mod cli;
pub mod consistency;
pub mod figures;
pub mod format;
pub mod html;
pub mod input;
pub mod limits;
pub mod pipeline;
pub mod receipt;
pub mod remote;
pub mod report;
pub mod tiles;
pub mod trace;
