//! The exercises of chapter "Scaling out", each with its solution and the tests that check
//! it. To do one, replace the solution's body with `todo!()` and make the tests pass again:
//! `cargo test -p lab-scale --test exercises`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use lab_scale::{BrokerSettings, Position};

// ANCHOR: duplicate_solution
// ANCHOR: duplicate_task
/// Whether `incoming` was already delivered, given the position of the last message
/// delivered in its room (`None`: nothing yet). A rejoin replays from the history what may
/// also arrive live; the client must show each message once.
pub fn is_duplicate(last: Option<&Position>, incoming: &Position) -> bool {
    // ANCHOR_END: duplicate_task
    // Stream ids only grow within one history, so anything at or before the last one seen
    // was seen. Another epoch is another history (Redis restarted): nothing in it was seen.
    last.is_some_and(|last| last.epoch == incoming.epoch && incoming.id <= last.id)
}
// ANCHOR_END: duplicate_solution

// ANCHOR: duplicate_tests
fn at(text: &str) -> Position {
    text.parse().unwrap()
}

/// Older and equal ids of the same epoch are duplicates; newer ones, other epochs and a
/// first message are not.
#[test]
fn duplicates() {
    let last = at("e1:1718000000000-3");
    assert!(is_duplicate(Some(&last), &at("e1:1718000000000-3")));
    assert!(is_duplicate(Some(&last), &at("e1:1718000000000-2")));
    assert!(is_duplicate(Some(&last), &at("e1:1717999999999-9")));
    assert!(!is_duplicate(Some(&last), &at("e1:1718000000000-4")));
    assert!(!is_duplicate(Some(&last), &at("e1:1718000000001-0")));
    assert!(
        !is_duplicate(Some(&last), &at("e2:1-0")),
        "a new epoch is a new history"
    );
    assert!(!is_duplicate(None, &at("e1:1-0")));
}
// ANCHOR_END: duplicate_tests

// ANCHOR: expiry_solution
// ANCHOR: expiry_task
/// The longest a member of a node killed with SIGKILL can still be listed in a room, after
/// the kill, with `settings`: each node pushes its own members' deadlines to `now + ttl`
/// every third of the TTL, and removes expired entries of its rooms on the same tick.
pub fn longest_listed_after_a_crash(settings: &BrokerSettings) -> Duration {
    // ANCHOR_END: expiry_task
    // Worst case: the dead node refreshed its entry just before it died, so the deadline is
    // a full TTL after the crash; a survivor's tick may have come just before the deadline,
    // so the next one, a third of the TTL later, removes it.
    let ttl = settings.presence_ttl;
    ttl + ttl / 3
}
// ANCHOR_END: expiry_solution

// ANCHOR: expiry_tests
/// With the lab's default of 15 s, at most 20 s; with the tests' 2 s, at most 2.67 s.
#[test]
fn expiry() {
    assert_eq!(
        longest_listed_after_a_crash(&BrokerSettings::default()),
        Duration::from_secs(20)
    );
    let quick = BrokerSettings {
        presence_ttl: Duration::from_secs(2),
        ..BrokerSettings::default()
    };
    assert_eq!(
        longest_listed_after_a_crash(&quick),
        Duration::from_nanos(2_666_666_666)
    );
}
// ANCHOR_END: expiry_tests
