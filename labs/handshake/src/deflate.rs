//! permessage-deflate (RFC 7692): every message compressed with DEFLATE, negotiated in the
//! handshake, marked with the RSV1 bit.
//!
//! ```text
//! client → Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits
//! server ← Sec-WebSocket-Extensions: permessage-deflate
//!
//! "Hello" as a compressed text frame from the server:
//!   c1 07 f2 48 cd c9 c9 07 00
//!   │  │  └─ DEFLATE data of "Hello", its last 4 bytes (00 00 ff ff) removed
//!   │  └─ length 7
//!   └─ FIN, RSV1 (compressed), text
//! ```
//!
//! Three parts, in the order a connection meets them:
//!
//! 1. **Negotiation** ([`parse_extensions`], [`negotiate`], [`client_offer`],
//!    [`accept_response`]): the client offers, with parameters; the server accepts one offer,
//!    maybe with parameters of its own, or declines them all by saying nothing.
//! 2. **Compressing** ([`PerMessageDeflate::compress`]): DEFLATE with a *sync flush*, which
//!    ends the output on a byte boundary with an empty stored block, always `00 00 ff ff`.
//!    Those four bytes are the same for every message, so they are not sent.
//! 3. **Inflating** ([`PerMessageDeflate::inflate`], [`PerMessageDeflate::finish`]): the
//!    receiver puts the four bytes back and inflates, counting every byte it produces against
//!    the message limit *while* inflating: 1 KiB of DEFLATE can inflate to 1 MiB (a "zip
//!    bomb"), and the frame header only tells the compressed size.
//!
//! DEFLATE itself comes from `flate2` (with zlib-rs, zlib written in Rust); the rules of the
//! extension are here. Chapter 5 of the book walks through this file.
//!
//! Context takeover: by default each side keeps its LZ77 window (the last 32 KiB it sent)
//! from one message to the next, so a message can point back into earlier ones: the second
//! `{"symbol":"BTC","price":…}` costs a few bytes. The price is memory: a zlib compressor
//! with a 32 KiB window holds about 256 KiB, for the whole life of the connection.
//! `*_no_context_takeover` makes every message stand alone, and lets this implementation
//! drop its compressor and decompressor between messages: an idle connection then holds
//! none.

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::codec::Role;
use crate::error::ProtocolError;

/// The extension's registered name.
pub const EXTENSION: &str = "permessage-deflate";

/// The empty stored block a sync flush ends with (RFC 7692, 7.2.1): removed by the sender
/// from the end of every message, appended again by the receiver before inflating.
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The largest LZ77 window, 2^15 = 32 KiB: what a parameter left out means.
pub const MAX_WINDOW_BITS: u8 = 15;

/// The smallest window this implementation compresses with. The RFC allows 8 (256 bytes),
/// but zlib's deflate has no 256-byte window: asked for 8, it silently uses 9, and a peer
/// that had been promised 256 bytes could not inflate the result. So an offer that asks
/// us for 8 is declined, as the RFC lets a server do with a configuration it does not
/// support.
pub const MIN_WINDOW_BITS: u8 = 9;

/// How much a single inflate step writes before it is counted against the limit: the
/// most a zip bomb can make us hold beyond the limit. On the stack, never kept.
const INFLATE_STEP: usize = 8 * 1024;

// ANCHOR: config
/// What one end wants from the extension: what a server answers with, or what a client
/// offers. The fields are named from this end's side (ours, the peer's); the RFC's names
/// are server_* and client_*, so which field maps to which depends on the role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Keep our compression context between the messages we send. `false` asks for
    /// `server_no_context_takeover` (server) / `client_no_context_takeover` (client) and
    /// frees our compressor after each message.
    pub context_takeover: bool,
    /// Let the peer keep its context between the messages it sends to us. `false` asks for
    /// the other `*_no_context_takeover`, so that our decompressor can be freed between
    /// messages too.
    pub peer_context_takeover: bool,
    /// The window we compress with, 9 to 15 (at most what the peer allows).
    pub window_bits: u8,
    /// The window we ask the peer to compress with, 9 to 15: the size of our decompressor's
    /// window. A server can only ask it of a client that offered `client_max_window_bits`.
    pub peer_window_bits: u8,
    /// zlib's level, 0 (store) to 9 (smallest). 6 is zlib's default.
    pub level: u32,
}

