//! A WebSocket connection after the handshake: messages in, messages out, and the rules in
//! between (fragmentation, UTF-8, ping/pong, the closing handshake, heartbeat).
//!
//! One [`Connection`] owns its socket and is driven by one task: `recv` reads frames until
//! a whole message is there, answering pings on the way; `send` writes a message as one
//! frame. That keeps the code readable, at the price of not reading and writing at the
//! same time: the gateway lab (chapter 6) splits a socket into a reader and a writer task
//! for that.
//!
//! Chapters 4 and 5 of the book walk through this file.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::close::CloseFrame;
use crate::codec::{FrameCodec, Limits, Role};
use crate::deflate::{Agreed, DeflateConfig, PerMessageDeflate};
use crate::error::{Error, ProtocolError};
use crate::events::{ConnectionState, Direction, Event, MessageStage, Observer};
use crate::frame::{Frame, OpCode};
use crate::inspect::{Original, annotate, note_compression_negotiated};
use crate::utf8::Utf8Validator;

/// How long a client waits for the server to close TCP after the closing handshake.
const CLIENT_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// How long a server that failed a connection goes on reading, and discarding, what the
/// peer is still sending. A socket closed with unread bytes in it is answered by the kernel
/// with a reset (RST), and a reset can destroy our close frame before the peer reads it: a
/// client still writing a 16 MiB message would see 1006 instead of our 1009 (Node's `ws`
/// did, most of the time, before this wait).
const FAIL_DRAIN_WAIT: Duration = Duration::from_secs(1);

/// A message, as the application sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8, checked).
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A ping from the peer; already answered with a pong.
    Ping(Bytes),
    /// A pong from the peer (an answer to our ping, or an unsolicited heartbeat).
    Pong(Bytes),
    /// The closing handshake is complete; the peer's close frame, if it had a code.
    Close(Option<CloseFrame>),
}

/// The connection's settings.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Size limits for frames and messages.
    pub limits: Limits,
    /// After this long with nothing received, the connection goes Idle and sends a ping;
    /// after as long again with still nothing, the peer is considered gone (a half-open
    /// connection) and the socket is dropped. `None` disables the heartbeat.
    pub idle_after: Option<Duration>,
    /// permessage-deflate: what a server accepts, what a client offers (`deflate.rs`).
    /// `None` neither offers nor accepts it (`--no-compression`).
    pub compression: Option<DeflateConfig>,
}

impl Default for Settings {
    /// Default limits, and a heartbeat every 30 s: under the 60 s idle timeout of common
    /// proxies (nginx's `proxy_read_timeout`), which would otherwise cut a quiet connection.
    /// Compression with context takeover, as browsers offer it.
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            idle_after: Some(Duration::from_secs(30)),
            compression: Some(DeflateConfig::default()),
        }
    }
}

/// A message being reassembled from fragments.
#[derive(Debug)]
struct Partial {
    /// Text or Binary, from the first frame.
    opcode: OpCode,
    /// The payload so far.
    data: BytesMut,
    /// Checks text as it arrives.
    utf8: Utf8Validator,
    /// The message's number, for lifecycle events.
    id: u64,
    /// RSV1 was set on its first frame: `data` holds what the frames inflate to.
    compressed: bool,
    /// Its bytes on the wire so far (the payloads as they came, compressed or not).
    wire_len: usize,
}

