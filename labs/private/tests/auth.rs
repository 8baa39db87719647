//! Authentication at the handshake: 401 before the upgrade for a missing, forged, wrongly
//! signed or expired token (and one in the query string); 1008 when it expires later.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kit::testing::{connect_ws, within};
use lab_gateway::client::ClientError;
use lab_private::auth::Tokens;
use lab_private::client::PrivateError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{Error as WsError, http::HeaderValue};

/// Upgrades with `header: value` (if any) and returns the HTTP status of the answer.
async fn status(url: &str, header: Option<(&'static str, String)>) -> u16 {
    let mut request = url.into_client_request().unwrap();
    if let Some((name, value)) = header {
        request
            .headers_mut()
            .insert(name, HeaderValue::from_str(&value).unwrap());
    }
    match connect_ws(request).await.unwrap() {
        Ok((_, response)) => response.status().as_u16(),
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(err) => panic!("unexpected error {err}"),
    }
}

fn bearer(token: &str) -> Option<(&'static str, String)> {
    Some(("authorization", format!("Bearer {token}")))
}

/// The login endpoint issues tokens to demo users only.
#[tokio::test]
async fn login() {
    let (server, _) = common::start().await;
    let token = common::token(&server, "alice").await;
    assert_eq!(token.split('.').count(), 3, "a JWT has three parts");
    let refused = within(
        "login",
        lab_private::client::login(&server.url(""), "alice", "wrong"),
    )
    .await
    .unwrap();
    assert!(matches!(refused, Err(PrivateError::Login(m)) if m.starts_with("401")));
}

/// A valid token gets 101; missing, forged, wrongly signed, `alg: none` and expired
/// tokens get 401 before any upgrade; so does a token in the query string.
#[tokio::test]
async fn bad_tokens_get_401() {
    let (server, state) = common::start().await;
    let url = server.ws_url("/ws");
    let good = common::token(&server, "alice").await;
    assert_eq!(status(&url, bearer(&good)).await, 101);

    assert_eq!(status(&url, None).await, 401, "missing");
    match connect_ws(url.as_str()).await.unwrap() {
        Err(WsError::Http(response)) => assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer realm="lab-private""#
        ),
        other => panic!("expected a 401, got {other:?}"),
    }

    // Forged: bob's claims under alice's signature.
    let parts: Vec<&str> = good.split('.').collect();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let forged_claims = URL_SAFE_NO_PAD.encode(claims.replace("alice", "bob"));
    let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
    assert_eq!(status(&url, bearer(&forged)).await, 401, "forged");

    // `alg: none`, the classic: no signature at all.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    assert_eq!(status(&url, bearer(&none)).await, 401, "alg none");

    let other_key = Tokens::new(b"not the server's secret", Duration::from_secs(60));
    let wrongly_signed = other_key.issue("alice", SystemTime::now());
    assert_eq!(
        status(&url, bearer(&wrongly_signed)).await,
        401,
        "other key"
    );

    let expired = state
        .tokens
        .issue("alice", SystemTime::now() - Duration::from_secs(3600));
    assert_eq!(status(&url, bearer(&expired)).await, 401, "expired");

    let in_query = server.ws_url(&format!("/ws?token={good}"));
    assert_eq!(status(&in_query, None).await, 401, "query string");
}

/// A browser's way: the token offered as a subprotocol. The server answers `private.v1`,
/// never the token.
#[tokio::test]
async fn token_as_subprotocol_is_not_echoed() {
    let (server, _) = common::start().await;
    let token = common::token(&server, "bob").await;
    let mut request = server.ws_url("/ws").into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(&format!("private.v1, {token}")).unwrap(),
    );
    let (_ws, response) = connect_ws(request).await.unwrap().unwrap();
    let chosen = response.headers().get("sec-websocket-protocol").unwrap();
    assert_eq!(chosen, "private.v1");
    let all_headers = format!("{:?}", response.headers());
    assert!(!all_headers.contains(&token), "{all_headers}");

    // The protocol name alone is no token.
    let alone = Some(("sec-websocket-protocol", "private.v1".to_owned()));
    assert_eq!(status(&server.ws_url("/ws"), alone).await, 401);
}

/// A connection whose token expires is closed by the server with 1008.
#[tokio::test(start_paused = true)]
async fn expiry_closes_with_1008() {
    let (server, state) = common::start_with(|c| c.token_ttl = common::SHORT_TTL).await;
    let token = state.tokens.issue("alice", SystemTime::now());
    let mut client = within(
        "connect",
        lab_private::client::PrivateClient::connect(&server.ws_url("/ws"), &token),
    )
    .await
    .unwrap()
    .unwrap();
    // Nothing else will come: the next thing is the close, when the paused clock reaches
    // the token's expiry.
    let end = within("the expiry close", client.next_incoming())
        .await
        .unwrap();
    match end {
        Err(PrivateError::Ws(ClientError::Closed(Some((code, reason))))) => {
            assert_eq!(code, 1008);
            assert_eq!(reason, "token expired");
        }
        other => panic!("expected a 1008 close, got {other:?}"),
    }
}
