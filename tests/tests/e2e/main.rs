//! End-to-end tests: the real binaries, a real browser. One test binary, one module per
//! subject (see tests/src/lib.rs for how the binaries and the browser are found).
#![forbid(unsafe_code)]

mod exports;
mod page;
