//! What a run found, as one value: the figures recomputed from the log, the result of every
//! check, and the first violation with its evidence. Rendered for people (here), as JSON
//! (`--json`, the same fields) and as a printable HTML page (`html`).

use crate::balances::BalancesCheck;
use crate::checkpoints::CheckpointReport;
use crate::figures::{FundFlows, ProgrammeFlows};
use crate::format::{pad, programme_zh, thousands, yuan};
use crate::limits::FUNDS_LISTED_MAX;
use ledger_core::rules::{Balances, GoodsTotals, Totals};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A broken rule, a fork or a failed check: what exit code 1 reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// The first bad entry's seq (its position in the log), when the fault is an entry's.
    pub seq: Option<u64>,
    /// The tree size the fault is about (forks, checkpoints, balances).
    pub size: Option<u64>,
    /// The rule's name: SPEC.md §8's rules, plus `fork`, `checkpoint`, `witness_quorum`,
    /// `balances`, `log_key` and `inclusion` for the checks only the verifier makes.
    pub rule: String,
    /// The SPEC.md §8 code of the rule, or the kind of check.
    pub code: String,
    pub message: String,
    /// The entry's id and kind, when it could be read.
    pub id: Option<String>,
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<serde_json::Value>,
}

impl Violation {
    pub fn check(rule: &str, message: impl Into<String>) -> Violation {
        Violation {
            seq: None,
            size: None,
            rule: rule.to_string(),
            code: rule.to_string(),
            message: message.into(),
            id: None,
            kind: None,
            evidence: None,
        }
    }
}

