//! `GET /openapi.json`: the OpenAPI 3.1 document of the HTTP API, built from the table
//! `OPERATIONS`. A test checks that the table covers every path `api::route_paths()` serves
//! (and no other), so the document cannot drift from the router.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

/// Where a parameter goes.
#[derive(Clone, Copy)]
pub enum In {
    Path,
    Query,
}

/// One parameter: name, place, required, JSON type, description.
pub struct Param(pub &'static str, pub In, pub bool, pub &'static str, pub &'static str);

/// One success answer: status, content type, schema (a `components.schemas` name, or `None`
/// for a body that is not JSON).
pub struct Answer(pub u16, pub &'static str, pub Option<&'static str>);

/// One operation of the API.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub params: &'static [Param],
    pub answers: &'static [Answer],
    /// Error statuses this operation answers besides 503 (every one can answer 503).
    pub errors: &'static [u16],
}

const JSON: &str = "application/json";
const JSONL: &str = "application/x-ndjson";
const TEXT: &str = "text/plain; charset=utf-8";
const OCTETS: &str = "application/octet-stream";

const ID: Param = Param("id", In::Path, true, "string", "the object's event id");

/// Every operation the node serves.
pub const OPERATIONS: &[Operation] = &[
    Operation {
        method: "post",
        path: "/v1/entries",
        summary: "Append one DSSE envelope; answered once durable",
        params: &[],
        answers: &[Answer(201, JSON, Some("Appended")), Answer(200, JSON, Some("AlreadyLogged"))],
        errors: &[400, 403, 409, 413, 422],
    },
    Operation {
        method: "get",
        path: "/v1/entries",
        summary: "Raw entries as JSON Lines",
        params: &[
            Param("start", In::Query, false, "integer", "first seq (default 0)"),
            Param("limit", In::Query, false, "integer", "entries, 1 to 1000 (default 1000)"),
        ],
        answers: &[Answer(200, JSONL, None)],
        errors: &[400],
    },
    Operation {
        method: "post",
        path: "/v1/batch",
        summary: "Append a JSON array of up to 1000 envelopes, all or nothing (or, with dry_run=1, check them all and append nothing)",
        params: &[Param(
            "dry_run",
            In::Query,
            false,
            "string",
            "1: run every rule against the current state, report each envelope's verdict (DryRun), append nothing",
        )],
        answers: &[
            Answer(201, JSON, Some("BatchAppended")),
            Answer(200, JSON, Some("BatchOk")),
        ],
        errors: &[400, 403, 409, 413, 422],
    },
    Operation {
        method: "get",
        path: "/v1/entries/{seq}",
        summary: "One entry's exact bytes",
        params: &[Param("seq", In::Path, true, "integer", "the entry's seq")],
        answers: &[Answer(200, JSON, Some("Entry"))],
        errors: &[400, 404],
    },
    Operation {
        method: "get",
        path: "/v1/export",
        summary: "The whole log as JSON Lines, streamed",
        params: &[],
        answers: &[Answer(200, JSONL, None)],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/checkpoint",
        summary: "The latest signed checkpoint (C2SP signed note)",
        params: &[],
        answers: &[Answer(200, TEXT, None)],
        errors: &[404],
    },
    Operation {
        method: "get",
        path: "/tile/{path}",
        summary: "The log as C2SP tlog-tiles: a hash tile `<L>/<N>[.p/<W>]` or an entry bundle `entries/<N>[.p/<W>]`",
        params: &[Param(
            "path",
            In::Path,
            true,
            "string",
            "the tile's path after /tile/, e.g. 0/x001/x234/067 or entries/000.p/5",
        )],
        answers: &[Answer(200, OCTETS, None)],
        errors: &[400, 404],
    },
    Operation {
        method: "get",
        path: "/v1/log-key",
        summary: "The log's verifier key string",
        params: &[],
        answers: &[Answer(200, TEXT, None)],
        errors: &[404],
    },
    Operation {
        method: "get",
        path: "/v1/proof/inclusion",
        summary: "Inclusion proof of an entry in a tree size",
        params: &[
            Param("seq", In::Query, true, "integer", "the entry"),
            Param("size", In::Query, false, "integer", "tree size (default: the latest checkpoint's)"),
        ],
        answers: &[Answer(200, JSON, Some("InclusionProof"))],
        errors: &[400, 404],
    },
    Operation {
        method: "get",
        path: "/v1/proof/consistency",
        summary: "Consistency proof between two tree sizes",
        params: &[
            Param("from", In::Query, true, "integer", "the older size, at least 1"),
            Param("to", In::Query, false, "integer", "the newer size (default: the latest checkpoint's)"),
        ],
        answers: &[Answer(200, JSON, Some("ConsistencyProof"))],
        errors: &[400],
    },
    Operation {
        method: "get",
        path: "/v1/balances",
        summary: "Balances at a tree size",
        params: &[Param("size", In::Query, false, "integer", "tree size ≤ the latest checkpoint's")],
        answers: &[Answer(200, JSON, Some("Balances"))],
        errors: &[400],
    },
    Operation {
        method: "get",
        path: "/v1/exports/{name}",
        summary: "A disclosure export of the log at a tree size: donations.csv, allocations.csv, disbursements.csv, funds.csv, cases.csv (UTF-8 with BOM, CRLF), iati.xml, 360giving.csv, report-YYYYQn.md, report-YYYYQn.html; byte-identical to `ledger-verify export`",
        params: &[
            Param("name", In::Path, true, "string", "the export's file name"),
            Param("size", In::Query, false, "integer", "tree size ≤ the latest checkpoint's (default: the latest)"),
        ],
        answers: &[
            Answer(200, "text/csv; charset=utf-8", None),
            Answer(200, "application/xml; charset=utf-8", None),
            Answer(200, "text/markdown; charset=utf-8", None),
            Answer(200, "text/html; charset=utf-8", None),
        ],
        errors: &[400, 404],
    },
    Operation {
        method: "get",
        path: "/v1/funds",
        summary: "Every fund with its balance",
        params: &[],
        answers: &[Answer(200, JSON, Some("Funds"))],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/v1/funds/{id}",
        summary: "One fund with its balance",
        params: &[ID],
        answers: &[Answer(200, JSON, Some("Fund"))],
        errors: &[404],
    },
    Operation {
        method: "get",
        path: "/v1/cases/{id}",
        summary: "A case: programme, region, summary, balance, allocations, disbursements",
        params: &[ID],
        answers: &[Answer(200, JSON, Some("Object"))],
        errors: &[404],
    },
    Operation {
        method: "get",
        path: "/v1/donations/{id}",
        summary: "A donation with its full trace",
        params: &[ID],
        answers: &[Answer(200, JSON, Some("Donation"))],
        errors: &[404],
    },
    Operation {
        method: "get",
        path: "/v1/donations/{id}/receipt",
        summary: "Offline receipt: entry bytes, inclusion proof, checkpoint, log key",
        params: &[ID],
        answers: &[Answer(200, JSON, Some("Receipt"))],
        errors: &[404],
    },
    Operation {
        method: "get",
        path: "/v1/lookup",
        summary: "Every object naming a commitment",
        params: &[Param("commitment", In::Query, true, "string", "64 lower-case hex characters")],
        answers: &[Answer(200, JSON, Some("Lookup"))],
        errors: &[400],
    },
    Operation {
        method: "get",
        path: "/v1/complaints/{id}",
        summary: "A complaint with its timeline and traced subjects",
        params: &[ID],
        answers: &[Answer(200, JSON, Some("Object"))],
        errors: &[404],
    },
    Operation {
        method: "get",
        path: "/v1/audits/{id}",
        summary: "An audit: plan, sample, findings, rectifications",
        params: &[ID],
        answers: &[Answer(200, JSON, Some("Object"))],
        errors: &[404],
    },
    Operation {
        method: "get",
        path: "/v1/events/{id}",
        summary: "Any event by id",
        params: &[ID],
        answers: &[Answer(200, JSON, Some("Event"))],
        errors: &[404],
    },
    Operation {
        method: "get",
        path: "/healthz",
        summary: "Liveness and sizes",
        params: &[],
        answers: &[Answer(200, JSON, Some("Health"))],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/metrics",
        summary: "Prometheus text exposition",
        params: &[],
        answers: &[Answer(200, crate::metrics::CONTENT_TYPE, None)],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/openapi.json",
        summary: "This document",
        params: &[],
        answers: &[Answer(200, JSON, Some("Object"))],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/",
        summary: "The public transparency page",
        params: &[Param("lang", In::Query, false, "string", "`en` for English (default zh-CN)")],
        answers: &[Answer(200, "text/html; charset=utf-8", None)],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/index.html",
        summary: "The public transparency page",
        params: &[Param("lang", In::Query, false, "string", "`en` for English (default zh-CN)")],
        answers: &[Answer(200, "text/html; charset=utf-8", None)],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/assets/app.js",
        summary: "The page's script",
        params: &[],
        answers: &[Answer(200, "text/javascript; charset=utf-8", None)],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/assets/i18n.js",
        summary: "The page's translations",
        params: &[],
        answers: &[Answer(200, "text/javascript; charset=utf-8", None)],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/assets/app.css",
        summary: "The page's styles",
        params: &[],
        answers: &[Answer(200, "text/css; charset=utf-8", None)],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/favicon.svg",
        summary: "The icon",
        params: &[],
        answers: &[Answer(200, "image/svg+xml", None)],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/favicon.ico",
        summary: "The icon (SVG)",
        params: &[],
        answers: &[Answer(200, "image/svg+xml", None)],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/v1/summary",
        summary: "The home page's figures, flows and newest events",
        params: &[],
        answers: &[Answer(200, JSON, Some("Object"))],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/v1/activity/{id}",
        summary: "The newest entries naming an object",
        params: &[ID, Param("limit", In::Query, false, "integer", "entries, 1 to 100 (default 20)")],
        answers: &[Answer(200, JSON, Some("Activity"))],
        errors: &[400, 404],
    },
];

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

