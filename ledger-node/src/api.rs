//! The HTTP API of INTERFACES.md. `app(node)` builds the router so tests can drive it with
//! `oneshot`; `serve` puts it on a socket. Appends run steps 1–3 here (size, syntax,
//! signatures, in parallel) and hand verified envelopes to the sequencer for steps 4–7.

use crate::limits::*;
use crate::node::{Accepted, AppendError, Node, Published};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use ledger_core::disclosure::{self, Export};
use ledger_core::dsse::{Envelope, KeyCache, VerifiedEnvelope};
use ledger_core::encoding::{b64_encode, hash_from_hex};
use ledger_core::entry::Entry;
use ledger_core::hash::Hash;
use ledger_core::merkle::{prove_record, prove_tree, stored_hash_index, HashReader};
use ledger_core::refusal::{Code, Refusal, Rule};
use ledger_core::tiles::Tile;
use ledger_core::types::Kind;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Every error the API answers, with the body of SPEC.md §8.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: &'static str,
    message: String,
    rule: Option<&'static str>,
    index: Option<usize>,
    seq: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, error, message: message.into(), rule: None, index: None, seq: None }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    fn too_large(message: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message);
        e.rule = Some(Rule::TooLarge.as_str());
        e
    }
    fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!("internal error: {e}");
        ApiError::unavailable(format!("the node could not answer: {e}"))
    }
    fn refused(refusal: Refusal, index: Option<usize>) -> ApiError {
        let code = refusal.code();
        let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        let error = match code {
            Code::Chain | Code::Invariant => "unavailable",
            c => c.as_str(),
        };
        ApiError {
            status,
            error,
            message: refusal.message.clone(),
            rule: Some(refusal.rule.as_str()),
            index,
            seq: refusal.seq,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.error, "message": self.message});
        if let Some(rule) = self.rule {
            body["rule"] = json!(rule);
        }
        if let Some(index) = self.index {
            body["index"] = json!(index);
        }
        if let Some(seq) = self.seq {
            body["seq"] = json!(seq);
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(rule) = self.rule {
            response.extensions_mut().insert(crate::metrics::RefusedRule(rule));
        }
        response
    }
}

impl From<AppendError> for ApiError {
    fn from(e: AppendError) -> ApiError {
        match e {
            AppendError::Refused { index, refusal } => ApiError::refused(refusal, index),
            AppendError::Unavailable(m) => ApiError::unavailable(m),
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;
type Shared = Arc<Node>;

/// The router of INTERFACES.md with the node's limits as layers.
pub fn app(node: Arc<Node>) -> Router {
    let guard = Arc::new(Guard {
        node: Arc::clone(&node),
        in_flight: tokio::sync::Semaphore::new(CONCURRENT_REQUESTS_MAX),
    });
    let mut router = Router::new();
    for (path, methods) in routes() {
        router = router.route(path, methods);
    }
    router
        .merge(crate::page::routes())
        // Applies to the routes above only: keep it after the last route.
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "no such method on this path")
        })
        .fallback(|| async { ApiError::not_found("no such path") })
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(guard, guard_request))
        .with_state(node)
}

/// What every request passes through: the limits on requests in flight and on their duration,
/// and the metrics. One middleware rather than a stack of tower layers: axum applies a layer
/// to each route separately and clones its services for every request, so each layer cost an
/// allocation or two per request, and each route had a limit of its own.
struct Guard {
    node: Arc<Node>,
    /// `CONCURRENT_REQUESTS_MAX` permits for the whole router: one more request is shed (503)
    /// at once rather than queued.
    in_flight: tokio::sync::Semaphore,
}

async fn guard_request(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let response = match guard.in_flight.try_acquire() {
        Ok(_permit) => {
            match tokio::time::timeout(Duration::from_millis(REQUEST_TIMEOUT_MS), next.run(req)).await {
                Ok(response) => response,
                Err(_) => ApiError::unavailable("the request took too long").into_response(),
            }
        }
        Err(_) => ApiError::unavailable(format!(
            "the node is overloaded: more than {CONCURRENT_REQUESTS_MAX} requests at once"
        ))
        .into_response(),
    };
    // Counted here, outermost, so what the limits answer is counted too.
    guard.node.metrics.record_http(&response, start.elapsed());
    response
}

