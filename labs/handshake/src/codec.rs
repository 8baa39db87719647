//! From bytes to frames and back, for one end of the connection.
//!
//! [`FrameHeader`] knows the layout; the codec adds what depends on who we are: a server
//! requires every client frame to be masked and a client refuses masked server frames; a
//! client masks what it sends with a fresh random key per frame; both refuse a frame
//! whose header claims more than the limit *before* reading or allocating its payload; and
//! RSV1 is allowed only once permessage-deflate was negotiated, and only where it may be.

use bytes::BytesMut;

use crate::error::ProtocolError;
use crate::frame::{Frame, FrameHeader, OpCode, apply_mask};

/// Which end of the connection we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Role {
    /// Accepts connections; receives masked frames, sends unmasked ones.
    Server,
    /// Opens connections; sends masked frames, receives unmasked ones.
    Client,
}

/// Size limits, checked from headers before any payload is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest single frame accepted.
    pub max_frame: usize,
    /// The largest message (all fragments together) accepted.
    pub max_message: usize,
}

impl Default for Limits {
    /// 16 MiB for both: far above what the lab sends (its largest test message is 1 MiB),
    /// far below what would hurt the machine. A real service picks limits from its own
    /// messages: a chat needs kilobytes.
    fn default() -> Self {
        Self {
            max_frame: 16 << 20,
            max_message: 16 << 20,
        }
    }
}

/// Encodes and decodes frames for one end of a connection.
#[derive(Clone, Copy, Debug)]
pub struct FrameCodec {
    /// Which end we are.
    pub role: Role,
    /// The size limits.
    pub limits: Limits,
    /// permessage-deflate was negotiated: RSV1 marks a compressed message.
    pub compression: bool,
}

impl FrameCodec {
    /// A codec for `role` with `limits`.
    pub fn new(role: Role, limits: Limits) -> Self {
        Self {
            role,
            limits,
            compression: false,
        }
    }

    // ANCHOR: decode
    /// Takes the next whole frame off the front of `buf`, unmasked, or returns `Ok(None)`
    /// if more bytes are needed.
    ///
    /// `message_so_far` is the size of the fragmented message in progress, if any, so that
    /// a continuation that would take the message past its limit is refused from its header.
    /// (For a compressed message that is its size on the wire; the limit on what it
    /// inflates to is checked while inflating, in `deflate.rs`.)
    pub fn decode(
        &self,
        buf: &mut BytesMut,
        message_so_far: Option<usize>,
    ) -> Result<Option<Frame>, ProtocolError> {
        let allowed_rsv = if self.compression { 0b100 } else { 0 };
        let Some(header) = FrameHeader::parse_allowing(buf, allowed_rsv)? else {
            return Ok(None);
        };
        // RSV1 means "this message is compressed": it belongs on the first frame of a data
        // message, never on a continuation or a control frame (RFC 7692, 6).
        if header.rsv[0] && (header.opcode.is_control() || header.opcode == OpCode::Continuation) {
            return Err(ProtocolError::Rsv1Misplaced(header.opcode));
        }
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedClientFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedServerFrame),
            _ => {}
        }
        // Check the claimed size now: a header may claim 2^63 bytes in 10 bytes.
        if header.payload_len > self.limits.max_frame as u64 {
            return Err(ProtocolError::FrameTooLarge {
                len: header.payload_len,
                limit: self.limits.max_frame,
            });
        }
        if let (Some(so_far), false) = (message_so_far, header.opcode.is_control()) {
            let total = so_far as u64 + header.payload_len;
            if total > self.limits.max_message as u64 {
                return Err(ProtocolError::MessageTooLarge {
                    len: total,
                    limit: self.limits.max_message,
                });
            }
        }
        // Within the limit, so this conversion and the reservation are bounded.
        let frame_len = header.len() + header.payload_len as usize;
        if buf.len() < frame_len {
            buf.reserve(frame_len - buf.len());
            return Ok(None);
        }
        let mut payload = buf.split_to(frame_len).split_off(header.len());
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        Ok(Some(Frame {
            header,
            payload: payload.freeze(),
        }))
    }
    // ANCHOR_END: decode

    // ANCHOR: encode
    /// Appends `frame` to `dst`. A client masks it with a fresh random key: RFC 6455
    /// requires an unpredictable key per frame, so that a page's script cannot choose the
    /// bytes that appear on the wire and poison a proxy's cache (section 10.3).
    pub fn encode(&self, mut frame: Frame, dst: &mut BytesMut) -> Frame {
        frame.header.mask = match self.role {
            Role::Client => Some(rand::random::<[u8; 4]>()),
            Role::Server => None,
        };
        frame.encode(dst);
        frame
    }
    // ANCHOR_END: encode
}

/// A data frame's opcode and FIN, for building fragmented messages by hand.
pub fn data_frame(opcode: OpCode, fin: bool, payload: impl Into<bytes::Bytes>) -> Frame {
    let mut frame = Frame::new(opcode, payload);
    frame.header.fin = fin;
    frame
}