impl Default for DeflateConfig {
    /// What browsers and most libraries use: context takeover both ways, 32 KiB windows,
    /// zlib's default level.
    fn default() -> Self {
        Self {
            context_takeover: true,
            peer_context_takeover: true,
            window_bits: MAX_WINDOW_BITS,
            peer_window_bits: MAX_WINDOW_BITS,
            level: 6,
        }
    }
}

impl DeflateConfig {
    /// No context takeover either way: every message stands alone, and nothing of the
    /// compression is kept between messages.
    pub fn no_context_takeover() -> Self {
        Self {
            context_takeover: false,
            peer_context_takeover: false,
            ..Self::default()
        }
    }
}
// ANCHOR_END: config

/// One element of a `Sec-WebSocket-Extensions` header: a name and its parameters, as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// The extension's name, e.g. `permessage-deflate`.
    pub name: String,
    /// Its parameters in order: name, and value if it has one (quotes removed).
    pub params: Vec<(String, Option<String>)>,
}

/// Is `c` a token character (RFC 9110: visible ASCII except separators)?
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Splits `s` on `sep`, except inside quoted strings.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// A parameter value: a token, or a quoted string whose content must be a token (RFC 6455,
/// 9.1).
fn param_value(raw: &str) -> Option<String> {
    let value = match raw.strip_prefix('"') {
        Some(rest) => {
            let inner = rest.strip_suffix('"')?;
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' { chars.next()? } else { c });
            }
            out
        }
        None => raw.to_owned(),
    };
    (!value.is_empty() && value.chars().all(is_tchar)).then_some(value)
}

// ANCHOR: parse_extensions
/// Parses `Sec-WebSocket-Extensions` header values (the header may be sent several times;
/// each value is a comma-separated list). An element that does not parse is `Err` in its
/// place, so a server can decline that offer and still consider the next one.
pub fn parse_extensions<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Vec<Result<Extension, String>> {
    let mut extensions = Vec::new();
    for value in values {
        for element in split_outside_quotes(value, ',') {
            if element.trim().is_empty() {
                continue; // "a, , b": empty list elements are allowed and ignored
            }
            extensions.push(parse_element(element));
        }
    }
    extensions
}

fn parse_element(element: &str) -> Result<Extension, String> {
    let mut parts = split_outside_quotes(element, ';').into_iter();
    let name = parts.next().unwrap_or_default().trim();
    if name.is_empty() || !name.chars().all(is_tchar) {
        return Err(format!("{element:?}: not an extension name"));
    }
    let mut params = Vec::new();
    for part in parts {
        let (key, value) = match part.split_once('=') {
            Some((key, value)) => {
                let value = param_value(value.trim())
                    .ok_or_else(|| format!("{part:?}: not a token or quoted token"))?;
                (key.trim(), Some(value))
            }
            None => (part.trim(), None),
        };
        if key.is_empty() || !key.chars().all(is_tchar) {
            return Err(format!("{part:?}: not a parameter name"));
        }
        params.push((key.to_ascii_lowercase(), value));
    }
    Ok(Extension {
        name: name.to_owned(),
        params,
    })
}
// ANCHOR_END: parse_extensions

/// A window size parameter's value: `8` to `15`, decimal, no leading zero (RFC 7692, 7.1.2).
fn window_bits(value: &str) -> Option<u8> {
    match value.parse::<u8>() {
        Ok(bits @ 8..=15) if !value.starts_with('0') => Some(bits),
        _ => None,
    }
}

/// The four parameters of permessage-deflate, as offered or answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    /// `None`: absent.
    server_max_window_bits: Option<u8>,
    /// `None`: absent; `Some(None)`: present without a value (only in an offer).
    client_max_window_bits: Option<Option<u8>>,
}

