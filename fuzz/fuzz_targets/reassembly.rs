//! Fuzzes message reassembly: the handshake lab's `Connection` (labs/handshake,
//! `connection.rs`) reading an arbitrary byte stream, cut at arbitrary points, over an
//! in-memory socket.
//!
//! ```text
//! RUSTC_BOOTSTRAP=1 cargo fuzz run reassembly       # from fuzz/ (see README.md)
//! ```
//!
//! Input: `[role][limit][k][k chunk sizes][stream]` (see `ws_fuzz::StreamInput`; the role
//! byte's second bit also turns on an observer in the cut run, as the lab page has). The
//! connection is the real one, `recv` called until it fails, exactly as the lab's echo loop
//! does; only the socket is in memory. What must hold, besides never panicking or hanging:
//!
//! - the messages, the way the connection ends, and every frame it writes back (pongs, the
//!   close echo, the close that fails the connection) do not depend on where the stream was
//!   cut, nor on the first bytes arriving together with the handshake (`leftover`), nor on
//!   someone watching the connection's events;
//! - they are what a plain reading of RFC 6455 says, computed here by a model that shares
//!   only the frame decoder with the lab: control frames answered at once, even between
//!   fragments; fragments joined; text valid UTF-8, failing as soon as it cannot be;
//!   violations ending the connection with the close code section 7.4.1 gives them;
//! - after a violation or the closing handshake, `recv` says the connection is closed.

#![no_main]

use bytes::{Bytes, BytesMut};
use lab_handshake::close::CloseFrame;
use lab_handshake::codec::FrameCodec;
use lab_handshake::events::Observer;
use lab_handshake::frame::{Frame, OpCode};
use lab_handshake::{Connection, Error, Limits, Message, ProtocolError, Role, Settings};
use libfuzzer_sys::fuzz_target;
use ws_fuzz::{ScriptedSocket, StreamInput, block_on};

/// How a connection ended.
#[derive(Debug, PartialEq)]
enum End {
    /// The peer broke a rule.
    Protocol(ProtocolError),
    /// TCP closed without the closing handshake.
    Dropped,
    /// The closing handshake completed.
    Closed,
    /// Anything else: never expected from an in-memory socket.
    Other(String),
}

impl From<Error> for End {
    fn from(err: Error) -> Self {
        match err {
            Error::Protocol(violation) => Self::Protocol(violation),
            Error::Dropped => Self::Dropped,
            Error::Closed => Self::Closed,
            other => Self::Other(other.to_string()),
        }
    }
}

/// What one run of the connection gave.
#[derive(Debug, PartialEq)]
struct Outcome {
    /// The messages `recv` returned, in order.
    messages: Vec<Message>,
    /// The error that ended it.
    end: End,
    /// The frames it wrote back, unmasked (a client masks with random keys).
    replies: Vec<Frame>,
}

/// The frames in `bytes`, as the peer decodes them; our own output must always decode.
fn replies(role: Role, bytes: &[u8]) -> Vec<Frame> {
    let peer = match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    let codec = FrameCodec::new(peer, Limits::default());
    let mut buf = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Some(mut frame) = codec
        .decode(&mut buf, None)
        .expect("the connection writes valid frames")
    {
        frame.header.mask = None;
        frames.push(frame);
    }
    assert!(buf.is_empty(), "a reply frame was cut short");
    frames
}

/// Runs the lab's connection: `leftover` arrives with the handshake, then `reads` one by one.
fn run(input: &StreamInput<'_>, leftover: &[u8], reads: Vec<&[u8]>, watched: bool) -> Outcome {
    let socket = ScriptedSocket::new(reads);
    let written = socket.written();
    let observer = if watched {
        // What the lab page receives: every event, as JSON.
        Observer::new(1, Some("fuzz".into()), |event| {
            let _ = serde_json::to_string(&event);
        })
    } else {
        Observer::none()
    };
    let settings = Settings {
        limits: input.limits,
        // No heartbeat: it is about time, not bytes, and the tests cover it.
        idle_after: None,
        // No compression: the model here is plain RFC 6455; inflating is `inflate`'s.
        compression: None,
    };
    let (messages, end) = block_on(async {
        let mut connection = Connection::new(
            socket,
            input.role,
            settings,
            BytesMut::from(leftover),
            observer,
        );
        let mut messages = Vec::new();
        let end = loop {
            match connection.recv().await {
                Ok(message) => messages.push(message),
                Err(err) => break End::from(err),
            }
        };
        if matches!(end, End::Protocol(_)) {
            let after = connection.recv().await.map_err(End::from);
            assert_eq!(after, Err(End::Closed), "recv after a violation");
        }
        (messages, end)
    });
    let replies = replies(input.role, &written.borrow());
    Outcome {
        messages,
        end,
        replies,
    }
}

