//! A raw WebSocket client for conformance tests: the handshake done by hand, then bytes that
//! no library would send (unmasked frames, reserved opcodes, invalid UTF-8...).
//!
//! Every lab's tests check DESIGN.md's bad-input table with it: send the broken bytes,
//! then [`RawClient::close_code`] says which close code the server answered with, and that
//! it closed the TCP connection afterwards rather than dropping it without a word.

use std::net::SocketAddr;

use anyhow::{Context, bail, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::within;

/// The RFC's example `Sec-WebSocket-Key` (section 1.3).
pub const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// The accept value the RFC's key must produce.
pub const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// The masking key of the RFC's masked "Hello" example (section 5.7).
pub const RFC_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A valid upgrade request for `path`, plus `extra` header lines (e.g. `"Origin: ..."`).
pub fn upgrade_request(addr: SocketAddr, path: &str, extra: &[&str]) -> String {
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {RFC_KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for line in extra {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request
}

/// A masked client frame written by hand: `first` is the first header byte (FIN, RSV bits,
/// opcode, any of which may be wrong on purpose), then the mask bit and the minimal length,
/// the RFC's masking key, and the masked payload.
pub fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    push_len(&mut out, 0x80, payload.len() as u64);
    out.extend_from_slice(&RFC_MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ RFC_MASK[i % 4]));
    out
}

/// Appends a header's length field, in the minimal encoding, with `mask_bit` (0x80 or 0)
/// in its first byte. Any length may be written, however large: the point of a raw client
/// is to claim what it likes.
pub fn push_len(out: &mut Vec<u8>, mask_bit: u8, len: u64) {
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=65535 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}

/// A close frame's payload: the code in network byte order, then the reason.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    payload
}

/// A WebSocket connection driven byte by byte.
#[derive(Debug)]
pub struct RawClient {
    /// The TCP connection.
    pub stream: TcpStream,
    /// Bytes received and not yet taken as frames.
    pub buf: Vec<u8>,
}

impl RawClient {
    /// Connects to `path` on `addr` and completes the handshake, checking the 101 and the
    /// accept value. `extra` header lines are added to the request.
    pub async fn connect(addr: SocketAddr, path: &str, extra: &[&str]) -> anyhow::Result<Self> {
        let mut stream = TcpStream::connect(addr).await.context("connecting")?;
        stream.set_nodelay(true)?;
        stream
            .write_all(upgrade_request(addr, path, extra).as_bytes())
            .await?;
        let mut buf = Vec::new();
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
                buf.drain(..end + 4);
                ensure!(head.starts_with("HTTP/1.1 101"), "no 101: {head}");
                ensure!(head.contains(RFC_ACCEPT), "wrong accept value: {head}");
                return Ok(Self { stream, buf });
            }
            let mut chunk = [0u8; 4096];
            let n = within("the 101 response", stream.read(&mut chunk)).await??;
            ensure!(n > 0, "closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends bytes as they are.
    pub async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// The next frame from the server, as (first header byte, payload); `None` when the
    /// server has closed the connection (or reset it).
    pub async fn frame(&mut self) -> anyhow::Result<Option<(u8, Vec<u8>)>> {
        loop {
            if self.buf.len() >= 2 {
                ensure!(self.buf[1] & 0x80 == 0, "a server frame must not be masked");
                let (len, at) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => (
                        usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])),
                        4,
                    ),
                    127 if self.buf.len() >= 10 => {
                        let mut be = [0u8; 8];
                        be.copy_from_slice(&self.buf[2..10]);
                        (usize::try_from(u64::from_be_bytes(be))?, 10)
                    }
                    126 | 127 => (usize::MAX, 0),
                    n => (usize::from(n), 2),
                };
                if len != usize::MAX && self.buf.len() >= at + len {
                    let first = self.buf[0];
                    let frame: Vec<u8> = self.buf.drain(..at + len).collect();
                    return Ok(Some((first, frame[at..].to_vec())));
                }
            }
            let mut chunk = [0u8; 65536];
            // A reset after the server's close is an end of stream too.
            let n = within("a frame from the server", self.stream.read(&mut chunk))
                .await?
                .unwrap_or(0);
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads frames until the server's close frame and returns its code (`None` for a close
    /// without a code); fails if the connection ends without a close frame (a bare drop,
    /// which teaches the client nothing) or stays open after it.
    pub async fn close_code(&mut self) -> anyhow::Result<Option<u16>> {
        loop {
            let Some((first, payload)) = self.frame().await? else {
                bail!("the connection ended without a close frame");
            };
            if first & 0x0f == 0x8 {
                let code =
                    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                ensure!(
                    self.frame().await?.is_none(),
                    "the server must close TCP after its close frame"
                );
                return Ok(code);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `masked` reproduces the RFC's masked "Hello" byte for byte (section 5.7).
    #[test]
    fn rfc_masked_hello() {
        assert_eq!(
            masked(0x81, b"Hello"),
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
        assert_eq!(masked(0x82, &[0; 126])[1..4], [0x80 | 126, 0, 126]);
        assert_eq!(close_payload(1000, b"bye"), [0x03, 0xe8, b'b', b'y', b'e']);
    }
}
