//! Saying goodbye: how a lab closes its WebSocket connections with 1001 ("going away") when
//! it is stopped, instead of letting them drop.
//!
//! Stopping an HTTP server is easy: stop accepting, let the requests in flight finish. An
//! upgraded WebSocket is no longer a request, so `axum::serve`'s graceful shutdown does not
//! wait for it: when `main` returns, the runtime drops every connection task and each client
//! sees its TCP connection vanish, a 1006 ("abnormal closure") on its side. A client cannot
//! tell that from a crash or a broken network, so it cannot decide well whether and when to
//! reconnect. RFC 6455 gives the server a word for it: 1001, the endpoint is going away.
//!
//! [`Shutdown`] is that word, shared by a lab's connections:
//!
//! - each connection holds a [`Watcher`] for its whole life and races its work against
//!   [`Watcher::started`]; when it fires, the connection sends its close frame with
//!   [`GOING_AWAY`](crate::close::GOING_AWAY) and ends;
//! - the server, once it has stopped accepting, calls [`Shutdown::going_away`], which starts
//!   the goodbye and waits until every watcher is gone, or a deadline passes (a client that
//!   never answers must not keep the process alive).
//!
//! It is built on a `tokio::sync::watch` channel: the flag is its value, and the number of
//! receivers still alive is the number of connections still closing. mini-redis teaches the
//! same idea with a `broadcast` channel for the signal and an `mpsc` channel whose senders
//! are dropped as connections end. Chapter 10 ("Best practices, measured") explains it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// How long a stopping lab waits for its connections to finish their closing handshake.
/// Each connection gives its peer a couple of seconds to answer the close frame; this
/// leaves room for that and for a busy machine, and is still short enough for Ctrl-C.
pub const GOODBYE_DEADLINE: Duration = Duration::from_secs(5);

/// The shutdown signal of one server, and the count of connections that must hear it.
/// Cheap to clone: every clone is the same signal.
#[derive(Clone, Debug)]
pub struct Shutdown {
    /// `true` once the goodbye has started. Its receivers are the open connections.
    flag: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

/// One connection's end of a [`Shutdown`]: hold it for as long as the connection lives.
#[derive(Debug)]
pub struct Watcher {
    /// Dropping it tells the server this connection is done.
    flag: watch::Receiver<bool>,
}

impl Shutdown {
    /// A signal not given yet, with no connection watching it.
    pub fn new() -> Self {
        Self {
            flag: Arc::new(watch::Sender::new(false)),
        }
    }

    /// A watcher for a new connection. A connection that opens after the goodbye started
    /// sees it at once.
    pub fn watch(&self) -> Watcher {
        Watcher {
            flag: self.flag.subscribe(),
        }
    }

    /// Whether the goodbye has started.
    pub fn is_started(&self) -> bool {
        *self.flag.borrow()
    }

    /// How many connections are watching (still open, or still closing).
    pub fn open_connections(&self) -> usize {
        self.flag.receiver_count()
    }

    // ANCHOR: going_away
    /// Tells every connection to close with 1001 and waits until all have ended, or until
    /// `deadline` has passed. Returns how many were still open at the deadline (0 when
    /// every client finished its closing handshake in time).
    pub async fn going_away(&self, deadline: Duration) -> usize {
        let open = self.open_connections();
        // `send_replace` sets the flag even when nobody is watching.
        self.flag.send_replace(true);
        if open > 0 {
            tracing::info!(open, "closing every WebSocket connection with 1001");
        }
        // `closed` completes once every receiver (every connection's watcher) is dropped.
        let _ = tokio::time::timeout(deadline, self.flag.closed()).await;
        let left = self.open_connections();
        if left > 0 {
            tracing::warn!(left, "connections still open at the shutdown deadline");
        }
        left
    }
    // ANCHOR_END: going_away
}

impl Watcher {
    /// Completes once the goodbye has started (at once if it already has). Cancel-safe, so
    /// a connection can race it against its reads in a `tokio::select!`.
    pub async fn started(&mut self) {
        // An error means the `Shutdown` itself is gone: nobody can start a goodbye any more.
        if self.flag.wait_for(|started| *started).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Watchers hear the signal, and `going_away` returns as soon as the last one is gone.
    #[tokio::test]
    async fn going_away_waits_for_every_watcher() {
        let shutdown = Shutdown::new();
        let mut first = shutdown.watch();
        let mut second = shutdown.watch();
        assert_eq!(shutdown.open_connections(), 2);
        let closing = tokio::spawn(async move {
            first.started().await;
            second.started().await;
            // Both connections end here, dropping their watchers.
        });
        let left = shutdown.going_away(Duration::from_secs(10)).await;
        assert_eq!(left, 0);
        assert!(shutdown.is_started());
        closing.await.unwrap();
        // A connection arriving late sees the signal at once.
        let mut late = shutdown.watch();
        tokio::time::timeout(Duration::from_secs(1), late.started())
            .await
            .unwrap();
    }

    /// A watcher that never ends does not hold the server past the deadline.
    #[tokio::test(start_paused = true)]
    async fn going_away_gives_up_at_the_deadline() {
        let shutdown = Shutdown::new();
        let _stuck = shutdown.watch();
        let left = shutdown.going_away(Duration::from_secs(5)).await;
        assert_eq!(left, 1);
    }
}