fn schemas() -> Value {
    let int = json!({"type": "integer", "minimum": 0});
    let string = json!({"type": "string"});
    let proof = json!({"type": "array", "items": {"type": "string", "contentEncoding": "base64"}});
    let fen = json!({"type": "integer", "description": "fen (1/100 yuan)"});
    let goods = json!({"type": "object", "additionalProperties": {"type": "integer"}});
    json!({
        "Error": object(&["error", "message"], json!({
            "error": {"type": "string", "description": "SPEC.md §8 code: too_large, malformed, bad_signature, unauthorized, duplicate_id, rule_violation, bad_request, not_found, method_not_allowed, mirror_read_only, unavailable"},
            "message": string,
            "rule": {"type": "string", "description": "the rule refused by"},
            "index": {"type": "integer", "description": "the refused envelope of a batch"},
            "seq": {"type": "integer", "description": "the entry a duplicate id names"},
        })),
        "Appended": object(&["seq", "leaf_hash", "checkpoint"], json!({
            "seq": int, "leaf_hash": {"type": "string", "description": "hex"}, "checkpoint": string,
        })),
        "AlreadyLogged": object(&["seq"], json!({"seq": int})),
        "BatchAppended": object(&["first_seq", "count", "checkpoint"], json!({
            "first_seq": int, "count": int, "checkpoint": string,
        })),
        "BatchAlreadyLogged": object(&["seqs"], json!({"seqs": {"type": "array", "items": int}})),
        "BatchOk": {"oneOf": [
            {"$ref": "#/components/schemas/BatchAlreadyLogged"},
            {"$ref": "#/components/schemas/DryRun"},
        ]},
        "DryRun": object(&["dry_run", "count", "new", "existing", "refusals"], json!({
            "dry_run": {"const": true},
            "count": int,
            "new": {"type": "array", "items": int, "description": "indexes the rules accept, not logged yet"},
            "existing": {"type": "array", "items": object(&["index", "seq"], json!({"index": int, "seq": int}))},
            "refusals": {"type": "array", "items": object(&["index", "rule", "message"], json!({
                "index": int, "rule": string, "message": string, "seq": int,
            }))},
        })),
        "Entry": object(&["seq", "prev", "time", "envelope"], json!({
            "seq": int, "prev": string, "time": string, "envelope": {"type": "object"},
        })),
        "InclusionProof": object(&["seq", "size", "leaf_hash", "proof"], json!({
            "seq": int, "size": int, "leaf_hash": string, "proof": proof,
        })),
        "ConsistencyProof": object(&["from", "to", "proof"], json!({"from": int, "to": int, "proof": proof})),
        "Balances": object(&["size", "root", "totals", "funds", "cases"], json!({
            "size": int,
            "root": {"type": "string", "contentEncoding": "base64"},
            "totals": object(
                &["opening_fen", "received_fen", "refunded_fen", "corrected_fen", "allocated_fen",
                  "revoked_fen", "disbursed_fen", "returned_fen", "held_in_funds_fen", "held_in_cases_fen", "goods"],
                json!({
                    "opening_fen": fen, "received_fen": fen, "refunded_fen": fen, "corrected_fen": fen,
                    "allocated_fen": fen, "revoked_fen": fen, "disbursed_fen": fen, "returned_fen": fen,
                    "held_in_funds_fen": fen, "held_in_cases_fen": fen, "goods": {"type": "object"},
                })),
            "funds": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/FundBalance"}},
            "cases": {"type": "object", "additionalProperties": object(&["programme", "closed", "cash_fen", "goods"], json!({
                "programme": string, "closed": {"type": "boolean"}, "cash_fen": fen, "goods": goods,
            }))},
        })),
        "FundBalance": object(&["programme", "restricted", "closed", "cash_fen", "goods"], json!({
            "programme": string, "restricted": {"type": "boolean"}, "closed": {"type": "boolean"},
            "cash_fen": fen, "goods": goods,
        })),
        "Funds": object(&["funds"], json!({"funds": {"type": "array", "items": object(
            &["id", "seq", "name", "programme", "restricted", "closed", "cash_fen", "goods"],
            json!({"id": string, "seq": int, "name": string, "sponsor": {}, "programme": string,
                   "restricted": {"type": "boolean"}, "closed": {"type": "boolean"}, "cash_fen": fen, "goods": goods}))}})),
        "Fund": object(&["id", "seq", "fund", "balance"], json!({
            "id": string, "seq": int, "fund": {"$ref": "#/components/schemas/EventBody"},
            "balance": {"$ref": "#/components/schemas/FundBalance"},
        })),
        "EventBody": object(&["v", "kind", "id", "at", "_seq", "_time"], json!({
            "v": int, "kind": string, "id": string, "at": string,
            "_seq": {"type": "integer", "description": "the entry's seq (added by the node)"},
            "_time": {"type": "string", "description": "the entry's time (added by the node)"},
        })),
        "Portion": object(&["state"], json!({
            "state": {"enum": ["in_fund", "in_case", "disbursed", "refunded", "corrected"]},
            "fund": string, "case": string, "allocation": {"type": ["string", "null"]},
            "disbursement": string, "refund": string, "correction": string,
            "amount_fen": fen, "item": string, "quantity": int, "unit_value_fen": fen,
        })),
        "Donation": object(&["seq", "donation", "trace"], json!({
            "seq": int, "donation": {"$ref": "#/components/schemas/EventBody"},
            "trace": {"type": "array", "items": {"$ref": "#/components/schemas/Portion"}},
        })),
        "Receipt": object(&["seq", "entry_b64", "size", "proof", "checkpoint", "log_key"], json!({
            "seq": int, "entry_b64": {"type": "string", "contentEncoding": "base64"}, "size": int,
            "proof": proof, "checkpoint": string, "log_key": string,
        })),
        "Lookup": object(&["commitment", "objects"], json!({
            "commitment": string,
            "objects": {"type": "array", "items": object(&["seq", "id", "kind"], json!({"seq": int, "id": string, "kind": string}))},
        })),
        "Event": object(&["seq", "event"], json!({"seq": int, "event": {"$ref": "#/components/schemas/EventBody"}})),
        "Health": object(&["status", "size", "checkpoint_size"], json!({
            "status": {"enum": ["ok", "fork"], "description": "fork: a mirror holds evidence that its upstream forked"},
            "size": int, "checkpoint_size": {"type": ["integer", "null"]},
            "witnesses": {"type": "array", "description": "the witnesses the log declares and what each last answered", "items": object(&["name", "url"], json!({
                "name": string, "url": string, "cosigned_size": {"type": ["integer", "null"]},
                "failures": int, "last_error": {"type": ["string", "null"]},
            }))},
            "mirror": object(&["upstream", "follow"], json!({"upstream": string, "follow": {"type": "object", "description": "last_error, or fork with both checkpoints as evidence"}})),
        })),
        "Activity": object(&["id", "seq", "kind", "total", "entries"], json!({
            "id": string, "seq": int, "kind": string, "total": int, "entries": {"type": "array"},
        })),
        "Object": {"type": "object"},
    })
}

