//! Fuzzes the from-scratch frame decoder: `FrameHeader::parse` and `FrameCodec::decode`
//! (labs/handshake, `frame.rs` and `codec.rs`) on arbitrary byte streams, cut at arbitrary
//! points.
//!
//! ```text
//! fuzz/run.sh 60                                    # every target, 60 s each
//! RUSTC_BOOTSTRAP=1 cargo fuzz run frame_decoder    # this one, from fuzz/ (see README.md)
//! ```
//!
//! Input: `[role][limit][k][k chunk sizes][stream]` (see `ws_fuzz::StreamInput`). What
//! must hold, besides never panicking:
//!
//! - a header that parses writes back to exactly the bytes it was read from (the decoder
//!   accepts only the minimal length encoding, so there is one way to write each header),
//!   and every shorter prefix of it is "need more bytes", never an error or another header;
//! - the frames decoded, and the error that stops decoding, do not depend on where the
//!   stream was cut;
//! - the decoded frames, encoded again, are the bytes they were decoded from;
//! - a header claiming more than the limit is refused before its payload is reserved: the
//!   buffer never grows past the limit plus what was actually received.

#![no_main]

use bytes::BytesMut;
use lab_handshake::ProtocolError;
use lab_handshake::codec::FrameCodec;
use lab_handshake::events::Direction;
use lab_handshake::frame::{Frame, FrameHeader};
use lab_handshake::inspect::annotate;
use libfuzzer_sys::fuzz_target;
use ws_fuzz::StreamInput;

/// The longest header: 2 bytes, 8 of extended length, 4 of masking key.
const MAX_HEADER: usize = 14;

/// How many frames of each input go through the inspector.
const INSPECTED_FRAMES: usize = 8;

/// What decoding a whole stream gave.
#[derive(Debug, PartialEq)]
struct Outcome {
    /// The frames, in order.
    frames: Vec<Frame>,
    /// Why decoding stopped: `Ok` when the bytes ran out (`undecoded` of them left over).
    end: Result<usize, ProtocolError>,
}

/// Decodes `chunks` as they arrive, the way a connection does: append what was read, take
/// every whole frame off the front, read again.
fn decode_all(codec: &FrameCodec, chunks: &[&[u8]], received: usize) -> Outcome {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    // The fragmented message in progress, for the codec's message limit: a plain model of
    // fragmentation (the reassembly target checks the connection's own).
    let mut so_far: Option<usize> = None;
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let decoded = codec.decode(&mut buf, so_far);
            // Whatever happened, the buffer holds at most the bytes received plus one
            // frame within the limit: never the size a header merely claims.
            let bound = 2 * (codec.limits.max_frame + MAX_HEADER + received) + 64;
            assert!(
                buf.capacity() <= bound,
                "buffer of {} bytes after {received} received (limit {})",
                buf.capacity(),
                codec.limits.max_frame
            );
            match decoded {
                Ok(Some(frame)) => {
                    so_far = match (frame.header.opcode, frame.header.fin, so_far) {
                        (op, _, so_far) if op.is_control() => so_far,
                        (_, true, _) => None,
                        (_, false, so_far) => Some(so_far.unwrap_or(0) + frame.payload.len()),
                    };
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(violation) => {
                    return Outcome {
                        frames,
                        end: Err(violation),
                    };
                }
            }
        }
    }
    Outcome {
        frames,
        end: Ok(buf.len()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = StreamInput::parse(data) else {
        return;
    };
    let stream = input.stream;

    // The header alone.
    if let Ok(Some(header)) = FrameHeader::parse(stream) {
        assert_eq!(header.to_bytes(), &stream[..header.len()], "{header:?}");
        for cut in 0..header.len() {
            assert_eq!(FrameHeader::parse(&stream[..cut]), Ok(None), "cut at {cut}");
        }
    }

    // The codec, on the stream whole and cut.
    let codec = FrameCodec::new(input.role, input.limits);
    let whole = decode_all(&codec, &[stream], stream.len());
    let cut = decode_all(&codec, &input.chunks(), stream.len());
    assert_eq!(
        whole, cut,
        "the outcome depends on where the stream was cut"
    );

    // Encoding the frames again gives the bytes they came from.
    let mut again = BytesMut::new();
    for frame in &whole.frames {
        frame.encode(&mut again);
        // The frame rules the codec promises: masked as the role demands, within limits.
        assert_eq!(
            frame.header.mask.is_some(),
            input.role == lab_handshake::Role::Server
        );
        assert!(frame.payload.len() <= input.limits.max_frame);
        if frame.header.opcode.is_control() {
            assert!(frame.header.fin && frame.payload.len() <= 125);
        }
    }
    // The inspector takes every received frame apart for the lab's page. A few frames per
    // input reach all of its code; all of them would cost most of the fuzzer's time.
    for frame in whole.frames.iter().take(INSPECTED_FRAMES) {
        let annotated = annotate(frame, Direction::In);
        assert_eq!(annotated.payload_len, frame.payload.len() as u64);
        let _ = annotated.to_string();
    }
    assert_eq!(&again[..], &stream[..again.len()]);
    if let Ok(undecoded) = whole.end {
        assert_eq!(again.len() + undecoded, stream.len());
    }
});
