//! `GET /metrics` and `GET /openapi.json`: the counters after real appends and refusals, the
//! exposition format, and the OpenAPI document against the router and real answers.

use crate::support::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use ledger_core::types::Role;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use tower::ServiceExt;

/// The exposition parsed into `name{labels}` → value, after checking every line's form.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.is_empty(), "{line}");
            assert!(is_metric_name(name), "{line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').expect("TYPE name type");
            assert!(["counter", "gauge", "histogram"].contains(&ty), "{line}");
            assert!(types.insert(name.to_string(), ty.to_string()).is_none(), "one TYPE per metric: {line}");
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line {line:?}");
        let (key, value) = line.rsplit_once(' ').expect("sample: name value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line:?}"));
        let name = match key.split_once('{') {
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').expect("labels close");
                for pair in labels.split(',') {
                    let (label, v) = pair.split_once('=').expect("label=value");
                    assert!(is_metric_name(label), "{line}");
                    assert!(v.len() >= 2 && v.starts_with('"') && v.ends_with('"'), "{line}");
                }
                name
            }
            None => key,
        };
        assert!(is_metric_name(name), "{line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.get(*f).is_some_and(|t| t == "histogram")))
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample before its TYPE: {line}");
        assert!(samples.insert(key.to_string(), value).is_none(), "duplicate sample {key}");
    }
    samples
}

fn is_metric_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// The cumulative buckets of a histogram are non-decreasing and end at its count.
fn check_histogram(samples: &BTreeMap<String, f64>, name: &str) -> f64 {
    let prefix = format!("{name}_bucket{{le=\"");
    let mut buckets: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|(k, v)| {
            let le = k.strip_prefix(&prefix)?.strip_suffix("\"}")?;
            Some((if le == "+Inf" { f64::INFINITY } else { le.parse().expect("le") }, *v))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(buckets.len() > 2, "{name} has buckets");
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{name} buckets are cumulative");
    let count = samples[&format!("{name}_count")];
    assert_eq!(buckets.last().expect("+Inf"), &(f64::INFINITY, count));
    assert!(samples.contains_key(&format!("{name}_sum")));
    count
}

#[tokio::test]
async fn metrics_count_appends_refusals_and_responses() {
    let f = populated().await;
    let size = f.size().await;
    // Two refusals: a duplicate id (step 4) and a body that is not JSON (step 2).
    let dup = json!({"v":1,"kind":"fund.opened","id":"F-med","at":now(),"name":"again","programme":"medical","restricted":false,"opening_balance_fen":0});
    f.expect(409, sign(&dup, &[&role_key(Role::Admin)])).await;
    let (s, body) = f.request("POST", "/v1/entries", b"not json".to_vec()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let syntax_rule =
        serde_json::from_slice::<Value>(&body).expect("json")["rule"].as_str().expect("rule").to_string();
    assert_ne!(syntax_rule, "duplicate_id");
    let (s, _) = f.get("/no/such/path").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let req = Request::builder().uri("/metrics").body(Body::empty()).expect("request");
    let resp = f.app.clone().oneshot(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/plain; version=0.0.4");
    let (_, text) = f.get_text("/metrics").await;
    let m = parse_exposition(&text);

    // Every entry of the fixture was one POST /v1/entries, answered 201, in its own group.
    assert_eq!(m["ledger_appends_accepted_total"], size as f64);
    assert_eq!(m["ledger_tree_size"], size as f64);
    assert_eq!(m["ledger_http_responses_total{code=\"201\"}"], size as f64);
    assert_eq!(m["ledger_http_responses_total{code=\"409\"}"], 1.0);
    assert_eq!(m["ledger_http_responses_total{code=\"404\"}"], 1.0);
    assert_eq!(m["ledger_http_responses_total{code=\"400\"}"], 1.0);
    assert_eq!(m["ledger_refusals_total{rule=\"duplicate_id\"}"], 1.0);
    assert_eq!(m[&format!("ledger_refusals_total{{rule=\"{syntax_rule}\"}}")], 1.0);
    assert_eq!(m["ledger_refusals_total{rule=\"role\"}"], 0.0);
    assert_eq!(m["ledger_refusals_total{rule=\"other\"}"], 0.0);
    let refused: f64 =
        m.iter().filter(|(k, _)| k.starts_with("ledger_refusals_total{")).map(|(_, v)| v).sum();
    assert_eq!(refused, 2.0);

    assert_eq!(check_histogram(&m, "ledger_group_commit_entries"), size as f64);
    assert_eq!(m["ledger_group_commit_entries_sum"], size as f64);
    assert_eq!(m["ledger_group_commit_entries_bucket{le=\"1\"}"], size as f64);
    assert_eq!(check_histogram(&m, "ledger_flush_seconds"), size as f64);
    assert!(m["ledger_flush_seconds_sum"] > 0.0);
    // All responses so far, not counting the /metrics being answered.
    let responses: f64 =
        m.iter().filter(|(k, _)| k.starts_with("ledger_http_responses_total{")).map(|(_, v)| v).sum();
    assert_eq!(check_histogram(&m, "ledger_http_request_duration_seconds"), responses);
    // The first scrape is counted by the second.
    assert!(m["ledger_http_responses_total{code=\"200\"}"] >= 2.0);

    // A batch is one group of several entries.
    let batch: Vec<Value> = (0..3)
        .map(|i| {
            let body = json!({"v":1,"kind":"donation.received","id":format!("D-b{i}"),"at":now(),"fund":"F-gen","amount_fen":100,"channel":"cash"});
            serde_json::from_str(&sign(&body, &[&role_key(Role::Intake)]).to_json()).expect("json")
        })
        .collect();
    let (s, _) = f.request("POST", "/v1/batch", serde_json::to_vec(&batch).expect("json")).await;
    assert_eq!(s, StatusCode::CREATED);
    let m = parse_exposition(&f.get_text("/metrics").await.1);
    assert_eq!(m["ledger_appends_accepted_total"], (size + 3) as f64);
    assert_eq!(m["ledger_tree_size"], (size + 3) as f64);
    assert_eq!(m["ledger_group_commit_entries_bucket{le=\"2\"}"], size as f64);
    assert_eq!(m["ledger_group_commit_entries_bucket{le=\"4\"}"], (size + 1) as f64);
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").expect("local ref");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// `value` has every `required` property the schema declares, recursively (objects, maps and
/// arrays), and the declared JSON types. Returns how many schema nodes were checked.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> usize {
    let schema = resolve(doc, schema);
    let mut checked = 1;
    if let Some(ty) = schema.get("type") {
        let types: Vec<&str> = match ty {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => panic!("type at {at}"),
        };
        let ok = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => true,
        });
        assert!(ok, "{at}: {value} is not {types:?}");
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for field in required {
            let field = field.as_str().expect("name");
            assert!(value.get(field).is_some(), "{at}: required {field} missing from {value}");
        }
    }
    if let (Some(props), Some(obj)) = (schema.get("properties").and_then(Value::as_object), value.as_object())
    {
        for (name, sub) in props {
            if let Some(v) = obj.get(name) {
                checked += conforms(doc, sub, v, &format!("{at}.{name}"));
            }
        }
    }
    if let (Some(sub), Some(obj)) =
        (schema.get("additionalProperties").filter(|s| s.is_object()), value.as_object())
    {
        for (name, v) in obj {
            checked += conforms(doc, sub, v, &format!("{at}.{name}"));
        }
    }
    if let (Some(sub), Some(items)) = (schema.get("items"), value.as_array()) {
        for (i, v) in items.iter().enumerate() {
            checked += conforms(doc, sub, v, &format!("{at}[{i}]"));
        }
    }
    checked
}

fn response_schema<'a>(doc: &'a Value, path: &str, status: &str) -> &'a Value {
    let response = &doc["paths"][path]["get"]["responses"][status];
    let schema = &response["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{path} declares a JSON {status}");
    schema
}

