//! The JSON encoding of the echo messages, and a tonic codec that carries them over gRPC.
//!
//! JSON has no bytes type, so the payload travels as base64, as a REST API would send it:
//! `{"seq":7,"payload":"q83v..."}`. The comparison harness encodes its JSON requests with
//! these same functions on every transport (raw TCP, WebSocket, REST and gRPC), so a JSON row
//! of one transport and a JSON row of another carry byte-for-byte the same message.
//!
//! gRPC is not tied to protobuf: the wire format is a 5-byte prefix (compressed flag, length)
//! before each message, and the codec decides what the message bytes are. [`JsonCodec`] is the
//! codec of the `BenchJson` service (`bench.v1.BenchJson`, generated in `build.rs` with
//! `tonic_build::manual`), the same echo rpcs as `Bench` with JSON bodies.

use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{Buf as _, BufMut as _, Bytes};
use serde::{Deserialize, Serialize};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::bench::v1::{EchoReply, EchoRequest};

/// A message with a JSON form.
pub trait JsonMessage: Sized {
    /// Appends the message's JSON to `out`.
    fn write_json(&self, out: &mut Vec<u8>);
    /// Parses the message from JSON; the error says what is wrong.
    fn from_json(bytes: &[u8]) -> Result<Self, String>;
}

/// The JSON shape of both echo messages.
#[derive(Serialize, Deserialize)]
struct JsonEcho<'a> {
    seq: u64,
    #[serde(borrow)]
    payload: std::borrow::Cow<'a, str>,
}

/// `{"seq":<seq>,"payload":"<base64>"}` appended to `out`.
fn write_echo(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    let message = JsonEcho {
        seq,
        payload: BASE64.encode(payload).into(),
    };
    // Invariant: a struct of a number and a string always serializes, and a Vec never fails
    // to take the bytes.
    serde_json::to_writer(out, &message).expect("a JSON echo message always serializes");
}

/// The sequence number and payload of an echo message in JSON.
fn read_echo(bytes: &[u8]) -> Result<(u64, Bytes), String> {
    let message: JsonEcho<'_> = serde_json::from_slice(bytes).map_err(|err| err.to_string())?;
    let payload = BASE64
        .decode(message.payload.as_bytes())
        .map_err(|err| format!("payload is not base64: {err}"))?;
    Ok((message.seq, payload.into()))
}

impl JsonMessage for EchoRequest {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_echo(self.seq, &self.payload, out);
    }

    fn from_json(bytes: &[u8]) -> Result<Self, String> {
        read_echo(bytes).map(|(seq, payload)| Self { seq, payload })
    }
}

impl JsonMessage for EchoReply {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_echo(self.seq, &self.payload, out);
    }

    fn from_json(bytes: &[u8]) -> Result<Self, String> {
        read_echo(bytes).map(|(seq, payload)| Self { seq, payload })
    }
}

/// The JSON of `message` in a buffer of its own.
pub fn to_json<M: JsonMessage>(message: &M) -> Bytes {
    let mut out = Vec::new();
    message.write_json(&mut out);
    out.into()
}

/// A tonic codec that encodes `E` and decodes `D` as JSON ([`JsonMessage`]).
#[derive(Debug)]
pub struct JsonCodec<E, D>(PhantomData<(E, D)>);

impl<E, D> Default for JsonCodec<E, D> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<E, D> Codec for JsonCodec<E, D>
where
    E: JsonMessage + Send + 'static,
    D: JsonMessage + Send + 'static,
{
    type Encode = E;
    type Decode = D;
    type Encoder = JsonEncoder<E>;
    type Decoder = JsonDecoder<D>;

    fn encoder(&mut self) -> Self::Encoder {
        JsonEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        JsonDecoder(PhantomData)
    }
}

// ANCHOR: codec
/// The encoding half of [`JsonCodec`].
#[derive(Debug)]
pub struct JsonEncoder<E>(PhantomData<E>);

impl<E: JsonMessage> Encoder for JsonEncoder<E> {
    type Item = E;
    type Error = Status;

    fn encode(&mut self, item: E, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        let mut json = Vec::new();
        item.write_json(&mut json);
        dst.put_slice(&json);
        Ok(())
    }
}

/// The decoding half of [`JsonCodec`].
#[derive(Debug)]
pub struct JsonDecoder<D>(PhantomData<D>);

impl<D: JsonMessage> Decoder for JsonDecoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        // tonic hands over exactly one message's bytes.
        let bytes = src.copy_to_bytes(src.remaining());
        D::from_json(&bytes)
            .map(Some)
            .map_err(|problem| Status::invalid_argument(format!("invalid JSON message: {problem}")))
    }
}
// ANCHOR_END: codec

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_messages_round_trip_with_a_base64_payload() {
        let request = EchoRequest {
            seq: 7,
            payload: Bytes::from_static(&[0xAB, 0xCD, 0xEF]),
        };
        let json = to_json(&request);
        assert_eq!(&json[..], br#"{"seq":7,"payload":"q83v"}"#);
        assert_eq!(EchoRequest::from_json(&json), Ok(request));
        assert!(EchoReply::from_json(br#"{"seq":1,"payload":"not base64!"}"#).is_err());
        assert!(EchoReply::from_json(b"{").is_err());
    }
}
