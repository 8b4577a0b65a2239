//! `ledger-node witness`: a c2sp.org/tlog-witness for other logs. For each log it is told
//! about (`--log VKEY`) it keeps the latest checkpoint it cosigned, durably, and cosigns a new
//! one only when a consistency proof shows it extends that one — so it never cosigns two
//! inconsistent checkpoints of one origin, across restarts too. The decision is
//! `ledger_core::witness::check_add_checkpoint`; this file is the shell: HTTP, sled, clock.

use crate::store::durable_flush;
use anyhow::{bail, Context, Result};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ledger_core::checkpoint::{claimed_checkpoint, Checkpoint, LogKey, WitnessSigner};
use ledger_core::limits::ADD_CHECKPOINT_BYTES_MAX;
use ledger_core::witness::{check_add_checkpoint, parse_add_checkpoint, tlog_size_body, WitnessRefusal};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// sled tree: origin → the latest note this witness cosigned for it (as the log signed it).
const LATEST: &str = "latest";
/// The `Content-Type` of a 409 answer's size (c2sp.org/tlog-witness).
const TLOG_SIZE: &str = "text/x.tlog.size";

pub struct Witness {
    signer: WitnessSigner,
    logs: HashMap<String, LogKey>,
    db: sled::Db,
    latest: sled::Tree,
    data_file: PathBuf,
    /// Checking a request against the stored checkpoint and storing the new one happen under
    /// this lock, so two requests can never both pass against the same old state (the race
    /// the protocol warns of).
    decide: Mutex<()>,
}

/// What the witness answers: a status, a content type, a body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Witness {
    pub fn open(dir: &Path, signer: WitnessSigner, log_keys: Vec<LogKey>) -> Result<Witness> {
        let mut logs = HashMap::new();
        for key in log_keys {
            if logs.insert(key.origin().to_string(), key).is_some() {
                bail!("two --log keys for one origin: a witness trusts one key per log");
            }
        }
        let db = sled::Config::new()
            .path(dir)
            .open()
            .with_context(|| format!("opening the witness state in {}", dir.display()))?;
        let latest = db.open_tree(LATEST)?;
        Ok(Witness { signer, logs, latest, data_file: dir.join("db"), db, decide: Mutex::new(()) })
    }

    pub fn verifier_key(&self) -> String {
        self.signer.witness_key().verifier_key()
    }

    fn latest(&self, origin: &str) -> Result<Option<(Checkpoint, String)>> {
        let Some(bytes) = self.latest.get(origin)? else { return Ok(None) };
        let note = String::from_utf8(bytes.to_vec()).context("a stored note is not UTF-8")?;
        let cp =
            claimed_checkpoint(&note).map_err(|e| anyhow::anyhow!("a stored note does not parse: {e}"))?;
        Ok(Some((cp, note)))
    }

    /// One `add-checkpoint` request, start to finish; `now_s` is the cosignature's time.
    pub fn add_checkpoint(&self, body: &[u8], now_s: u64) -> Answer {
        match self.try_add(body, now_s) {
            Ok(line) => Answer { status: 200, content_type: "text/plain; charset=utf-8", body: line },
            Err(Refused::Protocol(r)) => {
                let (content_type, body) = match &r {
                    WitnessRefusal::OldSizeMismatch { known_size }
                    | WitnessRefusal::RootMismatch { known_size } => (TLOG_SIZE, tlog_size_body(*known_size)),
                    other => ("text/plain; charset=utf-8", format!("{other}\n")),
                };
                Answer { status: r.status(), content_type, body }
            }
            Err(Refused::Internal(e)) => {
                tracing::error!("add-checkpoint failed: {e:#}");
                Answer {
                    status: 500,
                    content_type: "text/plain; charset=utf-8",
                    body: "internal error\n".into(),
                }
            }
        }
    }

    fn try_add(&self, body: &[u8], now_s: u64) -> Result<String, Refused> {
        let request = parse_add_checkpoint(body)?;
        let claimed = claimed_checkpoint(&request.note).map_err(WitnessRefusal::MalformedNote)?;
        let log_key = self
            .logs
            .get(&claimed.origin)
            .ok_or_else(|| WitnessRefusal::UnknownLog(claimed.origin.clone()))?;
        let _one = self.decide.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let latest = self.latest(&claimed.origin)?;
        let checkpoint = match check_add_checkpoint(&request, log_key, latest.as_ref().map(|(cp, _)| cp)) {
            Ok(cp) => cp,
            Err(refusal) => {
                if refusal.is_fork_evidence() {
                    // Both notes are signed by the log: together they prove it forked (or
                    // sent a broken proof). Keep them in the log for whoever investigates.
                    tracing::error!(
                        "FORK EVIDENCE for {}: {refusal}\ncosigned before:\n{}\noffered now (old {}):\n{}",
                        claimed.origin,
                        latest.as_ref().map(|(_, n)| n.as_str()).unwrap_or(""),
                        request.old_size,
                        request.note
                    );
                }
                return Err(refusal.into());
            }
        };
        let line =
            self.signer.cosign_line(&checkpoint, now_s).map_err(|e| anyhow::anyhow!("cosigning: {e}"))?;
        if latest.as_ref().is_none_or(|(cp, _)| cp.size < checkpoint.size) {
            self.latest
                .insert(checkpoint.origin.as_bytes(), request.note.as_bytes())
                .map_err(anyhow::Error::from)?;
            // The protocol: persist before answering.
            durable_flush(&self.db, &self.data_file)?;
            tracing::info!("cosigned {} at size {}", checkpoint.origin, checkpoint.size);
        }
        Ok(line)
    }

    fn status_json(&self) -> serde_json::Value {
        let mut logs: Vec<_> = self
            .logs
            .keys()
            .map(|origin| {
                let size = self.latest(origin).ok().flatten().map(|(cp, _)| cp.size);
                json!({"origin": origin, "cosigned_size": size})
            })
            .collect();
        logs.sort_by(|a, b| a["origin"].as_str().cmp(&b["origin"].as_str()));
        json!({"status": "ok", "name": self.signer.witness_key().name(), "vkey": self.verifier_key(), "logs": logs})
    }
}

