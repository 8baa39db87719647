//! The exercises of chapter 8 ("Private messaging"), with their solutions and tests.
//!
//! ```text
//! cargo test -p lab-private --test exercises
//! ```
//!
//! The book shows each exercise's task and its tests; the body written here is the
//! solution. To do an exercise yourself, replace a body with `todo!()`, watch its tests
//! fail, then write your own until they pass.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use lab_private::e2e::{E2eError, Identity, parse_public_key};
use sha2::{Digest as _, Sha256};

// ---------------------------------------------------------------------------------------
// Exercise 1: one safety number for a pair of users.
// ---------------------------------------------------------------------------------------

// ANCHOR: safety_solution
// ANCHOR: safety_task
/// Exercise 1: the pair's safety number, the same on both users' screens. `me` and `them`
/// are (user name, public key in base64) as each screen knows them. Hash with SHA-256 the
/// two raw public keys (base64-decoded), the key of the name that sorts first first, and
/// show the first 16 bytes in hex, in groups of four (like `e2e::fingerprint`). A key that
/// is not a P-256 point is `E2eError::BadKey`.
pub fn safety_number(me: (&str, &str), them: (&str, &str)) -> Result<String, E2eError> {
    // ANCHOR_END: safety_task
    for (_, key) in [me, them] {
        parse_public_key(key)?;
    }
    let (first, second) = if me.0 <= them.0 {
        (me, them)
    } else {
        (them, me)
    };
    let mut hash = Sha256::new();
    for (_, key) in [first, second] {
        hash.update(B64.decode(key).map_err(|_| E2eError::BadKey)?);
    }
    let digest = hash.finalize();
    let groups: Vec<String> = digest[..16]
        .chunks(2)
        .map(|pair| format!("{:02x}{:02x}", pair[0], pair[1]))
        .collect();
    Ok(groups.join(" "))
}
// ANCHOR_END: safety_solution

// ANCHOR: safety_tests
/// Alice and Bob, each computing it on their own screen, read the same number.
#[test]
fn both_screens_agree() {
    let (alice, bob) = (Identity::generate(), Identity::generate());
    let on_alices = safety_number(("alice", alice.public_key()), ("bob", bob.public_key()));
    let on_bobs = safety_number(("bob", bob.public_key()), ("alice", alice.public_key()));
    assert_eq!(on_alices.unwrap(), on_bobs.unwrap());
}

/// A server that handed Alice its own key as "Bob's" is caught: the numbers differ.
#[test]
fn a_swapped_key_shows() {
    let (alice, bob, mallory) = (
        Identity::generate(),
        Identity::generate(),
        Identity::generate(),
    );
    let on_alices = safety_number(("alice", alice.public_key()), ("bob", mallory.public_key()));
    let on_bobs = safety_number(("bob", bob.public_key()), ("alice", alice.public_key()));
    assert_ne!(on_alices.unwrap(), on_bobs.unwrap());
}

/// Junk is not a key.
#[test]
fn junk_is_refused() {
    let alice = Identity::generate();
    assert_eq!(
        safety_number(("alice", alice.public_key()), ("bob", "AAAA")),
        Err(E2eError::BadKey)
    );
}
// ANCHOR_END: safety_tests

// ---------------------------------------------------------------------------------------
// Exercise 2: a replay window of constant size.
// ---------------------------------------------------------------------------------------

// ANCHOR: window_state
/// What the receiver remembers about one sender: the highest sequence number accepted, and
/// a bitmap of the 64 numbers ending there (bit `i` set: `highest - i` was received).
/// Sixteen bytes per sender, however long the conversation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// The highest number accepted so far (0: none yet; numbers start at 1).
    pub highest: u64,
    /// Which of `highest`, `highest - 1`, ..., `highest - 63` were received.
    pub seen: u64,
}
// ANCHOR_END: window_state

// ANCHOR: window_solution
// ANCHOR: window_task
/// Exercise 2: whether to accept message number `seq`, updating `window`. Accept a number
/// above `highest`, or one at most 63 below it that was not seen yet; refuse a number seen
/// before, 0, and anything 64 or more below `highest` (too old to tell, so refused).
pub fn accept(window: &mut Window, seq: u64) -> bool {
    // ANCHOR_END: window_task
    if seq == 0 {
        return false;
    }
    if seq > window.highest {
        let shift = seq - window.highest;
        window.seen = if shift >= 64 { 0 } else { window.seen << shift };
        window.seen |= 1;
        window.highest = seq;
        return true;
    }
    let age = window.highest - seq;
    if age >= 64 {
        return false;
    }
    let bit = 1u64 << age;
    if window.seen & bit != 0 {
        return false;
    }
    window.seen |= bit;
    true
}
// ANCHOR_END: window_solution

// ANCHOR: window_tests
/// In order, every number is accepted once.
#[test]
fn in_order_once() {
    let mut window = Window::default();
    for seq in 1..=200 {
        assert!(accept(&mut window, seq), "{seq}");
        assert!(!accept(&mut window, seq), "replay of {seq}");
    }
    assert!(!accept(&mut window, 0));
}

/// Out of order (the server's handlers may overtake each other) is fine, within the window.
#[test]
fn out_of_order_within_the_window() {
    let mut window = Window::default();
    for seq in [5, 3, 4, 1, 2, 70] {
        assert!(accept(&mut window, seq), "{seq}");
    }
    // 70 - 63 = 7 is the oldest number still remembered: 6 and older are refused.
    assert!(accept(&mut window, 7));
    assert!(!accept(&mut window, 7));
    assert!(!accept(&mut window, 6));
    assert!(!accept(&mut window, 5));
}

/// A jump of more than 64 forgets everything before: after 1 then 1000, each of the 63
/// numbers below 1000 that the window still covers is accepted, older ones are not.
#[test]
fn big_jumps() {
    let mut window = Window::default();
    assert!(accept(&mut window, 1));
    assert!(accept(&mut window, 1_000));
    // A shift that wrapped around (by 1000 % 64) would have kept 1 as a stray bit.
    for seq in (937..1_000).rev() {
        assert!(accept(&mut window, seq), "{seq} was never received");
    }
    assert!(!accept(&mut window, 936), "64 below 1000: too old");
    assert!(!accept(&mut window, 1));
}
// ANCHOR_END: window_tests
