//! lots.json: a small history through every money-moving kind, with exact balances, traces
//! and refusals (SPEC.md §6).

use crate::support::Harness;
use crate::vectors;
use serde_json::{json, Value};

#[test]
fn lots_vector_balances_traces_and_refusals() {
    let v = vectors("lots.json");
    let mut h = Harness::new();
    for step in v["steps"].as_array().expect("steps") {
        assert_eq!(h.state.size(), step["seq"].as_u64().expect("seq"), "steps are appended at their seqs");
        h.append(step["body"].clone()).unwrap_or_else(|e| panic!("step {}: {e}", step["seq"]));
        h.state.check_lots().expect("lots consistent after every step");
    }
    let fin = &v["final"];
    let balances = serde_json::to_value(h.state.balances()).expect("json");
    for (name, want) in fin["totals"].as_object().expect("totals") {
        assert_eq!(&balances["totals"][name], want, "totals.{name}");
    }
    for group in ["funds", "cases"] {
        for (id, want) in fin[group].as_object().expect("group") {
            let got = &balances[group][id];
            assert_eq!(got["cash_fen"], want["cash_fen"], "{group}.{id}.cash_fen");
            assert_eq!(got["goods"], want["goods"], "{group}.{id}.goods");
        }
    }
    for (id, want) in fin["traces"].as_object().expect("traces") {
        let trace = h.state.trace(id).expect("donation exists");
        let got: Vec<Value> = trace.iter().map(|p| p.to_json()).collect();
        assert_eq!(json!(got), *want, "trace of {id}");
    }
    for r in v["refusals"].as_array().expect("refusals") {
        h.refused(r["body"].clone(), r["rule"].as_str().expect("rule"));
    }
}
