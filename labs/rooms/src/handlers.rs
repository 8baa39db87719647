//! The rooms gateway: the events a client sends (`join`, `leave`, `rooms`, `send`) and the
//! hooks that keep the registry right (a name at the handshake, leaving every room on
//! disconnect, however it happened). Everything else (the envelope, acks, exceptions,
//! limits, close codes) is the gateway of chapter 6. Chapter 7 ("Rooms") walks through it.
//!
//! What the server pushes: `message` (a room's message), `presence` (a member joined or
//! left a room), `room` (a lifecycle change, to everyone), `missed` (you fell behind in a
//! room and missed that many events).

use axum::http::StatusCode;
use lab_gateway::gateway::Handshake;
use lab_gateway::{Config, Ctx, Gateway, Refusal, Server, WsException};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::registry::{Limits, Member, RoomRegistry};

/// The lab's settings: the gateway's, and the rooms' limits.
#[derive(Clone, Debug)]
pub struct RoomsConfig {
    /// Origins, message size, queues, heartbeat.
    pub gateway: Config,
    /// Rooms per connection, members per room, text and name lengths, backlog, grace.
    pub limits: Limits,
}

impl RoomsConfig {
    /// The defaults for the lab on `port`.
    pub fn for_port(port: u16) -> Self {
        let mut gateway = Config::for_port(port);
        gateway.socket_buffer_bytes = SOCKET_BUFFER_BYTES;
        Self {
            gateway,
            limits: Limits::default(),
        }
    }
}

/// The initial read and write buffer of each connection. Chat messages are short (a few
/// hundred bytes); a longer one still gets through, the buffer grows for it. Measured with
/// `bench run --workload rooms` on 1 000 connections: about 11 KiB of server memory per idle
/// connection with the gateway's 4 KiB, 8 KiB with 1 KiB (chapter 7).
pub const SOCKET_BUFFER_BYTES: usize = 1024;

/// The context of the rooms' handlers.
pub type RoomsCtx = Ctx<RoomRegistry, Member>;

/// The payload of `join` and `leave`.
#[derive(Debug, Deserialize)]
pub struct RoomName {
    /// The room.
    pub room: String,
}

/// The payload of `send`.
#[derive(Debug, Deserialize)]
pub struct Say {
    /// The room, which the sender must have joined.
    pub room: String,
    /// The message.
    pub text: String,
}

// ANCHOR: handlers
/// `join`: answers with the member list (the sender included).
async fn join(ctx: RoomsCtx, RoomName { room }: RoomName) -> Result<Value, WsException> {
    let members = ctx.state.join(&ctx.socket, &room)?;
    Ok(json!({ "room": room, "members": members }))
}

/// `leave`.
async fn leave(ctx: RoomsCtx, RoomName { room }: RoomName) -> Result<Value, WsException> {
    if ctx.state.leave(&ctx.socket, &room) {
        Ok(json!({ "room": room, "left": true }))
    } else {
        Err(WsException::Refused(format!("you are not in room {room}")))
    }
}

/// `rooms`: every room, its state and its number of members.
async fn rooms(ctx: RoomsCtx, _: Value) -> Result<Value, WsException> {
    Ok(json!({ "rooms": ctx.state.list() }))
}

/// `send`: a message to a room the sender is in.
async fn send(ctx: RoomsCtx, Say { room, text }: Say) -> Result<Value, WsException> {
    let delivered = ctx.state.send(&ctx.socket, &room, &text)?;
    Ok(json!({ "room": room, "delivered": delivered }))
}
// ANCHOR_END: handlers

/// The connect hook: an optional `?name=` (1 to 24 letters, digits, `-`, `_`).
fn name_from(handshake: &Handshake, _server: &Server) -> Result<Member, Refusal> {
    let Some(name) = handshake.query("name") else {
        return Ok(Member::default());
    };
    let ok = (1..=24).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "name: 1 to 24 letters, digits, '-' or '_'",
        ));
    }
    Ok(Member {
        name,
        ..Member::default()
    })
}

// ANCHOR: gateway
/// The rooms gateway on `registry`.
pub fn gateway(config: RoomsConfig, registry: RoomRegistry) -> Gateway<RoomRegistry, Member> {
    let attach = registry.clone();
    let cleanup = registry.clone();
    Gateway::new(registry, config.gateway)
        .layer(lab_gateway::interceptors::LoggingLayer)
        .on("join", join)
        .on("leave", leave)
        .on("rooms", rooms)
        .on("send", send)
        // A chat: a member's messages reach the room in the order they were sent, and a
        // `send` right after a `join` is handled after it.
        .ordered(["join", "leave", "rooms", "send"])
        .after_init(move |server| attach.attach(server))
        .on_connect(name_from)
        .on_connected(|socket| {
            let name = socket.with(|m| {
                if m.name.is_empty() {
                    m.name = format!("guest-{}", socket.id());
                }
                m.name.clone()
            });
            let _ = socket.server().emit_to(
                socket.id(),
                "welcome",
                json!({ "conn": socket.id(), "name": name }),
            );
        })
        // Every way out (a close frame, a dropped TCP connection, a protocol error, a missed
        // heartbeat) ends here, so presence never shows a member who is gone.
        .on_disconnect(move |socket, _why| cleanup.leave_all(socket))
}
// ANCHOR_END: gateway
