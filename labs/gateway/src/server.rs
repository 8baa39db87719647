//! The connections: [`Server`], the handle that reaches any of them (NestJS's
//! `@WebSocketServer()`), and [`Socket`], one connection as a handler sees it (NestJS's
//! `@ConnectedSocket()`), with its own state.
//!
//! Every connection has a bounded outgoing queue, drained by its send task. Emitting to a
//! connection puts the encoded frame in that queue without waiting, so one slow client never
//! slows the sender down; a client whose queue is full is closed with 1008 (policy
//! violation) instead of making the server's memory grow without bound. Chapter 6 ("The
//! gateway") explains it; chapter 9 ("Broadcasting") measures it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::ws::{Message, Utf8Bytes};
use kit::close::{self, Violation};
use serde::Serialize;
use tokio::sync::{Notify, mpsc};

use crate::envelope::Envelope;

/// A connection's number, unique for the life of the server, starting at 1.
pub type ConnId = u64;

/// Why an emit did not reach a connection.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmitError {
    /// No connection has this id (it never existed, or it has closed).
    #[error("no connection {0}")]
    NoSuchConnection(ConnId),
    /// The connection's outgoing queue was full: it is being closed with 1008.
    #[error("connection {0} is too slow: its outgoing queue is full")]
    QueueFull(ConnId),
    /// The data could not be encoded as JSON (a map with non-string keys, a failing
    /// `Serialize` impl): nothing was sent to anyone. A bug of the sender, not of the
    /// connection, so it says which event and why.
    #[error("cannot encode event {event:?}: {reason}")]
    Encode {
        /// The event being emitted.
        event: String,
        /// serde_json's explanation.
        reason: String,
    },
}

impl EmitError {
    /// The error for `event` whose data failed to encode with `err`.
    fn encode(event: &str, err: &serde_json::Error) -> Self {
        tracing::error!(%err, event, "cannot encode an event");
        Self::Encode {
            event: event.to_owned(),
            reason: err.to_string(),
        }
    }
}

/// The close code of a connection that ended without a close frame (RFC 6455 reserves it,
/// and forbids sending it).
pub const ABNORMAL: u16 = 1006;

/// How the server tells a connection's task to close it, from anywhere.
#[derive(Debug, Default)]
pub(crate) struct Kick {
    /// The first reason given wins.
    reason: OnceLock<Violation>,
    /// Wakes the connection's receive loop.
    notify: Notify,
}

impl Kick {
    /// Asks the connection to close with `violation` (only the first request counts).
    pub(crate) fn kick(&self, violation: Violation) {
        if self.reason.set(violation).is_ok() {
            // `notify_one` keeps a permit if the loop is not waiting yet.
            self.notify.notify_one();
        }
    }

    /// Waits for a kick and returns its reason.
    pub(crate) async fn kicked(&self) -> Violation {
        loop {
            if let Some(reason) = self.reason.get() {
                return reason.clone();
            }
            self.notify.notified().await;
        }
    }
}

/// What the registry holds for one connection: its queue and its kick switch.
#[derive(Clone, Debug)]
pub(crate) struct Outlet {
    /// The bounded outgoing queue.
    pub(crate) queue: mpsc::Sender<Message>,
    /// Closes the connection.
    pub(crate) kick: Arc<Kick>,
}

impl Outlet {
    /// Queues `frame` without waiting; a full queue closes the connection.
    fn push(&self, id: ConnId, frame: Utf8Bytes) -> Result<(), EmitError> {
        match self.queue.try_send(Message::Text(frame)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(conn = id, "outgoing queue full: closing a slow client");
                self.kick.kick(Violation::new(
                    close::POLICY_VIOLATION,
                    "too slow: outgoing queue full",
                ));
                Err(EmitError::QueueFull(id))
            }
            // The connection is closing; it will leave the registry in a moment.
            Err(mpsc::error::TrySendError::Closed(_)) => Err(EmitError::NoSuchConnection(id)),
        }
    }
}

// ANCHOR: server
/// A handle on every connection of a gateway: emit to one, to a set, or to all. Cheap to
/// clone; handlers get it through their context, hooks as an argument.
#[derive(Clone, Debug, Default)]
pub struct Server {
    inner: Arc<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    /// The open connections. A std `Mutex`: every critical section is a map operation or
    /// a `try_send`, never an `.await`.
    outlets: Mutex<HashMap<ConnId, Outlet>>,
    /// The next connection's id.
    next_id: AtomicU64,
}
// ANCHOR_END: server

