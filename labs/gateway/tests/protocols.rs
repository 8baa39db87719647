//! `Gateway::protocols`: the server answers with one of its own subprotocols, never with
//! another value the client offered (the private lab offers its token that way).

#![allow(clippy::unwrap_used)]

use kit::testing::{TestServer, connect_ws};
use lab_gateway::{Config, Gateway};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Offered `secret, chat.v1`, the server picks `chat.v1`; offered nothing, it names none.
#[tokio::test]
async fn picks_its_own_protocol_and_never_echoes_others() {
    let server = TestServer::start(|addr| {
        Gateway::<(), ()>::new((), Config::for_port(addr.port()))
            .protocols(["chat.v1"])
            .into_router()
    })
    .await
    .unwrap();
    let mut request = server.ws_url("/ws").into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("secret-value, chat.v1"),
    );
    let (_ws, response) = connect_ws(request).await.unwrap().unwrap();
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "chat.v1"
    );
    let (_ws, response) = connect_ws(server.ws_url("/ws")).await.unwrap().unwrap();
    assert!(response.headers().get("sec-websocket-protocol").is_none());
}
