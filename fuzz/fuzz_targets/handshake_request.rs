//! Fuzzes the server side of the opening handshake: `read_request`, `parse_request` and
//! `validate_request` (labs/handshake, `handshake.rs`) on arbitrary bytes, cut at arbitrary
//! points.
//!
//! ```text
//! RUSTC_BOOTSTRAP=1 cargo fuzz run handshake_request -- -max_len=12288   # from fuzz/
//! ```
//!
//! Input: `[k][k chunk sizes][request bytes]` (see `ws_fuzz::split_sizes`). What must hold,
//! besides never panicking:
//!
//! - the request read, and the bytes after its head (a first frame sent eagerly), do not
//!   depend on how the request was cut; nor does the refusal, with one
//!   exception that is inherent to reading under a size limit: bytes that are still an
//!   unfinished head past 8 KiB are refused as too large (431) when they arrive in pieces,
//!   while the same bytes in one read may reach the byte that makes them malformed (400);
//! - an accepted head is at most `MAX_HEAD_BYTES`, and an accepted upgrade satisfies every
//!   rule of RFC 6455, section 4.2.1, checked here independently, with the accept value the
//!   RFC computes;
//! - every refusal is a 4xx (never a 500) and its response is well-formed HTTP whose
//!   `Content-Length` is the body's length.

#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::BytesMut;
use http::{Method, Request, Version, header};
use lab_handshake::handshake::{
    self, HandshakeError, MAX_HEAD_BYTES, accept_key, parse_request, validate_request,
};
use libfuzzer_sys::fuzz_target;
use ws_fuzz::{ScriptedSocket, block_on, chunks, split_sizes};

/// What the server read: method, target, version and headers, then the raw head followed
/// by every byte after it (those already read into the buffer, and those still unread on
/// the socket: the connection gets both, so none may be lost); or why it refused.
type Read = Result<(String, Vec<u8>), HandshakeError>;

/// Everything of a request that can be compared.
fn summary(request: &Request<()>) -> String {
    format!(
        "{} {} {:?} {:?}",
        request.method(),
        request.uri(),
        request.version(),
        request.headers()
    )
}

/// Runs the server's `read_request` over a socket that delivers `reads`.
fn read(reads: Vec<&[u8]>, capacity: usize) -> (Read, Option<Request<()>>) {
    let mut socket = ScriptedSocket::new(reads);
    let mut buf = BytesMut::with_capacity(capacity);
    match block_on(handshake::read_request(&mut socket, &mut buf)) {
        Ok((request, raw)) => {
            let mut seen = raw.into_bytes();
            seen.extend_from_slice(&buf);
            seen.extend_from_slice(&socket.unread());
            (Ok((summary(&request), seen)), Some(request))
        }
        Err(err) => (Err(err), None),
    }
}

/// A refusal must be a client error with a well-formed response.
fn check_refusal(err: &HandshakeError) {
    let status = err.status();
    assert!(status.is_client_error(), "{err:?} answers {status}");
    let text = err.response_text();
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head)) = response.parse(text.as_bytes()) else {
        panic!("refusal is not a complete HTTP response: {text:?}");
    };
    assert_eq!(response.code, Some(status.as_u16()));
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .and_then(|v| v.parse::<usize>().ok());
    assert_eq!(length, Some(text.len() - head), "{text:?}");
}

/// RFC 6455, section 4.2.1, read directly off the request.
fn check_accepted(request: &Request<()>, accept: &str) {
    let headers = request.headers();
    let tokens = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    assert_eq!(request.method(), Method::GET);
    assert!(request.version() >= Version::HTTP_11);
    assert!(headers.contains_key(header::HOST));
    assert!(tokens(header::UPGRADE, "websocket"));
    assert!(tokens(header::CONNECTION, "upgrade"));
    assert_eq!(
        headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .map(|v| v.as_bytes()),
        Some(&b"13"[..])
    );
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .expect("an accepted request has a key");
    assert_eq!(BASE64.decode(key).map(|k| k.len()), Ok(16));
    assert_eq!(accept, accept_key(key));
    // The 101 carries it, in a response a client can parse.
    let response = handshake::response_101(accept);
    let mut parsed_headers = [httparse::EMPTY_HEADER; 8];
    let mut parsed = httparse::Response::new(&mut parsed_headers);
    assert!(matches!(
        parsed.parse(response.as_bytes()),
        Ok(httparse::Status::Complete(len)) if len == response.len()
    ));
    assert_eq!(parsed.code, Some(101));
}

fuzz_target!(|data: &[u8]| {
    let (sizes, stream) = split_sizes(data);
    let (whole, request) = read(vec![stream], stream.len());
    let (cut, _) = read(chunks(stream, sizes), 0);
    match (&whole, &cut) {
        (a, b) if a == b => {}
        (Err(HandshakeError::Malformed(_)), Err(HandshakeError::HeadTooLarge))
            if stream.len() > MAX_HEAD_BYTES => {}
        _ => panic!("the outcome depends on the cut:\nwhole: {whole:?}\ncut:   {cut:?}"),
    }

    // The parser alone, on everything at once, agrees with the reading loop.
    let parsed = parse_request(stream);
    match (&parsed, &whole) {
        (Ok(Some((_, head_len))), Ok(_)) => assert!(*head_len <= MAX_HEAD_BYTES),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Ok(None), Err(HandshakeError::Malformed(_))) => {}
        _ => panic!("parse_request {parsed:?} but read_request {whole:?}"),
    }

    match request {
        None => check_refusal(whole.as_ref().expect_err("no request, so a refusal")),
        Some(request) => {
            let allowlist = kit::OriginAllowlist::for_lab(kit::ports::HANDSHAKE);
            match validate_request(&request, &allowlist) {
                Ok(accept) => check_accepted(&request, &accept),
                Err(err) => check_refusal(&err),
            }
        }
    }
});
