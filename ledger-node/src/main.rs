//! `ledger-node`: thin glue. Parses the command line into a typed command and calls the node,
//! the store or the client; errors become messages and exit codes (2 for bad arguments, 1 for
//! everything that went wrong after that).
#![forbid(unsafe_code)]

use ledger_node::{api, client, demo, keys, node, now_at, open_node, runtime, serve, store, DataDir};

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
    /// Writes the log as JSON Lines to standard output.
    Export {
        #[arg(long, conflicts_with = "url")]
        data: Option<PathBuf>,
        #[arg(long)]
        url: Option<String>,
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
    }
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
