//! The log as static C2SP tlog-tiles, end to end with the real binaries: a ledger made by
//! `ledger-node init` and served by `ledger-node serve` on loopback; `ledger-verify tiles`
//! reads it from the node's own `/tile/...`; `ledger-node publish` writes a directory, twice
//! (the second run adds only what is new and never rewrites a full tile); `ledger-verify tiles`
//! verifies the directory; and one byte changed in an entry bundle or in a hash tile makes it
//! exit 1 naming the entry or the tile.
#![forbid(unsafe_code)]

// The reliability tests' ledger setup and HTTP client, shared rather than written twice.
#[allow(dead_code)]
#[path = "../reliability/support.rs"]
mod support;

use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use support::{first_envelopes, gift, Http, Ledger};
use tests::ledger_node_bin;
use tests::process::{ledger_verify_bin, NodeProcess};

/// Gifts in the first and the second batch: the first ends inside the second tile, the
/// second inside the third, so both publishes have full and partial tiles to write.
const FIRST_GIFTS: usize = 300;
const SECOND_GIFTS: usize = 250;

fn append(node: &NodeProcess, from: usize, count: usize) {
    let gifts: Vec<_> = (from..from + count).map(|i| gift(&format!("D-{i}"), 100 + i as u64, "")).collect();
    let (s, v) = Http::new().post_batch(&node.url, &gifts).expect("the node answers");
    assert_eq!(s, 201, "batch refused: {v}");
}

/// `ledger-verify tiles LOCATION --log-key VKEY --json`: exit code and report.
fn verify_tiles(location: &str, vkey: &str) -> (i32, Value) {
    let out = Command::new(ledger_verify_bin())
        .args(["tiles", location, "--log-key", vkey, "--json"])
        .output()
        .expect("running ledger-verify");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ledger-verify printed no JSON report ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

fn publish(data: &Path, out: &Path) -> String {
    let run = Command::new(ledger_node_bin())
        .args(["publish", "--data"])
        .arg(data)
        .arg("--out")
        .arg(out)
        .output()
        .expect("running ledger-node publish");
    assert!(run.status.success(), "publish failed: {}", String::from_utf8_lossy(&run.stderr));
    String::from_utf8_lossy(&run.stdout).into_owned()
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let path = e.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path.strip_prefix(dir).expect("under dir").display().to_string());
            }
        }
    }
    out
}

fn checkpoint_size(dir: &Path) -> u64 {
    let note = std::fs::read_to_string(dir.join("checkpoint")).expect("checkpoint file");
    note.lines().nth(1).and_then(|l| l.parse().ok()).expect("size line")
}

/// Changes one byte of `file`, runs `check`, and puts the byte back.
fn with_byte_changed(file: &Path, offset: usize, check: impl FnOnce()) {
    let original = std::fs::read(file).expect("reading the file to change");
    let mut changed = original.clone();
    changed[offset] = if changed[offset] == b'A' { b'B' } else { b'A' };
    std::fs::write(file, &changed).expect("writing the changed file");
    check();
    std::fs::write(file, &original).expect("restoring the file");
}