/// One end of a WebSocket connection over any byte stream (a `TcpStream`, or hyper's
/// upgraded connection when the lab is mounted in the course).
#[derive(Debug)]
pub struct Connection<S> {
    /// The byte stream.
    io: S,
    /// Frame encoding and decoding for our role.
    codec: FrameCodec,
    /// Heartbeat timing.
    idle_after: Option<Duration>,
    /// Bytes read but not yet decoded.
    read_buf: BytesMut,
    /// Frames encoded but not yet written.
    write_buf: BytesMut,
    /// Where the state machine is.
    state: ConnectionState,
    /// The fragmented message in progress, if any.
    partial: Option<Partial>,
    /// Whether we have sent our close frame.
    close_sent: bool,
    /// Whether the peer has sent its close frame.
    close_received: bool,
    /// When we last received anything: the idle interval counts from here.
    last_heard: Instant,
    /// When our heartbeat ping went out, if it is still unanswered.
    ping_sent_at: Option<Instant>,
    /// Counters for message ids, per direction.
    sent_messages: u64,
    received_messages: u64,
    /// Who is watching.
    observer: Observer,
    /// permessage-deflate's state, if the handshake agreed on it.
    deflate: Option<PerMessageDeflate>,
    /// What the last compressed frame received inflated to, for the inspector.
    last_inflated: Option<Original>,
    /// What the next compressed frame sent was before compression, for the inspector.
    next_original: Option<Original>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Wraps a stream on which the handshake has just completed. `leftover` holds bytes read
    /// past the end of the handshake (the peer may send its first frame right behind it).
    pub fn new(
        io: S,
        role: Role,
        settings: Settings,
        leftover: BytesMut,
        observer: Observer,
    ) -> Self {
        let connection = Self {
            io,
            codec: FrameCodec::new(role, settings.limits),
            idle_after: settings.idle_after,
            read_buf: leftover,
            write_buf: BytesMut::with_capacity(4096),
            state: ConnectionState::Connected,
            partial: None,
            close_sent: false,
            close_received: false,
            last_heard: Instant::now(),
            ping_sent_at: None,
            sent_messages: 0,
            received_messages: 0,
            observer,
            deflate: None,
            last_inflated: None,
            next_original: None,
        };
        connection.observer.emit(Event::State {
            from: ConnectionState::Handshaking,
            to: ConnectionState::Connected,
            why: "handshake complete: 101 Switching Protocols".into(),
        });
        connection
    }

    // ANCHOR: with_compression
    /// Turns permessage-deflate on, with what the handshake agreed (`None`: it did not).
    /// From here on RSV1 is allowed on the first frame of a message, and every message we
    /// send is compressed.
    pub fn with_compression(mut self, agreed: Option<Agreed>) -> Self {
        if let Some(agreed) = agreed {
            self.codec.compression = true;
            self.deflate = Some(PerMessageDeflate::new(&agreed, self.codec.role));
        }
        self
    }
    // ANCHOR_END: with_compression

    /// The compression state, if permessage-deflate is on (tests look at its contexts).
    pub fn compression(&self) -> Option<&PerMessageDeflate> {
        self.deflate.as_ref()
    }

    /// The current state.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// The observer, for the application's own events (such as `Processed`).
    pub fn observer(&self) -> &Observer {
        &self.observer
    }

    fn set_state(&mut self, to: ConnectionState, why: &str) {
        if self.state != to {
            self.observer.emit(Event::State {
                from: self.state,
                to,
                why: why.into(),
            });
            self.state = to;
        }
    }

    fn lifecycle(
        &self,
        id: u64,
        direction: Direction,
        stage: MessageStage,
        opcode: OpCode,
        len: usize,
    ) {
        self.observer.emit(Event::Message {
            id,
            direction,
            stage,
            format: if opcode == OpCode::Text {
                "Text"
            } else {
                "Binary"
            },
            len,
        });
    }

    /// Reports that the application handled received message `id` (the last stage).
    pub fn processed(&self, id: u64, len: usize, text: bool) {
        let opcode = if text { OpCode::Text } else { OpCode::Binary };
        self.lifecycle(id, Direction::In, MessageStage::Processed, opcode, len);
    }

    /// The id of the last message `recv` returned.
    pub fn last_received_id(&self) -> u64 {
        self.received_messages
    }