/// The API's routes, in one table that `app()` serves and the OpenAPI document must cover.
pub fn routes() -> Vec<(&'static str, MethodRouter<Shared>)> {
    vec![
        ("/v1/entries", post(post_entry).get(get_entries)),
        ("/v1/batch", post(post_batch)),
        ("/v1/entries/{seq}", get(get_entry)),
        ("/v1/export", get(get_export)),
        ("/checkpoint", get(get_checkpoint)),
        ("/tile/{*path}", get(get_tile)),
        ("/v1/log-key", get(get_log_key)),
        ("/v1/proof/inclusion", get(get_inclusion)),
        ("/v1/proof/consistency", get(get_consistency)),
        ("/v1/balances", get(get_balances)),
        ("/v1/exports/{name}", get(get_exports)),
        ("/v1/funds", get(get_funds)),
        ("/v1/funds/{id}", get(get_fund)),
        ("/v1/cases/{id}", get(get_case)),
        ("/v1/donations/{id}", get(get_donation)),
        ("/v1/donations/{id}/receipt", get(get_receipt)),
        ("/v1/lookup", get(get_lookup)),
        ("/v1/complaints/{id}", get(get_complaint)),
        ("/v1/audits/{id}", get(get_audit)),
        ("/v1/events/{id}", get(get_event)),
        ("/healthz", get(get_health)),
        ("/metrics", get(crate::metrics::get_metrics)),
        ("/openapi.json", get(crate::openapi::get_openapi)),
    ]
}

/// Every path the router serves, the API's and the page's, spelled as OpenAPI templates (axum's
/// catch-all `{*path}` is OpenAPI's `{path}`).
pub fn route_paths() -> Vec<String> {
    routes().into_iter().chain(crate::page::table()).map(|(path, _)| path.replace("{*", "{")).collect()
}

/// axum's `Path` and `Query` under their names, answering a parameter that does not parse
/// (`?limit=ten`, `?start=-1`, an id that is not UTF-8) with `bad_request` and the SPEC.md §8
/// body rather than axum's plain-text 400.
pub struct Path<T>(pub T);
pub struct Query<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(t)) => Ok(Path(t)),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(t)) => Ok(Query(t)),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

async fn read_body(body: Body, limit: usize) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::too_large(format!("request body is over the limit of {limit} bytes")))
}

/// A mirror serves reads only: appends belong to the log it follows.
fn refuse_on_mirror(node: &Node) -> ApiResult<()> {
    match node.mirror_of() {
        Some(upstream) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "mirror_read_only",
            format!("this node is a read-only mirror of {upstream}: submit entries to the log itself"),
        )),
        None => Ok(()),
    }
}

fn verify_one(cache: &KeyCache, bytes: &[u8]) -> Result<VerifiedEnvelope, Refusal> {
    Envelope::from_json(bytes)?.into_verified(Some(cache))
}

async fn post_entry(State(node): State<Shared>, body: Body) -> ApiResult<Response> {
    refuse_on_mirror(&node)?;
    let bytes = read_body(body, ENTRY_REQUEST_BYTES_MAX).await?;
    // Verified on rayon's pool (as many threads as cores, which stay awake while there is
    // work) and queued from there: the request's task sleeps once, until the answer. With
    // `spawn_blocking` and a second await, single POSTs took a sixth more CPU
    // (docs/PERFORMANCE.md).
    let (reply, answer) = tokio::sync::oneshot::channel();
    let appender = Arc::clone(&node);
    rayon::spawn(move || {
        // A panic in a rayon job would abort the process; `spawn_blocking` turned it into a 500.
        let verify = std::panic::AssertUnwindSafe(|| verify_one(&appender.keys, &bytes));
        let verified = std::panic::catch_unwind(verify);
        match verified {
            Ok(Ok(envelope)) => appender.queue_append(envelope, reply),
            Ok(Err(refusal)) => {
                let _ = reply.send(Err(AppendError::Refused { index: None, refusal }));
            }
            Err(_) => {
                let _ = reply.send(Err(AppendError::Unavailable("verifying the envelope failed".into())));
            }
        }
    });
    let accepted =
        answer.await.unwrap_or_else(|_| Err(AppendError::Unavailable("the sequencer stopped".into())));
    match accepted? {
        Accepted::New { first_seq, leaf_hashes, checkpoint } => Ok((
            StatusCode::CREATED,
            Json(json!({"seq": first_seq, "leaf_hash": leaf_hashes.first().map(|h| h.to_hex()), "checkpoint": checkpoint})),
        )
            .into_response()),
        Accepted::Existing { seqs } => Ok((StatusCode::OK, Json(json!({"seq": seqs.first()}))).into_response()),
        Accepted::Checked(_) => Err(ApiError::internal("the sequencer answered an append with a dry run")),
    }
}

