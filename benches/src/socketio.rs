//! A small Socket.IO client in Rust: how the harness talks to the Socket.IO peer
//! ([`crate::peers::PeerKind::SocketIo`]), the server a NestJS gateway runs on by default.
//!
//! Why write one: the comparison is fair only if the *client* is the same on both sides,
//! so the measured difference is the server's. This client runs on the same tokio runtime,
//! the same tokio-tungstenite, the same counted `TCP_NODELAY` socket ([`CountingStream`]) as
//! the harness's clients of our own servers. Why not the `rust_socketio` crate: its 0.6
//! release brings a second, older tungstenite (0.21, ours is 0.29), OpenSSL through
//! native-tls and a blocking reqwest for its HTTP long-polling transport, and hands events
//! to callbacks rather than to an awaiting loop. The framing below is some 150 lines and has
//! no polling transport to fall back to by accident.
//!
//! The two layers, as they appear on the wire (each WebSocket text message is one packet):
//!
//! ```text
//! Engine.IO v4 (the connection)      Socket.IO v5 (inside an Engine.IO "4" message)
//! 0{"sid":..,"pingInterval":..}  open     40            connect to namespace "/"
//! 1                              close    40{"sid":..}  the server's answer
//! 2 / 3                          ping / pong (server pings, client answers)
//! 4...                           message  41            disconnect
//! 6                              noop     42["event",data]       an event
//!                                         42<id>["event",data]   an event asking for an ack
//!                                         43<id>[data]           the ack of request <id>
//!                                         44{"message":..}       connect refused
//! ```
//!
//! Out of scope, and refused with [`SioError::Binary`] or [`SioError::Protocol`]: binary
//! attachments (`45`/`46` packets and binary WebSocket frames: a payload travels as JSON,
//! base64 for bytes), namespaces other than `/`, and acks the *server* asks of the client.
//! Every await here waits on the network; the caller bounds it with a timeout.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::counting::{ByteCounters, CountingStream};
use crate::wire::MAX_FRAME;

/// Why a Socket.IO exchange failed.
#[derive(Debug, Error)]
pub enum SioError {
    /// Connecting the socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The WebSocket library reported an error.
    #[error("WebSocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    /// A packet's JSON could not be read.
    #[error("malformed JSON in a packet: {0}")]
    Json(#[from] serde_json::Error),
    /// A packet we cannot read, or one that makes no sense at this point.
    #[error("Socket.IO protocol: {0}")]
    Protocol(String),
    /// A binary frame or attachment: out of scope for this client.
    #[error("binary Socket.IO packets are not supported")]
    Binary,
    /// The server refused the connection to the namespace (`44`).
    #[error("connection refused by the server: {0}")]
    Refused(Value),
    /// An ack that answers no request we are waiting for.
    #[error("ack {got} arrived, expected {expected:?}")]
    UnexpectedAck {
        /// The id we wait for, if any.
        expected: Option<u64>,
        /// The id that came.
        got: u64,
    },
    /// The server closed the connection or disconnected us.
    #[error("connection closed by the server")]
    Closed,
}

/// The Engine.IO open packet (`0{...}`): the session and its heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    /// The Engine.IO session id.
    pub sid: String,
    /// How often the server pings, in milliseconds.
    pub ping_interval: u64,
    /// How long it waits for our pong before dropping us, in milliseconds.
    pub ping_timeout: u64,
    /// The largest packet the server accepts, in bytes (its `maxHttpBufferSize`).
    pub max_payload: u64,
}

/// One packet of either layer, as one WebSocket text message carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    /// Engine.IO `0`: the session opens.
    Open(Handshake),
    /// Engine.IO `1`: the session closes.
    Close,
    /// Engine.IO `2`: the server's heartbeat.
    Ping,
    /// Engine.IO `3`: our answer to it.
    Pong,
    /// Engine.IO `6`: nothing.
    Noop,
    /// Socket.IO `40`: connect to `/` (from us, no data; from the server, `{"sid":..}`).
    Connect(Option<Value>),
    /// Socket.IO `41`: leave `/`.
    Disconnect,
    /// Socket.IO `42`: an event and its arguments, asking for an ack when `id` is set.
    Event {
        /// The ack id, if an ack is asked for.
        id: Option<u64>,
        /// The event's name.
        name: String,
        /// Its arguments (the harness's events have one).
        args: Vec<Value>,
    },
    /// Socket.IO `43`: the arguments of the ack of request `id`.
    Ack {
        /// The request it answers.
        id: u64,
        /// The ack's arguments.
        args: Vec<Value>,
    },
    /// Socket.IO `44`: the server refused the connect.
    ConnectError(Value),
}