/// Reads the parameters of one permessage-deflate element. `Err` for what the RFC says
/// makes an offer declined, or a response failed (5.1, 7.1): a parameter it does not
/// define, one given twice, or an invalid value.
fn read_params(extension: &Extension, in_offer: bool) -> Result<Params, String> {
    let mut params = Params::default();
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in &extension.params {
        if seen.contains(&key.as_str()) {
            return Err(format!("{key} given twice"));
        }
        seen.push(key);
        match (key.as_str(), value) {
            ("server_no_context_takeover", None) => params.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => params.client_no_context_takeover = true,
            ("server_max_window_bits", Some(v)) => {
                let bits = window_bits(v).ok_or(format!("server_max_window_bits={v}"))?;
                params.server_max_window_bits = Some(bits);
            }
            // Without a value only in an offer: "I support the parameter" (7.1.2.2).
            ("client_max_window_bits", None) if in_offer => {
                params.client_max_window_bits = Some(None)
            }
            ("client_max_window_bits", Some(v)) => {
                let bits = window_bits(v).ok_or(format!("client_max_window_bits={v}"))?;
                params.client_max_window_bits = Some(Some(bits));
            }
            (key, None) => return Err(format!("{key}: unknown, or needs a value")),
            (key, Some(v)) => return Err(format!("{key}={v}: unknown, or takes no value")),
        }
    }
    Ok(params)
}

// ANCHOR: agreed
/// What both ends agreed on: the extension is in use, with these parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agreed {
    /// The server starts every message with an empty window.
    pub server_no_context_takeover: bool,
    /// The client starts every message with an empty window.
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with.
    pub server_max_window_bits: u8,
    /// The largest window the client compresses with.
    pub client_max_window_bits: u8,
    /// zlib's level for what this end sends (not negotiated: each side picks its own).
    pub level: u32,
}
// ANCHOR_END: agreed

