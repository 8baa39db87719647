//! The page's server-side buttons, as requests over the connection: `kill_me` drops the
//! connection without a close frame (the client sees 1006), `go_silent` stops every write to
//! it while the TCP connection stays up (updates skipped, even answers held back), `restart`
//! gives the stream a new epoch and closes everyone with 1012. And the subscriber's answer
//! to a silent connection: the gap in the offsets, a reconnection, the recovery.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Json, close_code, next, options, publish, start, until_offset, updates};
use futures_util::StreamExt as _;
use kit::testing::within;
use lab_resilience::client::{Event, Subscriber};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// `kill_me`: the connection ends with no close frame; a bystander keeps receiving.
#[tokio::test]
async fn kill_me_drops_the_connection_without_a_close_frame() {
    let (server, stream) = start().await;
    let mut victim = Json::connect(&server, "").await;
    assert_eq!(victim.recv().await["event"], "subscribed");
    let mut bystander = Json::connect(&server, "").await;
    assert_eq!(bystander.recv().await["event"], "subscribed");
    victim
        .send(json!({ "event": "kill_me", "id": 1, "data": {} }))
        .await;
    let ended = within("the end of the connection", async {
        loop {
            match victim.ws.next().await {
                Some(Ok(Message::Close(frame))) => return Err(format!("a close frame: {frame:?}")),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Ok(()),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        ended,
        Ok(()),
        "the server must drop it without a close frame"
    );
    publish(&stream, 1);
    assert_eq!(bystander.recv_event("update").await["data"]["offset"], 1);
    let metrics = stream.metrics_text();
    assert!(
        metrics.contains(r#"resilience_disconnects_total{by="server",code="1006"} 1"#),
        "{metrics}"
    );
}

/// `go_silent` refuses a bad duration with an exception (the connection stays up); for a
/// good one, updates published during the silence never reach that connection, and a
/// `position` request is answered only after it; other subscribers are not affected.
#[tokio::test]
async fn go_silent_withholds_every_write_for_its_duration() {
    let (server, stream) = start().await;
    let mut quiet = Json::connect(&server, "").await;
    assert_eq!(quiet.recv().await["event"], "subscribed");
    let mut other = Json::connect(&server, "").await;
    assert_eq!(other.recv().await["event"], "subscribed");
    for (id, data) in [
        (1, json!({})),
        (2, json!({ "secs": 0 })),
        (3, json!({ "secs": 61 })),
    ] {
        let reply = quiet.request(id, "go_silent", data).await;
        assert_eq!(reply["event"], "exception", "{reply}");
    }
    let reply = quiet.request(4, "go_silent", json!({ "secs": 1 })).await;
    assert_eq!(reply["data"]["silent_for"], 1.0, "{reply}");
    publish(&stream, 3);
    for offset in 1..=3 {
        assert_eq!(other.recv_event("update").await["data"]["offset"], offset);
    }
    quiet
        .send(json!({ "event": "position", "id": 5, "data": {} }))
        .await;
    let nothing = tokio::time::timeout(Duration::from_millis(500), quiet.recv()).await;
    assert!(nothing.is_err(), "silent, yet it received {nothing:?}");
    // After the silence: the held answer, then the next update, with offsets 1 to 3 skipped.
    let answer = quiet.recv().await;
    assert_eq!(answer["id"], 5, "{answer}");
    assert_eq!(answer["data"]["offset"], 3);
    publish(&stream, 1);
    assert_eq!(quiet.recv_event("update").await["data"]["offset"], 4);
}

/// The subscriber notices the gap a silence leaves (offset 4 after 1), reconnects from its
/// last position, recovers 2 and 3 from the history, and yields every update once, in order.
#[tokio::test]
async fn the_subscriber_recovers_the_gap_of_a_silence() {
    let (server, stream) = start().await;
    let mut subscriber = Subscriber::new(options(server.ws_url("/ws")));
    assert!(matches!(
        next(&mut subscriber).await.unwrap(),
        Event::Subscribed(_)
    ));
    publish(&stream, 1);
    until_offset(&mut subscriber, 1).await;
    // Silence the subscriber's connection from the server's side: it is the only one.
    let id = within("the connection's id", async {
        loop {
            if let Some(&id) = stream.subscribers().first() {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    stream.silence(id, Duration::from_millis(300));
    publish(&stream, 2);
    tokio::time::sleep(Duration::from_millis(400)).await;
    publish(&stream, 1);
    let events = until_offset(&mut subscriber, 4).await;
    let gap = events.iter().find_map(|e| match e {
        Event::Closed { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(
        gap.as_deref()
            .is_some_and(|r| r.contains("a gap: updates 2 to 3")),
        "{events:?}"
    );
    let got: Vec<(u64, bool)> = updates(&events)
        .iter()
        .map(|(u, recovered)| (u.offset, *recovered))
        .collect();
    assert_eq!(got, [(2, true), (3, true), (4, true)], "{events:?}");
}

/// `restart`: a new epoch; every subscriber hears 1012 and, coming back with its old
/// position, is told `recovered: false` (another epoch).
#[tokio::test]
async fn restart_gives_a_new_epoch_and_closes_with_1012() {
    let (server, stream) = start().await;
    let before = stream.epoch();
    let mut asker = Json::connect(&server, "").await;
    assert_eq!(asker.recv().await["event"], "subscribed");
    let mut listener = Json::connect(&server, "").await;
    assert_eq!(listener.recv().await["event"], "subscribed");
    let sse = within(
        "an SSE subscription",
        reqwest::get(format!("http://{}/sse", server.addr)),
    )
    .await
    .unwrap()
    .unwrap();
    let mut sse = lab_resilience::client::sse_events(sse);
    let first = within("subscribed", sse.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.event, "subscribed");
    asker
        .send(json!({ "event": "restart", "id": 1, "data": {} }))
        .await;
    assert_eq!(close_code(&mut listener.ws).await, 1012);
    let goodbye = within("the SSE goodbye", sse.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(goodbye.event, "goodbye");
    assert!(goodbye.data.contains("1012"), "{goodbye:?}");
    assert_eq!(close_code(&mut asker.ws).await, 1012);
    assert_ne!(stream.epoch(), before);
    let mut back = Json::connect(&server, &format!("?since={before}:0")).await;
    let subscribed = back.recv().await;
    assert_eq!(subscribed["data"]["recovered"], false);
    assert!(
        subscribed["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("another epoch"),
        "{subscribed}"
    );
}
