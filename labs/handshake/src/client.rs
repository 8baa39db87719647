//! The client side of the handshake: connect over TCP, send the upgrade request with a
//! fresh key, check the server's accept value, and hand over a client [`Connection`]
//! (which masks every frame it sends).

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::codec::Role;
use crate::connection::{Connection, Settings};
use crate::deflate;
use crate::error::Error;
use crate::events::{ConnectionState, Event, Observer};
use crate::handshake::{self, HANDSHAKE_TIMEOUT, HandshakeError};

/// Where to connect, from a `ws://host[:port][/path]` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `host:port`, for the TCP connection and the Host header.
    pub authority: String,
    /// The path and query, e.g. `/ws?tag=cli`.
    pub path: String,
}

impl Target {
    /// Parses a `ws://` URL. (`wss://` needs TLS, which this lab leaves out on purpose: it
    /// would hide the bytes we want to see.)
    pub fn parse(url: &str) -> Result<Self, HandshakeError> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| HandshakeError::BadUrl(format!("{url} (only ws:// is supported)")))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(HandshakeError::BadUrl(url.to_owned()));
        }
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Self {
            authority,
            path: path.to_owned(),
        })
    }
}

/// The raw handshake, for the learner to read.
#[derive(Clone, Debug)]
pub struct Transcript {
    /// The request we sent.
    pub request: String,
    /// The response head we received.
    pub response: String,
}

// ANCHOR: connect
/// Opens a WebSocket to `url`, sending `origin` as the Origin header if given (as a browser
/// would). Returns the connection and the raw handshake.
pub async fn connect(
    url: &str,
    origin: Option<&str>,
    settings: Settings,
    observer: Observer,
) -> Result<(Connection<TcpStream>, Transcript), Error> {
    let target = Target::parse(url)?;
    observer.emit(Event::State {
        from: ConnectionState::Disconnected,
        to: ConnectionState::Handshaking,
        why: format!("connecting to {}", target.authority),
    });
    let mut stream = TcpStream::connect(&target.authority).await?;
    stream.set_nodelay(true)?;

    let key = handshake::generate_key();
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
        target.path, target.authority
    );
    if let Some(origin) = origin {
        request.push_str(&format!("Origin: {origin}\r\n"));
    }
    if let Some(ours) = &settings.compression {
        let offer = deflate::client_offer(ours);
        request.push_str(&format!("Sec-WebSocket-Extensions: {offer}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;

    // Read until the end of the response head; anything after it is already WebSocket data.
    let mut buf = BytesMut::with_capacity(1024);
    let head_len = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        loop {
            if let Some(len) = handshake::validate_response(&buf, &key)? {
                return Ok::<_, Error>(len);
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(HandshakeError::Malformed(
                    "connection closed during the handshake".into(),
                )
                .into());
            }
        }
    })
    .await
    .map_err(|_| HandshakeError::Timeout)??;
    let head = buf.split_to(head_len);
    let extensions = handshake::response_header_values(&head, "Sec-WebSocket-Extensions");
    // An extension in the answer that we did not offer fails the connection (RFC 6455, 4.1).
    let agreed = match &settings.compression {
        Some(ours) => deflate::accept_response(extensions.iter().map(String::as_str), ours),
        None if extensions.is_empty() => Ok(None),
        None => Err("no extension was offered".to_owned()),
    }
    .map_err(HandshakeError::BadExtension)?;
    let response = String::from_utf8_lossy(&head).into_owned();
    observer.emit(Event::Handshake {
        request: request.clone(),
        response: response.clone(),
    });
    let connection =
        Connection::new(stream, Role::Client, settings, buf, observer).with_compression(agreed);
    Ok((connection, Transcript { request, response }))
}
// ANCHOR_END: connect

#[cfg(test)]
mod tests {
    use super::*;

    /// URLs: default port, path and query kept, other schemes refused.
    #[test]
    fn targets() {
        assert_eq!(
            Target::parse("ws://127.0.0.1:3001/ws?tag=a").unwrap(),
            Target {
                authority: "127.0.0.1:3001".into(),
                path: "/ws?tag=a".into()
            }
        );
        assert_eq!(
            Target::parse("ws://localhost").unwrap().authority,
            "localhost:80"
        );
        assert!(Target::parse("wss://example.org/").is_err());
        assert!(Target::parse("http://example.org/").is_err());
        assert!(Target::parse("ws:///ws").is_err());
    }
}
