//! `ledger-verify url`: the same checks against a running node. Reads the node's signed
//! `/checkpoint`, pages through `/v1/entries` up to its size, and compares `/v1/balances` at
//! that size. With `--state-dir` the downloaded entries are kept, and the prefix verified by
//! an earlier run is re-applied without checking its signatures again, so a re-run only
//! downloads and verifies what is new.

use crate::analysis::{self, Job, Outcome};
use crate::balances::BalancesInput;
use crate::checkpoints::{claimed, CheckpointInput, CheckpointStatus};
use crate::input::read_bounded;
use crate::limits::{
    BALANCES_BYTES_MAX, ERROR_BODY_BYTES_MAX, HTTP_ATTEMPTS_MAX, HTTP_CONNECT_TIMEOUT_MS,
    HTTP_READ_TIMEOUT_MS, HTTP_RETRY_PAUSE_MS, PAGE_BYTES_MAX, PAGE_ENTRIES_MAX, PROGRESS_FILE_BYTES_MAX,
};
use crate::pipeline::{ChainSource, LineSource, RawChunk, ReaderSource};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use ledger_core::checkpoint::{LogKey, WitnessKey};
use ledger_core::encoding::hash_from_b64;
use ledger_core::hash::leaf_hash;
use ledger_core::limits::NOTE_BYTES_MAX;
use ledger_core::merkle::Frontier;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ENTRIES_FILE: &str = "entries.jsonl";
const PROGRESS_FILE: &str = "progress.json";
const PROGRESS_VERSION: u32 = 1;

pub struct UrlOptions {
    pub url: String,
    pub pinned: Option<LogKey>,
    pub witnesses: Vec<WitnessKey>,
    pub quorum: usize,
    pub checkpoints: Vec<CheckpointInput>,
    pub state_dir: Option<PathBuf>,
    /// Check every signature again, even of entries an earlier run verified.
    pub reverify: bool,
}

/// What `--state-dir` remembers between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Progress {
    version: u32,
    url: String,
    /// The log key the checks used, as a verifier key.
    log_key: Option<String>,
    /// Entries verified (the valid prefix of `entries.jsonl`).
    verified_size: u64,
    /// RFC 6962 root of that prefix, base64.
    root: String,
    /// Leaf hash of its last entry, hex.
    last_leaf: String,
    /// The node's checkpoint that run saw, kept to catch a later fork.
    checkpoint: Option<String>,
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_millis(HTTP_CONNECT_TIMEOUT_MS))
        .timeout_read(Duration::from_millis(HTTP_READ_TIMEOUT_MS))
        .build()
}

/// GETs `url` and reads at most `max` bytes of a 200 answer. Transport errors are retried.
fn get(agent: &ureq::Agent, url: &str, max: u64) -> Result<Vec<u8>> {
    match get_if_found(agent, url, max)? {
        Some(body) => Ok(body),
        None => bail!("{url} answered HTTP 404: not found"),
    }
}

/// Like [`get`], but a 404 is `None`: for static files (tiles) that may rightly be absent.
pub(crate) fn get_if_found(agent: &ureq::Agent, url: &str, max: u64) -> Result<Option<Vec<u8>>> {
    let mut attempt = 1;
    loop {
        match agent.get(url).call() {
            Ok(response) => {
                let mut body = Vec::new();
                response
                    .into_reader()
                    .take(max.saturating_add(1))
                    .read_to_end(&mut body)
                    .with_context(|| format!("reading {url}"))?;
                if body.len() as u64 > max {
                    bail!("{url} answered more than {max} bytes");
                }
                return Ok(Some(body));
            }
            Err(ureq::Error::Status(404, _)) => return Ok(None),
            Err(ureq::Error::Status(code, response)) => {
                let mut text = String::new();
                let _ = response.into_reader().take(ERROR_BODY_BYTES_MAX).read_to_string(&mut text);
                bail!("{url} answered HTTP {code}: {}", text.trim());
            }
            Err(ureq::Error::Transport(t)) if attempt < HTTP_ATTEMPTS_MAX => {
                eprintln!("ledger-verify: {url}: {t}; retrying");
                std::thread::sleep(Duration::from_millis(HTTP_RETRY_PAUSE_MS * u64::from(attempt)));
                attempt += 1;
            }
            Err(ureq::Error::Transport(t)) => bail!("cannot fetch {url}: {t}"),
        }
    }
}