impl Agreed {
    /// The `Sec-WebSocket-Extensions` value a server answers with: the agreed parameters
    /// that differ from the defaults.
    pub fn response_header(&self) -> String {
        let mut header = EXTENSION.to_owned();
        if self.server_no_context_takeover {
            header.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            header.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < MAX_WINDOW_BITS {
            header.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if self.client_max_window_bits < MAX_WINDOW_BITS {
            header.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        }
        header
    }

    /// Whether context takeover is off for what `role` sends, and for what it receives.
    pub fn no_context_takeover(&self, role: Role) -> (bool, bool) {
        match role {
            Role::Server => (
                self.server_no_context_takeover,
                self.client_no_context_takeover,
            ),
            Role::Client => (
                self.client_no_context_takeover,
                self.server_no_context_takeover,
            ),
        }
    }
}

// ANCHOR: negotiate
/// The server's side: the first acceptable permessage-deflate offer among `offers`, with
/// what this server wants, or `None` (declined: the 101 carries no extension header, and
/// the connection goes on uncompressed).
///
/// An offer is declined, and the next one considered, if it has a parameter the RFC does
/// not define for an offer, one given twice, an invalid value (5.1), or asks for something
/// we cannot do (`server_max_window_bits=8`, see [`MIN_WINDOW_BITS`]).
pub fn negotiate(offers: &[Result<Extension, String>], ours: &DeflateConfig) -> Option<Agreed> {
    offers.iter().find_map(|offer| {
        let offer = offer.as_ref().ok()?;
        if !offer.name.eq_ignore_ascii_case(EXTENSION) {
            return None;
        }
        let asked = read_params(offer, true).ok()?;
        // The client may limit our window (we answer the same or smaller, 7.1.2.1); we may
        // limit it ourselves even unasked.
        let server_window = match asked.server_max_window_bits {
            Some(bits) if bits < MIN_WINDOW_BITS => return None,
            Some(bits) => bits.min(ours.window_bits),
            None => ours.window_bits,
        };
        // We may limit the client's window only if it said it can (7.1.2.2); a value in the
        // offer is a limit it has set itself.
        let client_window = match asked.client_max_window_bits {
            None => MAX_WINDOW_BITS,
            Some(None) => ours.peer_window_bits,
            Some(Some(bits)) => bits.min(ours.peer_window_bits),
        };
        Some(Agreed {
            server_no_context_takeover: asked.server_no_context_takeover || !ours.context_takeover,
            client_no_context_takeover: asked.client_no_context_takeover
                || !ours.peer_context_takeover,
            server_max_window_bits: server_window,
            client_max_window_bits: client_window,
            level: ours.level,
        })
    })
}
// ANCHOR_END: negotiate

/// The client's side: the offer it sends.
pub fn client_offer(ours: &DeflateConfig) -> String {
    let mut offer = EXTENSION.to_owned();
    if !ours.peer_context_takeover {
        offer.push_str("; server_no_context_takeover");
    }
    if !ours.context_takeover {
        offer.push_str("; client_no_context_takeover");
    }
    if ours.peer_window_bits < MAX_WINDOW_BITS {
        offer.push_str(&format!(
            "; server_max_window_bits={}",
            ours.peer_window_bits
        ));
    }
    // Always offered: "the server may limit my window". With a value: "and I limit it".
    if ours.window_bits < MAX_WINDOW_BITS {
        offer.push_str(&format!("; client_max_window_bits={}", ours.window_bits));
    } else {
        offer.push_str("; client_max_window_bits");
    }
    offer
}

// ANCHOR: accept_response
/// The client's side: checks the server's answer to [`client_offer`]`(ours)`. `Ok(None)`:
/// no extension (the server declined; go on uncompressed). `Err`: the client must fail the
/// connection (RFC 7692, 5.1): an extension we did not offer, more than one, a parameter
/// not defined for a response, given twice, an invalid value, or a configuration we cannot
/// use.
pub fn accept_response<'a>(
    values: impl IntoIterator<Item = &'a str>,
    ours: &DeflateConfig,
) -> Result<Option<Agreed>, String> {
    let answered = parse_extensions(values);
    let extension = match answered.as_slice() {
        [] => return Ok(None),
        [Ok(extension)] if extension.name.eq_ignore_ascii_case(EXTENSION) => extension,
        [Ok(other)] => return Err(format!("{} was not offered", other.name)),
        [Err(why)] => return Err(why.clone()),
        _ => return Err("more than one extension accepted; one was offered".into()),
    };
    let params = read_params(extension, false)?;
    let server_window = params.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS);
    if ours.peer_window_bits < MAX_WINDOW_BITS && server_window > ours.peer_window_bits {
        return Err(format!(
            "server_max_window_bits={server_window} is more than the {} offered",
            ours.peer_window_bits
        ));
    }
    // `Some(None)` cannot come out of `read_params` for a response.
    let client_window = match params.client_max_window_bits {
        Some(Some(bits)) if bits < MIN_WINDOW_BITS => {
            return Err(format!(
                "client_max_window_bits={bits}: zlib cannot compress with a 256-byte window"
            ));
        }
        Some(Some(bits)) => bits.min(ours.window_bits),
        _ => ours.window_bits,
    };
    Ok(Some(Agreed {
        server_no_context_takeover: params.server_no_context_takeover,
        // The server may turn our context takeover off unasked; we may turn it off ourselves.
        client_no_context_takeover: params.client_no_context_takeover || !ours.context_takeover,
        server_max_window_bits: server_window,
        client_max_window_bits: client_window,
        level: ours.level,
    }))
}
// ANCHOR_END: accept_response

/// One end's compression state on a connection: a compressor for what it sends and a
/// decompressor for what it receives, each created when first needed and, without context
/// takeover, dropped at the end of each message.
pub struct PerMessageDeflate {
    /// Our compressor's window, 9 to 15.
    send_window: u8,
    /// Keep the compressor between messages.
    send_takeover: bool,
    /// The peer's window, so our decompressor's (at least 9: see [`MIN_WINDOW_BITS`]).
    recv_window: u8,
    /// Keep the decompressor between messages.
    recv_takeover: bool,
    /// zlib's level.
    level: Compression,
    /// Alive while needed: for the connection's life with context takeover, for one
    /// message without.
    compressor: Option<Compress>,
    decompressor: Option<Decompress>,
    /// The message being inflated reached a final DEFLATE block: the rest is ignored, and
    /// the next message starts with a fresh decompressor.
    stream_ended: bool,
}

