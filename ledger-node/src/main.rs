//! `ledger-node`: thin glue. Parses the command line into a typed command and calls the node,
//! the store or the client; errors become messages and exit codes (2 for bad arguments, 1 for
//! everything that went wrong after that).
#![forbid(unsafe_code)]

use ledger_node::{
    api, client, cosign, demo, import, keys, limits, mirror, node, now_at, open_mirror, open_node, ops,
    publish, runtime, serve, store, witness, DataDir,
};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use ledger_core::disclosure::{self, Export};
use ledger_core::dsse::Envelope;
use ledger_node::limits::EXPORT_FILE_BYTES_MAX;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "ledger-node",
    version,
    about = "The charity ledger node: a verifiable log of donations, allocations and disbursements"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as text or as JSON objects.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Creates a ledger with generated keys, loads a county year through the real append
    /// path, and serves it.
    Demo {
        #[arg(long, default_value = "ledger-demo")]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Multiplies the volumes of the county year.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
        scale: u32,
        /// Seed of the generated year: the same seed gives the same ledger.
        #[arg(long, default_value_t = 2025)]
        seed: u64,
        /// Wipes a demo ledger already in --data and loads it again.
        #[arg(long)]
        reset: bool,
        /// Loads, prints the summary and exits instead of serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Writes genesis and the log key into a new data directory.
    Init(InitArgs),
    /// Serves an existing ledger, and asks the witnesses its log declares to cosign.
    Serve {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// At most one round of cosigning requests per this many milliseconds.
        #[arg(long, default_value_t = limits::WITNESS_ROUND_INTERVAL_MS_DEFAULT,
              value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
        witness_interval_ms: u64,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// A c2sp.org/tlog-witness for other logs: cosigns their checkpoints when consistent.
    Witness {
        /// The witness's secret key file (make one with `ledger-node key new`).
        #[arg(long)]
        key: PathBuf,
        /// Where the witness keeps the latest checkpoint it cosigned for each log.
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
        /// Verifier keys of the logs to witness (`<origin>+<hash>+<key>`, from `/v1/log-key`).
        #[arg(long = "log", required = true, num_args = 1..)]
        logs: Vec<String>,
        /// The witness's name in its cosignature lines and verifier key.
        #[arg(long, default_value = "ledger-witness")]
        name: String,
    },
    /// Follows another node's log, verifies everything, and serves the same read API and page.
    Mirror {
        /// The log to follow, e.g. https://charity.example
        #[arg(long)]
        upstream: String,
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
        /// The log's verifier key. Without it the key is fetched from the upstream once and
        /// trusted from then on (trust on first use).
        #[arg(long)]
        log_key: Option<String>,
        /// Polls the upstream's checkpoint once per this many milliseconds.
        #[arg(long, default_value_t = limits::MIRROR_POLL_INTERVAL_MS_DEFAULT,
              value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
        poll_ms: u64,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Key files.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// DSSE-signs one event body from standard input, or adds a signature to an envelope.
    Sign {
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        /// An envelope to add this key's signature to (dual control on a second machine).
        #[arg(long)]
        add: Option<PathBuf>,
    },
    /// Submits envelopes (files holding one envelope, or JSON Lines of envelopes).
    Submit {
        #[arg(long)]
        url: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Computes a commitment from an identity (resident ID or credit code) and a salt (new if
    /// not given). The identity stays on this machine.
    Commitment {
        #[arg(long)]
        identity: String,
        #[arg(long)]
        salt: Option<String>,
    },
    /// Fetches a donation's receipt bundle into a file and prints a receipt with a QR payload.
    Receipt {
        #[arg(long)]
        url: String,
        #[arg(long)]
        donation: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Hotline: file, update and resolve complaints.
    Complaint {
        #[command(subcommand)]
        command: ComplaintCommand,
    },
    /// Auditor: plan an audit with a committed nonce, then reveal it and sample.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Writes the log as static C2SP tlog-tiles files (checkpoint, hash tiles, entry bundles)
    /// for any static web host; run again after more appends to add only what is new. Reads a
    /// stopped node's store (--data) or a running node's tiles (--url, with --log-key).
    Publish {
        #[arg(long, conflicts_with = "url", required_unless_present = "url")]
        data: Option<PathBuf>,
        #[arg(long, requires = "log_key")]
        url: Option<String>,
        /// The log's verifier key (`origin+hash+base64`), to check the node's checkpoint.
        #[arg(long, value_name = "VKEY")]
        log_key: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Imports a spreadsheet (CSV, UTF-8 or GBK) of donations, cases, allocations or
    /// disbursements: every row checked by the node's rules first, then one all-or-nothing
    /// batch. A re-run of the same file appends nothing twice. See docs/guide-import.md.
    Import {
        #[arg(long)]
        url: String,
        /// Key files; two for dual control.
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        #[arg(long)]
        csv: PathBuf,
        #[arg(long, value_enum, default_value = "donations")]
        table: import::Table,
        #[arg(long, value_enum, default_value = "auto")]
        encoding: import::Encoding,
        /// Lists every bad row with its line and reason; appends nothing.
        #[arg(long)]
        dry_run: bool,
        /// The office's salt register (CSV, mode 0600): identity, salt and commitment per row.
        #[arg(long)]
        register: Option<PathBuf>,
    },
    /// Writes the log as JSON Lines to standard output; or, with --format, disclosure exports
    /// (donations.csv, ..., iati.xml, 360giving.csv, report-YYYYQn.md/.html, or `all`) into
    /// --out, computed at --size exactly as `ledger-verify export` computes them.
    Export {
        #[arg(long, conflicts_with = "url")]
        data: Option<PathBuf>,
        #[arg(long)]
        url: Option<String>,
        /// Disclosure exports to write (repeatable); `all` is every one (with --url: every
        /// export but the quarterly reports).
        #[arg(long = "format", value_name = "NAME")]
        formats: Vec<String>,
        /// The tree size to compute at (default: the latest).
        #[arg(long, requires = "formats")]
        size: Option<u64>,
        /// Where the disclosure exports are written.
        #[arg(long, requires = "formats", default_value = ".")]
        out: PathBuf,
    },
}

/// What every signing operator command needs.
#[derive(clap::Args)]
struct Signed {
    #[arg(long)]
    url: String,
    /// Key files; two for dual control.
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
    /// The new event's id.
    #[arg(long)]
    id: String,
    /// When it happened (default: now).
    #[arg(long)]
    at: Option<String>,
}

impl Signed {
    fn submit(&self, kind: &str, fields: serde_json::Value) -> Result<u64> {
        let at = self.at.clone().unwrap_or_else(now_at);
        ops::sign_and_submit(&self.url, &self.keys, &ops::body(kind, &self.id, &at, fields))
    }
}

#[derive(Subcommand)]
enum ComplaintCommand {
    /// complaint.filed naming the events it is about.
    File {
        #[command(flatten)]
        signed: Signed,
        #[arg(long, default_value = "hotline")]
        channel: String,
        #[arg(long = "subject", required = true)]
        subjects: Vec<String>,
        #[arg(long)]
        summary: String,
        /// The complainant's commitment (see `ledger-node commitment`).
        #[arg(long)]
        complainant: Option<String>,
    },
    /// complaint.updated: investigating or referred.
    Update {
        #[command(flatten)]
        signed: Signed,
        #[arg(long)]
        complaint: String,
        #[arg(long, default_value = "investigating")]
        status: String,
        #[arg(long)]
        note: String,
    },
    /// complaint.resolved with the finding and the events that put it right.
    Resolve {
        #[command(flatten)]
        signed: Signed,
        #[arg(long)]
        complaint: String,
        #[arg(long)]
        finding: String,
        #[arg(long = "action")]
        actions: Vec<String>,
        #[arg(long)]
        summary: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// audit.planned: commits to the window, rate, future seed size and SHA-256 of a new nonce.
    Plan {
        #[command(flatten)]
        signed: Signed,
        #[arg(long, default_value = "disbursements")]
        population: String,
        #[arg(long)]
        from_seq: u64,
        #[arg(long)]
        to_seq: u64,
        #[arg(long, default_value_t = 100)]
        rate_permille: u32,
        /// A tree size the log has not reached yet (default: the current size + 10).
        #[arg(long)]
        seed_size: Option<u64>,
        #[arg(long)]
        summary: String,
        /// Where to keep the secret nonce (mode 0600) until the sample.
        #[arg(long)]
        nonce_out: PathBuf,
    },
    /// audit.sampled: reveals the nonce; the sample is recomputed here from the log itself.
    Sample {
        #[command(flatten)]
        signed: Signed,
        #[arg(long)]
        plan: String,
        #[arg(long)]
        nonce_file: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// A new Ed25519 secret key file (mode 0600); prints the public key.
    New {
        #[arg(long)]
        out: PathBuf,
    },
}

/// How much memory sled may keep for the store (`serve` and `mirror`).
#[derive(clap::Args)]
struct CacheArgs {
    /// sled's page cache in MiB: enough to hold the entries that readers ask for.
    #[arg(long, default_value_t = limits::SLED_CACHE_MB_DEFAULT,
          value_parser = clap::value_parser!(u64).range(limits::SLED_CACHE_MB_MIN..=limits::SLED_CACHE_MB_MAX))]
    cache_mb: u64,
}

#[derive(clap::Args)]
struct InitArgs {
    #[arg(long)]
    data: PathBuf,
    #[arg(long, required_unless_present = "genesis")]
    origin: Option<String>,
    #[arg(long, required_unless_present = "genesis")]
    name: Option<String>,
    /// Public keys of the first admins (each must also sign, with --admin-secret).
    #[arg(long = "admin-key")]
    admin_keys: Vec<String>,
    #[arg(long = "admin-secret")]
    admin_secrets: Vec<PathBuf>,
    #[arg(long, default_value_t = 5_000_000)]
    dual_control_fen: u64,
    #[arg(long, default_value_t = 100)]
    min_audit_permille: u32,
    #[arg(long, default_value_t = 30)]
    max_backdate_days: u32,
    /// A genesis envelope signed elsewhere by every admin.
    #[arg(long, requires = "log_secret")]
    genesis: Option<PathBuf>,
    /// The log key the pre-signed genesis names.
    #[arg(long)]
    log_secret: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    if let Err(e) = run(cli.command) {
        let closed_pipe =
            e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
        if closed_pipe {
            std::process::exit(0);
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Demo { data, listen, scale, seed, reset, no_serve } => {
            demo::run(&demo::DemoArgs { data, listen, scale, seed, reset, serve: !no_serve })
        }
        Command::Init(args) => init(args),
        Command::Serve { data, listen, witness_interval_ms, cache } => {
            let node = open_node(&DataDir::new(&data), cache.cache_mb)?;
            cosign::spawn(
                std::sync::Arc::clone(&node),
                std::time::Duration::from_millis(witness_interval_ms),
            )?;
            runtime()?.block_on(serve(node, listen, |addr| {
                println!("serving the ledger on http://{addr}/");
            }))
        }
        Command::Witness { key, data, listen, logs, name } => run_witness(&key, &data, listen, &logs, &name),
        Command::Mirror { upstream, data, listen, log_key, poll_ms, cache } => {
            run_mirror(&upstream, &data, listen, log_key.as_deref(), poll_ms, cache.cache_mb)
        }
        Command::Key { command: KeyCommand::New { out } } => {
            let key = keys::generate();
            keys::write_secret(&out, &key)?;
            println!("{}", keys::public_hex(&key));
            Ok(())
        }
        Command::Sign { keys: key_files, add } => sign(&key_files, add.as_deref()),
        Command::Submit { url, files } => client::submit(&url, &files),
        Command::Export { data, url, formats, size, out } if !formats.is_empty() => {
            export_disclosures(data.as_deref(), url.as_deref(), &formats, size, &out)
        }
        Command::Export { data, url, .. } => export(data.as_deref(), url.as_deref()),
        Command::Import { url, keys, csv, table, encoding, dry_run, register } => {
            import::run(&import::ImportArgs { url, keys, csv, table, encoding, dry_run, register })
        }
        Command::Publish { data, url, log_key, out } => {
            publish(data.as_deref(), url.as_deref(), log_key.as_deref(), &out)
        }
        Command::Commitment { identity, salt } => ops::commitment_cmd(&identity, salt.as_deref()),
        Command::Receipt { url, donation, out } => {
            let out = out.unwrap_or_else(|| PathBuf::from(format!("{donation}.receipt.json")));
            ops::receipt_cmd(&url, &donation, &out)
        }
        Command::Complaint { command } => complaint(command),
        Command::Audit { command } => audit(command),
    }
}

fn run_witness(key: &Path, data: &Path, listen: SocketAddr, logs: &[String], name: &str) -> Result<()> {
    if logs.len() > limits::WITNESS_LOGS_MAX {
        bail!("at most {} --log keys", limits::WITNESS_LOGS_MAX);
    }
    let log_keys = logs
        .iter()
        .map(|v| ledger_core::checkpoint::LogKey::parse(v).map_err(|e| anyhow::anyhow!("--log {v}: {e}")))
        .collect::<Result<Vec<_>>>()?;
    let signer = ledger_core::checkpoint::WitnessSigner::new(name, keys::read_secret(key)?)
        .map_err(|e| anyhow::anyhow!("--name {name}: {e}"))?;
    let w = std::sync::Arc::new(witness::Witness::open(data, signer, log_keys)?);
    println!("witness verifier key: {}", w.verifier_key());
    runtime()?.block_on(witness::serve(w, listen, |addr| {
        println!("witness listening on http://{addr}/");
    }))
}

/// The upstream's log key: given, kept from an earlier start, or fetched once (trust on
/// first use, said loudly). Once kept, it never changes silently.
fn mirror_log_key(
    dir: &DataDir,
    upstream: &str,
    given: Option<&str>,
) -> Result<ledger_core::checkpoint::LogKey> {
    let kept = match std::fs::read_to_string(dir.upstream_log_key()) {
        Ok(text) => Some(text.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.upstream_log_key().display())),
    };
    let vkey = match (given, kept) {
        (Some(g), Some(k)) if g != k => bail!(
            "--log-key {g} differs from the key this mirror has followed ({k}): a mirror follows one log; use a new data directory"
        ),
        (Some(g), _) => g.to_string(),
        (None, Some(k)) => k,
        (None, None) => {
            let url = format!("{}/v1/log-key", upstream.trim_end_matches('/'));
            let fetched = mirror::get_text(&mirror::agent(), &url, 1024)?.trim().to_string();
            tracing::warn!(
                "NO --log-key GIVEN: trusting the key the upstream itself serves, {fetched}. Check it against \
                 the key the charity publishes elsewhere; it is kept in {} and required from now on",
                dir.upstream_log_key().display()
            );
            eprintln!("WARNING: trusting the upstream's own log key on first use: {fetched}");
            fetched
        }
    };
    let key =
        ledger_core::checkpoint::LogKey::parse(&vkey).map_err(|e| anyhow::anyhow!("log key {vkey}: {e}"))?;
    std::fs::create_dir_all(dir.upstream_log_key().parent().unwrap_or(Path::new(".")))?;
    std::fs::write(dir.upstream_log_key(), format!("{vkey}\n"))
        .with_context(|| format!("writing {}", dir.upstream_log_key().display()))?;
    Ok(key)
}

fn run_mirror(
    upstream: &str,
    data: &Path,
    listen: SocketAddr,
    log_key: Option<&str>,
    poll_ms: u64,
    cache_mb: u64,
) -> Result<()> {
    let upstream = upstream.trim_end_matches('/');
    let dir = DataDir::new(data);
    let key = mirror_log_key(&dir, upstream, log_key)?;
    let node = open_mirror(&dir, key.clone(), upstream, cache_mb)?;
    mirror::spawn(std::sync::Arc::clone(&node), key, std::time::Duration::from_millis(poll_ms))?;
    runtime()?.block_on(serve(node, listen, |addr| {
        println!("mirror of {upstream} serving on http://{addr}/");
    }))
}

fn complaint(command: ComplaintCommand) -> Result<()> {
    match command {
        ComplaintCommand::File { signed, channel, subjects, summary, complainant } => {
            let mut fields =
                serde_json::json!({"channel": channel, "subjects": subjects, "summary": summary});
            if let Some(c) = complainant {
                fields["complainant"] = serde_json::json!(c);
            }
            signed.submit("complaint.filed", fields)?;
        }
        ComplaintCommand::Update { signed, complaint, status, note } => {
            signed.submit(
                "complaint.updated",
                serde_json::json!({"complaint": complaint, "status": status, "note": note}),
            )?;
        }
        ComplaintCommand::Resolve { signed, complaint, finding, actions, summary } => {
            signed.submit(
                "complaint.resolved",
                serde_json::json!({"complaint": complaint, "finding": finding, "actions": actions, "summary": summary}),
            )?;
        }
    }
    Ok(())
}

fn audit(command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Plan {
            signed,
            population,
            from_seq,
            to_seq,
            rate_permille,
            seed_size,
            summary,
            nonce_out,
        } => {
            let health: serde_json::Value = client::agent()
                .get(&format!("{}/healthz", signed.url.trim_end_matches('/')))
                .call()
                .context("asking the node for its size")?
                .into_json()?;
            let size = health["size"].as_u64().context("healthz has no size")?;
            let nonce = ops::new_nonce(&nonce_out)?;
            let nonce_hash = ledger_core::hash::sha256(&[&nonce]).to_hex();
            signed.submit(
                "audit.planned",
                serde_json::json!({
                    "population": population, "from_seq": from_seq, "to_seq": to_seq,
                    "rate_permille": rate_permille, "seed_size": seed_size.unwrap_or(size + 10),
                    "nonce_hash": nonce_hash, "summary": summary,
                }),
            )?;
            println!("nonce kept in {} — reveal it with `ledger-node audit sample` once the log has reached the seed size", nonce_out.display());
        }
        AuditCommand::Sample { signed, plan, nonce_file } => {
            let nonce = ops::read_nonce(&nonce_file)?;
            let (selected, root) = ops::compute_sample(&signed.url, &plan, &nonce)?;
            let ids: Vec<&str> = selected.iter().map(String::as_str).collect();
            signed.submit(
                "audit.sampled",
                serde_json::json!({
                    "plan": plan, "nonce": hex::encode(nonce), "selected_count": selected.len(),
                    "selected_hash": ledger_core::sample::selected_hash(&ids).to_hex(),
                }),
            )?;
            // A reader may close the pipe early (`| head`): stop quietly rather than panic.
            let mut out = std::io::stdout().lock();
            writeln!(out, "seed root {}; {} selected:", root.to_base64(), selected.len())?;
            for id in &selected {
                writeln!(out, "  {id}")?;
            }
        }
    }
    Ok(())
}

fn init(args: InitArgs) -> Result<()> {
    let dir = DataDir::new(&args.data);
    if dir.store().exists() {
        bail!("{} already holds a ledger", args.data.display());
    }
    std::fs::create_dir_all(&args.data)?;
    let genesis = match (&args.genesis, &args.log_secret) {
        (Some(path), Some(log_secret)) => {
            let log_key = keys::read_secret(log_secret)?;
            keys::write_secret(&dir.log_key(), &log_key)?;
            let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Envelope::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        _ => {
            let admins: Vec<_> =
                args.admin_secrets.iter().map(|p| keys::read_secret(p)).collect::<Result<_>>()?;
            if admins.is_empty() {
                bail!("init needs --admin-secret for every admin (or --genesis with --log-secret)");
            }
            let admin_hex: Vec<String> = admins.iter().map(keys::public_hex).collect();
            for k in &args.admin_keys {
                if !admin_hex.contains(k) {
                    bail!("admin key {k} has no matching --admin-secret: every admin signs genesis");
                }
            }
            let log_key = keys::generate();
            keys::write_secret(&dir.log_key(), &log_key)?;
            let body = serde_json::json!({
                "v": 1, "kind": "ledger.genesis", "id": "genesis", "at": now_at(),
                "origin": args.origin, "name": args.name, "currency": "CNY",
                "admins": admin_hex, "log_key": keys::public_hex(&log_key),
                "policy": {
                    "dual_control_fen": args.dual_control_fen,
                    "min_audit_permille": args.min_audit_permille,
                    "max_backdate_days": args.max_backdate_days,
                }
            });
            let refs: Vec<&ed25519_dalek::SigningKey> = admins.iter().collect();
            Envelope::sign(&serde_json::to_vec(&body)?, &refs)
        }
    };
    let verified = genesis.verify().map_err(|e| anyhow::anyhow!("genesis: {e}"))?;
    let store = store::Store::open(&dir.store())?;
    let node = node::Node::open(store, keys::read_secret(&dir.log_key())?)?;
    runtime()?.block_on(async {
        node.append(vec![verified], false).await.map_err(|e| anyhow::anyhow!("genesis refused: {e:?}"))
    })?;
    node.shutdown();
    println!("ledger created in {}", args.data.display());
    println!("log verifier key: {}", api::log_key_string(&node).map_err(|e| anyhow::anyhow!("{e:?}"))?);
    Ok(())
}

fn sign(key_files: &[PathBuf], add: Option<&Path>) -> Result<()> {
    let keys: Vec<_> = key_files.iter().map(|p| keys::read_secret(p)).collect::<Result<_>>()?;
    let envelope = match add {
        Some(path) => {
            let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let mut env =
                Envelope::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            for k in &keys {
                env = env.add_signature(k).map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            env
        }
        None => {
            let mut body = Vec::new();
            std::io::stdin().take(ledger_core::limits::BODY_BYTES_MAX as u64 + 1).read_to_end(&mut body)?;
            let body = trim_ascii_end(&body);
            ledger_core::event::parse_body(body).map_err(|e| anyhow::anyhow!("the body is refused: {e}"))?;
            let refs: Vec<&ed25519_dalek::SigningKey> = keys.iter().collect();
            Envelope::sign(body, &refs)
        }
    };
    println!("{}", envelope.to_json());
    Ok(())
}

fn trim_ascii_end(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    &bytes[..end]
}

fn publish(data: Option<&Path>, url: Option<&str>, log_key: Option<&str>, out: &Path) -> Result<()> {
    let summary = match (data, url, log_key) {
        (Some(data), None, _) => {
            let dir = DataDir::new(data);
            store::check_data_dir(data)?;
            if !dir.store().exists() {
                bail!("{} holds no ledger", data.display());
            }
            let secret = keys::read_secret(&dir.log_key())?;
            let store = store::Store::open(&dir.store()).context(
                "publish --data reads the store itself: stop `ledger-node serve` on it first, or use --url",
            )?;
            let source = publish::StoreSource::new(&store)?;
            let key = publish::log_key_of(&publish::Source::checkpoint(&source)?, &secret)?;
            publish::publish(&source, &key, out)?
        }
        (None, Some(url), Some(vkey)) => {
            let key = ledger_core::checkpoint::LogKey::parse(vkey.trim())
                .map_err(|e| anyhow::anyhow!("--log-key is not a log verifier key: {e}"))?;
            publish::publish(&publish::NodeSource::new(url), &key, out)?
        }
        _ => bail!("publish needs --data DIR, or --url URL with --log-key VKEY"),
    };
    println!(
        "published size {} (was {}) in {}: {} tile files written, {} full tiles already there",
        summary.size,
        summary.previous_size,
        out.display(),
        summary.written,
        summary.kept
    );
    Ok(())
}

fn export(data: Option<&Path>, url: Option<&str>) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match (data, url) {
        (Some(dir), None) => {
            let dir = DataDir::new(dir);
            let store = store::Store::open(&dir.store())?;
            let size = store.recover_size()?;
            for bytes in store.entries(0, size) {
                out.write_all(&bytes?)?;
                out.write_all(b"\n")?;
            }
        }
        (None, Some(url)) => client::export(url, &mut out)?,
        _ => bail!("export needs --data DIR or --url URL"),
    }
    out.flush()?;
    Ok(())
}

/// The exports `names` asks for; `all` expands to every export of `book` (or the fixed ones).
fn export_list(names: &[String], book: Option<&ledger_core::disclosure::Book>) -> Result<Vec<Export>> {
    let mut out = Vec::new();
    for name in names {
        if name == "all" {
            out.extend(book.map_or_else(|| Export::FIXED.to_vec(), |b| b.exports()));
        } else {
            out.push(Export::parse(name).with_context(|| {
                format!("no export {name:?}: donations.csv, allocations.csv, disbursements.csv, funds.csv, cases.csv, iati.xml, 360giving.csv, report-YYYYQn.md, report-YYYYQn.html, all")
            })?);
        }
    }
    Ok(out)
}

fn export_disclosures(
    data: Option<&Path>,
    url: Option<&str>,
    names: &[String],
    size: Option<u64>,
    out: &Path,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let write = |export: &Export, bytes: &[u8]| -> Result<()> {
        let path = out.join(export.name());
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
        Ok(())
    };
    match (data, url) {
        (Some(dir), None) => {
            let store = store::Store::open(&DataDir::new(dir).store())?;
            let latest = store.recover_size()?;
            let size = size.unwrap_or(latest);
            if size > latest {
                bail!("size {size} is beyond the log's {latest} entries");
            }
            let (book, state) = node::disclosure_from(&store, size)?;
            for export in export_list(names, Some(&book))? {
                let bytes = disclosure::render(export, &book, &state).map_err(|e| anyhow::anyhow!("{e}"))?;
                write(&export, &bytes)?;
            }
        }
        (None, Some(url)) => {
            let agent = client::agent();
            for export in export_list(names, None)? {
                let mut endpoint = format!("{}/v1/exports/{}", url.trim_end_matches('/'), export.name());
                if let Some(s) = size {
                    endpoint.push_str(&format!("?size={s}"));
                }
                let mut bytes = Vec::new();
                agent
                    .get(&endpoint)
                    .call()
                    .with_context(|| format!("GET {endpoint}"))?
                    .into_reader()
                    .take(EXPORT_FILE_BYTES_MAX)
                    .read_to_end(&mut bytes)?;
                write(&export, &bytes)?;
            }
        }
        _ => bail!("export needs --data DIR or --url URL"),
    }
    Ok(())
}