    // ANCHOR: recv
    /// Waits for the next message.
    ///
    /// Pings are answered before they are returned. A protocol violation sends a close
    /// frame with the code it earns (1002, 1007, 1009), closes the socket and returns the
    /// error. After [`Message::Close`], the connection is over and `recv` returns
    /// [`Error::Closed`].
    ///
    /// Cancel-safe for use in `tokio::select!`: no byte read or queued is lost (only the
    /// notice of a ping or close being handled at that moment may be).
    pub async fn recv(&mut self) -> Result<Message, Error> {
        // Finish any write a cancelled call left behind.
        self.flush_out().await?;
        loop {
            if self.close_received && self.close_sent {
                return Err(Error::Closed);
            }
            // For a compressed message, its size on the wire: what it inflates to is
            // checked while inflating.
            let so_far = self.partial.as_ref().map(|p| {
                if p.compressed {
                    p.wire_len
                } else {
                    p.data.len()
                }
            });
            match self.codec.decode(&mut self.read_buf, so_far) {
                Err(violation) => return Err(self.fail(violation).await),
                Ok(Some(frame)) => {
                    // Annotated before `on_frame` takes it, shown after: a compressed
                    // frame's inflated bytes are known only then.
                    let annotated = self
                        .observer
                        .is_watching()
                        .then(|| annotate(&frame, Direction::In));
                    let result = self.on_frame(frame).await;
                    if let Some(mut annotated) = annotated {
                        annotated.original = self.last_inflated.take();
                        if self.deflate.is_some() {
                            note_compression_negotiated(&mut annotated);
                        }
                        self.observer.emit(Event::Frame(annotated));
                    }
                    match result {
                        Ok(Some(message)) => return Ok(message),
                        Ok(None) => continue,
                        Err(Error::Protocol(violation)) => return Err(self.fail(violation).await),
                        Err(other) => return Err(other),
                    }
                }
                Ok(None) => self.fill_buffer().await?,
            }
        }
    }
    // ANCHOR_END: recv

    // ANCHOR: heartbeat
    /// Reads more bytes, running the heartbeat while the peer is silent.
    ///
    /// The deadlines count from the last byte received (and from our ping), not from this
    /// call: `recv` may be called, cancelled and called again many times (the inspector
    /// does it for every event it forwards) without resetting the heartbeat.
    async fn fill_buffer(&mut self) -> Result<(), Error> {
        let read = match self.idle_after {
            None => self.io.read_buf(&mut self.read_buf).await?,
            Some(idle) => {
                let deadline = match self.ping_sent_at {
                    Some(sent) => sent + idle,
                    None => self.last_heard + idle,
                };
                match tokio::time::timeout_at(deadline, self.io.read_buf(&mut self.read_buf)).await
                {
                    Ok(read) => read?,
                    Err(_elapsed) if self.ping_sent_at.is_none() && !self.close_sent => {
                        self.set_state(
                            ConnectionState::Idle,
                            "nothing received for the idle interval",
                        );
                        self.ping_sent_at = Some(Instant::now());
                        self.send_frame(Frame::new(OpCode::Ping, Bytes::from_static(b"heartbeat")))
                            .await?;
                        return Ok(());
                    }
                    Err(_elapsed) => {
                        // Silence through a whole heartbeat: the peer vanished (a half-open
                        // connection). There is nobody to send a close frame to.
                        self.observer.emit(Event::Error {
                            message: "no answer to the heartbeat: peer gone".into(),
                            close_code: None,
                        });
                        self.set_state(ConnectionState::Disconnected, "heartbeat timed out");
                        return Err(Error::Dropped);
                    }
                }
            }
        };
        if read == 0 {
            self.set_state(ConnectionState::Disconnected, "TCP closed by the peer");
            if self.close_received {
                return Err(Error::Closed);
            }
            self.observer.emit(Event::Error {
                message: "TCP closed without a close frame (1006)".into(),
                close_code: None,
            });
            return Err(Error::Dropped);
        }
        // Any byte from the peer proves it is there.
        self.last_heard = Instant::now();
        self.ping_sent_at = None;
        if matches!(
            self.state,
            ConnectionState::Connected | ConnectionState::Idle
        ) {
            self.set_state(ConnectionState::Active, "data received");
        }
        Ok(())
    }
    // ANCHOR_END: heartbeat