/// The text of one packet.
pub fn encode(packet: &Packet) -> String {
    match packet {
        Packet::Open(handshake) => format!(
            "0{}",
            // Invariant: a struct of strings and integers always serialises.
            serde_json::to_string(handshake).expect("a Handshake serialises")
        ),
        Packet::Close => "1".into(),
        Packet::Ping => "2".into(),
        Packet::Pong => "3".into(),
        Packet::Noop => "6".into(),
        Packet::Connect(None) => "40".into(),
        Packet::Connect(Some(data)) => format!("40{data}"),
        Packet::Disconnect => "41".into(),
        Packet::Event { id, name, args } => {
            let mut array = Vec::with_capacity(args.len() + 1);
            array.push(Value::String(name.clone()));
            array.extend(args.iter().cloned());
            format!("42{}{}", id_text(*id), Value::Array(array))
        }
        Packet::Ack { id, args } => format!("43{id}{}", Value::Array(args.clone())),
        Packet::ConnectError(data) => format!("44{data}"),
    }
}

/// `42<id>["name",data]` straight from `data`, without building a [`Packet`]: what an emit
/// sends, so a large payload is serialised once and never cloned.
fn encode_event(
    id: Option<u64>,
    name: &str,
    data: &(impl Serialize + ?Sized),
) -> Result<String, SioError> {
    Ok(format!(
        "42{}{}",
        id_text(id),
        serde_json::to_string(&(name, data))?
    ))
}

/// An ack id as it is written, or nothing.
fn id_text(id: Option<u64>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

/// Reads one packet from the text of one WebSocket message.
pub fn decode(text: &str) -> Result<Packet, SioError> {
    let (kind, rest) = split_first(text)?;
    Ok(match kind {
        '0' => Packet::Open(serde_json::from_str(rest)?),
        '1' => Packet::Close,
        // A ping may carry "probe" during a transport upgrade; there is none here.
        '2' => Packet::Ping,
        '3' => Packet::Pong,
        '4' => decode_socket(rest)?,
        '6' => Packet::Noop,
        other => {
            return Err(SioError::Protocol(format!(
                "unknown Engine.IO packet {other:?}"
            )));
        }
    })
}

/// Reads a Socket.IO packet: `<type>[<namespace>,][<ack id>][<json>]`.
fn decode_socket(text: &str) -> Result<Packet, SioError> {
    let (kind, mut rest) = split_first(text)?;
    if matches!(kind, '5' | '6') {
        return Err(SioError::Binary);
    }
    if rest.starts_with('/') {
        let (namespace, after) = rest.split_once(',').unwrap_or((rest, ""));
        if namespace != "/" {
            return Err(SioError::Protocol(format!(
                "namespace {namespace} (only / is used)"
            )));
        }
        rest = after;
    }
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let id = match digits {
        0 => None,
        _ => Some(
            rest[..digits]
                .parse::<u64>()
                .map_err(|err| SioError::Protocol(format!("ack id: {err}")))?,
        ),
    };
    let json = &rest[digits..];
    Ok(match kind {
        '0' if json.is_empty() => Packet::Connect(None),
        '0' => Packet::Connect(Some(serde_json::from_str(json)?)),
        '1' => Packet::Disconnect,
        '2' => {
            let mut args: Vec<Value> = serde_json::from_str(json)?;
            if args.is_empty() {
                return Err(SioError::Protocol("event without a name".into()));
            }
            match args.remove(0) {
                Value::String(name) => Packet::Event { id, name, args },
                other => return Err(SioError::Protocol(format!("event name {other}"))),
            }
        }
        '3' => Packet::Ack {
            id: id.ok_or_else(|| SioError::Protocol("ack without an id".into()))?,
            args: serde_json::from_str(json)?,
        },
        '4' => Packet::ConnectError(serde_json::from_str(json)?),
        other => {
            return Err(SioError::Protocol(format!(
                "unknown Socket.IO packet {other:?}"
            )));
        }
    })
}

/// The first character of a packet (its type) and the rest.
fn split_first(text: &str) -> Result<(char, &str), SioError> {
    let mut chars = text.chars();
    let first = chars
        .next()
        .ok_or_else(|| SioError::Protocol("empty packet".into()))?;
    Ok((first, chars.as_str()))
}

/// The first argument of an event or ack, `null` if it has none: the harness's events carry
/// exactly one, as `socket.emit("echo", data, ack)` and `ack(data)` do.
fn first(args: Vec<Value>) -> Value {
    args.into_iter().next().unwrap_or(Value::Null)
}

/// The WebSocket underneath, on the counted socket every harness client uses.
type Socket = WebSocketStream<CountingStream>;

/// The writing half, shared: the receiver must answer pings while the sender sends. A tokio
/// mutex, because it is held across the send's await; uncontended, it costs next to nothing.
type SharedSink = Arc<Mutex<SplitSink<Socket, Message>>>;

/// What arrives once connected.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// An event the server emitted (`42`), with its first argument.
    Event {
        /// The event's name.
        name: String,
        /// Its first argument.
        data: Value,
    },
    /// The ack (`43`) of the request `id` sent with [`SioSender::emit_with_id`].
    Ack {
        /// The request it answers.
        id: u64,
        /// Its first argument.
        data: Value,
    },
}

