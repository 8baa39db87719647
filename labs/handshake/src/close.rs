//! The close frame: an optional status code and reason (RFC 6455, sections 5.5.1 and 7.4).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ProtocolError;

// ANCHOR: valid_close_code
/// May this code appear in a close frame on the wire?
///
/// - 1000-1003 and 1007-1014 are defined and may be sent (1012-1014 were registered with
///   IANA after the RFC: service restart, try again later, bad gateway).
/// - 1004 is reserved, and 1005, 1006 and 1015 are "no code", "dropped" and "TLS failed":
///   they describe what happened to a connection and must never be sent.
/// - 3000-3999 are registered by libraries and frameworks, 4000-4999 are for private use.
/// - Everything else (below 1000, 1016-2999, 5000 and up) is invalid.
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}
// ANCHOR_END: valid_close_code

/// A close frame's content.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CloseFrame {
    /// The status code (1000 for a normal closure).
    pub code: u16,
    /// A reason for humans; UTF-8, at most 123 bytes so that the frame fits 125.
    pub reason: String,
}

impl CloseFrame {
    // ANCHOR: close_parse
    /// Parses a close payload: empty (no code), or a valid code and a UTF-8 reason.
    pub fn parse(payload: &[u8]) -> Result<Option<Self>, ProtocolError> {
        match payload {
            [] => Ok(None),
            [_] => Err(ProtocolError::CloseOneByte),
            [hi, lo, reason @ ..] => {
                let code = u16::from_be_bytes([*hi, *lo]);
                if !is_valid_close_code(code) {
                    return Err(ProtocolError::InvalidCloseCode(code));
                }
                let reason = std::str::from_utf8(reason)
                    .map_err(|_| ProtocolError::CloseReasonNotUtf8)?
                    .to_owned();
                Ok(Some(Self { code, reason }))
            }
        }
    }
    // ANCHOR_END: close_parse

    /// The payload bytes: the code in network byte order, then the reason.
    pub fn to_payload(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(2 + self.reason.len());
        buf.put_u16(self.code);
        buf.put_slice(self.reason.as_bytes());
        buf.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code table of section 7.4, boundary by boundary.
    #[test]
    fn close_code_table() {
        for ok in [
            1000, 1001, 1002, 1003, 1007, 1010, 1011, 1014, 3000, 3999, 4000, 4999,
        ] {
            assert!(is_valid_close_code(ok), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert!(!is_valid_close_code(bad), "{bad}");
        }
    }

    /// Payload parsing: empty, one byte, bad code, bad reason, good.
    #[test]
    fn parse_payloads() {
        assert_eq!(CloseFrame::parse(&[]), Ok(None));
        assert_eq!(CloseFrame::parse(&[3]), Err(ProtocolError::CloseOneByte));
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xED]),
            Err(ProtocolError::InvalidCloseCode(1005))
        );
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xE8, 0xFF]),
            Err(ProtocolError::CloseReasonNotUtf8)
        );
        let frame = CloseFrame {
            code: 1000,
            reason: "bye".into(),
        };
        assert_eq!(CloseFrame::parse(&frame.to_payload()), Ok(Some(frame)));
    }
}
