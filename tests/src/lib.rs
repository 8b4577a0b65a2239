#![forbid(unsafe_code)]
//! Helpers shared by the end-to-end tests.
