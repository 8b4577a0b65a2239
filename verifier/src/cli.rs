//! The command line: arguments into a typed job, the job run by the library, the result
//! written as text, JSON or HTML, and the exit code: 0 all checks hold, 1 the ledger breaks a
//! rule, 2 the tool could not run (bad arguments, unreadable input; clap's errors too).

use crate::analysis::{self, Job};
use crate::balances::BalancesInput;
use crate::checkpoints::CheckpointInput;
use crate::input::{parse_log_key, parse_witness_key, read_bounded, read_text_bounded};
use crate::limits::{
    BALANCES_BYTES_MAX, CHECKPOINTS_MAX, CHECKPOINT_FILE_BYTES_MAX, READ_BUFFER_BYTES, WITNESSES_MAX,
};
use crate::pipeline::ReaderSource;
use crate::remote::{self, progress_bar, UrlOptions};
use crate::report::{self, KeySource, Report};
use anyhow::{bail, Context, Result};
use clap::{ArgAction, Args, Parser, Subcommand};
use ledger_core::checkpoint::{LogKey, WitnessKey};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code: every check holds.
pub const EXIT_HOLDS: u8 = 0;
/// Exit code: the ledger breaks a rule (or a checkpoint, receipt or balance is false).
pub const EXIT_BROKEN: u8 = 1;
/// Exit code: the tool could not run.
pub const EXIT_CANNOT_RUN: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "ledger-verify",
    version,
    about = "Checks a charity ledger without trusting the charity: every signature, rule, balance and checkpoint.",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify an export (JSON Lines, one entry per line) completely.
    Log(LogArgs),
    /// Verify a running node: its entries, its checkpoint and its published balances.
    Url(UrlArgs),
    /// Verify a log published as static C2SP tlog-tiles (a directory or a URL prefix): its
    /// checkpoint, every entry bundle and every hash tile.
    Tiles(TilesArgs),
    /// Check a donor's receipt bundle offline.
    Receipt(ReceiptArgs),
    /// Recompute where a donation went, portion by portion.
    Trace(TraceArgs),
    /// Check that two signed checkpoints are one history.
    Consistency(ConsistencyArgs),
    /// Recompute disclosure exports (CSV, IATI, 360Giving, quarterly report) from an export at
    /// a tree size, byte for byte as the node serves them at `/v1/exports/{name}?size=M`.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// The export, JSON Lines.
    file: PathBuf,
    /// The tree size to compute at: the first M entries (default: all of them).
    #[arg(long, value_name = "M")]
    size: Option<u64>,
    /// Exports to write (repeatable): donations.csv, allocations.csv, disbursements.csv,
    /// funds.csv, cases.csv, iati.xml, 360giving.csv, report-YYYYQn.md, report-YYYYQn.html, all.
    #[arg(long = "format", value_name = "NAME", required = true)]
    formats: Vec<String>,
    /// Where to write them.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
}

#[derive(Debug, Args)]
struct KeyArgs {
    /// The log's verifier key (`origin+hash+base64`), from a source you trust. Without it the
    /// key is taken from the log itself, which proves nothing against a forged log.
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
    /// Witness verifier keys whose cosignatures count towards the quorum (one or more per
    /// flag; the flag may be repeated).
    #[arg(long = "witness", value_name = "VKEY", num_args = 1.., action = ArgAction::Append)]
    witnesses: Vec<String>,
    /// How many of the given witnesses must cosign each checkpoint (default: all of them).
    #[arg(long, value_name = "N")]
    quorum: Option<usize>,
}

