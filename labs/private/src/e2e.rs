//! End-to-end encryption: what the two users do so that the server in between relays
//! messages it cannot read.
//!
//! The same four steps run in the browser page (WebCrypto) and in the Rust client
//! (RustCrypto's `p256`, `hkdf`, `sha2`, `aes-gcm`), byte for byte, so the two can talk:
//!
//! 1. Each client makes a P-256 key pair and publishes the public half through the server,
//!    as the 65-byte uncompressed point (`04 || x || y`) in standard base64: what WebCrypto's
//!    `exportKey("raw", ...)` gives.
//! 2. For each peer, ECDH gives both sides the same 32-byte secret (the x coordinate; what
//!    WebCrypto's `deriveBits(..., 256)` gives).
//! 3. HKDF-SHA-256 turns it into a 32-byte AES key, with [`SALT`] as its salt and, as its
//!    info, both users and both public keys in a fixed order ([`pair_info`]): a key swapped
//!    by the server yields another AES key.
//! 4. Each message is sealed with AES-256-GCM under a fresh random 12-byte nonce, with the
//!    routing data (`channel|from|to|seq`) as associated data ([`aad`]): authenticated but
//!    not encrypted, so a ciphertext moved to another channel, sender or sequence number fails
//!    to open. The sequence number lets the recipient refuse a replay ([`ReplayGuard`]).
//!
//! Fingerprints ([`fingerprint`]) let two users check out of band that the server handed
//! them the real keys. Chapter 8 ("Private messaging") walks through this file.

use std::collections::{HashMap, HashSet};

use aes_gcm::aead::{Aead, OsRng, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::{PublicKey, SecretKey};
use sha2::{Digest as _, Sha256};

/// HKDF's salt, the same constant in the page's script. A fixed, public salt is fine here:
/// the ECDH secret is the secret; the salt only separates this use from any other.
pub const SALT: &[u8] = b"websockets-course/private/v1";

/// AES-GCM's nonce length: 96 bits, the size GCM is designed for.
pub const NONCE_BYTES: usize = 12;

/// GCM's authentication tag, appended to every ciphertext.
pub const TAG_BYTES: usize = 16;

/// What can go wrong between two users' devices.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum E2eError {
    /// A public key that is not a P-256 point in the expected encoding.
    #[error("not a P-256 public key (65-byte uncompressed point, base64)")]
    BadKey,
    /// A nonce or ciphertext that is not base64 of the right length.
    #[error("not a sealed message: bad base64 or length")]
    BadEncoding,
    /// GCM's tag did not verify: the ciphertext, the nonce or the routing data was changed,
    /// or it was sealed under another key.
    #[error("refused: message was tampered with (authentication failed)")]
    Tampered,
    /// This sender's sequence number was seen before.
    #[error("refused: message #{seq} from {from} was already received (replay)")]
    Replayed {
        /// Who the message claims to be from.
        from: String,
        /// The repeated sequence number.
        seq: u64,
    },
    /// No public key is known for this user yet.
    #[error("no public key for {0}: they have not published one")]
    NoKey(String),
}

// ANCHOR: identity
/// One client's key pair. The private half never leaves this value.
pub struct Identity {
    /// The P-256 private key.
    secret: SecretKey,
    /// The public key, as published: base64 of the 65-byte uncompressed point.
    public: String,
}

impl Identity {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> Self {
        let secret = SecretKey::random(&mut OsRng);
        let point = secret.public_key().to_encoded_point(false);
        Self {
            public: B64.encode(point.as_bytes()),
            secret,
        }
    }

    /// The public key to publish.
    pub fn public_key(&self) -> &str {
        &self.public
    }
}
// ANCHOR_END: identity

impl std::fmt::Debug for Identity {
    /// Shows the public key only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Decodes a published public key, checking that it is a point of the curve.
pub fn parse_public_key(b64: &str) -> Result<PublicKey, E2eError> {
    let bytes = B64.decode(b64).map_err(|_| E2eError::BadKey)?;
    if bytes.len() != 65 {
        return Err(E2eError::BadKey);
    }
    PublicKey::from_sec1_bytes(&bytes).map_err(|_| E2eError::BadKey)
}

// ANCHOR: fingerprint
/// A public key's fingerprint: the first 16 bytes of its SHA-256, in hex, in groups of
/// four, for two people to read aloud to each other.
pub fn fingerprint(public_b64: &str) -> Result<String, E2eError> {
    let key = parse_public_key(public_b64)?;
    let digest = Sha256::digest(key.to_encoded_point(false).as_bytes());
    let hex: Vec<String> = digest[..16]
        .chunks(2)
        .map(|pair| format!("{:02x}{:02x}", pair[0], pair[1]))
        .collect();
    Ok(hex.join(" "))
}
// ANCHOR_END: fingerprint

/// HKDF's info for the pair (`me`, `them`): both names and both keys, the lower name
/// first, so that both sides build the same bytes.
pub fn pair_info(me: &str, my_key: &str, them: &str, their_key: &str) -> String {
    let (a, b) = if me <= them {
        ((me, my_key), (them, their_key))
    } else {
        ((them, their_key), (me, my_key))
    };
    format!("lab-private v1|{}|{}|{}|{}", a.0, a.1, b.0, b.1)
}

/// The associated data of a message: authenticated, not encrypted.
pub fn aad(channel: &str, from: &str, to: &str, seq: u64) -> String {
    format!("{channel}|{from}|{to}|{seq}")
}

// ANCHOR: derive
/// The AES-256-GCM key one user shares with one peer.
pub struct PairKey {
    /// The cipher, keyed.
    cipher: Aes256Gcm,
}

impl PairKey {
    /// ECDH between `me`'s private key and `them`'s public key, then HKDF-SHA-256.
    pub fn derive(
        me: &Identity,
        my_name: &str,
        them: &str,
        their_key: &str,
    ) -> Result<Self, E2eError> {
        let public = parse_public_key(their_key)?;
        let shared = p256::ecdh::diffie_hellman(me.secret.to_nonzero_scalar(), public.as_affine());
        let info = pair_info(my_name, me.public_key(), them, their_key);
        let hkdf = Hkdf::<Sha256>::new(Some(SALT), shared.raw_secret_bytes());
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA-256's limit of 255 * 32.
        hkdf.expand(info.as_bytes(), &mut key)
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        Ok(Self {
            cipher: Aes256Gcm::new(&key.into()),
        })
    }
    // ANCHOR_END: derive

