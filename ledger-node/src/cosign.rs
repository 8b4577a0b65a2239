//! After "sign checkpoint": the node asks the witnesses its log declares (`witness.policy`)
//! to cosign its newest checkpoint, following c2sp.org/tlog-witness, and keeps the
//! cosignatures that verify. It runs on its own thread, at most one round per interval:
//! appends never wait for a witness, and a witness that is down only delays its own line.

use crate::limits::*;
use crate::node::Node;
use anyhow::{bail, Context, Result};
use ledger_core::checkpoint::{LogKey, WitnessKey};
use ledger_core::merkle::prove_tree;
use ledger_core::witness::{add_checkpoint_body, parse_tlog_size, verified_cosignature};
use serde_json::{json, Value};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What each declared witness last answered, for `/healthz` and `/metrics`.
#[derive(Default)]
pub struct WitnessReports(Mutex<Vec<Report>>);

#[derive(Clone, Debug)]
struct Report {
    name: String,
    url: String,
    cosigned_size: Option<u64>,
    failures: u32,
    last_error: Option<String>,
}

impl WitnessReports {
    pub fn to_json(&self) -> Vec<Value> {
        let reports = self.0.lock().map(|r| r.clone()).unwrap_or_default();
        reports
            .iter()
            .map(|r| {
                json!({"name": r.name, "url": r.url, "cosigned_size": r.cosigned_size,
                       "failures": r.failures, "last_error": r.last_error})
            })
            .collect()
    }

    /// Prometheus lines: per witness, the size it last cosigned and its failures in a row.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let reports = self.0.lock().map(|r| r.clone()).unwrap_or_default();
        if reports.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "# HELP ledger_witness_cosigned_size Tree size of the latest checkpoint each witness cosigned.\n\
             # TYPE ledger_witness_cosigned_size gauge"
        );
        for r in &reports {
            let _ = writeln!(
                out,
                "ledger_witness_cosigned_size{{witness=\"{}\"}} {}",
                label(&r.name),
                r.cosigned_size.unwrap_or(0)
            );
        }
        let _ = writeln!(
            out,
            "# HELP ledger_witness_failures Requests to each witness that failed in a row (0: it answers).\n\
             # TYPE ledger_witness_failures gauge"
        );
        for r in &reports {
            let _ = writeln!(out, "ledger_witness_failures{{witness=\"{}\"}} {}", label(&r.name), r.failures);
        }
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// One declared witness as the cosigning thread tracks it.
struct Witness {
    key: WitnessKey,
    url: String,
    /// The size the witness last cosigned, as far as we know (`old` of the next request).
    known_size: u64,
    cosigned_size: Option<u64>,
    failures: u32,
    last_error: Option<String>,
    next_try: Instant,
}

/// Starts the cosigning thread; it ends when the node shuts down.
pub fn spawn(node: Arc<Node>, interval: Duration) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("cosign".into())
        .spawn(move || {
            let agent =
                ureq::AgentBuilder::new().timeout(Duration::from_millis(WITNESS_REQUEST_TIMEOUT_MS)).build();
            let mut witnesses: Vec<Witness> = Vec::new();
            while !node.is_stopping() {
                std::thread::sleep(interval);
                round(&node, &agent, &mut witnesses, interval);
            }
        })
        .context("starting the cosigning thread")
}

/// Brings the tracked witnesses in line with the log's latest `witness.policy`, keeping what
/// is known of the ones that stay.
fn sync_policy(node: &Node, witnesses: &mut Vec<Witness>) {
    let declared: Vec<(String, String)> = match node.published.read() {
        Ok(p) => p
            .state
            .witness_policy()
            .map(|w| w.witnesses.iter().map(|(_, vkey, url)| (vkey.clone(), url.clone())).collect())
            .unwrap_or_default(),
        Err(_) => return,
    };
    let mut next = Vec::with_capacity(declared.len());
    for (vkey, url) in declared {
        // The core checked every vkey when the policy was appended.
        let Ok(key) = WitnessKey::parse(&vkey) else { continue };
        let url = url.trim_end_matches('/').to_string();
        match witnesses.iter().position(|w| w.key == key && w.url == url) {
            Some(i) => next.push(witnesses.swap_remove(i)),
            None => next.push(Witness {
                key,
                url,
                known_size: 0,
                cosigned_size: None,
                failures: 0,
                last_error: None,
                next_try: Instant::now(),
            }),
        }
    }
    *witnesses = next;
}