    // ANCHOR: on_frame
    /// Applies one frame: control frames are handled at once (even between fragments),
    /// data frames are assembled into messages.
    async fn on_frame(&mut self, frame: Frame) -> Result<Option<Message>, Error> {
        let Frame { header, payload } = frame;
        match header.opcode {
            OpCode::Ping => {
                // "it MUST send a Pong frame in response ... with the same payload" (5.5.2),
                // at once, even in the middle of a fragmented message.
                if !self.close_sent {
                    self.send_frame(Frame::new(OpCode::Pong, payload.clone()))
                        .await?;
                }
                Ok(Some(Message::Ping(payload)))
            }
            OpCode::Pong => Ok(Some(Message::Pong(payload))),
            OpCode::Close => {
                let close = CloseFrame::parse(&payload)?;
                self.close_received = true;
                if !self.close_sent {
                    // Echo the code back (an empty close is answered with an empty one).
                    self.set_state(ConnectionState::Closing, "close frame received");
                    let reply = close
                        .as_ref()
                        .map(CloseFrame::to_payload)
                        .unwrap_or_default();
                    self.send_frame(Frame::new(OpCode::Close, reply)).await?;
                }
                self.finish_close().await;
                Ok(Some(Message::Close(close)))
            }
            OpCode::Text | OpCode::Binary => {
                if self.partial.is_some() {
                    return Err(ProtocolError::ExpectedContinuation.into());
                }
                self.received_messages += 1;
                let id = self.received_messages;
                self.lifecycle(
                    id,
                    Direction::In,
                    MessageStage::Received,
                    header.opcode,
                    payload.len(),
                );
                let mut partial = Partial {
                    opcode: header.opcode,
                    data: BytesMut::new(),
                    utf8: Utf8Validator::new(),
                    id,
                    // The codec let RSV1 through only if the extension is on.
                    compressed: header.rsv[0],
                    wire_len: 0,
                };
                self.append(&mut partial, &payload, header.fin)?;
                if header.fin {
                    return Ok(Some(self.complete(partial)?));
                }
                self.partial = Some(partial);
                Ok(None)
            }
            OpCode::Continuation => {
                let Some(mut partial) = self.partial.take() else {
                    return Err(ProtocolError::UnexpectedContinuation.into());
                };
                self.append(&mut partial, &payload, header.fin)?;
                if header.fin {
                    return Ok(Some(self.complete(partial)?));
                }
                self.partial = Some(partial);
                Ok(None)
            }
        }
    }
    // ANCHOR_END: on_frame

    // ANCHOR: append
    /// Adds a fragment to a message, validating text as it comes. A compressed fragment is
    /// inflated first (the last one with the `00 00 ff ff` put back), under the message
    /// limit, and what it inflates to is what gets validated and kept.
    fn append(
        &mut self,
        partial: &mut Partial,
        payload: &[u8],
        last: bool,
    ) -> Result<(), ProtocolError> {
        partial.wire_len += payload.len();
        let (start, limit) = (partial.data.len(), self.codec.limits.max_message);
        match (partial.compressed, self.deflate.as_mut()) {
            (true, Some(deflate)) => {
                deflate.inflate(payload, &mut partial.data, limit)?;
                if last {
                    deflate.finish(&mut partial.data, limit)?;
                }
            }
            // Unreachable: the codec refuses RSV1 unless the extension is on.
            (true, None) => return Err(ProtocolError::ReservedBits(0b100)),
            (false, _) => partial.data.extend_from_slice(payload),
        }
        let added = &partial.data[start..];
        if partial.compressed && self.observer.is_watching() {
            self.last_inflated = Some(Original::of(added, payload.len(), partial.opcode));
        }
        if partial.opcode == OpCode::Text && partial.utf8.feed(added).is_err() {
            return Err(ProtocolError::InvalidUtf8);
        }
        Ok(())
    }
    // ANCHOR_END: append

    /// Turns a finished message into a [`Message`].
    fn complete(&mut self, mut partial: Partial) -> Result<Message, ProtocolError> {
        let len = partial.data.len();
        let message = if partial.opcode == OpCode::Text {
            partial
                .utf8
                .finish()
                .map_err(|()| ProtocolError::InvalidUtf8)?;
            // Validated fragment by fragment above; this cannot fail, but we do not
            // `unwrap` on the network's data.
            let text = String::from_utf8(Vec::from(partial.data))
                .map_err(|_| ProtocolError::InvalidUtf8)?;
            Message::Text(text)
        } else {
            Message::Binary(partial.data.freeze())
        };
        self.lifecycle(
            partial.id,
            Direction::In,
            MessageStage::Parsed,
            partial.opcode,
            len,
        );
        Ok(message)
    }

