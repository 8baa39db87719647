//! The labs with Python's `websockets` as the client (scripts in `interop/python/`): the
//! handshake lab's echo, fragments, ping and close codes, a gateway request and its ack, the
//! private lab's token as a subprotocol, and a room message between two clients.
//!
//! ```text
//! interop/install.sh && cargo test -p interop --test python
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

/// The Python client, or `None` (the test is skipped) where it is not installed.
async fn python() -> Option<Tool> {
    Tool::python().await.unwrap()
}

/// Runs `script` with `args`, returning its result lines.
async fn script(python: &Tool, script: &str, args: &[&str]) -> Vec<Value> {
    let mut command = python.script(script);
    command.args(args);
    run_json(command).await.unwrap()
}

/// The echo sizes as command-line arguments.
fn size_args() -> Vec<String> {
    ECHO_SIZES.iter().map(usize::to_string).collect()
}

/// The handshake lab's own server: text and binary of 0 B, 125 B, 64 KiB and 1 MiB come back
/// unchanged; websockets' permessage-deflate offer is accepted and the compressed echo works
/// (the compression cases themselves are in `tests/compression.rs`).
#[tokio::test]
async fn handshake_echo_every_size() {
    let Some(python) = python().await else { return };
    let server = Handshake::start().await;
    let url = server.ws_url();
    let mut args = vec![url.as_str()];
    let sizes = size_args();
    args.extend(sizes.iter().map(String::as_str));
    let lines = script(&python, "echo.py", &args).await;
    assert_eq!(lines.len(), 2 * ECHO_SIZES.len() + 1, "{lines:#?}");
    assert_echoes(&lines, &ECHO_SIZES);
    let extensions = only(&lines, "extensions");
    assert_eq!(
        extensions["offered"], "permessage-deflate; client_max_window_bits",
        "{extensions}"
    );
    assert_eq!(extensions["accepted"], "permessage-deflate", "{extensions}");
    assert_eq!(extensions["size"], 1300, "{extensions}");
}

/// With `--no-compression` the lab declines the offer (no extension in the 101), and the
/// client goes on uncompressed, as RFC 7692 says it must.
#[tokio::test]
async fn handshake_without_compression_declines() {
    let Some(python) = python().await else { return };
    let server = Handshake::with(|config| config.settings.compression = None).await;
    let url = server.ws_url();
    let lines = script(&python, "echo.py", &[&url, "0", "125"]).await;
    assert_eq!(lines.len(), 2 * 2 + 1, "{lines:#?}");
    assert_echoes(&lines, &[0, 125]);
    let extensions = only(&lines, "extensions");
    assert_eq!(extensions["accepted"], Value::Null, "{extensions}");
    assert_eq!(extensions["size"], 1300, "{extensions}");
}

/// The same echo through the course's mount of the lab (axum in front of our handshake).
#[tokio::test]
async fn handshake_mounted_echo_every_size() {
    let Some(python) = python().await else { return };
    let server = common::handshake_mounted().await;
    let url = server.ws_url("/ws");
    let mut args = vec![url.as_str()];
    let sizes = size_args();
    args.extend(sizes.iter().map(String::as_str));
    let lines = script(&python, "echo.py", &args).await;
    assert_eq!(lines.len(), 2 * ECHO_SIZES.len() + 1, "{lines:#?}");
    assert_echoes(&lines, &ECHO_SIZES);
    assert_eq!(only(&lines, "extensions")["accepted"], "permessage-deflate");
}

