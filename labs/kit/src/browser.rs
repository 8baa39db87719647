//! A real browser for tests: Debian's headless Chromium, driven through chromedriver with
//! fantoccini (the W3C WebDriver protocol).
//!
//! Lab pages are JavaScript talking to a WebSocket; the only honest test of such a page is a
//! browser running it. [`Browser::launch`] starts a private chromedriver and Chromium for one
//! test, with a fresh profile, and stops both when the test ends.
//!
//! Where Chromium or chromedriver is missing, `launch` returns `Ok(None)` and prints why, so
//! `cargo test` still works on a machine without them; with `REQUIRE_BROWSER=1` (set by
//! `.ci/run`) a missing browser is an error, so CI cannot skip these tests silently.
//! Install them on Debian with `apt-get install chromium chromium-driver`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::testing::within;

/// How long a page may take to reach the state a test waits for.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

/// Chromium's flags for a sandboxed CI machine: headless, no GPU, and none of the
/// background connections to Google's services (the machine has no network beyond
/// loopback, and those attempts slow start-up down).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1280,900",
];

/// A headless Chromium session for one test.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    /// The chromedriver process; killed when the browser is dropped.
    driver: Child,
    /// Chromium's throw-away profile folder.
    _profile: tempfile::TempDir,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").finish_non_exhaustive()
    }
}

/// Where a program is: the environment variable if set, else the first existing candidate.
fn find(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, or returns `Ok(None)` (after printing
    /// why) when they are not installed and `REQUIRE_BROWSER` is not `1`.
    pub async fn launch() -> anyhow::Result<Option<Self>> {
        let chromium = find(
            "CHROMIUM",
            &[
                "/usr/bin/chromium",
                "/usr/bin/chromium-browser",
                "/usr/bin/google-chrome",
            ],
        );
        let driver = find("CHROMEDRIVER", &["/usr/bin/chromedriver"]);
        let (chromium, driver_path) = match (chromium, driver) {
            (Some(chromium), Some(driver)) => (chromium, driver),
            (chromium, driver) => {
                let missing = match (chromium, driver) {
                    (None, None) => "chromium and chromedriver are",
                    (None, Some(_)) => "chromium is",
                    _ => "chromedriver is",
                };
                let why = format!(
                    "{missing} not installed (apt-get install chromium chromium-driver, \
                     or set CHROMIUM and CHROMEDRIVER)"
                );
                if std::env::var("REQUIRE_BROWSER").as_deref() == Ok("1") {
                    bail!("REQUIRE_BROWSER=1 but {why}");
                }
                eprintln!("browser test skipped: {why}");
                return Ok(None);
            }
        };

        // chromedriver needs a port; ask the kernel for a free one.
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
            probe.local_addr()?.port()
        };
        let mut driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", driver_path.display()))?;

        // Ready when it says so on stdout: no guessing with sleeps.
        let stdout = driver.stdout.take().context("chromedriver's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        within("chromedriver start-up", async {
            while let Some(line) = lines.next_line().await? {
                if line.contains("started successfully") {
                    return Ok(());
                }
            }
            bail!("chromedriver exited before it was ready")
        })
        .await??;
        // Keep draining its stdout so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let profile = tempfile::tempdir()?;
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium, "args": args }),
        );
        let client = within(
            "opening a Chromium session",
            ClientBuilder::new(HttpConnector::new())
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await?
        .context("chromedriver refused to open a session")?;

        Ok(Some(Self {
            client,
            driver,
            _profile: profile,
        }))
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        within(&format!("loading {url}"), self.client.goto(url))
            .await?
            .with_context(|| format!("loading {url}"))
    }

    /// Waits until an element matches `css`, failing after [`PAGE_TIMEOUT`].
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        self.client
            .wait()
            .at_most(PAGE_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("waiting for an element matching {css:?}"))
    }

    /// Runs `script` in the page (a function body: use `return`) and returns its value.
    pub async fn eval(&self, script: &str) -> anyhow::Result<serde_json::Value> {
        within(
            "running a script in the page",
            self.client.execute(script, vec![]),
        )
        .await?
        .context("the script failed in the page")
    }

    /// Polls `script` (a function body returning a boolean) until it returns `true`,
    /// failing with `what` after [`PAGE_TIMEOUT`].
    pub async fn wait_until(&self, what: &str, script: &str) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + PAGE_TIMEOUT;
        loop {
            if self.eval(script).await? == serde_json::Value::Bool(true) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("timed out after {PAGE_TIMEOUT:?} waiting until {what}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends the session (closing Chromium) and stops chromedriver.
    pub async fn close(mut self) -> anyhow::Result<()> {
        let closed = within("closing the browser", self.client.clone().close()).await;
        let _ = self.driver.kill().await;
        closed?.context("closing the WebDriver session")
    }
}
