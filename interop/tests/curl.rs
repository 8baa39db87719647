//! Refused upgrades, seen by curl: each malformed request gets the status and the headers
//! RFC 6455 (section 4.2) and RFC 9110 ask for, from three servers: the handshake lab's own
//! HTTP code, the same lab mounted in axum (as the course serves it), and the gateway, whose
//! upgrade is axum's `WebSocketUpgrade`.
//!
//! ```text
//! cargo test -p interop --test curl
//! ```
//!
//! curl knows nothing about WebSocket here: it sends the headers it is given and prints the
//! answer (`-si`), which is parsed and checked in Rust.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use interop::{HttpResponse, Tool, run_output};

/// The headers of a valid upgrade request, less the version (the RFC's example key).
const UPGRADE: &str = "Upgrade: websocket";
const CONNECTION: &str = "Connection: Upgrade";
const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
const VERSION: &str = "Sec-WebSocket-Version: 13";

/// curl's deadline for one request. A refusal comes at once; the one case where a server
/// wrongly upgrades is cut off by it (curl then exits with 28).
const CURL_MAX_TIME: Duration = Duration::from_secs(3);

/// One malformed request: its name, method and headers.
struct Case {
    what: &'static str,
    method: &'static str,
    headers: &'static [&'static str],
}

/// Every refusal the tests send, each one mistake away from a valid upgrade.
const CASES: &[Case] = &[
    Case {
        what: "wrong method",
        method: "POST",
        headers: &[UPGRADE, CONNECTION, KEY, VERSION],
    },
    Case {
        what: "plain GET",
        method: "GET",
        headers: &[],
    },
    Case {
        what: "no Connection: Upgrade",
        method: "GET",
        headers: &[UPGRADE, KEY, VERSION],
    },
    Case {
        what: "no key",
        method: "GET",
        headers: &[UPGRADE, CONNECTION, VERSION],
    },
    Case {
        what: "short key",
        method: "GET",
        // "short" in base64: 5 bytes, where the RFC asks for 16.
        headers: &[UPGRADE, CONNECTION, "Sec-WebSocket-Key: c2hvcnQ=", VERSION],
    },
    Case {
        what: "version 8",
        method: "GET",
        headers: &[UPGRADE, CONNECTION, KEY, "Sec-WebSocket-Version: 8"],
    },
    Case {
        what: "no version",
        method: "GET",
        headers: &[UPGRADE, CONNECTION, KEY],
    },
    Case {
        what: "foreign origin",
        method: "GET",
        headers: &[
            UPGRADE,
            CONNECTION,
            KEY,
            VERSION,
            "Origin: http://evil.example",
        ],
    },
];

/// What a server must answer to one case.
struct Expected {
    status: u16,
    /// Headers that must be there, each `(name, token it must list)`.
    headers: &'static [(&'static str, &'static str)],
}

impl Expected {
    const fn status(status: u16) -> Self {
        Self {
            status,
            headers: &[],
        }
    }

    const fn with(status: u16, headers: &'static [(&'static str, &'static str)]) -> Self {
        Self { status, headers }
    }
}

/// RFC 9110, 15.5.22: a 426 MUST name the protocol in `Upgrade`, and a sender of `Upgrade`
/// MUST list it in `Connection` (7.8).
const UPGRADE_REQUIRED: &[(&str, &str)] = &[("Upgrade", "websocket"), ("Connection", "upgrade")];

/// RFC 6455, 4.2.2: a version the server does not speak is answered with the versions it
/// does, in `Sec-WebSocket-Version`; as a 426, with RFC 9110's two headers as well.
const WRONG_VERSION: &[(&str, &str)] = &[
    ("Sec-WebSocket-Version", "13"),
    ("Upgrade", "websocket"),
    ("Connection", "upgrade"),
];

