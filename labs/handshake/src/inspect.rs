//! The frame inspector: every frame taken apart, field by field, as the book's diagrams
//! draw it.
//!
//! An [`AnnotatedFrame`] holds the frame's bytes in hex, each header field with its bits
//! and its meaning, the masking key, and the payload both as it travelled (masked) and as
//! it reads (unmasked), and for a compressed frame (permessage-deflate) what it inflates to
//! and the ratio. It is JSON for the browser page and text for the terminal.

use std::fmt;

use crate::events::Direction;
use crate::frame::{Frame, LengthEncoding, OpCode, apply_mask};

/// How many payload bytes the inspector shows; the rest is summarised.
pub const PREVIEW_BYTES: usize = 64;

/// One header field, decoded.
#[derive(Clone, Debug, serde::Serialize, PartialEq, Eq)]
pub struct Field {
    /// The field's name in RFC 6455 ("FIN", "opcode", "MASK", "Payload len"...).
    pub name: &'static str,
    /// Its bits as they are on the wire, e.g. "1" or "0001".
    pub bits: String,
    /// What they mean, e.g. "text frame".
    pub meaning: String,
}

/// A frame, annotated.
#[derive(Clone, Debug, serde::Serialize, PartialEq, Eq)]
pub struct AnnotatedFrame {
    /// Which way it went.
    pub direction: Direction,
    /// The opcode, by name.
    pub opcode: OpCode,
    /// The header's bytes in hex, e.g. "81 85 37 fa 21 3d".
    pub header_hex: String,
    /// The header, field by field.
    pub fields: Vec<Field>,
    /// The masking key in hex, if the frame is masked.
    pub mask_key: Option<String>,
    /// The payload length.
    pub payload_len: u64,
    /// The first payload bytes as they travelled (masked, if a key is set), in hex.
    pub payload_wire_hex: String,
    /// The same bytes unmasked, in hex.
    pub payload_hex: String,
    /// The payload as text, when it is UTF-8 (control payloads decoded: close code and
    /// reason).
    pub payload_text: Option<String>,
    /// Whether the payload is longer than the preview.
    pub truncated: bool,
    /// For a compressed data frame: the bytes before compression (sent) or after inflating
    /// (received). Set by the connection, which is the one that knows them.
    pub original: Option<Original>,
}

// ANCHOR: original
/// A compressed frame's payload as the application sees it.
#[derive(Clone, Debug, serde::Serialize, PartialEq, Eq)]
pub struct Original {
    /// Its length before compression (after inflating).
    pub len: usize,
    /// The payload on the wire divided by this length, in per mille (1000 = no gain, 250 =
    /// four times smaller); 0 for an empty original.
    pub ratio_per_mille: u64,
    /// Its first bytes, in hex.
    pub hex: String,
    /// Its first bytes as text, for a text message (a preview cut at a character
    /// boundary).
    pub text: Option<String>,
}

/// Corrects the RSV field's meaning of a frame without RSV1 on a connection where
/// permessage-deflate *was* negotiated (`annotate` alone cannot know).
pub fn note_compression_negotiated(annotated: &mut AnnotatedFrame) {
    if let Some(field) = annotated.fields.iter_mut().find(|f| f.name == "RSV1-3")
        && field.bits == "000"
    {
        field.meaning = "not compressed (permessage-deflate negotiated; RSV1 clear)".into();
    }
}

impl Original {
    /// `original` (of a message with `opcode`) that travelled as `wire_len` bytes.
    pub fn of(original: &[u8], wire_len: usize, opcode: OpCode) -> Self {
        let shown = &original[..original.len().min(PREVIEW_BYTES)];
        let text = (opcode == OpCode::Text).then(|| match std::str::from_utf8(shown) {
            Ok(text) => text.to_owned(),
            Err(cut) => String::from_utf8_lossy(&shown[..cut.valid_up_to()]).into_owned(),
        });
        Self {
            len: original.len(),
            ratio_per_mille: (wire_len as u64 * 1000)
                .checked_div(original.len() as u64)
                .unwrap_or(0),
            hex: hex(shown),
            text,
        }
    }
}
// ANCHOR_END: original

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn opcode_meaning(opcode: OpCode) -> &'static str {
    match opcode {
        OpCode::Continuation => "continuation of a fragmented message",
        OpCode::Text => "text frame (UTF-8)",
        OpCode::Binary => "binary frame",
        OpCode::Close => "close (control)",
        OpCode::Ping => "ping (control)",
        OpCode::Pong => "pong (control)",
    }
}