#[derive(Deserialize)]
struct BatchQuery {
    /// `1` (or `true`): run every rule, report each envelope's verdict, append nothing.
    dry_run: Option<String>,
}

/// Parses a batch body: a JSON array of 1 to `BATCH_ENVELOPES_MAX` envelopes, each verified
/// (steps 1–3) on every core. Each element is the envelope or its refusal.
fn verify_batch(node: &Node, bytes: &[u8]) -> ApiResult<Vec<Result<VerifiedEnvelope, Refusal>>> {
    let items: Vec<&serde_json::value::RawValue> = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::refused(
            Refusal::new(Rule::Json, format!("a batch is a JSON array of envelopes: {e}")),
            None,
        )
    })?;
    if items.is_empty() {
        return Err(ApiError::refused(
            Refusal::new(Rule::Field, "a batch holds at least one envelope"),
            None,
        ));
    }
    if items.len() > BATCH_ENVELOPES_MAX {
        return Err(ApiError::too_large(format!("a batch holds at most {BATCH_ENVELOPES_MAX} envelopes")));
    }
    Ok(items.par_iter().map(|raw| verify_one(&node.keys, raw.get().as_bytes())).collect())
}

/// `POST /v1/batch?dry_run=1`: every envelope through steps 1–7 against the current state,
/// as if the batch were appended, and every refusal reported with its index; nothing is
/// appended. An importer lists all bad rows of a spreadsheet this way, judged by the node's
/// own rules rather than a copy of them.
async fn post_batch_dry_run(node: Shared, bytes: Bytes) -> ApiResult<Response> {
    let verifier = Arc::clone(&node);
    let verified = tokio::task::spawn_blocking(move || verify_batch(&verifier, &bytes))
        .await
        .map_err(ApiError::internal)??;
    let count = verified.len();
    let mut refused: Vec<(usize, Refusal)> = Vec::new();
    let mut indexes = Vec::new();
    let mut envelopes = Vec::new();
    for (i, r) in verified.into_iter().enumerate() {
        match r {
            Ok(e) => {
                indexes.push(i);
                envelopes.push(e);
            }
            Err(refusal) => refused.push((i, refusal)),
        }
    }
    let mut report = crate::node::DryRun::default();
    if !envelopes.is_empty() {
        report = node.dry_run(envelopes).await?;
    }
    // Back from positions among the verified envelopes to positions in the request.
    let at = |i: usize| indexes.get(i).copied().unwrap_or(i);
    refused.extend(report.refused.into_iter().map(|(i, r)| (at(i), r)));
    refused.sort_by_key(|(i, _)| *i);
    let refusals: Vec<Value> = refused
        .iter()
        .map(|(i, r)| {
            let mut v = json!({"index": i, "rule": r.rule.as_str(), "message": r.message});
            if let Some(seq) = r.seq {
                v["seq"] = json!(seq);
            }
            v
        })
        .collect();
    Ok(Json(json!({
        "dry_run": true,
        "count": count,
        "new": report.new.into_iter().map(at).collect::<Vec<_>>(),
        "existing": report.existing.into_iter().map(|(i, seq)| json!({"index": at(i), "seq": seq})).collect::<Vec<_>>(),
        "refusals": refusals,
    }))
    .into_response())
}

