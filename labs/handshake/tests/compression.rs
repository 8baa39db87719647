//! permessage-deflate (RFC 7692) with raw bytes: the negotiation as it appears in the 101,
//! compressed frames byte for byte, and every must-fail case with its close code.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use common::RawServer;
use flate2::{Compress, Compression, FlushCompress};
use kit::testing::raw::{RawClient, masked, upgrade_request};
use kit::testing::within;
use lab_handshake::deflate::DeflateConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connects to `server` offering `extensions` (if any); returns the 101's head and the
/// connection, ready for raw frames.
async fn connect(server: &RawServer, extensions: Option<&str>) -> (String, RawClient) {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let line = extensions.map(|value| format!("Sec-WebSocket-Extensions: {value}"));
    let extra: Vec<&str> = line.iter().map(String::as_str).collect();
    stream
        .write_all(upgrade_request(server.addr, "/ws", &extra).as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            assert!(head.starts_with("HTTP/1.1 101"), "{head}");
            buf.drain(..end + 4);
            return (head, RawClient { stream, buf });
        }
        let mut chunk = [0u8; 1024];
        let n = within("the 101", stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed during the handshake");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The `Sec-WebSocket-Extensions` line of a response head, if any.
fn extensions_of(head: &str) -> Option<&str> {
    head.lines()
        .find_map(|line| line.strip_prefix("Sec-WebSocket-Extensions: "))
}

/// `data` deflated as a sender would (raw DEFLATE, sync flush, `00 00 ff ff` removed).
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut compressor = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 1024);
    compressor
        .compress_vec(data, &mut out, FlushCompress::Sync)
        .unwrap();
    assert_eq!(
        compressor.total_in(),
        data.len() as u64,
        "one call was enough"
    );
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// RFC 7692's example: "Hello" compressed (section 7.2.3.1).
const HELLO_DEFLATED: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

/// The browsers' offer is accepted as it is; an offer with a parameter the RFC does not
/// define is declined (no header in the 101) and the next one taken; with
/// `--no-compression`, nothing is accepted.
#[tokio::test]
async fn negotiation_in_the_101() {
    let server = RawServer::start().await;
    let (head, _) = connect(&server, Some("permessage-deflate; client_max_window_bits")).await;
    assert_eq!(extensions_of(&head), Some("permessage-deflate"), "{head}");
    let (head, _) = connect(&server, Some("permessage-deflate; x-mystery")).await;
    assert_eq!(extensions_of(&head), None, "{head}");
    let (head, _) = connect(
        &server,
        Some("permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=10; client_no_context_takeover"),
    )
    .await;
    assert_eq!(
        extensions_of(&head),
        Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=10"),
        "{head}"
    );
    let (head, _) = connect(&server, None).await;
    assert_eq!(extensions_of(&head), None, "{head}");

    let off = RawServer::with(|config| config.settings.compression = None).await;
    let (head, _) = connect(&off, Some("permessage-deflate")).await;
    assert_eq!(extensions_of(&head), None, "{head}");

    let fresh = RawServer::with(|config| {
        config.settings.compression = Some(DeflateConfig::no_context_takeover())
    })
    .await;
    let (head, _) = connect(&fresh, Some("permessage-deflate; client_max_window_bits")).await;
    assert_eq!(
        extensions_of(&head),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        "{head}"
    );
}

// ANCHOR: captured_hello
/// The RFC's compressed "Hello", masked with RSV1 set, is echoed as `c1 07` and the same 7
/// bytes; the second echo, with context takeover, is `c1 05 f2 00 11 00 00`: "the 5 bytes
/// 5 back". Without context takeover, every echo is the 7 bytes again.
#[tokio::test]
async fn compressed_hello_byte_by_byte() {
    let server = RawServer::start().await;
    let (_, mut raw) = connect(&server, Some("permessage-deflate")).await;
    // 0xC1: FIN, RSV1 (compressed), text.
    raw.send(&masked(0xC1, &HELLO_DEFLATED)).await.unwrap();
    assert_eq!(
        raw.frame().await.unwrap(),
        Some((0xC1, HELLO_DEFLATED.to_vec()))
    );
    raw.send(&masked(0xC1, &HELLO_DEFLATED)).await.unwrap();
    assert_eq!(
        raw.frame().await.unwrap(),
        Some((0xC1, vec![0xf2, 0x00, 0x11, 0x00, 0x00]))
    );

    let fresh = RawServer::with(|config| {
        config.settings.compression = Some(DeflateConfig::no_context_takeover())
    })
    .await;
    let (_, mut raw) = connect(&fresh, Some("permessage-deflate")).await;
    for _ in 0..2 {
        raw.send(&masked(0xC1, &HELLO_DEFLATED)).await.unwrap();
        assert_eq!(
            raw.frame().await.unwrap(),
            Some((0xC1, HELLO_DEFLATED.to_vec()))
        );
    }
}
// ANCHOR_END: captured_hello

/// An uncompressed message (RSV1 clear) is allowed when the extension is on, and a
/// compressed message may be fragmented, RSV1 on its first frame only.
#[tokio::test]
async fn uncompressed_and_fragmented_compressed_messages() {
    let server = RawServer::start().await;
    let (_, mut raw) = connect(&server, Some("permessage-deflate")).await;
    raw.send(&masked(0x81, b"plain")).await.unwrap();
    let (first, payload) = raw.frame().await.unwrap().unwrap();
    assert_eq!(first, 0xC1, "the echo is compressed");
    assert_ne!(payload, b"plain");

    // "Hello" compressed, cut into two frames: 0x41 (RSV1, text, no FIN), 0x80.
    let mut bytes = masked(0x41, &HELLO_DEFLATED[..3]);
    bytes.extend(masked(0x80, &HELLO_DEFLATED[3..]));
    let (_, mut raw) = connect(&server, Some("permessage-deflate")).await;
    raw.send(&bytes).await.unwrap();
    assert_eq!(
        raw.frame().await.unwrap(),
        Some((0xC1, HELLO_DEFLATED.to_vec()))
    );
}

/// Sends `bytes` on a fresh connection with permessage-deflate negotiated (if `negotiate`)
/// to a server whose message limit is `limit`, and returns its close code.
async fn code_for(bytes: &[u8], negotiate: bool, limit: usize) -> Option<u16> {
    let server = RawServer::with(|config| config.settings.limits.max_message = limit).await;
    let (_, mut raw) = connect(&server, negotiate.then_some("permessage-deflate")).await;
    raw.send(bytes).await.unwrap();
    raw.close_code().await.unwrap()
}

const LIMIT: usize = 64 * 1024;

/// RSV1 on a continuation frame: 1002.
#[tokio::test]
async fn rsv1_on_a_continuation() {
    let mut bytes = masked(0x41, &HELLO_DEFLATED[..3]);
    bytes.extend(masked(0xC0, &HELLO_DEFLATED[3..]));
    assert_eq!(code_for(&bytes, true, LIMIT).await, Some(1002));
}

/// RSV1 on a control frame (ping, pong, close): 1002.
#[tokio::test]
async fn rsv1_on_a_control_frame() {
    for first in [0xC9, 0xCA, 0xC8] {
        assert_eq!(
            code_for(&masked(first, b""), true, LIMIT).await,
            Some(1002),
            "first byte {first:#x}"
        );
    }
}

/// RSV1 without the extension negotiated: 1002; and RSV2, RSV3 with it: 1002.
#[tokio::test]
async fn rsv_bits_the_extension_does_not_define() {
    assert_eq!(
        code_for(&masked(0xC1, &HELLO_DEFLATED), false, LIMIT).await,
        Some(1002)
    );
    for first in [0xA1, 0x91, 0xE1] {
        assert_eq!(
            code_for(&masked(first, &HELLO_DEFLATED), true, LIMIT).await,
            Some(1002),
            "first byte {first:#x}"
        );
    }
}

/// Data that is not DEFLATE: 1002 (a broken encoding of the payload, like a broken frame;
/// 1007 is for a payload that decodes but contradicts its type). A valid DEFLATE stream of
/// invalid UTF-8 in a text message: 1007, as uncompressed.
#[tokio::test]
async fn corrupt_deflate_data_and_invalid_utf8_inside() {
    // 0xFF: a block header of type 3, which DEFLATE reserves.
    assert_eq!(
        code_for(&masked(0xC1, &[0xff, 0xff, 0xff]), true, LIMIT).await,
        Some(1002)
    );
    assert_eq!(
        code_for(&masked(0xC1, &deflate(b"ok \xff")), true, LIMIT).await,
        Some(1007)
    );
}

// ANCHOR: zip_bomb
/// A zip bomb: under 1 KiB on the wire that inflates to a million bytes (DEFLATE's best is
/// about 1 032 to 1), sent to a server that takes 64 KiB messages: 1009, found while
/// inflating.
#[tokio::test]
async fn small_message_inflating_past_the_limit() {
    let bomb = deflate(&vec![0u8; 1_000_000]);
    assert!(bomb.len() <= 1024, "{} bytes", bomb.len());
    assert_eq!(
        code_for(&masked(0xC2, &bomb), true, LIMIT).await,
        Some(1009)
    );
    // The same bytes under a limit they fit: echoed.
    let server = RawServer::with(|config| config.settings.limits.max_message = 2 << 20).await;
    let (_, mut raw) = connect(&server, Some("permessage-deflate")).await;
    raw.send(&masked(0xC2, &bomb)).await.unwrap();
    let (first, _) = raw.frame().await.unwrap().unwrap();
    assert_eq!(first, 0xC2);
}
// ANCHOR_END: zip_bomb

/// The bad input does not disturb anyone else: a connection open beside the zip bomb and
/// the corrupt stream goes on being echoed.
#[tokio::test]
async fn others_are_not_disturbed() {
    let server = RawServer::with(|config| config.settings.limits.max_message = LIMIT).await;
    let (_, mut bystander) = connect(&server, Some("permessage-deflate")).await;
    for bad in [
        masked(0xC2, &deflate(&vec![0u8; 1_000_000])),
        masked(0xC1, &[0xff, 0xff]),
    ] {
        let (_, mut attacker) = connect(&server, Some("permessage-deflate")).await;
        attacker.send(&bad).await.unwrap();
        assert!(attacker.close_code().await.unwrap().is_some());
        bystander
            .send(&masked(0xC1, &HELLO_DEFLATED))
            .await
            .unwrap();
        assert_eq!(bystander.frame().await.unwrap().unwrap().0, 0xC1);
    }
}

// ANCHOR: breach
/// CRIME/BREACH in miniature, lengths only: a message carries a secret (`session=3f9a1c`)
/// and, next to it, text an attacker chooses (`session=` and a guess). The attacker sees
/// only how long each compressed echo is, as a network observer sees TLS records, and
/// recovers the secret one character at a time: the right guess repeats one more byte of
/// the secret, so it compresses one byte shorter. No context takeover does not help: the
/// secret and the guess share a message. Compression off: every length is the same.
#[tokio::test]
async fn breach_lengths_reveal_a_secret() {
    const SECRET: &str = "3f9a1c";
    async fn recover(server: &RawServer, offer: Option<&str>) -> String {
        let (_, mut raw) = connect(server, offer).await;
        let mut known = String::new();
        for _ in 0..SECRET.len() {
            let mut lengths = Vec::new();
            for guess in "0123456789abcdef".chars() {
                let message =
                    format!(r#"{{"cookie":"session={SECRET}","q":"session={known}{guess}"}}"#);
                raw.send(&masked(0x81, message.as_bytes())).await.unwrap();
                let (_, echo) = raw.frame().await.unwrap().unwrap();
                lengths.push((echo.len(), guess));
            }
            lengths.sort();
            // A single shortest echo is a character learned; a tie, nothing learned.
            if lengths[0].0 == lengths[1].0 {
                break;
            }
            known.push(lengths[0].1);
        }
        known
    }
    let fresh = RawServer::with(|config| {
        config.settings.compression = Some(DeflateConfig::no_context_takeover())
    })
    .await;
    assert_eq!(recover(&fresh, Some("permessage-deflate")).await, SECRET);
    assert_eq!(
        recover(&fresh, None).await,
        "",
        "uncompressed: nothing leaks"
    );
}
// ANCHOR_END: breach
