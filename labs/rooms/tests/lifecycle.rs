//! The room lifecycle against the clock: an empty room waits out its grace period as
//! Inactive, a join in time brings it back, and only an untouched grace period deletes it.
//! The clock is tokio's paused test clock, so no test waits for real.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use lab_gateway::{Server, Socket};
use lab_rooms::{Limits, Member, RoomRegistry, RoomState};
use tokio::sync::mpsc;

/// A connection detached from any network, named `name`.
fn member(id: u64, name: &str) -> (Socket<Member>, mpsc::Receiver<axum::extract::ws::Message>) {
    let (queue, outgoing) = mpsc::channel(64);
    let state = Member {
        name: name.into(),
        ..Member::default()
    };
    (
        Socket::new(id, None, state, queue, Server::default()),
        outgoing,
    )
}

/// Lets spawned tasks (the deletion timer) run after the clock moved.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// Created → Active → Inactive → (rejoin) Active → Inactive → Deleted after the grace.
#[tokio::test(start_paused = true)]
async fn grace_period_then_deletion() {
    let grace = Duration::from_secs(30);
    let registry = RoomRegistry::new(Limits {
        grace,
        ..Limits::default()
    });
    let mut changes = registry.subscribe_lifecycle();
    let (ada, _ada_out) = member(1, "ada");

    registry.join(&ada, "rust").unwrap();
    assert_eq!(registry.state("rust"), Some(RoomState::Active));
    registry.leave(&ada, "rust");
    settle().await; // the deletion timer starts
    assert_eq!(registry.state("rust"), Some(RoomState::Inactive));

    // Just before the end of the grace period, someone comes back.
    tokio::time::advance(grace - Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(registry.state("rust"), Some(RoomState::Inactive));
    registry.join(&ada, "rust").unwrap();
    // The first timer expires now, but the room is in use again: it stays.
    tokio::time::advance(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(registry.state("rust"), Some(RoomState::Active));

    registry.leave(&ada, "rust");
    settle().await;
    tokio::time::advance(grace).await;
    settle().await;
    assert_eq!(registry.state("rust"), None);

    let mut seen = Vec::new();
    while let Ok(change) = changes.try_recv() {
        seen.push(change.state);
    }
    use RoomState::*;
    assert_eq!(seen, [Created, Active, Inactive, Active, Inactive, Deleted]);
}

/// A member's joined room is in its own state (connection → rooms), and the room's member
/// list has it (room → members): the two maps move together.
#[tokio::test(start_paused = true)]
async fn both_maps_move_together() {
    let registry = RoomRegistry::new(Limits::default());
    let (ada, _ada_out) = member(1, "ada");
    let (bob, _bob_out) = member(2, "bob");
    registry.join(&ada, "a").unwrap();
    registry.join(&ada, "b").unwrap();
    registry.join(&bob, "a").unwrap();
    assert_eq!(registry.members("a"), ["ada", "bob"]);
    assert_eq!(ada.with(|m| m.rooms.len()), 2);
    registry.leave_all(&ada);
    assert_eq!(registry.members("a"), ["bob"]);
    assert!(ada.with(|m| m.rooms.is_empty()));
}