enum Refused {
    Protocol(WitnessRefusal),
    Internal(anyhow::Error),
}

impl From<WitnessRefusal> for Refused {
    fn from(r: WitnessRefusal) -> Refused {
        Refused::Protocol(r)
    }
}

impl From<anyhow::Error> for Refused {
    fn from(e: anyhow::Error) -> Refused {
        Refused::Internal(e)
    }
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

async fn post_add_checkpoint(State(w): State<Arc<Witness>>, body: Body) -> Response {
    // One byte over the limit is enough to know the body is too long.
    let bytes = match axum::body::to_bytes(body, ADD_CHECKPOINT_BYTES_MAX + 1).await {
        Ok(b) => b,
        Err(_) => {
            return (StatusCode::BAD_REQUEST, format!("the body is over {ADD_CHECKPOINT_BYTES_MAX} bytes\n"))
                .into_response()
        }
    };
    let answer = match tokio::task::spawn_blocking(move || w.add_checkpoint(&bytes, now_s())).await {
        Ok(a) => a,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    };
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(answer.content_type))], answer.body)
        .into_response()
}

async fn get_health(State(w): State<Arc<Witness>>) -> Response {
    Json(w.status_json()).into_response()
}

pub fn app(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(post_add_checkpoint))
        .route("/healthz", get(get_health))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(witness)
}

