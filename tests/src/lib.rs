#![forbid(unsafe_code)]
//! Helpers shared by the end-to-end tests: the real `ledger-node` binary running the demo, and
//! Debian's headless Chromium driven through chromedriver's W3C WebDriver HTTP API (plain JSON
//! over HTTP with `ureq`, no WebDriver crate).
//!
//! # Where the binaries come from
//!
//! The tests run the `ledger-node` binary cargo builds into the same target directory as the
//! test executable: `current_exe()` is `target/<profile>/deps/e2e-<hash>`, so the binary is
//! `target/<profile>/ledger-node`. The `tests` crate cannot depend on a binary, so before the
//! first use the helpers run `cargo build -p ledger-node --bin ledger-node` with that target
//! directory and the matching profile (`debug` → `--profile test`, which is what `cargo test`
//! itself builds binaries with; `release` → `--release`). When the binary is fresh this takes
//! well under a second; when it is missing or stale (you changed the node and ran only
//! `cargo test -p tests`) it builds it, so a test never runs an old page.
//! Set `LEDGER_NODE_BIN=/path/to/ledger-node` to skip the build and use that binary.
//!
//! # The browser
//!
//! `chromium` and `chromedriver` must be on `PATH` (Debian: `apt-get install chromium
//! chromium-driver`; `.ci/run` installs them) or named by `CHROMIUM` and `CHROMEDRIVER`. If
//! they are missing the tests fail and say so: a page test that passes without a browser
//! would prove nothing.
//!
//! # Lifetimes
//!
//! The demo node and chromedriver are started once per test binary and shared by its tests.
//! Rust never drops statics, so each is started under a small `sh` watchdog that holds the
//! read end of a pipe whose write end only this process holds: when the test process exits,
//! however it exits, the pipe closes and the watchdog stops its child.

use base64::Engine as _;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long the demo may take to load its county year and start serving.
pub const DEMO_START_TIMEOUT: Duration = Duration::from_secs(240);
/// How long chromedriver may take to answer its status endpoint.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one wait for the page may take.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Viewports narrower than this emulate a phone.
pub const PHONE_WIDTH_MAX: u32 = 500;
/// Interval between polls of the page.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// `target/<profile>`: the directory of the test executable's `deps/`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let deps = exe.parent().expect("the test executable is in target/<profile>/deps");
    deps.parent().expect("target/<profile>").to_path_buf()
}

/// A scratch directory `target/<profile>/e2e/<name>-<pid>`, emptied first. Directories that
/// earlier test processes left behind (their pid is gone) are removed on the way.
pub fn scratch_dir(name: &str) -> PathBuf {
    let root = profile_dir().join("e2e");
    if let Ok(entries) = std::fs::read_dir(&root) {
        for e in entries.flatten() {
            let file_name = e.file_name();
            let Some(pid) =
                file_name.to_str().and_then(|n| n.rsplit('-').next()).map(|p| p.trim_end_matches(".log"))
            else {
                continue;
            };
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(e.path()).or_else(|_| std::fs::remove_file(e.path()));
            }
        }
    }
    let dir = root.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a scratch directory");
    dir
}

/// The `ledger-node` binary, built (or brought up to date) first; see the module comment.
pub fn ledger_node_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("LEDGER_NODE_BIN") {
            return PathBuf::from(p);
        }
        let profile_dir = profile_dir();
        let bin = profile_dir.join("ledger-node");
        let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let profile = profile_dir.file_name().and_then(|s| s.to_str()).unwrap_or("debug").to_string();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "ledger-node", "--bin", "ledger-node", "--target-dir"])
            .arg(&target_dir);
        match profile.as_str() {
            // `cargo test` builds the binaries its integration tests run with the `test`
            // profile, into `debug`: the same build, so `cargo test --workspace` has it ready.
            "debug" => {
                cmd.args(["--profile", "test"]);
            }
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        // Run from the workspace so `-p` resolves whatever the current directory is.
        cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
        let status = cmd.status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) if bin.exists() => {
                eprintln!("warning: `cargo build -p ledger-node` failed ({s}); using {}", bin.display())
            }
            Err(e) if bin.exists() => {
                eprintln!("warning: could not run cargo ({e}); using {}", bin.display())
            }
            other => panic!("building ledger-node failed ({other:?}) and {} does not exist", bin.display()),
        }
        assert!(bin.exists(), "{} does not exist after building it", bin.display());
        bin
    })
    .clone()
}

