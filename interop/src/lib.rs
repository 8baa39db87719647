//! # Interop: the labs against clients nobody here wrote
//!
//! Every lab's own tests drive it with tokio-tungstenite, or with the lab's own client. That
//! proves less than it seems: a misreading of RFC 6455 shared by our client and our server
//! cancels out, and both sides pass. The tests of this crate put an independent
//! implementation at the other end of each lab, started as a child process on loopback:
//!
//! | client | tests | what it checks |
//! |---|---|---|
//! | Python's [`websockets`](https://websockets.readthedocs.io/) | `tests/python.rs` | the handshake lab's echo at 0 B, 125 B, 64 KiB and 1 MiB; fragmented messages; ping; close codes both ways (the client's code echoed, 1009 for an oversized message or fragmented message); a gateway request and its ack, an exception, 1009; the private lab's token offered as a subprotocol and `private.v1` chosen; a room joined by two clients and a message from one received by the other |
//! | Python's `websockets`, as client and as server | `tests/compression.rs` | permessage-deflate (RFC 7692) with the handshake lab, both ways, with and without context takeover and with websockets' 4 KiB windows: the parameters agreed, 0 B to 1 MiB text and binary, whole and fragmented, RSV1 on first frames only, every echo compressed, no context kept without takeover |
//! | Node's [`ws`](https://github.com/websockets/ws) | `tests/node.rs` | the same echo, fragment and close cases, with `ws`'s default options (it offers `permessage-deflate`: the handshake lab accepts it and the echo is compressed both ways, the other labs decline it) |
//! | curl | `tests/curl.rs` | the refused handshakes: wrong method, no upgrade, wrong version, bad key, foreign Origin, each status with the headers RFC 6455 and RFC 9110 require, on the handshake lab (our own HTTP code) and on the gateway (axum's) |
//!
//! Each test starts the lab in-process on `127.0.0.1:0` with its real `Config` and `app`,
//! runs a script from `python/` or `node/` with the lab's URL as its argument, and reads the
//! JSON lines the script prints. The scripts fail loudly (an exception, a non-zero exit) on
//! anything they did not expect; the Rust side checks what they saw once more (sizes,
//! digests, close codes, the ack's id and data) and how many results there are, so a script
//! that silently did nothing cannot pass.
//!
//! ## Installing and running
//!
//! ```text
//! interop/install.sh        # a venv with the pinned websockets, npm ci for the pinned ws
//! cargo test -p interop
//! ```
//!
//! Both pins live in this folder: `python/requirements.txt` and `node/package-lock.json`.
//! curl comes from the system (`apt-get install curl`). Where a client is missing, its tests
//! print why and pass without running; `.ci/run` sets `REQUIRE_INTEROP=1`, which turns that
//! into a failure so CI cannot skip them unnoticed.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::process::Command;

/// How long one client script may run. Each does a handful of exchanges on loopback, which
/// take milliseconds; the rest is the interpreter starting on a busy CI machine.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long asking a program for its version may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// The variable that makes a missing client an error instead of a skip (set by `.ci/run`).
pub const REQUIRE_VAR: &str = "REQUIRE_INTEROP";

/// This crate's folder, where the scripts and the installed clients are.
pub fn dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// An installed independent client: the program to start, and where its scripts are.
#[derive(Debug, Clone)]
pub struct Tool {
    /// What it is, for messages: "python websockets", "node ws", "curl".
    pub name: &'static str,
    /// The version found, as the program reported it.
    pub version: String,
    /// The interpreter or program.
    program: PathBuf,
    /// The folder of its scripts, also its working directory.
    scripts: PathBuf,
}

impl Tool {
    /// Python with `websockets` importable: `interop/.venv` (made by `install.sh`) first,
    /// then the system's `python3`. `Ok(None)` (after printing why) if neither has it.
    pub async fn python() -> anyhow::Result<Option<Self>> {
        let scripts = dir().join("python");
        // The asyncio client is the API the scripts use; it exists from websockets 13 on.
        let probe = [
            "-c",
            "import websockets, websockets.asyncio.client; print(websockets.__version__)",
        ];
        for program in [dir().join(".venv/bin/python"), PathBuf::from("python3")] {
            if let Some(version) = probe_version(&program, &probe, &scripts).await {
                return Ok(Some(Self {
                    name: "python websockets",
                    version,
                    program,
                    scripts,
                }));
            }
        }
        missing(
            "python websockets",
            "no python with `websockets` (run interop/install.sh)",
        )
    }

    /// Node with the `ws` package installed in `interop/node` (by `install.sh`).
    pub async fn node() -> anyhow::Result<Option<Self>> {
        let scripts = dir().join("node");
        let probe = ["-e", "console.log(require('ws/package.json').version)"];
        let program = PathBuf::from("node");
        match probe_version(&program, &probe, &scripts).await {
            Some(version) => Ok(Some(Self {
                name: "node ws",
                version,
                program,
                scripts,
            })),
            None => missing(
                "node ws",
                "no node, or `ws` not installed in interop/node (run interop/install.sh)",
            ),
        }
    }

    /// The system's curl.
    pub async fn curl() -> anyhow::Result<Option<Self>> {
        let program = PathBuf::from("curl");
        match probe_version(&program, &["--version"], dir()).await {
            Some(version) => Ok(Some(Self {
                name: "curl",
                // `curl --version` prints its features too; the first line is enough.
                version: version.lines().next().unwrap_or_default().to_owned(),
                program,
                scripts: dir().to_owned(),
            })),
            None => missing("curl", "curl is not installed (apt-get install curl)"),
        }
    }

