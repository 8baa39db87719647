//! One node's rooms: which of *its own* connections are in which room, and the delivery of a
//! room's events to them.
//!
//! A node never knows the members on other nodes from here: this table is local, as the
//! rooms lab's registry was (chapter 7). What changes when there are several nodes is where
//! a room's events come from. Without a broker, only from this node's own members; with
//! Redis, from the room's channel, which every node holding a member of the room is
//! subscribed to, so a message said on any node arrives here and is handed to the local
//! members (see [`crate::broker`]).
//!
//! Each room has a `tokio::sync::broadcast` channel, each member a forwarder task copying
//! the room's events into its connection's queue, as in the rooms lab. The forwarder is also
//! where recovery happens: it subscribes to the room first, then reads what the member
//! missed from the room's history, sends that, and only then the live events, skipping any it
//! already sent (see [`crate::node`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::ws::Utf8Bytes;
use lab_gateway::ConnId;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use crate::position::Position;

/// Events one room keeps for a member that is behind; beyond it the member is told how many
/// it missed (and can rejoin with its position to recover them from the history).
pub const ROOM_BACKLOG: usize = 1024;

// ANCHOR: delivery
/// One event for a room's local members, encoded once for all of them.
#[derive(Debug)]
pub enum Delivery {
    /// A message from the room's history: it has a position, so a member can recover what
    /// comes after it, on any node.
    Message {
        /// Where it sits in the room's history.
        position: Position,
        /// The `message` event, encoded.
        frame: Utf8Bytes,
    },
    /// A message said while the broker was down: delivered to this node's members only, and
    /// in no history (nobody can recover it).
    LocalOnly(Utf8Bytes),
    /// A member joined or left, on any node.
    Presence(Utf8Bytes),
}
// ANCHOR_END: delivery

/// The state of one connection: its name, and its rooms with each one's forwarder task.
#[derive(Debug, Default)]
pub struct Member {
    /// The name shown to others, from `?name=` or `guest-<id>`.
    pub name: String,
    /// The rooms joined, each with the task copying its events to this connection.
    pub rooms: HashMap<String, AbortHandle>,
}

/// One room, as this node sees it.
#[derive(Debug)]
struct LocalRoom {
    /// This node's members: connection id → name.
    members: BTreeMap<ConnId, String>,
    /// The room's events, for the forwarders of those members.
    events: broadcast::Sender<Arc<Delivery>>,
}

/// The local rooms of one node. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Rooms {
    /// Room name → room. A std `Mutex`: every critical section is a map update or a
    /// non-blocking `broadcast::send`, never an `.await`.
    inner: Arc<Mutex<HashMap<String, LocalRoom>>>,
}

impl Rooms {
    fn rooms(&self) -> MutexGuard<'_, HashMap<String, LocalRoom>> {
        // Each critical section is one map operation: a panic cannot leave it half-done.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `conn` (named `name`) to `room` and returns a receiver of the room's events from
    /// now on: subscribed *before* the member is announced or its history read, so nothing
    /// said after this call can slip between the two.
    pub fn join(&self, room: &str, conn: ConnId, name: &str) -> broadcast::Receiver<Arc<Delivery>> {
        let mut rooms = self.rooms();
        let entry = rooms.entry(room.to_owned()).or_insert_with(|| LocalRoom {
            members: BTreeMap::new(),
            events: broadcast::channel(ROOM_BACKLOG).0,
        });
        entry.members.insert(conn, name.to_owned());
        entry.events.subscribe()
    }

    /// Removes `conn` from `room`; the room is forgotten when its last local member leaves.
    pub fn leave(&self, room: &str, conn: ConnId) {
        let mut rooms = self.rooms();
        if let Some(entry) = rooms.get_mut(room) {
            entry.members.remove(&conn);
            if entry.members.is_empty() {
                rooms.remove(room);
            }
        }
    }

    /// Hands `delivery` to every local member of `room`; returns how many forwarders got it
    /// (0 when this node has nobody in the room).
    pub fn deliver(&self, room: &str, delivery: Delivery) -> usize {
        let rooms = self.rooms();
        rooms.get(room).map_or(0, |entry| {
            entry.events.send(Arc::new(delivery)).unwrap_or(0)
        })
    }

    /// The rooms that have local members, sorted: what the node must stay subscribed to.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.rooms().keys().cloned().collect();
        names.sort();
        names
    }

    /// Every local member of every room: what the presence heartbeat refreshes.
    pub fn members(&self) -> Vec<(String, ConnId, String)> {
        let rooms = self.rooms();
        let mut all = Vec::new();
        for (room, entry) in rooms.iter() {
            for (conn, name) in &entry.members {
                all.push((room.clone(), *conn, name.clone()));
            }
        }
        all.sort();
        all
    }

    /// The local members of `room`: the whole presence when there is no broker.
    pub fn members_of(&self, room: &str) -> Vec<(ConnId, String)> {
        self.rooms().get(room).map_or_else(Vec::new, |entry| {
            entry
                .members
                .iter()
                .map(|(conn, name)| (*conn, name.clone()))
                .collect()
        })
    }
}
