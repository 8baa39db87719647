//! What can go wrong, and which close code each violation earns (RFC 6455, section 7.4).
//!
//! Every rule the receiver checks has its own variant, so a test can assert exactly which
//! rule fired, and the learner reading a log sees the rule by name. [`ProtocolError::close_code`]
//! is the table of DESIGN.md's "bad input" section in code form.

use crate::handshake::HandshakeError;

// ANCHOR: protocol_error
/// A peer broke a rule of the protocol. The connection ends with [`Self::close_code`].
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// RSV1-3 set without an extension that defines them. permessage-deflate, when it was
    /// negotiated, defines RSV1; RSV2 and RSV3 are never defined here.
    #[error("reserved bits set (0b{0:03b}) that no negotiated extension defines")]
    ReservedBits(u8),
    /// RSV1 ("compressed") on a control frame or a continuation: permessage-deflate sets it
    /// only on the first frame of a data message (RFC 7692, 6).
    #[error("RSV1 (compressed) set on a {0:?} frame: only a message's first frame may carry it")]
    Rsv1Misplaced(crate::frame::OpCode),
    /// A compressed message whose payload is not valid DEFLATE data.
    #[error("compressed data cannot be inflated: {0}")]
    BadDeflate(String),
    /// Opcodes 0x3-0x7 and 0xB-0xF are reserved.
    #[error("reserved opcode 0x{0:X}")]
    ReservedOpcode(u8),
    /// A client frame without a mask ("a server MUST close the connection", 5.1).
    #[error("client frame is not masked")]
    UnmaskedClientFrame,
    /// A server frame with a mask ("a client MUST close the connection", 5.1).
    #[error("server frame is masked")]
    MaskedServerFrame,
    /// Control frames carry at most 125 bytes.
    #[error("control frame of {0} bytes (the limit is 125)")]
    ControlFrameTooLong(u64),
    /// Control frames must not be fragmented (FIN must be set).
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// A continuation frame with no message in progress.
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is still in progress.
    #[error("new data frame inside a fragmented message")]
    ExpectedContinuation,
    /// The 64-bit length has its most significant bit set.
    #[error("64-bit payload length with the top bit set")]
    LengthTopBitSet,
    /// A length written with more bytes than needed.
    #[error("payload length {0} not in its minimal encoding")]
    NonMinimalLength(u64),
    /// A close frame with a payload of exactly one byte (a code takes two).
    #[error("close frame with a 1-byte payload")]
    CloseOneByte,
    /// A close code that may not appear on the wire.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A close reason that is not UTF-8.
    #[error("close reason is not valid UTF-8")]
    CloseReasonNotUtf8,
    /// A text message (or a fragment of one) that is not UTF-8.
    #[error("text message is not valid UTF-8")]
    InvalidUtf8,
    /// A frame claiming more than the frame limit; refused from its header.
    #[error("frame of {len} bytes exceeds the limit of {limit}")]
    FrameTooLarge {
        /// The length the header claimed.
        len: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A fragmented message growing past the message limit.
    #[error("message of {len} bytes or more exceeds the limit of {limit}")]
    MessageTooLarge {
        /// The size the message would reach.
        len: u64,
        /// The configured limit.
        limit: usize,
    },
}

impl ProtocolError {
    /// The close code this violation earns (section 7.4.1).
    pub fn close_code(&self) -> u16 {
        match self {
            // 1007: "data within a message that was not consistent with the type".
            Self::InvalidUtf8 => 1007,
            // Invalid DEFLATE falls to 1002 below, not 1007: the compressed bytes are the
            // extension's encoding of the payload, like the frame header is the protocol's;
            // 1007 is for a payload that decodes fine but contradicts its type (UTF-8).
            // 1009: "a message that is too big for it to process".
            Self::FrameTooLarge { .. } | Self::MessageTooLarge { .. } => 1009,
            // 1002: everything else is a protocol error.
            _ => 1002,
        }
    }
}
// ANCHOR_END: protocol_error

/// Anything that ends a connection or a handshake abnormally.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The peer broke the protocol; we sent (or tried to send) a close frame with its code.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The opening handshake failed.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The TCP connection failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The peer closed TCP without a close handshake (close code 1006, never sent).
    #[error("connection dropped without a close frame (1006)")]
    Dropped,
    /// A send after the connection was closed.
    #[error("the connection is closed")]
    Closed,
}
