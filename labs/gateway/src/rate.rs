//! A per-connection rate limit: a token bucket, checked for every message a client sends.
//!
//! Every other limit of the gateway bounds *size* (a message, a queue, the requests in
//! flight); none bounds *speed*. Without this, one client can send tens of thousands of
//! small messages a second, each parsed, routed and answered, and take the CPU the other
//! clients need. The bucket holds up to `burst` tokens and gains `per_second` tokens a
//! second; each message takes one. A client within its rate never notices it, a short burst
//! above it is absorbed, and a flood empties the bucket: the connection is then closed with
//! 1008 (policy violation), as DESIGN.md's table says, since a client that floods will not
//! stop because it was told to.
//!
//! The clock is tokio's, so tests drive it with `tokio::time::pause` instead of sleeping.
//! Chapter 6 ("The gateway") shows it; chapter 10 lists it among the limits.

use std::time::Duration;

use tokio::time::Instant;

// ANCHOR: rate_limit
/// How fast one connection may send messages.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Messages per second a client may send for as long as it likes.
    pub per_second: f64,
    /// Messages a client may send at once above that rate (the bucket's size).
    pub burst: u32,
}

impl RateLimit {
    /// The gateway's default: 200 messages a second with bursts of 500. Far above what a
    /// person or a page sends (a chat, a game at 60 updates a second), and far below a
    /// flood: a loop sending as fast as it can empties the bucket within milliseconds.
    pub const DEFAULT: Self = Self {
        per_second: 200.0,
        burst: 500,
    };
}

/// One connection's bucket.
#[derive(Debug)]
pub struct TokenBucket {
    /// The rate and the size.
    limit: RateLimit,
    /// Tokens left, at most `limit.burst`. Fractional: refills are continuous.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket: a new connection may start with a burst.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            tokens: f64::from(limit.burst),
            updated: Instant::now(),
        }
    }

    /// Takes a token for one message; `false` when the bucket is empty (the client is over
    /// its rate).
    pub fn try_take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed: Duration = now - self.updated;
        self.updated = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.limit.per_second)
            .min(f64::from(self.limit.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
// ANCHOR_END: rate_limit

#[cfg(test)]
mod tests {
    use super::*;

    /// A full bucket lets a burst through, then exactly the rate.
    #[tokio::test(start_paused = true)]
    async fn burst_then_rate() {
        let mut bucket = TokenBucket::new(RateLimit {
            per_second: 10.0,
            burst: 5,
        });
        let burst = (0..100).take_while(|_| bucket.try_take()).count();
        assert_eq!(burst, 5, "the burst");
        assert!(!bucket.try_take(), "empty after the burst");
        tokio::time::advance(Duration::from_millis(1000)).await;
        let refilled = (0..100).take_while(|_| bucket.try_take()).count();
        assert_eq!(
            refilled, 5,
            "one second at 10/s refills up to the burst size, not more"
        );
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(bucket.try_take(), "100 ms at 10/s is one token");
        assert!(!bucket.try_take());
    }
}
