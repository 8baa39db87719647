//! The client side of every transport, behind one type: [`Connection::echo`] sends one
//! request and returns its reply, whatever carries it.
//!
//! Every client opens its own `TcpStream`, sets `TCP_NODELAY` on it, and wraps it in a
//! [`CountingStream`] before handing it to the protocol library (tokio-tungstenite, hyper,
//! tonic), so the harness sees every byte each protocol puts on the wire. One `Connection`
//! is one TCP connection: HTTP/2 and gRPC connections are not shared between the loops of a
//! run, so every transport gets the same number of sockets.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use protos::bench::v1::bench_client::BenchClient;
use protos::bench::v1::bench_json_client::BenchJsonClient;
use protos::bench::v1::{EchoReply, EchoRequest};
use thiserror::Error;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tonic::transport::{Channel, Endpoint};

use crate::counting::{ByteCounters, CountingStream};
use crate::server::ServerAddrs;
use crate::server::http::content_type;
use crate::transport::{Encoding, Transport};
use crate::wire::{self, FrameReader, MAX_FRAME, WireError};

/// Why a request failed. Every one is counted as an error by the load loops.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Connecting or reading/writing the socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The WebSocket library reported an error.
    #[error("WebSocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    /// hyper reported an error.
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    /// The REST server answered with an error status.
    #[error("HTTP status {0}")]
    HttpStatus(hyper::StatusCode),
    /// Building an HTTP request failed.
    #[error("HTTP request: {0}")]
    HttpRequest(#[from] hyper::http::Error),
    /// tonic could not connect.
    #[error("gRPC transport: {0}")]
    GrpcTransport(#[from] tonic::transport::Error),
    /// The gRPC call failed.
    #[error("gRPC status: {0}")]
    Grpc(#[from] tonic::Status),
    /// A frame or message could not be decoded.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The server closed the connection or stream before replying.
    #[error("the server closed the connection before replying")]
    Closed,
    /// The transport is a Node peer that is not running in this run.
    #[error("no Node peer is running for this transport (run benches/peers/install.sh)")]
    NoPeer,
    /// The workload needs the server's process id (a server in a child process).
    #[error("the server's process id is unknown (is the server a child process?)")]
    NoServerPid,
}

/// One HTTP connection driven by hand with hyper.
enum HttpSender {
    /// HTTP/1.1: one request at a time on a keep-alive connection.
    H1(http1::SendRequest<Full<Bytes>>),
    /// HTTP/2: one stream per request on one connection.
    H2(http2::SendRequest<Full<Bytes>>),
}

/// The client of one transport.
enum Inner {
    /// Raw frames.
    Tcp {
        /// The socket.
        stream: CountingStream,
        /// Buffer for incoming frames.
        reader: FrameReader,
    },
    /// A WebSocket.
    Ws(Box<WebSocketStream<CountingStream>>),
    /// REST over HTTP/1.1 or HTTP/2.
    Http {
        /// The hyper connection handle.
        sender: HttpSender,
        /// `http://127.0.0.1:<port>/echo`.
        uri: hyper::Uri,
    },
    /// gRPC unary calls on one channel (one HTTP/2 connection), protobuf messages.
    GrpcUnary(BenchClient<Channel>),
    /// The same with JSON messages (the `BenchJson` service, see `protos::json`).
    GrpcUnaryJson(BenchJsonClient<Channel>),
    /// One gRPC bidirectional stream.
    GrpcStream {
        /// Feeds requests into the stream.
        requests: mpsc::Sender<EchoRequest>,
        /// Replies, in order.
        replies: tonic::Streaming<EchoReply>,
    },
}

/// One client connection of one transport, counting its bytes.
pub struct Connection {
    /// Which transport this is.
    pub transport: Transport,
    /// How requests are encoded.
    pub encoding: Encoding,
    /// Bytes written and read on the socket.
    pub counters: Arc<ByteCounters>,
    /// The protocol client.
    inner: Inner,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("transport", &self.transport)
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

/// Opens a TCP connection with `TCP_NODELAY` as asked, wrapped to count bytes.
async fn open_socket(
    addr: SocketAddr,
    nodelay: bool,
    counters: &Arc<ByteCounters>,
) -> Result<CountingStream, ClientError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(nodelay)?;
    Ok(CountingStream::new(stream, counters.clone()))
}

impl Connection {
    /// Connects to the server's listener for `transport` and does whatever handshake the
    /// protocol needs (encoding byte, WebSocket upgrade, HTTP/2 preface, gRPC stream), so
    /// the first [`Connection::echo`] measures a request and not the setup.
    pub async fn open(
        transport: Transport,
        encoding: Encoding,
        addrs: &ServerAddrs,
        nodelay: bool,
    ) -> Result<Self, ClientError> {
        let counters = Arc::new(ByteCounters::default());
        let inner = match transport {
            Transport::Tcp => {
                let mut stream = open_socket(addrs.tcp, nodelay, &counters).await?;
                stream.write_u8(wire::encoding_hello(encoding)).await?;
                Inner::Tcp {
                    stream,
                    reader: FrameReader::default(),
                }
            }
            Transport::Ws | Transport::NodeWs => {
                // The same client for both servers: only the address differs.
                let (addr, path) = match transport {
                    Transport::NodeWs => (addrs.node_ws.ok_or(ClientError::NoPeer)?, "/"),
                    _ => (addrs.http, "/ws"),
                };
                let stream = open_socket(addr, nodelay, &counters).await?;
                let config = WebSocketConfig::default()
                    .max_message_size(Some(MAX_FRAME))
                    .max_frame_size(Some(MAX_FRAME));
                let url = format!("ws://{addr}{path}");
                let (socket, _response) =
                    tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
                Inner::Ws(Box::new(socket))
            }
            Transport::Http1 => {
                let stream = open_socket(addrs.http, nodelay, &counters).await?;
                let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(async move {
                    if let Err(err) = connection.await {
                        tracing::debug!(%err, "HTTP/1.1 connection ended");
                    }
                });
                Inner::Http {
                    sender: HttpSender::H1(sender),
                    uri: echo_uri(addrs.http)?,
                }
            }
            Transport::Http2 => {
                let stream = open_socket(addrs.http, nodelay, &counters).await?;
                let (sender, connection) =
                    http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
                tokio::spawn(async move {
                    if let Err(err) = connection.await {
                        tracing::debug!(%err, "HTTP/2 connection ended");
                    }
                });
                Inner::Http {
                    sender: HttpSender::H2(sender),
                    uri: echo_uri(addrs.http)?,
                }
            }
            Transport::GrpcUnary | Transport::GrpcStream => {
                let channel = grpc_channel(addrs.grpc, nodelay, &counters).await?;
                // The same rpcs, with the protobuf codec (`Bench`) or the JSON one
                // (`BenchJson`).
                let mut proto = BenchClient::new(channel.clone())
                    .max_decoding_message_size(MAX_FRAME)
                    .max_encoding_message_size(MAX_FRAME);
                let mut json = BenchJsonClient::new(channel)
                    .max_decoding_message_size(MAX_FRAME)
                    .max_encoding_message_size(MAX_FRAME);
                match (transport, encoding) {
                    (Transport::GrpcUnary, Encoding::Proto) => Inner::GrpcUnary(proto),
                    (Transport::GrpcUnary, Encoding::Json) => Inner::GrpcUnaryJson(json),
                    _ => {
                        // A channel of one: the loop sends a request only after the previous
                        // reply, so there is never more than one waiting.
                        let (requests, mut rx) = mpsc::channel::<EchoRequest>(1);
                        let outbound = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
                        let replies = match encoding {
                            Encoding::Proto => proto.echo_stream(outbound).await?,
                            Encoding::Json => json.echo_stream(outbound).await?,
                        };
                        Inner::GrpcStream {
                            requests,
                            replies: replies.into_inner(),
                        }
                    }
                }
            }
        };
        Ok(Self {
            transport,
            encoding,
            counters,
            inner,
        })
    }

    /// Sends `request` and waits for its reply. The reply is decoded but not checked: the
    /// caller stops its clock first, then checks it with [`wire::check_reply`].
    pub async fn echo(&mut self, request: &EchoRequest) -> Result<EchoReply, ClientError> {
        let encoding = self.encoding;
        match &mut self.inner {
            Inner::Tcp { stream, reader } => {
                wire::write_frame(stream, wire::encode_request(encoding, request)).await?;
                let reply = reader.read(stream).await.map_err(|err| match err {
                    WireError::Closed => ClientError::Closed,
                    other => ClientError::Wire(other),
                })?;
                Ok(wire::decode_reply(encoding, &reply)?)
            }
            Inner::Ws(socket) => {
                let body = wire::encode_request(encoding, request);
                let message = match encoding {
                    Encoding::Proto => Message::Binary(body),
                    // Invariant: serde_json writes UTF-8.
                    Encoding::Json => Message::Text(body.try_into().expect("JSON is UTF-8")),
                };
                socket.send(message).await?;
                loop {
                    match socket.next().await {
                        Some(Ok(Message::Binary(reply))) => {
                            return Ok(wire::decode_reply(encoding, &reply)?);
                        }
                        Some(Ok(Message::Text(reply))) => {
                            return Ok(wire::decode_reply(encoding, reply.as_bytes())?);
                        }
                        Some(Ok(Message::Close(_))) | None => return Err(ClientError::Closed),
                        // Ping, pong: not a reply.
                        Some(Ok(_)) => continue,
                        Some(Err(err)) => return Err(err.into()),
                    }
                }
            }
            Inner::Http { sender, uri } => {
                let request = hyper::Request::post(uri.clone())
                    .header(hyper::header::CONTENT_TYPE, content_type(encoding))
                    .body(Full::new(wire::encode_request(encoding, request)))?;
                let response = match sender {
                    HttpSender::H1(sender) => {
                        sender.ready().await?;
                        sender.send_request(request).await?
                    }
                    HttpSender::H2(sender) => {
                        sender.ready().await?;
                        sender.send_request(request).await?
                    }
                };
                if !response.status().is_success() {
                    return Err(ClientError::HttpStatus(response.status()));
                }
                let body = response.into_body().collect().await?.to_bytes();
                Ok(wire::decode_reply(encoding, &body)?)
            }
            Inner::GrpcUnary(client) => Ok(client.echo(request.clone()).await?.into_inner()),
            Inner::GrpcUnaryJson(client) => Ok(client.echo(request.clone()).await?.into_inner()),
            Inner::GrpcStream { requests, replies } => {
                requests
                    .send(request.clone())
                    .await
                    .map_err(|_| ClientError::Closed)?;
                replies.message().await?.ok_or(ClientError::Closed)
            }
        }
    }
}

/// `http://<addr>/echo`.
fn echo_uri(addr: SocketAddr) -> Result<hyper::Uri, ClientError> {
    hyper::Uri::try_from(format!("http://{addr}/echo"))
        .map_err(|err| ClientError::HttpRequest(err.into()))
}

/// A tonic channel over one counted socket of our own (instead of tonic's connector), so
/// `TCP_NODELAY` and the byte count are the same as for every other transport.
pub async fn grpc_channel(
    addr: SocketAddr,
    nodelay: bool,
    counters: &Arc<ByteCounters>,
) -> Result<Channel, ClientError> {
    let counters = counters.clone();
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?;
    let connector = tower::service_fn(move |_uri: hyper::Uri| {
        let counters = counters.clone();
        async move {
            let stream = open_socket(addr, nodelay, &counters).await?;
            Ok::<_, ClientError>(TokioIo::new(stream))
        }
    });
    Ok(endpoint.connect_with_connector(connector).await?)
}
