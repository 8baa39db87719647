//! Close codes, and the close frame tungstenite does not send for us.
//!
//! RFC 6455 (section 7.4) gives each reason to end a connection a number. A server that
//! receives something it cannot accept should say which rule was broken before it hangs up:
//! `1002` for a protocol violation, `1007` for a text message that is not UTF-8, `1009` for a
//! message over the size limit. tungstenite (and so axum's `WebSocket`, which runs it) only
//! *returns an error* in those cases; it sends no close frame, and a server that just drops
//! the socket leaves the client with "connection reset" and nothing to learn from.
//!
//! The socket is still writable after such an error, so a lab maps the error to its code with
//! [`violation`] and sends the close frame itself before dropping the connection. The gateway
//! lab (chapter 6, "The gateway") does it in its receive loop; the other gateway-based labs
//! inherit it from there.
//!
//! Through axum, tungstenite's error is wrapped in an `axum::Error`: [`violation_of_axum`]
//! downcasts it back.

use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};

/// 1000: the purpose of the connection is fulfilled; a normal goodbye.
pub const NORMAL: u16 = 1000;
/// 1001: the server is going down, or a browser tab is navigating away.
pub const GOING_AWAY: u16 = 1001;
/// 1002: the peer broke the framing rules (unmasked client frame, reserved bits, ...).
pub const PROTOCOL_ERROR: u16 = 1002;
/// 1003: a kind of data the endpoint cannot accept (a binary frame to a text-only server).
pub const UNSUPPORTED_DATA: u16 = 1003;
/// 1007: a text message whose bytes are not valid UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// 1008: a policy was broken (a client too slow to read its messages, a flood).
pub const POLICY_VIOLATION: u16 = 1008;
/// 1009: a message bigger than the endpoint accepts.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// 1011: the server hit an unexpected condition.
pub const INTERNAL_ERROR: u16 = 1011;
/// 1013: the server is overloaded; try again later.
pub const TRY_AGAIN_LATER: u16 = 1013;

/// Why a connection must be closed, as a close frame says it: a code and a short reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The close code of RFC 6455, section 7.4.1.
    pub code: u16,
    /// A short human reason. A close frame's payload is at most 125 bytes, code included,
    /// so [`Violation::new`] cuts it to 123 bytes on a character boundary.
    pub reason: String,
}

impl Violation {
    /// A violation with `code` and `reason`, the reason cut to fit in a close frame.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > 123 {
            let mut end = 123;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        Self { code, reason }
    }
}

// ANCHOR: violation
/// The close code a tungstenite read error earns, or `None` when there is nobody left to
/// tell (the peer reset the connection, or the socket failed).
pub fn violation(err: &WsError) -> Option<Violation> {
    match err {
        // The peer vanished without a close frame: nothing to answer.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(protocol) => Some(Violation::new(PROTOCOL_ERROR, protocol.to_string())),
        WsError::Utf8(_) => Some(Violation::new(
            INVALID_PAYLOAD,
            "text message is not valid UTF-8",
        )),
        WsError::Capacity(capacity) => Some(Violation::new(MESSAGE_TOO_BIG, capacity.to_string())),
        // Io, ConnectionClosed, AlreadyClosed...: the socket itself is gone.
        _ => None,
    }
}
// ANCHOR_END: violation

/// [`violation`] for the error axum's `WebSocket` returns, which wraps tungstenite's.
pub fn violation_of_axum(err: axum::Error) -> Option<Violation> {
    err.into_inner()
        .downcast::<WsError>()
        .ok()
        .and_then(|err| violation(&err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::error::CapacityError;

    /// Each kind of read error gets the code RFC 6455 assigns to it.
    #[test]
    fn codes() {
        let code = |err: WsError| violation(&err).map(|v| v.code);
        assert_eq!(
            code(WsError::Protocol(ProtocolError::UnmaskedFrameFromClient)),
            Some(1002)
        );
        assert_eq!(
            code(WsError::Protocol(ProtocolError::NonZeroReservedBits)),
            Some(1002)
        );
        assert_eq!(code(WsError::Utf8("bad".into())), Some(1007));
        assert_eq!(
            code(WsError::Capacity(CapacityError::MessageTooLong {
                size: 2,
                max_size: 1
            })),
            Some(1009)
        );
        assert_eq!(
            code(WsError::Protocol(
                ProtocolError::ResetWithoutClosingHandshake
            )),
            None
        );
        assert_eq!(code(WsError::ConnectionClosed), None);
    }

    /// The error survives axum's wrapping.
    #[test]
    fn through_axum() {
        let err = axum::Error::new(WsError::Utf8("bad".into()));
        assert_eq!(violation_of_axum(err).map(|v| v.code), Some(1007));
    }

    /// A long reason is cut to the longest prefix of at most 123 bytes that ends on a
    /// character boundary; one of 123 bytes is kept whole.
    #[test]
    fn reason_fits() {
        // `é` is 2 bytes: 61 of them are 122 bytes, and the 62nd would cross 123.
        let v = Violation::new(1002, "é".repeat(100));
        assert_eq!(v.reason, "é".repeat(61));
        assert_eq!(v.reason.len(), 122);
        let ascii = Violation::new(1002, "a".repeat(200));
        assert_eq!(ascii.reason.len(), 123, "cut at exactly 123 when it can be");
        assert_eq!(
            Violation::new(1002, "a".repeat(123)).reason,
            "a".repeat(123)
        );
    }
}
