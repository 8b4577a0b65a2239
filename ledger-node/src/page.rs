//! The public transparency page (`GET /` and its embedded assets) and the two read-only
//! documents only the page needs: `/v1/summary` (the home page's figures, flows and newest
//! events, in one request) and `/v1/activity/{id}` (the newest entries naming an object).
//!
//! The page is static HTML, CSS and JS compiled into the binary: no CDN, no build step. The
//! one thing rendered per request is the log's verifier key, so the browser checks receipts
//! against the key this node was started with rather than the key a receipt carries.

use crate::api::{body_at, log_key_string, ApiError, Path, Query};
use crate::node::Node;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use ledger_core::encoding::escape_markup;
use ledger_core::merkle::tree_hash;
use ledger_core::rules::{PortionPlace, State as Projection};
use ledger_core::types::{Kind, Programme};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

type ApiResult<T> = Result<T, ApiError>;
type Shared = Arc<Node>;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const I18N_JS: &str = include_str!("../assets/i18n.js");
const APP_CSS: &str = include_str!("../assets/app.css");
const FAVICON_SVG: &str = include_str!("../assets/favicon.svg");

/// A summary younger than this is served as it is, even if the log has grown since.
const SUMMARY_FRESH_MS: u64 = 2_000;
/// Newest events on the home page.
const SUMMARY_RECENT_MAX: u64 = 20;
/// Entries answered by one `/v1/activity/{id}`.
const ACTIVITY_LIMIT_MAX: usize = 100;
/// Complaints and audit plans listed on the home page (newest first).
const OVERSIGHT_LIST_MAX: usize = 200;
/// Donations whose trace is computed while looking for example receipts: the search stops
/// there, so a huge log cannot make the summary slow.
const EXAMPLE_SEARCH_MAX: usize = 5_000;

/// Who may load the page's parts: only this node. Scripts and styles come from files (no
/// inline code), so a value that slipped into the page could not run.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Routes of the page; merged into the API router.
pub fn routes() -> Router<Arc<Node>> {
    table().into_iter().fold(Router::new(), |router, (path, methods)| router.route(path, methods))
}

