//! The `ledger-verify` binary: thin glue over the `verifier` library (see `cli`).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    verifier::cli::main()
}