/// Where the log key that checks checkpoints came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeySource {
    /// Given with `--log-key`, from somewhere the auditor trusts.
    Pinned,
    /// Read from the log's own genesis entry: proves nothing against a log that lies.
    Genesis,
    /// Read from the receipt bundle itself.
    Receipt,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogSummary {
    pub origin: String,
    pub name: String,
    pub log_key: Option<String>,
    pub log_key_source: Option<KeySource>,
    pub dual_control_fen: u64,
    pub min_audit_permille: u32,
    pub max_backdate_days: u32,
    /// The witnesses the log itself declares (`witness.policy`): names and quorum.
    pub declared_witnesses: Vec<String>,
    pub declared_quorum: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    pub first_entry_ms: i64,
    pub last_entry_ms: i64,
    /// The same instants in UTC+08:00.
    pub first_entry: String,
    pub last_entry: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Complaints {
    pub filed: u64,
    pub open: u64,
    pub resolved: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Audits {
    pub planned: u64,
    pub sampled: u64,
    pub findings: u64,
    pub rectifications_issued: u64,
    pub rectifications_closed: u64,
    /// Plans whose sample was never drawn (SPEC.md §7: the verifier reports them).
    pub unsampled_plans: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resources {
    pub elapsed_ms: u64,
    pub entries_per_second: u64,
    /// Processor time of this process (all threads), where the system tells it.
    pub cpu_ms: Option<u64>,
    /// Peak resident memory of this process, where the system tells it.
    pub peak_rss_kib: Option<u64>,
}

/// Everything a `log`, `url` or `trace` run found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub tool: String,
    pub command: String,
    pub source: String,
    /// All checks hold: exit code 0.
    pub ok: bool,
    pub log: Option<LogSummary>,
    /// Entries that were verified and applied (the valid prefix, if a violation stopped the run).
    pub entries: u64,
    pub signatures: u64,
    /// RFC 6962 root of those entries, base64.
    pub root: String,
    pub period: Option<Period>,
    pub totals: Totals,
    pub programmes: BTreeMap<String, ProgrammeFlows>,
    pub funds: BTreeMap<String, FundFlows>,
    pub goods: BTreeMap<String, GoodsTotals>,
    pub complaints: Complaints,
    pub audits: Audits,
    pub kinds: BTreeMap<String, u64>,
    pub checkpoints: Vec<CheckpointReport>,
    pub balances_check: Option<BalancesCheck>,
    /// The first violation (exit code 1), or null.
    pub violation: Option<Violation>,
    /// Every violation found, the first one first.
    pub violations: Vec<Violation>,
    /// Checks that were asked for but could not be made (exit code 2 when nothing broke).
    pub unchecked: Vec<String>,
    pub warnings: Vec<String>,
    /// The recomputed `/v1/balances` document at `entries`.
    pub balances: Balances,
    pub resources: Resources,
}

impl Report {
    /// 0 all checks hold, 1 the ledger breaks a rule, 2 a check could not be made.
    pub fn exit_code(&self) -> u8 {
        if !self.violations.is_empty() {
            1
        } else if !self.unchecked.is_empty() {
            2
        } else {
            0
        }
    }
}

/// Writes one violation for people.
pub fn violation_text(v: &Violation) -> String {
    let mut out = String::new();
    let place = match (v.seq, v.size) {
        (Some(seq), _) => format!(" at seq {seq}"),
        (None, Some(size)) => format!(" at tree size {size}"),
        _ => String::new(),
    };
    let _ = writeln!(out, "VIOLATION{place}: rule {} ({})", v.rule, v.code);
    if v.id.is_some() || v.kind.is_some() {
        let _ = writeln!(
            out,
            "  entry: id {}, kind {}",
            v.id.as_deref().unwrap_or("?"),
            v.kind.as_deref().unwrap_or("?")
        );
    }
    let _ = writeln!(out, "  {}", v.message);
    if let Some(evidence) = &v.evidence {
        let _ = writeln!(out, "  evidence:");
        evidence_text(evidence, "    ", &mut out);
    }
    out
}

fn evidence_text(value: &serde_json::Value, indent: &str, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match v {
                    serde_json::Value::String(s) if s.contains('\n') => {
                        let _ = writeln!(out, "{indent}{k}:");
                        for line in s.lines() {
                            let _ = writeln!(out, "{indent}  | {line}");
                        }
                    }
                    serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                        let _ = writeln!(out, "{indent}{k}:");
                        evidence_text(v, &format!("{indent}  "), out);
                    }
                    _ => {
                        let _ = writeln!(out, "{indent}{k}: {}", scalar(v));
                    }
                }
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let _ = writeln!(out, "{indent}[{i}]");
                evidence_text(v, &format!("{indent}  "), out);
            }
        }
        other => {
            let text = scalar(other);
            for line in text.lines() {
                let _ = writeln!(out, "{indent}| {line}");
            }
        }
    }
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The human summary of a run.
pub fn human(report: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "ledger-verify {} {}", report.command, report.source);
    if let Some(log) = &report.log {
        let _ = writeln!(o, "log:      {} ({})", log.origin, log.name);
        match (&log.log_key, log.log_key_source) {
            (Some(key), Some(KeySource::Pinned)) => {
                let _ = writeln!(o, "log key:  {key} (pinned with --log-key)");
            }
            (Some(key), _) => {
                let _ = writeln!(o, "log key:  {key}");
                let _ = writeln!(
                    o,
                    "          WARNING: this key came from the log itself (genesis log_key), not from --log-key."
                );
                let _ = writeln!(
                    o,
                    "          A log that lies about its history can also lie about its key: pin the key."
                );
            }
            (None, _) => {
                let _ = writeln!(o, "log key:  none (no valid genesis, no --log-key)");
            }
        }
    }
    if let Some(log) = report.log.as_ref().filter(|l| !l.declared_witnesses.is_empty()) {
        let _ = writeln!(
            o,
            "witnesses: the log declares {} (quorum {})",
            log.declared_witnesses.join(", "),
            log.declared_quorum.unwrap_or(0)
        );
    }
    let verdict = match report.exit_code() {
        0 => "ALL CHECKS HOLD",
        1 => "THE LEDGER BREAKS A RULE",
        _ => "SOME CHECKS COULD NOT BE MADE",
    };
    let _ = writeln!(o, "result:   {verdict}");
    for v in &report.violations {
        o.push('\n');
        o.push_str(&violation_text(v));
    }
    for u in &report.unchecked {
        let _ = writeln!(o, "NOT CHECKED: {u}");
    }
    for w in &report.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o.push('\n');
    let _ = writeln!(
        o,
        "entries:  {} verified ({} signatures), root {}",
        thousands(report.entries),
        thousands(report.signatures),
        report.root
    );
    if let Some(p) = &report.period {
        let _ = writeln!(o, "period:   {} — {}", p.first_entry, p.last_entry);
    }
    let t = &report.totals;
    let _ = writeln!(o, "\nmoney (cash)");
    for (label, fen) in [
        ("opening balances", t.opening_fen),
        ("received", t.received_fen),
        ("refunded", t.refunded_fen),
        ("corrected", t.corrected_fen),
        ("allocated", t.allocated_fen),
        ("allocations revoked", t.revoked_fen),
        ("disbursed", t.disbursed_fen),
        ("returned", t.returned_fen),
        ("held in funds", t.held_in_funds_fen),
        ("held in cases", t.held_in_cases_fen),
    ] {
        let _ = writeln!(o, "  {label:<22}{:>20}", yuan(fen));
    }
    if !report.programmes.is_empty() {
        let _ = writeln!(o, "\nby programme");
        let _ = writeln!(
            o,
            "  {:<18}{:>18}{:>18}{:>18}{:>16}{:>18}{:>18}",
            "programme", "received", "allocated", "disbursed", "refunded", "held in funds", "held in cases"
        );
        for (name, p) in &report.programmes {
            let _ = writeln!(
                o,
                "  {}{:>18}{:>18}{:>18}{:>16}{:>18}{:>18}",
                pad(&format!("{name} {}", programme_zh(name)), 18),
                yuan(p.received_fen),
                yuan(p.allocated_fen.saturating_sub(p.revoked_fen)),
                yuan(p.disbursed_fen.saturating_sub(p.returned_fen)),
                yuan(p.refunded_fen),
                yuan(p.held_in_funds_fen),
                yuan(p.held_in_cases_fen)
            );
        }
    }
    if !report.funds.is_empty() {
        let _ = writeln!(o, "\nby fund");
        let _ = writeln!(
            o,
            "  {:<20}{:<12}{:>18}{:>18}{:>16}{:>18}{:>18}",
            "fund", "programme", "opening", "received", "refunded", "allocated", "balance"
        );
        for (id, f) in report.funds.iter().take(FUNDS_LISTED_MAX) {
            let mut flags = String::new();
            if f.restricted {
                flags.push_str(" restricted");
            }
            if f.closed {
                flags.push_str(" closed");
            }
            let _ = writeln!(
                o,
                "  {:<20}{:<12}{:>18}{:>18}{:>16}{:>18}{:>18}  {}{flags}",
                id,
                f.programme,
                yuan(f.opening_fen),
                yuan(f.received_fen),
                yuan(f.refunded_fen),
                yuan(f.allocated_fen.saturating_sub(f.revoked_fen)),
                yuan(f.balance_fen),
                f.name
            );
        }
        if report.funds.len() > FUNDS_LISTED_MAX {
            let _ = writeln!(o, "  … and {} more funds (see --json)", report.funds.len() - FUNDS_LISTED_MAX);
        }
    }
    if !report.goods.is_empty() {
        let _ = writeln!(o, "\ngoods (quantities)");
        let _ = writeln!(
            o,
            "  {:<20}{:>12}{:>12}{:>12}{:>12}{:>14}{:>14}",
            "item", "received", "corrected", "disbursed", "returned", "in funds", "in cases"
        );
        for (item, g) in &report.goods {
            let _ = writeln!(
                o,
                "  {}{:>12}{:>12}{:>12}{:>12}{:>14}{:>14}",
                pad(item, 20),
                thousands(g.received),
                thousands(g.corrected),
                thousands(g.disbursed),
                thousands(g.returned),
                thousands(g.held_in_funds),
                thousands(g.held_in_cases)
            );
        }
    }
    let c = &report.complaints;
    let _ = writeln!(o, "\ncomplaints: {} filed, {} open, {} resolved", c.filed, c.open, c.resolved);
    let a = &report.audits;
    let _ = writeln!(
        o,
        "audits:     {} planned, {} sampled, {} findings, {} rectifications ({} closed)",
        a.planned, a.sampled, a.findings, a.rectifications_issued, a.rectifications_closed
    );
    if !a.unsampled_plans.is_empty() {
        let _ = writeln!(o, "            plans never sampled: {}", a.unsampled_plans.join(", "));
    }
    if !report.checkpoints.is_empty() {
        let _ = writeln!(o, "\ncheckpoints");
        for c in &report.checkpoints {
            let size = c.size.map(|s| s.to_string()).unwrap_or_else(|| "?".into());
            let _ = writeln!(o, "  {:<10} size {size:<10} {}  {}", c.status.as_str(), c.label, c.message);
            for w in &c.cosigned_by {
                let _ = writeln!(o, "             cosigned by {} at {}", w.name, w.timestamp);
            }
        }
    }
    if let Some(b) = &report.balances_check {
        let _ = writeln!(
            o,
            "\npublished balances: {} at size {} ({}): {}",
            b.status.as_str(),
            b.size,
            b.label,
            b.message
        );
        for d in &b.differences {
            let _ = writeln!(o, "  {}: published {} recomputed {}", d.path, d.published, d.recomputed);
        }
    }
    if report.resources.elapsed_ms > 0 {
        let _ = writeln!(
            o,
            "\ntime: {} ms ({} entries/s){}",
            report.resources.elapsed_ms,
            thousands(report.resources.entries_per_second),
            report
                .resources
                .peak_rss_kib
                .map(|k| format!(", peak memory {} KiB", thousands(k)))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(o, "\ntimes in UTC+08:00; amounts in yuan (CNY).");
    o
}

/// Linux counts processor time in ticks of 1/100 s (USER_HZ) in `/proc`.
const PROC_TICKS_PER_SECOND: u64 = 100;

/// User plus system processor time of this process in ms (Linux `/proc`); `None` elsewhere.
pub fn cpu_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces: state is
    // field 3, utime 14, stime 15.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 1000 / PROC_TICKS_PER_SECOND)
}

/// Peak resident memory of this process in KiB (Linux `/proc`); `None` elsewhere.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