/// The page's routes as a table (the OpenAPI document must cover each).
pub fn table() -> Vec<(&'static str, MethodRouter<Arc<Node>>)> {
    vec![
        ("/", get(get_index)),
        ("/index.html", get(get_index)),
        ("/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) })),
        ("/assets/i18n.js", get(|| async { asset("text/javascript; charset=utf-8", I18N_JS) })),
        ("/assets/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) })),
        ("/favicon.svg", get(|| async { asset("image/svg+xml", FAVICON_SVG) })),
        ("/favicon.ico", get(|| async { asset("image/svg+xml", FAVICON_SVG) })),
        ("/v1/summary", get(get_summary)),
        ("/v1/activity/{id}", get(get_activity)),
    ]
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // Assets change with the binary; revalidating is cheap and never shows a stale page.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
struct IndexQuery {
    lang: Option<String>,
}

/// The page with the log key, origin and name filled in. A node before genesis has no key:
/// the page then says so instead of checking anything.
pub fn render_index(node: &Node, lang_en: bool) -> String {
    let log_key = log_key_string(node).unwrap_or_default();
    let (origin, name) = match node.published.read() {
        Ok(p) => p.state.info().map(|i| (i.origin.clone(), i.name.clone())).unwrap_or_default(),
        Err(_) => (String::new(), String::new()),
    };
    INDEX_HTML
        .replace("{{LANG}}", if lang_en { "en" } else { "zh-CN" })
        .replace("{{LOG_KEY}}", &escape_markup(&log_key))
        .replace("{{ORIGIN}}", &escape_markup(&origin))
        .replace("{{NAME}}", &escape_markup(&name))
}

async fn get_index(State(node): State<Shared>, Query(q): Query<IndexQuery>) -> Response {
    let lang_en = q.lang.as_deref() == Some("en");
    let html = render_index(&node, lang_en);
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        ],
        html,
    )
        .into_response()
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(format!("the node could not answer: {e}"))
}

/// The last summary, by (size, root): the projection only changes when the log grows, and a
/// county's home page is read far more often than the log grows.
struct CachedSummary {
    key: (u64, String),
    made: Instant,
    value: Arc<Value>,
}
static SUMMARY_CACHE: Mutex<Option<CachedSummary>> = Mutex::new(None);

async fn get_summary(State(node): State<Shared>) -> ApiResult<Response> {
    let summary = tokio::task::spawn_blocking(move || summary(&node)).await.map_err(internal)??;
    Ok(Json(&*summary).into_response())
}

/// The home page's document: totals, programmes, funds, the flows between them, the
/// oversight lists, example receipts and the newest events. Cash only in flows; goods are
/// counted by item in `totals.goods`.
pub fn summary(node: &Node) -> ApiResult<Arc<Value>> {
    let key = {
        let p = node.published.read().map_err(internal)?;
        (p.state.size(), p.state.root().to_base64())
    };
    if let Ok(cache) = SUMMARY_CACHE.lock() {
        if let Some(c) = cache.as_ref() {
            // While the log grows fast, a summary a moment old is as good as a new one and
            // spares the projection lock, provided it describes a prefix of this very log
            // (its root is this log's root at its size; a few hash reads).
            let fresh = c.made.elapsed().as_millis() < u128::from(SUMMARY_FRESH_MS);
            let prefix = || {
                c.key.0 <= key.0
                    && tree_hash(c.key.0, &node.store).is_ok_and(|root| root.to_base64() == c.key.1)
            };
            if c.key == key || (fresh && prefix()) {
                return Ok(Arc::clone(&c.value));
            }
        }
    }
    let value = Arc::new(compute_summary(node)?);
    if let Ok(mut cache) = SUMMARY_CACHE.lock() {
        *cache = Some(CachedSummary { key, made: Instant::now(), value: Arc::clone(&value) });
    }
    Ok(value)
}

#[derive(Default)]
struct ProgrammeFigures {
    funds_cash_fen: u64,
    allocated_fen: u64,
    disbursed_fen: u64,
    held_in_cases_fen: u64,
    cases: u64,
    open_cases: u64,
    disbursements: u64,
}

fn compute_summary(node: &Node) -> ApiResult<Value> {
    // Everything read from the projection is read under one lock, so the figures agree with
    // each other; entry bodies are read from the store afterwards.
    let p = node.published.read().map_err(internal)?;
    let state = &p.state;
    let size = state.size();
    let balances = state.balances();
    let checkpoint_size = p.checkpoint.as_ref().map(|c| c.0);
    let info = state.info().map(|i| json!({"origin": i.origin, "name": i.name}));
    let witnesses = state.witness_policy().map(|w| {
        json!({
            "quorum": w.quorum,
            "witnesses": w.witnesses.iter().map(|(name, vkey, url)| json!({"name": name, "vkey": vkey, "url": url})).collect::<Vec<_>>(),
        })
    });

    let mut programmes: BTreeMap<Programme, ProgrammeFigures> =
        Programme::ALL.iter().map(|&pr| (pr, ProgrammeFigures::default())).collect();
    // (fund, programme of the case) → cash allocated and not revoked.
    let mut fund_flows: BTreeMap<(String, Programme), u64> = BTreeMap::new();
    for fund in balances.funds.values() {
        let f = programmes.entry(fund.programme).or_default();
        f.funds_cash_fen = f.funds_cash_fen.saturating_add(fund.cash_fen);
    }
    for (id, case) in &balances.cases {
        let Some(view) = state.case(id) else { continue };
        let f = programmes.entry(case.programme).or_default();
        f.cases += 1;
        if !case.closed {
            f.open_cases += 1;
        }
        f.held_in_cases_fen = f.held_in_cases_fen.saturating_add(case.cash_fen);
        for d in view.disbursements.iter().filter(|d| d.asset == "cash") {
            f.disbursed_fen = f.disbursed_fen.saturating_add(d.amount.saturating_sub(d.reversed));
            f.disbursements += 1;
        }
        for a in view.allocations.iter().filter(|a| a.asset == "cash") {
            let net = a.amount.saturating_sub(a.reversed);
            f.allocated_fen = f.allocated_fen.saturating_add(net);
            if let Some(fund) = &a.fund {
                let e = fund_flows.entry((fund.clone(), case.programme)).or_default();
                *e = e.saturating_add(net);
            }
        }
    }

    // One pass over the ids: the objects the page lists by kind.
    let mut fund_seqs = Vec::new();
    let mut complaint_ids = Vec::new();
    let mut plan_ids = Vec::new();
    let mut donation_ids = Vec::new();
    let mut refunded_donations = Vec::new();
    for seq in 0..size {
        let Some(id) = state.id_at(seq) else { continue };
        match state.lookup(id).map(|(_, k)| k) {
            Some(Kind::FundOpened) => fund_seqs.push((id.to_string(), seq)),
            Some(Kind::ComplaintFiled) => complaint_ids.push((id.to_string(), seq)),
            Some(Kind::AuditPlanned) => plan_ids.push((id.to_string(), seq)),
            Some(Kind::DonationReceived) => donation_ids.push(id.to_string()),
            Some(Kind::DonationRefunded) => refunded_donations.push(seq),
            _ => {}
        }
    }
    let complaint_views: Vec<_> = complaint_ids
        .iter()
        .rev()
        .take(OVERSIGHT_LIST_MAX)
        .filter_map(|(id, seq)| state.complaint(id).map(|v| (id.clone(), *seq, v)))
        .collect();
    let audit_views: Vec<_> = plan_ids
        .iter()
        .rev()
        .take(OVERSIGHT_LIST_MAX)
        .filter_map(|(id, seq)| state.audit(id).map(|v| (id.clone(), *seq, v)))
        .collect();
    let examples = example_donations(state, &donation_ids);
    let (open_complaints, resolved_complaints) = state.complaint_counts();
    let counts = state.count_by_kind();
    let totals = serde_json::to_value(&balances.totals).map_err(internal)?;
    let fund_programmes: BTreeMap<String, (Programme, bool, bool, u64)> = balances
        .funds
        .iter()
        .map(|(id, f)| (id.clone(), (f.programme, f.restricted, f.closed, f.cash_fen)))
        .collect();
    let case_count = balances.cases.len();
    drop(p);

    let mut funds = Vec::new();
    for (id, seq) in &fund_seqs {
        let Some(&(programme, restricted, closed, cash_fen)) = fund_programmes.get(id) else { continue };
        let body = body_at(node, *seq)?;
        let allocated_fen: u64 =
            fund_flows.iter().filter(|((f, _), _)| f == id).map(|(_, v)| *v).fold(0, u64::saturating_add);
        funds.push(json!({
            "id": id, "seq": seq, "name": body["name"], "sponsor": body.get("sponsor"),
            "programme": programme, "restricted": restricted, "closed": closed,
            "opened_at": body["at"], "opening_balance_fen": body["opening_balance_fen"],
            "cash_fen": cash_fen, "allocated_fen": allocated_fen,
            "in_fen": cash_fen.saturating_add(allocated_fen),
        }));
    }
    let programmes_json: Vec<Value> = programmes
        .iter()
        .map(|(pr, f)| {
            // What a programme's cases got straight from donors, net of what left them again
            // by refund, correction or redirect: the case balances' conservation, rearranged.
            let earmarked_fen =
                f.held_in_cases_fen.saturating_add(f.disbursed_fen).saturating_sub(f.allocated_fen);
            json!({
                "programme": pr, "funds_cash_fen": f.funds_cash_fen, "allocated_fen": f.allocated_fen,
                "earmarked_fen": earmarked_fen, "disbursed_fen": f.disbursed_fen,
                "held_in_cases_fen": f.held_in_cases_fen, "cases": f.cases, "open_cases": f.open_cases,
                "disbursements": f.disbursements,
            })
        })
        .collect();
    let flows: Vec<Value> = fund_flows
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|((fund, pr), v)| json!({"fund": fund, "programme": pr, "amount_fen": v}))
        .collect();

    let mut complaints = Vec::new();
    for (id, seq, view) in complaint_views {
        let filed = body_at(node, seq)?;
        let mut status = "open".to_string();
        if view.resolved.is_some() {
            status = "resolved".to_string();
        } else if let Some(&last) = view.updates.last() {
            let update = body_at(node, last)?;
            status = update["status"].as_str().unwrap_or("open").to_string();
        }
        complaints.push(json!({
            "id": id, "seq": seq, "at": filed["at"], "channel": filed["channel"], "status": status,
            "summary": filed["summary"], "subjects": filed["subjects"],
        }));
    }
    let mut audits = Vec::new();
    for (id, seq, view) in audit_views {
        let plan = body_at(node, seq)?;
        audits.push(json!({
            "id": id, "seq": seq, "at": plan["at"], "population": view.population,
            "rate_permille": view.rate_permille, "sampled": view.sample_seq.is_some(),
            "findings": view.findings.len(), "summary": plan["summary"],
        }));
    }
    let refunded = match refunded_donations.first() {
        Some(&seq) => body_at(node, seq)?["donation"].as_str().map(str::to_string),
        None => None,
    };
    let mut recent_bodies = Vec::new();
    for seq in (size.saturating_sub(SUMMARY_RECENT_MAX)..size).rev() {
        recent_bodies.push(body_at(node, seq)?);
    }
    let recent: Vec<Value> = {
        let p = node.published.read().map_err(internal)?;
        recent_bodies.iter().map(|b| brief(b, programme_of(&p.state, b))).collect()
    };

    Ok(json!({
        "size": size,
        "root": balances.root,
        "checkpoint_size": checkpoint_size,
        "log": info,
        "witness_policy": witnesses,
        "totals": totals,
        "programmes": programmes_json,
        "funds": funds,
        "flows": flows,
        "counts": {
            "entries": size, "by_kind": counts, "complaints_open": open_complaints,
            "complaints_resolved": resolved_complaints, "funds": fund_seqs.len(),
            "cases": case_count, "donations": donation_ids.len(),
        },
        "complaints": complaints,
        "audits": audits,
        "examples": {
            "disbursed": examples.disbursed, "earmarked": examples.earmarked, "in_fund": examples.in_fund,
            "refunded": refunded,
        },
        "recent": recent,
    }))
}