#[test]
fn published_tiles_verify_and_a_changed_byte_is_named() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let data = scratch.path().join("ledger");
    let ledger = Ledger::init(&data, scratch.path());
    let vkey = ledger.log_key.verifier_key();
    let out = scratch.path().join("www");

    // The node serves the tiles itself.
    let node = NodeProcess::serve(&data, &ledger.stderr_log).expect("node starts");
    for env in first_envelopes() {
        let (s, v) = Http::new().post_envelope(&node.url, &env).expect("the node answers");
        assert_eq!(s, 201, "{v}");
    }
    append(&node, 0, FIRST_GIFTS);
    let (code, report) = verify_tiles(&node.url, &vkey);
    assert_eq!(code, 0, "the node's tiles verify: {report:#}");
    let size = report["entries"].as_u64().expect("entries");
    assert_eq!(size as usize, 3 + FIRST_GIFTS);
    assert_eq!(report["checkpoints"][0]["status"], "ok");

    // publish reads the store: the node stops first (SIGKILL: every answered append is durable).
    node.sigkill();
    let said = publish(&data, &out);
    assert!(said.contains(&format!("published size {size} (was 0)")), "{said}");
    assert_eq!(checkpoint_size(&out), size);
    let (code, report) = verify_tiles(out.to_str().expect("utf-8 path"), &vkey);
    assert_eq!(code, 0, "the published directory verifies: {report:#}");
    assert_eq!(report["entries"].as_u64(), Some(size));

    // More entries, published again: full tiles stay as they were, the old partial tiles too.
    let full_tile = out.join("tile/0/000");
    let inode = std::fs::metadata(&full_tile).expect("full tile").ino();
    let old_partial = out.join(format!("tile/0/001.p/{}", size - 256));
    assert!(old_partial.exists());
    let node = NodeProcess::serve(&data, &ledger.stderr_log).expect("node restarts");
    append(&node, FIRST_GIFTS, SECOND_GIFTS);
    node.sigkill();
    let said = publish(&data, &out);
    let new_size = size + SECOND_GIFTS as u64;
    assert!(said.contains(&format!("published size {new_size} (was {size})")), "{said}");
    assert_eq!(
        std::fs::metadata(&full_tile).expect("full tile").ino(),
        inode,
        "a full tile is never rewritten"
    );
    assert!(old_partial.exists(), "partial tiles of a published checkpoint stay");
    assert!(out.join(format!("tile/entries/002.p/{}", new_size - 512)).exists());
    assert!(out.join("tile/1/000.p/2").exists());
    // Nothing new: nothing written.
    assert!(publish(&data, &out).contains("0 tile files written"));

    // Published from the running node's /tile/... instead: the very same files.
    let node = NodeProcess::serve(&data, &ledger.stderr_log).expect("node restarts");
    let from_url = scratch.path().join("www-url");
    let run = Command::new(ledger_node_bin())
        .args(["publish", "--url", &node.url, "--log-key", &vkey, "--out"])
        .arg(&from_url)
        .output()
        .expect("running ledger-node publish --url");
    assert!(run.status.success(), "publish --url failed: {}", String::from_utf8_lossy(&run.stderr));
    node.sigkill();
    let files = files_under(&from_url);
    assert_eq!(
        files.len(),
        1 + 3 + 3 + 1,
        "checkpoint, three bundles, three level-0 tiles, one level-1 tile"
    );
    for rel in &files {
        let a = std::fs::read(from_url.join(rel)).expect("file");
        assert_eq!(Some(a), std::fs::read(out.join(rel)).ok(), "{rel} differs from publish --data");
    }
    let dir = out.to_str().expect("utf-8 path").to_string();
    let (code, report) = verify_tiles(&dir, &vkey);
    assert_eq!(code, 0, "the directory verifies after the second publish: {report:#}");
    assert_eq!(report["entries"].as_u64(), Some(new_size));

    // One byte of entry 100's signed payload, in its bundle: that entry is named.
    let bundle = out.join("tile/entries/000");
    let bytes = std::fs::read(&bundle).expect("bundle");
    let mut offset = 0usize;
    for _ in 0..100 {
        offset += 2 + u16::from_be_bytes([bytes[offset], bytes[offset + 1]]) as usize;
    }
    let entry_len = u16::from_be_bytes([bytes[offset], bytes[offset + 1]]) as usize;
    let entry = &bytes[offset + 2..offset + 2 + entry_len];
    let payload = entry.windows(11).position(|w| w == b"\"payload\":\"").expect("payload field");
    with_byte_changed(&bundle, offset + 2 + payload + 11 + 20, || {
        let (code, report) = verify_tiles(&dir, &vkey);
        assert_eq!(code, 1, "{report:#}");
        assert_eq!(report["violation"]["seq"], 100, "{:#}", report["violation"]);
    });

    // One byte of a hash tile: every entry still verifies, and the tile is named.
    with_byte_changed(&full_tile, 7 * 32 + 3, || {
        let (code, report) = verify_tiles(&dir, &vkey);
        assert_eq!(code, 1, "{report:#}");
        let v = &report["violation"];
        assert_eq!(v["rule"], "tile", "{v:#}");
        assert_eq!(v["seq"], 7, "{v:#}");
        assert!(v["message"].as_str().is_some_and(|m| m.contains("tile/0/000")), "{v:#}");
        assert_eq!(report["entries"].as_u64(), Some(new_size), "the entries themselves hold");
    });

    // A partial tile cut short, and a missing bundle: named too.
    let partial = out.join(format!("tile/0/002.p/{}", new_size - 512));
    let saved = std::fs::read(&partial).expect("partial tile");
    std::fs::write(&partial, &saved[..saved.len() - 1]).expect("cut");
    let (code, report) = verify_tiles(&dir, &vkey);
    assert_eq!(code, 1, "{report:#}");
    assert!(report["violation"]["message"].as_str().is_some_and(|m| m.contains("tile/0/002.p/")));
    std::fs::write(&partial, &saved).expect("restore");
    let second = out.join("tile/entries/001");
    std::fs::rename(&second, scratch.path().join("moved")).expect("move");
    let (code, report) = verify_tiles(&dir, &vkey);
    assert_eq!(code, 1, "{report:#}");
    assert!(report["violation"]["message"].as_str().is_some_and(|m| m.contains("tile/entries/001")));
    std::fs::rename(scratch.path().join("moved"), &second).expect("move back");
    assert_eq!(verify_tiles(&dir, &vkey).0, 0, "restored, it verifies again");

    // publish refuses a directory whose checkpoint is not this log's, and writes nothing there.
    let foreign = scratch.path().join("www-foreign");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    let note = std::fs::read_to_string(out.join("checkpoint")).expect("checkpoint");
    let forged = note.replacen(&format!("\n{new_size}\n"), &format!("\n{}\n", new_size - 1), 1);
    assert_ne!(forged, note);
    std::fs::write(foreign.join("checkpoint"), &forged).expect("write");
    let run = Command::new(ledger_node_bin())
        .args(["publish", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&foreign)
        .output()
        .expect("running ledger-node publish");
    assert_eq!(run.status.code(), Some(1));
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(said.contains("not this log's"), "{said}");
    assert_eq!(files_under(&foreign), ["checkpoint"], "nothing written");
    assert_eq!(std::fs::read_to_string(foreign.join("checkpoint")).expect("checkpoint"), forged);
}
