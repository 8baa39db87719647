//! The opening handshake (RFC 6455, section 4): an HTTP/1.1 request that asks to switch
//! protocols, and the `101 Switching Protocols` answer that proves the server understood.
//!
//! ```text
//! GET /ws HTTP/1.1                          HTTP/1.1 101 Switching Protocols
//! Host: 127.0.0.1:3001                      Upgrade: websocket
//! Upgrade: websocket                        Connection: Upgrade
//! Connection: Upgrade                       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//! Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
//! Sec-WebSocket-Version: 13
//! Origin: http://127.0.0.1:3001
//! ```
//!
//! The server side parses the request itself (with `httparse`), under a size limit and a
//! deadline, and answers every mistake with the status code the RFC asks for, never a 500.
//! The client side sends a fresh random key and checks the accept value it gets back.
//! Both sides also negotiate permessage-deflate here, with the rules of `deflate.rs`.
//! Chapter 4 of the book walks through this file; chapter 5, the compression.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Version, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::BytesMut;
use kit::OriginAllowlist;
use sha1::{Digest, Sha1};

use crate::deflate::{self, Agreed, DeflateConfig};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The GUID every server appends to the client's key (section 1.3). It is fixed by the RFC;
/// its only job is to be something a non-WebSocket server would never compute by accident.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// ANCHOR: limits
/// The largest request head we read: real upgrade requests are under 1 KiB; 8 KiB leaves
/// room for cookies. Beyond it: 431.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// The most header lines we parse. Beyond it: 431.
pub const MAX_HEADERS: usize = 32;

/// How long a client has to send its whole request head. A "slowloris" client that sends
/// one byte per second would otherwise hold a connection, and its memory, forever.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
// ANCHOR_END: limits

// ANCHOR: accept_key
/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
///
/// The key is used as the text it is; it is not base64-decoded first.
pub fn accept_key(key: &str) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(GUID.as_bytes());
    BASE64.encode(sha1.finalize())
}
// ANCHOR_END: accept_key

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64-encoded (24 characters).
pub fn generate_key() -> String {
    BASE64.encode(rand::random::<[u8; 16]>())
}

/// Why a handshake failed. On the server, each variant is an HTTP status.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// Only GET can be upgraded (405, with `Allow: GET`).
    #[error("method {0} cannot open a WebSocket: use GET")]
    MethodNotAllowed(String),
    /// The upgrade mechanism needs HTTP/1.1.
    #[error("WebSocket needs HTTP/1.1")]
    OldHttpVersion,
    /// HTTP/1.1 requires a Host header.
    #[error("missing Host header")]
    MissingHost,
    /// No `Upgrade: websocket`: a plain HTTP request to a WebSocket endpoint (426, with
    /// `Upgrade: websocket` saying what to use).
    #[error("this endpoint speaks WebSocket: send Upgrade: websocket")]
    NotAnUpgrade,
    /// `Connection` does not list `upgrade`.
    #[error("missing Connection: Upgrade")]
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` missing, or not 16 bytes in base64.
    #[error("Sec-WebSocket-Key must be 16 random bytes in base64")]
    BadKey,
    /// A protocol version other than 13 (426, with `Sec-WebSocket-Version: 13`, and the
    /// `Upgrade: websocket` every 426 carries).
    #[error("unsupported Sec-WebSocket-Version {0:?}: this server speaks 13")]
    UnsupportedVersion(String),
    /// An Origin not on the allowlist (403).
    #[error("{0}")]
    ForeignOrigin(String),
    /// The request head is over [`MAX_HEAD_BYTES`] or [`MAX_HEADERS`] (431).
    #[error("request head too large")]
    HeadTooLarge,
    /// The request head did not arrive within [`HANDSHAKE_TIMEOUT`] (408).
    #[error("request head not received in time")]
    Timeout,
    /// Not HTTP at all (400).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// Nothing at this path (404).
    #[error("no such page: {0}")]
    NotFound(String),
    /// Client side: the server did not answer 101. `response` is what it said instead
    /// (head and, when it arrived with it, the body), which usually says why.
    #[error("server answered {status} instead of 101 Switching Protocols:\n{response}")]
    UnexpectedStatus {
        /// The status code.
        status: u16,
        /// The response as text.
        response: String,
    },
    /// Client side: a header the 101 response must carry is missing or wrong.
    #[error("101 response without a valid {0} header")]
    BadResponse(&'static str),
    /// Client side: `Sec-WebSocket-Accept` does not match our key.
    #[error("Sec-WebSocket-Accept is {got:?}, expected {expected:?}")]
    BadAccept {
        /// What the server sent.
        got: String,
        /// What our key requires.
        expected: String,
    },
    /// Client side: the URL is not `ws://host[:port][/path]`.
    #[error("not a ws:// URL: {0}")]
    BadUrl(String),
    /// Client side: the server's `Sec-WebSocket-Extensions` answer breaks RFC 7692 (or
    /// names an extension we did not offer): the client must fail the connection.
    #[error("the server's Sec-WebSocket-Extensions cannot be accepted: {0}")]
    BadExtension(String),
}