/// Serves until SIGINT or SIGTERM.
pub async fn serve(
    witness: Arc<Witness>,
    listen: SocketAddr,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let listener = crate::bind(listen).await?;
    on_ready(listener.local_addr()?);
    axum::serve(listener, app(Arc::clone(&witness))).with_graceful_shutdown(crate::shutdown_signal()).await?;
    durable_flush(&witness.db, &witness.data_file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use ledger_core::checkpoint::LogSigner;
    use ledger_core::hash::leaf_hash;
    use ledger_core::merkle::{prove_tree, MemoryHashes};
    use ledger_core::witness::add_checkpoint_body;

    const ORIGIN: &str = "unit.example/log";

    fn tree(tag: &str, n: u64) -> MemoryHashes {
        let mut t = MemoryHashes::new();
        for i in 0..n {
            t.append_leaf(leaf_hash(format!("{tag}{i}").as_bytes()));
        }
        t
    }

    fn note(t: &MemoryHashes) -> String {
        let signer = LogSigner::new(ORIGIN, SigningKey::from_bytes(&[1; 32])).unwrap();
        signer.sign(&Checkpoint { origin: ORIGIN.into(), size: t.size(), root: t.root() }).unwrap()
    }

    fn witness(dir: &Path) -> Witness {
        let log = LogSigner::new(ORIGIN, SigningKey::from_bytes(&[1; 32])).unwrap().log_key().clone();
        let signer = WitnessSigner::new("unit.example/witness", SigningKey::from_bytes(&[2; 32])).unwrap();
        Witness::open(dir, signer, vec![log]).unwrap()
    }

    #[test]
    fn answers_follow_the_protocol_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let a4 = tree("a", 4);
        let a9 = tree("a", 9);
        {
            let w = witness(dir.path());
            let first = w.add_checkpoint(add_checkpoint_body(0, &[], &note(&a4)).as_bytes(), 1_700_000_000);
            assert_eq!(first.status, 200, "{first:?}");
            assert!(first.body.starts_with("\u{2014} unit.example/witness "), "{first:?}");
            // Asking again from 0 answers the witness's size.
            let again = w.add_checkpoint(add_checkpoint_body(0, &[], &note(&a9)).as_bytes(), 1);
            assert_eq!((again.status, again.content_type, again.body.as_str()), (409, TLOG_SIZE, "4\n"));
        }
        // A restart keeps the state: size 4 is still what it cosigned.
        let w = witness(dir.path());
        let fork = w.add_checkpoint(add_checkpoint_body(4, &[], &note(&tree("b", 4))).as_bytes(), 1);
        assert_eq!((fork.status, fork.body.as_str()), (409, "4\n"));
        let bad_proof = w.add_checkpoint(
            add_checkpoint_body(4, &prove_tree(9, 4, &tree("b", 9)).unwrap(), &note(&tree("b", 9)))
                .as_bytes(),
            1,
        );
        assert_eq!(bad_proof.status, 422, "{bad_proof:?}");
        let grow = w.add_checkpoint(
            add_checkpoint_body(4, &prove_tree(9, 4, &a9).unwrap(), &note(&a9)).as_bytes(),
            1,
        );
        assert_eq!(grow.status, 200, "{grow:?}");
        assert_eq!(w.status_json()["logs"][0]["cosigned_size"], 9);
    }

    #[test]
    fn malformed_unknown_and_forged_requests_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let w = witness(dir.path());
        let a4 = tree("a", 4);
        let cases: Vec<(&str, Vec<u8>, u16)> = vec![
            ("garbage", b"hello".to_vec(), 400),
            ("no note", b"old 0\n\n".to_vec(), 400),
            ("over the limit", vec![b'x'; ADD_CHECKPOINT_BYTES_MAX + 1], 400),
            (
                "unknown origin",
                add_checkpoint_body(0, &[], &note(&a4).replace(ORIGIN, "other.example/log")).into_bytes(),
                404,
            ),
            (
                "signed by another key",
                add_checkpoint_body(
                    0,
                    &[],
                    &LogSigner::new(ORIGIN, SigningKey::from_bytes(&[3; 32]))
                        .unwrap()
                        .sign(&Checkpoint { origin: ORIGIN.into(), size: 4, root: a4.root() })
                        .unwrap(),
                )
                .into_bytes(),
                403,
            ),
            ("old above size", add_checkpoint_body(5, &[], &note(&a4)).into_bytes(), 400),
        ];
        for (what, body, status) in cases {
            let answer = w.add_checkpoint(&body, 1);
            assert_eq!(answer.status, status, "{what}: {answer:?}");
        }
        // None of them changed anything.
        assert_eq!(w.status_json()["logs"][0]["cosigned_size"], serde_json::Value::Null);
    }
}