#[derive(Default)]
struct Examples {
    disbursed: Option<String>,
    earmarked: Option<String>,
    in_fund: Option<String>,
}

/// A few receipt codes worth trying: a gift already paid out to people, a gift earmarked for
/// one case, and a gift still waiting in its fund. Found from the oldest gifts on (the likeliest
/// to have been spent) and from the newest back (the likeliest to be waiting).
fn example_donations(state: &Projection, donations: &[String]) -> Examples {
    let mut ex = Examples::default();
    for id in donations.iter().take(EXAMPLE_SEARCH_MAX) {
        let Some(trace) = state.trace(id) else { continue };
        let earmarked = trace.iter().any(|p| {
            matches!(
                p.place,
                PortionPlace::InCase { allocation: None, .. }
                    | PortionPlace::Disbursed { allocation: None, .. }
            )
        });
        let disbursed = trace.iter().any(|p| matches!(p.place, PortionPlace::Disbursed { .. }));
        if earmarked && ex.earmarked.is_none() {
            ex.earmarked = Some(id.clone());
        } else if !earmarked && disbursed && ex.disbursed.is_none() {
            ex.disbursed = Some(id.clone());
        }
        if ex.disbursed.is_some() && ex.earmarked.is_some() {
            break;
        }
    }
    for id in donations.iter().rev().take(EXAMPLE_SEARCH_MAX) {
        let Some(trace) = state.trace(id) else { continue };
        if trace.iter().all(|p| matches!(p.place, PortionPlace::InFund { .. })) {
            ex.in_fund = Some(id.clone());
            break;
        }
    }
    ex
}

