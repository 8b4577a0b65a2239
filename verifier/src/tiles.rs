//! `ledger-verify tiles`: a log read as static C2SP `tlog-tiles` — from a directory that
//! `ledger-node publish` wrote, or from any URL serving the same tree (a web host, a CDN, the
//! node's own `/tile/...`).
//!
//! The entry bundles are read in order and handed to the same pipeline and checks as
//! `ledger-verify log` (`analysis::run`): every signature, rule and balance, and the published
//! checkpoint against the recomputed root. Alongside, the hash tiles are rebuilt from the
//! entries (`TileBuilder`, a few kilobytes whatever the log's length) and every published hash
//! tile is compared with its rebuilt twin: a client that reads proofs from the tiles must get
//! the very tree the checkpoint signs. A tile that is missing, malformed or different is a
//! finding that names it (exit code 1).

use crate::analysis::{self, Job, Outcome};
use crate::checkpoints::{claimed, CheckpointInput};
use crate::limits::{LINE_BYTES_MAX, TILE_FINDINGS_MAX};
use crate::pipeline::{LineFault, LineSource, RawChunk};
use crate::remote::{agent, get_if_found, progress_bar};
use crate::report::Violation;
use anyhow::{bail, Context, Result};
use ledger_core::checkpoint::{LogKey, WitnessKey};
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::limits::NOTE_BYTES_MAX;
use ledger_core::tiles::{
    encode_hash_tile, parse_entry_bundle, parse_hash_tile, Tile, TileBuilder, TileKind,
    ENTRY_BUNDLE_BYTES_MAX, HASH_TILE_BYTES_MAX,
};
use serde_json::json;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub struct TilesOptions {
    /// A directory, or an `http://` / `https://` URL prefix.
    pub location: String,
    pub pinned: Option<LogKey>,
    pub witnesses: Vec<WitnessKey>,
    pub quorum: usize,
    pub checkpoints: Vec<CheckpointInput>,
}

/// Where the tiles are.
enum Location {
    Dir(PathBuf),
    Url { agent: ureq::Agent, base: String },
}

impl Location {
    fn parse(text: &str) -> Result<Location> {
        if text.starts_with("http://") || text.starts_with("https://") {
            return Ok(Location::Url { agent: agent(), base: text.trim_end_matches('/').to_string() });
        }
        let dir = PathBuf::from(text);
        if !dir.is_dir() {
            bail!("{text} is neither an http:// or https:// URL nor a directory");
        }
        Ok(Location::Dir(dir))
    }

    /// Where `path` is, for messages and evidence.
    fn label(&self, path: &str) -> String {
        match self {
            Location::Dir(dir) => dir.join(path).display().to_string(),
            Location::Url { base, .. } => format!("{base}/{path}"),
        }
    }

    /// The bytes at `path` (at most `max`), or `None` if there is nothing there. Only a failure
    /// to read at all (network, permissions) is an error: absence is the publisher's fault.
    fn fetch(&self, path: &str, max: usize) -> Result<Option<Vec<u8>>> {
        let max = max as u64;
        match self {
            Location::Url { agent, base } => get_if_found(agent, &format!("{base}/{path}"), max),
            Location::Dir(dir) => {
                let file = dir.join(path);
                let handle = match std::fs::File::open(&file) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e).with_context(|| format!("cannot open {}", file.display())),
                };
                let mut bytes = Vec::new();
                handle
                    .take(max.saturating_add(1))
                    .read_to_end(&mut bytes)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                if bytes.len() as u64 > max {
                    bail!("{} is larger than {max} bytes", file.display());
                }
                Ok(Some(bytes))
            }
        }
    }
}

/// Tile findings, shared between the reading thread and the report.
#[derive(Default)]
struct Findings {
    kept: Vec<Violation>,
    dropped: u64,
}

/// The entry bundles as entry lines, checking the hash tiles on the way.
struct TileLines {
    location: Location,
    size: u64,
    next_bundle: u64,
    builder: TileBuilder,
    findings: Arc<Mutex<Findings>>,
}

impl TileLines {
    fn finding(&self, tile: &Tile, seq: Option<u64>, message: String) {
        let mut v = Violation::check("tile", format!("{}: {message}", tile.path()));
        v.seq = seq;
        v.evidence = Some(json!({ "tile": tile.path(), "at": self.location.label(&tile.path()) }));
        if let Ok(mut f) = self.findings.lock() {
            if f.kept.len() < TILE_FINDINGS_MAX {
                f.kept.push(v);
            } else {
                f.dropped += 1;
            }
        }
    }

