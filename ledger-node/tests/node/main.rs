//! Integration tests of ledger-node, as one test binary: the API through `app()` with
//! `oneshot`, hostile input, the authorization matrix, and the real binary on a real socket.

mod api;
mod authz;
mod hostile;
mod observability;
mod snapshot;
mod socket;
mod support;
mod tiles;