    // ANCHOR: fail
    /// Fails the connection (RFC 6455, 7.1.7): send a close frame with the violation's
    /// code, then close the socket. Returns the error for the caller.
    async fn fail(&mut self, violation: ProtocolError) -> Error {
        let code = violation.close_code();
        self.observer.emit(Event::Error {
            message: violation.to_string(),
            close_code: (!self.close_sent).then_some(code),
        });
        if !self.close_sent {
            self.set_state(ConnectionState::Closing, "protocol violation");
            // A reason must fit in 123 bytes; ours are short ASCII sentences.
            let mut reason = violation.to_string();
            reason.truncate(123);
            let close = CloseFrame { code, reason };
            // Best effort: the peer may be gone already.
            let _ = self
                .send_frame(Frame::new(OpCode::Close, close.to_payload()))
                .await;
        }
        self.close_received = true;
        self.finish_close().await;
        // Not waiting for an answer is not closing over unread bytes: the kernel would
        // answer those with a reset, which can destroy our close frame before the peer
        // reads it. So the server reads on, and throws away, whatever still comes.
        if self.codec.role == Role::Server {
            self.drain().await;
        }
        Error::Protocol(violation)
    }
    // ANCHOR_END: fail

    /// Discards what the peer still sends, until it closes TCP or [`FAIL_DRAIN_WAIT`]
    /// passes, so that our close frame is read before the socket goes. Nothing is kept: a
    /// client that claimed a huge message costs time here, never memory.
    async fn drain(&mut self) {
        let mut sink = [0u8; 8 * 1024];
        let _ = tokio::time::timeout(FAIL_DRAIN_WAIT, async {
            while let Ok(n) = self.io.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }

    /// Both close frames are exchanged (or the connection failed): shut the socket.
    ///
    /// "The underlying TCP connection, in most normal cases, SHOULD be closed first by the
    /// server" (7.1.1), so that the server, not the client, carries the TIME_WAIT state. A
    /// client gives the server a moment to do so before closing itself.
    async fn finish_close(&mut self) {
        if self.codec.role == Role::Client {
            let mut rest = [0u8; 256];
            let _ = tokio::time::timeout(CLIENT_CLOSE_WAIT, async {
                while let Ok(n) = self.io.read(&mut rest).await {
                    if n == 0 {
                        break;
                    }
                }
            })
            .await;
        }
        let _ = self.io.shutdown().await;
        self.set_state(ConnectionState::Disconnected, "closing handshake complete");
    }

    // ANCHOR: send
    /// Sends a text or binary message as one frame.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        let (opcode, payload) = match message {
            Message::Text(text) => (OpCode::Text, Bytes::from(text)),
            Message::Binary(data) => (OpCode::Binary, data),
            Message::Ping(data) => return self.send_frame(Frame::new(OpCode::Ping, data)).await,
            Message::Pong(data) => return self.send_frame(Frame::new(OpCode::Pong, data)).await,
            Message::Close(close) => {
                let (code, reason) = close.map_or((1000, String::new()), |c| (c.code, c.reason));
                return self.close(code, &reason).await;
            }
        };
        self.sent_messages += 1;
        let id = self.sent_messages;
        let len = payload.len();
        self.lifecycle(id, Direction::Out, MessageStage::Created, opcode, len);
        let frame = match self.deflate.as_mut() {
            // Compressed: RSV1 on its (only) frame, and the inspector is told the original.
            Some(deflate) => {
                let compressed = deflate.compress(&payload, true);
                if self.observer.is_watching() {
                    self.next_original = Some(Original::of(&payload, compressed.len(), opcode));
                }
                let mut frame = Frame::new(opcode, compressed);
                frame.header.rsv[0] = true;
                frame
            }
            None => Frame::new(opcode, payload),
        };
        self.send_frame(frame).await?;
        self.lifecycle(id, Direction::Out, MessageStage::Transmitted, opcode, len);
        Ok(())
    }
    // ANCHOR_END: send

