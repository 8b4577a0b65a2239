//! `ledger-node demo`: a county year, loaded through the node's real HTTP append path (not by
//! writing sled), on a clock that follows the events' `at`, then served.

use crate::{client, keys, node, store, DataDir};
use anyhow::{bail, Context, Result};
use ledger_core::scenario::{generate, Scenario, ScenarioConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// The demo log's name.
pub const DEMO_ORIGIN: &str = "lanling-charity.example/ledger";
/// Envelopes per `POST /v1/batch` while loading.
const LOAD_BATCH_ENVELOPES: usize = 1000;

pub struct DemoArgs {
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub scale: u32,
    pub seed: u64,
    pub reset: bool,
    pub serve: bool,
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let dir = DataDir::new(&args.data);
    if args.reset && dir.demo_marker().exists() {
        std::fs::remove_dir_all(&args.data).with_context(|| format!("removing {}", args.data.display()))?;
    }
    let fresh = !dir.store().exists();
    if !fresh && !dir.demo_marker().exists() {
        bail!(
            "{} holds a ledger that is not a demo; use `serve --data` or another --data",
            args.data.display()
        );
    }
    let scenario = fresh.then(|| {
        let year = current_year() - 1;
        eprintln!("generating a county year ({year}, scale {}, seed {}) ...", args.scale, args.seed);
        generate(&ScenarioConfig {
            seed: args.seed,
            scale: args.scale,
            origin: DEMO_ORIGIN.to_string(),
            year,
        })
    });
    if let Some(s) = &scenario {
        write_keys(&dir, s)?;
    }
    let log_key = keys::read_secret(&dir.log_key())?;
    let store = store::Store::open(&dir.store())?;
    let node = node::Node::open_with_snapshots(store, log_key, Some(dir.snapshot()))?;
    let runtime = crate::runtime()?;
    runtime.block_on(async move {
        let listener = crate::bind(args.listen).await?;
        let addr = listener.local_addr()?;
        let server_node = Arc::clone(&node);
        let server = tokio::spawn(async move {
            axum::serve(listener, crate::api::app(server_node))
                .with_graceful_shutdown(shutdown_signal())
                .await
        });
        let url = format!("http://{addr}");
        if let Some(scenario) = scenario {
            node.clock.set_follow_events(true);
            let started = Instant::now();
            let count = scenario.events.len();
            let load_url = url.clone();
            tokio::task::spawn_blocking(move || load(&load_url, &scenario)).await??;
            let seconds = started.elapsed().as_secs_f64();
            node.clock.set_follow_events(false);
            std::fs::write(
                dir.demo_marker(),
                serde_json::to_vec_pretty(&serde_json::json!({
                    "seed": args.seed, "scale": args.scale, "events": count, "load_seconds": seconds,
                }))?,
            )?;
            eprintln!(
                "loaded {count} events through POST /v1/batch in {seconds:.2} s ({:.0} events/s)",
                count as f64 / seconds
            );
        }
        print_summary(&node, &url, &args.data)?;
        if args.serve {
            println!("serving; press Ctrl-C to stop");
            server.await??;
        } else {
            server.abort();
        }
        let n = Arc::clone(&node);
        tokio::task::spawn_blocking(move || n.shutdown()).await?;
        Ok(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else { return std::future::pending().await };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn current_year() -> i32 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    ledger_core::time::EntryTime::from_unix_ms(ms)
        .and_then(|t| t.as_str().get(..4).and_then(|y| y.parse().ok()))
        .unwrap_or(2026)
}

/// Every role's key and the log key, as 0600 files, so an operator can sign more events.
fn write_keys(dir: &DataDir, scenario: &Scenario) -> Result<()> {
    std::fs::create_dir_all(dir.keys())?;
    keys::write_secret(&dir.log_key(), scenario.keys.log_key())?;
    for (label, key) in scenario.keys.all() {
        keys::write_secret(&dir.keys().join(format!("{label}.key")), key)?;
    }
    Ok(())
}

/// Posts the year in order, a batch at a time, as any client would.
fn load(url: &str, scenario: &Scenario) -> Result<()> {
    let agent = client::agent();
    let endpoint = format!("{url}/v1/batch");
    for chunk in scenario.events.chunks(LOAD_BATCH_ENVELOPES) {
        let mut body = Vec::with_capacity(chunk.len() * 800);
        body.push(b'[');
        for (i, ev) in chunk.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(ev.envelope.to_json().as_bytes());
        }
        body.push(b']');
        let (status, answer) = client::post_json(&agent, &endpoint, &body)?;
        if status != 201 && status != 200 {
            let index = answer["index"].as_u64().unwrap_or(0) as usize;
            let id = chunk.get(index).map(|e| e.id.as_str()).unwrap_or("?");
            bail!("the node refused demo event {id}: {answer}");
        }
    }
    Ok(())
}

fn print_summary(node: &node::Node, url: &str, data: &std::path::Path) -> Result<()> {
    let log_key = crate::api::log_key_string(node).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let (size, totals) = {
        let p = node.published.read().map_err(|_| anyhow::anyhow!("poisoned"))?;
        (p.state.size(), p.state.totals())
    };
    println!("charity ledger demo: {size} entries");
    println!("  received  ¥{}", yuan(totals.received_fen));
    println!("  disbursed ¥{}", yuan(totals.disbursed_fen));
    println!("  held      ¥{}", yuan(totals.held_in_funds_fen + totals.held_in_cases_fen));
    println!("URL:            {url}/");
    println!("log key:        {log_key}");
    println!("verify it:      cargo run --release -p verifier -- url {url} --log-key '{log_key}'");
    println!("serve it again: cargo run --release -p ledger-node -- serve --data {}", data.display());
    Ok(())
}

pub fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}
