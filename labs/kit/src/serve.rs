//! Serving a lab: bind, accept with `TCP_NODELAY`, stop gracefully.
//!
//! Every lab's `main.rs` is three lines long because of this module:
//!
//! ```no_run
//! # async fn run(app: axum::Router) -> anyhow::Result<()> {
//! let listener = kit::bind("127.0.0.1:3001".parse()?).await?;
//! kit::serve(listener, app, kit::shutdown_signal()).await?;
//! # Ok(()) }
//! ```
//!
//! Tests call [`serve`] too, on a listener bound to port 0, with a shutdown future of their
//! own (see [`crate::testing`]).

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;

/// Binds a TCP listener, turning the common failure into advice a learner can act on.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!(
            "cannot listen on {addr}: is another copy already running? \
             Stop it, or pick another address with --addr 127.0.0.1:<port>"
        )
    })
}

/// Serves `app` on `listener` until `shutdown` completes.
///
/// - `TCP_NODELAY` is set on every accepted socket. Without it, Nagle's algorithm holds back
///   small writes until the previous one is acknowledged, and the peer's delayed ACK waits
///   up to 40 ms: a WebSocket message, which is usually small, would sit in the kernel for
///   tens of milliseconds. Chapter 10 shows that stall on purpose.
/// - The connecting peer's address is available to handlers as
///   `axum::extract::ConnectInfo<SocketAddr>`.
/// - When `shutdown` completes, the listener stops accepting and in-flight HTTP requests
///   finish. Upgraded WebSocket connections are no longer HTTP requests and are not waited
///   for: [`serve_with_goodbye`] closes them with 1001 ("going away") afterwards.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(%err, "could not set TCP_NODELAY on an accepted socket");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Serves `app` on `listener` until `signal` completes, then closes every WebSocket
/// connection watching `shutdown` with 1001 ("going away") and waits for them, at most
/// [`GOODBYE_DEADLINE`](crate::shutdown::GOODBYE_DEADLINE). This is what a lab's `main`
/// runs, with [`shutdown_signal`]: Ctrl-C or SIGTERM then reaches every client as a close
/// code it can act on (reconnect later), not as a dropped TCP connection (1006).
pub async fn serve_with_goodbye(
    listener: TcpListener,
    app: Router,
    signal: impl Future<Output = ()> + Send + 'static,
    shutdown: &crate::Shutdown,
) -> std::io::Result<()> {
    // `serve` returns once the listener is closed and plain HTTP requests have finished;
    // upgraded connections are still running then, and hear the goodbye next.
    serve(listener, app, signal).await?;
    shutdown.going_away(crate::shutdown::GOODBYE_DEADLINE).await;
    Ok(())
}

/// Completes on Ctrl-C or, on Unix, on SIGTERM (what `kill` and service managers send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C; stop the server with SIGTERM");
            std::future::pending::<()>().await;
        }
    };

    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
