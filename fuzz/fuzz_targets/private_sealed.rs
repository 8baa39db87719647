//! Fuzzes the private lab's sealed messages (labs/private, `e2e.rs` and the `send` payload
//! of `server.rs`): what the server checks of a message it cannot read, what a recipient
//! does to open one, and the public keys users publish.
//!
//! ```text
//! RUSTC_BOOTSTRAP=1 cargo fuzz run private_sealed   # from fuzz/ (see README.md)
//! ```
//!
//! Input: arbitrary bytes, read as a `send` payload (JSON), as `nonce|ciphertext`, as a
//! published public key, and as the text and routing data of a message to seal. What must
//! hold, besides never panicking:
//!
//! - the server's shape check (`check_shape`) and the recipient's `open` agree: a copy the
//!   server refuses is "bad encoding" to the recipient, and a copy the server relays opens
//!   or is refused as tampered with (nothing here can forge AES-GCM's tag);
//! - sealed, any text opens again under the same routing data, and fails as tampered with
//!   if one bit of the ciphertext or the routing data changes;
//! - a public key parses exactly when it has a fingerprint, and a key pair derives from it.

#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use lab_private::channels::Sealed;
use lab_private::e2e::{self, E2eError, Identity, PairKey};
use lab_private::server::Send as SendRequest;
use libfuzzer_sys::fuzz_target;

/// Alice's and Bob's keys for the whole run: ECDH per input would cost more than the rest.
struct Pair {
    alice: Identity,
    /// Alice's side of the shared key.
    alice_to_bob: PairKey,
    /// Bob's side: the same AES key, derived from the other end.
    bob_to_alice: PairKey,
}

fn pair() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| {
        let (alice, bob) = (Identity::generate(), Identity::generate());
        let alice_to_bob = PairKey::derive(&alice, "alice", "bob", bob.public_key())
            .expect("a generated key is a valid key");
        let bob_to_alice = PairKey::derive(&bob, "bob", "alice", alice.public_key())
            .expect("a generated key is a valid key");
        Pair {
            alice,
            alice_to_bob,
            bob_to_alice,
        }
    })
}

/// The server's check and the recipient's opening, on one copy.
fn check_copy(aad: &str, nonce: &str, ciphertext: &str) {
    let opened = pair().bob_to_alice.open(aad, nonce, ciphertext);
    match e2e::check_shape(nonce, ciphertext) {
        Err(refused) => {
            assert_eq!(refused, E2eError::BadEncoding);
            assert_eq!(opened, Err(E2eError::BadEncoding));
        }
        Ok(()) => assert_eq!(opened, Err(E2eError::Tampered)),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    // A `send` request, as the server receives it.
    if let Ok(request) = serde_json::from_slice::<SendRequest>(data) {
        for copy in &request.copies {
            let aad = e2e::aad(&request.channel, "alice", &copy.to, request.seq);
            check_copy(&aad, &copy.iv, &copy.ciphertext);
        }
    }
    // A relayed copy, as the recipient receives it: stored and relayed unchanged.
    if let Ok(sealed) = serde_json::from_slice::<Sealed>(data) {
        let again = serde_json::to_string(&sealed).expect("a Sealed serialises");
        assert_eq!(serde_json::from_str::<Sealed>(&again).ok(), Some(sealed));
    }
    // The two base64 fields alone.
    let (nonce, ciphertext) = text.split_once('|').unwrap_or((&text, ""));
    check_copy("dm:alice:bob|alice|bob|1", nonce, ciphertext);

    // A published key.
    let parsed = e2e::parse_public_key(&text);
    let fingerprint = e2e::fingerprint(&text);
    assert_eq!(parsed.is_ok(), fingerprint.is_ok());
    if let Ok(fingerprint) = fingerprint {
        assert_eq!(fingerprint.len(), 39, "{fingerprint}");
        assert!(PairKey::derive(&pair().alice, "alice", "mallory", &text).is_ok());
    }

    // Seal the input, with the input as routing data too.
    let mut middle = text.len() / 2;
    while !text.is_char_boundary(middle) {
        middle -= 1;
    }
    let (aad, plaintext) = text.split_at(middle);
    let (nonce, sealed) = pair().alice_to_bob.seal(aad, plaintext);
    assert_eq!(
        pair().bob_to_alice.open(aad, &nonce, &sealed).as_deref(),
        Ok(plaintext)
    );
    let mut bytes = B64.decode(&sealed).expect("seal writes base64");
    let at = data.first().map_or(0, |&b| usize::from(b)) % bytes.len();
    bytes[at] ^= 1 << (data.get(1).map_or(0, |&b| b) % 8);
    assert_eq!(
        pair().bob_to_alice.open(aad, &nonce, &B64.encode(bytes)),
        Err(E2eError::Tampered)
    );
    let moved = format!("{aad}+");
    assert_eq!(
        pair().bob_to_alice.open(&moved, &nonce, &sealed),
        Err(E2eError::Tampered)
    );
});
