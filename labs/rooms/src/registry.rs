//! The room manager of the source's diagram: which rooms exist, who is in each, and the
//! life of a room from Created to Deleted.
//!
//! Two maps kept in step: room → members lives here, behind one std `Mutex` held only for
//! map updates (never across an `.await`); connection → rooms lives in each connection's
//! state ([`Member`]), so a disconnect knows which rooms to leave without scanning them all.
//!
//! Each room has a `tokio::sync::broadcast` channel. A member's forwarder task subscribes to
//! it *before* the join is announced, and copies its events into the member's outgoing
//! queue. A member too slow to keep up falls behind the channel's ring buffer: its receiver
//! reports `Lagged(n)` and the member is told it missed `n` messages, never dropped
//! silently. Chapter 7 ("Rooms") walks through this file.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use lab_gateway::server::encode;
use lab_gateway::{ConnId, Server, Socket, WsException};
use serde::Serialize;
use serde_json::json;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

// ANCHOR: limits
/// What one client may cost the server, whatever it sends.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Rooms one connection may be in at once.
    pub rooms_per_connection: usize,
    /// Members one room may hold.
    pub members_per_room: usize,
    /// The longest message text, in characters.
    pub max_text_chars: usize,
    /// The longest room name, in characters (names are `a-z`, `0-9`, `-`, `_`).
    pub max_name_chars: usize,
    /// Events a room keeps for a member that is behind; beyond it the member lags and is
    /// told how many it missed.
    pub room_backlog: usize,
    /// How long an empty room stays Inactive before it is Deleted. Zero deletes at once.
    pub grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rooms_per_connection: 8,
            members_per_room: 1_000,
            max_text_chars: 2_000,
            max_name_chars: 32,
            room_backlog: 256,
            grace: Duration::from_secs(30),
        }
    }
}
// ANCHOR_END: limits

// ANCHOR: state
/// The source's room lifecycle: Created → Active → Inactive → Deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomState {
    /// The room exists; its first member is joining.
    Created,
    /// The room has members; messages are delivered.
    Active,
    /// The last member left; the room waits out the grace period.
    Inactive,
    /// The room is gone.
    Deleted,
}

/// One room.
#[derive(Debug)]
struct Room {
    /// Where it is in its lifecycle.
    state: RoomState,
    /// Its members: connection id → display name.
    members: BTreeMap<ConnId, String>,
    /// Its events (messages, presence), each encoded once for every member.
    events: broadcast::Sender<Utf8Bytes>,
    /// Bumped on every join, so a deletion timer started before it knows to stand down.
    generation: u64,
}
// ANCHOR_END: state

/// The state of one connection: its name and its rooms (connection → rooms).
#[derive(Debug, Default)]
pub struct Member {
    /// The name shown to others, from `?name=` or `guest-<id>`.
    pub name: String,
    /// The rooms joined, each with the forwarder task copying its events to this member.
    pub rooms: HashMap<String, AbortHandle>,
}

/// A lifecycle change, as observers (the page, the tests) see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lifecycle {
    /// The room.
    pub room: String,
    /// Its new state.
    pub state: RoomState,
}

/// The registry of rooms. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RoomRegistry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Room name → room.
    rooms: Mutex<HashMap<String, Room>>,
    /// The limits.
    limits: Limits,
    /// Lifecycle changes, for whoever subscribes (tests); also broadcast to every client.
    lifecycle: broadcast::Sender<Lifecycle>,
    /// Set once the gateway is built: pushes lifecycle events to every connection.
    server: Mutex<Option<Server>>,
}

/// Checks a room name: 1 to `max` characters of `a-z`, `0-9`, `-` and `_`.
pub fn check_room_name(room: &str, max: usize) -> Result<(), WsException> {
    let ok = (1..=max).contains(&room.chars().count())
        && room
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(WsException::Validation(format!(
            "room: 1 to {max} characters among a-z, 0-9, '-' and '_'"
        )))
    }
}