/// The sending half: emits events, with or without an ack id.
#[derive(Debug)]
pub struct SioSender {
    /// The WebSocket's writing half, shared with the receiver's pongs.
    sink: SharedSink,
    /// The next ack id: 0, 1, 2... as the JavaScript client counts them.
    next_id: u64,
}

impl SioSender {
    /// Emits `event` with `data` (`42["event",data]`), asking for no ack.
    pub async fn emit(
        &mut self,
        event: &str,
        data: &(impl Serialize + ?Sized),
    ) -> Result<(), SioError> {
        let text = encode_event(None, event, data)?;
        self.sink.lock().await.send(Message::text(text)).await?;
        Ok(())
    }

    /// Emits `event` with `data` asking for an ack (`42<id>["event",data]`) and returns the
    /// id, which the receiver's [`Incoming::Ack`] will carry. Several may be in flight.
    pub async fn emit_with_id(
        &mut self,
        event: &str,
        data: &(impl Serialize + ?Sized),
    ) -> Result<u64, SioError> {
        let id = self.next_id;
        self.next_id += 1;
        let text = encode_event(Some(id), event, data)?;
        self.sink.lock().await.send(Message::text(text)).await?;
        Ok(id)
    }

    /// Leaves the namespace (`41`) and closes the WebSocket, as `socket.disconnect()` does.
    pub async fn close(&mut self) -> Result<(), SioError> {
        let mut sink = self.sink.lock().await;
        sink.send(Message::text(encode(&Packet::Disconnect)))
            .await?;
        sink.close().await?;
        Ok(())
    }
}

/// The receiving half: events and acks, answering the server's pings on the way.
#[derive(Debug)]
pub struct SioReceiver {
    /// The WebSocket's reading half.
    stream: SplitStream<Socket>,
    /// The writing half, for pongs.
    sink: SharedSink,
    /// Events that arrived while [`SioClient::emit_with_ack`] waited for its ack, in order.
    pending: VecDeque<(String, Value)>,
}

impl SioReceiver {
    /// The next packet other than a ping (answered with a pong) or a noop.
    async fn next_packet(&mut self) -> Result<Packet, SioError> {
        loop {
            let message = self.stream.next().await.ok_or(SioError::Closed)??;
            let packet = match message {
                Message::Text(text) => decode(text.as_str())?,
                Message::Binary(_) => return Err(SioError::Binary),
                Message::Close(_) => return Err(SioError::Closed),
                // WebSocket pings are answered by tungstenite; Engine.IO has its own.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            match packet {
                Packet::Ping => {
                    let pong = Message::text(encode(&Packet::Pong));
                    self.sink.lock().await.send(pong).await?;
                }
                Packet::Noop => {}
                other => return Ok(other),
            }
        }
    }

