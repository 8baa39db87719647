//! The lab as an `axum::Router`, for the course launcher (mounted at `/labs/handshake/`)
//! and for anyone who wants the lab inside another axum app.
//!
//! axum parses the HTTP request here (hyper does), but the WebSocket part is still ours:
//! [`validate_request`] checks the upgrade, we answer 101 with our accept value, and hyper
//! hands over the raw upgraded byte stream, on which our [`Connection`] speaks frames.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::BytesMut;
use hyper_util::rt::TokioIo;

use crate::PAGE;
use crate::codec::Role;
use crate::connection::Connection;
use crate::events::{ConnectionState, Event, Observer};
use crate::handshake::{negotiate_compression, response_101_with, validate_request};
use crate::lab::{Lab, Service, tag_from_query};

/// The lab's routes: the page at `/`, the echo socket at `/ws`, the inspector at
/// `/inspector`.
pub fn router(lab: Lab) -> Router {
    Router::new()
        .route("/", kit::page::static_page(PAGE))
        .route(
            "/ws",
            get(|state, request| upgrade(state, request, Service::Echo)),
        )
        .route(
            "/inspector",
            get(|state, request| upgrade(state, request, Service::Inspector)),
        )
        .with_state(lab)
}

/// The request head as text, as close to the wire as hyper lets us see it.
fn head_text(request: &Request) -> String {
    let mut text = format!("{} {} HTTP/1.1\r\n", request.method(), request.uri());
    for (name, value) in request.headers() {
        text.push_str(&format!(
            "{name}: {}\r\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    text.push_str("\r\n");
    text
}

// ANCHOR: upgrade
/// Validates the upgrade with our own code, answers 101, and runs the service on the
/// upgraded stream.
async fn upgrade(State(lab): State<Lab>, mut request: Request, service: Service) -> Response {
    let head = {
        let mut head = axum::http::Request::new(());
        *head.method_mut() = request.method().clone();
        *head.uri_mut() = request.uri().clone();
        *head.version_mut() = request.version();
        *head.headers_mut() = request.headers().clone();
        head
    };
    let accept = match validate_request(&head, &lab.config().allowlist) {
        Ok(accept) => accept,
        Err(err) => {
            let mut response = (err.status(), err.to_string()).into_response();
            for (name, value) in err.headers() {
                response
                    .headers_mut()
                    .insert(name, header::HeaderValue::from_static(value));
            }
            return response;
        }
    };
    let observer = match service {
        Service::Echo => lab.observer(tag_from_query(request.uri().query())),
        Service::Inspector => Observer::none(),
    };
    observer.emit(Event::State {
        from: ConnectionState::Disconnected,
        to: ConnectionState::Handshaking,
        why: "upgrade request received".into(),
    });
    let agreed = negotiate_compression(&head, lab.config().settings.compression);
    let extensions = agreed.map(|agreed| agreed.response_header());
    Lab::report_handshake(
        &observer,
        &head_text(&request),
        &response_101_with(&accept, extensions.as_deref()),
    );

    let on_upgrade = hyper::upgrade::on(&mut request);
    // Taken before the 101 goes out: the server's goodbye waits for this connection too.
    let going_away = lab.config().shutdown.watch();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let io = TokioIo::new(upgraded);
                let settings = lab.config().settings;
                let connection =
                    Connection::new(io, Role::Server, settings, BytesMut::new(), observer)
                        .with_compression(agreed);
                lab.run(service, connection, going_away).await;
            }
            Err(err) => tracing::debug!(%err, "upgrade failed"),
        }
    });

    let mut response = (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::UPGRADE, "websocket".to_owned()),
            (header::CONNECTION, "Upgrade".to_owned()),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
        ],
    )
        .into_response();
    if let Some(value) = extensions.and_then(|value| header::HeaderValue::from_str(&value).ok()) {
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_EXTENSIONS, value);
    }
    response
}
// ANCHOR_END: upgrade
