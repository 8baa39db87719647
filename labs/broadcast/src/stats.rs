//! The counters the dashboard shows: what was published, queued, dropped, closed and
//! confirmed since the server started.
//!
//! Plain atomics: every broadcast bumps a few of them, and a lock here would be one more
//! thing every publisher contends on. The page turns the totals into rates (messages per
//! second) by differencing two snapshots. Chapter 9 ("Broadcasting") shows the dashboard.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::hub::Report;

/// Running totals, updated by the hub.
#[derive(Debug, Default)]
pub struct Stats {
    /// Broadcasts published.
    published: AtomicU64,
    /// Frames queued for a recipient (one per recipient per broadcast).
    deliveries: AtomicU64,
    /// Volatile frames dropped for a busy recipient.
    dropped: AtomicU64,
    /// Recipients closed with 1008 for being too slow for a reliable message.
    closed_slow: AtomicU64,
    /// Confirmations received in time.
    confirmed: AtomicU64,
    /// Confirmations that can never come (not queued, or the recipient left).
    failed: AtomicU64,
    /// Recipients silent when a confirmation timeout passed.
    timed_out: AtomicU64,
}

/// The counters at one moment, as the `stats` event sends them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Connections in the audience right now.
    pub connected: u64,
    /// Broadcasts published.
    pub published: u64,
    /// Frames queued for recipients.
    pub deliveries: u64,
    /// Volatile frames dropped for busy recipients.
    pub dropped: u64,
    /// Recipients closed for being too slow.
    pub closed_slow: u64,
    /// Confirmations received in time.
    pub confirmed: u64,
    /// Confirmations that failed.
    pub failed: u64,
    /// Confirmations that timed out.
    pub timed_out: u64,
}

impl Stats {
    /// Counts one broadcast's report.
    pub fn add_published(&self, report: &Report) {
        self.published.fetch_add(1, Ordering::Relaxed);
        self.deliveries.fetch_add(report.queued, Ordering::Relaxed);
        self.dropped.fetch_add(report.dropped, Ordering::Relaxed);
        self.closed_slow
            .fetch_add(report.closed_slow, Ordering::Relaxed);
    }

    /// Counts confirmations received.
    pub fn add_confirmed(&self, n: u64) {
        self.confirmed.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts confirmations that failed.
    pub fn add_failed(&self, n: u64) {
        self.failed.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts confirmations that timed out.
    pub fn add_timed_out(&self, n: u64) {
        self.timed_out.fetch_add(n, Ordering::Relaxed);
    }

    /// The totals now, with `connected` from the hub.
    pub fn snapshot(&self, connected: u64) -> StatsSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            connected,
            published: get(&self.published),
            deliveries: get(&self.deliveries),
            dropped: get(&self.dropped),
            closed_slow: get(&self.closed_slow),
            confirmed: get(&self.confirmed),
            failed: get(&self.failed),
            timed_out: get(&self.timed_out),
        }
    }
}