async fn post_batch(
    State(node): State<Shared>,
    Query(q): Query<BatchQuery>,
    body: Body,
) -> ApiResult<Response> {
    refuse_on_mirror(&node)?;
    let bytes = read_body(body, BATCH_REQUEST_BYTES_MAX).await?;
    match q.dry_run.as_deref() {
        None | Some("0") | Some("false") => {}
        Some("1") | Some("true") => return post_batch_dry_run(node, bytes).await,
        Some(other) => return Err(ApiError::bad_request(format!("dry_run is 1 or 0, not {other:?}"))),
    }
    let verifier = Arc::clone(&node);
    let envelopes = tokio::task::spawn_blocking(move || -> ApiResult<Vec<VerifiedEnvelope>> {
        // Steps 1–3 over the whole batch first (SPEC.md §8), on every core.
        verify_batch(&verifier, &bytes)?
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.map_err(|refusal| ApiError::refused(refusal, Some(i))))
            .collect()
    })
    .await
    .map_err(ApiError::internal)??;
    let count = envelopes.len();
    match node.append(envelopes, true).await? {
        Accepted::New { first_seq, checkpoint, .. } => Ok((
            StatusCode::CREATED,
            Json(json!({"first_seq": first_seq, "count": count, "checkpoint": checkpoint})),
        )
            .into_response()),
        Accepted::Existing { seqs } => Ok((StatusCode::OK, Json(json!({"seqs": seqs}))).into_response()),
        Accepted::Checked(_) => Err(ApiError::internal("the sequencer answered an append with a dry run")),
    }
}

#[derive(Deserialize)]
struct PageQuery {
    start: Option<u64>,
    limit: Option<u64>,
}

/// The size readers may see: the latest checkpoint's.
fn published_size(node: &Node) -> ApiResult<u64> {
    let p = node.published.read().map_err(ApiError::internal)?;
    Ok(p.checkpoint.as_ref().map_or(0, |(s, _)| *s))
}

fn jsonl(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"))], body).into_response()
}

async fn get_entries(State(node): State<Shared>, Query(q): Query<PageQuery>) -> ApiResult<Response> {
    let size = published_size(&node)?;
    let start = q.start.unwrap_or(0);
    let limit = q.limit.unwrap_or(PAGE_ENTRIES_MAX);
    if limit == 0 || limit > PAGE_ENTRIES_MAX {
        return Err(ApiError::bad_request(format!("limit must be 1 to {PAGE_ENTRIES_MAX}")));
    }
    if start > size {
        return Err(ApiError::bad_request(format!("start {start} is beyond the log's size {size}")));
    }
    let end = start.saturating_add(limit).min(size);
    let mut out = Vec::new();
    for bytes in node.store.entries(start, end) {
        out.extend_from_slice(&bytes.map_err(ApiError::internal)?);
        out.push(b'\n');
    }
    Ok(jsonl(out))
}

async fn get_entry(State(node): State<Shared>, Path(seq): Path<String>) -> ApiResult<Response> {
    let seq: u64 = seq.parse().map_err(|_| ApiError::bad_request("seq is a non-negative integer"))?;
    if seq >= published_size(&node)? {
        return Err(ApiError::not_found(format!("no entry at seq {seq}")));
    }
    let bytes =
        node.store.entry(seq).map_err(ApiError::internal)?.ok_or_else(|| ApiError::not_found("no entry"))?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes.to_vec())
        .into_response())
}

async fn get_export(State(node): State<Shared>) -> ApiResult<Response> {
    let size = published_size(&node)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(16);
    let store = node.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(1 << 20);
        for bytes in store.entries(0, size) {
            match bytes {
                Ok(b) => {
                    chunk.extend_from_slice(&b);
                    chunk.push(b'\n');
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            }
            if chunk.len() >= 1 << 20 && tx.blocking_send(Ok(std::mem::take(&mut chunk))).is_err() {
                return;
            }
        }
        let _ = tx.blocking_send(Ok(chunk));
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"))],
        Body::from_stream(stream),
    )
        .into_response())
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], body).into_response()
}

/// The latest checkpoint with every witness cosignature gathered for it.
async fn get_checkpoint(State(node): State<Shared>) -> ApiResult<Response> {
    match node.checkpoint_note() {
        Some((_, note)) => {
            let mut response = text(note);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static(crate::tiles::CACHE_CHECKPOINT));
            Ok(response)
        }
        None => Err(ApiError::not_found("the log is empty: no checkpoint yet")),
    }
}

