//! Authentication at the handshake: who is on this connection, decided before it exists.
//!
//! A learner logs in as one of a few demo users with `POST /login` and gets a short-lived
//! token: a JWT (RFC 7519) signed with HMAC-SHA-256 by a secret only the server knows. The
//! WebSocket upgrade must carry it, and this module finds it there:
//!
//! - `Authorization: Bearer <token>`, from any client that can set headers (the Rust client,
//!   tests, curl);
//! - `Sec-WebSocket-Protocol: private.v1, <token>`, from a browser, whose `WebSocket`
//!   constructor cannot set headers but can offer subprotocols. The server answers with
//!   `private.v1` only (see `Gateway::protocols`): the token is never echoed.
//!
//! Never in the query string: URLs end up in access logs, proxies and browser history.
//! A missing, forged, wrongly signed or expired token is refused with `401` before the
//! upgrade; a token that expires while the connection is open closes it with 1008 (see
//! `server.rs`). Tokens are never logged. Chapter 8 ("Private messaging") walks through it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, header};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

/// The subprotocol a browser offers next to its token, and the only one the server answers.
pub const PROTOCOL: &str = "private.v1";

/// The demo users and their passwords. A real service keeps salted password hashes (argon2)
/// in a database; a lab that runs on 127.0.0.1 shows the passwords on its page instead.
pub const DEMO_USERS: &[(&str, &str)] = &[
    ("alice", "alice-pw"),
    ("bob", "bob-pw"),
    ("carol", "carol-pw"),
];

/// What a token says: who, and until when. JWT's registered claim names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user the token was issued to ("subject").
    pub sub: String,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, in seconds since the Unix epoch.
    pub exp: u64,
}

impl Claims {
    /// How long until the token expires, seen from `now`; zero if it already has.
    pub fn remaining(&self, now: SystemTime) -> Duration {
        until(self.exp, now)
    }
}

/// How long from `now` until `exp` (seconds since the Unix epoch); zero if it has passed.
pub fn until(exp: u64, now: SystemTime) -> Duration {
    (UNIX_EPOCH + Duration::from_secs(exp))
        .duration_since(now)
        .unwrap_or(Duration::ZERO)
}

/// Why a login or a token was refused. Each is a `401`; the variants let tests (and logs)
/// tell them apart without ever printing the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// Unknown user or wrong password (one message for both: which one it was is a hint for
    /// an attacker guessing user names).
    #[error("unknown user or wrong password")]
    BadCredentials,
    /// No token in `Authorization` nor in `Sec-WebSocket-Protocol`.
    #[error("no token: send `Authorization: Bearer <token>` or offer it as a subprotocol")]
    Missing,
    /// The token is past its `exp`.
    #[error("the token has expired: log in again")]
    Expired,
    /// The signature does not match: forged, altered, or signed with another key.
    #[error("the token's signature is not valid")]
    BadSignature,
    /// Not a well-formed token of ours (bad encoding, wrong algorithm, missing claims).
    #[error("not a valid token")]
    Malformed,
}

// ANCHOR: tokens
/// Issues and checks tokens with one secret key.
#[derive(Clone)]
pub struct Tokens {
    /// Signs tokens (HMAC-SHA-256 with the secret).
    encoding: EncodingKey,
    /// Checks them, with the same secret.
    decoding: DecodingKey,
    /// What a valid token must be: HS256 only (never `alg: none`), with `sub` and `exp`, no
    /// leeway on expiry.
    validation: Validation,
    /// How long a token lives. Short, because a stolen token works until it expires.
    pub ttl: Duration,
}

impl Tokens {
    /// Tokens signed with `secret`, living `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["sub", "exp"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// Tokens signed with a fresh random secret: every restart of the server invalidates the
    /// tokens it issued before, which is what a lab wants (a real service shares one secret,
    /// or a key pair, between its instances, and rotates it).
    pub fn random(ttl: Duration) -> Self {
        Self::new(&rand::random::<[u8; 32]>(), ttl)
    }

    /// Checks `user`'s password and issues a token valid for [`Tokens::ttl`].
    pub fn login(&self, user: &str, password: &str) -> Result<String, AuthError> {
        let known = DEMO_USERS
            .iter()
            .any(|(name, pw)| *name == user && *pw == password);
        if !known {
            return Err(AuthError::BadCredentials);
        }
        Ok(self.issue(user, SystemTime::now()))
    }

    /// A token for `user`, issued at `now` and expiring [`Tokens::ttl`] later.
    pub fn issue(&self, user: &str, now: SystemTime) -> String {
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let claims = Claims {
            sub: user.to_owned(),
            iat,
            exp: iat + self.ttl.as_secs(),
        };
        // HMAC signing of a serialisable struct cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// Checks `token`'s signature, algorithm and expiry, and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                _ => AuthError::Malformed,
            })
    }
}
// ANCHOR_END: tokens

impl std::fmt::Debug for Tokens {
    /// Never prints the keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

// ANCHOR: token_from_headers
/// Finds the token in an upgrade request: `Authorization: Bearer`, else the subprotocol
/// offered next to [`PROTOCOL`]. Never the query string.
pub fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(token) = bearer {
        return Some(token.to_owned());
    }
    // `Sec-WebSocket-Protocol: private.v1, eyJhbGciOi...`: the value that is not ours.
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .find(|offered| !offered.is_empty() && *offered != PROTOCOL)
        .map(str::to_owned)
}
// ANCHOR_END: token_from_headers

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A token round-trips; one from another key, an altered one and an old one do not.
    #[test]
    fn verify() {
        let tokens = Tokens::new(b"secret", Duration::from_secs(60));
        let token = tokens.login("alice", "alice-pw").unwrap();
        assert_eq!(tokens.verify(&token).unwrap().sub, "alice");
        let other = Tokens::new(b"other", Duration::from_secs(60));
        assert_eq!(other.verify(&token), Err(AuthError::BadSignature));
        let old = tokens.issue("alice", SystemTime::now() - Duration::from_secs(120));
        assert_eq!(tokens.verify(&old), Err(AuthError::Expired));
        assert_eq!(tokens.verify("nope"), Err(AuthError::Malformed));
        assert_eq!(
            tokens.login("alice", "wrong"),
            Err(AuthError::BadCredentials)
        );
    }

    /// The token is found in either header, and `private.v1` alone is no token.
    #[test]
    fn headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(token_from_headers(&headers), None);
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            "private.v1".parse().unwrap(),
        );
        assert_eq!(token_from_headers(&headers), None);
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            "private.v1, a.b.c".parse().unwrap(),
        );
        assert_eq!(token_from_headers(&headers).as_deref(), Some("a.b.c"));
        headers.insert(header::AUTHORIZATION, "Bearer x.y.z".parse().unwrap());
        assert_eq!(token_from_headers(&headers).as_deref(), Some("x.y.z"));
    }
}