    /// The program, ready for arguments, running in the scripts' folder.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.current_dir(&self.scripts);
        command
    }

    /// The program running `script` (a file in `python/` or `node/`).
    pub fn script(&self, script: &str) -> Command {
        let mut command = self.command();
        command.arg(self.scripts.join(script));
        command
    }
}

/// Runs `program args` in `cwd` and returns what it printed, if it exits with success in
/// time. Any failure means "not usable here", which the caller turns into a skip.
async fn probe_version(program: &Path, args: &[&str], cwd: &Path) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(PROBE_TIMEOUT, output).await {
        Ok(Ok(output)) if output.status.success() => {
            Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        }
        _ => None,
    }
}

/// A missing client: a skip, with the reason on stderr, or an error under
/// `REQUIRE_INTEROP=1`.
fn missing<T>(name: &str, why: &str) -> anyhow::Result<Option<T>> {
    if std::env::var(REQUIRE_VAR).as_deref() == Ok("1") {
        bail!("{REQUIRE_VAR}=1 but {why}");
    }
    eprintln!("interop test skipped: {name}: {why}");
    Ok(None)
}

/// Runs `command` to completion under [`SCRIPT_TIMEOUT`] and returns what it printed and
/// how it exited, whatever that was.
///
/// The child is killed if the test ends first (`kill_on_drop`), so a hung client never
/// outlives its test.
pub async fn run_output(mut command: Command) -> anyhow::Result<Output> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let shown = format!("{:?}", command.as_std());
    let child = command
        .spawn()
        .with_context(|| format!("starting {shown}"))?;
    tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| anyhow!("timed out after {SCRIPT_TIMEOUT:?}: {shown}"))?
        .with_context(|| format!("waiting for {shown}"))
}

/// Runs `command` like [`run_output`] and returns its stdout; a non-zero exit is an error
/// carrying the child's stderr and stdout, which is where a script says what it did not
/// expect.
pub async fn run(command: Command) -> anyhow::Result<String> {
    let shown = format!("{:?}", command.as_std());
    let output = run_output(command).await?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!(
            "{shown} failed ({}):\n--- stderr\n{stderr}\n--- stdout\n{stdout}",
            output.status
        );
    }
    Ok(stdout)
}

/// Runs a script that prints one JSON object per line, and returns those objects.
pub async fn run_json(command: Command) -> anyhow::Result<Vec<Value>> {
    let stdout = run(command).await?;
    stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .with_context(|| format!("a script printed a line that is not JSON: {line}"))?;
            if !value.is_object() {
                bail!("a script printed JSON that is not an object: {line}");
            }
            Ok(value)
        })
        .collect()
}

/// The text the scripts send as a message of `size` bytes: `abcdefghij` repeated, ASCII so
/// that bytes and characters agree. The scripts build the same (`payloads` in each).
pub fn text_payload(size: usize) -> String {
    "abcdefghij".repeat(size / 10 + 1)[..size].to_owned()
}

/// The bytes the scripts send as a binary message of `size` bytes: `i mod 251`, a prime,
/// so that the pattern does not line up with any power-of-two boundary.
pub fn binary_payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// SHA-256 of `bytes` in lowercase hex, as the scripts report what they received.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An HTTP response as `curl -si` prints it: the status, the headers, the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Every header line, names as sent, in order.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl HttpResponse {
    /// Parses `curl -si` output of one response (no `100 Continue` before it).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let (head, body) = text
            .split_once("\r\n\r\n")
            .with_context(|| format!("no end of the response head in {text:?}"))?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .with_context(|| format!("not an HTTP status line: {status_line:?}"))?;
        let headers = lines
            .map(|line| {
                let (name, value) = line
                    .split_once(':')
                    .with_context(|| format!("not a header line: {line:?}"))?;
                Ok((name.trim().to_owned(), value.trim().to_owned()))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            status,
            headers,
            body: body.to_owned(),
        })
    }

    /// The value of header `name` (any case); several lines are joined with `, `, as
    /// RFC 9110 allows for list headers.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    /// Whether the comma-separated header `name` lists `token` (any case), as
    /// `Connection: Upgrade, close` lists `upgrade`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.header(name).is_some_and(|value| {
            value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A response as curl prints it parses into status, headers (repeated ones joined) and
    /// body.
    #[test]
    fn parses_curl_output() {
        let text = "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    connection: close\r\nContent-Length: 3\r\n\r\nno\n";
        let response = HttpResponse::parse(text).unwrap();
        assert_eq!(response.status, 426);
        assert_eq!(response.header("upgrade").as_deref(), Some("websocket"));
        assert_eq!(
            response.header("Connection").as_deref(),
            Some("Upgrade, close")
        );
        assert!(response.has_token("connection", "upgrade"));
        assert!(!response.has_token("connection", "keep-alive"));
        assert_eq!(response.body, "no\n");
    }

    /// The payloads have the sizes asked for, and the digest is SHA-256's.
    #[test]
    fn payloads_and_digest() {
        assert_eq!(text_payload(0), "");
        assert_eq!(text_payload(12), "abcdefghijab");
        assert_eq!(binary_payload(253)[250..], [250, 0, 1]);
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