impl HandshakeError {
    // ANCHOR: status
    /// The HTTP status the server answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAnUpgrade | Self::UnsupportedVersion(_) => StatusCode::UPGRADE_REQUIRED,
            Self::ForeignOrigin(_) => StatusCode::FORBIDDEN,
            Self::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Extra headers the status calls for.
    pub fn headers(&self) -> Vec<(&'static str, &'static str)> {
        match self {
            Self::MethodNotAllowed(_) => vec![("Allow", "GET")],
            // RFC 9110: a 426 names the protocol to upgrade to, and `Upgrade` must be listed
            // in `Connection` (the raw server adds `close` to it).
            Self::NotAnUpgrade => vec![("Upgrade", "websocket"), ("Connection", "Upgrade")],
            // RFC 6455 (4.2.2): say which version we speak. And since the status is 426, the
            // two headers RFC 9110 requires of every 426 as well.
            Self::UnsupportedVersion(_) => vec![
                ("Sec-WebSocket-Version", "13"),
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
            ],
            _ => vec![],
        }
    }
    // ANCHOR_END: status

    /// The whole HTTP response, as the raw server writes it.
    pub fn response_text(&self) -> String {
        let status = self.status();
        let body = format!("{self}\n");
        let mut text = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        );
        // The raw server closes after a refusal, and says so in the one Connection header.
        let mut connection = "close".to_owned();
        for (name, value) in self.headers() {
            if name.eq_ignore_ascii_case("connection") {
                connection = format!("{value}, close");
            } else {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        text.push_str(&format!("Connection: {connection}\r\n"));
        text.push_str("\r\n");
        text.push_str(&body);
        text
    }
}

/// Does a comma-separated header (like `Connection: keep-alive, Upgrade`) hold `token`?
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

// ANCHOR: validate
/// Checks an upgrade request against RFC 6455, section 4.2.1, and the Origin allowlist.
/// Returns the `Sec-WebSocket-Accept` value to answer with.
pub fn validate_request(
    request: &Request<()>,
    allowlist: &OriginAllowlist,
) -> Result<String, HandshakeError> {
    if request.method() != Method::GET {
        return Err(HandshakeError::MethodNotAllowed(
            request.method().to_string(),
        ));
    }
    if request.version() < Version::HTTP_11 {
        return Err(HandshakeError::OldHttpVersion);
    }
    let headers = request.headers();
    if !headers.contains_key(header::HOST) {
        return Err(HandshakeError::MissingHost);
    }
    if !has_token(headers, header::UPGRADE, "websocket") {
        return Err(HandshakeError::NotAnUpgrade);
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    let version = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    if version != "13" {
        return Err(HandshakeError::UnsupportedVersion(version));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .ok_or(HandshakeError::BadKey)?;
    match BASE64.decode(key) {
        Ok(bytes) if bytes.len() == 16 => {}
        _ => return Err(HandshakeError::BadKey),
    }
    allowlist
        .check(headers)
        .map_err(|refusal| HandshakeError::ForeignOrigin(refusal.to_string()))?;
    Ok(accept_key(key))
}
// ANCHOR_END: validate

/// The `101 Switching Protocols` response for an accepted request.
pub fn response_101(accept: &str) -> String {
    response_101_with(accept, None)
}

/// The `101` response, with the extensions the server accepted (`Sec-WebSocket-Extensions`),
/// if any.
pub fn response_101_with(accept: &str, extensions: Option<&str>) -> String {
    let extensions = extensions
        .map(|value| format!("Sec-WebSocket-Extensions: {value}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{extensions}\r\n"
    )
}

// ANCHOR: negotiate_compression
/// The server's answer to the request's `Sec-WebSocket-Extensions` offers: permessage-deflate
/// with the agreed parameters, or `None` (not offered, every offer declined, or
/// `compression` is `None`, which is `--no-compression`). A value that is not text is no
/// offer at all.
pub fn negotiate_compression(
    request: &Request<()>,
    compression: Option<DeflateConfig>,
) -> Option<Agreed> {
    let ours = compression?;
    let values = request
        .headers()
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|value| value.to_str().ok());
    deflate::negotiate(&deflate::parse_extensions(values), &ours)
}
// ANCHOR_END: negotiate_compression

/// Client side: the values of header `name` in a response head that `validate_response`
/// accepted (every line of it, in order).
pub fn response_header_values(head: &[u8], name: &str) -> Vec<String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    if parsed.parse(head).is_err() {
        return Vec::new();
    }
    parsed
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| String::from_utf8_lossy(h.value).into_owned())
        .collect()
}

/// Parses a request head from `buf`: `Ok(None)` if it is not complete yet, else the
/// request and the length of its head (bytes after it belong to the WebSocket).
pub fn parse_request(buf: &[u8]) -> Result<Option<(Request<()>, usize)>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err(HandshakeError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HandshakeError::HeadTooLarge),
        Err(e) => return Err(HandshakeError::Malformed(e.to_string())),
    };
    if head_len > MAX_HEAD_BYTES {
        return Err(HandshakeError::HeadTooLarge);
    }
    let mut builder = Request::builder()
        .method(parsed.method.unwrap_or("GET"))
        .uri(parsed.path.unwrap_or("/"))
        .version(if parsed.version == Some(0) {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        });
    for h in parsed.headers.iter() {
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|e| HandshakeError::Malformed(e.to_string()))?;
        builder = builder.header(h.name, value);
    }
    let request = builder
        .body(())
        .map_err(|e| HandshakeError::Malformed(e.to_string()))?;
    Ok(Some((request, head_len)))
}