/// Pages of `/v1/entries` from `next` to `end`, each line also appended to the cache.
struct PagedSource {
    agent: ureq::Agent,
    base: String,
    next: u64,
    end: u64,
    cache: Option<BufWriter<File>>,
}

impl LineSource for PagedSource {
    fn fill(&mut self, chunk: &mut RawChunk) -> Result<bool> {
        // A chunk may overshoot CHUNK_ENTRIES_MAX by less than one page: still bounded.
        while !chunk.is_full() && self.next < self.end {
            let limit = PAGE_ENTRIES_MAX.min(self.end - self.next);
            let url = format!("{}/v1/entries?start={}&limit={limit}", self.base, self.next);
            let body = get(&self.agent, &url, PAGE_BYTES_MAX)?;
            let mut reader: &[u8] = &body;
            let mut got = 0u64;
            while got < limit && chunk.read_line(&mut reader)? {
                if chunk.unterminated_last {
                    bail!("{url}: the page ends in the middle of a line");
                }
                if let Some(cache) = self.cache.as_mut() {
                    cache.write_all(chunk.line(chunk.len() - 1))?;
                    cache.write_all(b"\n")?;
                }
                got += 1;
            }
            if let Some(cache) = self.cache.as_mut() {
                cache.flush()?;
            }
            if chunk.fault.is_some() {
                return Ok(false);
            }
            if got == 0 {
                bail!(
                    "the node served no entry at seq {} although its checkpoint has {}",
                    self.next,
                    self.end
                );
            }
            self.next += got;
        }
        Ok(self.next < self.end)
    }
}

/// Counts the complete lines of the cache and cuts off a line a killed run left half written.
fn complete_lines(path: &Path) -> Result<u64> {
    let Ok(file) = File::open(path) else { return Ok(0) };
    let mut reader = BufReader::new(file);
    let (mut lines, mut good_len, mut len) = (0u64, 0u64, 0u64);
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        for (i, &b) in buf.iter().enumerate() {
            if b == b'\n' {
                lines += 1;
                good_len = len + i as u64 + 1;
            }
        }
        len += n as u64;
        reader.consume(n);
    }
    if good_len < len {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(good_len)?;
    }
    Ok(lines)
}

/// The root of the first `size` cached lines, to see that the cache is what was verified.
fn cached_prefix_root(path: &Path, size: u64) -> Result<Option<ledger_core::hash::Hash>> {
    let mut chunk_reader = ReaderSource::with_limit(BufReader::new(File::open(path)?), size);
    let mut frontier = Frontier::new();
    loop {
        let mut chunk = RawChunk::new(frontier.size());
        let more = chunk_reader.fill(&mut chunk)?;
        for i in 0..chunk.len() {
            frontier.push(leaf_hash(chunk.line(i)));
        }
        if !more || chunk.fault.is_some() || chunk.is_empty() {
            break;
        }
    }
    Ok((frontier.size() == size).then(|| frontier.root()))
}

fn load_progress(dir: &Path) -> Option<Progress> {
    let bytes = read_bounded(&dir.join(PROGRESS_FILE), PROGRESS_FILE_BYTES_MAX, "progress file").ok()?;
    serde_json::from_slice::<Progress>(&bytes).ok().filter(|p| p.version == PROGRESS_VERSION)
}

