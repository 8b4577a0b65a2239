//! `GET /metrics`: the node's counters in the Prometheus text exposition format (0.0.4),
//! written by hand over atomics. Every label set is bounded: `rule` takes the names of the
//! fixed `Rule` enum, `code` a fixed list of HTTP status codes (anything else is `other`).
//! Nothing is ever labelled by path, id or key.

use crate::node::Node;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use ledger_core::refusal::Rule;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Every rule a refusal can name (SPEC.md §8), in the order they are exposed.
pub const RULES: &[Rule] = &[
    Rule::TooLarge,
    Rule::Json,
    Rule::Envelope,
    Rule::PayloadType,
    Rule::Base64,
    Rule::Hex,
    Rule::Signatures,
    Rule::Text,
    Rule::EventId,
    Rule::Time,
    Rule::Amount,
    Rule::Field,
    Rule::WeakKey,
    Rule::PiiDetected,
    Rule::BadSignature,
    Rule::DuplicateId,
    Rule::Role,
    Rule::Revoked,
    Rule::KeyChangeQuorum,
    Rule::GenesisOnly,
    Rule::FutureTime,
    Rule::Backdated,
    Rule::UnknownReference,
    Rule::NotOpen,
    Rule::NotEmpty,
    Rule::InsufficientFunds,
    Rule::RestrictedFund,
    Rule::WrongAsset,
    Rule::UnitMismatch,
    Rule::OverRevoke,
    Rule::OverReturn,
    Rule::LastAdmin,
    Rule::KeyRevoked,
    Rule::BadSample,
    Rule::AlreadySampled,
    Rule::AlreadyResolved,
    Rule::Overflow,
    Rule::DualControl,
    Rule::EntrySyntax,
    Rule::Seq,
    Rule::Prev,
    Rule::TimeOrder,
    Rule::Conservation,
];

/// The status codes counted under their own label; any other is counted as `other`.
pub const STATUS_CODES: &[u16] =
    &[200, 201, 204, 301, 304, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 500, 503];

const GROUP_BUCKETS: &[f64] =
    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0];