    /// The next event or ack.
    pub async fn next(&mut self) -> Result<Incoming, SioError> {
        if let Some((name, data)) = self.pending.pop_front() {
            return Ok(Incoming::Event { name, data });
        }
        match self.next_packet().await? {
            Packet::Event { name, args, .. } => Ok(Incoming::Event {
                name,
                data: first(args),
            }),
            Packet::Ack { id, args } => Ok(Incoming::Ack {
                id,
                data: first(args),
            }),
            Packet::Disconnect | Packet::Close => Err(SioError::Closed),
            other => Err(SioError::Protocol(format!("unexpected {other:?}"))),
        }
    }

    /// The next event's name and first argument; an ack here answers nothing we asked.
    pub async fn next_event(&mut self) -> Result<(String, Value), SioError> {
        match self.next().await? {
            Incoming::Event { name, data } => Ok((name, data)),
            Incoming::Ack { id, .. } => Err(SioError::UnexpectedAck {
                expected: None,
                got: id,
            }),
        }
    }
}

/// A Socket.IO client connected to namespace `/` over the websocket transport.
#[derive(Debug)]
pub struct SioClient {
    /// What the server said when the session opened.
    pub handshake: Handshake,
    /// Bytes written and read on the socket, WebSocket and Socket.IO framing included.
    pub counters: Arc<ByteCounters>,
    /// The sending half.
    sender: SioSender,
    /// The receiving half.
    receiver: SioReceiver,
}

