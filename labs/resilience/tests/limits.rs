//! The limits, reused from the gateway and checked here on this lab: the connection limit
//! (503 + Retry-After, also under a burst), the rate limit (1008), the size limit (1009),
//! protocol violations in raw bytes (1002, 1007, 1009). After each, a bystander still
//! receives the stream: one bad client never hurts another.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use common::{Json, close_code, publish, start, start_with};
use futures_util::future::join_all;
use kit::testing::raw::{masked, push_len};
use kit::testing::{RawClient, connect_ok, connect_ws};
use lab_gateway::RateLimit;
use lab_resilience::Stream;
use tokio_tungstenite::tungstenite::{Error, Message};

/// A subscribed bystander.
async fn bystander(server: &kit::testing::TestServer) -> Json {
    let mut client = Json::connect(server, "").await;
    assert_eq!(client.recv().await["event"], "subscribed");
    client
}

/// The bystander receives the next update.
async fn still_receives(client: &mut Json, stream: &Stream) {
    publish(stream, 1);
    let update = client.recv().await;
    assert_eq!(update["event"], "update", "{update}");
    assert_eq!(update["data"]["offset"], stream.position().offset);
}

/// 10 upgrades at once against a limit of 3: exactly 3 get in, 7 get 503 with
/// Retry-After; the next one too; the 3 keep receiving.
#[tokio::test]
async fn connection_limit_holds_under_a_burst() {
    let (server, stream) = start_with(|config| config.gateway.max_connections = 3).await;
    let url = server.ws_url("/ws");
    let results = join_all((0..10).map(|_| connect_ws(url.clone()))).await;
    let mut open = Vec::new();
    let mut refused = 0;
    for result in results {
        match result.unwrap() {
            Ok((ws, _)) => open.push(Json {
                ws,
                kept: Default::default(),
            }),
            Err(Error::Http(response)) => {
                assert_eq!(response.status(), 503);
                assert!(
                    response.headers().contains_key("retry-after"),
                    "{response:?}"
                );
                refused += 1;
            }
            Err(err) => panic!("{err}"),
        }
    }
    assert_eq!((open.len(), refused), (3, 7));
    match connect_ws(url.clone()).await.unwrap() {
        Err(Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("the 4th connection got in: {other:?}"),
    }
    publish(&stream, 1);
    for client in &mut open {
        assert_eq!(client.recv().await["event"], "subscribed");
        assert_eq!(client.recv().await["data"]["offset"], 1);
    }
    server.stop().await.unwrap();
}

/// A client flooding requests past its rate is closed with 1008; a bystander keeps
/// receiving.
#[tokio::test]
async fn flood_is_closed_with_1008() {
    let (server, stream) = start_with(|config| {
        config.gateway.rate_limit = Some(RateLimit {
            per_second: 10.0,
            burst: 20,
        });
    })
    .await;
    let mut other = bystander(&server).await;
    let mut flooder = connect_ok(server.ws_url("/ws")).await.unwrap();
    for id in 0..100 {
        let request = format!(r#"{{"event":"position","id":{id}}}"#);
        if futures_util::SinkExt::send(&mut flooder, Message::text(request))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(close_code(&mut flooder).await, 1008);
    still_receives(&mut other, &stream).await;
    server.stop().await.unwrap();
}

/// A message over the lab's 4 KiB limit is closed with 1009; a bystander keeps receiving.
#[tokio::test]
async fn oversized_message_is_closed_with_1009() {
    let (server, stream) = start().await;
    let mut other = bystander(&server).await;
    let mut big = connect_ok(server.ws_url("/ws")).await.unwrap();
    let text = "x".repeat(lab_resilience::MAX_MESSAGE_BYTES + 1);
    let _ = futures_util::SinkExt::send(&mut big, Message::text(text)).await;
    assert_eq!(close_code(&mut big).await, 1009);
    still_receives(&mut other, &stream).await;
    server.stop().await.unwrap();
}

/// Raw bytes no library would send get their close codes: an unmasked frame 1002, a text
/// frame of invalid UTF-8 1007, a header claiming 1 GiB 1009 (refused from the header,
/// nothing allocated). The bystander keeps receiving after each.
#[tokio::test]
async fn raw_protocol_violations_get_their_close_codes() {
    let (server, stream) = start().await;
    let mut other = bystander(&server).await;
    let mut huge = vec![0x81];
    push_len(&mut huge, 0x80, 1 << 30);
    huge.extend_from_slice(&[1, 2, 3, 4]);
    let cases: [(&str, Vec<u8>, u16); 3] = [
        ("unmasked frame", vec![0x81, 0x02, b'h', b'i'], 1002),
        ("invalid UTF-8", masked(0x81, &[0xff, 0xfe, 0xfd]), 1007),
        ("a 1 GiB header", huge, 1009),
    ];
    for (what, bytes, code) in cases {
        let mut raw = RawClient::connect(server.addr, "/ws", &[]).await.unwrap();
        raw.send(&bytes).await.unwrap();
        assert_eq!(raw.close_code().await.unwrap(), Some(code), "{what}");
        still_receives(&mut other, &stream).await;
    }
    server.stop().await.unwrap();
}