/// The close frame a violation earns: its code, and its description as the reason.
fn failure_close(violation: &ProtocolError) -> Frame {
    let mut reason = violation.to_string();
    reason.truncate(123);
    let close = CloseFrame {
        code: violation.close_code(),
        reason,
    };
    Frame::new(OpCode::Close, close.to_payload())
}

/// A message being put together by the model.
struct Partial {
    text: bool,
    data: Vec<u8>,
}

/// RFC 6455's receiving rules, written plainly, over the frames the lab's decoder finds.
fn model(input: &StreamInput<'_>) -> Outcome {
    let codec = FrameCodec::new(input.role, input.limits);
    let mut buf = BytesMut::from(input.stream);
    let mut messages = Vec::new();
    let mut replies = Vec::new();
    let mut partial: Option<Partial> = None;
    let fail = |violation: ProtocolError, messages, mut replies: Vec<Frame>| {
        replies.push(failure_close(&violation));
        Outcome {
            messages,
            end: End::Protocol(violation),
            replies,
        }
    };
    loop {
        let frame = match codec.decode(&mut buf, partial.as_ref().map(|p| p.data.len())) {
            Err(violation) => return fail(violation, messages, replies),
            // The bytes ran out, mid-frame or between frames: no closing handshake.
            Ok(None) => {
                return Outcome {
                    messages,
                    end: End::Dropped,
                    replies,
                };
            }
            Ok(Some(frame)) => frame,
        };
        let (opcode, fin, payload) = (frame.header.opcode, frame.header.fin, frame.payload);
        let (text, mut data, fin) = match opcode {
            OpCode::Ping => {
                replies.push(Frame::new(OpCode::Pong, payload.clone()));
                messages.push(Message::Ping(payload));
                continue;
            }
            OpCode::Pong => {
                messages.push(Message::Pong(payload));
                continue;
            }
            OpCode::Close => {
                let close = match CloseFrame::parse(&payload) {
                    Ok(close) => close,
                    Err(violation) => return fail(violation, messages, replies),
                };
                let echo = close
                    .as_ref()
                    .map(CloseFrame::to_payload)
                    .unwrap_or_default();
                replies.push(Frame::new(OpCode::Close, echo));
                messages.push(Message::Close(close));
                return Outcome {
                    messages,
                    end: End::Closed,
                    replies,
                };
            }
            OpCode::Text | OpCode::Binary if partial.is_some() => {
                return fail(ProtocolError::ExpectedContinuation, messages, replies);
            }
            OpCode::Text | OpCode::Binary => (opcode == OpCode::Text, Vec::new(), fin),
            OpCode::Continuation => match partial.take() {
                Some(p) => (p.text, p.data, fin),
                None => return fail(ProtocolError::UnexpectedContinuation, messages, replies),
            },
        };
        data.extend_from_slice(&payload);
        // Text is invalid as soon as no continuation could make it valid (section 8.1).
        if let (true, Err(e)) = (text, std::str::from_utf8(&data))
            && (e.error_len().is_some() || fin)
        {
            return fail(ProtocolError::InvalidUtf8, messages, replies);
        }
        if !fin {
            partial = Some(Partial { text, data });
            continue;
        }
        messages.push(if text {
            Message::Text(String::from_utf8(data).expect("checked just above"))
        } else {
            Message::Binary(Bytes::from(data))
        });
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = StreamInput::parse(data) else {
        return;
    };
    // Everything in one read, right behind the handshake.
    let whole = run(&input, input.stream, Vec::new(), false);
    // The first chunk with the handshake, the others one read each; someone watching when
    // the role byte's second bit is set (turning every event into JSON costs more than the
    // connection itself, so not on every input).
    let mut chunks = input.chunks();
    let first = if chunks.is_empty() {
        &[][..]
    } else {
        chunks.remove(0)
    };
    let watched = data[0] & 2 != 0;
    let cut = run(&input, first, chunks, watched);
    assert_eq!(
        whole, cut,
        "the outcome depends on where the stream was cut"
    );
    assert_eq!(whole, model(&input), "the connection and RFC 6455 disagree");
});
