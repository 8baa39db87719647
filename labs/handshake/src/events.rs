//! What the lab makes visible: the connection's state changes, each message's lifecycle,
//! every frame annotated, the raw handshake, and errors.
//!
//! A [`Connection`](crate::connection::Connection) reports to an [`Observer`]: the server
//! forwards events to the browser's inspector socket, the command-line client prints them,
//! and both also log them through `tracing` (at debug level, with no payloads).

use std::sync::Arc;

use crate::inspect::AnnotatedFrame;

// ANCHOR: connection_state
/// The connection's state machine (chapter 1), as the source draws it:
/// Disconnected → Handshaking → Connected → Active ↔ Idle → Closing → Disconnected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ConnectionState {
    /// No TCP connection, or it has ended.
    Disconnected,
    /// TCP is up; the HTTP upgrade request and response are being exchanged.
    Handshaking,
    /// 101 Switching Protocols was sent (or received): frames may flow.
    Connected,
    /// Frames are flowing.
    Active,
    /// Nothing has arrived for the idle interval (since the handshake, or since the last
    /// frame); a ping asks whether the peer is still there. Any byte from the peer makes the
    /// connection Active again.
    Idle,
    /// A close frame was sent or received; waiting for the other side's.
    Closing,
}
// ANCHOR_END: connection_state

// ANCHOR: message_stage
/// A message's lifecycle (chapter 5): Created → Framed → Transmitted on the sending side,
/// Received → Parsed → Processed on the receiving side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum MessageStage {
    /// The application handed the message to the connection.
    Created,
    /// It was cut into frames (headers written, payload masked by a client).
    Framed,
    /// Its bytes were written to the socket and flushed.
    Transmitted,
    /// Its first frame arrived.
    Received,
    /// All its frames arrived, were reassembled and validated (UTF-8 for text).
    Parsed,
    /// The application has handled it (for the echo server: sent it back).
    Processed,
}
// ANCHOR_END: message_stage

/// Which way a frame or message went, seen from this end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Direction {
    /// From the peer to us.
    In,
    /// From us to the peer.
    Out,
}

/// One thing that happened on a connection.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The connection moved from one state to another.
    State {
        /// The state it left.
        from: ConnectionState,
        /// The state it entered.
        to: ConnectionState,
        /// Why, in a few words.
        why: String,
    },
    /// The opening handshake, as raw HTTP text.
    Handshake {
        /// The upgrade request.
        request: String,
        /// The server's answer.
        response: String,
    },
    /// A frame, annotated field by field.
    Frame(AnnotatedFrame),
    /// A message reached a stage of its lifecycle.
    Message {
        /// Numbered per connection and direction, from 1.
        id: u64,
        /// Sent or received.
        direction: Direction,
        /// The stage reached.
        stage: MessageStage,
        /// "Text" or "Binary".
        format: &'static str,
        /// Its size in bytes as known at this stage: the whole message, except at Received,
        /// where only its first frame has arrived.
        len: usize,
    },
    /// The connection failed; `close_code` is what we sent, if anything.
    Error {
        /// What went wrong.
        message: String,
        /// The close code sent to the peer, if one was.
        close_code: Option<u16>,
    },
}

/// An event with the connection it belongs to.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Tagged {
    /// The connection's number on this server (from 1), or 0 for a client.
    pub conn: u64,
    /// A label the client chose (the lab page passes `?tag=` so it can find its own
    /// connection among everyone's events).
    pub tag: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// Receives a connection's events. Cheap to clone.
#[derive(Clone, Default)]
pub struct Observer {
    /// The connection's number and tag, stamped on every event.
    conn: u64,
    tag: Option<String>,
    /// Where events go; `None` means nobody is watching and no annotation is computed.
    sink: Option<Arc<dyn Fn(Tagged) + Send + Sync>>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("conn", &self.conn)
            .field("tag", &self.tag)
            .field("watched", &self.sink.is_some())
            .finish()
    }
}

impl Observer {
    /// An observer that drops everything (events are still logged at debug level).
    pub fn none() -> Self {
        Self::default()
    }

    /// An observer that hands every event of connection `conn` to `sink`.
    pub fn new(
        conn: u64,
        tag: Option<String>,
        sink: impl Fn(Tagged) + Send + Sync + 'static,
    ) -> Self {
        Self {
            conn,
            tag,
            sink: Some(Arc::new(sink)),
        }
    }

    /// Is anyone watching? Annotating frames costs time; skip it when not.
    pub fn is_watching(&self) -> bool {
        self.sink.is_some()
    }

    /// Reports `event`.
    pub fn emit(&self, event: Event) {
        match &event {
            Event::State { from, to, why } => {
                tracing::debug!(conn = self.conn, ?from, ?to, why, "state")
            }
            Event::Message {
                id,
                direction,
                stage,
                len,
                ..
            } => {
                tracing::trace!(conn = self.conn, id, ?direction, ?stage, len, "message")
            }
            Event::Error {
                message,
                close_code,
            } => {
                tracing::debug!(conn = self.conn, message, ?close_code, "connection error")
            }
            Event::Handshake { .. } | Event::Frame(_) => {}
        }
        if let Some(sink) = &self.sink {
            sink(Tagged {
                conn: self.conn,
                tag: self.tag.clone(),
                event,
            });
        }
    }
}