impl RoomRegistry {
    /// An empty registry with `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            inner: Arc::new(Inner {
                rooms: Mutex::new(HashMap::new()),
                limits,
                lifecycle: broadcast::channel(1024).0,
                server: Mutex::new(None),
            }),
        }
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Lifecycle changes from now on.
    pub fn subscribe_lifecycle(&self) -> broadcast::Receiver<Lifecycle> {
        self.inner.lifecycle.subscribe()
    }

    /// Lets the registry push lifecycle events to every connection of `server`.
    pub fn attach(&self, server: &Server) {
        *self
            .inner
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(server.clone());
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        self.inner
            .rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records and announces a lifecycle change.
    fn announce(&self, room: &str, state: RoomState) {
        let change = Lifecycle {
            room: room.to_owned(),
            state,
        };
        tracing::info!(room, ?state, "room lifecycle");
        let _ = self.inner.lifecycle.send(change.clone());
        let server = self
            .inner
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(server) = server {
            server.broadcast("room", change);
        }
    }

    // ANCHOR: join
    /// Adds `socket` to `room`, creating the room if needed, and returns the member names.
    /// Joining a room twice changes nothing.
    pub fn join(&self, socket: &Socket<Member>, room: &str) -> Result<Vec<String>, WsException> {
        let limits = &self.inner.limits;
        check_room_name(room, limits.max_name_chars)?;
        let (name, already, count) =
            socket.with(|m| (m.name.clone(), m.rooms.contains_key(room), m.rooms.len()));
        if !already && count >= limits.rooms_per_connection {
            return Err(WsException::Refused(format!(
                "at most {} rooms per connection: leave one first",
                limits.rooms_per_connection
            )));
        }
        let mut changes = Vec::new();
        let (receiver, members) = {
            let mut rooms = self.rooms();
            if !rooms.contains_key(room) {
                let room_state = Room {
                    state: RoomState::Created,
                    members: BTreeMap::new(),
                    events: broadcast::channel(limits.room_backlog).0,
                    generation: 0,
                };
                rooms.insert(room.to_owned(), room_state);
                changes.push(RoomState::Created);
            }
            let entry = rooms
                .get_mut(room)
                .expect("inserted above if it was missing");
            if already {
                return Ok(entry.members.values().cloned().collect());
            }
            if entry.members.len() >= limits.members_per_room {
                return Err(WsException::Refused(format!(
                    "room {room} is full ({} members)",
                    limits.members_per_room
                )));
            }
            // Subscribe first, then announce: the newcomer misses nothing said after it.
            let receiver = entry.events.subscribe();
            entry.members.insert(socket.id(), name.clone());
            entry.generation += 1;
            if entry.state != RoomState::Active {
                entry.state = RoomState::Active;
                changes.push(RoomState::Active);
            }
            let joined = json!({ "room": room, "joined": name, "conn": socket.id() });
            if let Ok(frame) = encode("presence", joined) {
                let _ = entry.events.send(frame);
            }
            (receiver, entry.members.values().cloned().collect())
        };
        for state in changes {
            self.announce(room, state);
        }
        let forwarder = tokio::spawn(forward(socket.clone(), room.to_owned(), receiver));
        socket.with(|m| m.rooms.insert(room.to_owned(), forwarder.abort_handle()));
        Ok(members)
    }
    // ANCHOR_END: join

    // ANCHOR: leave
    /// Removes `socket` from `room`; `false` if it was not a member. The last member out
    /// makes the room Inactive, and the grace period starts.
    pub fn leave(&self, socket: &Socket<Member>, room: &str) -> bool {
        let Some(forwarder) = socket.with(|m| m.rooms.remove(room)) else {
            return false;
        };
        forwarder.abort();
        let emptied = {
            let mut rooms = self.rooms();
            let Some(entry) = rooms.get_mut(room) else {
                return true;
            };
            let name = entry.members.remove(&socket.id()).unwrap_or_default();
            let left = json!({ "room": room, "left": name, "conn": socket.id() });
            if let Ok(frame) = encode("presence", left) {
                let _ = entry.events.send(frame);
            }
            if entry.members.is_empty() {
                entry.state = RoomState::Inactive;
                Some(entry.generation)
            } else {
                None
            }
        };
        if let Some(generation) = emptied {
            self.announce(room, RoomState::Inactive);
            self.schedule_deletion(room.to_owned(), generation);
        }
        true
    }

    /// Deletes `room` after the grace period, unless someone joined meanwhile.
    fn schedule_deletion(&self, room: String, generation: u64) {
        let registry = self.clone();
        let grace = self.inner.limits.grace;
        let delete = move || {
            let deleted = {
                let mut rooms = registry.rooms();
                let still_idle = rooms
                    .get(&room)
                    .is_some_and(|r| r.state == RoomState::Inactive && r.generation == generation);
                if still_idle {
                    rooms.remove(&room);
                }
                still_idle
            };
            if deleted {
                registry.announce(&room, RoomState::Deleted);
            }
        };
        if grace.is_zero() {
            delete();
        } else {
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                delete();
            });
        }
    }
    // ANCHOR_END: leave

    /// Leaves every room of `socket`: what a disconnect does, however it happened.
    pub fn leave_all(&self, socket: &Socket<Member>) {
        let rooms: Vec<String> = socket.with(|m| m.rooms.keys().cloned().collect());
        for room in rooms {
            self.leave(socket, &room);
        }
    }

    // ANCHOR: send
    /// Sends `text` from `socket` to everyone in `room` (the sender included); returns how
    /// many members it went to.
    pub fn send(
        &self,
        socket: &Socket<Member>,
        room: &str,
        text: &str,
    ) -> Result<usize, WsException> {
        let max = self.inner.limits.max_text_chars;
        if text.chars().count() > max {
            return Err(WsException::Validation(format!(
                "text: at most {max} characters"
            )));
        }
        let name = socket.with(|m| m.name.clone());
        let rooms = self.rooms();
        let entry = rooms
            .get(room)
            .filter(|entry| entry.members.contains_key(&socket.id()))
            .ok_or_else(|| WsException::Forbidden(format!("you are not in room {room}")))?;
        let message = json!({ "room": room, "from": name, "conn": socket.id(), "text": text });
        let frame = encode("message", message).map_err(WsException::internal)?;
        Ok(entry.events.send(frame).unwrap_or(0))
    }
    // ANCHOR_END: send

    /// Every room with its state and member count, sorted by name.
    pub fn list(&self) -> Vec<serde_json::Value> {
        let rooms = self.rooms();
        let mut list: Vec<_> = rooms
            .iter()
            .map(|(name, r)| json!({ "room": name, "state": r.state, "members": r.members.len() }))
            .collect();
        list.sort_by(|a, b| a["room"].as_str().cmp(&b["room"].as_str()));
        list
    }

    /// The state of `room`, `None` once deleted.
    pub fn state(&self, room: &str) -> Option<RoomState> {
        self.rooms().get(room).map(|r| r.state)
    }

    /// The member names of `room`.
    pub fn members(&self, room: &str) -> Vec<String> {
        self.rooms()
            .get(room)
            .map(|r| r.members.values().cloned().collect())
            .unwrap_or_default()
    }
}

// ANCHOR: forward
/// Copies a room's events into one member's outgoing queue, waiting when the queue is full:
/// only this member falls behind. When it has fallen further behind than the room's
/// backlog, it is told how many events it missed.
async fn forward(socket: Socket<Member>, room: String, mut events: broadcast::Receiver<Utf8Bytes>) {
    loop {
        match events.recv().await {
            Ok(frame) => {
                if socket.send_frame(frame).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    conn = socket.id(),
                    room,
                    missed,
                    "slow member missed messages"
                );
                let note = json!({ "room": room, "missed": missed });
                if socket.emit("missed", note).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
// ANCHOR_END: forward