/// `GET /tile/<L>/<N>[.p/<W>]` and `GET /tile/entries/<N>[.p/<W>]` (C2SP tlog-tiles). Any tile
/// the latest checkpoint's tree holds is served, partial tiles of older checkpoints too (a
/// prefix of the data), since tlog-tiles asks logs to keep serving those.
async fn get_tile(State(node): State<Shared>, Path(path): Path<String>) -> ApiResult<Response> {
    let tile = Tile::parse_path(&format!("tile/{path}")).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let size = published_size(&node)?;
    if !tile.within(size) {
        return Err(ApiError::not_found(format!(
            "{} is beyond the latest checkpoint (size {size})",
            tile.path()
        )));
    }
    let store = node.store.clone();
    let bytes = tokio::task::spawn_blocking(move || crate::tiles::tile_bytes(&store, &tile))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let cache =
        if tile.is_partial() { crate::tiles::CACHE_PARTIAL_TILE } else { crate::tiles::CACHE_FULL_TILE };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        bytes,
    )
        .into_response())
}

pub fn log_key_string(node: &Node) -> ApiResult<String> {
    verifier_key(node).map(str::to_string)
}

fn verifier_key(node: &Node) -> ApiResult<&str> {
    node.verifier_key().ok_or_else(|| ApiError::not_found("the log has no genesis yet"))
}

async fn get_log_key(State(node): State<Shared>) -> ApiResult<Response> {
    Ok(text(verifier_key(&node)?.to_string()))
}

#[derive(Deserialize)]
struct InclusionQuery {
    seq: Option<u64>,
    size: Option<u64>,
}

/// Proof hashes in the JSON of INTERFACES.md: an array of standard base64 strings.
struct Base64Hashes(Vec<Hash>);

impl Serialize for Base64Hashes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        // 32 bytes are 44 base64 characters: encoded on the stack, not in a String each.
        let mut buf = [0u8; 44];
        for h in &self.0 {
            let n = base64::engine::general_purpose::STANDARD
                .encode_slice(h.0, &mut buf)
                .map_err(serde::ser::Error::custom)?;
            let text = std::str::from_utf8(&buf[..n]).map_err(serde::ser::Error::custom)?;
            seq.serialize_element(text)?;
        }
        seq.end()
    }
}

fn inclusion_proof(node: &Node, seq: u64, size: u64) -> ApiResult<Base64Hashes> {
    let latest = published_size(node)?;
    if size > latest {
        return Err(ApiError::bad_request(format!("size {size} is beyond the latest checkpoint ({latest})")));
    }
    if seq >= size {
        return Err(ApiError::bad_request(format!("seq {seq} is not in a tree of size {size}")));
    }
    prove_record(size, seq, &node.store).map(Base64Hashes).map_err(ApiError::internal)
}

/// The answer of `GET /v1/proof/inclusion`. Fields in the order `json!` wrote them (by name),
/// so the bytes are what they were.
#[derive(Serialize)]
struct InclusionAnswer {
    leaf_hash: String,
    proof: Base64Hashes,
    seq: u64,
    size: u64,
}

async fn get_inclusion(State(node): State<Shared>, Query(q): Query<InclusionQuery>) -> ApiResult<Response> {
    let seq = q.seq.ok_or_else(|| ApiError::bad_request("seq is required"))?;
    let size = match q.size {
        Some(s) => s,
        None => published_size(&node)?,
    };
    let proof = inclusion_proof(&node, seq, size)?;
    // The leaf's hash as the tree stores it (seq < size ≤ the published size, so it is
    // there): beside the proof's lowest hashes in sled, where the entry is a read of its own.
    let leaf = node
        .store
        .read_hashes(&[stored_hash_index(0, seq)])
        .map_err(ApiError::internal)?
        .first()
        .copied()
        .ok_or_else(|| ApiError::internal("the store answered no leaf hash"))?;
    Ok(Json(InclusionAnswer { leaf_hash: leaf.to_hex(), proof, seq, size }).into_response())
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    from: Option<u64>,
    to: Option<u64>,
}

