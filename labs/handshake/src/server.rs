//! The lab's own server, straight on tokio's `TcpStream`: no HTTP library, no WebSocket
//! library. It reads the request head, answers the page, a 101 or an error, and then speaks
//! frames with [`Connection`].
//!
//! This is what `cargo run -p lab-handshake` runs. (Inside the course launcher the lab is
//! mounted on axum instead, see `app.rs`; everything after the handshake is the same code.)

use std::future::Future;

use axum::http::Method;
use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::PAGE;
use crate::codec::Role;
use crate::connection::Connection;
use crate::events::{ConnectionState, Event, Observer};
use crate::handshake::{self, HANDSHAKE_TIMEOUT, HandshakeError};
use crate::lab::{Lab, Service, tag_from_query};

// ANCHOR: run
/// Accepts connections on `listener` until `shutdown` completes; each one gets a task.
pub async fn run(
    listener: TcpListener,
    lab: Lab,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // Too many open files, and the like: log, and keep serving the others.
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        // Small frames must not wait for Nagle's algorithm (see kit::serve).
        let _ = stream.set_nodelay(true);
        let lab = lab.clone();
        tokio::spawn(async move {
            if let Err(err) = handle(stream, lab).await {
                tracing::debug!(%peer, %err, "request refused");
            }
        });
    }
}
// ANCHOR_END: run

// ANCHOR: handle
/// One TCP connection: read the head (within the deadline), then route it.
async fn handle(mut stream: TcpStream, lab: Lab) -> Result<(), HandshakeError> {
    let mut buf = BytesMut::with_capacity(1024);
    let read = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake::read_request(&mut stream, &mut buf),
    )
    .await;
    let (request, raw_request) = match read {
        Ok(Ok(pair)) => pair,
        Ok(Err(err)) => return refuse(&mut stream, err).await,
        // A slowloris client: cut it off.
        Err(_elapsed) => return refuse(&mut stream, HandshakeError::Timeout).await,
    };
    let path = request.uri().path().to_owned();
    let service = match (path.as_str(), Service::at(&path)) {
        ("/", _) | ("/index.html", _) if request.method() == Method::GET => {
            return serve_page(&mut stream).await;
        }
        ("/", _) | ("/index.html", _) => {
            let method = request.method().to_string();
            return refuse(&mut stream, HandshakeError::MethodNotAllowed(method)).await;
        }
        (_, Some(service)) => service,
        _ => return refuse(&mut stream, HandshakeError::NotFound(path)).await,
    };
    let accept = match handshake::validate_request(&request, &lab.config().allowlist) {
        Ok(accept) => accept,
        Err(err) => return refuse(&mut stream, err).await,
    };
    let observer = match service {
        Service::Echo => lab.observer(tag_from_query(request.uri().query())),
        // The inspector's own frames are not inspected: they would feed themselves.
        Service::Inspector => Observer::none(),
    };
    observer.emit(Event::State {
        from: ConnectionState::Disconnected,
        to: ConnectionState::Handshaking,
        why: "TCP connection accepted, upgrade request received".into(),
    });
    // From here on, the server's goodbye waits for this connection too.
    let going_away = lab.config().shutdown.watch();
    let agreed = handshake::negotiate_compression(&request, lab.config().settings.compression);
    let extensions = agreed.map(|agreed| agreed.response_header());
    let response = handshake::response_101_with(&accept, extensions.as_deref());
    Lab::report_handshake(&observer, &raw_request, &response);
    if stream.write_all(response.as_bytes()).await.is_err() {
        return Ok(());
    }
    // Bytes after the head (a first frame sent eagerly) stay in `buf` for the connection.
    let connection = Connection::new(stream, Role::Server, lab.config().settings, buf, observer)
        .with_compression(agreed);
    lab.run(service, connection, going_away).await;
    Ok(())
}
// ANCHOR_END: handle

/// Answers with the error's status and closes.
async fn refuse(stream: &mut TcpStream, err: HandshakeError) -> Result<(), HandshakeError> {
    let _ = stream.write_all(err.response_text().as_bytes()).await;
    let _ = stream.shutdown().await;
    Err(err)
}

/// Answers `GET /` with the lab's page.
async fn serve_page(stream: &mut TcpStream) -> Result<(), HandshakeError> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        PAGE.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(PAGE.as_bytes()).await;
    let _ = stream.shutdown().await;
    Ok(())
}
