//! The exercises of chapters 4 ("Connection flow") and 5 ("Message flow"), with their
//! solutions, checked against the RFC's examples and against the lab's own code.
//!
//! ```text
//! cargo test -p lab-handshake --test exercises
//! ```
//!
//! The book shows each exercise's doc comment, its signature and its tests; the body written
//! here is the solution, so it compiles and is tested like the rest of the lab. To do an
//! exercise yourself, replace a body with `todo!()`, run the command above and watch its
//! tests fail, then write your own until they pass.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use bytes::BytesMut;
use lab_handshake::close::is_valid_close_code;
use lab_handshake::codec::{FrameCodec, Limits, Role, data_frame};
use lab_handshake::events::Observer;
use lab_handshake::frame::{Frame, OpCode};
use lab_handshake::handshake;
use lab_handshake::utf8::Utf8Validator;
use lab_handshake::{Connection, Error, Message, Settings};
use sha1::{Digest, Sha1};
use tokio::io::AsyncWriteExt;

// ---------------------------------------------------------------------------------------
// Exercise 1 (chapter 4): compute Sec-WebSocket-Accept by hand.
// ---------------------------------------------------------------------------------------

// ANCHOR: accept_solution
// ANCHOR: accept_task
/// Exercise 1: the `Sec-WebSocket-Accept` value a server answers to a `Sec-WebSocket-Key`.
///
/// Append the RFC's GUID `258EAFA5-E914-47DA-95CA-C5AB0DC85B11` to the key, taken as the
/// text it is (do not base64-decode it); hash those bytes with SHA-1 (the `sha1` crate:
/// `Sha1::digest`, from its `Digest` trait); encode the 20-byte hash in standard base64 with
/// padding (the `base64` crate: `base64::engine::general_purpose::STANDARD.encode`).
pub fn sec_websocket_accept(key: &str) -> String {
    // ANCHOR_END: accept_task
    const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let hash = Sha1::digest(format!("{key}{GUID}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hash)
}
// ANCHOR_END: accept_solution

// ANCHOR: accept_tests
/// The RFC's worked example (section 1.3): the key of "the sample nonce".
#[test]
fn accept_rfc_example() {
    assert_eq!(
        sec_websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

/// Fresh random keys, made as a client makes them, give what the lab's server answers.
#[test]
fn accept_agrees_with_the_lab() {
    for _ in 0..1000 {
        let key = handshake::generate_key();
        assert_eq!(
            sec_websocket_accept(&key),
            handshake::accept_key(&key),
            "key {key}"
        );
    }
}
// ANCHOR_END: accept_tests

// ---------------------------------------------------------------------------------------
// Exercise 2 (chapter 4): decode a masked frame by hand.
// ---------------------------------------------------------------------------------------

// ANCHOR: decode_solution
// ANCHOR: decode_task
/// What exercise 2 reads out of a frame.
#[derive(Debug, PartialEq, Eq)]
pub struct DecodedFrame {
    /// FIN: this frame is the last one of its message.
    pub fin: bool,
    /// The 4-bit opcode: 0x0 continuation, 0x1 text, 0x2 binary, 0x8 close, 0x9 ping,
    /// 0xA pong.
    pub opcode: u8,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

/// Exercise 2: decode the one complete, well-formed frame that `bytes` holds.
///
/// Byte 0: FIN is the top bit, the opcode the low four bits. Byte 1: MASK is the top bit;
/// the low seven bits are the payload length, or 126 (the length is in the next 2 bytes) or
/// 127 (in the next 8 bytes), big-endian. Then, if MASK is set, the 4-byte masking key; then
/// the payload, whose byte `i` was XORed with `key[i % 4]` if the frame is masked.
pub fn decode_frame(bytes: &[u8]) -> DecodedFrame {
    // ANCHOR_END: decode_task
    let fin = bytes[0] & 0b1000_0000 != 0;
    let opcode = bytes[0] & 0b0000_1111;
    let masked = bytes[1] & 0b1000_0000 != 0;
    // The length, and where the bytes after it start.
    let (len, mut at) = match bytes[1] & 0b0111_1111 {
        126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
        127 => {
            let mut be = [0u8; 8];
            be.copy_from_slice(&bytes[2..10]);
            (u64::from_be_bytes(be) as usize, 10)
        }
        short => (usize::from(short), 2),
    };
    let key = if masked {
        let key = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        at += 4;
        Some(key)
    } else {
        None
    };
    let mut payload = bytes[at..at + len].to_vec();
    if let Some(key) = key {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= key[i % 4];
        }
    }
    DecodedFrame {
        fin,
        opcode,
        payload,
    }
}
// ANCHOR_END: decode_solution

// ANCHOR: decode_tests
/// The frames of the RFC's examples (section 5.7), masked and not, whole and fragmented.
#[test]
fn decode_rfc_examples() {
    let hello = b"Hello".to_vec();
    let frame = |fin, opcode, payload: &[u8]| DecodedFrame {
        fin,
        opcode,
        payload: payload.to_vec(),
    };
    // A single-frame unmasked text message.
    let bytes = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(decode_frame(&bytes), frame(true, 0x1, &hello));
    // A single-frame masked text message: the one a browser would send.
    let bytes = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(decode_frame(&bytes), frame(true, 0x1, &hello));
    // A fragmented unmasked text message: "Hel", then "lo".
    let bytes = [0x01, 0x03, 0x48, 0x65, 0x6c];
    assert_eq!(decode_frame(&bytes), frame(false, 0x1, b"Hel"));
    let bytes = [0x80, 0x02, 0x6c, 0x6f];
    assert_eq!(decode_frame(&bytes), frame(true, 0x0, b"lo"));
    // An unmasked ping, and the masked pong that answers it.
    let bytes = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(decode_frame(&bytes), frame(true, 0x9, &hello));
    let bytes = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(decode_frame(&bytes), frame(true, 0xA, &hello));
}

/// The RFC's longer examples: 256 bytes (a 16-bit length) and 64 KiB (a 64-bit length).
#[test]
fn decode_rfc_extended_lengths() {
    let mut bytes = vec![0x82, 0x7E, 0x01, 0x00];
    bytes.extend([0xAB; 256]);
    let decoded = decode_frame(&bytes);
    assert_eq!((decoded.fin, decoded.opcode), (true, 0x2));
    assert_eq!(decoded.payload, vec![0xAB; 256]);

    let mut bytes = vec![0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
    bytes.extend([0xCD; 65_536]);
    let decoded = decode_frame(&bytes);
    assert_eq!((decoded.fin, decoded.opcode), (true, 0x2));
    assert_eq!(decoded.payload, vec![0xCD; 65_536]);
}

/// Frames masked with fresh random keys by the lab's client codec read the same as the
/// lab's server codec reads them, at every boundary of the length encoding.
#[test]
fn decode_agrees_with_the_lab_codec() {
    let client = FrameCodec::new(Role::Client, Limits::default());
    let server = FrameCodec::new(Role::Server, Limits::default());
    let mut frames: Vec<Frame> = Vec::new();
    for len in [0, 1, 5, 125, 126, 127, 1_000, 65_535, 65_536, 70_000] {
        let payload: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
        frames.push(data_frame(OpCode::Text, true, payload.clone()));
        frames.push(data_frame(OpCode::Binary, false, payload.clone()));
        frames.push(data_frame(OpCode::Continuation, true, payload));
    }
    for opcode in [OpCode::Ping, OpCode::Pong, OpCode::Close] {
        frames.push(Frame::new(opcode, b"are you there?".to_vec()));
    }
    for frame in frames {
        let mut wire = BytesMut::new();
        client.encode(frame, &mut wire);
        let bytes = wire.to_vec();
        let expected = server.decode(&mut wire, None).unwrap().unwrap();
        let got = decode_frame(&bytes);
        assert_eq!(got.fin, expected.header.fin, "FIN of {:02x?}", &bytes[..2]);
        assert_eq!(got.opcode, expected.header.opcode.bits());
        assert_eq!(
            got.payload,
            expected.payload,
            "payload of {:02x?}",
            &bytes[..2]
        );
    }
}
// ANCHOR_END: decode_tests

// ---------------------------------------------------------------------------------------
// Exercise 3 (chapter 5): the close-code validator.
// ---------------------------------------------------------------------------------------

// ANCHOR: close_code_solution
// ANCHOR: close_code_task
/// Exercise 3: may `code` appear in a close frame on the wire (RFC 6455, section 7.4)?
///
/// The codes fall into four groups: those the protocol defines for sending (including the
/// three that IANA registered after the RFC), those that are only ever *reported* by an API
/// and never sent, the two ranges left to libraries and to applications, and the rest.
/// The close-code table of the RFC 6455 cheat sheet (Appendix A) has them all.
pub fn close_code_may_be_sent(code: u16) -> bool {
    // ANCHOR_END: close_code_task
    match code {
        // Defined for use on the wire: 1000-1003 and 1007-1011 by the RFC, 1012-1014 by IANA.
        1000..=1003 | 1007..=1014 => true,
        // 1004 is reserved; 1005, 1006 and 1015 describe what happened and are never sent.
        1004..=1006 | 1015 => false,
        // 3000-3999 for libraries and frameworks, 4000-4999 for private use.
        3000..=4999 => true,
        // Below 1000, unassigned codes of 1016-2999, and 5000 and above.
        _ => false,
    }
}
// ANCHOR_END: close_code_solution

// ANCHOR: close_code_tests
/// The boundaries of each group, one by one.
#[test]
fn close_code_boundaries() {
    for ok in [
        1000, 1001, 1002, 1003, 1007, 1011, 1012, 1014, 3000, 3999, 4000, 4999,
    ] {
        assert!(close_code_may_be_sent(ok), "{ok} may be sent");
    }
    for never in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65_535] {
        assert!(!close_code_may_be_sent(never), "{never} may not be sent");
    }
}

/// Every one of the 65 536 possible codes gets the lab's answer.
#[test]
fn close_code_agrees_with_the_lab() {
    for code in 0..=u16::MAX {
        assert_eq!(
            close_code_may_be_sent(code),
            is_valid_close_code(code),
            "code {code}"
        );
    }
}
// ANCHOR_END: close_code_tests

// ---------------------------------------------------------------------------------------
// Exercise 4 (chapter 5): reassemble fragmented messages.
// ---------------------------------------------------------------------------------------

// ANCHOR: reassemble_solution
// ANCHOR: reassemble_task
/// A whole message, as exercise 4 returns it.
#[derive(Debug, PartialEq, Eq)]
pub enum Reassembled {
    /// A text message (checked to be UTF-8).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

/// Exercise 4: put the messages back together from `frames`, each given as (FIN, opcode,
/// unmasked payload), in the order they arrived.
///
/// - A text (0x1) or binary (0x2) frame starts a message; continuation frames (0x0) add to
///   it; the frame with FIN set ends it.
/// - A continuation with no message in progress, or a text or binary frame while one is in
///   progress, breaks the protocol: return `Err(1002)`.
/// - Ping (0x9) and pong (0xA) frames may arrive between fragments: skip them, without
///   disturbing the message in progress. (There is no close frame in the input.)
/// - Text must be UTF-8, checked as each fragment arrives, so that a bad byte fails at once,
///   whatever follows: return `Err(1007)`. A character may be cut between two fragments;
///   `lab_handshake::utf8::Utf8Validator` (`feed` each fragment, `finish` the message)
///   handles that for you.
/// - A message still unfinished when the frames run out is not returned.
pub fn reassemble(frames: &[(bool, u8, &[u8])]) -> Result<Vec<Reassembled>, u16> {
    // ANCHOR_END: reassemble_task
    let mut messages = Vec::new();
    // The message in progress: its opcode, its bytes so far, and its UTF-8 check.
    let mut partial: Option<(u8, Vec<u8>, Utf8Validator)> = None;
    for &(fin, opcode, payload) in frames {
        let (kind, mut data, mut utf8) = match (opcode, partial.take()) {
            // Control frames: nothing to assemble, and the message in progress waits.
            (0x9 | 0xA, in_progress) => {
                partial = in_progress;
                continue;
            }
            (0x1 | 0x2, None) => (opcode, Vec::new(), Utf8Validator::new()),
            (0x0, Some(in_progress)) => in_progress,
            // A stray continuation, a data frame inside a message, or an unknown opcode.
            _ => return Err(1002),
        };
        if kind == 0x1 && utf8.feed(payload).is_err() {
            return Err(1007);
        }
        data.extend_from_slice(payload);
        if !fin {
            partial = Some((kind, data, utf8));
            continue;
        }
        if kind == 0x1 {
            // Checked fragment by fragment; only a character left unfinished remains.
            if utf8.finish().is_err() {
                return Err(1007);
            }
            let text = String::from_utf8(data).map_err(|_| 1007_u16)?;
            messages.push(Reassembled::Text(text));
        } else {
            messages.push(Reassembled::Binary(data));
        }
    }
    Ok(messages)
}
// ANCHOR_END: reassemble_solution

/// What the lab's own server `Connection` makes of the same frames: they are masked by the
/// lab's client codec and fed to it; its messages are collected until the bytes run out,
/// or its error is turned into the close code it sent.
async fn lab_reassembles(frames: &[(bool, u8, &[u8])]) -> Result<Vec<Reassembled>, u16> {
    let client = FrameCodec::new(Role::Client, Limits::default());
    let mut wire = BytesMut::new();
    for &(fin, opcode, payload) in frames {
        let frame = data_frame(OpCode::from_bits(opcode).unwrap(), fin, payload.to_vec());
        client.encode(frame, &mut wire);
    }
    let (server_io, mut peer) = tokio::io::duplex(1 << 16);
    let settings = Settings {
        idle_after: None,
        ..Settings::default()
    };
    let mut server = Connection::new(
        server_io,
        Role::Server,
        settings,
        BytesMut::new(),
        Observer::none(),
    );
    peer.write_all(&wire).await.unwrap();
    // No more bytes: once it has read everything, the server sees the end of the stream.
    peer.shutdown().await.unwrap();
    let mut messages = Vec::new();
    loop {
        match server.recv().await {
            Ok(Message::Text(text)) => messages.push(Reassembled::Text(text)),
            Ok(Message::Binary(data)) => messages.push(Reassembled::Binary(data.to_vec())),
            Ok(_) => {}
            Err(Error::Protocol(violation)) => return Err(violation.close_code()),
            Err(Error::Dropped) => return Ok(messages),
            Err(other) => panic!("unexpected error from the lab: {other}"),
        }
    }
}

// ANCHOR: reassemble_tests
/// The RFC's fragmented "Hello", a ping in the middle of a message, and two messages in a
/// row, one of them binary in three pieces.
#[test]
fn reassemble_valid_streams() {
    let hello = || Reassembled::Text("Hello".into());
    assert_eq!(
        reassemble(&[(false, 0x1, b"Hel"), (true, 0x0, b"lo")]),
        Ok(vec![hello()])
    );
    assert_eq!(
        reassemble(&[
            (false, 0x1, b"Hel"),
            (true, 0x9, b"ping"),
            (true, 0x0, b"lo")
        ]),
        Ok(vec![hello()])
    );
    assert_eq!(
        reassemble(&[
            (true, 0x1, b"Hello"),
            (false, 0x2, &[1, 2]),
            (false, 0x0, &[3]),
            (true, 0x0, &[4, 5]),
        ]),
        Ok(vec![hello(), Reassembled::Binary(vec![1, 2, 3, 4, 5])])
    );
}

/// Broken streams get the close code the RFC asks for.
#[test]
fn reassemble_broken_streams() {
    // A continuation with nothing to continue.
    assert_eq!(reassemble(&[(true, 0x0, b"lo")]), Err(1002));
    // A new text frame while "Hel" is waiting for its end.
    assert_eq!(
        reassemble(&[(false, 0x1, b"Hel"), (true, 0x1, b"lo")]),
        Err(1002)
    );
    // 0xFF can never appear in UTF-8: fail at once, before the stray frame that follows.
    assert_eq!(
        reassemble(&[(false, 0x1, b"ok \xff"), (true, 0x2, b"")]),
        Err(1007)
    );
}

/// The lab's server, fed the same frames, agrees on every stream, valid or not.
#[tokio::test]
async fn reassemble_agrees_with_the_lab() {
    let e_acute = "é".as_bytes(); // two bytes: c3 a9
    let streams: Vec<Vec<(bool, u8, &[u8])>> = vec![
        vec![(false, 0x1, b"Hel"), (true, 0x0, b"lo")],
        vec![
            (false, 0x1, b"Hel"),
            (true, 0x9, b"ping"),
            (true, 0x0, b"lo"),
        ],
        vec![(false, 0x2, &[1, 2]), (true, 0xA, b""), (true, 0x0, &[3])],
        vec![(true, 0x1, b""), (true, 0x2, b""), (true, 0x1, b"two")],
        // A character cut between two fragments is fine...
        vec![(false, 0x1, &e_acute[..1]), (true, 0x0, &e_acute[1..])],
        // ...but a message may not end inside one.
        vec![(true, 0x1, &e_acute[..1])],
        vec![
            (false, 0x1, b"ok \xce"),
            (false, 0x0, b"A"),
            (true, 0x1, b"x"),
        ],
        vec![(true, 0x0, b"lo")],
        vec![(false, 0x1, b"Hel"), (true, 0x2, b"lo")],
        vec![(true, 0x1, b"first"), (false, 0x1, b"never finished")],
    ];
    for stream in streams {
        assert_eq!(
            reassemble(&stream),
            lab_reassembles(&stream).await,
            "frames {stream:?}"
        );
    }
}
// ANCHOR_END: reassemble_tests

// ---------------------------------------------------------------------------------------
// Exercise 5 (chapter 5): decode a compressed frame by hand.
// ---------------------------------------------------------------------------------------

// ANCHOR: inflate_frame_solution
// ANCHOR: inflate_frame_task
/// Exercise 5: the text carried by one unmasked, unfragmented, compressed text frame from a
/// server (permessage-deflate negotiated, no context takeover), or `None` if it is not one.
///
/// Check the first byte: FIN, RSV1 and the text opcode, so `0xC1`. Read the 7-bit length
/// (these frames are short: under 126 bytes). Put back the 4 bytes the sender removed,
/// `00 00 ff ff`, and inflate the result as raw DEFLATE (no zlib header): with `flate2`,
/// `Decompress::new(false)` and `decompress_vec` with `FlushDecompress::Sync` into a `Vec`
/// with room for the text.
pub fn inflate_text_frame(frame: &[u8]) -> Option<String> {
    // ANCHOR_END: inflate_frame_task
    let [0xC1, len, payload @ ..] = frame else {
        return None;
    };
    if usize::from(*len) != payload.len() || *len > 125 {
        return None;
    }
    let mut compressed = payload.to_vec();
    compressed.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    let mut inflater = flate2::Decompress::new(false);
    let mut text = Vec::with_capacity(64 * 1024);
    inflater
        .decompress_vec(&compressed, &mut text, flate2::FlushDecompress::Sync)
        .ok()?;
    String::from_utf8(text).ok()
}
// ANCHOR_END: inflate_frame_solution

// ANCHOR: inflate_frame_tests
/// RFC 7692's example frame, and frames the lab's own server compresses.
#[tokio::test]
async fn inflate_frame_rfc_example_and_the_lab() {
    let hello = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    assert_eq!(inflate_text_frame(&hello).as_deref(), Some("Hello"));
    assert_eq!(
        inflate_text_frame(&[0x81, 0x02, b'h', b'i']),
        None,
        "not compressed"
    );
    assert_eq!(inflate_text_frame(&hello[..8]), None, "cut short");

    use lab_handshake::deflate::{DeflateConfig, negotiate, parse_extensions};
    let agreed = negotiate(
        &parse_extensions(["permessage-deflate"]),
        &DeflateConfig::no_context_takeover(),
    )
    .unwrap();
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let settings = Settings {
        idle_after: None,
        ..Settings::default()
    };
    let mut server = Connection::new(
        ours,
        Role::Server,
        settings,
        BytesMut::new(),
        Observer::none(),
    )
    .with_compression(Some(agreed));
    let mut wire = theirs;
    for text in ["Hello", r#"{"symbol":"BTC-USD","price":"97012.50"}"#, ""] {
        server.send(Message::Text(text.into())).await.unwrap();
        let mut frame = vec![0u8; 2];
        tokio::io::AsyncReadExt::read_exact(&mut wire, &mut frame)
            .await
            .unwrap();
        let mut payload = vec![0u8; usize::from(frame[1])];
        tokio::io::AsyncReadExt::read_exact(&mut wire, &mut payload)
            .await
            .unwrap();
        frame.extend(payload);
        assert_eq!(
            inflate_text_frame(&frame).as_deref(),
            Some(text),
            "{frame:02x?}"
        );
    }
}
// ANCHOR_END: inflate_frame_tests

// ---------------------------------------------------------------------------------------
// Exercise 6 (chapter 5): when does context takeover help?
// ---------------------------------------------------------------------------------------

// ANCHOR: takeover_solution
// ANCHOR: takeover_task
/// Exercise 6: the size on the wire of each message's payload, compressed by the lab's
/// `PerMessageDeflate` as a server sends it, with context takeover or without.
///
/// Build the agreement with `deflate::negotiate`, from an offer that asks for
/// `server_no_context_takeover` or not, then one `PerMessageDeflate::new(&agreed,
/// Role::Server)`, and compress every message with it (`compress(message, true)`).
pub fn compressed_sizes(messages: &[Vec<u8>], takeover: bool) -> Vec<usize> {
    // ANCHOR_END: takeover_task
    use lab_handshake::deflate::{DeflateConfig, PerMessageDeflate, negotiate, parse_extensions};
    let offer = if takeover {
        "permessage-deflate"
    } else {
        "permessage-deflate; server_no_context_takeover"
    };
    let agreed = negotiate(&parse_extensions([offer]), &DeflateConfig::default())
        .expect("an offer the lab accepts");
    let mut deflate = PerMessageDeflate::new(&agreed, Role::Server);
    messages
        .iter()
        .map(|message| deflate.compress(message, true).len())
        .collect()
}
// ANCHOR_END: takeover_solution

// ANCHOR: takeover_tests
/// Predict before running: for each stream, does takeover make the messages after the
/// first smaller, and by how much?
#[test]
fn takeover_predictions() {
    let ticker: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            format!(
                r#"{{"event":"tick","data":{{"symbol":"BTC-USD","price":"{}.50","seq":{i}}}}}"#,
                97000 + i * 7
            )
            .into_bytes()
        })
        .collect();
    let (with, without) = (
        compressed_sizes(&ticker, true),
        compressed_sizes(&ticker, false),
    );
    // The first message has nothing to refer back to: the same either way.
    assert_eq!(with[0], without[0]);
    // After it, each update is mostly a reference to the previous one: several times smaller.
    let (with_rest, without_rest): (usize, usize) =
        (with[1..].iter().sum(), without[1..].iter().sum());
    assert!(with_rest * 3 < without_rest, "{with:?} vs {without:?}");

    // Random bytes: no repeats, now or earlier. Takeover cannot help (within a few bytes).
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let random: Vec<Vec<u8>> = (0..5)
        .map(|_| {
            (0..512)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        })
        .collect();
    let (with, without) = (
        compressed_sizes(&random, true),
        compressed_sizes(&random, false),
    );
    for (w, wo) in with.iter().zip(&without) {
        assert!(w.abs_diff(*wo) <= 4 && *w >= 512, "{with:?} vs {without:?}");
    }

    // The same message twice: without takeover, twice the price; with, the second is a
    // single back-reference.
    let twice = vec![ticker[0].clone(), ticker[0].clone()];
    let (with, without) = (
        compressed_sizes(&twice, true),
        compressed_sizes(&twice, false),
    );
    assert_eq!(without[0], without[1]);
    assert!(with[1] <= 8, "{with:?}");
}
// ANCHOR_END: takeover_tests
