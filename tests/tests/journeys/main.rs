//! The three users' journeys of the README, end to end, with the real binaries and no mocks:
//! `ledger-node init` makes a ledger with two admins in a temporary directory, `ledger-node
//! serve` serves it on a loopback port, the roles are granted with `ledger-node sign` (both
//! admins) and `ledger-node submit`, and then each story runs the commands its user would run:
//! the donor (`donor.rs`), the supervision hotline (`hotline.rs`) and the external auditor
//! (`auditor.rs`). Desk work nobody types by hand (a year of payments) is signed here and
//! posted as JSON, exactly as any client would.
//!
//! Every command is bounded by [`COMMAND_TIMEOUT`], so a hung node fails a test instead of
//! hanging it.
#![forbid(unsafe_code)]

mod auditor;
mod donor;
mod hotline;
mod import;

use ed25519_dalek::SigningKey;
use ledger_core::dsse::{key_hex, Envelope};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tests::process::{init_ledger, ledger_verify_bin, write_key_file, NodeProcess};

/// How long one command of a story may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Made-up resident ID numbers with valid check characters (GB 11643): nobody's.
pub const DONOR_ID: &str = "11010519491231002X";
pub const BENEFICIARY_ID: &str = "371324197803150621";
pub const CALLER_ID: &str = "440304198506123412";

/// Someone who signs: the secret key file they hold and the key in it.
pub struct Desk {
    pub file: PathBuf,
    pub key: SigningKey,
}

impl Desk {
    fn new(dir: &Path, name: &str) -> Desk {
        let seed: [u8; 32] = rand::random();
        let file = dir.join(format!("{name}.key"));
        write_key_file(&file, &seed);
        Desk { file, key: SigningKey::from_bytes(&seed) }
    }

    pub fn public_hex(&self) -> String {
        key_hex(&self.key).to_hex()
    }

    pub fn path(&self) -> &str {
        path_str(&self.file)
    }
}

/// What a finished command said.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts exit code 0 and answers the run.
    #[track_caller]
    pub fn success(self, what: &str) -> Run {
        assert_eq!(self.code, 0, "{what} failed:\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

/// Runs `bin args...` with `stdin`, bounded by [`COMMAND_TIMEOUT`].
pub fn run(bin: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let (out_path, err_path, in_path) =
        (scratch.path().join("out"), scratch.path().join("err"), scratch.path().join("in"));
    std::fs::write(&in_path, stdin.unwrap_or_default()).expect("writing stdin");
    let mut child = Command::new(bin)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::from(std::fs::File::open(&in_path).expect("stdin file")))
        .stdout(Stdio::from(std::fs::File::create(&out_path).expect("stdout file")))
        .stderr(Stdio::from(std::fs::File::create(&err_path).expect("stderr file")))
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the command") {
            break status;
        }
        if started.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} {args:?} took over {COMMAND_TIMEOUT:?}", bin.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// An author's `at` for now, as the node writes entry times.
pub fn now() -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis();
    ledger_core::time::EntryTime::from_unix_ms(ms as i64).expect("a time").as_str().to_string()
}

/// An event body of `kind` named `id`, happening now, with `fields`.
pub fn event(kind: &str, id: &str, fields: Value) -> Value {
    let mut body = json!({"v": 1, "kind": kind, "id": id, "at": now()});
    if let (Some(map), Value::Object(extra)) = (body.as_object_mut(), fields) {
        map.extend(extra);
    }
    body
}

/// Lower-case hex SHA-256 of some bytes (a voucher file).
pub fn sha256_hex(bytes: &[u8]) -> String {
    ledger_core::hash::sha256(&[bytes]).to_hex()
}

/// A salt and the commitment `ledger-node commitment` printed.
pub fn parse_commitment(run: &Run) -> (String, String) {
    let field = |name: &str| {
        run.stdout
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {name} in {:?}", run.stdout))
    };
    (field("salt:"), field("commitment:"))
}

/// A ledger made and served by the real binary, with one desk per role.
pub struct Ledger {
    /// Declared first so it is dropped (killed) before its data directory is removed.
    node: NodeProcess,
    pub dir: tempfile::TempDir,
    pub url: String,
    /// The log's verifier key as `ledger-node init` printed it: what the federation publishes.
    pub log_key: String,
    pub admin1: Desk,
    pub admin2: Desk,
    pub intake: Desk,
    pub caseworker: Desk,
    pub allocator: Desk,
    pub disburser: Desk,
    pub hotline: Desk,
    pub auditor: Desk,
    agent: ureq::Agent,
}

