//! The tool could not run: exit 2, for bad arguments (clap's own errors too) and unreadable input.

use crate::builder::small_log;
use crate::support::{verify, write};

#[test]
fn bad_arguments_and_unreadable_input_exit_2() {
    let b = small_log();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = write(dir.path(), "log.jsonl", b.export());
    let log = log.to_str().expect("p");
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["nonsense"],
        vec!["log"],
        vec!["log", log, "--no-such-flag"],
        vec!["log", "/no/such/file.jsonl"],
        vec!["log", dir.path().to_str().expect("p")],
        vec!["log", log, "--log-key", "not-a-key"],
        vec!["log", log, "--checkpoint", "/no/such/note"],
        vec!["log", log, "--balances", "/no/such/balances.json"],
        vec!["log", log, "--quorum", "1"],
        vec!["log", log, "--witness", "bad"],
        vec!["receipt", "/no/such/receipt.json"],
        vec!["trace", log],
        vec!["consistency", "a", "b"],
        vec!["url", "ftp://example.invalid"],
        vec!["url", "http://127.0.0.1:9"],
        vec!["tiles"],
        vec!["tiles", "/no/such/dir"],
        vec!["tiles", log],
        vec!["tiles", "http://127.0.0.1:9"],
        // A directory without a checkpoint is no published log.
        vec!["tiles", dir.path().to_str().expect("p")],
    ];
    for args in cases {
        let run = verify(&args);
        assert_eq!(run.code, 2, "{args:?}: stdout {} stderr {}", run.stdout, run.stderr);
    }
    let bad_json = write(dir.path(), "bad.json", "{not json");
    let run = verify(&["log", log, "--balances", bad_json.to_str().expect("p"), "--json"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.json()["ok"], false, "--json still answers in JSON");
    assert_eq!(verify(&["--help"]).code, 0);
    assert_eq!(verify(&["--version"]).code, 0);
}