    /// Compares the published hash tile with the one rebuilt from the entries.
    fn check_hash_tile(&self, tile: &Tile, rebuilt: &[Hash]) -> Result<()> {
        let Some(bytes) = self.location.fetch(&tile.path(), HASH_TILE_BYTES_MAX)? else {
            self.finding(tile, None, "the hash tile is missing".into());
            return Ok(());
        };
        if bytes == encode_hash_tile(rebuilt) {
            return Ok(());
        }
        let published = match parse_hash_tile(tile, &bytes) {
            Ok(h) => h,
            Err(e) => {
                self.finding(tile, None, format!("not a hash tile of its width: {e}"));
                return Ok(());
            }
        };
        let i = published.iter().zip(rebuilt).position(|(a, b)| a != b).unwrap_or(0);
        // At level 0 the hash is an entry's leaf hash: name that entry too.
        let seq = match tile.kind() {
            TileKind::Hashes { level: 0 } => Some(tile.index() * 256 + i as u64),
            _ => None,
        };
        self.finding(
            tile,
            seq,
            format!(
                "hash {i} of the tile is {}, but the tree recomputed from the entries has {}",
                published.get(i).map(Hash::to_hex).unwrap_or_default(),
                rebuilt.get(i).map(Hash::to_hex).unwrap_or_default()
            ),
        );
        Ok(())
    }

    /// The right-edge tiles, once every entry is read.
    fn check_partial_tiles(&self) -> Result<()> {
        for (tile, hashes) in self.builder.partial_tiles() {
            self.check_hash_tile(&tile, &hashes)?;
        }
        Ok(())
    }
}

impl LineSource for TileLines {
    fn fill(&mut self, chunk: &mut RawChunk) -> Result<bool> {
        // A chunk may overshoot CHUNK_ENTRIES_MAX by less than one bundle: still bounded.
        while !chunk.is_full() {
            let Some(tile) = Tile::for_tree(TileKind::Entries, self.next_bundle, self.size) else {
                return Ok(false);
            };
            let Some(bytes) = self.location.fetch(&tile.path(), ENTRY_BUNDLE_BYTES_MAX)? else {
                self.finding(&tile, None, "the entry bundle is missing".into());
                return Ok(false);
            };
            let entries = match parse_entry_bundle(&tile, &bytes) {
                Ok(e) => e,
                Err(e) => {
                    self.finding(&tile, None, format!("not an entry bundle of its width: {e}"));
                    return Ok(false);
                }
            };
            for entry in entries {
                if entry.len() > LINE_BYTES_MAX {
                    chunk.fault = Some(LineFault::TooLong);
                    return Ok(false);
                }
                chunk.push_line(entry);
                for (full, hashes) in self.builder.push_leaf(leaf_hash(entry)) {
                    self.check_hash_tile(&full, &hashes)?;
                }
            }
            self.next_bundle += 1;
            if self.builder.size() == self.size {
                self.check_partial_tiles()?;
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Verifies the log at `opts.location` from its checkpoint, entry bundles and hash tiles.
pub fn run(opts: TilesOptions) -> Result<Outcome> {
    let location = Location::parse(&opts.location)?;
    let checkpoint_label = location.label("checkpoint");
    let note_bytes = location
        .fetch("checkpoint", NOTE_BYTES_MAX)?
        .with_context(|| format!("{checkpoint_label} is missing"))?;
    let note =
        String::from_utf8(note_bytes).with_context(|| format!("{checkpoint_label} is not UTF-8 text"))?;
    let size = claimed(&note).with_context(|| format!("{checkpoint_label} is not a checkpoint note"))?.size;

    let findings = Arc::new(Mutex::new(Findings::default()));
    let source = TileLines {
        location,
        size,
        next_bundle: 0,
        builder: TileBuilder::new(),
        findings: Arc::clone(&findings),
    };
    let mut checkpoints = vec![CheckpointInput { label: checkpoint_label, note }];
    checkpoints.extend(opts.checkpoints);
    let job = Job {
        command: "tiles".into(),
        source_label: opts.location.clone(),
        pinned: opts.pinned,
        witnesses: opts.witnesses,
        quorum: opts.quorum,
        checkpoints,
        ..Job::default()
    };
    let mut outcome = analysis::run(&job, Box::new(source), &progress_bar(size, false), false)?;

    let found = std::mem::take(&mut *findings.lock().map_err(|_| anyhow::anyhow!("tile findings lost"))?);
    let report = &mut outcome.report;
    if found.dropped > 0 {
        report.warnings.push(format!("{} more tile findings were not kept", found.dropped));
    }
    if !found.kept.is_empty() {
        report.violations.extend(found.kept);
        report.violation = report.violations.first().cloned();
        report.ok = false;
    }
    Ok(outcome)
}