fn round(node: &Node, agent: &ureq::Agent, witnesses: &mut Vec<Witness>, interval: Duration) {
    sync_policy(node, witnesses);
    publish_reports(node, witnesses);
    let signed = node.published.read().ok().and_then(|p| p.checkpoint.clone());
    if let (Some((size, note)), Some(log_key)) = (signed, node.log_key()) {
        for w in witnesses.iter_mut() {
            if w.cosigned_size == Some(size) || Instant::now() < w.next_try {
                continue;
            }
            match ask(node, agent, w, &log_key, size, &note) {
                Ok(line) => {
                    if let Err(e) = node.add_cosignature(size, &line) {
                        tracing::warn!("keeping the cosignature of {}: {e:#}", w.key.name());
                    }
                    w.known_size = size;
                    w.cosigned_size = Some(size);
                    w.failures = 0;
                    w.last_error = None;
                }
                Err(e) => {
                    w.failures = w.failures.saturating_add(1);
                    let backoff_ms = (interval.as_millis() as u64)
                        .saturating_mul(1u64 << w.failures.min(16))
                        .min(WITNESS_BACKOFF_MAX_MS);
                    w.next_try = Instant::now() + Duration::from_millis(backoff_ms);
                    tracing::warn!(
                        "witness {} at {} did not cosign size {size} ({} failures in a row, next try in {backoff_ms} ms): {e:#}",
                        w.key.name(),
                        w.url,
                        w.failures
                    );
                    w.last_error = Some(format!("{e:#}"));
                }
            }
        }
    }
    publish_reports(node, witnesses);
}

/// Makes what each witness last answered visible to `/healthz` and `/metrics`.
fn publish_reports(node: &Node, witnesses: &[Witness]) {
    let reports = witnesses
        .iter()
        .map(|w| Report {
            name: w.key.name().to_string(),
            url: w.url.clone(),
            cosigned_size: w.cosigned_size,
            failures: w.failures,
            last_error: w.last_error.clone(),
        })
        .collect();
    if let Ok(mut r) = node.witnesses.0.lock() {
        *r = reports;
    }
}

/// One `add-checkpoint` exchange; on 409 it learns the witness's size and tries once more.
fn ask(
    node: &Node,
    agent: &ureq::Agent,
    w: &mut Witness,
    log_key: &LogKey,
    size: u64,
    note: &str,
) -> Result<String> {
    let endpoint = format!("{}/add-checkpoint", w.url);
    for _ in 0..2 {
        let old = w.known_size;
        if old > size {
            bail!("the witness has cosigned size {old}, beyond this log's {size}: it saw another history of this log");
        }
        let proof = if old == 0 || old == size { Vec::new() } else { prove_tree(size, old, &node.store)? };
        let body = add_checkpoint_body(old, &proof, note);
        let (status, content_type, text) = match agent.post(&endpoint).send_string(&body) {
            Ok(r) => read_answer(r)?,
            Err(ureq::Error::Status(_, r)) => read_answer(r)?,
            Err(e) => return Err(e).with_context(|| format!("POST {endpoint}")),
        };
        match status {
            200 => {
                return verified_cosignature(note, &text, log_key, &w.key)
                    .context("the answer holds no valid cosignature by this witness's key");
            }
            409 if content_type.starts_with("text/x.tlog.size") => {
                let known = parse_tlog_size(&text).context("a 409 answer without a size")?;
                if known == old {
                    bail!("the witness refuses (409) the checkpoint at its own size {old}: another root than it cosigned");
                }
                w.known_size = known;
            }
            _ => bail!("HTTP {status}: {}", text.trim()),
        }
    }
    bail!("the witness's size kept changing")
}

fn read_answer(r: ureq::Response) -> Result<(u16, String, String)> {
    let status = r.status();
    let content_type = r.content_type().to_string();
    let mut text = String::new();
    r.into_reader().take(WITNESS_ANSWER_BYTES_MAX).read_to_string(&mut text).context("reading the answer")?;
    Ok((status, content_type, text))
}