const FLUSH_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const REQUEST_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A response extension naming the rule an answer refused an append by; set by `ApiError`,
/// counted by `Metrics::record_http`.
#[derive(Debug, Clone, Copy)]
pub struct RefusedRule(pub &'static str);

/// A histogram over fixed buckets. Observations are integers in `unit`s (nanoseconds for
/// durations, entries for sizes) so the sum stays an atomic integer.
pub struct Histogram {
    bounds: &'static [f64],
    unit: f64,
    /// Non-cumulative counts; the last one is above every bound (`+Inf`).
    buckets: Vec<AtomicU64>,
    sum: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64], unit: f64) -> Histogram {
        Histogram {
            bounds,
            unit,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn observe(&self, units: u64) {
        let value = units as f64 * self.unit;
        let i = self.bounds.iter().position(|b| value <= *b).unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(units, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn observe_duration(&self, d: Duration) {
        self.observe(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = self.bounds.get(i).map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let sum = self.sum.load(Ordering::Relaxed) as f64 * self.unit;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {}", self.count());
    }
}

/// The node's metrics. Held by `Node`; updated by the sequencer and the HTTP middleware.
pub struct Metrics {
    appends_accepted: AtomicU64,
    /// One per `RULES`, then one for a rule name this list lacks.
    refusals: Vec<AtomicU64>,
    group_entries: Histogram,
    flush_seconds: Histogram,
    /// One per `STATUS_CODES`, then `other`.
    responses: Vec<AtomicU64>,
    request_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            appends_accepted: AtomicU64::new(0),
            refusals: (0..=RULES.len()).map(|_| AtomicU64::new(0)).collect(),
            group_entries: Histogram::new(GROUP_BUCKETS, 1.0),
            flush_seconds: Histogram::new(FLUSH_BUCKETS, 1e-9),
            responses: (0..=STATUS_CODES.len()).map(|_| AtomicU64::new(0)).collect(),
            request_seconds: Histogram::new(REQUEST_BUCKETS, 1e-9),
        }
    }

    /// A group commit made `entries` new entries durable.
    pub fn record_group(&self, entries: usize) {
        self.appends_accepted.fetch_add(entries as u64, Ordering::Relaxed);
        self.group_entries.observe(entries as u64);
    }

    /// One sled flush + fsync of a group commit took `d`.
    pub fn record_flush(&self, d: Duration) {
        self.flush_seconds.observe_duration(d);
    }

    /// The time every flush + fsync so far took, in seconds (the histogram's sum).
    pub fn flush_seconds_total(&self) -> f64 {
        self.flush_seconds.sum.load(Ordering::Relaxed) as f64 * self.flush_seconds.unit
    }

    /// An append was refused by the rule named `rule`.
    pub fn record_refusal(&self, rule: &str) {
        let i = RULES.iter().position(|r| r.as_str() == rule).unwrap_or(RULES.len());
        self.refusals[i].fetch_add(1, Ordering::Relaxed);
    }

    /// An HTTP response with `status` was answered after `d`.
    pub fn record_response(&self, status: u16, d: Duration) {
        let i = STATUS_CODES.iter().position(|c| *c == status).unwrap_or(STATUS_CODES.len());
        self.responses[i].fetch_add(1, Ordering::Relaxed);
        self.request_seconds.observe_duration(d);
    }

    /// An HTTP response was answered after `d`: its status code, its latency, and the rule it
    /// refused an append by, if any (see `RefusedRule`).
    pub fn record_http(&self, response: &Response, d: Duration) {
        if let Some(RefusedRule(rule)) = response.extensions().get::<RefusedRule>() {
            self.record_refusal(rule);
        }
        self.record_response(response.status().as_u16(), d);
    }

    /// Group commits so far (each one flush + fsync).
    pub fn group_commits(&self) -> u64 {
        self.group_entries.count()
    }

    pub fn appends_accepted(&self) -> u64 {
        self.appends_accepted.load(Ordering::Relaxed)
    }

    /// The exposition text; `tree_size` is read from the published state at scrape time.
    pub fn render(&self, tree_size: u64) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let _ = writeln!(
            out,
            "# HELP ledger_appends_accepted_total Entries newly made durable by group commits.\n\
             # TYPE ledger_appends_accepted_total counter\n\
             ledger_appends_accepted_total {}",
            self.appends_accepted()
        );
        let _ = writeln!(
            out,
            "# HELP ledger_refusals_total Appends (single or batch) refused, by the rule named.\n\
             # TYPE ledger_refusals_total counter"
        );
        let names = RULES.iter().map(|r| r.as_str()).chain(std::iter::once("other"));
        for (name, n) in names.zip(&self.refusals) {
            let _ = writeln!(out, "ledger_refusals_total{{rule=\"{name}\"}} {}", n.load(Ordering::Relaxed));
        }
        self.group_entries.render(
            &mut out,
            "ledger_group_commit_entries",
            "Entries written per group commit.",
        );
        self.flush_seconds.render(
            &mut out,
            "ledger_flush_seconds",
            "Duration of the sled flush and fsync of a group commit, in seconds.",
        );
        let _ = writeln!(
            out,
            "# HELP ledger_tree_size Entries in the published log (the Merkle tree size).\n\
             # TYPE ledger_tree_size gauge\n\
             ledger_tree_size {tree_size}"
        );
        let _ = writeln!(
            out,
            "# HELP ledger_http_responses_total HTTP responses, by status code.\n\
             # TYPE ledger_http_responses_total counter"
        );
        let codes = STATUS_CODES.iter().map(|c| c.to_string()).chain(std::iter::once("other".to_string()));
        for (code, n) in codes.zip(&self.responses) {
            let _ =
                writeln!(out, "ledger_http_responses_total{{code=\"{code}\"}} {}", n.load(Ordering::Relaxed));
        }
        self.request_seconds.render(
            &mut out,
            "ledger_http_request_duration_seconds",
            "Time from a request's arrival to its response head, in seconds.",
        );
        out
    }
}

/// `GET /metrics`.
pub async fn get_metrics(State(node): State<Arc<Node>>) -> Response {
    let size = node.published.read().map(|p| p.state.size()).unwrap_or(0);
    let mut text = node.metrics.render(size);
    node.witnesses.render(&mut text);
    ([(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_are_distinct() {
        let mut names: Vec<&str> = RULES.iter().map(|r| r.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), RULES.len());
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(GROUP_BUCKETS, 1.0);
        for n in [1, 3, 3, 5000] {
            h.observe(n);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"1\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"4\"} 3\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"4096\"} 3\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("x_sum 5007\n") && out.contains("x_count 4\n"), "{out}");
    }
}
