//! Fuzzes the incremental UTF-8 validator (labs/handshake, `utf8.rs`) against the standard
//! library's `std::str::from_utf8`, on arbitrary bytes cut into arbitrary fragments.
//!
//! ```text
//! RUSTC_BOOTSTRAP=1 cargo fuzz run utf8_validator   # from fuzz/ (see README.md)
//! ```
//!
//! Input: `[k][k fragment sizes][bytes]` (see `ws_fuzz::split_sizes`). What must hold:
//!
//! - after each fragment, `feed` says "invalid" exactly when the bytes so far can no longer
//!   begin any valid UTF-8 text (the standard library's `error_len()` is `Some`): not later,
//!   which would let a peer stream garbage (RFC 6455, section 8.1), and not earlier, which
//!   would refuse a character cut between two frames;
//! - `finish` says "valid" exactly when the whole is valid UTF-8;
//! - a validator that has finished a message starts the next one fresh.

#![no_main]

use lab_handshake::utf8::Utf8Validator;
use libfuzzer_sys::fuzz_target;
use ws_fuzz::{chunks, split_sizes};

/// What the standard library says of a prefix: can it still begin valid text?
fn valid_so_far(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

fuzz_target!(|data: &[u8]| {
    let (sizes, bytes) = split_sizes(data);
    let whole_is_valid = std::str::from_utf8(bytes).is_ok();

    let mut validator = Utf8Validator::new();
    let mut fed = 0;
    let mut refused = false;
    for fragment in chunks(bytes, sizes) {
        fed += fragment.len();
        let accepted = validator.feed(fragment).is_ok();
        assert_eq!(
            accepted,
            valid_so_far(&bytes[..fed]),
            "after {fed} of {} bytes",
            bytes.len()
        );
        if !accepted {
            // The connection fails here; the validator is not used again.
            refused = true;
            break;
        }
    }
    if !refused {
        assert_eq!(validator.finish().is_ok(), whole_is_valid);
        // The next message, in one piece, on the same validator.
        let accepted = validator.feed(bytes).is_ok() && validator.finish().is_ok();
        assert_eq!(accepted, whole_is_valid);
    }
});