fn error_description(status: u16) -> &'static str {
    match status {
        400 => "bad request or malformed envelope",
        403 => "bad signature or unauthorized signer",
        404 => "not found",
        405 => "no such method on this path",
        409 => "duplicate id",
        413 => "too large",
        422 => "refused by a rule",
        _ => "unavailable: overloaded, read-only, out of disk or too slow",
    }
}

/// The OpenAPI 3.1 document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in OPERATIONS {
        let params: Vec<Value> = op
            .params
            .iter()
            .map(|Param(name, place, required, ty, description)| {
                json!({
                    "name": name,
                    "in": match place { In::Path => "path", In::Query => "query" },
                    "required": required,
                    "description": description,
                    "schema": {"type": ty},
                })
            })
            .collect();
        let mut responses = Map::new();
        for Answer(status, content_type, schema) in op.answers {
            let schema = match schema {
                Some(name) => json!({"$ref": format!("#/components/schemas/{name}")}),
                None => json!({"type": "string"}),
            };
            // One status may answer several content types (an export is CSV, XML, ...).
            let response = responses
                .entry(status.to_string())
                .or_insert_with(|| json!({"description": "success", "content": {}}));
            response["content"][*content_type] = json!({"schema": schema});
        }
        for status in op.errors.iter().chain(&[405, 503]) {
            responses.insert(
                status.to_string(),
                json!({
                    "description": error_description(*status),
                    "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
                }),
            );
        }
        let mut operation = json!({"summary": op.summary, "responses": responses});
        if !params.is_empty() {
            operation["parameters"] = Value::Array(params);
        }
        if op.method == "post" {
            let body = if op.path == "/v1/batch" {
                json!({"type": "array", "items": {"$ref": "#/components/schemas/Envelope"}, "minItems": 1, "maxItems": crate::limits::BATCH_ENVELOPES_MAX})
            } else {
                json!({"$ref": "#/components/schemas/Envelope"})
            };
            operation["requestBody"] = json!({"required": true, "content": {JSON: {"schema": body}}});
        }
        let item = paths.entry(op.path).or_insert_with(|| json!({}));
        item[op.method] = operation;
    }
    let mut schemas = schemas();
    schemas["Envelope"] = object(
        &["payloadType", "payload", "signatures"],
        json!({
            "payloadType": {"type": "string"},
            "payload": {"type": "string", "contentEncoding": "base64"},
            "signatures": {"type": "array", "items": object(&["keyid", "sig"], json!({"keyid": {"type": "string"}, "sig": {"type": "string"}}))},
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Charity ledger node",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The HTTP API of INTERFACES.md. All money is integer fen. Every error has the body of SPEC.md §8 (schema `Error`).",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// `GET /openapi.json`.
pub async fn get_openapi() -> Response {
    Json(document()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_document_covers_exactly_the_router() {
        let served: BTreeSet<String> = crate::api::route_paths().into_iter().collect();
        let documented: BTreeSet<String> = OPERATIONS.iter().map(|o| o.path.to_string()).collect();
        assert_eq!(served, documented);
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').expect("closing quote")];
            assert!(doc["components"]["schemas"].get(name).is_some(), "no schema {name}");
        }
    }
}
