//! The browser tests' harness: headless Chromium driven through chromedriver (WebDriver) with
//! fantoccini, behind a blocking API so that a test reads as a story — load a page, read its
//! elements, run a script, save a screenshot.
//!
//! [`Browser::start_or_skip`] finds Chromium and chromedriver (`BACKUP_SIM_CHROMIUM`,
//! `BACKUP_SIM_CHROMEDRIVER`, else `/usr/bin/chromium` and `/usr/bin/chromedriver`, else the
//! `PATH`), starts chromedriver on a free 127.0.0.1 port and a Chromium session with a fresh
//! profile in a temporary directory and the flags that work on a machine with no outside
//! network (no background networking, no component updates, no sync, no QUIC). Where either
//! program is missing the test prints `skipped: …` and passes, as the storage-server tests do,
//! unless `BACKUP_SIM_REQUIRE_BROWSER=1` (what `scripts/test-all.sh` sets once it has installed
//! them): then a missing browser fails the test. A browser that is there but does not start is
//! always a failure.
//!
//! Browsers run one at a time: each holds a lock for its life ([`ONE_AT_A_TIME`]), so a test's
//! timings measure its own page, not another test's Chromium starting beside it.
//!
//! Every method panics with what went wrong (this is test code): a WebDriver error names the
//! command and the element looked for. Dropping the [`Browser`] ends the session and stops
//! chromedriver (which stops Chromium) and removes the profile.

use fantoccini::{Client, ClientBuilder, Locator};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Chromium's flags: headless, and quiet on a machine whose network is closed (without the
/// background-networking flags Chromium's own connections are refused many at a time).
pub const CHROMIUM_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// The window a session starts with (screenshots are this wide).
pub const WINDOW: (u32, u32) = (1400, 900);

pub use crate::shell_support::basics::{http, HttpAnswer};
pub use crate::shell_support::TempDir;

/// Held by each [`Browser`] for its life: the browser tests run one at a time. Each starts its
/// own Chromium, and the jobs page test runs a shell beside it; on 2 cores, in parallel with
/// each other and with the simulation tests, they starve one another, and the sweep report's
/// "renders in under a second" would measure the machine's load rather than the page.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A port on 127.0.0.1 that nothing listened on a moment ago, for chromedriver (which cannot
/// be given port 0 and say which it took; [`Browser::start`] tries again if it lost the race).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port on 127.0.0.1")
}

/// Where an executable is: `var`'s value if set, else the first of `candidates` (absolute paths
/// or names looked up on the `PATH`) that exists.
fn find_program(var: &str, candidates: &[&str]) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(var) {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(format!("{var}={} is not a file", p.display())) };
    }
    for c in candidates {
        let p = Path::new(c);
        if p.is_absolute() {
            if p.is_file() {
                return Ok(p.to_path_buf());
            }
            continue;
        }
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            if dir.join(c).is_file() {
                return Ok(dir.join(c));
            }
        }
    }
    Err(format!("none of {} found (set {var})", candidates.join(", ")))
}

/// Chromium and chromedriver, if both are on this machine.
fn programs() -> Result<(PathBuf, PathBuf), String> {
    let chromium = find_program("BACKUP_SIM_CHROMIUM", &["/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"])?;
    let driver = find_program("BACKUP_SIM_CHROMEDRIVER", &["/usr/bin/chromedriver", "chromedriver"])?;
    Ok((chromium, driver))
}

/// A headless Chromium session. See the module doc.
pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    driver_log: PathBuf,
    _profile: TempDir,
    /// [`ONE_AT_A_TIME`], released last (fields drop after [`Drop::drop`] has closed the
    /// session and stopped chromedriver).
    _turn: MutexGuard<'static, ()>,
}