async fn get_consistency(
    State(node): State<Shared>,
    Query(q): Query<ConsistencyQuery>,
) -> ApiResult<Response> {
    let latest = published_size(&node)?;
    let from = q.from.ok_or_else(|| ApiError::bad_request("from is required"))?;
    let to = q.to.unwrap_or(latest);
    if to > latest {
        return Err(ApiError::bad_request(format!("to {to} is beyond the latest checkpoint ({latest})")));
    }
    if from == 0 || from > to {
        return Err(ApiError::bad_request("a consistency proof needs 1 ≤ from ≤ to"));
    }
    let proof = prove_tree(to, from, &node.store).map_err(ApiError::internal)?;
    let proof: Vec<String> = proof.iter().map(|h| h.to_base64()).collect();
    Ok(Json(json!({"from": from, "to": to, "proof": proof})).into_response())
}

#[derive(Deserialize)]
struct SizeQuery {
    size: Option<u64>,
}

async fn get_balances(State(node): State<Shared>, Query(q): Query<SizeQuery>) -> ApiResult<Response> {
    let latest = published_size(&node)?;
    let size = q.size.unwrap_or(latest);
    if size > latest {
        return Err(ApiError::bad_request(format!("size {size} is beyond the latest checkpoint ({latest})")));
    }
    let balances = tokio::task::spawn_blocking(move || node.balances_at(size))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(serde_json::to_value(&*balances).map_err(ApiError::internal)?).into_response())
}

/// `GET /v1/exports/{name}?size=M`: a disclosure export (ledger_core::disclosure) of the log
/// at tree size M (default: the latest checkpoint's), replayed from the stored entries.
static EXPORT_REPLAYS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(EXPORT_REPLAYS_MAX);

async fn get_exports(
    State(node): State<Shared>,
    Path(name): Path<String>,
    Query(q): Query<SizeQuery>,
) -> ApiResult<Response> {
    let export = Export::parse(&name).ok_or_else(|| {
        ApiError::not_found(format!(
            "no export {name:?}: donations.csv, allocations.csv, disbursements.csv, funds.csv, cases.csv, \
             iati.xml, 360giving.csv, report-YYYYQn.md, report-YYYYQn.html"
        ))
    })?;
    let latest = published_size(&node)?;
    let size = q.size.unwrap_or(latest);
    if size > latest {
        return Err(ApiError::bad_request(format!("size {size} is beyond the latest checkpoint ({latest})")));
    }
    // An export replays the log up to `size`: seconds of processor time on a big log, which
    // anyone can ask for. At most `EXPORT_REPLAYS_MAX` run at once; more are told to retry.
    let _replay = EXPORT_REPLAYS.try_acquire().map_err(|_| {
        ApiError::unavailable(
            "an export is being computed: retry in a few seconds, or run ledger-verify export",
        )
    })?;
    let bytes = tokio::task::spawn_blocking(move || -> anyhow::Result<Result<Vec<u8>, String>> {
        let (book, state) = node.disclosure_at(size)?;
        Ok(disclosure::render(export, &book, &state))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?
    .map_err(ApiError::not_found)?;
    let disposition = format!("inline; filename=\"{}\"", export.name());
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(export.content_type())),
            (header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).map_err(ApiError::internal)?),
        ],
        bytes,
    )
        .into_response())
}

/// The event body at `seq`, as JSON.
pub fn body_at(node: &Node, seq: u64) -> ApiResult<Value> {
    let bytes =
        node.store.entry(seq).map_err(ApiError::internal)?.ok_or_else(|| ApiError::not_found("no entry"))?;
    let entry = Entry::parse(&bytes).map_err(ApiError::internal)?;
    let body = ledger_core::encoding::b64_decode_canonical(&entry.envelope.payload)
        .ok_or_else(|| ApiError::internal("stored payload is not base64"))?;
    let mut v: Value = serde_json::from_slice(&body).map_err(ApiError::internal)?;
    v["_seq"] = json!(seq);
    v["_time"] = json!(entry.time.as_str());
    Ok(v)
}

/// The seq of the object `id`, which must be of `kind`.
fn object_seq(node: &Node, id: &str, kind: Kind) -> ApiResult<u64> {
    let p = node.published.read().map_err(ApiError::internal)?;
    seq_of(&p, id, kind)
}