/// Encodes an event once, for any number of connections.
pub fn encode(event: &str, data: impl Serialize) -> Result<Utf8Bytes, serde_json::Error> {
    let data = serde_json::to_value(data)?;
    Ok(Envelope::new(event, None, data).to_json().into())
}

impl Server {
    /// Locks the registry. A panic while it was held cannot leave the map half-updated (each
    /// critical section is one map operation), so a poisoned lock is safe to use.
    fn outlets(&self) -> std::sync::MutexGuard<'_, HashMap<ConnId, Outlet>> {
        self.inner
            .outlets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the next connection id.
    pub(crate) fn next_id(&self) -> ConnId {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Adds a connection.
    pub(crate) fn register(&self, id: ConnId, outlet: Outlet) {
        self.outlets().insert(id, outlet);
    }

    /// Removes a connection.
    pub(crate) fn unregister(&self, id: ConnId) {
        self.outlets().remove(&id);
    }

    /// How many connections are open.
    pub fn connection_count(&self) -> usize {
        self.outlets().len()
    }

    /// How many frames wait in the outgoing queues of all open connections, not yet handed
    /// to their sockets: the number to watch for slow clients (a healthy server keeps it
    /// near 0; a growing one means someone is not reading). Each queue's depth is its
    /// capacity minus its free slots (`max_capacity() - capacity()`); a slot a handler has
    /// reserved but not yet filled counts as queued.
    pub fn queued_frames(&self) -> usize {
        self.outlets()
            .values()
            .map(|outlet| outlet.queue.max_capacity() - outlet.queue.capacity())
            .sum()
    }

    /// The ids of the open connections, sorted.
    pub fn connections(&self) -> Vec<ConnId> {
        let mut ids: Vec<ConnId> = self.outlets().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    // ANCHOR: emit
    /// Pushes an already encoded frame (see [`encode`]) to one connection.
    pub fn emit_frame(&self, to: ConnId, frame: Utf8Bytes) -> Result<(), EmitError> {
        let outlet = self.outlets().get(&to).cloned();
        match outlet {
            Some(outlet) => outlet.push(to, frame),
            None => Err(EmitError::NoSuchConnection(to)),
        }
    }

    /// Offers an already encoded frame to one connection without ever closing it: the frame
    /// is queued only if at least `keep_free` slots of the connection's queue stay free after
    /// it, and `Ok(false)` says it was not. The broadcast lab (chapter 9) builds its
    /// slow-consumer policies on it: volatile messages keep half the queue free and are
    /// dropped beyond; a reliable one (`keep_free` 0) that does not fit closes the client
    /// with a reason naming what it missed.
    pub fn offer_frame(
        &self,
        to: ConnId,
        frame: Utf8Bytes,
        keep_free: usize,
    ) -> Result<bool, EmitError> {
        let outlet = self.outlets().get(&to).cloned();
        let Some(outlet) = outlet else {
            return Err(EmitError::NoSuchConnection(to));
        };
        // `capacity` is the number of free slots right now.
        if outlet.queue.capacity() <= keep_free {
            return Ok(false);
        }
        match outlet.queue.try_send(Message::Text(frame)) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(EmitError::NoSuchConnection(to)),
        }
    }

    /// Pushes `event` with `data` to one connection.
    pub fn emit_to(&self, to: ConnId, event: &str, data: impl Serialize) -> Result<(), EmitError> {
        let frame = encode(event, data).map_err(|err| EmitError::encode(event, &err))?;
        self.emit_frame(to, frame)
    }

    /// Pushes `event` to each connection of `to`, encoding it once; returns how many
    /// connections it was queued for.
    pub fn emit_to_many(
        &self,
        to: impl IntoIterator<Item = ConnId>,
        event: &str,
        data: impl Serialize,
    ) -> usize {
        let frame = match encode(event, data) {
            Ok(frame) => frame,
            Err(err) => {
                tracing::error!(%err, event, "cannot encode an event");
                return 0;
            }
        };
        // Clone the outlets out of the lock: pushing happens without holding it.
        let outlets: Vec<(ConnId, Outlet)> = {
            let all = self.outlets();
            to.into_iter()
                .filter_map(|id| all.get(&id).map(|o| (id, o.clone())))
                .collect()
        };
        outlets
            .iter()
            .filter(|(id, outlet)| outlet.push(*id, frame.clone()).is_ok())
            .count()
    }

    /// Pushes `event` to every connection; returns how many it was queued for.
    pub fn broadcast(&self, event: &str, data: impl Serialize) -> usize {
        let everyone = self.connections();
        self.emit_to_many(everyone, event, data)
    }
    // ANCHOR_END: emit

    /// Closes connection `id` with `code` and `reason` (a no-op if it is gone).
    pub fn disconnect(&self, id: ConnId, code: u16, reason: &str) {
        if let Some(outlet) = self.outlets().get(&id) {
            outlet.kick.kick(Violation::new(code, reason));
        }
    }

    /// Drops connection `id` without a close frame, as a crash or a cut cable would: its
    /// peer sees the TCP connection end and reports 1006 (a no-op if it is gone). For
    /// demonstrations; a server that means to close says why with [`Server::disconnect`].
    pub fn abort(&self, id: ConnId, reason: &str) {
        self.disconnect(id, ABNORMAL, reason);
    }
}

// ANCHOR: socket
/// One connection, as its handlers and hooks see it: NestJS's `@ConnectedSocket()`.
/// `C` is the per-connection state, created by the gateway's `on_connect` hook from the
/// handshake request.
#[derive(Debug)]
pub struct Socket<C> {
    /// This connection's id.
    id: ConnId,
    /// The peer's address, when the server was started with connect info (`kit::serve`).
    peer: Option<SocketAddr>,
    /// The per-connection state, behind a std `Mutex`: [`Socket::with`] keeps every critical
    /// section synchronous, so it can never be held across an `.await`.
    state: Arc<Mutex<C>>,
    /// This connection's outgoing queue, for replies that may wait for room in it.
    queue: mpsc::Sender<Message>,
    /// The whole server, to reach other connections.
    server: Server,
}
// ANCHOR_END: socket

impl<C> Clone for Socket<C> {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            peer: self.peer,
            state: Arc::clone(&self.state),
            queue: self.queue.clone(),
            server: self.server.clone(),
        }
    }
}