/// Messages websockets sends in 3 parts arrive at the lab (its inspector says so) as 3
/// frames and an empty final one with FIN, come back whole, and a ping gets its pong.
#[tokio::test]
async fn handshake_fragments_and_ping() {
    let Some(python) = python().await else { return };
    let server = Handshake::start().await;
    let mut inspector = inspector(&server).await;
    let url = format!("{}?tag=fragments", server.ws_url());
    let lines = script(&python, "fragments.py", &[&url]).await;
    // websockets cannot tell the last part of an iterable until it ends, so it closes the
    // message with an empty continuation frame.
    assert_eq!(
        frames_received(&mut inspector, "fragments").await,
        [
            parts("Text", &[3, 4, 5, 0]),
            parts("Text", &[2, 3, 8, 0]),
            parts("Binary", &[65536, 65536, 65536, 0]),
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
    let binary = fragmented[2];
    assert_eq!(binary["type"], "binary");
    assert_eq!(binary["fragments"], 3);
    assert_eq!(binary["size"], 3 * 65536);
    assert_eq!(
        binary["sha256"],
        sha256_hex(&interop::binary_payload(3 * 65536))
    );
    assert_eq!(
        only(&lines, "ping"),
        &json!({ "case": "ping", "payload": "are you there", "answered": true })
    );
}

/// Close codes both ways: the client's 4000 and 1000 are echoed by the lab; a message one
/// byte over the limit, whole or in two fragments, is answered with 1009.
#[tokio::test]
async fn handshake_close_codes() {
    let Some(python) = python().await else { return };
    let server = Handshake::with_limit(SMALL_LIMIT).await;
    let limit = SMALL_LIMIT.to_string();
    let lines = script(&python, "close.py", &[&server.ws_url(), &limit]).await;
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let client = lines_of(&lines, "client_close");
    assert_eq!(client[0]["sent"], close(4000, "interop bye"));
    assert_eq!(client[0]["received"], close(4000, "interop bye"));
    assert_eq!(client[1]["sent"], close(1000, ""));
    assert_eq!(client[1]["received"], close(1000, ""));
    for case in ["too_big", "too_big_fragmented"] {
        let line = only(&lines, case);
        assert_eq!(line["received"]["code"], 1009, "{line}");
        let reason = line["received"]["reason"].as_str().unwrap();
        assert!(reason.ends_with("exceeds the limit of 65536"), "{line}");
        // websockets answers the lab's close frame with the same code, as the RFC says.
        assert_eq!(line["sent"]["code"], 1009, "{line}");
    }
}

/// A gateway request gets the ack with its id and data; an unknown event and a frame that
/// is not JSON get exceptions and the connection stays open; a message over the gateway's
/// 64 KiB limit closes it with 1009.
#[tokio::test]
async fn gateway_envelope_ack_exception_and_limit() {
    let Some(python) = python().await else { return };
    let server = common::gateway().await;
    let url = server.ws_url("/ws?user=ada");
    let limit = (64 * 1024).to_string();
    let lines = script(&python, "gateway.py", &[&url, &limit]).await;
    assert_eq!(lines.len(), 6, "{lines:#?}");
    let welcome = &only(&lines, "welcome")["frame"];
    assert_eq!(welcome["event"], "welcome", "{welcome}");
    assert_eq!(welcome["data"]["user"], "ada", "{welcome}");
    assert_eq!(
        only(&lines, "echo")["frame"],
        json!({ "event": "ack", "id": 7, "data": { "text": "Hello" } })
    );
    assert_eq!(
        only(&lines, "add")["frame"],
        json!({ "event": "ack", "id": 8, "data": { "sum": 42 } })
    );
    let unknown = &only(&lines, "unknown")["frame"];
    assert_eq!(unknown["event"], "exception", "{unknown}");
    assert_eq!(unknown["id"], 9, "{unknown}");
    assert_eq!(
        unknown["data"]["cause"]["kind"], "unknown_event",
        "{unknown}"
    );
    let not_json = &only(&lines, "not_json")["frame"];
    assert_eq!(not_json["event"], "exception", "{not_json}");
    assert_eq!(not_json["data"]["cause"]["kind"], "malformed", "{not_json}");
    let too_big = only(&lines, "too_big");
    assert_eq!(too_big["received"]["code"], 1009, "{too_big}");
    assert!(too_big["size"].as_u64().unwrap() > 64 * 1024, "{too_big}");
}

/// The private lab: a token offered as a subprotocol next to `private.v1` (the browser's
/// way) is accepted, `private.v1` is chosen and the token is not echoed; a forged token is
/// refused with 401 and `WWW-Authenticate: Bearer`.
#[tokio::test]
async fn private_token_as_subprotocol() {
    let Some(python) = python().await else { return };
    let server = common::private().await;
    let lines = script(&python, "private.py", &[&server.url("")]).await;
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let accepted = only(&lines, "subprotocol");
    assert_eq!(accepted["chosen"], "private.v1", "{accepted}");
    assert_eq!(accepted["header"], "private.v1", "{accepted}");
    assert_eq!(accepted["welcome"]["event"], "welcome", "{accepted}");
    assert_eq!(accepted["welcome"]["data"]["user"], "alice", "{accepted}");
    let forged = only(&lines, "forged");
    assert_eq!(forged["status"], 401, "{forged}");
    assert!(
        forged["www_authenticate"]
            .as_str()
            .is_some_and(|v| v.starts_with("Bearer")),
        "{forged}"
    );
}

/// Two Python clients join a room; a message one sends reaches the other with its room,
/// sender and text.
#[tokio::test]
async fn rooms_join_and_message() {
    let Some(python) = python().await else { return };
    let server = common::rooms().await;
    let lines = script(&python, "rooms.py", &[&server.ws_url("/ws")]).await;
    assert_eq!(lines.len(), 6, "{lines:#?}");
    let welcomes = lines_of(&lines, "welcome");
    assert_eq!(welcomes[0]["frame"]["data"]["name"], "ada");
    assert_eq!(welcomes[1]["frame"]["data"]["name"], "bob");
    let joins = lines_of(&lines, "join");
    assert_eq!(joins[0]["frame"]["event"], "ack", "{}", joins[0]);
    assert_eq!(joins[0]["frame"]["data"]["room"], "interop");
    assert_eq!(
        joins[1]["frame"]["data"]["members"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{}",
        joins[1]
    );
    let send = &only(&lines, "send")["frame"];
    assert_eq!(
        send,
        &json!({ "event": "ack", "id": 2, "data": { "room": "interop", "delivered": 2 } })
    );
    let message = &only(&lines, "message")["frame"];
    assert_eq!(message["event"], "message", "{message}");
    assert_eq!(message["data"]["room"], "interop", "{message}");
    assert_eq!(message["data"]["from"], "ada", "{message}");
    assert_eq!(message["data"]["text"], "hello from python", "{message}");
}
