//! Fuzzes the private lab's token handling (labs/private, `auth.rs`): finding the token in
//! the upgrade request's headers, and checking it (`Tokens::verify`, a JWT signed with
//! HMAC-SHA-256).
//!
//! ```text
//! RUSTC_BOOTSTRAP=1 cargo fuzz run private_token   # from fuzz/ (see README.md)
//! ```
//!
//! Input: arbitrary bytes, used as a token, as a user name, and as the value of the two
//! headers a token can come in. What must hold, besides never panicking:
//!
//! - whatever is checked as a token, an accepted one has not expired and names a user;
//! - a token issued for any user name (quotes, backslashes, any Unicode) verifies, with
//!   that name; changed in any one byte, it does not;
//! - `Authorization: Bearer <token>` gives the token, trimmed; otherwise a
//!   `Sec-WebSocket-Protocol` offer gives the first offered value that is not `private.v1`.

#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, header};
use lab_private::auth::{PROTOCOL, Tokens, token_from_headers};
use libfuzzer_sys::fuzz_target;

/// One key for the whole run. The seed corpus carries a token signed with this secret that
/// expires in 2100, so the fuzzer starts from an accepted token.
fn tokens() -> &'static Tokens {
    static TOKENS: OnceLock<Tokens> = OnceLock::new();
    TOKENS.get_or_init(|| Tokens::new(b"fuzz-secret", Duration::from_secs(3600)))
}

/// Whatever the token, an accepted one is in date and names someone.
fn check(token: &str) {
    if let Ok(claims) = tokens().verify(token) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        assert!(claims.exp > now, "accepted an expired token: {claims:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check(&text);

    // Issued for any name, it verifies with that name; one byte changed, it does not.
    let token = tokens().issue(&text, SystemTime::now());
    let claims = tokens().verify(&token).expect("a fresh token verifies");
    assert_eq!(claims.sub, text);
    if let Some((&at, &flip)) = data.first().zip(data.get(1)) {
        let mut altered = token.clone().into_bytes();
        let at = usize::from(at) % altered.len();
        // A non-zero 7-bit change keeps the token ASCII, so still a `str`.
        altered[at] ^= (flip & 0x7F).max(1);
        let altered = String::from_utf8(altered).expect("ASCII stays UTF-8");
        assert!(
            tokens().verify(&altered).is_err(),
            "a token with byte {at} changed still verifies"
        );
    }

    // The two headers a token can travel in.
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut bearer = HeaderMap::new();
    bearer.insert(header::AUTHORIZATION, value.clone());
    let found = token_from_headers(&bearer);
    let expected = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    assert_eq!(found, expected);

    let mut offered = HeaderMap::new();
    offered.insert(header::SEC_WEBSOCKET_PROTOCOL, value.clone());
    let found = token_from_headers(&offered);
    let expected = value.to_str().ok().and_then(|v| {
        v.split(',')
            .map(str::trim)
            .find(|t| !t.is_empty() && *t != PROTOCOL)
            .map(str::to_owned)
    });
    assert_eq!(found, expected);
    if let Some(token) = &found {
        check(token);
    }

    // Both: the bearer token wins.
    offered.insert(header::AUTHORIZATION, value);
    let both = token_from_headers(&offered);
    assert_eq!(both, token_from_headers(&bearer).or(found));
});
