//! Integration tests of `ledger-verify`: the real binary run on logs built with `ledger-core`,
//! one module per concern, one test binary.

mod builder;
mod support;

mod cli;
mod consistency;
mod figures;
mod forks;
mod receipt;
mod remote;
mod scenario;
mod tamper;