impl std::fmt::Debug for PerMessageDeflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerMessageDeflate")
            .field("send_window", &self.send_window)
            .field("send_takeover", &self.send_takeover)
            .field("recv_window", &self.recv_window)
            .field("recv_takeover", &self.recv_takeover)
            .field("compressor", &self.compressor.is_some())
            .field("decompressor", &self.decompressor.is_some())
            .finish()
    }
}

impl PerMessageDeflate {
    /// The state for `role` on a connection that agreed on `agreed`.
    pub fn new(agreed: &Agreed, role: Role) -> Self {
        let (send_fresh, recv_fresh) = agreed.no_context_takeover(role);
        let (send_window, recv_window) = match role {
            Role::Server => (agreed.server_max_window_bits, agreed.client_max_window_bits),
            Role::Client => (agreed.client_max_window_bits, agreed.server_max_window_bits),
        };
        Self {
            send_window: send_window.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS),
            send_takeover: !send_fresh,
            // A window larger than the sender's inflates its data just as well.
            recv_window: recv_window.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS),
            recv_takeover: !recv_fresh,
            level: Compression::new(agreed.level.min(9)),
            compressor: None,
            decompressor: None,
            stream_ended: false,
        }
    }

    /// Whether a compressor and a decompressor are alive right now (for tests and the
    /// memory measurement: without context takeover, an idle connection has neither).
    pub fn contexts(&self) -> (bool, bool) {
        (self.compressor.is_some(), self.decompressor.is_some())
    }

    // ANCHOR: compress
    /// Compresses the next piece of a message: the whole message, or one fragment of it
    /// (`last` for the final one). Each piece ends with a sync flush, so it can go out as a
    /// frame at once; the final piece loses the `00 00 ff ff` the flush ends with.
    pub fn compress(&mut self, data: &[u8], last: bool) -> Bytes {
        let (level, window) = (self.level, self.send_window);
        let compressor = self
            .compressor
            .get_or_insert_with(|| Compress::new_with_window_bits(level, false, window));
        // DEFLATE can grow incompressible data by 5 bytes per 16 KiB stored block.
        let mut out = Vec::with_capacity(data.len() + data.len() / 1024 + 64);
        let mut consumed = 0;
        // Each round either consumes input or fills the output; the output of a sync flush
        // is complete when zlib returns with room to spare.
        loop {
            let before = compressor.total_in();
            let result = compressor.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync);
            consumed += (compressor.total_in() - before) as usize;
            let complete = consumed == data.len() && out.len() < out.capacity();
            // zlib fails only on misuse (a flush mode it refuses); this never happens with a
            // sync flush, and we would rather send what we have than panic.
            if result.is_err() || complete {
                break;
            }
            out.reserve(out.capacity().max(64));
        }
        if last {
            if out.ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            }
            // Nothing new since the last flush, and zlib will not flush twice in a row; but
            // the receiver will append `00 00 ff ff`, which needs the empty stored block's
            // first byte before it: the single `00` of an empty message (RFC 7692, 7.2.3.6).
            if out.is_empty() {
                out.push(0x00);
            }
            if !self.send_takeover {
                // The lesson of no_context_takeover: nothing is kept between messages.
                self.compressor = None;
            }
        }
        Bytes::from(out)
    }
    // ANCHOR_END: compress

    // ANCHOR: inflate
    /// Inflates one frame's compressed payload onto `out`, failing as soon as `out` would
    /// hold more than `limit` bytes: the zip bomb is stopped at the limit (plus one step of
    /// 8 KiB), never inflated whole.
    pub fn inflate(
        &mut self,
        mut data: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        let window = self.recv_window;
        let decompressor = self
            .decompressor
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, window));
        let mut step = [0u8; INFLATE_STEP];
        // Each round consumes input or produces output; the output is capped by `limit`,
        // the input is one frame: the loop is bounded.
        while !self.stream_ended {
            let (before_in, before_out) = (decompressor.total_in(), decompressor.total_out());
            let status = decompressor
                .decompress(data, &mut step, FlushDecompress::Sync)
                .map_err(|err| ProtocolError::BadDeflate(err.to_string()))?;
            let read = (decompressor.total_in() - before_in) as usize;
            let wrote = (decompressor.total_out() - before_out) as usize;
            data = &data[read..];
            if out.len() + wrote > limit {
                return Err(ProtocolError::MessageTooLarge {
                    len: (out.len() + wrote) as u64,
                    limit,
                });
            }
            out.extend_from_slice(&step[..wrote]);
            match status {
                // A block with BFINAL set ends the DEFLATE stream; a sender may do that
                // (RFC 7692, 7.2.3.3). Whatever follows in this message is ignored.
                Status::StreamEnd => self.stream_ended = true,
                // Input used up and room left in the step: all there is, for now.
                _ if data.is_empty() && wrote < INFLATE_STEP => break,
                // No progress with input left: zlib cannot go on.
                _ if read == 0 && wrote == 0 => {
                    return Err(ProtocolError::BadDeflate("inflate made no progress".into()));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Ends a compressed message: inflates the `00 00 ff ff` the sender removed, and
    /// without context takeover (or after a final block) lets the decompressor go.
    pub fn finish(&mut self, out: &mut BytesMut, limit: usize) -> Result<(), ProtocolError> {
        let result = self.inflate(&TAIL, out, limit);
        if !self.recv_takeover || self.stream_ended {
            self.decompressor = None;
            self.stream_ended = false;
        }
        result
    }
    // ANCHOR_END: inflate
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn offers(header: &str) -> Vec<Result<Extension, String>> {
        parse_extensions([header])
    }

    /// Browsers' offer is accepted with no parameters in the answer.
    #[test]
    fn browser_offer() {
        let agreed = negotiate(
            &offers("permessage-deflate; client_max_window_bits"),
            &DeflateConfig::default(),
        )
        .unwrap();
        assert_eq!(agreed.response_header(), "permessage-deflate");
        assert_eq!(agreed.client_max_window_bits, 15);
    }

    /// Offers the RFC says to decline, each time with an acceptable one behind it, which is
    /// the one taken.
    #[test]
    fn declined_offers_and_fallback() {
        for bad in [
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; client_max_window_bits=x",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; =3",
            "x-webkit-deflate-frame",
        ] {
            assert_eq!(
                negotiate(&offers(bad), &DeflateConfig::default()),
                None,
                "{bad}"
            );
            let header = format!("{bad}, permessage-deflate; client_no_context_takeover");
            let agreed = negotiate(&offers(&header), &DeflateConfig::default()).unwrap();
            assert_eq!(
                agreed.response_header(),
                "permessage-deflate; client_no_context_takeover",
                "{header}"
            );
        }
    }

    /// The server answers the same or a smaller window, limits the client's only if the
    /// client said it may, and quoted values count as tokens.
    #[test]
    fn windows_and_quotes() {
        let ours = DeflateConfig {
            window_bits: 12,
            peer_window_bits: 10,
            ..DeflateConfig::default()
        };
        let agreed = negotiate(
            &offers("permessage-deflate; server_max_window_bits=\"14\""),
            &ours,
        );
        assert_eq!(
            agreed.unwrap().response_header(),
            "permessage-deflate; server_max_window_bits=12"
        );
        let agreed = negotiate(&offers("permessage-deflate; client_max_window_bits"), &ours);
        assert_eq!(
            agreed.unwrap().response_header(),
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10"
        );
        let agreed = negotiate(
            &offers("permessage-deflate; server_max_window_bits=9"),
            &ours,
        );
        assert_eq!(agreed.unwrap().server_max_window_bits, 9);
    }

    /// The client refuses answers the RFC says it must fail on.
    #[test]
    fn client_checks_the_answer() {
        let ours = DeflateConfig::default();
        assert_eq!(accept_response([], &ours), Ok(None));
        for bad in [
            "x-other",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; client_max_window_bits=8",
            "permessage-deflate; server_max_window_bits=99",
            "permessage-deflate; hello",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        ] {
            assert!(accept_response([bad], &ours).is_err(), "{bad}");
        }
        let agreed = accept_response(
            ["permessage-deflate; server_no_context_takeover; client_max_window_bits=10"],
            &ours,
        )
        .unwrap()
        .unwrap();
        assert!(agreed.server_no_context_takeover && !agreed.client_no_context_takeover);
        assert_eq!(agreed.client_max_window_bits, 10);
        let limited = DeflateConfig {
            peer_window_bits: 10,
            ..ours
        };
        assert_eq!(
            client_offer(&limited),
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits"
        );
        assert!(accept_response(["permessage-deflate"], &limited).is_err());
    }

    fn pair(agreed: &Agreed) -> (PerMessageDeflate, PerMessageDeflate) {
        (
            PerMessageDeflate::new(agreed, Role::Server),
            PerMessageDeflate::new(agreed, Role::Client),
        )
    }

    /// RFC 7692's own example (7.2.3.1): "Hello" compressed is `f2 48 cd c9 c9 07 00`, and
    /// with context takeover the second "Hello" is `f2 00 11 00 00` (7.2.3.2).
    #[test]
    fn rfc_hello_and_context_takeover() {
        let agreed = negotiate(&offers("permessage-deflate"), &DeflateConfig::default()).unwrap();
        let (mut server, mut client) = pair(&agreed);
        let first = server.compress(b"Hello", true);
        assert_eq!(first[..], [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        let second = server.compress(b"Hello", true);
        assert_eq!(second[..], [0xf2, 0x00, 0x11, 0x00, 0x00]);
        for payload in [first, second] {
            let mut out = BytesMut::new();
            client.inflate(&payload, &mut out, 100).unwrap();
            client.finish(&mut out, 100).unwrap();
            assert_eq!(&out[..], b"Hello");
        }
    }

    /// Without context takeover every "Hello" is the same 7 bytes and nothing is kept
    /// between messages; an empty message is the single byte 0x00 (7.2.3.6).
    #[test]
    fn no_context_takeover_frees_the_contexts() {
        let agreed = negotiate(
            &offers("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            &DeflateConfig::default(),
        )
        .unwrap();
        let (mut server, mut client) = pair(&agreed);
        for _ in 0..2 {
            let payload = server.compress(b"Hello", true);
            assert_eq!(payload[..], [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
            assert_eq!(server.contexts(), (false, false));
            let mut out = BytesMut::new();
            client.inflate(&payload, &mut out, 100).unwrap();
            assert_eq!(client.contexts(), (false, true), "alive during the message");
            client.finish(&mut out, 100).unwrap();
            assert_eq!(client.contexts(), (false, false), "and gone after it");
        }
        assert_eq!(server.compress(b"", true)[..], [0x00]);
    }

    /// Fragments compressed piece by piece inflate to the whole message; a message over the
    /// limit fails while inflating; garbage is BadDeflate.
    #[test]
    fn fragments_limit_and_garbage() {
        let agreed = negotiate(&offers("permessage-deflate"), &DeflateConfig::default()).unwrap();
        let (mut server, mut client) = pair(&agreed);
        let parts = [&b"{\"symbol\":\"BTC\","[..], b"\"price\":97000}", b""];
        let mut out = BytesMut::new();
        for (i, part) in parts.iter().enumerate() {
            let payload = server.compress(part, i == parts.len() - 1);
            client.inflate(&payload, &mut out, 1000).unwrap();
        }
        client.finish(&mut out, 1000).unwrap();
        assert_eq!(&out[..], b"{\"symbol\":\"BTC\",\"price\":97000}");

        let bomb = server.compress(&vec![b'a'; 1 << 20], true);
        assert!(bomb.len() < 2048, "1 MiB of 'a' is {} bytes", bomb.len());
        let mut out = BytesMut::new();
        let err = client.inflate(&bomb, &mut out, 64 * 1024).unwrap_err();
        assert!(
            matches!(err, ProtocolError::MessageTooLarge { .. }),
            "{err}"
        );
        assert!(out.len() <= 64 * 1024);

        let mut fresh = PerMessageDeflate::new(&agreed, Role::Client);
        let err = fresh
            .inflate(&[0xff, 0xff, 0xff, 0xff], &mut BytesMut::new(), 1000)
            .unwrap_err();
        assert!(matches!(err, ProtocolError::BadDeflate(_)), "{err}");
    }
}
