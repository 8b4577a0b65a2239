//! The projection snapshot is a cache: used when it agrees with the log, caught up when it is
//! behind, and ignored (rebuilt from the log) when it is corrupt or from another history.

use crate::support::{hex64, key, now, role_key, sign};
use ledger_core::dsse::key_hex;
use ledger_core::hash::leaf_hash;
use ledger_core::merkle::{check_record, prove_record};
use ledger_core::types::Role;
use ledger_node::node::Node;
use ledger_node::{store::Store, DataDir};
use serde_json::json;
use std::sync::Arc;

/// Bounded wait for sled to let go of the store in this same process.
const REOPEN_WAIT_MS: u64 = 10_000;

fn open(data: &DataDir) -> Arc<Node> {
    // Dropping a node closes its sled store, but sled's own flusher thread holds the file lock
    // until it notices, a moment later on a loaded machine: reopening in the same process has
    // to wait for it. (A restarted node is a new process and never waits.)
    let started = std::time::Instant::now();
    let store = loop {
        match Store::open(&data.store()) {
            Ok(store) => break store,
            Err(_) if started.elapsed().as_millis() < u128::from(REOPEN_WAIT_MS) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("store: {e:#}"),
        }
    };
    Node::open_with_snapshots(store, key(3), Some(data.snapshot())).expect("node")
}

async fn append(node: &Node, body: serde_json::Value, role: Role) {
    let signer = role_key(role);
    let env = sign(&body, &[&signer]).verify().expect("valid");
    node.append(vec![env], false).await.expect("accepted");
}

async fn donate(node: &Node, id: &str, fen: u64) {
    let body = json!({"v":1,"kind":"donation.received","id":id,"at":now(),"fund":"F","amount_fen":fen,"channel":"cash","donor":hex64(7)});
    append(node, body, Role::Intake).await;
}

/// Every entry's inclusion proof checks against the published root: the tree loaded with the
/// snapshot, or rebuilt from the log, is the log's.
fn proofs_hold(node: &Node) {
    let state = &node.published.read().expect("lock").state;
    let (size, root) = (state.size(), state.root());
    for seq in 0..size {
        let bytes = node.store.entry(seq).expect("read").expect("entry");
        let proof = prove_record(size, seq, &node.store).expect("proof");
        check_record(&proof, size, root, seq, leaf_hash(&bytes)).expect("proof holds");
    }
}

fn balances(node: &Node) -> serde_json::Value {
    serde_json::to_value(node.published.read().expect("lock").state.balances()).expect("json")
}

#[tokio::test]
async fn snapshot_is_reused_caught_up_or_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataDir::new(dir.path());
    let node = open(&data);
    let genesis = json!({"v":1,"kind":"ledger.genesis","id":"genesis","at":now(),"origin":"snap.example/ledger","name":"snap","currency":"CNY","admins":[key_hex(&key(1)).to_hex()],"log_key":key_hex(&key(3)).to_hex(),"policy":{"dual_control_fen":5_000_000u64,"min_audit_permille":100,"max_backdate_days":30}});
    node.append(vec![sign(&genesis, &[&key(1)]).verify().expect("valid")], false).await.expect("genesis");
    let grant = json!({"v":1,"kind":"key.granted","id":"g","at":now(),"key":key_hex(&role_key(Role::Intake)).to_hex(),"holder":"intake","roles":["intake"]});
    append(&node, grant, Role::Admin).await;
    append(&node, json!({"v":1,"kind":"fund.opened","id":"F","at":now(),"name":"General","programme":"general","restricted":false,"opening_balance_fen":0}), Role::Admin).await;
    donate(&node, "D-1", 100).await;
    node.shutdown();
    assert!(data.snapshot().exists(), "shutdown saves the projection");
    let saved = std::fs::read(data.snapshot()).expect("read");
    let want = balances(&node);
    drop(node);

    // Reused: same figures, and lookup indexes came back with it.
    let node = open(&data);
    assert_eq!(balances(&node), want);
    proofs_hold(&node);
    assert_eq!(
        node.published.read().expect("lock").commitments.get(&ledger_core::hash::Hash([7; 32])).map(Vec::len),
        Some(1)
    );
    donate(&node, "D-2", 50).await;
    let want2 = balances(&node);
    node.shutdown();
    drop(node);

    // Behind the log (an older snapshot): caught up from the log.
    std::fs::write(data.snapshot(), &saved).expect("write");
    let node = open(&data);
    assert_eq!(balances(&node), want2);
    assert_eq!(node.published.read().expect("lock").state.size(), 5);
    proofs_hold(&node);
    node.shutdown();
    drop(node);

    // Corrupt, in the tree's hashes at its end: ignored, rebuilt from the log.
    let mut bad = std::fs::read(data.snapshot()).expect("read");
    let last = bad.len() - 1;
    bad[last] ^= 1;
    std::fs::write(data.snapshot(), &bad).expect("write");
    let node = open(&data);
    assert_eq!(balances(&node), want2);
    proofs_hold(&node);
    node.shutdown();
    drop(node);

    // From another history (a log of the same size whose entries differ): ignored.
    let other = tempfile::tempdir().expect("tempdir");
    let other_data = DataDir::new(other.path());
    let node = open(&other_data);
    node.append(vec![sign(&genesis, &[&key(1)]).verify().expect("valid")], false).await.expect("genesis");
    let grant = json!({"v":1,"kind":"key.granted","id":"g","at":now(),"key":key_hex(&role_key(Role::Intake)).to_hex(),"holder":"other desk","roles":["intake"]});
    append(&node, grant, Role::Admin).await;
    append(&node, json!({"v":1,"kind":"fund.opened","id":"F","at":now(),"name":"General","programme":"general","restricted":false,"opening_balance_fen":0}), Role::Admin).await;
    donate(&node, "D-1", 999).await;
    donate(&node, "D-2", 999).await;
    node.shutdown();
    drop(node);
    std::fs::copy(other_data.snapshot(), data.snapshot()).expect("copy");
    let node = open(&data);
    assert_eq!(balances(&node), want2, "a snapshot of another history is not used");
    node.shutdown();
}
