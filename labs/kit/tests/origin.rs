//! The Origin allowlist in front of a real WebSocket endpoint, driven by tokio-tungstenite.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use kit::OriginAllowlist;
use kit::testing::{TestServer, connect_ok, connect_ws, within};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

/// A one-route echo server protected by `allowlist`.
fn echo_app(allowlist: OriginAllowlist) -> Router {
    let app = Router::new().route(
        "/ws",
        get(|ws: WebSocketUpgrade| async move {
            ws.on_upgrade(|mut socket| async move {
                while let Some(Ok(message)) = socket.recv().await {
                    if let Message::Text(_) | Message::Binary(_) = message
                        && socket.send(message).await.is_err()
                    {
                        break;
                    }
                }
            })
        }),
    );
    allowlist.protect(app)
}

async fn server() -> TestServer {
    TestServer::start(|addr| echo_app(OriginAllowlist::for_lab(addr.port())))
        .await
        .unwrap()
}

fn request_from(url: &str, origin: &str) -> tungstenite::handshake::client::Request {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", origin.parse().unwrap());
    request
}

/// A page of another site gets 403 before the upgrade, with a body that says why.
#[tokio::test]
async fn foreign_origin_is_refused_before_the_upgrade() {
    let server = server().await;
    let refused = connect_ws(request_from(&server.ws_url("/ws"), "http://evil.example"))
        .await
        .unwrap();
    match refused {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
            let body = String::from_utf8(response.body().clone().unwrap_or_default()).unwrap();
            assert!(body.contains("http://evil.example"), "{body}");
            assert!(body.contains("hijacking"), "{body}");
        }
        other => panic!("expected a 403, got {other:?}"),
    }
    server.stop().await.unwrap();
}

/// The lab's own page, and a client that sends no Origin at all, are served.
#[tokio::test]
async fn own_origin_and_no_origin_are_served() {
    let server = server().await;
    for request in [
        request_from(&server.ws_url("/ws"), &server.origin()),
        server.ws_url("/ws").into_client_request().unwrap(),
    ] {
        let mut client = connect_ok(request).await.unwrap();
        client
            .send(tungstenite::Message::text("Hello"))
            .await
            .unwrap();
        let reply = within("echo", client.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(reply, tungstenite::Message::text("Hello"));
    }
    server.stop().await.unwrap();
}

/// Ordinary pages behind the layer are served; a same-origin page load sends no Origin.
#[tokio::test]
async fn plain_http_still_works_behind_the_layer() {
    let server = TestServer::start(|addr| {
        OriginAllowlist::for_lab(addr.port())
            .protect(Router::new().route("/", get(|| async { "ok" })))
    })
    .await
    .unwrap();
    let body = within("GET /", reqwest::get(server.url("/")))
        .await
        .unwrap()
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "ok");
    server.stop().await.unwrap();
}
