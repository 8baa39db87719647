//! Conformance with raw bytes: every must-fail case of RFC 6455 gets the close code the RFC
//! assigns (DESIGN.md's table), and the must-pass cases work.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use common::RawServer;
use kit::testing::raw::{RawClient, close_payload, masked, upgrade_request};

/// Sends `bytes` on a fresh connection and returns the server's close code.
async fn code_for(bytes: &[u8]) -> Option<u16> {
    let server = RawServer::start().await;
    let mut raw = RawClient::connect(server.addr, "/ws", &[]).await.unwrap();
    raw.send(bytes).await.unwrap();
    raw.close_code().await.unwrap()
}

/// An unmasked client frame: 1002.
#[tokio::test]
async fn unmasked_client_frame() {
    assert_eq!(
        code_for(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']).await,
        Some(1002)
    );
}

/// Each reserved bit: 1002 (no extension was negotiated).
#[tokio::test]
async fn reserved_bits() {
    for first in [0xC1, 0xA1, 0x91] {
        assert_eq!(
            code_for(&masked(first, b"x")).await,
            Some(1002),
            "first byte {first:#x}"
        );
    }
}

/// Each reserved opcode: 1002.
#[tokio::test]
async fn reserved_opcodes() {
    for opcode in [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_eq!(
            code_for(&masked(0x80 | opcode, b"")).await,
            Some(1002),
            "opcode {opcode:#x}"
        );
    }
}

/// A ping of 126 bytes (control frames carry at most 125): 1002.
#[tokio::test]
async fn control_frame_over_125_bytes() {
    assert_eq!(code_for(&masked(0x89, &[0; 126])).await, Some(1002));
}

/// A ping without FIN (control frames are never fragmented): 1002.
#[tokio::test]
async fn fragmented_control_frame() {
    assert_eq!(code_for(&masked(0x09, b"p")).await, Some(1002));
}

/// A continuation with no message in progress: 1002.
#[tokio::test]
async fn stray_continuation() {
    assert_eq!(code_for(&masked(0x80, b"lo")).await, Some(1002));
}

/// A new text frame while a fragmented message is in progress: 1002.
#[tokio::test]
async fn new_data_frame_inside_a_fragmented_message() {
    let mut bytes = masked(0x01, b"Hel");
    bytes.extend(masked(0x81, b"lo"));
    assert_eq!(code_for(&bytes).await, Some(1002));
}

/// Invalid UTF-8 in a single text frame: 1007.
#[tokio::test]
async fn invalid_utf8_whole() {
    assert_eq!(code_for(&masked(0x81, b"ok \xff")).await, Some(1007));
}

/// Invalid UTF-8 split across fragments: 1007 as soon as the bad fragment arrives, without
/// waiting for the end of the message.
#[tokio::test]
async fn invalid_utf8_split_and_early() {
    // "\xce" starts a 2-byte character; "A" cannot continue it.
    let mut bytes = masked(0x01, b"ok \xce");
    bytes.extend(masked(0x00, b"A and more"));
    // No final fragment is ever sent: the server must not wait for one.
    assert_eq!(code_for(&bytes).await, Some(1007));
}

/// A close frame with a 1-byte payload: 1002.
#[tokio::test]
async fn one_byte_close_payload() {
    assert_eq!(code_for(&masked(0x88, &[0x03])).await, Some(1002));
}

/// Close codes that may not be sent: 1002.
#[tokio::test]
async fn invalid_close_codes() {
    for code in [
        0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
    ] {
        assert_eq!(
            code_for(&masked(0x88, &close_payload(code, b""))).await,
            Some(1002),
            "code {code}"
        );
    }
}

/// A close reason that is not UTF-8: 1002.
#[tokio::test]
async fn close_reason_not_utf8() {
    assert_eq!(
        code_for(&masked(0x88, &close_payload(1000, b"\xff\xfe"))).await,
        Some(1002)
    );
}

/// A 64-bit length with its top bit set: 1002.
#[tokio::test]
async fn length_with_top_bit_set() {
    let mut bytes = vec![0x82, 0x80 | 127];
    bytes.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(code_for(&bytes).await, Some(1002));
}

/// A header claiming a terabyte: 1009 at once, from the header alone: the payload is never
/// sent, so a server that waited for it, or allocated it, would never answer.
#[tokio::test]
async fn claimed_length_far_over_the_limit() {
    let mut bytes = vec![0x82, 0x80 | 127];
    bytes.extend_from_slice(&(1u64 << 40).to_be_bytes());
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(code_for(&bytes).await, Some(1009));
}

/// A fragmented message growing past the message limit: 1009 at the fragment's header,
/// before its payload (never sent here) arrives.
#[tokio::test]
async fn fragmented_message_over_the_limit() {
    let server = RawServer::with(|config| {
        config.settings.limits.max_message = 1000;
    })
    .await;
    let mut raw = RawClient::connect(server.addr, "/ws", &[]).await.unwrap();
    raw.send(&masked(0x02, &[0; 600])).await.unwrap();
    // The second fragment's header and mask only: 600 more would make 1200.
    let header = &masked(0x00, &[0; 600])[..8];
    assert_eq!(
        header,
        [0x00, 0x80 | 126, 0x02, 0x58, 0x37, 0xfa, 0x21, 0x3d]
    );
    raw.send(header).await.unwrap();
    assert_eq!(raw.close_code().await.unwrap(), Some(1009));
}

/// Every valid close code is echoed back in the server's close frame.
#[tokio::test]
async fn valid_close_codes_are_echoed() {
    let codes = [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000,
        4999,
    ];
    for code in codes {
        assert_eq!(
            code_for(&masked(0x88, &close_payload(code, b"bye"))).await,
            Some(code),
            "code {code}"
        );
    }
    // An empty close is answered with an empty close.
    assert_eq!(code_for(&masked(0x88, b"")).await, None);
}

// ANCHOR: ping_inside_fragmented
/// A ping between the fragments of a message is answered at once, and the message is
/// still reassembled.
#[tokio::test]
async fn ping_inside_a_fragmented_message() {
    let server = RawServer::start().await;
    let mut raw = RawClient::connect(server.addr, "/ws", &[]).await.unwrap();
    raw.send(&masked(0x01, b"Hel")).await.unwrap();
    raw.send(&masked(0x89, b"still there?")).await.unwrap();
    assert_eq!(
        raw.frame().await.unwrap(),
        Some((0x8A, b"still there?".to_vec())),
        "pong first, same payload"
    );
    raw.send(&masked(0x80, b"lo")).await.unwrap();
    assert_eq!(
        raw.frame().await.unwrap(),
        Some((0x81, b"Hello".to_vec())),
        "then the echo"
    );
}
// ANCHOR_END: ping_inside_fragmented

/// An unsolicited pong is ignored: no answer, and the connection goes on.
#[tokio::test]
async fn unsolicited_pong_is_ignored() {
    let server = RawServer::start().await;
    let mut raw = RawClient::connect(server.addr, "/ws", &[]).await.unwrap();
    raw.send(&masked(0x8A, b"heartbeat")).await.unwrap();
    raw.send(&masked(0x81, b"a")).await.unwrap();
    assert_eq!(raw.frame().await.unwrap(), Some((0x81, b"a".to_vec())));
}

/// A first frame sent in the same packet as the upgrade request is not lost.
#[tokio::test]
async fn frame_right_behind_the_handshake() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = RawServer::start().await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut bytes = upgrade_request(server.addr, "/ws", &[]).into_bytes();
    bytes.extend(masked(0x81, b"eager"));
    stream.write_all(&bytes).await.unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 512];
    while !got.ends_with(b"eager") {
        let n = kit::testing::within("the echo", stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        got.extend_from_slice(&chunk[..n]);
    }
}