/// Starts `program args...` under a watchdog that stops it when this process exits, then
/// removes `cleanup` (a scratch directory) if given.
fn spawn_tied(
    program: &Path,
    args: &[String],
    stdout: Stdio,
    stderr: Stdio,
    cleanup: Option<&Path>,
) -> std::io::Result<(Child, ChildStdin)> {
    // `read` returns when our end of the pipe closes, i.e. when this process is gone.
    let script = r#""$0" "$@" </dev/null & pid=$!; read -r _ignored; kill "$pid" 2>/dev/null; wait "$pid";
        if [ -n "$E2E_CLEANUP" ]; then rm -rf -- "$E2E_CLEANUP" "$E2E_CLEANUP.log"; fi"#;
    let mut child = Command::new("sh")
        .env("E2E_CLEANUP", cleanup.map(|p| p.as_os_str().to_owned()).unwrap_or_default())
        .arg("-c")
        .arg(script)
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()?;
    let stdin = child.stdin.take().expect("piped stdin");
    Ok((child, stdin))
}

/// The demo ledger, served by the real binary.
pub struct Demo {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub url: String,
    /// The verifier key the demo printed.
    pub log_key: String,
    pub data: PathBuf,
    _watchdog: Mutex<(Child, ChildStdin)>,
}

/// The demo node shared by this test binary: `ledger-node demo --listen 127.0.0.1:0` loads a
/// county year through the real append path, prints its URL and log key, and serves.
pub fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(start_demo)
}

fn start_demo() -> Demo {
    let bin = ledger_node_bin();
    let data = scratch_dir("demo");
    let log = data.with_extension("log");
    let stderr = std::fs::File::create(&log).expect("demo log file");
    let args: Vec<String> = vec![
        "demo".into(),
        "--data".into(),
        data.join("ledger").display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    let (mut child, stdin) = spawn_tied(&bin, &args, Stdio::piped(), Stdio::from(stderr), Some(&data))
        .expect("starting ledger-node demo");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let (mut url, mut log_key) = (None, None);
    loop {
        let left = DEMO_START_TIMEOUT.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix("URL:") {
                    url = Some(rest.trim().trim_end_matches('/').to_string());
                } else if let Some(rest) = line.strip_prefix("log key:") {
                    log_key = Some(rest.trim().to_string());
                } else if line.starts_with("serving") {
                    break;
                }
            }
            Err(e) => {
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                panic!(
                    "ledger-node demo did not start serving ({e:?}) after {:?}; its log:\n{tail}",
                    started.elapsed()
                );
            }
        }
    }
    eprintln!("demo ready in {:.1} s", started.elapsed().as_secs_f64());
    Demo {
        url: url.expect("the demo printed its URL"),
        log_key: log_key.expect("the demo printed its log key"),
        data,
        _watchdog: Mutex::new((child, stdin)),
    }
}

/// GET a JSON document.
pub fn get_json(url: &str) -> Value {
    ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .into_json()
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}

/// GET a text document.
pub fn get_text(url: &str) -> String {
    ureq::get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}")).into_string().expect("text body")
}

/// Fen as the page writes yuan: `¥1,234,567.89`.
pub fn yuan(fen: u64) -> String {
    let digits = (fen / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("¥{grouped}.{:02}", fen % 100)
}

/// A path on `PATH`, or the one an environment variable names.
fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|dir| names.iter().map(move |n| dir.join(n))).find(|p| p.is_file())
}

/// chromedriver, started once per test binary.
pub struct Driver {
    pub url: String,
    pub chromium: PathBuf,
    _watchdog: Mutex<(Child, ChildStdin)>,
}

const NO_BROWSER: &str = "The page tests need Debian's headless Chromium and its WebDriver: \
     `apt-get install -y --no-install-recommends chromium chromium-driver` (.ci/run does this), \
     or set CHROMIUM and CHROMEDRIVER to their paths.";