/// Body fields an event list shows. Commitments (donor, beneficiary, complainant, payee) stay
/// out of lists: they name nobody, but a list is no place to collect them.
const BRIEF_FIELDS: &[&str] = &[
    "id",
    "kind",
    "at",
    "amount_fen",
    "goods",
    "fund",
    "case",
    "donation",
    "allocation",
    "disbursement",
    "complaint",
    "plan",
    "sample",
    "finding",
    "rectification",
    "programme",
    "channel",
    "donor_name",
    "name",
    "region",
    "method",
    "status",
    "severity",
    "population",
    "deadline",
];

/// One event as a list row: its public fields, seq, entry time and the programme it serves.
fn brief(body: &Value, programme: Option<Programme>) -> Value {
    let mut out = Map::new();
    out.insert("seq".into(), body["_seq"].clone());
    out.insert("time".into(), body["_time"].clone());
    for f in BRIEF_FIELDS {
        if let Some(v) = body.get(*f) {
            out.insert((*f).into(), v.clone());
        }
    }
    if let (false, Some(pr)) = (out.contains_key("programme"), programme) {
        out.insert("programme".into(), json!(pr));
    }
    Value::Object(out)
}

/// The programme an event serves, through the case or fund it names.
fn programme_of(state: &Projection, body: &Value) -> Option<Programme> {
    body["case"]
        .as_str()
        .and_then(|c| state.case_programme(c))
        .or_else(|| body["fund"].as_str().and_then(|f| state.fund_programme(f).map(|x| x.0)))
}

