//! Fuzzes permessage-deflate's inflating: the handshake lab's `PerMessageDeflate`
//! (labs/handshake, `deflate.rs`), the code that turns a peer's compressed bytes back into
//! a message under a size limit.
//!
//! ```text
//! RUSTC_BOOTSTRAP=1 cargo fuzz run inflate          # from fuzz/ (see README.md)
//! ```
//!
//! Input: `[flags][limit][cut][bytes]`. `flags` bit 0: context takeover on; bits 1-3: the
//! window, 9 + n (at most 15). `limit` `n`: a message limit of `64 (n + 1)` bytes. `cut`: where
//! the bytes are split into two frames. What must hold, besides never panicking or hanging:
//!
//! - arbitrary bytes (a hostile peer's): inflating either fails or gives at most `limit`
//!   bytes, and never holds more than the limit: a zip bomb is refused while inflating;
//! - the same bytes cut in two frames inflate to the same result as in one piece;
//! - any bytes compressed by our own sender (cut into two fragments at `cut`) inflate back
//!   to themselves, twice in a row on the same contexts (context takeover's second message
//!   points back into the first), whatever the window and the takeover mode.

#![no_main]

use bytes::BytesMut;
use lab_handshake::Role;
use lab_handshake::deflate::{Agreed, PerMessageDeflate};
use libfuzzer_sys::fuzz_target;

/// The agreement both ends share, from the flags byte.
fn agreed(flags: u8) -> Agreed {
    let takeover = flags & 1 == 1;
    let window = (9 + ((flags >> 1) & 7)).min(15);
    Agreed {
        server_no_context_takeover: !takeover,
        client_no_context_takeover: !takeover,
        server_max_window_bits: window,
        client_max_window_bits: window,
        level: 6,
    }
}

/// Inflates `frames` as one message on `inflater`: the result, or the error's text.
fn inflate(inflater: &mut PerMessageDeflate, frames: &[&[u8]], limit: usize) -> Result<Vec<u8>, String> {
    let mut out = BytesMut::new();
    for frame in frames {
        inflater
            .inflate(frame, &mut out, limit)
            .map_err(|err| err.to_string())?;
        assert!(out.len() <= limit, "held {} bytes over a limit of {limit}", out.len());
    }
    inflater.finish(&mut out, limit).map_err(|err| err.to_string())?;
    assert!(out.len() <= limit, "held {} bytes over a limit of {limit}", out.len());
    Ok(out.to_vec())
}

fuzz_target!(|input: &[u8]| {
    let [flags, limit, cut, bytes @ ..] = input else {
        return;
    };
    let agreed = agreed(*flags);
    let limit = 64 * (usize::from(*limit) + 1);
    let cut = usize::from(*cut).min(bytes.len());

    // A hostile peer's bytes, whole and cut: the same answer, never over the limit.
    let whole = inflate(&mut PerMessageDeflate::new(&agreed, Role::Server), &[bytes], limit);
    let (a, b) = bytes.split_at(cut);
    let split = inflate(&mut PerMessageDeflate::new(&agreed, Role::Server), &[a, b], limit);
    assert_eq!(whole.is_ok(), split.is_ok(), "{whole:?} vs {split:?}");
    if let (Ok(whole), Ok(split)) = (&whole, &split) {
        assert_eq!(whole, split);
    }

    // Our own compression, inflated back: the message itself, twice on the same contexts.
    let mut sender = PerMessageDeflate::new(&agreed, Role::Client);
    let mut receiver = PerMessageDeflate::new(&agreed, Role::Server);
    let big_enough = bytes.len().max(1);
    for _ in 0..2 {
        let first = sender.compress(a, false);
        let last = sender.compress(b, true);
        let back = inflate(&mut receiver, &[&first, &last], big_enough)
            .unwrap_or_else(|err| panic!("our own compression did not inflate: {err}"));
        assert_eq!(back, bytes);
    }
});
