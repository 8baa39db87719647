//! permessage-deflate (RFC 7692) between the handshake lab and Python's `websockets`, which
//! implements it independently: websockets as the client of the lab's server, and as the
//! server of the lab's client, with and without context takeover, at 0 B, 1 KiB, 64 KiB and
//! 1 MiB, text and binary, whole and fragmented.
//!
//! ```text
//! interop/install.sh && cargo test -p interop --test compression
//! ```

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use common::{Handshake, data_frames, inspector, lines_of, only};
use interop::{Tool, binary_payload, run_json, sha256_hex, text_payload};
use kit::testing::{RawClient, within};
use lab_handshake::deflate::DeflateConfig;
use lab_handshake::events::{Direction, Event, Observer};
use lab_handshake::frame::OpCode;
use lab_handshake::{Message, Settings};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// The sizes the issue asks for: empty, 1 KiB, 64 KiB, 1 MiB.
const SIZES: [usize; 4] = [0, 1024, 64 * 1024, 1 << 20];

async fn python() -> Option<Tool> {
    Tool::python().await.unwrap()
}

/// The data frames the lab received on connection `tag`, as (opcode, RSV1), until that
/// connection's close frame.
async fn rsv1_of_frames(inspector: &mut RawClient, tag: &str) -> Vec<(String, bool)> {
    data_frames(inspector, tag)
        .await
        .into_iter()
        .map(|(opcode, first, _)| (opcode, first & 0x40 != 0))
        .collect()
}

/// websockets as the client, the lab as the server: the offer is accepted with the
/// parameters the RFC asks for, every message comes back unchanged, and on the lab's side
/// RSV1 is on the first frame of every message and on no continuation.
async fn python_client(mode: &str, offered: &str, accepted: &str) {
    let Some(python) = python().await else { return };
    let server = Handshake::start().await;
    let mut inspector = inspector(&server).await;
    let tag = format!("deflate-{mode}");
    let url = format!("{}?tag={tag}", server.ws_url());
    let mut command = python.script("compression.py");
    command.args(["client", &url, mode]);
    command.args(SIZES.map(|size| size.to_string()));
    let lines = run_json(command).await.unwrap();

    let negotiated = only(&lines, "negotiated");
    assert_eq!(negotiated["offered"], offered, "{negotiated}");
    assert_eq!(negotiated["accepted"], accepted, "{negotiated}");
    let echoes = lines_of(&lines, "echo");
    assert_eq!(echoes.len(), SIZES.len() * 4, "{lines:#?}");
    let expected = SIZES.iter().flat_map(|&size| {
        let text = sha256_hex(text_payload(size).as_bytes());
        let binary = sha256_hex(&binary_payload(size));
        [
            (size, 1, text.clone()),
            (size, 3, text),
            (size, 1, binary.clone()),
            (size, 3, binary),
        ]
    });
    for (echo, (size, fragments, digest)) in echoes.iter().zip(expected) {
        assert_eq!(echo["size"], size, "{echo}");
        assert_eq!(echo["fragments"], fragments, "{echo}");
        assert_eq!(echo["sha256"], digest, "{echo}");
    }

    let frames = rsv1_of_frames(&mut inspector, &tag).await;
    let firsts: Vec<_> = frames
        .iter()
        .filter(|(op, _)| op != "Continuation")
        .collect();
    assert_eq!(
        firsts.len(),
        SIZES.len() * 4,
        "one first frame per message: {frames:?}"
    );
    assert!(firsts.iter().all(|(_, rsv1)| *rsv1), "{frames:?}");
    assert!(
        frames
            .iter()
            .filter(|(op, _)| op == "Continuation")
            .all(|(_, rsv1)| !rsv1),
        "{frames:?}"
    );
    // Each fragmented message: 3 parts and websockets' empty final frame.
    assert_eq!(
        frames.len() - firsts.len(),
        SIZES.len() * 2 * 3,
        "{frames:?}"
    );
}

/// websockets' default offer (context takeover), accepted as it is.
#[tokio::test]
async fn python_client_with_context_takeover() {
    python_client(
        "takeover",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate",
    )
    .await;
}

/// An offer of no context takeover either way: the lab answers both parameters.
#[tokio::test]
async fn python_client_without_context_takeover() {
    python_client(
        "no-takeover",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    )
    .await;
}