#[derive(Deserialize)]
struct ActivityQuery {
    limit: Option<usize>,
}

async fn get_activity(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<ActivityQuery>,
) -> ApiResult<Response> {
    let limit = q.limit.unwrap_or(20);
    if limit == 0 || limit > ACTIVITY_LIMIT_MAX {
        return Err(ApiError::bad_request(format!("limit must be 1 to {ACTIVITY_LIMIT_MAX}")));
    }
    let value =
        tokio::task::spawn_blocking(move || activity(&node, &id, limit)).await.map_err(internal)??;
    Ok(Json(value).into_response())
}

/// The newest entries that name `id` in a reference field, newest first.
fn activity(node: &Node, id: &str, limit: usize) -> ApiResult<Value> {
    let (seq, kind, total, newest) = {
        let p = node.published.read().map_err(internal)?;
        let (seq, kind) =
            p.state.lookup(id).ok_or_else(|| ApiError::not_found(format!("no event with id {id}")))?;
        let all = p.refs.get(id).map(Vec::as_slice).unwrap_or_default();
        (seq, kind, all.len(), all.iter().rev().take(limit).copied().collect::<Vec<u64>>())
    };
    let mut bodies = Vec::with_capacity(newest.len());
    for s in newest {
        bodies.push(body_at(node, s)?);
    }
    let p = node.published.read().map_err(internal)?;
    let rows: Vec<Value> = bodies.iter().map(|b| brief(b, programme_of(&p.state, b))).collect();
    Ok(json!({"id": id, "seq": seq, "kind": kind.as_str(), "total": total, "entries": rows}))
}

#[cfg(test)]
mod tests {
    use super::escape_markup;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[test]
    fn escapes_attribute_text() {
        assert_eq!(escape_markup(r#"a"<b>&'"#), "a&quot;&lt;b&gt;&amp;&#39;");
        assert_eq!(
            escape_markup("lanling.example/ledger+abcd1234+AQ=="),
            "lanling.example/ledger+abcd1234+AQ=="
        );
    }

    /// GETs `path` from a node with an empty log: status, content type, body.
    async fn get(path: &str) -> (StatusCode, String, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::store::Store::open(&dir.path().join("store")).expect("store");
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let node = crate::node::Node::open(store, key).expect("node");
        let app = crate::api::app(std::sync::Arc::clone(&node));
        let res =
            app.oneshot(Request::get(path).body(Body::empty()).expect("request")).await.expect("answer");
        let status = res.status();
        let ct =
            res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        node.shutdown();
        (status, ct, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn the_page_and_its_assets_are_served_from_the_binary() {
        let (status, ct, html) = get("/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(ct.starts_with("text/html"), "{ct}");
        assert!(html.contains(r#"<html lang="zh-CN">"#));
        assert!(html.contains(r#"<script src="/assets/app.js" defer></script>"#));
        assert!(!html.contains("{{"), "every placeholder is filled");
        let (_, _, en) = get("/?lang=en").await;
        assert!(en.contains(r#"<html lang="en">"#));
        for (path, want) in [
            ("/assets/app.js", "text/javascript"),
            ("/assets/i18n.js", "text/javascript"),
            ("/assets/app.css", "text/css"),
            ("/favicon.svg", "image/svg+xml"),
        ] {
            let (status, ct, body) = get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(ct.starts_with(want), "{path}: {ct}");
            assert!(!body.is_empty());
            // Nothing is fetched from anywhere else: the only URL is the SVG namespace.
            let urls = body.matches("http://").count() + body.matches("https://").count();
            assert_eq!(
                urls,
                body.matches("http://www.w3.org/2000/svg").count(),
                "{path} names no other site"
            );
        }
    }

    #[tokio::test]
    async fn an_empty_log_has_a_summary_and_no_key() {
        let (status, _, body) = get("/v1/summary").await;
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["log"], serde_json::Value::Null);
        assert_eq!(v["size"], 0);
        let (_, _, html) = get("/").await;
        assert!(html.contains(r#"<meta name="log-key" content="">"#));
        let (status, _, body) = get("/v1/activity/nothing").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, _, body) = get("/v1/activity/nothing?limit=1000").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
}
