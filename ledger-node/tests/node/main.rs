//! Integration tests of ledger-node, as one test binary: the API through `app()` with
//! `oneshot`, and the real binary on a real socket.

mod api;
mod snapshot;
mod socket;
mod support;