#[derive(Debug, Args)]
struct OutputArgs {
    /// Print the report as JSON (the same figures) instead of text.
    #[arg(long)]
    json: bool,
    /// Also write a printable, self-contained HTML audit report.
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct LogArgs {
    /// The export, JSON Lines.
    file: PathBuf,
    /// A signed checkpoint (C2SP note) to check against the log (repeatable).
    #[arg(long = "checkpoint", value_name = "FILE", action = ArgAction::Append)]
    checkpoints: Vec<PathBuf>,
    /// A `/v1/balances` document to compare, at its own size.
    #[arg(long, value_name = "FILE")]
    balances: Option<PathBuf>,
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct UrlArgs {
    /// The node's base URL, e.g. https://charity.example
    url: String,
    /// Keep downloaded entries and the verified prefix here, so a re-run continues.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Check every signature again, even of entries an earlier run verified.
    #[arg(long)]
    reverify: bool,
    /// Another signed checkpoint to check, e.g. one a witness or a friend saw (repeatable).
    #[arg(long = "checkpoint", value_name = "FILE", action = ArgAction::Append)]
    checkpoints: Vec<PathBuf>,
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct TilesArgs {
    /// Where the tiles are: a directory (`ledger-node publish --out`) or a URL prefix serving
    /// `checkpoint` and `tile/...`, e.g. https://charity.example or the node itself.
    location: String,
    /// Another signed checkpoint to check, e.g. one a witness or a friend saw (repeatable).
    #[arg(long = "checkpoint", value_name = "FILE", action = ArgAction::Append)]
    checkpoints: Vec<PathBuf>,
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct ReceiptArgs {
    /// The receipt bundle (JSON, as `/v1/donations/{id}/receipt` serves it).
    file: PathBuf,
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
    /// The log's export, to verify it and trace the gift.
    #[arg(long, value_name = "FILE.jsonl")]
    export: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct TraceArgs {
    /// The export, JSON Lines.
    file: PathBuf,
    /// The donation's id.
    #[arg(long, value_name = "ID")]
    donation: String,
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ConsistencyArgs {
    /// The older signed checkpoint.
    old: PathBuf,
    /// The newer signed checkpoint.
    new: PathBuf,
    /// The consistency proof, `{"from","to","proof":[base64]}`.
    #[arg(long, value_name = "FILE")]
    proof: PathBuf,
    #[arg(long, value_name = "VKEY")]
    log_key: String,
    #[arg(long)]
    json: bool,
}

/// Parses the arguments, runs, prints, and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_CANNOT_RUN } else { EXIT_HOLDS });
        }
    };
    let json = match &cli.command {
        Command::Log(a) => a.output.json,
        Command::Url(a) => a.output.json,
        Command::Tiles(a) => a.output.json,
        Command::Receipt(a) => a.json,
        Command::Trace(a) => a.json,
        Command::Consistency(a) => a.json,
        Command::Export(_) => false,
    };
    match run(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // A reader that closed the pipe early (`| head`) has what it wanted: no message,
            // and no second write that would fail the same way.
            let closed_pipe = e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if !closed_pipe {
                eprintln!("ledger-verify: {e:#}");
                if json {
                    let body = serde_json::json!({ "ok": false, "error": format!("{e:#}") });
                    let _ = writeln!(std::io::stdout(), "{body}");
                }
            }
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

fn run(command: Command) -> Result<u8> {
    match command {
        Command::Log(a) => run_log(a),
        Command::Url(a) => run_url(a),
        Command::Tiles(a) => run_tiles(a),
        Command::Receipt(a) => run_receipt(a),
        Command::Trace(a) => run_trace(a),
        Command::Consistency(a) => run_consistency(a),
        Command::Export(a) => run_export(a),
    }
}

fn pinned_key(text: &Option<String>) -> Result<Option<LogKey>> {
    text.as_deref().map(parse_log_key).transpose()
}

fn witnesses(keys: &KeyArgs) -> Result<(Vec<WitnessKey>, usize)> {
    if keys.witnesses.len() > WITNESSES_MAX {
        bail!("at most {WITNESSES_MAX} --witness keys");
    }
    let witnesses: Vec<WitnessKey> =
        keys.witnesses.iter().map(|w| parse_witness_key(w)).collect::<Result<_>>()?;
    let quorum = keys.quorum.unwrap_or(witnesses.len());
    if keys.quorum.is_some() && witnesses.is_empty() {
        bail!("--quorum needs --witness keys");
    }
    if quorum > witnesses.len() {
        bail!("--quorum {quorum} is more than the {} --witness keys given", witnesses.len());
    }
    Ok((witnesses, quorum))
}

fn read_checkpoints(paths: &[PathBuf]) -> Result<Vec<CheckpointInput>> {
    if paths.len() > CHECKPOINTS_MAX {
        bail!("at most {CHECKPOINTS_MAX} --checkpoint files");
    }
    paths
        .iter()
        .map(|p| {
            Ok(CheckpointInput {
                label: p.display().to_string(),
                note: read_text_bounded(p, CHECKPOINT_FILE_BYTES_MAX, "checkpoint")?,
            })
        })
        .collect()
}

fn open_export(path: &Path) -> Result<(std::fs::File, u64)> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        bail!("{} is a directory, not an export", path.display());
    }
    Ok((file, len))
}

/// Says loudly, on standard error whatever the output format, when the key was not pinned.
fn warn_unpinned(report: &Report) {
    if report.log.as_ref().and_then(|l| l.log_key_source) == Some(KeySource::Genesis) {
        eprintln!(
            "ledger-verify: WARNING: no --log-key given; the log key was taken from the log itself (genesis \
             log_key). Checkpoints are checked against a key the log chose. Pin the published key."
        );
    }
}

fn emit(report: &Report, output: &OutputArgs) -> Result<u8> {
    warn_unpinned(report);
    if let Some(path) = &output.report {
        std::fs::write(path, crate::html::render(report))
            .with_context(|| format!("cannot write the HTML report {}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    if output.json {
        serde_json::to_writer_pretty(&mut stdout, report)?;
        writeln!(stdout)?;
    } else {
        stdout.write_all(report::human(report).as_bytes())?;
    }
    stdout.flush()?;
    Ok(report.exit_code())
}

fn run_log(a: LogArgs) -> Result<u8> {
    let pinned = pinned_key(&a.keys.log_key)?;
    let (witnesses, quorum) = witnesses(&a.keys)?;
    let checkpoints = read_checkpoints(&a.checkpoints)?;
    let balances = a
        .balances
        .as_ref()
        .map(|p| {
            BalancesInput::parse(&p.display().to_string(), &read_bounded(p, BALANCES_BYTES_MAX, "balances")?)
        })
        .transpose()?;
    let (file, len) = open_export(&a.file)?;
    let job = Job {
        command: "log".into(),
        source_label: a.file.display().to_string(),
        pinned,
        witnesses,
        quorum,
        checkpoints,
        balances,
        ..Job::default()
    };
    let source = Box::new(ReaderSource::new(std::io::BufReader::with_capacity(READ_BUFFER_BYTES, file)));
    let outcome = analysis::run(&job, source, &progress_bar(len, true), true)?;
    emit(&outcome.report, &a.output)
}

fn run_url(a: UrlArgs) -> Result<u8> {
    let (witnesses, quorum) = witnesses(&a.keys)?;
    let outcome = remote::run(UrlOptions {
        url: a.url,
        pinned: pinned_key(&a.keys.log_key)?,
        witnesses,
        quorum,
        checkpoints: read_checkpoints(&a.checkpoints)?,
        state_dir: a.state_dir,
        reverify: a.reverify,
    })?;
    emit(&outcome.report, &a.output)
}

fn run_tiles(a: TilesArgs) -> Result<u8> {
    let (witnesses, quorum) = witnesses(&a.keys)?;
    let outcome = crate::tiles::run(crate::tiles::TilesOptions {
        location: a.location,
        pinned: pinned_key(&a.keys.log_key)?,
        witnesses,
        quorum,
        checkpoints: read_checkpoints(&a.checkpoints)?,
    })?;
    emit(&outcome.report, &a.output)
}

fn run_receipt(a: ReceiptArgs) -> Result<u8> {
    let pinned = pinned_key(&a.log_key)?;
    let report = crate::receipt::run(&a.file, pinned, a.export.as_deref())?;
    if report.log_key_source == Some(KeySource::Receipt) {
        eprintln!(
            "ledger-verify: WARNING: no --log-key given; the key was taken from the receipt itself. \
             Pin the key the charity publishes."
        );
    }
    let mut stdout = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else {
        stdout.write_all(crate::receipt::human(&report).as_bytes())?;
    }
    stdout.flush()?;
    Ok(report.exit_code())
}

fn run_trace(a: TraceArgs) -> Result<u8> {
    let pinned = pinned_key(&a.log_key)?;
    let (file, len) = open_export(&a.file)?;
    let job = Job {
        command: "trace".into(),
        source_label: a.file.display().to_string(),
        pinned,
        trace: Some(a.donation.clone()),
        ..Job::default()
    };
    let source = Box::new(ReaderSource::new(std::io::BufReader::with_capacity(READ_BUFFER_BYTES, file)));
    let outcome = analysis::run(&job, source, &progress_bar(len, true), true)?;
    let report = &outcome.report;
    warn_unpinned(report);
    let code = report.exit_code();
    if code == EXIT_HOLDS && outcome.trace.is_none() {
        bail!("the log holds no donation.received with id {:?}", a.donation);
    }
    let mut stdout = std::io::stdout().lock();
    if a.json {
        let body = serde_json::json!({
            "ok": code == EXIT_HOLDS,
            "donation": a.donation,
            "trace": outcome.trace.as_deref().map(crate::trace::json),
            "entries": report.entries,
            "root": report.root,
            "violation": report.violation,
            "warnings": report.warnings,
        });
        serde_json::to_writer_pretty(&mut stdout, &body)?;
        writeln!(stdout)?;
    } else if code == EXIT_HOLDS {
        if let Some(portions) = &outcome.trace {
            stdout.write_all(crate::trace::human(&a.donation, portions).as_bytes())?;
        }
        for w in &report.warnings {
            writeln!(stdout, "warning: {w}")?;
        }
    } else {
        stdout.write_all(report::human(report).as_bytes())?;
    }
    stdout.flush()?;
    Ok(code)
}

fn run_consistency(a: ConsistencyArgs) -> Result<u8> {
    let key = parse_log_key(&a.log_key)?;
    let report = crate::consistency::run(&a.old, &a.new, &a.proof, &key)?;
    let mut stdout = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else {
        stdout.write_all(crate::consistency::human(&report).as_bytes())?;
    }
    stdout.flush()?;
    Ok(report.exit_code())
}

fn run_export(a: ExportArgs) -> Result<u8> {
    use ledger_core::disclosure::{render, Export};
    let pinned = pinned_key(&a.log_key)?;
    let (file, len) = open_export(&a.file)?;
    let job = Job {
        command: "export".into(),
        source_label: a.file.display().to_string(),
        pinned,
        disclosure: true,
        ..Job::default()
    };
    let reader = std::io::BufReader::with_capacity(READ_BUFFER_BYTES, file);
    let source = match a.size {
        Some(m) => Box::new(ReaderSource::with_limit(reader, m)),
        None => Box::new(ReaderSource::new(reader)),
    };
    let outcome = analysis::run(&job, source, &progress_bar(len, true), true)?;
    let report = &outcome.report;
    warn_unpinned(report);
    if report.exit_code() != EXIT_HOLDS {
        std::io::stdout().lock().write_all(report::human(report).as_bytes())?;
        return Ok(report.exit_code());
    }
    let (book, state) = outcome.disclosure.context("the run kept no disclosure book")?;
    if let Some(m) = a.size.filter(|m| *m != state.size()) {
        bail!("size {m} asked, but {} holds only {} entries", a.file.display(), state.size());
    }
    let mut exports = Vec::new();
    for name in &a.formats {
        if name == "all" {
            exports.extend(book.exports());
        } else {
            exports.push(Export::parse(name).with_context(|| format!("no export {name:?}"))?);
        }
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut stdout = std::io::stdout().lock();
    for export in exports {
        let bytes = render(export, &book, &state).map_err(|e| anyhow::anyhow!("{e}"))?;
        let path = a.out.join(export.name());
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        writeln!(stdout, "{}", path.display())?;
    }
    writeln!(stdout, "computed at tree size {} with root {}", state.size(), state.root().to_base64())?;
    Ok(EXIT_HOLDS)
}