/// `object_seq` under a lock the caller holds.
fn seq_of(p: &Published, id: &str, kind: Kind) -> ApiResult<u64> {
    match p.state.lookup(id) {
        Some((seq, k)) if k == kind => Ok(seq),
        _ => Err(ApiError::not_found(format!("no {kind} with id {id}"))),
    }
}

async fn get_funds(State(node): State<Shared>) -> ApiResult<Response> {
    let balances = {
        let p = node.published.read().map_err(ApiError::internal)?;
        p.state.balances().funds
    };
    let mut out = Vec::new();
    for (id, balance) in balances {
        let seq = object_seq(&node, &id, Kind::FundOpened)?;
        let body = body_at(&node, seq)?;
        out.push(json!({
            "id": id, "seq": seq, "name": body["name"], "sponsor": body.get("sponsor"),
            "programme": balance.programme, "restricted": balance.restricted, "closed": balance.closed,
            "cash_fen": balance.cash_fen, "goods": balance.goods,
        }));
    }
    Ok(Json(json!({"funds": out})).into_response())
}

async fn get_fund(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let seq = object_seq(&node, &id, Kind::FundOpened)?;
    let balance = {
        let p = node.published.read().map_err(ApiError::internal)?;
        p.state.fund(&id).ok_or_else(|| ApiError::not_found("no fund"))?
    };
    let body = body_at(&node, seq)?;
    Ok(Json(json!({"id": id, "seq": seq, "fund": body, "balance": balance})).into_response())
}

async fn get_case(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let seq = object_seq(&node, &id, Kind::CaseOpened)?;
    Ok(Json(crate::views::case_json(&node, &id, seq)?).into_response())
}

/// The answer of `GET /v1/donations/{id}`, fields in the order `json!` wrote them. Serialised
/// straight from its parts: `json!` copied the body and the trace into a new tree first.
#[derive(Serialize)]
struct DonationAnswer {
    donation: Value,
    seq: u64,
    trace: Vec<Value>,
}

async fn get_donation(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let (seq, trace) = {
        let p = node.published.read().map_err(ApiError::internal)?;
        let seq = seq_of(&p, &id, Kind::DonationReceived)?;
        (seq, p.state.trace(&id).ok_or_else(|| ApiError::not_found("no donation"))?)
    };
    let trace: Vec<Value> = trace.iter().map(|p| p.to_json()).collect();
    Ok(Json(DonationAnswer { donation: body_at(&node, seq)?, seq, trace }).into_response())
}

async fn get_receipt(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let seq = object_seq(&node, &id, Kind::DonationReceived)?;
    let (size, note) = node.checkpoint_note().ok_or_else(|| ApiError::not_found("no checkpoint"))?;
    let bytes =
        node.store.entry(seq).map_err(ApiError::internal)?.ok_or_else(|| ApiError::not_found("no entry"))?;
    let proof = inclusion_proof(&node, seq, size)?;
    Ok(Json(ReceiptAnswer {
        checkpoint: &note,
        entry_b64: b64_encode(&bytes),
        log_key: verifier_key(&node)?,
        proof,
        seq,
        size,
    })
    .into_response())
}

/// The answer of `GET /v1/donations/{id}/receipt`, fields in the order `json!` wrote them.
#[derive(Serialize)]
struct ReceiptAnswer<'a> {
    checkpoint: &'a str,
    entry_b64: String,
    log_key: &'a str,
    proof: Base64Hashes,
    seq: u64,
    size: u64,
}

#[derive(Deserialize)]
struct LookupQuery {
    commitment: Option<String>,
}

async fn get_lookup(State(node): State<Shared>, Query(q): Query<LookupQuery>) -> ApiResult<Response> {
    let text = q.commitment.ok_or_else(|| ApiError::bad_request("commitment is required"))?;
    let commitment = hash_from_hex(&text)
        .ok_or_else(|| ApiError::bad_request("commitment is 64 lower-case hex characters"))?;
    let p = node.published.read().map_err(ApiError::internal)?;
    let seqs = p.commitments.get(&commitment).cloned().unwrap_or_default();
    let objects: Vec<Value> = seqs
        .iter()
        .take(LOOKUP_RESULTS_MAX)
        .filter_map(|&s| p.state.id_at(s).map(|id| (s, id.to_string())))
        .filter_map(|(s, id)| {
            p.state.lookup(&id).map(|(_, kind)| json!({"seq": s, "id": id, "kind": kind.as_str()}))
        })
        .collect();
    Ok(Json(json!({"commitment": text, "objects": objects})).into_response())
}