fn save_progress(dir: &Path, progress: &Progress) -> Result<()> {
    let tmp = dir.join(format!("{PROGRESS_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(progress)?)?;
    std::fs::rename(&tmp, dir.join(PROGRESS_FILE))?;
    Ok(())
}

pub fn progress_bar(len: u64, in_bytes: bool) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let template = if in_bytes {
        "{spinner} verifying [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})"
    } else {
        "{spinner} verifying [{bar:40}] {pos}/{len} entries ({per_sec}, {eta})"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

pub fn run(opts: UrlOptions) -> Result<Outcome> {
    let base = opts.url.trim_end_matches('/').to_string();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        bail!("{} is not an http:// or https:// URL", opts.url);
    }
    let agent = agent();
    let note_bytes = get(&agent, &format!("{base}/checkpoint"), NOTE_BYTES_MAX as u64)?;
    let note = String::from_utf8(note_bytes).context("the node's /checkpoint is not UTF-8 text")?;
    let size = claimed(&note).context("the node's /checkpoint is not a checkpoint note")?.size;
    let balances_bytes = get(&agent, &format!("{base}/v1/balances?size={size}"), BALANCES_BYTES_MAX)?;
    let balances = BalancesInput::parse(&format!("{base}/v1/balances?size={size}"), &balances_bytes)?;

    let mut checkpoints = vec![CheckpointInput { label: format!("{base}/checkpoint"), note: note.clone() }];
    let mut warnings = Vec::new();
    let mut trusted_below = 0;
    let mut local_lines = 0;
    let mut cache = None;
    if let Some(dir) = &opts.state_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create state dir {}", dir.display()))?;
        let entries = dir.join(ENTRIES_FILE);
        local_lines = complete_lines(&entries)?;
        if let Some(progress) = load_progress(dir) {
            if let (Some(pinned), Some(theirs)) = (&opts.pinned, &progress.log_key) {
                if pinned.verifier_key() != *theirs {
                    bail!(
                        "state dir {} holds the log of key {theirs}, not of --log-key {}: use another --state-dir",
                        dir.display(),
                        pinned.verifier_key()
                    );
                }
            }
            if let Some(old) = &progress.checkpoint {
                checkpoints.push(CheckpointInput {
                    label: format!(
                        "checkpoint seen by an earlier run ({})",
                        dir.join(PROGRESS_FILE).display()
                    ),
                    note: old.clone(),
                });
            }
            let saved_root = hash_from_b64(&progress.root);
            if !opts.reverify && progress.verified_size > 0 && progress.verified_size <= local_lines {
                if saved_root.is_some() && cached_prefix_root(&entries, progress.verified_size)? == saved_root
                {
                    trusted_below = progress.verified_size;
                } else {
                    warnings.push(format!(
                        "the cached entries in {} are not those an earlier run verified: checking all again",
                        dir.display()
                    ));
                }
            }
            if size < progress.verified_size {
                warnings.push(format!(
                    "the node's checkpoint has size {size}, smaller than the {} entries verified before",
                    progress.verified_size
                ));
            }
        }
        let mut file = OpenOptions::new().create(true).append(true).read(true).open(&entries)?;
        file.seek(SeekFrom::End(0))?;
        cache = Some((entries, BufWriter::new(file)));
    }

    let (cache_path, cache_writer) = match cache {
        Some((path, writer)) => (Some(path), Some(writer)),
        None => (None, None),
    };
    let remote = PagedSource { agent, base: base.clone(), next: local_lines, end: size, cache: cache_writer };
    let source: Box<dyn LineSource> = match &cache_path {
        Some(path) if local_lines > 0 => Box::new(ChainSource {
            first: Some(Box::new(ReaderSource::with_limit(BufReader::new(File::open(path)?), local_lines))),
            second: Box::new(remote),
        }),
        _ => Box::new(remote),
    };
    checkpoints.extend(opts.checkpoints);
    let job = Job {
        command: "url".into(),
        source_label: base.clone(),
        pinned: opts.pinned,
        witnesses: opts.witnesses,
        quorum: opts.quorum,
        checkpoints,
        balances: Some(balances),
        trusted_below,
        ..Job::default()
    };
    if trusted_below > 0 {
        warnings.push(format!(
            "resumed: the first {trusted_below} entries were verified by an earlier run and were re-applied \
             without checking their signatures again (--reverify checks them too)"
        ));
    }
    let bar = progress_bar(size.max(local_lines), false);
    let mut outcome = analysis::run(&job, source, &bar, false)?;
    outcome.report.warnings.extend(warnings);

    if let Some(dir) = &opts.state_dir {
        let node_checkpoint_ok =
            outcome.report.checkpoints.first().is_some_and(|c| c.status == CheckpointStatus::Ok);
        let progress = Progress {
            version: PROGRESS_VERSION,
            url: base,
            log_key: outcome.log_key.as_ref().map(|k| k.verifier_key()),
            verified_size: outcome.report.entries,
            root: outcome.report.root.clone(),
            last_leaf: outcome.last_leaf.to_hex(),
            checkpoint: if node_checkpoint_ok {
                Some(note)
            } else {
                load_progress(dir).and_then(|p| p.checkpoint)
            },
        };
        save_progress(dir, &progress)?;
    }
    Ok(outcome)
}
