//! The bytes every transport carries: the echo message in either encoding, the payload, the
//! check of a reply, and the length-prefixed frames of the raw-TCP floor.
//!
//! The same [`EchoRequest`] is encoded the same way whatever the transport: the raw-TCP frame
//! body, the WebSocket message, the HTTP body and the gRPC message are byte for byte the same
//! protobuf (or the same JSON). The server decodes every request and encodes a fresh reply,
//! as a real service would, on every transport alike.

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use prost::Message as _;
use protos::bench::v1::{EchoReply, EchoRequest};
use protos::json::{self, JsonMessage as _};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::transport::Encoding;

/// The largest frame, HTTP body, WebSocket message or gRPC message any server or client of
/// the harness accepts: the largest payload ([`crate::config::MAX_PAYLOAD`], 4 MiB) in JSON
/// (base64 is 4/3 of it) fits with room to spare. Anything larger is refused before it is
/// allocated.
pub const MAX_FRAME: usize = 8 * 1024 * 1024;

/// Why bytes could not be turned into a message, or a reply is not the right one.
#[derive(Debug, Error)]
pub enum WireError {
    /// The bytes are not a valid message in the expected encoding.
    #[error("cannot decode the message: {0}")]
    Decode(String),
    /// A length prefix claims more than [`MAX_FRAME`] bytes.
    #[error("frame of {len} bytes is over the {MAX_FRAME}-byte limit")]
    FrameTooLarge {
        /// The claimed length.
        len: usize,
    },
    /// The peer closed the connection.
    #[error("connection closed by the peer")]
    Closed,
    /// Reading or writing the socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Why a reply does not answer its request. Each is counted as an error, never a success.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplyError {
    /// The reply is for another request (a stale or reordered reply).
    #[error("reply has seq {got}, expected {expected}")]
    WrongSeq {
        /// The request's sequence number.
        expected: u64,
        /// The reply's.
        got: u64,
    },
    /// The payload came back shorter or longer than it was sent.
    #[error("reply payload has {got} bytes, expected {expected}")]
    WrongLength {
        /// Bytes sent.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// Same length, different bytes.
    #[error("reply payload differs from the request's")]
    WrongBytes,
}

/// Encodes a request (client side).
pub fn encode_request(encoding: Encoding, request: &EchoRequest) -> Bytes {
    match encoding {
        Encoding::Proto => request.encode_to_vec().into(),
        Encoding::Json => json::to_json(request),
    }
}

/// Decodes a request (server side).
pub fn decode_request(encoding: Encoding, bytes: &[u8]) -> Result<EchoRequest, WireError> {
    match encoding {
        Encoding::Proto => {
            EchoRequest::decode(bytes).map_err(|err| WireError::Decode(err.to_string()))
        }
        Encoding::Json => EchoRequest::from_json(bytes).map_err(WireError::Decode),
    }
}

/// Encodes a reply (server side).
pub fn encode_reply(encoding: Encoding, reply: &EchoReply) -> Bytes {
    match encoding {
        Encoding::Proto => reply.encode_to_vec().into(),
        Encoding::Json => json::to_json(reply),
    }
}

/// Decodes a reply (client side).
pub fn decode_reply(encoding: Encoding, bytes: &[u8]) -> Result<EchoReply, WireError> {
    match encoding {
        Encoding::Proto => {
            EchoReply::decode(bytes).map_err(|err| WireError::Decode(err.to_string()))
        }
        Encoding::Json => EchoReply::from_json(bytes).map_err(WireError::Decode),
    }
}

/// What the server does with one request on every transport: decode it, build the reply,
/// encode the reply.
pub fn echo(encoding: Encoding, request: &[u8]) -> Result<Bytes, WireError> {
    let request = decode_request(encoding, request)?;
    Ok(encode_reply(
        encoding,
        &EchoReply {
            seq: request.seq,
            payload: request.payload,
        },
    ))
}

/// The payload of `size` bytes used for every request of a run: pseudo-random (so no layer
/// can compress it into something cheaper) and the same on every transport.
pub fn payload(size: usize) -> Bytes {
    // xorshift64: deterministic, fast, and needs no dependency.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ size as u64;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect::<Vec<u8>>()
        .into()
}

/// Checks that `reply` answers `request`: same sequence number, same payload bytes.
pub fn check_reply(request: &EchoRequest, reply: &EchoReply) -> Result<(), ReplyError> {
    if reply.seq != request.seq {
        return Err(ReplyError::WrongSeq {
            expected: request.seq,
            got: reply.seq,
        });
    }
    if reply.payload.len() != request.payload.len() {
        return Err(ReplyError::WrongLength {
            expected: request.payload.len(),
            got: reply.payload.len(),
        });
    }
    if reply.payload != request.payload {
        return Err(ReplyError::WrongBytes);
    }
    Ok(())
}

/// The first byte of a raw-TCP connection names the encoding of every frame that follows
/// (`P` protobuf, `J` JSON): the floor has no headers to say it.
pub fn encoding_hello(encoding: Encoding) -> u8 {
    match encoding {
        Encoding::Proto => b'P',
        Encoding::Json => b'J',
    }
}

/// Reads the encoding announced by [`encoding_hello`].
pub fn encoding_from_hello(byte: u8) -> Option<Encoding> {
    match byte {
        b'P' => Some(Encoding::Proto),
        b'J' => Some(Encoding::Json),
        _ => None,
    }
}

/// Writes one frame of the raw-TCP floor: a 4-byte big-endian length, then the body, in one
/// vectored write so that, with `TCP_NODELAY`, header and body leave in the same segment.
pub async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, body: Bytes) -> io::Result<()> {
    let len = u32::try_from(body.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over 4 GiB"))?;
    let header = Bytes::copy_from_slice(&len.to_be_bytes());
    let mut frame = header.chain(body);
    writer.write_all_buf(&mut frame).await?;
    writer.flush().await
}

/// Reads length-prefixed frames through one growing buffer, so a frame usually costs one
/// `read` system call, like the buffered readers of the WebSocket and HTTP libraries.
#[derive(Debug, Default)]
pub struct FrameReader {
    /// Bytes received but not yet returned as a frame.
    buffer: BytesMut,
}

impl FrameReader {
    /// Reads the next frame's body. [`WireError::Closed`] when the peer closed cleanly
    /// between frames.
    pub async fn read<R: AsyncRead + Unpin>(&mut self, reader: &mut R) -> Result<Bytes, WireError> {
        loop {
            if self.buffer.len() >= 4 {
                let len = u32::from_be_bytes([
                    self.buffer[0],
                    self.buffer[1],
                    self.buffer[2],
                    self.buffer[3],
                ]) as usize;
                if len > MAX_FRAME {
                    return Err(WireError::FrameTooLarge { len });
                }
                if self.buffer.len() >= 4 + len {
                    self.buffer.advance(4);
                    return Ok(self.buffer.split_to(len).freeze());
                }
                self.buffer.reserve(4 + len - self.buffer.len());
            } else {
                self.buffer.reserve(8 * 1024);
            }
            if reader.read_buf(&mut self.buffer).await? == 0 {
                return Err(if self.buffer.is_empty() {
                    WireError::Closed
                } else {
                    WireError::Io(io::ErrorKind::UnexpectedEof.into())
                });
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Both encodings round-trip, and a reply that is short, stale or has one byte changed
    /// is refused, each with its own error.
    #[test]
    fn both_encodings_round_trip_and_replies_are_checked() {
        for encoding in Encoding::ALL {
            let request = EchoRequest {
                seq: 3,
                payload: payload(100),
            };
            let bytes = encode_request(encoding, &request);
            let reply_bytes = echo(encoding, &bytes).unwrap();
            let reply = decode_reply(encoding, &reply_bytes).unwrap();
            assert_eq!(check_reply(&request, &reply), Ok(()));

            let short = EchoReply {
                seq: 3,
                payload: request.payload.slice(..99),
            };
            assert!(matches!(
                check_reply(&request, &short),
                Err(ReplyError::WrongLength { .. })
            ));
            let stale = EchoReply {
                seq: 2,
                payload: request.payload.clone(),
            };
            assert!(matches!(
                check_reply(&request, &stale),
                Err(ReplyError::WrongSeq { .. })
            ));
            let mut flipped = request.payload.to_vec();
            flipped[50] ^= 0x01;
            let corrupted = EchoReply {
                seq: 3,
                payload: flipped.into(),
            };
            assert_eq!(
                check_reply(&request, &corrupted),
                Err(ReplyError::WrongBytes)
            );
        }
    }

    #[tokio::test]
    async fn frames_round_trip() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let sent = payload(5000);
        let writer = tokio::spawn({
            let sent = sent.clone();
            async move { write_frame(&mut a, sent).await }
        });
        let mut reader = FrameReader::default();
        assert_eq!(reader.read(&mut b).await.unwrap(), sent);
        writer.await.unwrap().unwrap();
        assert!(matches!(reader.read(&mut b).await, Err(WireError::Closed)));
    }
}
