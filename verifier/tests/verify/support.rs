//! Running the real binary and reading what it says.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr)
        })
    }
}

pub fn verify<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let out =
        Command::new(env!("CARGO_BIN_EXE_ledger-verify")).args(args).output().expect("run ledger-verify");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

/// Runs `log FILE --log-key KEY --json` plus `extra`, on `lines`.
pub fn verify_lines(lines: &[Vec<u8>], vkey: &str, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = write(dir.path(), "log.jsonl", crate::builder::export_of(lines));
    let mut args: Vec<String> =
        vec!["log".into(), log.display().to_string(), "--log-key".into(), vkey.into(), "--json".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    verify(&args)
}

/// Asserts a run found the ledger broken at `seq` by `rule`, and returns its report.
pub fn assert_violation(run: &Run, seq: u64, rule: &str) -> Value {
    assert_eq!(run.code, 1, "exit code; stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let report = run.json();
    let v = &report["violation"];
    assert_eq!(v["rule"], rule, "rule; violation: {v:#}");
    assert_eq!(v["seq"], seq, "seq; violation: {v:#}");
    assert_eq!(report["ok"], false);
    report
}