/// The handshake lab's own HTTP code: every status and header the RFCs ask for.
fn handshake_expects(what: &str) -> Expected {
    match what {
        // RFC 9110, 15.5.6: a 405 MUST list the allowed methods in `Allow`.
        "wrong method" => Expected::with(405, &[("Allow", "GET")]),
        "plain GET" => Expected::with(426, UPGRADE_REQUIRED),
        "no Connection: Upgrade" | "no key" | "short key" => Expected::status(400),
        "version 8" | "no version" => Expected::with(426, WRONG_VERSION),
        "foreign origin" => Expected::status(403),
        other => panic!("no expectation for {other}"),
    }
}

/// The gateway: axum's `WebSocketUpgrade` extractor, behind the gateway's own check of what
/// axum answers differently from the RFCs (`refuse_bad_upgrade`), so the same answers as the
/// handshake lab.
fn gateway_expects(what: &str) -> Expected {
    handshake_expects(what)
}

/// curl, or `None` (the test is skipped) where it is not installed.
async fn curl() -> Option<Tool> {
    Tool::curl().await.unwrap()
}

/// Sends `case` to `url` with curl and returns the response it printed.
async fn send(curl: &Tool, url: &str, case: &Case) -> HttpResponse {
    let mut command = curl.command();
    command
        .args(["--silent", "--show-error", "--include", "--http1.1"])
        // Loopback only, whatever proxy the environment names.
        .args(["--noproxy", "*"])
        .args(["--max-time", &CURL_MAX_TIME.as_secs().to_string()])
        .args(["--request", case.method]);
    for header in case.headers {
        command.args(["--header", header]);
    }
    command.arg(url);
    let output = run_output(command).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    // 0: a response; 28: the deadline cut off an upgraded connection (checked below).
    let code = output.status.code();
    assert!(
        code == Some(0) || code == Some(28),
        "curl failed for {}: {:?} {}",
        case.what,
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let response = HttpResponse::parse(&stdout).unwrap();
    if code == Some(28) {
        assert_eq!(
            response.status, 101,
            "{}: curl timed out: {stdout}",
            case.what
        );
    }
    response
}

/// Checks every case against `url`, with the expectations of `expects`.
async fn check_refusals(curl: &Tool, url: &str, expects: fn(&str) -> Expected) {
    for case in CASES {
        let response = send(curl, url, case).await;
        let expected = expects(case.what);
        let what = case.what;
        assert_eq!(response.status, expected.status, "{what}: {response:#?}");
        for (name, token) in expected.headers {
            assert!(
                response.has_token(name, token),
                "{what}: {name} should list {token:?}: {response:#?}"
            );
        }
        if expected.status != 101 {
            // An accept value would tell the client the upgrade happened.
            assert_eq!(
                response.header("Sec-WebSocket-Accept"),
                None,
                "{what}: a refusal with an accept value: {response:#?}"
            );
            // A refusal says why, in words. (axum's method router, in front of the mounted
            // lab and the gateway, answers 405 with `Allow` and an empty body.)
            assert!(
                !response.body.trim().is_empty() || expected.status == 405,
                "{what}: a refusal without a reason: {response:#?}"
            );
        }
    }
}

/// The handshake lab's own server (`cargo run -p lab-handshake`).
#[tokio::test]
async fn handshake_lab_refusals() {
    let Some(curl) = curl().await else { return };
    let server = common::Handshake::start().await;
    check_refusals(&curl, &server.url("/ws"), handshake_expects).await;
}

/// The handshake lab as the course mounts it: axum routes the request, our code validates
/// it, so every answer is the same as the lab's own server's.
#[tokio::test]
async fn handshake_mounted_refusals() {
    let Some(curl) = curl().await else { return };
    let server = common::handshake_mounted().await;
    check_refusals(&curl, &server.url("/ws"), handshake_expects).await;
}

/// The gateway lab (axum's upgrade), as every gateway-based lab answers.
#[tokio::test]
async fn gateway_refusals() {
    let Some(curl) = curl().await else { return };
    let server = common::gateway().await;
    check_refusals(&curl, &server.url("/ws"), gateway_expects).await;
}
