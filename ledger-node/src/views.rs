//! Read models that join the projection with stored event bodies: a case with its money
//! trail, a complaint with its timeline, an audit with its sample. Each answers one page or
//! one question of the hotline, the donor or the auditor.

use crate::api::{body_at, ApiError};
use crate::node::Node;
use ledger_core::encoding::hex32;
use serde_json::{json, Value};

type ApiResult<T> = Result<T, ApiError>;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(format!("the node could not answer: {e}"))
}

/// Seqs of the entries that name `id` in a reference field.
fn referrers(node: &Node, id: &str) -> ApiResult<Vec<u64>> {
    let p = node.published.read().map_err(internal)?;
    Ok(p.refs.get(id).cloned().unwrap_or_default())
}

pub fn case_json(node: &Node, id: &str, seq: u64) -> ApiResult<Value> {
    let (view, sources) = {
        let p = node.published.read().map_err(internal)?;
        (p.state.case(id), p.state.case_sources(id))
    };
    let view = view.ok_or_else(|| ApiError::not_found("no case"))?;
    let body = body_at(node, seq)?;
    let mut disbursements = Vec::new();
    for d in &view.disbursements {
        let detail = body_at(node, d.seq)?;
        let paid_from = {
            let p = node.published.read().map_err(internal)?;
            p.state.disbursement_sources(&d.id).unwrap_or_default()
        };
        disbursements.push(json!({
            "id": d.id, "seq": d.seq, "asset": d.asset, "amount": d.amount, "returned": d.reversed,
            "at": detail["at"], "time": detail["_time"], "method": detail["method"], "payee": detail["payee"],
            "evidence": detail["evidence"], "paid_from": paid_from,
        }));
    }
    let mut allocations = Vec::new();
    for a in &view.allocations {
        let detail = body_at(node, a.seq)?;
        allocations.push(json!({
            "id": a.id, "seq": a.seq, "fund": a.fund, "asset": a.asset, "amount": a.amount, "revoked": a.reversed,
            "at": detail["at"], "time": detail["_time"], "decision": detail["decision"],
        }));
    }
    let mut timeline = Vec::new();
    for s in referrers(node, id)? {
        let b = body_at(node, s)?;
        timeline.push(json!({"seq": s, "id": b["id"], "kind": b["kind"], "at": b["at"], "time": b["_time"]}));
    }
    Ok(json!({
        "id": id, "seq": seq, "programme": body["programme"], "region": body["region"],
        "summary": body["summary"], "requested_fen": body["requested_fen"], "beneficiary": body["beneficiary"],
        "opened_at": body["at"], "closed": view.balance.closed, "balance": view.balance,
        "allocations": allocations, "disbursements": disbursements, "earmarked": view.earmarked,
        "holds_from": sources.unwrap_or_default(), "timeline": timeline,
    }))
}

/// What a complaint's subject is, traced one level: a case's money, a payment's donors, a
/// gift's trace.
fn traced_subject(node: &Node, id: &str) -> ApiResult<Value> {
    let (seq, kind, trace, paid_from) = {
        let p = node.published.read().map_err(internal)?;
        let Some((seq, kind)) = p.state.lookup(id) else {
            return Ok(json!({"id": id, "kind": null}));
        };
        let trace = p.state.trace(id).map(|t| t.iter().map(|x| x.to_json()).collect::<Vec<_>>());
        (seq, kind, trace, p.state.disbursement_sources(id))
    };
    let mut v = json!({"id": id, "seq": seq, "kind": kind.as_str(), "event": body_at(node, seq)?});
    if let Some(t) = trace {
        v["trace"] = json!(t);
    }
    if let Some(s) = paid_from {
        v["paid_from"] = json!(s);
    }
    if kind == ledger_core::types::Kind::CaseOpened {
        v["case"] = case_json(node, id, seq)?;
    }
    Ok(v)
}

pub fn complaint_json(node: &Node, id: &str, seq: u64) -> ApiResult<Value> {
    let body = body_at(node, seq)?;
    let mut timeline = vec![
        json!({"seq": seq, "kind": "complaint.filed", "at": body["at"], "time": body["_time"], "event": body.clone()}),
    ];
    let mut status = "open".to_string();
    for s in referrers(node, id)? {
        let b = body_at(node, s)?;
        match b["kind"].as_str() {
            Some("complaint.updated") => status = b["status"].as_str().unwrap_or("open").to_string(),
            Some("complaint.resolved") => status = "resolved".to_string(),
            _ => {}
        }
        timeline.push(json!({"seq": s, "kind": b["kind"], "at": b["at"], "time": b["_time"], "event": b}));
    }
    let mut subjects = Vec::new();
    for s in body["subjects"].as_array().into_iter().flatten() {
        if let Some(sid) = s.as_str() {
            subjects.push(traced_subject(node, sid)?);
        }
    }
    Ok(
        json!({"id": id, "seq": seq, "status": status, "complaint": body, "timeline": timeline, "subjects": subjects}),
    )
}

pub fn audit_json(node: &Node, id: &str, seq: u64) -> ApiResult<Value> {
    let plan = body_at(node, seq)?;
    let view = {
        let p = node.published.read().map_err(internal)?;
        p.state.audit(id).ok_or_else(|| ApiError::not_found("no audit"))?
    };
    let mut sample = Value::Null;
    let mut selected = Vec::new();
    let mut findings = Vec::new();
    if let Some(sample_seq) = view.sample_seq {
        sample = body_at(node, sample_seq)?;
        if let Some(nonce) = sample["nonce"].as_str().and_then(hex32) {
            let p = node.published.read().map_err(internal)?;
            selected = p.state.sample_selection(id, &nonce).unwrap_or_default();
        }
        let sample_id = sample["id"].as_str().unwrap_or_default().to_string();
        for f in referrers(node, &sample_id)? {
            let finding = body_at(node, f)?;
            let finding_id = finding["id"].as_str().unwrap_or_default().to_string();
            let mut rectifications = Vec::new();
            for r in referrers(node, &finding_id)? {
                let issued = body_at(node, r)?;
                if issued["kind"] != "rectification.issued" {
                    continue;
                }
                let rid = issued["id"].as_str().unwrap_or_default().to_string();
                let closed = referrers(node, &rid)?
                    .into_iter()
                    .map(|c| body_at(node, c))
                    .find(|b| b.as_ref().is_ok_and(|b| b["kind"] == "rectification.closed"))
                    .transpose()?;
                rectifications.push(json!({"issued": issued, "closed": closed}));
            }
            findings.push(json!({"finding": finding, "rectifications": rectifications}));
        }
    }
    Ok(json!({
        "id": id, "seq": seq, "plan": plan, "status": view, "sample": sample,
        "selected": selected, "findings": findings,
    }))
}
