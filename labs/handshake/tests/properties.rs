//! Property tests: the codec against itself on arbitrary frames and arbitrary cuts of the
//! byte stream, and the incremental UTF-8 validator against `std::str::from_utf8`.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

use bytes::BytesMut;
use lab_handshake::codec::{FrameCodec, Limits, Role};
use lab_handshake::frame::{Frame, OpCode};
use lab_handshake::utf8::Utf8Validator;
use proptest::prelude::*;

/// Any frame a correct sender could send: data frames of any size (kept small enough to be
/// fast) with FIN set or not, control frames of at most 125 bytes with FIN set.
fn any_frame() -> impl Strategy<Value = Frame> {
    let data = (
        prop_oneof![
            Just(OpCode::Text),
            Just(OpCode::Binary),
            Just(OpCode::Continuation)
        ],
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..70_000),
    )
        .prop_map(|(opcode, fin, payload)| {
            let mut frame = Frame::new(opcode, payload);
            frame.header.fin = fin;
            frame
        });
    let control = (
        prop_oneof![Just(OpCode::Ping), Just(OpCode::Pong), Just(OpCode::Close)],
        prop::collection::vec(any::<u8>(), 0..=125),
    )
        .prop_map(|(opcode, payload)| Frame::new(opcode, payload));
    prop_oneof![3 => data, 1 => control]
}

/// Decodes everything in `buf` at once.
fn decode_all(codec: &FrameCodec, mut buf: BytesMut) -> (Vec<Frame>, Option<String>) {
    let mut frames = Vec::new();
    loop {
        match codec.decode(&mut buf, None) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some(e.to_string())),
        }
    }
}

/// Decodes `bytes` arriving in chunks cut at `cuts`.
fn decode_in_chunks(
    codec: &FrameCodec,
    bytes: &[u8],
    cuts: &[usize],
) -> (Vec<Frame>, Option<String>) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(bytes.len());
    points.sort_unstable();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut start = 0;
    for end in points {
        buf.extend_from_slice(&bytes[start..end]);
        start = end;
        loop {
            match codec.decode(&mut buf, None) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return (frames, Some(e.to_string())),
            }
        }
    }
    (frames, None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Encode (as a client: masked) then decode (as a server) gives the frame back.
    #[test]
    fn encode_then_decode(frame in any_frame()) {
        let client = FrameCodec::new(Role::Client, Limits::default());
        let server = FrameCodec::new(Role::Server, Limits::default());
        let mut wire = BytesMut::new();
        let sent = client.encode(frame.clone(), &mut wire);
        prop_assert!(sent.header.mask.is_some());
        let decoded = server.decode(&mut wire, None).unwrap().unwrap();
        prop_assert_eq!(&decoded.payload, &frame.payload);
        prop_assert_eq!(decoded.header.opcode, frame.header.opcode);
        prop_assert_eq!(decoded.header.fin, frame.header.fin);
        prop_assert!(wire.is_empty());
    }

    /// The same stream of valid frames, cut anywhere, decodes to the same frames.
    #[test]
    fn cuts_do_not_matter_for_valid_streams(
        frames in prop::collection::vec(any_frame(), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let client = FrameCodec::new(Role::Client, Limits::default());
        let server = FrameCodec::new(Role::Server, Limits::default());
        let mut wire = BytesMut::new();
        for frame in &frames {
            client.encode(frame.clone(), &mut wire);
        }
        let whole = decode_all(&server, wire.clone());
        let chunked = decode_in_chunks(&server, &wire, &cuts);
        prop_assert_eq!(whole.0.len(), frames.len());
        prop_assert_eq!(&whole, &chunked);
    }

    /// Arbitrary bytes, cut anywhere, give the same frames and the same error as the whole.
    #[test]
    fn cuts_do_not_matter_for_garbage(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let server = FrameCodec::new(Role::Server, Limits { max_frame: 1 << 16, max_message: 1 << 16 });
        let whole = decode_all(&server, BytesMut::from(&bytes[..]));
        let chunked = decode_in_chunks(&server, &bytes, &cuts);
        prop_assert_eq!(whole, chunked);
    }

    /// The incremental validator agrees with `std::str::from_utf8` on any split of any
    /// bytes (half of them valid text with a random byte changed).
    #[test]
    fn utf8_validator_agrees_with_std(
        text in ".{0,40}",
        corrupt in any::<Option<(usize, u8)>>(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut bytes = text.into_bytes();
        if let (Some((at, byte)), false) = (corrupt, bytes.is_empty()) {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.push(bytes.len());
        points.sort_unstable();
        let mut validator = Utf8Validator::new();
        let mut start = 0;
        let mut ok = true;
        for end in points {
            if validator.feed(&bytes[start..end]).is_err() {
                ok = false;
                break;
            }
            start = end;
        }
        let ok = ok && validator.finish().is_ok();
        prop_assert_eq!(ok, std::str::from_utf8(&bytes).is_ok());
    }
}
