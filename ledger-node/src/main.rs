//! `ledger-node`: thin glue. Parses the command line into a typed command and calls the node,
//! the store or the client; errors become messages and exit codes (2 for bad arguments, 1 for
//! everything that went wrong after that).
#![forbid(unsafe_code)]

use ledger_node::{
    api, client, demo, keys, node, now_at, open_node, ops, publish, runtime, serve, store, DataDir,
};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use ledger_core::dsse::Envelope;
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
    /// Serves an existing ledger.
    Serve {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
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
    /// Writes the log as JSON Lines to standard output.
    Export {
        #[arg(long, conflicts_with = "url")]
        data: Option<PathBuf>,
        #[arg(long)]
        url: Option<String>,
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
        Command::Serve { data, listen } => {
            let node = open_node(&DataDir::new(&data))?;
            runtime()?.block_on(serve(node, listen, |addr| {
                println!("serving the ledger on http://{addr}/");
            }))
        }
        Command::Key { command: KeyCommand::New { out } } => {
            let key = keys::generate();
            keys::write_secret(&out, &key)?;
            println!("{}", keys::public_hex(&key));
            Ok(())
        }
        Command::Sign { keys: key_files, add } => sign(&key_files, add.as_deref()),
        Command::Submit { url, files } => client::submit(&url, &files),
        Command::Export { data, url } => export(data.as_deref(), url.as_deref()),
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
            let source = publish::StoreSource(&store);
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