impl SioClient {
    /// Opens `ws://<addr>/socket.io/?EIO=4&transport=websocket` on a `TCP_NODELAY` socket,
    /// reads the open packet, connects to `/` and waits for the server's `40`.
    pub async fn connect(addr: SocketAddr) -> Result<Self, SioError> {
        let counters = Arc::new(ByteCounters::default());
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let stream = CountingStream::new(stream, counters.clone());
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME))
            .max_frame_size(Some(MAX_FRAME));
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (socket, _response) =
            tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
        let (sink, stream) = socket.split();
        let sink = Arc::new(Mutex::new(sink));
        let sender = SioSender {
            sink: sink.clone(),
            next_id: 0,
        };
        let mut receiver = SioReceiver {
            stream,
            sink,
            pending: VecDeque::new(),
        };
        let handshake = match receiver.next_packet().await? {
            Packet::Open(handshake) => handshake,
            other => return Err(SioError::Protocol(format!("expected open, got {other:?}"))),
        };
        let connect = Message::text(encode(&Packet::Connect(None)));
        sender.sink.lock().await.send(connect).await?;
        match receiver.next_packet().await? {
            Packet::Connect(_) => {}
            Packet::ConnectError(data) => return Err(SioError::Refused(data)),
            other => {
                return Err(SioError::Protocol(format!(
                    "expected connect, got {other:?}"
                )));
            }
        }
        tracing::debug!(%addr, sid = %handshake.sid, "Socket.IO connected");
        Ok(Self {
            handshake,
            counters,
            sender,
            receiver,
        })
    }

    /// Emits `event` with `data`, asking for no ack.
    pub async fn emit(
        &mut self,
        event: &str,
        data: &(impl Serialize + ?Sized),
    ) -> Result<(), SioError> {
        self.sender.emit(event, data).await
    }

    /// Emits `event` with `data` and waits for its ack's first argument. Events that arrive
    /// meanwhile are kept, in order, for [`SioClient::next_event`]. One request is in flight
    /// at a time: if a caller's timeout abandons one, its ack still arrives later, and the
    /// next call reports it as [`SioError::UnexpectedAck`] rather than take it for its own.
    pub async fn emit_with_ack(
        &mut self,
        event: &str,
        data: &(impl Serialize + ?Sized),
    ) -> Result<Value, SioError> {
        let id = self.sender.emit_with_id(event, data).await?;
        loop {
            match self.receiver.next_packet().await? {
                Packet::Ack { id: got, args } if got == id => return Ok(first(args)),
                Packet::Ack { id: got, .. } => {
                    return Err(SioError::UnexpectedAck {
                        expected: Some(id),
                        got,
                    });
                }
                Packet::Event { name, args, .. } => {
                    self.receiver.pending.push_back((name, first(args)));
                }
                Packet::Disconnect | Packet::Close => return Err(SioError::Closed),
                other => return Err(SioError::Protocol(format!("unexpected {other:?}"))),
            }
        }
    }

    /// The next event's name and first argument.
    pub async fn next_event(&mut self) -> Result<(String, Value), SioError> {
        self.receiver.next_event().await
    }

    /// The two halves, to send from one task and receive in another (a room member only
    /// receives, a publisher only sends). Pings keep being answered by the receiver.
    pub fn into_split(self) -> (SioSender, SioReceiver) {
        (self.sender, self.receiver)
    }

    /// Disconnects and closes the WebSocket.
    pub async fn close(mut self) -> Result<(), SioError> {
        self.sender.close().await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Each packet the client sends or receives reads back as itself from its text.
    #[test]
    fn packets_round_trip() {
        let packets = [
            Packet::Open(Handshake {
                sid: "abc".into(),
                ping_interval: 25_000,
                ping_timeout: 20_000,
                max_payload: 1_000_000,
            }),
            Packet::Close,
            Packet::Ping,
            Packet::Pong,
            Packet::Noop,
            Packet::Connect(None),
            Packet::Connect(Some(json!({"sid": "xyz"}))),
            Packet::Disconnect,
            Packet::Event {
                id: None,
                name: "msg".into(),
                args: vec![json!("hi")],
            },
            Packet::Event {
                id: Some(12),
                name: "echo".into(),
                args: vec![json!({"seq": 1}), json!(2)],
            },
            Packet::Ack {
                id: 12,
                args: vec![json!([1, 2])],
            },
            Packet::ConnectError(json!({"message": "Not authorized"})),
        ];
        for packet in packets {
            let text = encode(&packet);
            assert_eq!(decode(&text).unwrap(), packet, "{text}");
        }
    }

    /// The texts the Socket.IO protocol documents decode to what they mean, and an emit
    /// writes what the JavaScript client writes.
    #[test]
    fn wire_texts_match_the_protocol() {
        let open = decode(
            r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}"#,
        )
        .unwrap();
        assert!(matches!(
            open,
            Packet::Open(Handshake {
                ping_timeout: 5000,
                ..
            })
        ));
        assert_eq!(
            decode(r#"4312["bar"]"#).unwrap(),
            Packet::Ack {
                id: 12,
                args: vec![json!("bar")]
            }
        );
        assert_eq!(
            decode(r#"42/,["hello",1]"#).unwrap(),
            Packet::Event {
                id: None,
                name: "hello".into(),
                args: vec![json!(1)]
            }
        );
        assert_eq!(
            encode_event(Some(3), "echo", &json!({"a": "b"})).unwrap(),
            r#"423["echo",{"a":"b"}]"#
        );
        assert_eq!(
            encode_event(None, "broadcast", "x").unwrap(),
            r#"42["broadcast","x"]"#
        );
        assert_eq!(encode(&Packet::Connect(None)), "40");
        assert_eq!(encode(&Packet::Pong), "3");
    }

    /// What this client does not speak is refused with its own error, never misread.
    #[test]
    fn out_of_scope_and_malformed_packets_are_refused() {
        assert!(matches!(
            decode(r#"451-["hello",{"_placeholder":true,"num":0}]"#),
            Err(SioError::Binary)
        ));
        assert!(matches!(
            decode(r#"42/admin,["x"]"#),
            Err(SioError::Protocol(_))
        ));
        assert!(matches!(decode(r#"42[1,2]"#), Err(SioError::Protocol(_))));
        assert!(matches!(decode(r#"42[]"#), Err(SioError::Protocol(_))));
        assert!(matches!(
            decode(r#"43["no id"]"#),
            Err(SioError::Protocol(_))
        ));
        assert!(matches!(decode(r#"42["x",}"#), Err(SioError::Json(_))));
        assert!(matches!(decode("9"), Err(SioError::Protocol(_))));
        assert!(matches!(decode(""), Err(SioError::Protocol(_))));
    }
}
