//! `ledger-node` as a library: the store, the sequencer, the HTTP API and the demo, so that
//! tests drive `api::app` without a socket and the binary stays thin glue.
#![forbid(unsafe_code)]

pub mod api;
pub mod client;
pub mod cosign;
pub mod demo;
pub mod import;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod mirror;
pub mod node;
pub mod openapi;
pub mod ops;
pub mod page;
pub mod publish;
pub mod snapshot;
pub mod store;
pub mod tiles;
pub mod views;
pub mod witness;

/// mimalloc rather than glibc's malloc, for the node and everything that links it (its benches
/// and tests measure the allocator it runs with). The sequencer allocates and frees a dozen
/// small buffers per entry; with glibc, malloc and free took a quarter of its time at a million
/// entries (docs/PERFORMANCE.md, which also gives the memory this costs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a data directory keeps its parts.
pub struct DataDir(PathBuf);

impl DataDir {
    pub fn new(path: &Path) -> DataDir {
        DataDir(path.to_path_buf())
    }
    pub fn log_key(&self) -> PathBuf {
        self.0.join("log.key")
    }
    pub fn store(&self) -> PathBuf {
        self.0.join("store")
    }
    pub fn keys(&self) -> PathBuf {
        self.0.join("keys")
    }
    /// The saved projection (a cache of the log, see `snapshot`).
    pub fn snapshot(&self) -> PathBuf {
        self.0.join("projection.snap")
    }
    pub fn demo_marker(&self) -> PathBuf {
        self.0.join("demo.json")
    }
    /// A mirror's upstream log key, kept from its first start (given or trusted on first use).
    pub fn upstream_log_key(&self) -> PathBuf {
        self.0.join("upstream-log-key.pub")
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")
}

/// Opens a data directory's store (sled's cache `cache_mb` MiB) and log key and starts the node.
pub fn open_node(dir: &DataDir, cache_mb: u64) -> Result<Arc<node::Node>> {
    store::check_data_dir(&dir.0)?;
    if !dir.store().exists() {
        bail!("{} holds no ledger (run `ledger-node init` or `ledger-node demo` first)", dir.0.display());
    }
    let log_key = keys::read_secret(&dir.log_key())?;
    let store = store::Store::open_with_cache(&dir.store(), cache_mb)?;
    node::Node::open_with_snapshots(store, log_key, Some(dir.snapshot()))
}

/// Opens (or creates) a mirror's data directory and starts the node in mirror mode.
pub fn open_mirror(
    dir: &DataDir,
    log_key: ledger_core::checkpoint::LogKey,
    upstream: &str,
    cache_mb: u64,
) -> Result<Arc<node::Node>> {
    store::check_data_dir(&dir.0)?;
    std::fs::create_dir_all(&dir.0).with_context(|| format!("creating {}", dir.0.display()))?;
    let store = store::Store::open_with_cache(&dir.store(), cache_mb)?;
    node::Node::open_mirror(store, log_key, upstream.to_string(), Some(dir.snapshot()))
}

/// A listening socket on `listen`, with the address in the error (node, demo and witness).
pub async fn bind(listen: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))
}

/// Serves until SIGINT or SIGTERM, then finishes the requests and the group in flight.
pub async fn serve(
    node: Arc<node::Node>,
    listen: SocketAddr,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let listener = bind(listen).await?;
    on_ready(listener.local_addr()?);
    axum::serve(listener, api::app(Arc::clone(&node))).with_graceful_shutdown(shutdown_signal()).await?;
    let n = Arc::clone(&node);
    tokio::task::spawn_blocking(move || n.shutdown()).await?;
    Ok(())
}

pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: finishing the requests in flight");
}

/// Now, as an author's `at` in UTC.
pub fn now_at() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    ledger_core::time::EntryTime::from_unix_ms(ms).map(|t| t.as_str().to_string()).unwrap_or_default()
}
