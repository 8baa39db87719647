//! The WebSocket frame (RFC 6455, section 5.2): a header of 2 to 14 bytes, then the payload.
//!
//! ```text
//!   0                   1                   2                   3
//!   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!  +-+-+-+-+-------+-+-------------+-------------------------------+
//!  |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//!  |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//!  |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//!  | |1|2|3|       |K|             |                               |
//!  +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//!  |     Extended payload length continued, if payload len == 127  |
//!  + - - - - - - - - - - - - - - - +-------------------------------+
//!  |                               |Masking-key, if MASK set to 1  |
//!  +-------------------------------+-------------------------------+
//!  | Masking-key (continued)       |          Payload Data         |
//!  +-------------------------------- - - - - - - - - - - - - - - - +
//! ```
//!
//! This module knows the layout and the rules that can be checked from the header alone
//! (reserved bits and opcodes, control frames, length encoding). Who must mask, and the
//! size limits, are the codec's business (`codec.rs`), because they depend on which end we
//! are. Chapter 4 of the book walks through this file.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ProtocolError;

// ANCHOR: opcode
/// What a frame carries (the low 4 bits of the first byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum OpCode {
    /// 0x0: the next piece of a fragmented message.
    Continuation,
    /// 0x1: the first (or only) frame of a text message: UTF-8.
    Text,
    /// 0x2: the first (or only) frame of a binary message.
    Binary,
    /// 0x8: the closing handshake; payload: optional 2-byte code and UTF-8 reason.
    Close,
    /// 0x9: "are you there?"; the peer must answer with a pong carrying the same payload.
    Ping,
    /// 0xA: the answer to a ping (or an unsolicited heartbeat, which is ignored).
    Pong,
}

impl OpCode {
    /// Decodes the 4-bit opcode; 0x3-0x7 and 0xB-0xF are reserved and rejected.
    pub fn from_bits(bits: u8) -> Result<Self, ProtocolError> {
        match bits {
            0x0 => Ok(Self::Continuation),
            0x1 => Ok(Self::Text),
            0x2 => Ok(Self::Binary),
            0x8 => Ok(Self::Close),
            0x9 => Ok(Self::Ping),
            0xA => Ok(Self::Pong),
            other => Err(ProtocolError::ReservedOpcode(other)),
        }
    }

    /// The 4-bit value on the wire.
    pub fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Control frames (close, ping, pong) have the top bit of the opcode set. They may be
    /// sent between the fragments of a message, must not be fragmented themselves, and
    /// carry at most 125 bytes.
    pub fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}
// ANCHOR_END: opcode

/// The largest payload of a control frame: it must fit the 7-bit length field.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame header, as decoded from (or to be encoded onto) the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this frame is the last one of its message.
    pub fin: bool,
    /// RSV1-3: reserved for extensions. permessage-deflate (`deflate.rs`), when negotiated,
    /// sets RSV1 on the first frame of a compressed message; any other bit set, or RSV1
    /// without the extension, is a protocol error.
    pub rsv: [bool; 3],
    /// What the frame carries.
    pub opcode: OpCode,
    /// The 4-byte masking key: present on every client-to-server frame, never on a
    /// server-to-client one.
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub payload_len: u64,
}

/// How the length was written: which of the three encodings the header uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum LengthEncoding {
    /// 0-125: in the 7-bit field itself.
    Short,
    /// 126 in the 7-bit field, then 16 bits: 126 to 65 535 bytes.
    Extended16,
    /// 127 in the 7-bit field, then 64 bits (top bit zero): 65 536 bytes and more.
    Extended64,
}

impl LengthEncoding {
    /// The minimal encoding for a length, which is the only one a sender may use.
    pub fn for_len(len: u64) -> Self {
        match len {
            0..=125 => Self::Short,
            126..=0xFFFF => Self::Extended16,
            _ => Self::Extended64,
        }
    }

    /// Bytes the extended length takes after the first two header bytes.
    pub fn extra_bytes(self) -> usize {
        match self {
            Self::Short => 0,
            Self::Extended16 => 2,
            Self::Extended64 => 8,
        }
    }
}

impl FrameHeader {
    /// The header of a complete (FIN set), unmasked frame with no reserved bits.
    pub fn new(opcode: OpCode, payload_len: u64) -> Self {
        Self {
            fin: true,
            rsv: [false; 3],
            opcode,
            mask: None,
            payload_len,
        }
    }

