//! The handshake lab with Node's `ws` as the client (scripts in `interop/node/`): the echo at
//! every size with ws's default options, fragments, ping, and close codes both ways.
//!
//! ```text
//! interop/install.sh && cargo test -p interop --test node
//! ```

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    ECHO_SIZES, Handshake, SMALL_LIMIT, assert_echoes, close, frames_received, inspector, lines_of,
    only, parts,
};

use interop::{Tool, run_json, sha256_hex};
use serde_json::{Value, json};

/// The Node client, or `None` (the test is skipped) where it is not installed.
async fn node() -> Option<Tool> {
    Tool::node().await.unwrap()
}

/// Runs `script` with `args`, returning its result lines.
async fn script(node: &Tool, script: &str, args: &[&str]) -> Vec<Value> {
    let mut command = node.script(script);
    command.args(args);
    run_json(command).await.unwrap()
}

/// Text and binary of 0 B, 125 B, 64 KiB and 1 MiB come back unchanged, with ws's defaults:
/// its permessage-deflate offer is accepted (RFC 7692), so ws inflates every echo the lab
/// compressed, and compresses what it sends above its 1 KiB threshold.
#[tokio::test]
async fn handshake_echo_every_size() {
    let Some(node) = node().await else { return };
    let server = Handshake::start().await;
    let url = server.ws_url();
    let sizes: Vec<String> = ECHO_SIZES.iter().map(usize::to_string).collect();
    let mut args = vec![url.as_str()];
    args.extend(sizes.iter().map(String::as_str));
    let lines = script(&node, "echo.mjs", &args).await;
    assert_eq!(lines.len(), 2 * ECHO_SIZES.len() + 1, "{lines:#?}");
    assert_eq!(
        only(&lines, "extensions"),
        &json!({
            "case": "extensions",
            "offered": "permessage-deflate; client_max_window_bits",
            "accepted": "permessage-deflate",
            "negotiated": "permessage-deflate",
        })
    );
    assert_echoes(&lines, &ECHO_SIZES);
}

/// Messages ws sends in 3 frames (`fin: false` until the last) arrive at the lab as 3
/// frames (its inspector says so) and come back whole, and a ping gets a pong with its
/// payload.
#[tokio::test]
async fn handshake_fragments_and_ping() {
    let Some(node) = node().await else { return };
    let server = Handshake::start().await;
    let mut inspector = inspector(&server).await;
    let url = format!("{}?tag=fragments", server.ws_url());
    let lines = script(&node, "fragments.mjs", &[&url]).await;
    assert_eq!(
        frames_received(&mut inspector, "fragments").await,
        [
            parts("Text", &[3, 4, 5]),
            parts("Text", &[2, 3, 8]),
            parts("Binary", &[65536; 3]),
        ]
        .concat()
    );
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let fragmented = lines_of(&lines, "fragmented");
    assert_eq!(
        fragmented[0],
        &json!({ "case": "fragmented", "type": "text", "fragments": 3, "received": "Hello, world" })
    );
    assert_eq!(
        fragmented[1],
        &json!({ "case": "fragmented", "type": "text", "fragments": 3, "received": "1 € = 100 c" })
    );
    assert_eq!(
        fragmented[2],
        &json!({
            "case": "fragmented", "type": "binary", "fragments": 3, "size": 3 * 65536,
            "sha256": sha256_hex(&interop::binary_payload(3 * 65536)),
        })
    );
    assert_eq!(
        only(&lines, "ping"),
        &json!({ "case": "ping", "payload": "are you there", "pong": "are you there" })
    );
}

/// Runs `close.mjs` against `server`, whose limit is `limit`, and checks every close: the
/// client's 4000 and 1000 echoed with their reasons, and 1009 for a message one byte over
/// the limit, whole or in two fragments.
async fn check_close_codes(node: &Tool, server: &Handshake, limit: usize) {
    let lines = script(node, "close.mjs", &[&server.ws_url(), &limit.to_string()]).await;
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let client = lines_of(&lines, "client_close");
    assert_eq!(client[0]["received"], close(4000, "interop bye"));
    assert_eq!(client[1]["received"], close(1000, ""));
    for case in ["too_big", "too_big_fragmented"] {
        let received = &only(&lines, case)["received"];
        assert_eq!(received["code"], 1009, "{case}: {received}");
        let reason = received["reason"].as_str().unwrap();
        assert!(
            reason.ends_with(&format!("exceeds the limit of {limit}")),
            "{case}: {received}"
        );
    }
}

/// Close codes both ways, with a 64 KiB limit: everything the client sends fits in the
/// socket buffers before the lab answers.
#[tokio::test]
async fn handshake_close_codes() {
    let Some(node) = node().await else { return };
    let server = Handshake::with_limit(SMALL_LIMIT).await;
    check_close_codes(&node, &server, SMALL_LIMIT).await;
}

/// The same at the lab's default limit (16 MiB): the lab answers 1009 from the frame header
/// while ws is still writing the payload. Closing the socket at once would make the kernel
/// reset the connection over the unread bytes, and ws would see 1006 instead of 1009; the
/// lab reads and discards the rest first (`Connection::drain`).
#[tokio::test]
async fn handshake_1009_reaches_a_client_still_sending() {
    let Some(node) = node().await else { return };
    let server = Handshake::start().await;
    let limit = lab_handshake::Limits::default().max_message;
    check_close_codes(&node, &server, limit).await;
}
