//! The exercises of chapter 6 ("The gateway"), with their solutions, tested against the
//! lab's demo gateway.
//!
//! ```text
//! cargo test -p lab-gateway --test exercises
//! ```
//!
//! The book shows each exercise's task and its tests; the body written here is the
//! solution. To do an exercise yourself, replace a body with `todo!()`, watch its tests
//! fail, then write your own until they pass.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::Json;
use kit::testing::TestServer;
use lab_gateway::demo::{self, DemoCtx};
use lab_gateway::{Config, WsException};
use serde::Deserialize;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Exercise 1: a guard that refuses messages from a muted user.
// ---------------------------------------------------------------------------------------

// ANCHOR: muted_solution
// ANCHOR: muted_task
/// Exercise 1: a guard for the demo gateway that refuses any message from a connection
/// whose user (`Visitor::user`, from `?user=<name>`) is in `muted`, with the reason
/// `"<name> is muted"`. Connections without a name, and everyone else, pass.
pub fn not_muted(
    muted: BTreeSet<String>,
) -> impl Fn(&DemoCtx, &Value) -> Result<(), String> + Send + Sync + 'static {
    // ANCHOR_END: muted_task
    move |ctx, _data| {
        let user = ctx.socket.with(|visitor| visitor.user.clone());
        match user {
            Some(name) if muted.contains(&name) => Err(format!("{name} is muted")),
            _ => Ok(()),
        }
    }
}
// ANCHOR_END: muted_solution

// ANCHOR: muted_tests
/// The demo gateway with `not_muted(["bob"])` guarding `echo`.
async fn with_bob_muted() -> TestServer {
    TestServer::start(|addr| {
        let muted = BTreeSet::from(["bob".to_owned()]);
        demo::gateway(Config::for_port(addr.port()))
            .guard("echo", not_muted(muted))
            .into_router()
    })
    .await
    .unwrap()
}

/// bob's echo is refused with a `forbidden` exception naming him; he stays connected.
#[tokio::test]
async fn muted_user_is_refused() {
    let server = with_bob_muted().await;
    let (mut bob, _) = Json::welcomed(&server, "?user=bob").await;
    let reply = bob.request(1, "echo", json!({ "text": "hi" })).await;
    assert_eq!(reply["event"], "exception");
    assert_eq!(reply["data"]["cause"]["kind"], "forbidden");
    assert_eq!(reply["data"]["message"], "forbidden: bob is muted");
    // Other events are not guarded.
    let reply = bob.request(2, "count", Value::Null).await;
    assert_eq!(reply["event"], "ack");
}

/// ada, and a connection without a name, echo as before.
#[tokio::test]
async fn others_pass() {
    let server = with_bob_muted().await;
    for query in ["?user=ada", ""] {
        let (mut client, _) = Json::welcomed(&server, query).await;
        let reply = client.request(1, "echo", json!({ "text": "hi" })).await;
        assert_eq!(reply["data"], json!({ "text": "hi" }), "{query}");
    }
}
// ANCHOR_END: muted_tests

// ---------------------------------------------------------------------------------------
// Exercise 2: a `typing` event, pushed to everyone but the sender.
// ---------------------------------------------------------------------------------------

// ANCHOR: typing_solution
// ANCHOR: typing_task
/// The payload of `typing`: is the user typing now, or did they stop?
#[derive(Debug, Deserialize)]
pub struct Typing {
    /// `true` when typing starts, `false` when it stops.
    pub active: bool,
}

/// Exercise 2: the `typing` handler. It pushes a `typing` event with
/// `{"conn": <sender's id>, "user": <sender's name or null>, "active": <bool>}` to every
/// connection except the sender (use `ctx.server().connections()` and `emit_to_many`),
/// and answers `{"notified": <how many connections it reached>}`.
pub async fn typing(ctx: DemoCtx, payload: Typing) -> Result<Value, WsException> {
    // ANCHOR_END: typing_task
    let me = ctx.socket.id();
    let user = ctx.socket.with(|visitor| visitor.user.clone());
    let others = ctx
        .server()
        .connections()
        .into_iter()
        .filter(|&id| id != me);
    let event = json!({ "conn": me, "user": user, "active": payload.active });
    let notified = ctx.server().emit_to_many(others, "typing", event);
    Ok(json!({ "notified": notified }))
}
// ANCHOR_END: typing_solution

// ANCHOR: typing_tests
/// The demo gateway with the `typing` handler added.
async fn with_typing() -> TestServer {
    TestServer::start(|addr| {
        demo::gateway(Config::for_port(addr.port()))
            .on("typing", typing)
            .into_router()
    })
    .await
    .unwrap()
}

/// bob and cy hear that ada is typing; ada's next message is her own ack, not a `typing`.
#[tokio::test]
async fn typing_reaches_everyone_but_the_sender() {
    let server = with_typing().await;
    let (mut ada, ada_id) = Json::welcomed(&server, "?user=ada").await;
    let (mut bob, _) = Json::welcomed(&server, "?user=bob").await;
    let (mut cy, _) = Json::welcomed(&server, "").await;

    let reply = ada.request(1, "typing", json!({ "active": true })).await;
    assert_eq!(reply["data"], json!({ "notified": 2 }));
    for other in [&mut bob, &mut cy] {
        let heard = other.recv_event("typing").await;
        assert_eq!(
            heard["data"],
            json!({ "conn": ada_id, "user": "ada", "active": true })
        );
    }
    assert!(
        ada.kept.is_empty(),
        "ada was told about herself: {:?}",
        ada.kept
    );
}

/// A payload without `active`, or with one that is not a boolean, is refused by the pipe.
#[tokio::test]
async fn typing_validates_its_payload() {
    let server = with_typing().await;
    let (mut ada, _) = Json::welcomed(&server, "?user=ada").await;
    for (id, data) in [(1, json!({})), (2, json!({ "active": "yes" }))] {
        let reply = ada.request(id, "typing", data.clone()).await;
        assert_eq!(reply["event"], "exception", "{data}: {reply}");
        assert_eq!(
            reply["data"]["cause"]["kind"], "validation",
            "{data}: {reply}"
        );
    }
}
// ANCHOR_END: typing_tests
