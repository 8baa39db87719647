//! Delivery confirmation: a broadcast that waits, up to a timeout, for each recipient to say
//! "got it", and then reports exact counts (Socket.IO's
//! `io.timeout(ms).emitWithAck(...)`).
//!
//! Every recipient ends in exactly one of three counts:
//!
//! - **delivered**: it sent `{"event": "confirm", "data": {"seq": N}}` in time;
//! - **failed**: the frame could not be queued for it (gone, too slow), or it disconnected
//!   before confirming;
//! - **timed out**: it was still connected and silent when the timeout passed.
//!
//! A WebSocket has no delivery receipt of its own: a frame written to the socket only means
//! the kernel took it. "Delivered" can only mean "the client's code says it processed it",
//! which is why the client must answer. Chapter 9 ("Broadcasting") explains it.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use lab_gateway::ConnId;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// The outcome of a confirmed broadcast.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// Recipients that confirmed in time.
    pub delivered: u64,
    /// Recipients that could not get it, or left before confirming.
    pub failed: u64,
    /// Recipients still silent at the timeout.
    pub timed_out: u64,
}

// ANCHOR: pending
/// One broadcast waiting for confirmations.
#[derive(Debug)]
struct Pending {
    /// Recipients that have not answered yet.
    waiting: HashSet<ConnId>,
    /// The counts so far.
    counts: Confirmation,
    /// Wakes the publisher early, when nobody is left to wait for.
    done: Option<oneshot::Sender<()>>,
}

impl Pending {
    /// Wakes the publisher if every recipient has answered or failed.
    fn settle(&mut self) {
        if self.waiting.is_empty()
            && let Some(done) = self.done.take()
        {
            let _ = done.send(());
        }
    }
}
// ANCHOR_END: pending

/// Every broadcast waiting for confirmations, by sequence number.
#[derive(Debug, Default)]
pub struct Confirmations {
    /// A std `Mutex`: each critical section updates one map, never across an `.await`.
    pending: Mutex<HashMap<u64, Pending>>,
}

impl Confirmations {
    fn pending(&self) -> MutexGuard<'_, HashMap<u64, Pending>> {
        // Each critical section is a few field updates: a panic cannot leave it half done.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts waiting for `recipients` to confirm broadcast `seq`; the receiver completes
    /// as soon as all of them have answered or failed.
    pub fn expect(&self, seq: u64, recipients: &[ConnId]) -> oneshot::Receiver<()> {
        let (done, wait) = oneshot::channel();
        let mut pending = Pending {
            waiting: recipients.iter().copied().collect(),
            counts: Confirmation::default(),
            done: Some(done),
        };
        pending.settle();
        self.pending().insert(seq, pending);
        wait
    }

    // ANCHOR: confirm
    /// Recipient `id` confirms `seq`; `true` if it was awaited (a late, duplicate or unasked
    /// confirmation counts for nothing).
    pub fn confirm(&self, seq: u64, id: ConnId) -> bool {
        let mut all = self.pending();
        let Some(pending) = all.get_mut(&seq) else {
            return false;
        };
        if !pending.waiting.remove(&id) {
            return false;
        }
        pending.counts.delivered += 1;
        pending.settle();
        true
    }

    /// Recipient `id` will never confirm `seq` (its frame could not be queued); `true` if
    /// it was awaited.
    pub fn fail(&self, seq: u64, id: ConnId) -> bool {
        let mut all = self.pending();
        let Some(pending) = all.get_mut(&seq) else {
            return false;
        };
        if !pending.waiting.remove(&id) {
            return false;
        }
        pending.counts.failed += 1;
        pending.settle();
        true
    }

    /// Connection `id` has closed: every broadcast still waiting for it counts it as
    /// failed. Returns how many did.
    pub fn forget(&self, id: ConnId) -> u64 {
        let mut failed = 0;
        for pending in self.pending().values_mut() {
            if pending.waiting.remove(&id) {
                pending.counts.failed += 1;
                failed += 1;
                pending.settle();
            }
        }
        failed
    }

    /// Stops waiting for `seq`: whoever has not answered has timed out.
    pub fn finish(&self, seq: u64) -> Confirmation {
        match self.pending().remove(&seq) {
            Some(pending) => Confirmation {
                timed_out: pending.waiting.len() as u64,
                ..pending.counts
            },
            None => Confirmation::default(),
        }
    }
    // ANCHOR_END: confirm
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each recipient lands in exactly one count, whatever the order of events.
    #[test]
    fn exact_counts() {
        let confirmations = Confirmations::default();
        let _wait = confirmations.expect(1, &[1, 2, 3, 4, 5]);
        assert!(confirmations.confirm(1, 1));
        assert!(!confirmations.confirm(1, 1), "a duplicate counts once");
        assert!(!confirmations.confirm(1, 9), "not a recipient");
        assert!(confirmations.fail(1, 2));
        assert_eq!(confirmations.forget(3), 1);
        assert!(!confirmations.confirm(1, 3), "gone before confirming");
        assert_eq!(
            confirmations.finish(1),
            Confirmation {
                delivered: 1,
                failed: 2,
                timed_out: 2
            }
        );
        assert!(!confirmations.confirm(1, 4), "too late");
    }

    /// The publisher is woken as soon as nobody is left to wait for.
    #[test]
    fn wakes_when_settled() {
        let confirmations = Confirmations::default();
        let mut wait = confirmations.expect(7, &[1, 2]);
        assert!(wait.try_recv().is_err());
        confirmations.confirm(7, 1);
        assert!(wait.try_recv().is_err());
        confirmations.forget(2);
        assert!(wait.try_recv().is_ok());
        let mut none = confirmations.expect(8, &[]);
        assert!(
            none.try_recv().is_ok(),
            "no recipients: nothing to wait for"
        );
    }
}