impl<C> Socket<C> {
    /// A socket handle. The gateway builds one when a connection opens; tests and tools can
    /// build a detached one, whose frames go to `queue` and whose server is `server`.
    pub fn new(
        id: ConnId,
        peer: Option<SocketAddr>,
        state: C,
        queue: mpsc::Sender<Message>,
        server: Server,
    ) -> Self {
        Self {
            id,
            peer,
            state: Arc::new(Mutex::new(state)),
            queue,
            server,
        }
    }

    /// This connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The peer's address, if known.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The server handle.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Runs `f` on this connection's state. Keep `f` short: it holds a lock.
    pub fn with<R>(&self, f: impl FnOnce(&mut C) -> R) -> R {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state)
    }

    /// Sends `event` to this connection, waiting for room in its queue if it is full (so a
    /// client that floods requests without reading its answers slows itself down).
    pub async fn emit(&self, event: &str, data: impl Serialize) -> Result<(), EmitError> {
        let frame = encode(event, data).map_err(|err| EmitError::encode(event, &err))?;
        self.send_frame(frame).await
    }

    /// Sends an encoded frame (see [`encode`]) to this connection, waiting for room in its
    /// queue: how a room's forwarder applies backpressure to one member only.
    pub async fn send_frame(&self, frame: Utf8Bytes) -> Result<(), EmitError> {
        self.queue
            .send(Message::Text(frame))
            .await
            .map_err(|_| EmitError::NoSuchConnection(self.id))
    }

    /// Sends a reply envelope (an `ack` or an `exception`).
    pub(crate) async fn reply(&self, envelope: &Envelope) {
        // A closed queue means the connection is gone: nobody is left to answer.
        let _ = self.send_frame(envelope.to_json().into()).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A connection with `queue` slots, registered on `server` as `id`; the receiver is
    /// the connection's send task, here not reading.
    fn connect(server: &Server, id: ConnId, queue: usize) -> mpsc::Receiver<Message> {
        let (sender, receiver) = mpsc::channel(queue);
        server.register(
            id,
            Outlet {
                queue: sender,
                kick: Arc::default(),
            },
        );
        receiver
    }

    /// `queued_frames` sums what waits in every queue, drops what a send task took, and
    /// forgets a connection once it is gone.
    #[test]
    fn queued_frames_counts_every_queue() {
        let server = Server::default();
        assert_eq!(server.queued_frames(), 0);
        let mut first = connect(&server, 1, 4);
        let _second = connect(&server, 2, 4);
        for _ in 0..3 {
            server.emit_frame(1, "a".into()).unwrap();
        }
        server.emit_frame(2, "b".into()).unwrap();
        assert_eq!(server.queued_frames(), 4);
        let _ = first.try_recv().unwrap();
        assert_eq!(server.queued_frames(), 3, "one frame went out");
        server.unregister(1);
        assert_eq!(server.queued_frames(), 1, "only the second is left");
    }
}