/// Reads a request head from `io` into `buf` (under the size limit; the caller applies the
/// deadline). Returns the request and the raw head text; `buf` keeps any bytes after it.
pub async fn read_request<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
) -> Result<(Request<()>, String), HandshakeError> {
    loop {
        if let Some((request, head_len)) = parse_request(buf)? {
            let raw = String::from_utf8_lossy(&buf.split_to(head_len)).into_owned();
            return Ok((request, raw));
        }
        let read = io
            .read_buf(buf)
            .await
            .map_err(|e| HandshakeError::Malformed(e.to_string()))?;
        if read == 0 {
            return Err(HandshakeError::Malformed(
                "connection closed mid-request".into(),
            ));
        }
    }
}

/// Client side: checks the server's answer to our key.
pub fn validate_response(buf: &[u8], key: &str) -> Result<Option<usize>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err(HandshakeError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HandshakeError::Malformed(e.to_string())),
    };
    // The same limit for a head that arrived in one read as for one still arriving: without
    // it, whether a 9 KiB head is accepted would depend on how TCP cut it.
    if head_len > MAX_HEAD_BYTES {
        return Err(HandshakeError::HeadTooLarge);
    }
    let code = parsed.code.unwrap_or(0);
    if code != 101 {
        return Err(HandshakeError::UnexpectedStatus {
            status: code,
            response: String::from_utf8_lossy(buf).trim_end().to_owned(),
        });
    }
    let get = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    let tokens = |name: &str, token: &str| {
        get(name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if !tokens("Upgrade", "websocket") {
        return Err(HandshakeError::BadResponse("Upgrade: websocket"));
    }
    if !tokens("Connection", "upgrade") {
        return Err(HandshakeError::BadResponse("Connection: Upgrade"));
    }
    let expected = accept_key(key);
    match get("Sec-WebSocket-Accept") {
        Some(got) if got.trim() == expected => Ok(Some(head_len)),
        Some(got) => Err(HandshakeError::BadAccept { got, expected }),
        None => Err(HandshakeError::BadResponse("Sec-WebSocket-Accept")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC's example key gives the RFC's example accept value (section 1.3).
    #[test]
    fn rfc_example_accept() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    /// A generated key is 16 bytes of base64 and differs each time.
    #[test]
    fn generated_keys() {
        let (a, b) = (generate_key(), generate_key());
        assert_eq!(BASE64.decode(&a).unwrap().len(), 16);
        assert_ne!(a, b);
    }
}