pub fn driver() -> &'static Driver {
    static DRIVER: OnceLock<Driver> = OnceLock::new();
    DRIVER.get_or_init(|| {
        let chromium = find_program("CHROMIUM", &["chromium", "chromium-browser"])
            .unwrap_or_else(|| panic!("chromium was not found. {NO_BROWSER}"));
        let chromedriver = find_program("CHROMEDRIVER", &["chromedriver"])
            .unwrap_or_else(|| panic!("chromedriver was not found. {NO_BROWSER}"));
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port for chromedriver");
        let args = vec![format!("--port={port}"), "--allowed-ips=127.0.0.1".to_string()];
        let (child, stdin) = spawn_tied(&chromedriver, &args, Stdio::null(), Stdio::null(), None)
            .unwrap_or_else(|e| panic!("starting {}: {e}. {NO_BROWSER}", chromedriver.display()));
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Ok(r) = ureq::get(&format!("{url}/status")).call() {
                let v: Value = r.into_json().unwrap_or(Value::Null);
                if v["value"]["ready"] == true {
                    break;
                }
            }
            assert!(started.elapsed() < DRIVER_START_TIMEOUT, "chromedriver did not become ready on {url}");
            std::thread::sleep(POLL_INTERVAL);
        }
        Driver { url, chromium, _watchdog: Mutex::new((child, stdin)) }
    })
}

/// The W3C name of an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One browser window: a WebDriver session with its own fresh profile directory.
pub struct Browser {
    session: String,
    profile: PathBuf,
}

