//! The exercise of chapter 7 ("Rooms"), with its solution, tested against the lab.
//!
//! ```text
//! cargo test -p lab-rooms --test exercises
//! ```
//!
//! The book shows the task and its tests; the body written here is the solution. Replace it
//! with `todo!()` to do the exercise yourself.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use kit::testing::TestServer;
use lab_gateway::WsException;
use lab_rooms::handlers::{RoomName, RoomsCtx};
use lab_rooms::{RoomRegistry, RoomsConfig};
use serde_json::{Value, json};

// ANCHOR: who_solution
// ANCHOR: who_task
/// Exercise: a `who` event answering `{"room": ..., "members": [names]}` for a room the
/// sender is in (`ctx.socket.with(|m| m.rooms.contains_key(..))`, then
/// `ctx.state.members(..)`). For a room it is not in, refuse with
/// `WsException::Forbidden("you are not in room <room>")`: isolation covers presence too.
pub async fn who(ctx: RoomsCtx, RoomName { room }: RoomName) -> Result<Value, WsException> {
    // ANCHOR_END: who_task
    if !ctx.socket.with(|m| m.rooms.contains_key(&room)) {
        return Err(WsException::Forbidden(format!(
            "you are not in room {room}"
        )));
    }
    Ok(json!({ "room": room, "members": ctx.state.members(&room) }))
}
// ANCHOR_END: who_solution

// ANCHOR: who_tests
/// The rooms lab with `who` added.
async fn with_who() -> TestServer {
    TestServer::start(|addr| {
        let config = RoomsConfig::for_port(addr.port());
        let registry = RoomRegistry::new(config.limits.clone());
        lab_rooms::gateway(config, registry)
            .on("who", who)
            .into_router()
    })
    .await
    .unwrap()
}

/// A member sees the members; an outsider is refused and learns nothing.
#[tokio::test]
async fn who_answers_members_only() {
    let server = with_who().await;
    let (mut ada, _) = common::Json::welcomed(&server, "?name=ada").await;
    let (mut bob, _) = common::Json::welcomed(&server, "?name=bob").await;
    let (mut eve, _) = common::Json::welcomed(&server, "?name=eve").await;
    ada.request(1, "join", json!({ "room": "rust" })).await;
    bob.request(1, "join", json!({ "room": "rust" })).await;

    let reply = ada.request(2, "who", json!({ "room": "rust" })).await;
    assert_eq!(
        reply["data"],
        json!({ "room": "rust", "members": ["ada", "bob"] })
    );
    let reply = eve.request(1, "who", json!({ "room": "rust" })).await;
    assert_eq!(
        reply["data"]["message"],
        "forbidden: you are not in room rust"
    );
}
// ANCHOR_END: who_tests