/// websockets as the server, the lab's client (`client::connect`) offering compression as
/// configured: what the server accepts is what it says, every message comes back unchanged,
/// every echo arrives compressed (RSV1), and without context takeover the client holds no
/// compression context once the messages are done.
async fn python_server(mode: &str, ours: DeflateConfig, accepted: &str) {
    let Some(python) = python().await else { return };
    let mut command = python.script("compression.py");
    command
        .args(["server", mode])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    within("the server's port", stdout.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    let listening: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(listening["case"], "listening", "{line}");
    let url = format!("ws://127.0.0.1:{}/", listening["port"]);

    // Counts the data frames that arrive, and those with RSV1.
    let seen = Arc::new(Mutex::new((0usize, 0usize)));
    let counter = Arc::clone(&seen);
    let observer = Observer::new(0, None, move |tagged| {
        if let Event::Frame(frame) = tagged.event
            && frame.direction == Direction::In
            && matches!(frame.opcode, OpCode::Text | OpCode::Binary)
        {
            let first = u8::from_str_radix(&frame.header_hex[..2], 16).unwrap();
            let mut seen = counter.lock().unwrap();
            seen.0 += 1;
            seen.1 += usize::from(first & 0x40 != 0);
        }
    });
    let settings = Settings {
        idle_after: None,
        compression: Some(ours),
        ..Settings::default()
    };
    let (mut conn, transcript) = within(
        "connect",
        lab_handshake::client::connect(&url, None, settings, observer),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        transcript
            .response
            .contains(&format!("Sec-WebSocket-Extensions: {accepted}\r\n")),
        "{}",
        transcript.response
    );

    let mut sent = 0;
    for size in SIZES {
        let text = text_payload(size);
        let binary = bytes::Bytes::from(binary_payload(size));
        for message in [Message::Text(text.clone()), Message::Binary(binary.clone())] {
            conn.send(message.clone()).await.unwrap();
            assert_eq!(within("echo", conn.recv()).await.unwrap().unwrap(), message);
            sent += 1;
        }
        let (a, b) = text.as_bytes().split_at(size / 2);
        conn.send_fragmented(true, &[a, b, b""]).await.unwrap();
        assert_eq!(
            within("fragmented echo", conn.recv())
                .await
                .unwrap()
                .unwrap(),
            Message::Text(text.clone())
        );
        let (a, b) = binary.split_at(size / 3);
        conn.send_fragmented(false, &[a, b]).await.unwrap();
        assert_eq!(
            within("fragmented echo", conn.recv())
                .await
                .unwrap()
                .unwrap(),
            Message::Binary(binary.clone())
        );
        sent += 2;
    }
    let contexts = conn.compression().expect("compression agreed").contexts();
    if !ours.context_takeover && !ours.peer_context_takeover {
        assert_eq!(contexts, (false, false), "nothing kept between messages");
    } else {
        assert_eq!(contexts, (true, true), "kept for the next message");
    }
    assert_eq!(*seen.lock().unwrap(), (sent, sent), "every echo compressed");

    conn.close(1000, "done").await.unwrap();
    match within("close", conn.recv()).await.unwrap().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.code, 1000),
        other => panic!("expected the close answer, got {other:?}"),
    }
    let mut rest = String::new();
    within("the server's report", stdout.read_to_string(&mut rest))
        .await
        .unwrap()
        .unwrap();
    let status = within("the server's exit", child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let report: Value = serde_json::from_str(rest.trim()).unwrap();
    assert_eq!(report["case"], "connection", "{report}");
    assert_eq!(report["accepted"], accepted, "{report}");
    assert_eq!(report["received"], sent, "{report}");
}

/// Context takeover both ways, as the lab's client offers by default.
#[tokio::test]
async fn python_server_with_context_takeover() {
    python_server("takeover", DeflateConfig::default(), "permessage-deflate").await;
}

/// The lab's client asks for no context takeover either way, and websockets agrees.
#[tokio::test]
async fn python_server_without_context_takeover() {
    python_server(
        "no-takeover",
        DeflateConfig::no_context_takeover(),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    )
    .await;
}

/// websockets' default server limits both windows to 4 KiB (2^12): the lab's client, which
/// offered `client_max_window_bits`, compresses within it.
#[tokio::test]
async fn python_server_default_windows() {
    python_server(
        "default",
        DeflateConfig::default(),
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    )
    .await;
}
