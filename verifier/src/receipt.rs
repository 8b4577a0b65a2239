//! A donor's offline check of a receipt bundle (`/v1/donations/{id}/receipt`): the
//! checkpoint is signed by the pinned log key, the entry is in the tree the checkpoint names
//! (RFC 9162 inclusion proof), and the entry's own signatures verify. With the log's export it
//! also recomputes where the gift went.

use crate::analysis::{self, Job};
use crate::format::{report_time, thousands, yuan};
use crate::input::read_bounded;
use crate::limits::RECEIPT_BYTES_MAX;
use crate::pipeline::ReaderSource;
use crate::report::{violation_text, KeySource, Violation};
use anyhow::{Context, Result};
use indicatif::ProgressBar;
use ledger_core::checkpoint::{open_checkpoint, LogKey};
use ledger_core::encoding::{b64_decode_canonical, hash_from_b64};
use ledger_core::entry::VerifiedEntry;
use ledger_core::event::Event;
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::limits::PROOF_HASHES_MAX;
use ledger_core::merkle::check_record;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::fmt::Write as _;
use std::path::Path;

/// The bundle as the node serves it (INTERFACES.md). Unknown fields are ignored.
#[derive(Debug, Deserialize)]
struct Bundle {
    seq: u64,
    entry_b64: String,
    size: u64,
    proof: Vec<String>,
    checkpoint: String,
    log_key: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DonationSummary {
    pub id: String,
    pub fund: Option<String>,
    pub case: Option<String>,
    pub amount_fen: Option<u64>,
    pub amount_yuan: Option<String>,
    pub goods: Option<serde_json::Value>,
    pub channel: String,
    /// The date the author gave (`at`), as written.
    pub date: String,
    pub at: String,
    /// When the log took it, UTC+08:00.
    pub logged: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReceiptReport {
    pub ok: bool,
    pub log_key: Option<String>,
    pub log_key_source: Option<KeySource>,
    pub seq: u64,
    pub size: u64,
    pub root: Option<String>,
    pub leaf_hash: Option<String>,
    pub kind: Option<String>,
    pub donation: Option<DonationSummary>,
    /// The gift's portions, in the shape of `/v1/donations/{id}` (with `--export`).
    pub trace: Option<serde_json::Value>,
    #[serde(skip)]
    pub trace_text: Option<String>,
    pub violation: Option<Violation>,
    pub unchecked: Vec<String>,
    pub warnings: Vec<String>,
}

impl ReceiptReport {
    pub fn exit_code(&self) -> u8 {
        if self.violation.is_some() {
            1
        } else if !self.unchecked.is_empty() {
            2
        } else {
            0
        }
    }
}

fn broken(report: &mut ReceiptReport, rule: &str, message: String) {
    let mut v = Violation::check(rule, message);
    v.seq = Some(report.seq);
    report.violation = Some(v);
    report.ok = false;
}

/// Checks the bundle in `path`; with `export`, also verifies the whole log and traces the gift.
pub fn run(path: &Path, pinned: Option<LogKey>, export: Option<&Path>) -> Result<ReceiptReport> {
    let bytes = read_bounded(path, RECEIPT_BYTES_MAX, "receipt")?;
    let bundle: Bundle = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a receipt bundle", path.display()))?;
    let mut report = ReceiptReport {
        ok: true,
        log_key: None,
        log_key_source: None,
        seq: bundle.seq,
        size: bundle.size,
        root: None,
        leaf_hash: None,
        kind: None,
        donation: None,
        trace: None,
        trace_text: None,
        violation: None,
        unchecked: Vec::new(),
        warnings: Vec::new(),
    };
    let receipt_key = LogKey::parse(bundle.log_key.trim());
    let key = match (pinned, receipt_key) {
        (Some(pinned), Ok(theirs)) if pinned != theirs => {
            report.log_key = Some(pinned.verifier_key());
            report.log_key_source = Some(KeySource::Pinned);
            broken(
                &mut report,
                "other_log",
                format!(
                    "this receipt is from another log: it names log key {}, but you pinned {}",
                    theirs.verifier_key(),
                    pinned.verifier_key()
                ),
            );
            return Ok(report);
        }
        (Some(pinned), _) => {
            report.log_key_source = Some(KeySource::Pinned);
            pinned
        }
        (None, Ok(theirs)) => {
            report.log_key_source = Some(KeySource::Receipt);
            report.warnings.push(
                "NO --log-key GIVEN: the log key was taken from the receipt itself, which proves nothing \
                 against a forged receipt. Pin the key the charity publishes."
                    .into(),
            );
            theirs
        }
        (None, Err(e)) => {
            broken(&mut report, "receipt", format!("the receipt's log_key is not a log verifier key: {e}"));
            return Ok(report);
        }
    };
    report.log_key = Some(key.verifier_key());

    let checkpoint = match open_checkpoint(&bundle.checkpoint, &key, &[]) {
        Ok(opened) => opened.checkpoint,
        Err(e) => {
            broken(
                &mut report,
                "checkpoint",
                format!("the receipt's checkpoint is not signed by the log key: {e}"),
            );
            return Ok(report);
        }
    };
    report.root = Some(checkpoint.root.to_base64());
    if checkpoint.size != bundle.size {
        let message =
            format!("the receipt says size {} but its checkpoint has size {}", bundle.size, checkpoint.size);
        broken(&mut report, "receipt", message);
        return Ok(report);
    }
    let Some(entry_bytes) = b64_decode_canonical(&bundle.entry_b64) else {
        broken(&mut report, "receipt", "entry_b64 is not canonical base64".into());
        return Ok(report);
    };
    let leaf = leaf_hash(&entry_bytes);
    report.leaf_hash = Some(leaf.to_hex());
    let entry = match VerifiedEntry::parse_and_verify(&entry_bytes) {
        Ok(e) => e,
        Err(r) => {
            broken(&mut report, r.rule.as_str(), format!("the receipt's entry is not valid: {}", r.message));
            return Ok(report);
        }
    };
    if entry.seq() != bundle.seq {
        let message = format!("the receipt says seq {} but its entry has seq {}", bundle.seq, entry.seq());
        broken(&mut report, "receipt", message);
        return Ok(report);
    }
    let proof: Option<Vec<Hash>> = if bundle.proof.len() > PROOF_HASHES_MAX {
        None
    } else {
        bundle.proof.iter().map(|p| hash_from_b64(p)).collect()
    };
    let Some(proof) = proof else {
        broken(&mut report, "inclusion", "the proof is not a list of base64 hashes".into());
        return Ok(report);
    };
    if let Err(e) = check_record(&proof, checkpoint.size, checkpoint.root, bundle.seq, leaf) {
        let message = format!(
            "the inclusion proof does not place this entry at seq {} in the tree of size {}: {e}",
            bundle.seq, checkpoint.size
        );
        broken(&mut report, "inclusion", message);
        return Ok(report);
    }
    report.kind = Some(entry.event().kind().as_str().to_string());
    match entry.event() {
        Event::DonationReceived(b) => {
            let amount_fen = b.amount_fen.map(|a| a.get());
            report.donation = Some(DonationSummary {
                id: b.id.as_str().to_string(),
                fund: b.fund.as_ref().map(|f| f.as_str().to_string()),
                case: b.case.as_ref().map(|c| c.as_str().to_string()),
                amount_fen,
                amount_yuan: amount_fen.map(crate::format::yuan_plain),
                goods: b.goods.as_ref().map(|g| {
                    json!({
                        "item": g.item.as_str(),
                        "quantity": g.quantity.get(),
                        "unit": g.unit.as_str(),
                        "unit_value_fen": g.unit_value_fen.get(),
                    })
                }),
                channel: b.channel.as_str().to_string(),
                date: b.at.as_str().chars().take(10).collect(),
                at: b.at.as_str().to_string(),
                logged: report_time(entry.time().unix_ms()),
            });
        }
        other => report.warnings.push(format!(
            "the entry is a {}, not a donation.received: it is in the log, but it is no donation",
            other.kind()
        )),
    }

    if let Some(export) = export {
        check_export(&mut report, export, key, &entry, checkpoint.size, checkpoint.root)?;
    }
    Ok(report)
}

fn check_export(
    report: &mut ReceiptReport,
    export: &Path,
    key: LogKey,
    entry: &VerifiedEntry,
    size: u64,
    root: Hash,
) -> Result<()> {
    let file =
        std::fs::File::open(export).with_context(|| format!("cannot open export {}", export.display()))?;
    let job = Job {
        command: "receipt".into(),
        source_label: export.display().to_string(),
        pinned: Some(key),
        trace: Some(entry.event().id().as_str().to_string()),
        leaf_at: Some(entry.seq()),
        extra_root_sizes: vec![size],
        ..Job::default()
    };
    let source = Box::new(ReaderSource::new(std::io::BufReader::new(file)));
    let outcome = analysis::run(&job, source, &ProgressBar::hidden(), false)?;
    if let Some(v) = outcome.report.violation {
        report.ok = false;
        report.violation = Some(v);
        return Ok(());
    }
    match outcome.leaf_at {
        Some(l) if l == entry.leaf_hash() => {}
        Some(_) => {
            broken(
                report,
                "receipt",
                format!("the export's entry at seq {} is not the receipt's entry", entry.seq()),
            );
            return Ok(());
        }
        None => report.unchecked.push(format!(
            "the export has {} entries and does not reach seq {}: no trace",
            outcome.report.entries,
            entry.seq()
        )),
    }
    match outcome.roots.get(&size) {
        Some(r) if *r == root => {}
        Some(r) => {
            let mut v = Violation::check(
                "fork",
                format!(
                    "the export's root at size {size} is {}, the receipt's checkpoint says {}: two histories",
                    r.to_base64(),
                    root.to_base64()
                ),
            );
            v.size = Some(size);
            report.violation = Some(v);
            report.ok = false;
            return Ok(());
        }
        None => report.warnings.push(format!(
            "the export has {} entries, fewer than the checkpoint's {size}: its root was not compared",
            outcome.report.entries
        )),
    }
    if let Some(portions) = &outcome.trace {
        report.trace = Some(crate::trace::json(portions));
        report.trace_text = Some(crate::trace::human(entry.event().id().as_str(), portions));
    }
    report.warnings.extend(outcome.report.warnings);
    report.ok = report.violation.is_none() && report.unchecked.is_empty();
    Ok(())
}

/// The receipt check for people.
pub fn human(report: &ReceiptReport) -> String {
    let mut o = String::new();
    let verdict = match report.exit_code() {
        0 => "OK: this entry is in the log the checkpoint signs",
        1 => "FAILED",
        _ => "PARTLY CHECKED",
    };
    let _ = writeln!(o, "receipt: {verdict}");
    if let Some(v) = &report.violation {
        o.push_str(&violation_text(v));
    }
    for u in &report.unchecked {
        let _ = writeln!(o, "NOT CHECKED: {u}");
    }
    for w in &report.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    if let Some(k) = &report.log_key {
        let source = match report.log_key_source {
            Some(KeySource::Pinned) => "pinned with --log-key",
            _ => "taken from the receipt",
        };
        let _ = writeln!(o, "log key:    {k} ({source})");
    }
    if let Some(root) = &report.root {
        let _ = writeln!(o, "checkpoint: size {}, root {root}", thousands(report.size));
    }
    if let Some(d) = &report.donation {
        let _ = writeln!(o, "donation:   {} (seq {})", d.id, report.seq);
        let to = match (&d.fund, &d.case) {
            (Some(f), _) => format!("fund {f}"),
            (None, Some(c)) => format!("case {c}"),
            _ => "?".into(),
        };
        let what = match (d.amount_fen, &d.goods) {
            (Some(fen), _) => yuan(fen),
            (None, Some(g)) => format!(
                "{} {} of {}",
                g["quantity"],
                g["unit"].as_str().unwrap_or(""),
                g["item"].as_str().unwrap_or("")
            ),
            _ => "?".into(),
        };
        let _ = writeln!(o, "            {what} to {to}, by {}, on {}", d.channel, d.date);
        let _ = writeln!(o, "            at {} (logged {})", d.at, d.logged);
    } else if let Some(kind) = &report.kind {
        let _ = writeln!(o, "entry:      seq {}, kind {kind}", report.seq);
    }
    if let Some(text) = &report.trace_text {
        o.push_str(text);
    }
    o
}