// ANCHOR: annotate
/// Takes `frame` apart. `frame.payload` is unmasked; the wire form is recomputed by
/// masking it again with the frame's key (masking is its own inverse).
pub fn annotate(frame: &Frame, direction: Direction) -> AnnotatedFrame {
    let h = &frame.header;
    let bit = |b: bool| if b { "1" } else { "0" }.to_string();
    let encoding = LengthEncoding::for_len(h.payload_len);
    let len7 = match encoding {
        LengthEncoding::Short => h.payload_len as u8,
        LengthEncoding::Extended16 => 126,
        LengthEncoding::Extended64 => 127,
    };
    let mut fields = vec![
        Field {
            name: "FIN",
            bits: bit(h.fin),
            meaning: if h.fin {
                "last frame of the message"
            } else {
                "more frames follow"
            }
            .into(),
        },
        Field {
            name: "RSV1-3",
            bits: h.rsv.iter().map(|&b| bit(b)).collect(),
            meaning: if h.rsv[0] {
                "RSV1: the message is compressed (permessage-deflate)"
            } else {
                "reserved for extensions (none negotiated)"
            }
            .into(),
        },
        Field {
            name: "opcode",
            bits: format!("{:04b}", h.opcode.bits()),
            meaning: format!("0x{:X}: {}", h.opcode.bits(), opcode_meaning(h.opcode)),
        },
        Field {
            name: "MASK",
            bits: bit(h.mask.is_some()),
            meaning: if h.mask.is_some() {
                "masked (client to server)"
            } else {
                "not masked (server to client)"
            }
            .into(),
        },
        Field {
            name: "Payload len",
            bits: format!("{len7:07b}"),
            meaning: match encoding {
                LengthEncoding::Short => format!("{} bytes", h.payload_len),
                LengthEncoding::Extended16 => "126: the length is in the next 16 bits".into(),
                LengthEncoding::Extended64 => "127: the length is in the next 64 bits".into(),
            },
        },
    ];
    if encoding != LengthEncoding::Short {
        fields.push(Field {
            name: "Extended payload length",
            bits: format!("{} bits", encoding.extra_bytes() * 8),
            meaning: format!("{} bytes", h.payload_len),
        });
    }

    let shown = &frame.payload[..frame.payload.len().min(PREVIEW_BYTES)];
    let mut wire = shown.to_vec();
    if let Some(key) = h.mask {
        apply_mask(&mut wire, key, 0);
        fields.push(Field {
            name: "Masking-key",
            bits: "32 bits".into(),
            meaning: hex(&key),
        });
    }
    let payload_text = match h.opcode {
        OpCode::Close if frame.payload.len() >= 2 => Some(format!(
            "code {} {:?}",
            u16::from_be_bytes([frame.payload[0], frame.payload[1]]),
            String::from_utf8_lossy(&frame.payload[2..])
        )),
        OpCode::Close => Some("no status code".into()),
        OpCode::Binary => None,
        // Compressed bytes are not text, even when they happen to be valid UTF-8.
        _ if h.rsv[0] => None,
        _ => std::str::from_utf8(shown).ok().map(str::to_owned),
    };
    AnnotatedFrame {
        direction,
        opcode: h.opcode,
        header_hex: hex(&h.to_bytes()),
        fields,
        mask_key: h.mask.map(|k| hex(&k)),
        payload_len: h.payload_len,
        payload_wire_hex: hex(&wire),
        payload_hex: hex(shown),
        payload_text,
        truncated: frame.payload.len() > PREVIEW_BYTES,
        original: None,
    }
}
// ANCHOR_END: annotate

impl fmt::Display for AnnotatedFrame {
    /// The terminal form:
    ///
    /// ```text
    /// → Text frame, 5 bytes
    ///   header   81 85 37 fa 21 3d
    ///   FIN            1        last frame of the message
    ///   ...
    ///   payload  7f 9f 4d 51 58 (masked) → 48 65 6c 6c 6f "Hello"
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arrow = match self.direction {
            Direction::Out => "→ sent",
            Direction::In => "← received",
        };
        writeln!(
            f,
            "{arrow} {:?} frame, {} bytes of payload",
            self.opcode, self.payload_len
        )?;
        writeln!(f, "  header   {}", self.header_hex)?;
        for field in &self.fields {
            writeln!(
                f,
                "  {:<24} {:<8} {}",
                field.name, field.bits, field.meaning
            )?;
        }
        let more = if self.truncated { " …" } else { "" };
        if self.payload_len > 0 {
            if self.mask_key.is_some() {
                writeln!(
                    f,
                    "  payload on the wire (masked)  {}{more}",
                    self.payload_wire_hex
                )?;
                writeln!(
                    f,
                    "  payload unmasked              {}{more}",
                    self.payload_hex
                )?;
            } else {
                writeln!(f, "  payload  {}{more}", self.payload_hex)?;
            }
        }
        if let Some(text) = &self.payload_text {
            writeln!(f, "  reads    {text:?}")?;
        }
        if let Some(original) = &self.original {
            let ratio = original.ratio_per_mille as f64 / 1000.0;
            let verb = match self.direction {
                Direction::Out => "compressed from",
                Direction::In => "inflates to",
            };
            writeln!(
                f,
                "  {verb} {} bytes ({ratio:.3}× on the wire)  {}",
                original.len, original.hex
            )?;
            if let Some(text) = &original.text {
                writeln!(f, "  reads    {text:?}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC's own example (section 5.7): a masked "Hello" from a client.
    #[test]
    fn rfc_masked_hello() {
        let bytes = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let header = crate::frame::FrameHeader::parse(&bytes).unwrap().unwrap();
        let mut payload = bytes[6..].to_vec();
        apply_mask(&mut payload, header.mask.unwrap(), 0);
        let frame = Frame {
            header,
            payload: payload.into(),
        };
        let a = annotate(&frame, Direction::In);
        assert_eq!(a.header_hex, "81 85 37 fa 21 3d");
        assert_eq!(a.payload_wire_hex, "7f 9f 4d 51 58");
        assert_eq!(a.payload_hex, "48 65 6c 6c 6f");
        assert_eq!(a.payload_text.as_deref(), Some("Hello"));
        assert_eq!(a.fields[2].bits, "0001");
        let text = a.to_string();
        assert!(
            text.contains("Masking-key") && text.contains("37 fa 21 3d"),
            "{text}"
        );
    }
}
