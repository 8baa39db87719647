//! The protobuf messages and gRPC services of the comparison harness, generated at build
//! time from `proto/bench/v1/bench.proto` (see `build.rs`).
//!
//! - [`bench::v1::EchoRequest`] / [`bench::v1::EchoReply`]: the echo workload.
//! - [`bench::v1::SubscribeRequest`] / [`bench::v1::Update`]: the server-push workload.
//! - `bench::v1::bench_server` and `bench::v1::bench_client`: the gRPC service, with one rpc
//!   of each streaming kind the harness compares (unary, server streaming, bidirectional).
//! - `bench::v1::bench_json_server` and `bench::v1::bench_json_client`: the echo rpcs again
//!   with JSON messages ([`json`]), so that the encoding axis applies to gRPC too.
//!
//! Chapter 11 of the book explains how the harness uses them.

/// Generated code is not ours to document line by line.
#[allow(missing_docs, clippy::unwrap_used)]
pub mod bench {
    /// Version 1 of the harness protocol.
    pub mod v1 {
        tonic::include_proto!("bench.v1");
        tonic::include_proto!("bench.v1.BenchJson");
    }
}

pub mod json;

#[cfg(test)]
mod tests {
    use super::bench::v1::{EchoRequest, Update};
    use prost::Message;

    /// Encoding then decoding gives the same message back, and the payload costs its size
    /// plus a few bytes of tags and lengths on the wire.
    #[test]
    fn round_trip_and_overhead() {
        let request = EchoRequest {
            seq: 7,
            payload: vec![0xAB; 4096].into(),
        };
        let bytes = request.encode_to_vec();
        assert_eq!(EchoRequest::decode(bytes.as_slice()).unwrap(), request);
        // tag+varint seq (2 bytes) + tag + 2-byte length + payload.
        assert_eq!(bytes.len(), 2 + 1 + 2 + 4096);

        let update = Update {
            seq: 1,
            sent_at_unix_nanos: 42,
            payload: vec![1, 2, 3].into(),
        };
        assert_eq!(
            Update::decode(update.encode_to_vec().as_slice()).unwrap(),
            update
        );
    }
}