impl Ledger {
    /// `init` with two admins, `serve` on a free loopback port, and every role granted by both
    /// admins with `ledger-node sign` and `ledger-node submit`.
    pub fn start(origin: &str) -> Ledger {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = dir.path().join("keys");
        std::fs::create_dir(&keys).expect("keys dir");
        let desk = |name: &str| Desk::new(&keys, name);
        let (admin1, admin2) = (desk("admin1"), desk("admin2"));
        let data = dir.path().join("ledger");
        let log_key = init_ledger(&data, origin, &[&admin1.file, &admin2.file]);
        let node = NodeProcess::serve(&data, &dir.path().join("node.log")).unwrap_or_else(|e| panic!("{e}"));
        let url = node.url.clone();
        let agent = ureq::AgentBuilder::new().timeout(COMMAND_TIMEOUT).build();
        let ledger = Ledger {
            intake: desk("intake"),
            caseworker: desk("caseworker"),
            allocator: desk("allocator"),
            disburser: desk("disburser"),
            hotline: desk("hotline"),
            auditor: desk("auditor"),
            dir,
            url,
            log_key,
            admin1,
            admin2,
            node,
            agent,
        };
        let grants = ledger.dir.path().join("grants");
        std::fs::create_dir(&grants).expect("grants dir");
        let mut files = Vec::new();
        for (role, desk) in [
            ("intake", &ledger.intake),
            ("caseworker", &ledger.caseworker),
            ("allocator", &ledger.allocator),
            ("disburser", &ledger.disburser),
            ("hotline", &ledger.hotline),
            ("auditor", &ledger.auditor),
        ] {
            let body = event(
                "key.granted",
                &format!("grant-{role}"),
                json!({"key": desk.public_hex(), "holder": format!("{role} desk"), "roles": [role]}),
            );
            let file = grants.join(format!("{role}.json"));
            ledger.sign_to_file(&body, &[&ledger.admin1, &ledger.admin2], &file);
            files.push(file);
        }
        let mut args = vec!["submit", "--url", &ledger.url];
        args.extend(files.iter().map(|f| path_str(f)));
        let submitted = ledger.node_cmd(&args).success("submitting the grants");
        let seqs: Vec<&str> = submitted.stdout.lines().collect();
        assert_eq!(seqs, ["1", "2", "3", "4", "5", "6"], "the six grants follow genesis");
        ledger
    }

    /// `ledger-node sign --key ... < body > file`.
    pub fn sign_to_file(&self, body: &Value, signers: &[&Desk], file: &Path) {
        let mut args = vec!["sign"];
        for d in signers {
            args.extend(["--key", d.path()]);
        }
        let signed = self.node_cmd_stdin(&args, body.to_string().as_bytes()).success("ledger-node sign");
        std::fs::write(file, signed.stdout).expect("writing the envelope");
    }

    /// Signs `body` with `ledger-node sign` and submits it with `ledger-node submit`.
    pub fn sign_and_submit(&self, body: &Value, signers: &[&Desk]) -> Run {
        let file = self.path(&format!("{}.envelope.json", body["id"].as_str().expect("an id")));
        self.sign_to_file(body, signers, &file);
        self.node_cmd(&["submit", "--url", &self.url, path_str(&file)])
    }

    pub fn node_cmd(&self, args: &[&str]) -> Run {
        run(&tests::ledger_node_bin(), args, None)
    }

    pub fn node_cmd_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        run(&tests::ledger_node_bin(), args, Some(stdin))
    }

    pub fn verify_cmd(&self, args: &[&str]) -> Run {
        run(&ledger_verify_bin(), args, None)
    }

    /// A file in this ledger's temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ledger-node commitment --identity ID [--salt SALT]`: (salt, commitment).
    pub fn commitment(&self, identity: &str, salt: Option<&str>) -> (String, String) {
        let mut args = vec!["commitment", "--identity", identity];
        if let Some(s) = salt {
            args.extend(["--salt", s]);
        }
        let out = self.node_cmd(&args).success("ledger-node commitment");
        assert!(!out.stdout.contains(identity), "the identity is never printed back");
        parse_commitment(&out)
    }

    /// Signs `body` here and posts it: (status, answer).
    pub fn post(&self, body: &Value, signers: &[&Desk]) -> (u16, Value) {
        let keys: Vec<&SigningKey> = signers.iter().map(|d| &d.key).collect();
        let envelope = Envelope::sign(&serde_json::to_vec(body).expect("json"), &keys);
        self.post_raw("/v1/entries", envelope.to_json())
    }

    fn post_raw(&self, path: &str, body: String) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let response = match self.agent.post(&url).set("content-type", "application/json").send_string(&body)
        {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("POST {url}: {e}\nnode log:\n{}", self.node.log_tail()),
        };
        (response.status(), response.into_json().expect("a JSON answer"))
    }

    /// Posts and expects 201; answers the seq.
    #[track_caller]
    pub fn ok(&self, body: &Value, signers: &[&Desk]) -> u64 {
        let (status, answer) = self.post(body, signers);
        assert_eq!(status, 201, "{} {} refused: {answer}", body["kind"], body["id"]);
        answer["seq"].as_u64().expect("a seq")
    }

    /// Posts many bodies in one `POST /v1/batch` (all or nothing); answers the first seq.
    #[track_caller]
    pub fn batch(&self, bodies: &[(Value, &Desk)]) -> u64 {
        let envelopes: Vec<Value> = bodies
            .iter()
            .map(|(body, desk)| {
                let env = Envelope::sign(&serde_json::to_vec(body).expect("json"), &[&desk.key]);
                serde_json::from_str(&env.to_json()).expect("an envelope is JSON")
            })
            .collect();
        let (status, answer) = self.post_raw("/v1/batch", Value::Array(envelopes).to_string());
        assert_eq!(status, 201, "batch refused: {answer}");
        assert_eq!(answer["count"].as_u64(), Some(bodies.len() as u64), "{answer}");
        answer["first_seq"].as_u64().expect("first_seq")
    }

    /// GET a JSON document: (status, body).
    pub fn get(&self, path: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let response = match self.agent.get(&url).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("GET {url}: {e}\nnode log:\n{}", self.node.log_tail()),
        };
        (response.status(), response.into_json().expect("a JSON answer"))
    }

    #[track_caller]
    pub fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub fn size(&self) -> u64 {
        self.get_ok("/healthz")["size"].as_u64().expect("size")
    }

    /// `ledger-node export --url URL > name`; answers the path.
    pub fn export(&self, name: &str) -> PathBuf {
        let out = self.node_cmd(&["export", "--url", &self.url]).success("ledger-node export");
        let path = self.path(name);
        std::fs::write(&path, out.stdout).expect("writing the export");
        path
    }
}