    // ANCHOR: seal
    /// Seals `plaintext` with a fresh random nonce; returns (nonce, ciphertext) in base64.
    pub fn seal(&self, aad: &str, plaintext: &str) -> (String, String) {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: aad.as_bytes(),
        };
        // AES-GCM encryption fails only for messages over 64 GiB.
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("a message under 64 GiB always encrypts");
        (B64.encode(nonce), B64.encode(ciphertext))
    }

    /// Opens a sealed message, or says it was tampered with.
    pub fn open(&self, aad: &str, nonce: &str, ciphertext: &str) -> Result<String, E2eError> {
        let nonce = B64.decode(nonce).map_err(|_| E2eError::BadEncoding)?;
        let ciphertext = B64.decode(ciphertext).map_err(|_| E2eError::BadEncoding)?;
        if nonce.len() != NONCE_BYTES || ciphertext.len() < TAG_BYTES {
            return Err(E2eError::BadEncoding);
        }
        let payload = Payload {
            msg: &ciphertext,
            aad: aad.as_bytes(),
        };
        let plaintext = self
            .cipher
            .decrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| E2eError::Tampered)?;
        String::from_utf8(plaintext).map_err(|_| E2eError::BadEncoding)
    }
    // ANCHOR_END: seal
}

/// Checks the shape of a sealed message without reading it: what the server can check.
pub fn check_shape(nonce: &str, ciphertext: &str) -> Result<(), E2eError> {
    let nonce = B64.decode(nonce).map_err(|_| E2eError::BadEncoding)?;
    let ciphertext = B64.decode(ciphertext).map_err(|_| E2eError::BadEncoding)?;
    if nonce.len() != NONCE_BYTES || ciphertext.len() < TAG_BYTES {
        return Err(E2eError::BadEncoding);
    }
    Ok(())
}

// ANCHOR: replay
/// The sequence numbers already received from each sender. GCM proves a message is
/// authentic, not that it is new: a server (or anyone on the path) could deliver the same
/// sealed message twice. The sender numbers its messages and the receiver refuses a number
/// it has seen. (A real client keeps a sliding window instead of every number, like DTLS.)
#[derive(Debug, Default)]
pub struct ReplayGuard {
    /// Per sender, the numbers seen under the sender's current key.
    seen: HashMap<String, HashSet<u64>>,
}

impl ReplayGuard {
    /// Records `seq` from `from`, or refuses it if it was seen before.
    pub fn check(&mut self, from: &str, seq: u64) -> Result<(), E2eError> {
        if self.seen.entry(from.to_owned()).or_default().insert(seq) {
            Ok(())
        } else {
            Err(E2eError::Replayed {
                from: from.to_owned(),
                seq,
            })
        }
    }

    /// Forgets `from`'s numbers: they published a new key, so they count from 1 again.
    pub fn reset(&mut self, from: &str) {
        self.seen.remove(from);
    }
}
// ANCHOR_END: replay

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Alice seals, Bob opens; a changed bit, another channel and a replay are refused.
    #[test]
    fn round_trip() {
        let (alice, bob) = (Identity::generate(), Identity::generate());
        let ab = PairKey::derive(&alice, "alice", "bob", bob.public_key()).unwrap();
        let ba = PairKey::derive(&bob, "bob", "alice", alice.public_key()).unwrap();
        let ad = aad("dm:alice:bob", "alice", "bob", 1);
        let (nonce, sealed) = ab.seal(&ad, "hello");
        assert_eq!(ba.open(&ad, &nonce, &sealed).unwrap(), "hello");
        let other = aad("group:x", "alice", "bob", 1);
        assert_eq!(ba.open(&other, &nonce, &sealed), Err(E2eError::Tampered));
        let mut bytes = B64.decode(&sealed).unwrap();
        bytes[0] ^= 1;
        assert_eq!(
            ba.open(&ad, &nonce, &B64.encode(bytes)),
            Err(E2eError::Tampered)
        );
        let mut guard = ReplayGuard::default();
        guard.check("alice", 1).unwrap();
        assert!(matches!(
            guard.check("alice", 1),
            Err(E2eError::Replayed { .. })
        ));
    }

    /// A fingerprint is 8 groups of 4 hex digits; junk is not a key.
    #[test]
    fn fingerprints() {
        let f = fingerprint(Identity::generate().public_key()).unwrap();
        assert_eq!(f.len(), 39, "{f}");
        assert_eq!(fingerprint("AAAA"), Err(E2eError::BadKey));
    }
}