async fn get_complaint(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let seq = object_seq(&node, &id, Kind::ComplaintFiled)?;
    Ok(Json(crate::views::complaint_json(&node, &id, seq)?).into_response())
}

async fn get_audit(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let seq = object_seq(&node, &id, Kind::AuditPlanned)?;
    Ok(Json(crate::views::audit_json(&node, &id, seq)?).into_response())
}

async fn get_event(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let seq = {
        let p = node.published.read().map_err(ApiError::internal)?;
        p.state
            .lookup(&id)
            .map(|(s, _)| s)
            .ok_or_else(|| ApiError::not_found(format!("no event with id {id}")))?
    };
    Ok(Json(json!({"seq": seq, "event": body_at(&node, seq)?})).into_response())
}

/// `status` is "ok" unless a mirror holds fork evidence against its upstream ("fork"); a
/// witness that does not answer is reported but never makes the node unhealthy, since appends
/// do not wait for witnesses.
async fn get_health(State(node): State<Shared>) -> ApiResult<Response> {
    let (size, checkpoint_size) = {
        let p = node.published.read().map_err(ApiError::internal)?;
        (p.state.size(), p.checkpoint.as_ref().map(|c| c.0))
    };
    let mut body = json!({"status": "ok", "size": size, "checkpoint_size": checkpoint_size});
    let witnesses = node.witnesses.to_json();
    if !witnesses.is_empty() {
        body["witnesses"] = Value::Array(witnesses);
    }
    if let Some(upstream) = node.mirror_of() {
        let follow = node.follow.to_json();
        if follow.get("fork").is_some() {
            body["status"] = json!("fork");
        }
        body["mirror"] = json!({"upstream": upstream, "follow": follow});
    }
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed answers serialise to the bytes the `json!` maps they replaced did (keys in
    /// name order, since serde_json's map is a B-tree).
    #[test]
    fn typed_answers_keep_their_bytes() {
        let hashes = vec![Hash([1; 32]), Hash([2; 32])];
        let strings: Vec<String> = hashes.iter().map(|h| h.to_base64()).collect();
        fn bytes(v: &impl Serialize) -> Vec<u8> {
            serde_json::to_vec(v).unwrap()
        }
        let leaf = Hash([3; 32]).to_hex();
        let inclusion =
            InclusionAnswer { leaf_hash: leaf.clone(), proof: Base64Hashes(hashes.clone()), seq: 5, size: 9 };
        let before = json!({"seq": 5, "size": 9, "leaf_hash": leaf, "proof": strings});
        assert_eq!(bytes(&inclusion), bytes(&before));
        let note = "example.org/log\n9\nAAAA\n\n\u{2014} example.org/log sig\n";
        let receipt = ReceiptAnswer {
            checkpoint: note,
            entry_b64: "e30=".into(),
            log_key: "example.org/log+01234567+AQ==",
            proof: Base64Hashes(hashes),
            seq: 5,
            size: 9,
        };
        let before = json!({
            "seq": 5, "entry_b64": "e30=", "size": 9, "proof": strings,
            "checkpoint": note, "log_key": "example.org/log+01234567+AQ==",
        });
        assert_eq!(bytes(&receipt), bytes(&before));
        let body =
            json!({"id": "d-1", "kind": "donation.received", "_seq": 5, "_time": "2026-01-01T00:00:00Z"});
        let trace = vec![json!({"state": "in_fund", "fund": "f-1", "amount_fen": 100})];
        let donation = DonationAnswer { donation: body.clone(), seq: 5, trace: trace.clone() };
        let before = json!({"seq": 5, "donation": body, "trace": trace});
        assert_eq!(bytes(&donation), bytes(&before));
    }
}
