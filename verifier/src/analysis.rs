//! One verification run over a stream of entries: every entry through the pipeline and
//! `State::apply` (the same code the node runs), roots kept at the sizes the checkpoints and
//! the balances document name, then the checkpoint, witness and balances checks, and the
//! report. `log`, `url`, `trace` and `receipt --export` all run this.

use crate::balances::{compare, BalancesCheck, BalancesInput, BalancesStatus};
use crate::checkpoints::{self, CheckpointInput, LogRoots};
use crate::figures::Flows;
use crate::format::report_time;
use crate::input::log_key_from_genesis;
use crate::limits::WARNINGS_KEPT_MAX;
use crate::pipeline::{self, LineFailure, LineFault, LineSource, Sink};
use crate::report::{
    cpu_ms, peak_rss_kib, Audits, Complaints, KeySource, LogSummary, Period, Report, Resources, Violation,
};
use indicatif::ProgressBar;
use ledger_core::checkpoint::{LogKey, WitnessKey};
use ledger_core::disclosure::Book;
use ledger_core::entry::VerifiedEntry;
use ledger_core::hash::{empty_root, Hash};
use ledger_core::refusal::{Code, Rule};
use ledger_core::rules::{Balances, Portion, State};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::time::Instant;

/// What to check, besides every entry.
#[derive(Default)]
pub struct Job {
    pub command: String,
    pub source_label: String,
    /// The auditor's log key; without it the genesis entry's key is used, loudly.
    pub pinned: Option<LogKey>,
    pub witnesses: Vec<WitnessKey>,
    pub quorum: usize,
    pub checkpoints: Vec<CheckpointInput>,
    pub balances: Option<BalancesInput>,
    /// Recompute this donation's trace at the end.
    pub trace: Option<String>,
    /// Keep the leaf hash of the entry at this seq (a receipt's entry).
    pub leaf_at: Option<u64>,
    /// Also keep the root at these sizes.
    pub extra_root_sizes: Vec<u64>,
    /// Entries below this were verified by an earlier run (`--state-dir`).
    pub trusted_below: u64,
    /// Keep the disclosure book and the final state (`ledger-verify export`).
    pub disclosure: bool,
}

/// A run's report and what the caller asked to keep.
pub struct Outcome {
    pub report: Report,
    pub trace: Option<Vec<Portion>>,
    pub leaf_at: Option<Hash>,
    pub roots: BTreeMap<u64, Hash>,
    /// The log key the checks used.
    pub log_key: Option<LogKey>,
    pub last_leaf: Hash,
    /// The disclosure book and the state at the last verified entry, if the job asked.
    pub disclosure: Option<(Book, State)>,
}

/// The sequential stage: applies each verified entry in order and gathers the figures.
struct Audit<'a> {
    job: &'a Job,
    state: State,
    root_sizes: BTreeSet<u64>,
    roots: BTreeMap<u64, Hash>,
    balances_at: Option<Balances>,
    flows: Flows,
    first_ms: Option<i64>,
    signatures: u64,
    violation: Option<Violation>,
    warnings: Vec<String>,
    warnings_dropped: u64,
    leaf_at: Option<Hash>,
    book: Option<Book>,
    progress: &'a ProgressBar,
    progress_in_bytes: bool,
}

