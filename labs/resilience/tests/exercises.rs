//! The exercises of chapter 10 ("Best practices, measured") on the resilience lab, with
//! their solutions, tested against the lab's own code.
//!
//! ```text
//! cargo test -p lab-resilience --test exercises
//! ```
//!
//! The book shows each task and its tests; the body written here is the solution. Replace it
//! with `todo!()` to do the exercise yourself.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use lab_resilience::HistoryLimits;
use lab_resilience::client::Backoff;
use lab_resilience::stream::{History, Position};
use tokio::time::Instant;

// ANCHOR: equal_solution
// ANCHOR: equal_task
/// Exercise 1: "equal jitter", the other policy of AWS's study. The `attempt`-th retry waits
/// half its ceiling for sure, plus a random part of the other half:
/// `ceiling/2 + unit·ceiling/2`, where the ceiling is `policy.ceiling(attempt)` and `unit`
/// is uniform in `[0, 1)`. No retry then comes at once (full jitter may wait 0 ms), at the
/// price of less spreading.
pub fn equal_jitter(policy: &Backoff, attempt: u32, unit: f64) -> Duration {
    // ANCHOR_END: equal_task
    let half = policy.ceiling(attempt) / 2;
    half + half.mul_f64(unit.clamp(0.0, 1.0))
}
// ANCHOR_END: equal_solution

// ANCHOR: equal_tests
/// Every delay is within `[ceiling/2, ceiling]`, the ceiling never passes the cap however
/// many failures (attempt 40, or `u32::MAX`, must not overflow), and the mean of many draws
/// is three quarters of the ceiling.
#[test]
fn equal_jitter_stays_within_its_bounds() {
    let policy = Backoff {
        base: Duration::from_millis(500),
        cap: Duration::from_secs(30),
    };
    for attempt in (0..64).chain([u32::MAX]) {
        let ceiling = policy.ceiling(attempt);
        assert!(ceiling <= policy.cap);
        for unit in [0.0, 0.25, 0.5, 0.999_999] {
            let delay = equal_jitter(&policy, attempt, unit);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "attempt {attempt}, unit {unit}: {delay:?} outside [{:?}, {ceiling:?}]",
                ceiling / 2
            );
        }
    }
    assert_eq!(equal_jitter(&policy, 0, 0.0), Duration::from_millis(250));
    assert_eq!(equal_jitter(&policy, 3, 0.5), Duration::from_secs(3));
    let draws = 10_000u32;
    let total: Duration = (0..draws)
        .map(|_| equal_jitter(&policy, 2, rand::random::<f64>()))
        .sum();
    let mean = total / draws;
    // 0.75 × 2 s = 1.5 s; 10 000 uniform draws put the mean within a few milliseconds.
    assert!(
        (Duration::from_millis(1450)..Duration::from_millis(1550)).contains(&mean),
        "{mean:?}"
    );
}
// ANCHOR_END: equal_tests

// ANCHOR: covers_solution
// ANCHOR: covers_task
/// Exercise 2: predict the server's answer. The history holds the updates from `oldest`
/// to `latest` (`oldest` is `None` when it holds none); a client comes back having last seen
/// offset `since` of the same epoch. Is it `recovered: true`? Mind the edges: nothing
/// missed, the first missed update being exactly the oldest one kept, and a client ahead of
/// the stream.
pub fn recovers(oldest: Option<u64>, latest: u64, since: u64) -> bool {
    // ANCHOR_END: covers_task
    if since > latest {
        return false;
    }
    if since == latest {
        return true;
    }
    // The first missed update is `since + 1`; it must still be kept.
    oldest.is_some_and(|oldest| oldest <= since + 1)
}
// ANCHOR_END: covers_solution

// ANCHOR: covers_tests
/// The prediction agrees with the lab's own `History::recover` for every `since` from 0 to
/// past the end: a history that kept 5 of 12 updates (8 to 12), an empty one, one that kept
/// all 12, and one that keeps a single update.
#[test]
fn the_prediction_matches_the_server() {
    for (max_len, published) in [(5usize, 12u64), (5, 0), (100, 12), (1, 3)] {
        let mut history = History::new(
            "e1".into(),
            HistoryLimits {
                max_len,
                max_age: Duration::from_secs(3600),
            },
        );
        let now = Instant::now();
        for _ in 0..published {
            history.push(now, 100.0);
        }
        let oldest = history.retained(now).map(|(oldest, _)| oldest);
        for since in 0..=published + 2 {
            let position = Position {
                epoch: "e1".into(),
                offset: since,
            };
            let server = history.recover(Some(&position), now);
            assert_eq!(
                recovers(oldest, published, since),
                server.recovered,
                "kept {oldest:?}..={published}, since {since}: the server says {:?}",
                server.reason
            );
        }
    }
}
// ANCHOR_END: covers_tests
