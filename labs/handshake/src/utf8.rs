//! Incremental UTF-8 validation: fail as soon as an invalid sequence arrives.
//!
//! A text message may arrive in many frames, and a multi-byte character may be cut between
//! two of them. Waiting for the whole message before validating would let a peer send
//! megabytes of garbage first; RFC 6455 (section 8.1) says to fail the connection as soon
//! as the data is known to be invalid. So each fragment is validated as it arrives, keeping
//! only the 1-3 bytes of a character that is not complete yet.

// ANCHOR: validator
/// Validates a text message fragment by fragment.
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    /// The start of a character cut at the end of the last fragment (at most 3 bytes).
    pending: Vec<u8>,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the next fragment. `Err(())` as soon as the bytes cannot be UTF-8, whatever
    /// follows; `Ok(())` if they are valid so far (perhaps ending inside a character).
    #[allow(clippy::result_unit_err)] // The only failure is "invalid"; the caller names it.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), ()> {
        // First complete the character left over from the previous fragment.
        while !self.pending.is_empty() {
            let Some((&byte, rest)) = data.split_first() else {
                return Ok(());
            };
            self.pending.push(byte);
            data = rest;
            match std::str::from_utf8(&self.pending) {
                Ok(_) => self.pending.clear(),
                // Still incomplete (error_len None): keep collecting, at most 4 bytes.
                Err(e) if e.error_len().is_none() && self.pending.len() < 4 => {}
                Err(_) => return Err(()),
            }
        }
        match std::str::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) => match e.error_len() {
                // An invalid sequence: no continuation can repair it.
                Some(_) => Err(()),
                // The valid prefix ends with the start of a character: remember it.
                None => {
                    self.pending.extend_from_slice(&data[e.valid_up_to()..]);
                    Ok(())
                }
            },
        }
    }

    /// Ends the message: valid only if no character was left incomplete.
    #[allow(clippy::result_unit_err)]
    pub fn finish(&mut self) -> Result<(), ()> {
        let complete = self.pending.is_empty();
        self.pending.clear();
        if complete { Ok(()) } else { Err(()) }
    }
}
// ANCHOR_END: validator

#[cfg(test)]
mod tests {
    use super::*;

    /// A character split over fragments is fine; an impossible byte fails at once, before
    /// the message ends.
    #[test]
    fn splits_and_early_failure() {
        let text = "Xin chào, thế giới 👋".as_bytes();
        for cut in 0..text.len() {
            let mut v = Utf8Validator::new();
            assert!(v.feed(&text[..cut]).is_ok());
            assert!(v.feed(&text[cut..]).is_ok());
            assert!(v.finish().is_ok());
        }
        let mut v = Utf8Validator::new();
        assert!(v.feed(b"ok \xF0\x9F").is_ok());
        assert!(
            v.feed(b"\x41").is_err(),
            "a broken 4-byte sequence fails mid-message"
        );
        let mut v = Utf8Validator::new();
        assert!(v.feed(b"\xC3").is_ok());
        assert!(
            v.finish().is_err(),
            "a message cannot end inside a character"
        );
        // 0xF5 and above can never start a character.
        assert!(Utf8Validator::new().feed(b"\xF5").is_err());
    }
}
