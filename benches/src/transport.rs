//! The axes a run is made of: which transport carries the messages, and how they are encoded.
//!
//! Keeping transport and encoding apart is what lets the harness say *where* the cost comes
//! from: every transport carries the same encoded bytes, so a difference between two rows of
//! the same encoding is the transport's, and a difference between the two encodings of one
//! transport is the encoding's. Chapter 11 of the book uses both comparisons.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// One way of getting a request to the server and its reply back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Transport {
    /// Length-prefixed frames straight on a TCP socket: the floor, what this machine's
    /// loopback costs with no protocol on top.
    Tcp,
    /// One WebSocket connection (axum on the server, tokio-tungstenite on the client);
    /// binary frames for protobuf, text frames for JSON.
    Ws,
    /// The same WebSocket client against Node's `ws` server (`benches/peers/`), the most
    /// used WebSocket server on npm: what a learner would otherwise deploy.
    NodeWs,
    /// REST: `POST /echo` on an HTTP/1.1 keep-alive connection.
    Http1,
    /// REST: `POST /echo` on an HTTP/2 connection opened with prior knowledge (h2c), one
    /// stream per request.
    Http2,
    /// gRPC unary: one HTTP/2 stream per call, headers and trailers included.
    GrpcUnary,
    /// gRPC bidirectional streaming: one long-lived HTTP/2 stream carries every request and
    /// reply, the closest gRPC gets to a WebSocket.
    GrpcStream,
}

impl Transport {
    /// Every transport, floor first: the order of the tables and charts.
    pub const ALL: [Transport; 7] = [
        Transport::Tcp,
        Transport::Ws,
        Transport::NodeWs,
        Transport::Http1,
        Transport::Http2,
        Transport::GrpcUnary,
        Transport::GrpcStream,
    ];

    /// The name used on the command line and in the result files.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Ws => "ws",
            Transport::NodeWs => "node-ws",
            Transport::Http1 => "http1",
            Transport::Http2 => "http2",
            Transport::GrpcUnary => "grpc-unary",
            Transport::GrpcStream => "grpc-stream",
        }
    }

    /// A longer label for tables and charts.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Tcp => "raw TCP (floor)",
            Transport::Ws => "WebSocket",
            Transport::NodeWs => "WebSocket, Node ws",
            Transport::Http1 => "REST HTTP/1.1",
            Transport::Http2 => "REST HTTP/2",
            Transport::GrpcUnary => "gRPC unary",
            Transport::GrpcStream => "gRPC bidi stream",
        }
    }

    /// The comma-separated list of names, for error messages and `--help`.
    pub fn known_names() -> String {
        Self::ALL.map(Transport::name).join(", ")
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Transport {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        // A few spellings a learner might type, so `--transports websocket,grpc` just works.
        let alias = match wanted.as_str() {
            "raw" | "raw-tcp" => "tcp",
            "websocket" => "ws",
            "node" | "nodews" | "ws-node" | "node-websocket" => "node-ws",
            "rest" | "http" | "http1.1" | "rest-http1" => "http1",
            "h2" | "h2c" | "rest-http2" => "http2",
            "grpc" | "unary" => "grpc-unary",
            "grpc-bidi" | "bidi" | "stream" => "grpc-stream",
            other => other,
        };
        Self::ALL
            .into_iter()
            .find(|t| t.name() == alias)
            .ok_or_else(|| ConfigError::UnknownTransport {
                given: s.to_string(),
                known: Self::known_names(),
            })
    }
}

/// How the echo message (`bench.v1.EchoRequest`) is turned into bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Encoding {
    /// protobuf (prost): the payload bytes plus a few bytes of tags and lengths.
    Proto,
    /// JSON (serde_json): `{"seq":7,"payload":"<base64>"}`, a third bigger and parsed as text.
    Json,
}

impl Encoding {
    /// Both encodings, protobuf first.
    pub const ALL: [Encoding; 2] = [Encoding::Proto, Encoding::Json];

    /// The name used on the command line and in the result files.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Proto => "proto",
            Encoding::Json => "json",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Encoding {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "proto" | "protobuf" | "pb" => Ok(Encoding::Proto),
            "json" => Ok(Encoding::Json),
            _ => Err(ConfigError::UnknownEncoding(s.to_string())),
        }
    }
}
