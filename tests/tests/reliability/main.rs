//! Reliability of the real binaries (issue 8): the node killed with SIGKILL at random moments
//! under concurrent appends, the node on a full disk, and (once `ledger-verify` is there) a
//! systematically tampered log. One test binary, one module per concern.

mod agree;
mod crash;
mod disk;
mod soak;
mod support;
mod tamper;
