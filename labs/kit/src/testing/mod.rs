//! Test helpers: a lab on `127.0.0.1:0`, real clients, and a timeout on every await.
//!
//! The rules they enforce: no fixed ports (tests run in parallel), no sleeping to wait for a
//! server (the listener is bound before the test proceeds, so the server is ready), and no
//! network await without a deadline (a broken server fails the test instead of hanging it).

pub mod process;
pub mod raw;

pub use process::LabProcess;
pub use raw::RawClient;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow};
use axum::Router;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The deadline for one network step in a test. Generous, because CI machines are shared
/// and slow; a healthy step on loopback takes well under a millisecond.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// A WebSocket client connection as tokio-tungstenite opens it.
pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Runs `future` under [`STEP_TIMEOUT`], failing with `what` in the message if it is late.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(STEP_TIMEOUT, future)
        .await
        .map_err(|_| anyhow!("timed out after {STEP_TIMEOUT:?}: {what}"))
}

/// A lab served on a free port of 127.0.0.1 for the length of a test.
#[derive(Debug)]
pub struct TestServer {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// Dropping the sender (or sending) shuts the server down.
    shutdown: Option<oneshot::Sender<()>>,
    /// The serving task, awaited by [`TestServer::stop`].
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Serves the router returned by `make_app`, which receives the bound address first so
    /// that a lab can put its own origin on its allowlist.
    pub async fn start(make_app: impl FnOnce(SocketAddr) -> Router) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let app = make_app(addr);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(crate::serve(listener, app, async {
            let _ = rx.await;
        }));
        Ok(Self {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Serves `app` as it is.
    pub async fn serve(app: Router) -> anyhow::Result<Self> {
        Self::start(|_| app).await
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `ws://127.0.0.1:<port><path>`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// The origin a browser would send for a page served by this server.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and waits for the server task to end.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.shutdown.take());
        if let Some(task) = self.task.take() {
            within("server shutdown", task).await???;
        }
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Opens a WebSocket to `request` (a URL, or a request with extra headers such as
/// `Origin`), under [`STEP_TIMEOUT`].
///
/// The error is tungstenite's, so a test can inspect a refused handshake (for example
/// `Error::Http(response)` with status 403).
pub async fn connect_ws(
    request: impl IntoClientRequest + Unpin,
) -> anyhow::Result<Result<(Client, Response), tokio_tungstenite::tungstenite::Error>> {
    within(
        "WebSocket handshake",
        tokio_tungstenite::connect_async(request),
    )
    .await
}

/// Opens a WebSocket that must succeed, returning only the stream.
pub async fn connect_ok(request: impl IntoClientRequest + Unpin) -> anyhow::Result<Client> {
    let (client, _response) = connect_ws(request)
        .await?
        .context("the WebSocket handshake was refused")?;
    Ok(client)
}

/// What a test does when a program it needs (a proxy, a broker, a peer) is not installed:
/// says so on stderr and lets the test pass without running, unless `require_var` is `1`
/// (`.ci/run` sets it, where the program is installed), which makes it a failure. Call it
/// and return.
///
/// # Panics
///
/// When `require_var` is `1`.
pub fn missing(require_var: &str, why: &str) {
    assert!(
        std::env::var(require_var).as_deref() != Ok("1"),
        "{require_var}=1 but {why}"
    );
    eprintln!("SKIPPED: {why} (set {require_var}=1 to make this a failure)");
}