impl Audit<'_> {
    fn warn(&mut self, message: String) {
        if self.warnings.len() < WARNINGS_KEPT_MAX {
            self.warnings.push(message);
        } else {
            self.warnings_dropped += 1;
        }
    }

    fn refuse(&mut self, pos: u64, rule: Rule, message: String, id: Option<String>, kind: Option<String>) {
        let code = rule.code();
        let mut message = message;
        if rule == Rule::Prev && pos > 0 {
            message.push_str(&format!(
                " (the entry at seq {} was altered or replaced after this one was appended, or this one was inserted)",
                pos - 1
            ));
        }
        self.violation = Some(Violation {
            seq: Some(pos),
            size: None,
            rule: rule.as_str().to_string(),
            code: code.as_str().to_string(),
            message,
            id,
            kind,
            evidence: None,
        });
    }

    fn record_size(&mut self) {
        let size = self.state.size();
        if self.root_sizes.contains(&size) {
            self.roots.insert(size, self.state.root());
        }
        if self.job.balances.as_ref().is_some_and(|b| b.doc.size == size) {
            self.balances_at = Some(self.state.balances());
        }
    }

    /// The genesis names the log key; a pinned key must be that key.
    fn check_genesis_key(&mut self) -> ControlFlow<()> {
        let Some(info) = self.state.info() else { return ControlFlow::Continue(()) };
        let Some(pinned) = &self.job.pinned else { return ControlFlow::Continue(()) };
        if pinned.origin() != info.origin || pinned.public_key().as_bytes() != &info.log_key.0 {
            let message = format!(
                "the genesis names origin {} and log key {}, but --log-key is {} of origin {}: this is another log",
                info.origin,
                info.log_key,
                hex::encode(pinned.public_key().as_bytes()),
                pinned.origin()
            );
            let mut v = Violation::check("log_key", message);
            v.seq = Some(0);
            v.id = self.state.id_at(0).map(str::to_string);
            v.kind = Some("ledger.genesis".into());
            self.violation = Some(v);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

impl Sink for Audit<'_> {
    fn entry(&mut self, pos: u64, entry: Result<VerifiedEntry, LineFailure>) -> ControlFlow<()> {
        let entry = match entry {
            Ok(e) => e,
            Err(f) => {
                let mut message = f.refusal.message.clone();
                if let Some(claimed) = f.claimed_seq.filter(|s| *s != pos) {
                    message.push_str(&format!(" (the line claims seq {claimed})"));
                }
                self.refuse(pos, f.refusal.rule, message, f.id, f.kind);
                return ControlFlow::Break(());
            }
        };
        if let Err(r) = self.state.apply(&entry) {
            let event = entry.event();
            let mut message = r.message;
            if let Some(seq) = r.seq {
                message.push_str(&format!(" (seq {seq})"));
            }
            self.refuse(
                pos,
                r.rule,
                message,
                Some(event.id().as_str().to_string()),
                Some(event.kind().as_str().to_string()),
            );
            return ControlFlow::Break(());
        }
        self.flows.observe(&self.state, entry.event());
        if let Some(book) = &mut self.book {
            book.observe(&entry);
        }
        self.signatures += entry.envelope().signers().len() as u64;
        if self.first_ms.is_none() {
            self.first_ms = Some(entry.time().unix_ms());
        }
        if self.job.leaf_at == Some(pos) {
            self.leaf_at = Some(entry.leaf_hash());
        }
        if pos == 0 {
            self.check_genesis_key()?;
        }
        self.record_size();
        ControlFlow::Continue(())
    }

    fn fault(&mut self, pos: u64, fault: LineFault) {
        match fault {
            LineFault::TooLong => self.refuse(
                pos,
                Rule::TooLarge,
                format!(
                    "line is longer than an entry may be ({} bytes)",
                    ledger_core::limits::ENTRY_BYTES_MAX
                ),
                None,
                None,
            ),
        }
    }

    fn unterminated(&mut self, pos: u64) {
        self.warn(format!(
            "the last line (seq {pos}) has no newline after it; an export ends every line with one"
        ));
    }

    fn chunk_done(&mut self, entries: u64, source_bytes: u64) {
        self.progress.inc(if self.progress_in_bytes { source_bytes } else { entries });
    }
}

/// Verifies the entries of `source` and makes every check `job` asks for.
pub fn run(
    job: &Job,
    source: Box<dyn LineSource>,
    progress: &ProgressBar,
    progress_in_bytes: bool,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let mut root_sizes: BTreeSet<u64> = job.checkpoints.iter().filter_map(|c| c.claimed_size()).collect();
    root_sizes.extend(job.extra_root_sizes.iter().copied());
    if let Some(b) = &job.balances {
        root_sizes.insert(b.doc.size);
    }
    let mut audit = Audit {
        job,
        state: State::new(),
        roots: BTreeMap::new(),
        root_sizes,
        balances_at: None,
        flows: Flows::default(),
        first_ms: None,
        signatures: 0,
        violation: None,
        warnings: Vec::new(),
        warnings_dropped: 0,
        leaf_at: None,
        book: job.disclosure.then(Book::new),
        progress,
        progress_in_bytes,
    };
    if audit.root_sizes.contains(&0) {
        audit.roots.insert(0, empty_root());
    }
    if job.balances.as_ref().is_some_and(|b| b.doc.size == 0) {
        audit.balances_at = Some(audit.state.balances());
    }
    pipeline::run(source, job.trusted_below, &mut audit)?;
    progress.finish_and_clear();
    if audit.state.size() == 0 && audit.violation.is_none() {
        let mut v = Violation::check("genesis_only", "the log is empty: it has no genesis entry");
        v.seq = Some(0);
        v.code = Code::RuleViolation.as_str().to_string();
        audit.violation = Some(v);
    }
    Ok(finish(audit, started))
}

fn finish(audit: Audit<'_>, started: Instant) -> Outcome {
    let job = audit.job;
    let state = &audit.state;
    let stopped_early = audit.violation.is_some();
    let mut violations: Vec<Violation> = audit.violation.iter().cloned().collect();
    let mut unchecked = Vec::new();
    let mut warnings = audit.warnings;
    if audit.warnings_dropped > 0 {
        warnings.push(format!("{} more warnings were not kept", audit.warnings_dropped));
    }

    // The key that checks checkpoints: pinned, else (loudly) the genesis's own.
    let (log_key, key_source) = match (&job.pinned, state.info()) {
        (Some(k), _) => (Some(k.clone()), Some(KeySource::Pinned)),
        (None, Some(info)) => match log_key_from_genesis(&info.origin, &info.log_key) {
            Ok(k) => (Some(k), Some(KeySource::Genesis)),
            Err(e) => {
                warnings.push(e);
                (None, None)
            }
        },
        (None, None) => (None, None),
    };
    if key_source == Some(KeySource::Genesis) {
        warnings.insert(
            0,
            "NO --log-key GIVEN: the log key was taken from the log itself (genesis log_key). \
             A forged log would name its own key; pin the key the charity publishes."
                .to_string(),
        );
    }

    let mut checkpoint_reports = Vec::new();
    if !job.checkpoints.is_empty() {
        match &log_key {
            Some(key) => {
                let found = checkpoints::check(
                    &job.checkpoints,
                    key,
                    &job.witnesses,
                    job.quorum,
                    &LogRoots { roots: &audit.roots, verified: state.size(), stopped_early },
                );
                checkpoint_reports = found.reports;
                violations.extend(found.violations);
                unchecked.extend(found.unchecked);
            }
            None => unchecked.push("checkpoints: no log key (no --log-key and no valid genesis)".into()),
        }
    }

    let balances_check = job.balances.as_ref().map(|input| {
        let size = input.doc.size;
        let mut check = BalancesCheck {
            label: input.label.clone(),
            size,
            status: BalancesStatus::NotReached,
            message: String::new(),
            differences: Vec::new(),
            differences_total: 0,
        };
        match &audit.balances_at {
            Some(ours) => {
                let (differences, total) = compare(&input.doc, ours);
                check.differences = differences;
                check.differences_total = total;
                if total == 0 {
                    check.status = BalancesStatus::Equal;
                    check.message = "every total, fund and case equals the recomputed figures".into();
                } else {
                    check.status = BalancesStatus::Differs;
                    check.message = format!("{total} figures differ from the recomputed ones");
                    let mut v = Violation::check(
                        "balances",
                        format!(
                            "{} at size {size}: {total} figures differ from those recomputed from the log",
                            input.label
                        ),
                    );
                    v.size = Some(size);
                    v.evidence = Some(json!({ "differences": check.differences }));
                    violations.push(v);
                }
            }
            None if stopped_early => {
                check.message = format!("not compared: the log broke a rule before size {size}");
            }
            None => {
                check.message = format!("size {size} is beyond the {} entries at hand", state.size());
                unchecked.push(format!(
                    "balances {} are at size {size} but only {} entries were given",
                    input.label,
                    state.size()
                ));
            }
        }
        check
    });

    let balances = state.balances();
    let totals = state.totals();
    let (programmes, funds) = audit.flows.finish(&balances);
    let kinds: BTreeMap<String, u64> =
        state.count_by_kind().into_iter().map(|(k, n)| (k.to_string(), n)).collect();
    let count = |k: &str| kinds.get(k).copied().unwrap_or(0);
    let (open, resolved) = state.complaint_counts();
    let period = audit.first_ms.map(|first| Period {
        first_entry_ms: first,
        last_entry_ms: state.last_time_ms(),
        first_entry: report_time(first),
        last_entry: report_time(state.last_time_ms()),
    });
    let log = state.info().map(|info| LogSummary {
        origin: info.origin.clone(),
        name: info.name.clone(),
        log_key: log_key.as_ref().map(|k| k.verifier_key()),
        log_key_source: key_source,
        dual_control_fen: info.policy.dual_control_fen.get(),
        min_audit_permille: info.policy.min_audit_permille,
        max_backdate_days: info.policy.max_backdate_days,
        declared_witnesses: state
            .witness_policy()
            .map(|w| w.witnesses.iter().map(|(name, _, _)| name.clone()).collect())
            .unwrap_or_default(),
        declared_quorum: state.witness_policy().map(|w| w.quorum),
    });
    if job.witnesses.is_empty() {
        if let Some(w) = state.witness_policy().filter(|w| w.quorum > 0) {
            warnings.push(format!(
                "the log declares {} witnesses with quorum {}, but no --witness key was given: cosignatures were not required",
                w.witnesses.len(),
                w.quorum
            ));
        }
    }
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let trace = job.trace.as_ref().and_then(|id| state.trace(id));
    let report = Report {
        tool: format!("ledger-verify {}", env!("CARGO_PKG_VERSION")),
        command: job.command.clone(),
        source: job.source_label.clone(),
        ok: violations.is_empty() && unchecked.is_empty(),
        log,
        entries: state.size(),
        signatures: audit.signatures,
        root: state.root().to_base64(),
        period,
        goods: totals.goods.clone(),
        totals,
        programmes,
        funds,
        complaints: Complaints { filed: count("complaint.filed"), open, resolved },
        audits: Audits {
            planned: count("audit.planned"),
            sampled: count("audit.sampled"),
            findings: count("audit.finding"),
            rectifications_issued: count("rectification.issued"),
            rectifications_closed: count("rectification.closed"),
            unsampled_plans: state.unsampled_plans(),
        },
        kinds,
        checkpoints: checkpoint_reports,
        balances_check,
        violation: violations.first().cloned(),
        violations,
        unchecked,
        warnings,
        balances,
        resources: Resources {
            elapsed_ms,
            entries_per_second: (state.size() as u128 * 1000 / u128::from(elapsed_ms.max(1))) as u64,
            cpu_ms: cpu_ms(),
            peak_rss_kib: peak_rss_kib(),
        },
    };
    let last_leaf = state.last_leaf();
    Outcome {
        report,
        trace,
        leaf_at: audit.leaf_at,
        roots: audit.roots,
        log_key,
        last_leaf,
        disclosure: audit.book.map(|book| (book, audit.state)),
    }
}