    // ANCHOR: send_fragmented
    /// Sends one message cut into the given fragments (a learner's tool: browsers and
    /// most libraries send one frame per message).
    pub async fn send_fragmented(&mut self, text: bool, parts: &[&[u8]]) -> Result<(), Error> {
        let first = if text { OpCode::Text } else { OpCode::Binary };
        let len = parts.iter().map(|p| p.len()).sum();
        self.sent_messages += 1;
        let id = self.sent_messages;
        self.lifecycle(id, Direction::Out, MessageStage::Created, first, len);
        // Cut into `parts.len()` frames: Framed, then each frame goes out.
        self.lifecycle(id, Direction::Out, MessageStage::Framed, first, len);
        for (i, part) in parts.iter().enumerate() {
            let opcode = if i == 0 { first } else { OpCode::Continuation };
            let fin = i + 1 == parts.len();
            let frame = match self.deflate.as_mut() {
                // Each part compressed and flushed on its own, so it can go out at once;
                // RSV1 on the first frame only.
                Some(deflate) => {
                    let compressed = deflate.compress(part, fin);
                    if self.observer.is_watching() {
                        self.next_original = Some(Original::of(part, compressed.len(), first));
                    }
                    let mut frame = crate::codec::data_frame(opcode, fin, compressed);
                    frame.header.rsv[0] = i == 0;
                    frame
                }
                None => crate::codec::data_frame(opcode, fin, Bytes::copy_from_slice(part)),
            };
            self.send_frame(frame).await?;
        }
        self.lifecycle(id, Direction::Out, MessageStage::Transmitted, first, len);
        Ok(())
    }
    // ANCHOR_END: send_fragmented

    // ANCHOR: close
    /// Starts the closing handshake with `code` and `reason`. Keep calling [`Self::recv`]
    /// until it returns [`Message::Close`] with the peer's answer.
    ///
    /// The code is sent as given, even one that may not appear on the wire (1005, 1006...):
    /// this is a lab, and `ws-inspect close:1005` is how a learner sees a server refuse it
    /// with 1002. A library for production would check it with
    /// [`is_valid_close_code`](crate::close::is_valid_close_code) first.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), Error> {
        if self.close_sent {
            return Err(Error::Closed);
        }
        self.set_state(ConnectionState::Closing, "we started the closing handshake");
        let close = CloseFrame {
            code,
            reason: reason.to_owned(),
        };
        self.send_frame(Frame::new(OpCode::Close, close.to_payload()))
            .await
    }
    // ANCHOR_END: close

    // ANCHOR: send_frame
    /// Encodes one frame (masking it if we are a client), writes and flushes it.
    pub async fn send_frame(&mut self, frame: Frame) -> Result<(), Error> {
        if self.close_sent {
            return Err(Error::Closed);
        }
        if frame.header.opcode == OpCode::Close {
            self.close_sent = true;
        }
        let frame = self.codec.encode(frame, &mut self.write_buf);
        let data = !frame.header.opcode.is_control();
        // A single-frame message is Framed here; `send_fragmented` reports its own.
        if data && frame.header.fin && frame.header.opcode != OpCode::Continuation {
            // Its frame is encoded (and masked, for a client): Framed.
            self.lifecycle(
                self.sent_messages,
                Direction::Out,
                MessageStage::Framed,
                frame.header.opcode,
                frame.payload.len(),
            );
        }
        if self.observer.is_watching() {
            let mut annotated = annotate(&frame, Direction::Out);
            if data {
                annotated.original = self.next_original.take();
            }
            if self.deflate.is_some() {
                note_compression_negotiated(&mut annotated);
            }
            self.observer.emit(Event::Frame(annotated));
        }
        self.flush_out().await?;
        if data && self.state == ConnectionState::Connected {
            self.set_state(ConnectionState::Active, "data sent");
        }
        Ok(())
    }
    // ANCHOR_END: send_frame

    // ANCHOR: flush_out
    /// Writes out everything queued in `write_buf`.
    ///
    /// Written with `write` + `advance` rather than `write_all`, so that it is safe to
    /// cancel (in a `tokio::select!`): bytes not yet written stay queued, and the next
    /// `send` or `recv` writes them first, so a frame is never cut in half on the wire.
    async fn flush_out(&mut self) -> Result<(), Error> {
        while !self.write_buf.is_empty() {
            let written = self.io.write(&self.write_buf).await?;
            if written == 0 {
                return Err(Error::Dropped);
            }
            self.write_buf.advance(written);
        }
        self.io.flush().await?;
        Ok(())
    }
    // ANCHOR_END: flush_out

    /// Sends raw bytes as they are: for conformance tests that break the rules on purpose.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.io.write_all(bytes).await?;
        self.io.flush().await?;
        Ok(())
    }
}