#[tokio::test]
async fn openapi_document_matches_router_and_answers() {
    let f = populated().await;
    let (s, doc) = f.get("/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let documented: BTreeSet<String> = paths.keys().cloned().collect();
    let served: BTreeSet<String> = ledger_node::api::route_paths().into_iter().collect();
    assert_eq!(documented, served, "the document lists exactly the paths the router serves");

    // Every declared method is served; every undeclared one of GET/POST is 405.
    for (path, item) in paths {
        let concrete = path.replace("{seq}", "0").replace("{id}", "D-1");
        for method in ["get", "post"] {
            let (s, _) = f.request(&method.to_uppercase(), &concrete, Vec::new()).await;
            if item.get(method).is_some() {
                assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                assert!(item[method]["responses"]["503"].is_object(), "{method} {path} declares 503");
            } else {
                assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is not declared");
            }
        }
        for op in item.as_object().expect("path item").values() {
            for p in op.get("parameters").and_then(Value::as_array).into_iter().flatten() {
                if p["in"] == "path" {
                    assert!(path.contains(&format!("{{{}}}", p["name"].as_str().expect("name"))), "{path}");
                }
            }
        }
    }

    // Real answers have what the document declares.
    for (path, concrete) in [
        ("/v1/balances", "/v1/balances".to_string()),
        ("/v1/donations/{id}", "/v1/donations/D-1".to_string()),
        ("/v1/donations/{id}/receipt", "/v1/donations/D-1/receipt".to_string()),
        ("/v1/funds", "/v1/funds".to_string()),
        ("/v1/funds/{id}", "/v1/funds/F-med".to_string()),
        ("/v1/events/{id}", "/v1/events/X-1".to_string()),
        ("/v1/proof/inclusion", "/v1/proof/inclusion?seq=1".to_string()),
        ("/healthz", "/healthz".to_string()),
        ("/v1/activity/{id}", "/v1/activity/F-med".to_string()),
    ] {
        let (s, value) = f.get(&concrete).await;
        assert_eq!(s, StatusCode::OK, "{concrete}");
        let n = conforms(&doc, response_schema(&doc, path, "200"), &value, &concrete);
        assert!(n > 3, "{concrete}: {n} schema nodes checked");
    }
    let (_, donation) = f.get("/v1/donations/D-1").await;
    assert!(!donation["trace"].as_array().expect("trace").is_empty());

    // Error bodies (SPEC.md §8) match the Error schema.
    let (s, error) = f.get("/v1/donations/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    conforms(&doc, response_schema(&doc, "/v1/donations/{id}", "404"), &error, "404");
    let (s, error) = f.get("/v1/balances?size=999999").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    conforms(&doc, response_schema(&doc, "/v1/balances", "400"), &error, "400");
    let dup = json!({"v":1,"kind":"fund.opened","id":"F-med","at":now(),"name":"again","programme":"medical","restricted":false,"opening_balance_fen":0});
    let refused = f.expect(409, sign(&dup, &[&role_key(Role::Admin)])).await;
    let schema =
        &doc["paths"]["/v1/entries"]["post"]["responses"]["409"]["content"]["application/json"]["schema"];
    conforms(&doc, schema, &refused, "409");
    assert_eq!(refused["rule"], "duplicate_id");
}
