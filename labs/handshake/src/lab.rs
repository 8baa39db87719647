//! The lab's behaviour once a connection is open, shared by the raw TCP server
//! (`server.rs`) and the axum mount used by the course (`app.rs`): the echo service of the
//! source's "Hello" / "Hello Back" exchange, and the inspector feed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kit::OriginAllowlist;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast;

use crate::connection::{Connection, Message, Settings};
use crate::error::Error;
use crate::events::{Event, Observer};

/// How many inspector events are kept for a slow inspector before it is told it missed
/// some. Events are small (a few hundred bytes of JSON); 1024 is a few hundred KiB at most.
const INSPECTOR_BACKLOG: usize = 1024;

/// How long a connection closed by the server's goodbye waits for the peer's answering
/// close frame. Within kit's `GOODBYE_DEADLINE`, so the server waits for every answer.
const GOODBYE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The lab's settings.
#[derive(Clone, Debug)]
pub struct LabConfig {
    /// Which browser origins may connect (403 otherwise).
    pub allowlist: OriginAllowlist,
    /// Limits and heartbeat of each connection.
    pub settings: Settings,
    /// The server's goodbye: when it starts, every connection is closed with 1001 ("going
    /// away") instead of being dropped.
    pub shutdown: kit::Shutdown,
}

impl LabConfig {
    /// The defaults for the lab on `port`: its own origin and the course's, default limits.
    pub fn for_port(port: u16) -> Self {
        Self {
            allowlist: OriginAllowlist::for_lab(port),
            settings: Settings::default(),
            shutdown: kit::Shutdown::new(),
        }
    }
}

/// The state shared by every connection of the lab. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Lab {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: LabConfig,
    /// Every event of every echo connection, as JSON, for the inspector sockets.
    events: broadcast::Sender<Arc<str>>,
    /// Numbers connections from 1 so events can be told apart.
    next_conn: AtomicU64,
}

/// Which service a WebSocket path offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// `/ws`: echoes every text and binary message back.
    Echo,
    /// `/inspector`: streams the server's view of every echo connection as JSON.
    Inspector,
}

impl Service {
    /// The service at `path` (query string ignored), if any.
    pub fn at(path: &str) -> Option<Self> {
        match path.split('?').next().unwrap_or("") {
            "/ws" => Some(Self::Echo),
            "/inspector" => Some(Self::Inspector),
            _ => None,
        }
    }
}

/// The `tag=` value of a query string, kept short and printable (it is echoed in events).
pub fn tag_from_query(query: Option<&str>) -> Option<String> {
    let tag = query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("tag="))?;
    let tag: String = tag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(32)
        .collect();
    (!tag.is_empty()).then_some(tag)
}

impl Lab {
    /// A lab with `config`.
    pub fn new(config: LabConfig) -> Self {
        let (events, _) = broadcast::channel(INSPECTOR_BACKLOG);
        Self {
            inner: Arc::new(Inner {
                config,
                events,
                next_conn: AtomicU64::new(1),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &LabConfig {
        &self.inner.config
    }

    /// An observer for a new echo connection: its events go to the inspector feed.
    pub fn observer(&self, tag: Option<String>) -> Observer {
        let conn = self.inner.next_conn.fetch_add(1, Ordering::Relaxed);
        let events = self.inner.events.clone();
        Observer::new(conn, tag, move |event| {
            // Serialising costs time: skip it when no inspector is open.
            if events.receiver_count() > 0
                && let Ok(json) = serde_json::to_string(&event)
            {
                let _ = events.send(json.into());
            }
        })
    }

    // ANCHOR: run
    /// Runs `service` on an open connection until it ends, or until the server says goodbye:
    /// then the connection starts the closing handshake with 1001 ("going away") and waits a
    /// moment for the peer's answer.
    /// `going_away` comes from this lab's `config().shutdown`, taken before the 101 was
    /// sent, and is held until the connection is done: the server's goodbye waits for it.
    pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        service: Service,
        mut connection: Connection<S>,
        mut going_away: kit::shutdown::Watcher,
    ) {
        let served = tokio::select! {
            result = self.serve(service, &mut connection) => Some(result),
            // Both services only await `recv` and `send`, which are cancel-safe.
            () = going_away.started() => None,
        };
        let result = match served {
            Some(result) => result,
            None => Self::say_goodbye(&mut connection).await,
        };
        match result {
            Ok(()) | Err(Error::Closed) => tracing::debug!(?service, "connection closed"),
            Err(err) => tracing::info!(?service, %err, "connection ended"),
        }
    }
    // ANCHOR_END: run

    /// Sends close 1001 and reads until the peer answers it (or [`GOODBYE_WAIT`] passes).
    async fn say_goodbye<S: AsyncRead + AsyncWrite + Unpin>(
        connection: &mut Connection<S>,
    ) -> Result<(), Error> {
        connection
            .close(kit::close::GOING_AWAY, "server shutting down")
            .await?;
        let answered = tokio::time::timeout(GOODBYE_WAIT, async {
            loop {
                if let Message::Close(_) = connection.recv().await? {
                    return Ok(());
                }
            }
        })
        .await;
        answered.unwrap_or(Ok(()))
    }

    /// The service itself.
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        service: Service,
        connection: &mut Connection<S>,
    ) -> Result<(), Error> {
        match service {
            Service::Echo => self.echo(connection).await,
            Service::Inspector => self.inspector(connection).await,
        }
    }

    // ANCHOR: echo
    /// The echo service: every text and binary message goes back unchanged, so any client
    /// can see its own "Hello" come back.
    pub async fn echo<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        connection: &mut Connection<S>,
    ) -> Result<(), Error> {
        loop {
            match connection.recv().await? {
                Message::Text(text) => {
                    let (id, len) = (connection.last_received_id(), text.len());
                    connection.send(Message::Text(text)).await?;
                    connection.processed(id, len, true);
                }
                Message::Binary(data) => {
                    let (id, len) = (connection.last_received_id(), data.len());
                    connection.send(Message::Binary(data)).await?;
                    connection.processed(id, len, false);
                }
                // Answered by the connection already.
                Message::Ping(_) | Message::Pong(_) => {}
                Message::Close(_) => return Ok(()),
            }
        }
    }
    // ANCHOR_END: echo

    // ANCHOR: inspector
    /// The inspector service: forwards every event of the echo connections as a JSON text
    /// message, and says how many it missed if it falls behind.
    async fn inspector<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        connection: &mut Connection<S>,
    ) -> Result<(), Error> {
        let mut feed = self.inner.events.subscribe();
        loop {
            tokio::select! {
                event = feed.recv() => match event {
                    Ok(json) => connection.send(Message::Text(json.to_string())).await?,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        let note = serde_json::json!({ "kind": "lagged", "missed": missed });
                        connection.send(Message::Text(note.to_string())).await?;
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                // `recv` is cancel-safe, so it can race the feed.
                incoming = connection.recv() => {
                    // The inspector only listens; what the page sends it is ignored.
                    if let Message::Close(_) = incoming? {
                        return Ok(());
                    }
                }
            }
        }
    }
    // ANCHOR_END: inspector

    /// Sends a handshake event for a connection (the raw request and response).
    pub fn report_handshake(observer: &Observer, request: &str, response: &str) {
        observer.emit(Event::Handshake {
            request: request.to_owned(),
            response: response.to_owned(),
        });
    }
}
