//! Fuzzes the client side of the opening handshake: `validate_response` (labs/handshake,
//! `handshake.rs`), the check of the server's answer, on arbitrary bytes cut at arbitrary
//! points, driven the way `client::connect` drives it.
//!
//! ```text
//! RUSTC_BOOTSTRAP=1 cargo fuzz run handshake_response -- -max_len=12288   # from fuzz/
//! ```
//!
//! Input: `[k][k chunk sizes][response bytes]` (see `ws_fuzz::split_sizes`); the client's
//! key is the RFC's example key, so a seed can carry the RFC's example accept value. What
//! must hold, besides never panicking:
//!
//! - whether the client accepts, and the head's length, do not depend on how the response
//!   was cut; nor does the refusal (with the same size-limit exception as the request
//!   target, and the refusal's text, which quotes what had arrived);
//! - an accepted response is a `101` with `Upgrade: websocket`, `Connection: Upgrade` and
//!   the accept value of our key, its head at most `MAX_HEAD_BYTES`, checked here
//!   independently.

#![no_main]

use lab_handshake::handshake::{HandshakeError, MAX_HEAD_BYTES, accept_key, validate_response};
use libfuzzer_sys::fuzz_target;
use ws_fuzz::{chunks, split_sizes};

/// The sample key of RFC 6455, section 1.3; its accept value is
/// `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The client's loop: check what has arrived, read more, until an answer or the end.
fn connect(reads: &[&[u8]]) -> Result<usize, HandshakeError> {
    let mut buf = Vec::new();
    for read in reads {
        buf.extend_from_slice(read);
        if let Some(head_len) = validate_response(&buf, KEY)? {
            return Ok(head_len);
        }
    }
    Err(HandshakeError::Malformed(
        "connection closed during the handshake".into(),
    ))
}

/// Refusals compared without the part that quotes the bytes received so far.
fn comparable(result: &Result<usize, HandshakeError>) -> Result<usize, HandshakeError> {
    match result {
        Err(HandshakeError::UnexpectedStatus { status, .. }) => {
            Err(HandshakeError::UnexpectedStatus {
                status: *status,
                response: String::new(),
            })
        }
        other => other.clone(),
    }
}

/// An accepted response, checked without the lab's code.
fn check_accepted(response: &[u8], head_len: usize) {
    assert!(head_len <= response.len());
    assert!(
        head_len <= MAX_HEAD_BYTES,
        "accepted a {head_len}-byte response head"
    );
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    assert_eq!(
        parsed.parse(response).ok(),
        Some(httparse::Status::Complete(head_len))
    );
    assert_eq!(parsed.code, Some(101));
    let has = |name: &str, token: &str| {
        parsed.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case(name)
                && String::from_utf8_lossy(h.value)
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    assert!(has("upgrade", "websocket"));
    assert!(has("connection", "upgrade"));
    assert!(has("sec-websocket-accept", &accept_key(KEY)));
}

fuzz_target!(|data: &[u8]| {
    let (sizes, stream) = split_sizes(data);
    let whole = connect(&[stream]);
    let cut = connect(&chunks(stream, sizes));
    match (comparable(&whole), comparable(&cut)) {
        (a, b) if a == b => {}
        (Err(HandshakeError::Malformed(_)), Err(HandshakeError::HeadTooLarge))
            if stream.len() > MAX_HEAD_BYTES => {}
        _ => panic!("the outcome depends on the cut:\nwhole: {whole:?}\ncut:   {cut:?}"),
    }
    if let Ok(head_len) = whole {
        check_accepted(stream, head_len);
    }
});