impl Browser {
    /// A new headless Chromium with a viewport `width` × `height` CSS pixels. Widths under
    /// `PHONE_WIDTH_MAX` emulate a phone (touch, mobile viewport): a headless window cannot be
    /// narrower than 500 px, and a phone also honours the page's viewport meta tag.
    pub fn new(width: u32, height: u32) -> Browser {
        let driver = driver();
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let profile = profile_dir().join("e2e").join(format!("chromium-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--hide-scrollbars".into(),
            "--force-device-scale-factor=1".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut options = json!({"binary": driver.chromium.display().to_string(), "args": args});
        let phone = width < PHONE_WIDTH_MAX;
        if phone {
            options["mobileEmulation"] = json!({"deviceMetrics": {
                "width": width, "height": height, "pixelRatio": 1, "mobile": true, "touch": true,
            }});
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": options,
        }}});
        let answer = call("POST", &format!("{}/session", driver.url), Some(caps))
            .unwrap_or_else(|e| panic!("chromedriver could not start Chromium: {e}. {NO_BROWSER}"));
        let session = answer["sessionId"].as_str().expect("a session id").to_string();
        let b = Browser { session, profile };
        if !phone {
            b.resize(width, height);
        }
        b
    }

    fn path(&self, rest: &str) -> String {
        format!("{}/session/{}{rest}", driver().url, self.session)
    }

    fn cmd(&self, method: &str, rest: &str, body: Option<Value>) -> Value {
        call(method, &self.path(rest), body).unwrap_or_else(|e| panic!("WebDriver {method} {rest}: {e}"))
    }

    /// Sets the viewport (not the outer window) to `width` × `height`.
    pub fn resize(&self, width: u32, height: u32) {
        self.cmd("POST", "/window/rect", Some(json!({"width": width, "height": height})));
        // Headless windows have no chrome, but make sure: grow by what the frame takes.
        let inner = self.js("return [window.innerWidth, window.innerHeight]", &[]);
        let (iw, ih) = (inner[0].as_u64().unwrap_or(0) as u32, inner[1].as_u64().unwrap_or(0) as u32);
        if iw != width || ih != height {
            let w = width + width.saturating_sub(iw);
            let h = height + height.saturating_sub(ih);
            self.cmd("POST", "/window/rect", Some(json!({"width": w, "height": h})));
        }
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url})));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and answers its value.
    pub fn js(&self, script: &str, args: &[Value]) -> Value {
        self.cmd("POST", "/execute/sync", Some(json!({"script": script, "args": args})))
    }

    /// Polls `script` until it answers something other than null/false; panics after
    /// `PAGE_TIMEOUT` with `what` and the page's text.
    pub fn wait_for(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let v = self.js(script, &[]);
            if !(v.is_null() || v == false) {
                return v;
            }
            if started.elapsed() > PAGE_TIMEOUT {
                let text = self.js("return document.body ? document.body.innerText.slice(0, 3000) : ''", &[]);
                panic!("timed out waiting for {what}; the page says:\n{}", text.as_str().unwrap_or_default());
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits until the page has rendered its route and finished its in-browser checks.
    pub fn wait_ready(&self) -> String {
        self.wait_for(
            "the page to render",
            "return document.body && document.body.getAttribute('data-ready')",
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Performs W3C input actions (keys, pointer), then releases them.
    pub fn actions(&self, actions: Value) {
        self.cmd("POST", "/actions", Some(json!({"actions": actions})));
        self.cmd("DELETE", "/actions", None);
    }

    /// The element matching `css`.
    pub fn find(&self, css: &str) -> String {
        let v = self.cmd("POST", "/element", Some(json!({"using": "css selector", "value": css})));
        v[ELEMENT_KEY].as_str().unwrap_or_else(|| panic!("no element {css}")).to_string()
    }

    /// Clicks like a user (WebDriver element click).
    pub fn click(&self, css: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Types into an input like a user.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/clear"), Some(json!({})));
        self.cmd("POST", &format!("/element/{id}/value"), Some(json!({"text": text})));
    }

    /// The rendered text of the first element matching `css`, or None.
    pub fn text(&self, css: &str) -> Option<String> {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null",
            &[json!(css)],
        )
        .as_str()
        .map(str::to_string)
    }

    /// A Chrome DevTools Protocol command, through chromedriver.
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd("POST", "/goog/cdp/execute", Some(json!({"cmd": cmd, "params": params})))
    }

    /// A PNG of the whole page, not just the viewport.
    pub fn screenshot_full_page(&self, path: &Path) {
        let metrics = self.cdp("Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let width = self.js("return window.innerWidth", &[]).as_f64().unwrap_or(1280.0);
        let v = self.cdp(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": width, "height": size["height"], "scale": 1}}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(v["data"].as_str().expect("a base64 PNG"))
            .expect("base64");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = call("DELETE", &self.path(""), None);
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// One WebDriver command: JSON in, the `value` member out, errors as text.
fn call(method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
    let req = ureq::request(method, url).timeout(Duration::from_secs(60));
    let res = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let res = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            let mut s = String::new();
            let _ = r.into_reader().take(4096).read_to_string(&mut s);
            return Err(format!("HTTP {code}: {s}"));
        }
        Err(e) => return Err(e.to_string()),
    };
    let v: Value = res.into_json().map_err(|e| e.to_string())?;
    Ok(v["value"].clone())
}

#[cfg(test)]
mod tests {
    use super::yuan;

    #[test]
    fn yuan_groups_thousands() {
        assert_eq!(yuan(0), "¥0.00");
        assert_eq!(yuan(5), "¥0.05");
        assert_eq!(yuan(123_456_789), "¥1,234,567.89");
        assert_eq!(yuan(100_000), "¥1,000.00");
    }
}

/// A node process the test owns (start, SIGKILL, restart), a ledger made with the real
/// `ledger-node init`, and the `ledger-verify` binary: what the reliability tests use.
pub mod process {
    use std::io::{BufRead, BufReader, Read};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, ExitStatus, Stdio};
    use std::sync::OnceLock;

    /// The `ledger-verify` binary, built (or brought up to date) first, like `ledger_node_bin`.
    /// `LEDGER_VERIFY_BIN` names another one.
    pub fn ledger_verify_bin() -> PathBuf {
        static BIN: OnceLock<PathBuf> = OnceLock::new();
        BIN.get_or_init(|| {
            if let Some(p) = std::env::var_os("LEDGER_VERIFY_BIN") {
                return PathBuf::from(p);
            }
            let profile_dir = super::profile_dir();
            let bin = profile_dir.join("ledger-verify");
            let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
            let profile = profile_dir.file_name().and_then(|s| s.to_str()).unwrap_or("debug").to_string();
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "--quiet", "-p", "verifier", "--bin", "ledger-verify", "--target-dir"])
                .arg(&target_dir);
            match profile.as_str() {
                "debug" => {}
                "release" => {
                    cmd.arg("--release");
                }
                other => {
                    cmd.args(["--profile", other]);
                }
            }
            cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
            let status = cmd.status();
            assert!(
                matches!(status, Ok(s) if s.success()) || bin.exists(),
                "building ledger-verify failed ({status:?}) and {} does not exist",
                bin.display()
            );
            bin
        })
        .clone()
    }

    /// Writes a secret key file as `ledger-node key new` does: one line of hex, mode 0600.
    pub fn write_key_file(path: &Path, seed: &[u8; 32]) {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        writeln!(f, "{hex}").expect("writing the key file");
    }

    /// `ledger-node init` with the admins' secret key files; returns the log's verifier key.
    pub fn init_ledger(data: &Path, origin: &str, admin_key_files: &[&Path]) -> String {
        let mut cmd = Command::new(super::ledger_node_bin());
        cmd.args(["init", "--data"]).arg(data).args(["--origin", origin, "--name", "Reliability test"]);
        for f in admin_key_files {
            cmd.arg("--admin-secret").arg(f);
        }
        let out = cmd.output().expect("running ledger-node init");
        assert!(out.status.success(), "ledger-node init failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("log verifier key: ").map(str::to_string))
            .expect("init prints the log verifier key")
    }

    /// A `ledger-node serve` process on a free loopback port, killed (SIGKILL) when dropped so
    /// a failing test leaves no node behind.
    pub struct NodeProcess {
        child: Child,
        pub url: String,
        stderr_log: PathBuf,
    }

    impl NodeProcess {
        /// Starts the node on `data` and waits until it listens. Its standard error is appended
        /// to `stderr_log`, which the error quotes if the node does not start.
        pub fn serve(data: &Path, stderr_log: &Path) -> Result<NodeProcess, String> {
            let mut child = Self::spawn(data, stderr_log)?;
            let stdout = child.stdout.take().ok_or("no stdout")?;
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line);
            let url = line.trim().rsplit(' ').next().unwrap_or("").trim_end_matches('/').to_string();
            if read.is_err() || !url.starts_with("http://127.0.0.1:") {
                let _ = child.kill();
                let status = child.wait().ok();
                return Err(format!(
                    "ledger-node serve did not start (exit {status:?}, first line {line:?}); its log:\n{}",
                    tail_of(stderr_log)
                ));
            }
            Ok(NodeProcess { child, url, stderr_log: stderr_log.to_path_buf() })
        }

        /// Starts the node without waiting for it (to kill it while it is still recovering).
        pub fn spawn(data: &Path, stderr_log: &Path) -> Result<Child, String> {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(stderr_log)
                .map_err(|e| format!("{}: {e}", stderr_log.display()))?;
            Command::new(super::ledger_node_bin())
                .args(["serve", "--data"])
                .arg(data)
                .args(["--listen", "127.0.0.1:0"])
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("starting ledger-node: {e}"))
        }

        /// The node's process id (to read its memory from /proc).
        pub fn pid(&self) -> u32 {
            self.child.id()
        }

        /// `Some(status)` once the process has exited (crashed, panicked, aborted).
        pub fn exited(&mut self) -> Option<ExitStatus> {
            self.child.try_wait().ok().flatten()
        }

        /// SIGKILL: no chance to flush or finish anything.
        pub fn sigkill(mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }

        /// The end of the node's standard error, for failure messages.
        pub fn log_tail(&self) -> String {
            tail_of(&self.stderr_log)
        }
    }

    impl Drop for NodeProcess {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Any long-running `ledger-node` command (`witness`, `mirror`, `serve` with options) on a
    /// loopback port, killed (SIGKILL) when dropped. Started once its standard output names
    /// its URL; the lines printed before that (a witness's verifier key) are kept.
    pub struct ServerProcess {
        child: Child,
        pub url: String,
        pub lines: Vec<String>,
        stderr_log: PathBuf,
    }

    impl ServerProcess {
        pub fn start(args: &[String], stderr_log: &Path) -> Result<ServerProcess, String> {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(stderr_log)
                .map_err(|e| format!("{}: {e}", stderr_log.display()))?;
            let mut child = Command::new(super::ledger_node_bin())
                .args(args)
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("starting ledger-node {args:?}: {e}"))?;
            let stdout = child.stdout.take().ok_or("no stdout")?;
            let mut reader = BufReader::new(stdout);
            let mut lines = Vec::new();
            loop {
                let mut line = String::new();
                // EOF (the process exited) ends the wait: no timeout is needed.
                if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    return Err(format!(
                        "ledger-node {args:?} did not start (exit {status:?}, printed {lines:?}); its log:\n{}",
                        tail_of(stderr_log)
                    ));
                }
                let line = line.trim_end().to_string();
                // The last URL on the line: a mirror names its upstream first.
                if let Some(at) = line.rfind("http://127.0.0.1:") {
                    let url =
                        line[at..].split_whitespace().next().unwrap_or("").trim_end_matches('/').to_string();
                    return Ok(ServerProcess { child, url, lines, stderr_log: stderr_log.to_path_buf() });
                }
                lines.push(line);
            }
        }

        /// The end of the process's standard error, for failure messages.
        pub fn log_tail(&self) -> String {
            tail_of(&self.stderr_log)
        }
    }

    impl Drop for ServerProcess {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn tail_of(path: &Path) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(path) {
            let _ = f.read_to_string(&mut text);
        }
        let mut start = text.len().saturating_sub(4000);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].to_string()
    }
}