    /// How many bytes this header takes on the wire: 2, plus 2 or 8 for the extended
    /// length, plus 4 for the masking key.
    pub fn len(&self) -> usize {
        2 + LengthEncoding::for_len(self.payload_len).extra_bytes()
            + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Never true: a header has at least two bytes. (Clippy asks for it beside `len`.)
    pub fn is_empty(&self) -> bool {
        false
    }

    // ANCHOR: parse_header
    /// Decodes a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` does not hold the whole header yet (read more and try
    /// again), and an error for anything the RFC forbids that the header alone shows. No
    /// reserved bit may be set: see [`Self::parse_allowing`] for a connection with an
    /// extension.
    pub fn parse(buf: &[u8]) -> Result<Option<Self>, ProtocolError> {
        Self::parse_allowing(buf, 0)
    }

    /// Like [`Self::parse`], but the reserved bits in `allowed_rsv` (`0b100` for RSV1,
    /// the bits' places in the first byte shifted down by 4) may be set: an extension
    /// negotiated in the handshake gave them a meaning.
    pub fn parse_allowing(buf: &[u8], allowed_rsv: u8) -> Result<Option<Self>, ProtocolError> {
        let [first, second, ..] = *buf else {
            return Ok(None);
        };
        let fin = first & 0b1000_0000 != 0;
        let rsv = [
            first & 0b0100_0000 != 0,
            first & 0b0010_0000 != 0,
            first & 0b0001_0000 != 0,
        ];
        let undefined = (first >> 4) & 0b111 & !allowed_rsv;
        if undefined != 0 {
            return Err(ProtocolError::ReservedBits(undefined));
        }
        let opcode = OpCode::from_bits(first & 0b0000_1111)?;
        let masked = second & 0b1000_0000 != 0;
        let len7 = second & 0b0111_1111;

        // The 7-bit length, or a marker saying 16 or 64 more bits follow.
        let (payload_len, encoding) = match len7 {
            0..=125 => (u64::from(len7), LengthEncoding::Short),
            126 => {
                let Some(bytes) = buf.get(2..4) else {
                    return Ok(None);
                };
                let len = u64::from(u16::from_be_bytes([bytes[0], bytes[1]]));
                (len, LengthEncoding::Extended16)
            }
            _ => {
                let Some(bytes) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                let len = u64::from_be_bytes(be);
                // "the most significant bit MUST be 0" (section 5.2).
                if len & (1 << 63) != 0 {
                    return Err(ProtocolError::LengthTopBitSet);
                }
                (len, LengthEncoding::Extended64)
            }
        };
        // "the minimal number of bytes MUST be used to encode the length".
        if encoding != LengthEncoding::for_len(payload_len) {
            return Err(ProtocolError::NonMinimalLength(payload_len));
        }
        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooLong(payload_len));
            }
        }

        let mask_at = 2 + encoding.extra_bytes();
        let mask = if masked {
            let Some(key) = buf.get(mask_at..mask_at + 4) else {
                return Ok(None);
            };
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        Ok(Some(Self {
            fin,
            rsv,
            opcode,
            mask,
            payload_len,
        }))
    }
    // ANCHOR_END: parse_header

    // ANCHOR: write_header
    /// Appends this header to `dst`, with the minimal length encoding.
    pub fn write(&self, dst: &mut BytesMut) {
        let mut first = self.opcode.bits();
        if self.fin {
            first |= 0b1000_0000;
        }
        for (bit, set) in [0b0100_0000, 0b0010_0000, 0b0001_0000]
            .into_iter()
            .zip(self.rsv)
        {
            if set {
                first |= bit;
            }
        }
        let mask_bit = if self.mask.is_some() { 0b1000_0000 } else { 0 };
        dst.put_u8(first);
        match LengthEncoding::for_len(self.payload_len) {
            // The match guarantees the value fits: `as` cannot truncate here.
            LengthEncoding::Short => dst.put_u8(mask_bit | self.payload_len as u8),
            LengthEncoding::Extended16 => {
                dst.put_u8(mask_bit | 126);
                dst.put_u16(self.payload_len as u16);
            }
            LengthEncoding::Extended64 => {
                dst.put_u8(mask_bit | 127);
                dst.put_u64(self.payload_len);
            }
        }
        if let Some(key) = self.mask {
            dst.put_slice(&key);
        }
    }
    // ANCHOR_END: write_header

    /// The header's bytes, as they appear on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = BytesMut::with_capacity(self.len());
        self.write(&mut buf);
        buf.to_vec()
    }
}

// ANCHOR: apply_mask
/// XORs `data` with the 4-byte masking key, starting at key position `offset % 4`.
///
/// Masking and unmasking are the same operation (x ^ k ^ k = x). Going byte by byte is
/// correct but slow; this version XORs eight bytes at a time with the key repeated twice
/// into a `u64`, and finishes the last few bytes one at a time. No `unsafe` is needed:
/// `chunks_exact_mut` hands out 8-byte slices the compiler turns into single loads and
/// stores.
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    // Rotate the key so that data[0] meets key[offset % 4], then repeat it to 8 bytes.
    let rotated: [u8; 4] = std::array::from_fn(|i| key[(i + offset) % 4]);
    let wide = u64::from_ne_bytes(std::array::from_fn(|i| rotated[i % 4]));
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(b) ^ wide;
        chunk.copy_from_slice(&x.to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= rotated[i % 4];
    }
}
// ANCHOR_END: apply_mask

/// A whole frame: header fields and the (unmasked) payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The header as it was (or will be) on the wire.
    pub header: FrameHeader,
    /// The payload, unmasked.
    pub payload: Bytes,
}

impl Frame {
    /// A complete frame (FIN set) carrying `payload`, not masked yet.
    pub fn new(opcode: OpCode, payload: impl Into<Bytes>) -> Self {
        let payload = payload.into();
        Self {
            header: FrameHeader::new(opcode, payload.len() as u64),
            payload,
        }
    }

    /// Appends the frame to `dst`: header, then the payload, masked if the header has a
    /// key.
    pub fn encode(&self, dst: &mut BytesMut) {
        debug_assert_eq!(self.header.payload_len, self.payload.len() as u64);
        dst.reserve(self.header.len() + self.payload.len());
        self.header.write(dst);
        let start = dst.len();
        dst.extend_from_slice(&self.payload);
        if let Some(key) = self.header.mask {
            apply_mask(&mut dst[start..], key, 0);
        }
    }

    /// The frame's bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        self.encode(&mut buf);
        buf.to_vec()
    }
}
