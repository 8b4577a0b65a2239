//! `ledger-core`: the charity ledger's functional core. It parses, checks and applies events;
//! it never reads a file, a socket or a clock. The node and the verifier both call it, so they
//! can never disagree on what is valid.
//!
//! The way of an event through this crate: `dsse::Envelope::verify` (syntax, body, signatures)
//! → `entry::VerifiedEntry` (seq, prev, time, exact bytes) → `rules::State::apply` (authority,
//! rules, lots) → `merkle` (the tree) → `checkpoint` (the signed note).
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod commitment;
pub mod disclosure;
pub mod dsse;
pub mod encoding;
pub mod entry;
pub mod event;
pub mod hash;
pub mod limits;
pub mod merkle;
pub mod refusal;
pub mod rules;
pub mod sample;
pub mod scenario;
pub mod text;
pub mod tiles;
pub mod time;
pub mod types;
pub mod witness;