impl Browser {
    /// A browser, or `None` after printing why `test` is skipped (a panic instead when
    /// `BACKUP_SIM_REQUIRE_BROWSER=1`).
    pub fn start_or_skip(test: &str) -> Option<Browser> {
        match programs() {
            Ok((chromium, driver)) => Some(Browser::start(&chromium, &driver)),
            Err(why) => {
                if std::env::var("BACKUP_SIM_REQUIRE_BROWSER").as_deref() == Ok("1") {
                    panic!("{test}: no browser ({why}) but BACKUP_SIM_REQUIRE_BROWSER=1: install Debian's chromium and chromium-driver");
                }
                println!("skipped: {test}: no browser ({why}); install Debian's chromium and chromium-driver to run it");
                None
            }
        }
    }

    /// Starts chromedriver and a Chromium session (panics if either does not come up).
    pub fn start(chromium: &Path, driver: &Path) -> Browser {
        // A test that panicked holding the turn poisons it; the next may still go.
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let profile = TempDir::new("profile");
        let mut last_error = String::new();
        // The free port may be taken between our look and chromedriver's bind: try a few.
        for _ in 0..3 {
            let port = free_port();
            let driver_log = profile.0.join(format!("chromedriver-{port}.log"));
            let mut child = Command::new(driver)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", driver_log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
            if !wait_for_port(port, Duration::from_secs(15)) {
                let _ = child.kill();
                let _ = child.wait();
                last_error = format!("chromedriver did not listen on port {port} within 15 s; its log:\n{}", tail(&driver_log));
                continue;
            }
            let mut caps = serde_json::Map::new();
            let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
            args.push(format!("--user-data-dir={}", profile.0.join("chromium").display()));
            args.push(format!("--window-size={},{}", WINDOW.0, WINDOW.1));
            caps.insert("browserName".into(), "chrome".into());
            caps.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": chromium.display().to_string(), "args": args }));
            let connected = rt.block_on(
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new()).capabilities(caps).connect(&format!("http://127.0.0.1:{port}")),
            );
            match connected {
                Ok(client) => return Browser { rt, client: Some(client), driver: child, driver_log, _profile: profile, _turn: turn },
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error =
                        format!("no Chromium session ({} with {}): {e}; chromedriver's log:\n{}", chromium.display(), driver.display(), tail(&driver_log));
                }
            }
        }
        panic!("the browser did not start: {last_error}");
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    /// Loads `url` and waits for the page's load event.
    pub fn goto(&self, url: &str) {
        self.rt.block_on(self.client().goto(url)).unwrap_or_else(|e| panic!("cannot load {url}: {e}"));
    }

    /// Loads a local file (a report written by a test).
    pub fn open_file(&self, path: &Path) {
        let abs = std::fs::canonicalize(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self.goto(&format!("file://{}", abs.display()));
    }

    /// The current page's URL.
    pub fn url(&self) -> String {
        self.rt.block_on(self.client().current_url()).map(|u| u.to_string()).unwrap_or_else(|e| panic!("current url: {e}"))
    }

    /// The page's HTML as the browser holds it now.
    pub fn source(&self) -> String {
        self.rt.block_on(self.client().source()).unwrap_or_else(|e| panic!("page source: {e}"))
    }

    /// How many elements match `css`.
    pub fn count(&self, css: &str) -> usize {
        self.rt.block_on(self.client().find_all(Locator::Css(css))).unwrap_or_else(|e| panic!("find {css:?}: {e}")).len()
    }

    /// The rendered text of the first element matching `css` (panics if none).
    pub fn text(&self, css: &str) -> String {
        self.rt.block_on(async { self.client().find(Locator::Css(css)).await?.text().await }).unwrap_or_else(|e| panic!("text of {css:?}: {e}"))
    }

    /// The rendered texts of every element matching `css`.
    pub fn texts(&self, css: &str) -> Vec<String> {
        self.rt
            .block_on(async {
                let mut out = Vec::new();
                for el in self.client().find_all(Locator::Css(css)).await? {
                    out.push(el.text().await?);
                }
                Ok::<_, fantoccini::error::CmdError>(out)
            })
            .unwrap_or_else(|e| panic!("texts of {css:?}: {e}"))
    }

    /// Attribute `name` of the first element matching `css`.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.rt.block_on(async { self.client().find(Locator::Css(css)).await?.attr(name).await }).unwrap_or_else(|e| panic!("attribute {name} of {css:?}: {e}"))
    }

    /// Clicks the first element matching `css` (and waits for a page it loads).
    pub fn click(&self, css: &str) {
        self.rt.block_on(async { self.client().find(Locator::Css(css)).await?.click().await }).unwrap_or_else(|e| panic!("click {css:?}: {e}"));
    }

    /// Runs `script` (a function body: `return …` gives the value; `arguments[i]` are `args`).
    pub fn js(&self, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
        self.rt.block_on(self.client().execute(script, args)).unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    /// Waits until `script` returns `true` (checked every 100 ms), or panics after `timeout`
    /// saying `what` was awaited and what the script last returned.
    pub fn wait_js(&self, what: &str, script: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            // A page reloading under the script may fail one call: that is not the answer.
            let got = self.rt.block_on(self.client().execute(script, Vec::new()));
            if matches!(got, Ok(serde_json::Value::Bool(true))) {
                return;
            }
            if start.elapsed() > timeout {
                panic!("waited {timeout:?} for {what}; the script last gave {got:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Resizes the window (screenshots are the window's size).
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.rt.block_on(self.client().set_window_size(width, height)).unwrap_or_else(|e| panic!("window size: {e}"));
    }

    /// Saves a PNG of the window to `path` (directories created).
    pub fn screenshot(&self, path: &Path) {
        let png = self.rt.block_on(self.client().screenshot()).unwrap_or_else(|e| panic!("screenshot: {e}"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Saves a PNG of the whole page (the window made as tall as the page, at most `max_height`,
    /// then put back) to `path`.
    pub fn screenshot_page(&self, path: &Path, max_height: u32) {
        let measure = "return [Math.ceil(document.documentElement.scrollHeight), window.outerHeight - window.innerHeight];";
        let [height, frame] = [0, 1].map(|i| self.js(measure, Vec::new())[i].as_u64().unwrap_or(0) as u32);
        // The window's size is its outer size: the frame around the page is added to it.
        self.set_window_size(WINDOW.0, height.clamp(200, max_height) + frame);
        self.screenshot(path);
        self.set_window_size(WINDOW.0, WINDOW.1);
    }

    /// Ends the session and stops chromedriver (what dropping does, with errors reported).
    pub fn shutdown(mut self) {
        if let Some(client) = self.client.take() {
            self.rt.block_on(client.close()).unwrap_or_else(|e| panic!("closing the session: {e}; chromedriver's log:\n{}", tail(&self.driver_log)));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.rt.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// True once something accepts connections on 127.0.0.1:`port`.
fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The last lines of a log file, for a failure message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Where screenshots go: `target/browser-screenshots/` of this workspace (or of
/// `CARGO_TARGET_DIR`).
pub fn screenshot_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => PathBuf::from(t).join("browser-screenshots"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser-screenshots"),
    }
}

/// Saves `name` (a `.png` file name) from `browser` into [`screenshot_dir`], the whole page up
/// to `max_height` pixels tall; and, when `BACKUP_SIM_SCREENSHOTS_TO` names a directory
/// (relative to the workspace root, e.g. `docs/screenshots`), copies it there too — how the
/// README's pictures are made.
pub fn save_screenshot(browser: &Browser, name: &str, max_height: u32) -> PathBuf {
    let path = screenshot_dir().join(name);
    browser.screenshot_page(&path, max_height);
    if let Some(to) = std::env::var_os("BACKUP_SIM_SCREENSHOTS_TO").filter(|v| !v.is_empty()) {
        let to = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(to);
        std::fs::create_dir_all(&to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
        std::fs::copy(&path, to.join(name)).unwrap_or_else(|e| panic!("copying {name} to {}: {e}", to.display()));
    }
    path
}
