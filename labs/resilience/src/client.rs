//! The client side of resilience: when to reconnect, how long to wait, and how to come back
//! without losing an update.
//!
//! Three pieces, each small enough to test on its own:
//!
//! 1. [`Backoff`]: exponential backoff with **full jitter** and a cap. After the n-th failure
//!    in a row the client waits a random time in `[0, min(cap, base·2ⁿ)]`. The exponent
//!    spreads one client's attempts out; the jitter spreads *many* clients apart: when a
//!    server restarts, ten thousand clients that all wait exactly 1 s, then 2 s, arrive in
//!    synchronised waves (a reconnect storm); with full jitter they arrive as a trickle.
//!    (AWS's "Exponential Backoff And Jitter" measured this; the browser page shows it.)
//! 2. [`classify`]: a close code is the server telling the client *why*. Some reasons pass
//!    (a restart: 1001, a lost network: 1006, an overload: 1013), so retrying is right;
//!    others would only happen again (a policy violation: 1008, a protocol bug: 1002), so
//!    retrying would hammer the server for nothing. This is error classification: transient
//!    or permanent.
//! 3. [`Subscriber`]: a subscription that survives all that. It remembers the position of
//!    the last update it saw, reconnects with `?since=<epoch>:<offset>`, and yields the
//!    missed updates before the live ones, each exactly once, and the events in between
//!    (closed, reconnecting in 340 ms, recovered or not) for a program to show.
//!
//! When the WebSocket upgrade cannot get through (a proxy that does not pass `Upgrade`
//! answers the upgrade as a plain request: `426 Upgrade Required`), the subscriber switches
//! to the lab's **fallback**, Server-Sent Events at `/sse` ([`crate::fallback`]), and goes
//! on there: the same events, the same positions, the same recovery ([`Transport`]).
//!
//! It also runs a heartbeat of its own: it pings the server every `ping_interval` and gives
//! the connection up when it has heard nothing for `ping_timeout`. Without it, a client
//! whose server vanished without a FIN (a cable pulled, a NAT that forgot the mapping)
//! would wait for the next update forever. Chapter 10 ("Best practices, measured") walks
//! through it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::Eventsource as _;
use futures_util::{SinkExt as _, StreamExt as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::stream::{Position, Recovery, Update};

/// How long one connection attempt (TCP and the upgrade) may take before it counts as
/// failed: a server that accepts the TCP connection and never answers must not hang the
/// client.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The close code a client reports for a connection that ended without a close frame.
/// RFC 6455 reserves 1006 for exactly this, and forbids sending it: it never travels on the
/// wire, it is what the browser's `CloseEvent.code` says when the TCP connection just died.
pub const ABNORMAL: u16 = 1006;

// ANCHOR: backoff
/// Exponential backoff with full jitter: the n-th retry in a row (n from 0) waits a random
/// time in `[0, min(cap, base·2ⁿ)]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry's delay.
    pub base: Duration,
    /// The ceiling no delay exceeds, however many failures: a client must come back within
    /// a bounded time once the server is back.
    pub cap: Duration,
}

impl Backoff {
    /// 500 ms doubling up to 30 s: the first retry comes fast (most drops are brief), and a
    /// long outage costs the server about one attempt per client every 15 s on average.
    pub const DEFAULT: Self = Self {
        base: Duration::from_millis(500),
        cap: Duration::from_secs(30),
    };

    /// The most the `attempt`-th retry (from 0) may wait: `min(cap, base·2^attempt)`,
    /// computed without overflow however large `attempt` is.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The delay of the `attempt`-th retry for a uniform random `unit` in `[0, 1)`: full
    /// jitter, `ceiling · unit`. Pure, so tests choose `unit`; [`Backoff::delay`] draws it.
    pub fn delay_for(&self, attempt: u32, unit: f64) -> Duration {
        self.ceiling(attempt).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The delay of the `attempt`-th retry, with a fresh random draw.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_for(attempt, rand::random::<f64>())
    }
}
// ANCHOR_END: backoff

/// Whether a [`Subscriber`] draws its delays at random. Full jitter is the policy; `None`
/// exists only to measure what the jitter prevents: the same exponential schedule with no
/// randomness, so every client that lost the server at the same moment comes back at the
/// same moment (the reconnect storm of `benches/src/bin/reconnect-storm.rs`). A real client
/// never wants it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Jitter {
    /// A uniform random delay in `[0, ceiling]`: [`Backoff::delay`].
    #[default]
    Full,
    /// Exactly the ceiling, `min(cap, base·2ⁿ)`, every time: [`Backoff::ceiling`].
    None,
}

impl Backoff {
    /// The delay of the `attempt`-th retry with `jitter`: a random draw, or the ceiling.
    pub fn delay_with(&self, attempt: u32, jitter: Jitter) -> Duration {
        match jitter {
            Jitter::Full => self.delay(attempt),
            Jitter::None => self.ceiling(attempt),
        }
    }
}

// ANCHOR: classify
/// What to do after a connection ended: come back, or give up, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", content = "reason", rename_all = "snake_case")]
pub enum Decision {
    /// A passing condition: reconnect after a backoff delay.
    Retry(&'static str),
    /// A condition that would happen again: reconnecting would only load the server.
    Stop(&'static str),
}

impl Decision {
    /// Whether the client reconnects.
    pub fn retries(&self) -> bool {
        matches!(self, Self::Retry(_))
    }

    /// The reason, in words.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Retry(reason) | Self::Stop(reason) => reason,
        }
    }
}

/// The decision a close code calls for (`None`: a close frame without a code, 1005).
pub fn classify(code: Option<u16>) -> Decision {
    use Decision::{Retry, Stop};
    match code {
        Some(1000) => Stop("1000 normal closure: the server ended the session on purpose"),
        Some(1001) => Retry("1001 going away: the server is restarting or being deployed"),
        Some(ABNORMAL) => Retry("1006 abnormal closure: the connection died without a close frame"),
        Some(1002 | 1003 | 1007) => {
            Stop("protocol or data error: the same bytes would fail again (a bug to fix)")
        }
        Some(1008) => Stop("1008 policy violation: coming back would break the policy again"),
        Some(1009) => Stop("1009 message too big: resending it would fail again"),
        Some(1011) => Retry("1011 internal error: the server failed, maybe only this once"),
        Some(1012) => Retry("1012 service restart: come back in a moment"),
        Some(1013) => Retry("1013 try again later: the server is overloaded, back off"),
        Some(1014) => Retry("1014 bad gateway: the proxy's upstream failed"),
        None => Retry("closed without a code: nothing says it was on purpose"),
        Some(_) => Stop("a close code this client does not know: do not guess"),
    }
}

/// The decision an HTTP answer to the upgrade calls for: the server refused before any
/// WebSocket existed. Overload and gateway errors pass; a 4xx is the client's mistake
/// (a bad `since`, a forbidden origin) and would be refused again.
pub fn classify_refusal(status: u16) -> Decision {
    match status {
        503 => Decision::Retry("503: too many connections; wait at least its Retry-After"),
        429 => Decision::Retry("429: too many requests; wait at least its Retry-After"),
        502 | 504 => Decision::Retry("502/504: the proxy could not reach the server"),
        426 => Decision::Stop(
            "426: the upgrade did not reach the server (a proxy in between does not pass it); only a fallback transport gets through",
        ),
        500..=599 => Decision::Retry("a server error: maybe only this once"),
        _ => Decision::Stop("refused at the handshake: the same request would be refused again"),
    }
}
// ANCHOR_END: classify

// ANCHOR: blocked
/// Whether an HTTP answer to the upgrade means the upgrade never reached a WebSocket
/// server, so that retrying the WebSocket is pointless but a plain HTTP transport may work:
/// `426 Upgrade Required` (the server saw a plain GET: a proxy dropped `Upgrade`), a `2xx`
/// (something answered the GET as a page), `405` or `501` (a proxy that refuses what it
/// does not know).
pub fn upgrade_blocked(status: u16) -> bool {
    matches!(status, 200..=299 | 405 | 426 | 501)
}
// ANCHOR_END: blocked

/// How the subscriber receives the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// `ws://…/ws`, the first choice.
    WebSocket,
    /// `http://…/sse`, once the WebSocket upgrade could not get through.
    ServerSentEvents,
}

/// The fallback endpoint of a lab's WebSocket URL: `ws://host/ws` → `http://host/sse`
/// (`wss` → `https`); `None` for a URL that is not of that form.
pub fn fallback_url(ws_url: &str) -> Option<String> {
    let rest = ws_url
        .strip_prefix("ws://")
        .map(|rest| ("http://", rest))
        .or_else(|| ws_url.strip_prefix("wss://").map(|rest| ("https://", rest)));
    let (scheme, rest) = rest?;
    let path = rest.split(['?', '#']).next()?;
    let base = path.strip_suffix("/ws")?;
    Some(format!("{scheme}{base}/sse"))
}

/// A subscriber's settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// The lab's WebSocket endpoint, `ws://127.0.0.1:3006/ws`.
    pub url: String,
    /// The delays between attempts.
    pub backoff: Backoff,
    /// Whether those delays are drawn at random ([`Jitter::Full`], the default). A field of
    /// its own rather than of [`Backoff`], so the policy stays the two numbers chapter 10
    /// shows; only a measurement of the storm sets it to [`Jitter::None`].
    pub jitter: Jitter,
    /// Retries in a row before giving up (a successful subscription starts the count again).
    pub max_attempts: u32,
    /// The client's heartbeat: ping every `.0`, give up after `.1` of silence; `None`: off.
    pub heartbeat: Option<(Duration, Duration)>,
    /// Where to start: a position seen before (recover from it), or `None` (start now).
    pub since: Option<Position>,
    /// The fallback's URL (`http://…/sse`), used once the upgrade is blocked
    /// ([`upgrade_blocked`]); `None`: no fallback, a blocked upgrade stops the client.
    pub fallback: Option<String>,
}

impl Options {
    /// Defaults for `url`: [`Backoff::DEFAULT`] with full jitter, 10 attempts, ping every 5 s, dead after 15 s,
    /// and the fallback next to the WebSocket ([`fallback_url`]).
    pub fn new(url: impl Into<String>) -> Self {
        let url = url.into();
        Self {
            fallback: fallback_url(&url),
            url,
            backoff: Backoff::DEFAULT,
            jitter: Jitter::Full,
            max_attempts: 10,
            heartbeat: Some((Duration::from_secs(5), Duration::from_secs(15))),
            since: None,
        }
    }
}

// ANCHOR: event
/// What a [`Subscriber`] yields.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A (re)subscription was answered: `recovered` says whether nothing was lost.
    Subscribed(Recovery),
    /// An update, exactly once and in order within its epoch; `recovered` marks one that
    /// was missed while away and came from the server's history.
    Update {
        /// The update.
        update: Update,
        /// Whether it came from the history after a reconnection.
        recovered: bool,
    },
    /// The connection ended (or could not be opened), and what the client does about it.
    Closed {
        /// The close code, [`ABNORMAL`] for a lost connection, `None` for a refused upgrade
        /// or a close frame without a code.
        code: Option<u16>,
        /// What happened.
        reason: String,
        /// Retry or stop, with its reason.
        decision: Decision,
    },
    /// The WebSocket upgrade did not get through: the subscriber goes on over the fallback.
    Fallback {
        /// What the upgrade was answered.
        status: u16,
        /// The fallback's URL.
        url: String,
    },
    /// The next attempt, after `delay`.
    Reconnecting {
        /// Retries in a row so far, from 1.
        attempt: u32,
        /// How long the client waits first.
        delay: Duration,
    },
    /// The client stopped: after a [`Decision::Stop`], or after too many attempts.
    GaveUp {
        /// Why.
        reason: String,
    },
}
// ANCHOR_END: event

/// A client connection as tokio-tungstenite opens it.
type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The events of a fallback response, as `eventsource-stream` parses them.
pub type Sse = Pin<
    Box<
        dyn futures_util::Stream<
                Item = Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

/// The body of a response as a stream of chunks, as they arrive. (reqwest's own
/// `bytes_stream` needs its `stream` feature, which brings crates for WebAssembly too.)
fn body(
    response: reqwest::Response,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, reqwest::Error>> + Send {
    futures_util::stream::unfold(Some(response), |response| async move {
        let mut response = response?;
        match response.chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(response))),
            Ok(None) => None,
            // The error is the stream's last item.
            Err(err) => Some((Err(err), None)),
        }
    })
}

/// The events of a fallback response (`text/event-stream`), parsed as they arrive.
pub fn sse_events(response: reqwest::Response) -> Sse {
    Box::pin(body(response).eventsource())
}

/// An open connection, over one transport or the other.
enum Link {
    /// A WebSocket.
    Ws(Box<Ws>),
    /// A Server-Sent Events response.
    Sse(Sse),
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ws(_) => "Link::Ws",
            Self::Sse(_) => "Link::Sse",
        })
    }
}

/// The `data` of the fallback's `goodbye` event: the close code the WebSocket would carry.
#[derive(Debug, Deserialize)]
struct Goodbye {
    /// The code.
    code: u16,
    /// Why.
    #[serde(default)]
    reason: String,
}

// ANCHOR: subscriber
/// A subscription to the lab's stream that reconnects and recovers by itself. Call
/// [`Subscriber::next`] in a loop; it returns `None` once the client has given up.
#[derive(Debug)]
pub struct Subscriber {
    /// The settings.
    options: Options,
    /// The open connection, if any.
    link: Option<Link>,
    /// The transport of the next connection: the WebSocket until it is blocked.
    transport: Transport,
    /// The HTTP client of the fallback.
    http: reqwest::Client,
    /// Events decided but not yet yielded, oldest first.
    pending: VecDeque<Event>,
    /// The position of the last update seen: what `since` says on the next connection.
    position: Option<Position>,
    /// Failures in a row.
    attempt: u32,
    /// The wait before the next connection attempt.
    wait: Option<Duration>,
    /// Set once the client has given up.
    stopped: bool,
    /// When the server was last heard from (any frame), for the heartbeat.
    last_heard: Instant,
}
// ANCHOR_END: subscriber

impl Subscriber {
    /// A subscriber that will connect on the first call to [`Subscriber::next`].
    pub fn new(options: Options) -> Self {
        Self {
            position: options.since.clone(),
            transport: Transport::WebSocket,
            http: reqwest::Client::new(),
            options,
            link: None,
            pending: VecDeque::new(),
            attempt: 0,
            wait: None,
            stopped: false,
            last_heard: Instant::now(),
        }
    }

    /// The position of the last update seen.
    pub fn position(&self) -> Option<&Position> {
        self.position.as_ref()
    }

    /// Whether a connection is open now.
    pub fn is_connected(&self) -> bool {
        self.link.is_some()
    }

    /// The transport in use, or of the next attempt.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Drops the connection without a close frame, as a network failure would: the TCP
    /// connection ends and nobody says why. For tests and demonstrations
    /// (`resilience-client --cut-every`); the next call to `next` handles it like any loss.
    pub fn cut(&mut self) {
        if self.link.take().is_some() {
            self.lost(
                Some(ABNORMAL),
                "connection cut on purpose (a simulated network failure)".into(),
                classify(Some(ABNORMAL)),
                None,
            );
        }
    }

    /// The URL of the next attempt on `base`: with `since` when there is a position to
    /// recover from.
    fn url(&self, base: &str) -> String {
        match &self.position {
            Some(position) => {
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}since={position}")
            }
            None => base.to_owned(),
        }
    }

    // ANCHOR: lost
    /// The connection is gone (or was never opened): record why, and either schedule the
    /// next attempt after a jittered delay (at least `at_least`, a server's `Retry-After`)
    /// or give up.
    fn lost(
        &mut self,
        code: Option<u16>,
        reason: String,
        decision: Decision,
        at_least: Option<Duration>,
    ) {
        self.link = None;
        self.pending.push_back(Event::Closed {
            code,
            reason,
            decision,
        });
        if !decision.retries() {
            self.stop(decision.reason().to_owned());
            return;
        }
        if self.attempt >= self.options.max_attempts {
            let reason = format!("{} attempts in a row failed", self.attempt);
            self.stop(reason);
            return;
        }
        let delay = self
            .options
            .backoff
            .delay_with(self.attempt, self.options.jitter)
            .max(at_least.unwrap_or_default());
        self.attempt += 1;
        self.wait = Some(delay);
        self.pending.push_back(Event::Reconnecting {
            attempt: self.attempt,
            delay,
        });
    }
    // ANCHOR_END: lost

    fn stop(&mut self, reason: String) {
        self.stopped = true;
        self.pending.push_back(Event::GaveUp { reason });
    }

    /// Opens a connection (after the scheduled wait) over the current transport, or records
    /// why it could not.
    async fn connect(&mut self) {
        if let Some(wait) = self.wait.take() {
            tokio::time::sleep(wait).await;
        }
        match self.transport {
            Transport::WebSocket => self.connect_ws().await,
            Transport::ServerSentEvents => self.connect_sse().await,
        }
    }

    /// Opens the WebSocket.
    async fn connect_ws(&mut self) {
        let url = self.url(&self.options.url);
        let attempt = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async_with_config(url.as_str(), None, true),
        )
        .await;
        match attempt {
            Ok(Ok((ws, _response))) => {
                self.link = Some(Link::Ws(Box::new(ws)));
                self.last_heard = Instant::now();
            }
            Ok(Err(tungstenite::Error::Http(response))) => {
                let status = response.status().as_u16();
                // ANCHOR: switch
                if let (true, Some(url)) = (upgrade_blocked(status), &self.options.fallback) {
                    // Not a failure of the server: a path that cannot carry a WebSocket.
                    // Retrying it would fail the same way; the fallback may not.
                    self.transport = Transport::ServerSentEvents;
                    self.pending.push_back(Event::Fallback {
                        status,
                        url: url.clone(),
                    });
                    return;
                }
                // ANCHOR_END: switch
                let body = response
                    .body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default()
                    .into_owned();
                self.refused(status, response.headers(), &body);
            }
            Ok(Err(err)) => self.unreachable(format!("cannot connect: {err}")),
            Err(_) => self.unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")),
        }
    }

    /// The server answered the connection attempt with an HTTP refusal: classify it, and
    /// wait at least its `Retry-After` before the next attempt.
    fn refused(&mut self, status: u16, headers: &axum::http::HeaderMap, body: &str) {
        let retry_after = headers
            .get(axum::http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_secs);
        self.lost(
            None,
            format!("HTTP {status} {body}"),
            classify_refusal(status),
            retry_after,
        );
    }

    /// The connection attempt got no HTTP answer at all.
    fn unreachable(&mut self, reason: String) {
        self.lost(
            None,
            reason,
            Decision::Retry("the server is unreachable: maybe it is restarting"),
            None,
        );
    }

    /// Opens the fallback's event stream.
    async fn connect_sse(&mut self) {
        let Some(base) = self.options.fallback.clone() else {
            return self.stop("no fallback transport configured".into());
        };
        let url = self.url(&base);
        let request = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send();
        match tokio::time::timeout(CONNECT_TIMEOUT, request).await {
            Ok(Ok(response)) if response.status().is_success() => {
                self.link = Some(Link::Sse(sse_events(response)));
                self.last_heard = Instant::now();
            }
            Ok(Ok(response)) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = response.text().await.unwrap_or_default();
                self.refused(status, &headers, &body);
            }
            Ok(Err(err)) => self.unreachable(format!("cannot connect: {err}")),
            Err(_) => self.unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")),
        }
    }

    // ANCHOR: next
    /// The next event: an update, a (re)subscription, a loss, a reconnection. Waits for as
    /// long as it takes (backoff delays included); `None` once the client has given up.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.stopped {
                return None;
            }
            let heartbeat = self.options.heartbeat;
            let ws = match self.link.as_mut() {
                None => {
                    self.connect().await;
                    continue;
                }
                Some(Link::Sse(events)) => {
                    // The fallback cannot ping: the server's `heartbeat` events are the
                    // sign of life, and silence past the timeout is a dead connection.
                    let silence = heartbeat.map_or(Duration::MAX, |(_, timeout)| timeout);
                    match tokio::time::timeout(silence, events.next()).await {
                        Ok(event) => self.received_sse(event),
                        Err(_) => {
                            let reason =
                                format!("the server was silent for {silence:?}: presumed dead");
                            self.lost(Some(ABNORMAL), reason, classify(Some(ABNORMAL)), None);
                        }
                    }
                    continue;
                }
                Some(Link::Ws(ws)) => ws,
            };
            let ping_due = async {
                match heartbeat {
                    Some((interval, _)) => tokio::time::sleep(interval).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                message = ws.next() => self.received(message),
                () = ping_due => {
                    let Some((_, timeout)) = heartbeat else { continue };
                    if self.last_heard.elapsed() >= timeout {
                        self.link = None;
                        let reason = format!("the server was silent for {timeout:?}: presumed dead");
                        self.lost(Some(ABNORMAL), reason, classify(Some(ABNORMAL)), None);
                    } else if tokio::time::timeout(timeout, ws.send(Message::Ping(Default::default())))
                        .await
                        .map_or(true, |sent| sent.is_err())
                    {
                        self.lost(Some(ABNORMAL), "the ping could not be sent".into(), classify(Some(ABNORMAL)), None);
                    }
                }
            }
        }
    }
    // ANCHOR_END: next

    // ANCHOR: received
    /// Handles one read from the connection.
    fn received(&mut self, message: Option<Result<Message, tungstenite::Error>>) {
        self.last_heard = Instant::now();
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                let code = frame.as_ref().map(|f| u16::from(f.code));
                let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                return self.lost(code, reason, classify(code), None);
            }
            // Pings are answered by tungstenite; any frame is a sign of life.
            Some(Ok(_)) => return,
            Some(Err(err)) => {
                let reason = format!("connection lost: {err}");
                return self.lost(Some(ABNORMAL), reason, classify(Some(ABNORMAL)), None);
            }
            None => {
                let reason = "TCP closed without a close frame".to_owned();
                return self.lost(Some(ABNORMAL), reason, classify(Some(ABNORMAL)), None);
            }
        };
        let Ok(envelope) = serde_json::from_str::<Envelope>(text.as_str()) else {
            tracing::warn!("a message that is not the lab's envelope");
            return;
        };
        self.event(&envelope.event, envelope.data);
    }

    /// Handles one read from the fallback's event stream.
    fn received_sse(
        &mut self,
        event: Option<
            Result<eventsource_stream::Event, eventsource_stream::EventStreamError<reqwest::Error>>,
        >,
    ) {
        self.last_heard = Instant::now();
        let event = match event {
            Some(Ok(event)) => event,
            Some(Err(err)) => {
                let reason = format!("connection lost: {err}");
                return self.lost(Some(ABNORMAL), reason, classify(Some(ABNORMAL)), None);
            }
            None => {
                let reason = "the event stream ended without a goodbye".to_owned();
                return self.lost(Some(ABNORMAL), reason, classify(Some(ABNORMAL)), None);
            }
        };
        let data = serde_json::from_str::<Value>(&event.data).unwrap_or(Value::Null);
        if event.event == "goodbye" {
            // What a close frame says on a WebSocket, the last event says here.
            let (code, reason) = serde_json::from_value::<Goodbye>(data)
                .map_or((None, String::new()), |g| (Some(g.code), g.reason));
            return self.lost(code, reason, classify(code), None);
        }
        self.event(&event.event, data);
    }

    /// Handles one event of the stream, whichever transport carried it.
    fn event(&mut self, name: &str, data: Value) {
        match name {
            "subscribed" => match serde_json::from_value::<Recovery>(data) {
                Ok(recovery) => self.subscribed(recovery),
                Err(err) => tracing::warn!(%err, "a malformed subscribed event"),
            },
            "update" => match serde_json::from_value::<Update>(data) {
                Ok(update) => self.update(update, false),
                Err(err) => tracing::warn!(%err, "a malformed update"),
            },
            // A heartbeat (only a sign of life), and acks and exceptions of requests this
            // client does not send.
            _ => {}
        }
    }

    /// A (re)subscription: the missed updates first, then the position is the server's.
    fn subscribed(&mut self, recovery: Recovery) {
        self.attempt = 0;
        let missed = recovery.missed.clone();
        let now = Position {
            epoch: recovery.epoch.clone(),
            offset: recovery.offset,
        };
        self.pending.push_back(Event::Subscribed(recovery));
        for update in missed {
            self.update(update, true);
        }
        // Recovered or not, the live stream goes on after the server's latest offset.
        self.position = Some(now);
    }

    /// An update, unless it was already seen (a duplicate is dropped, never yielded twice),
    /// or unless it skips offsets: then updates were lost on the way (a connection that went
    /// silent, a server that dropped them), and the subscriber reconnects from its last
    /// position to recover them rather than carry on with a hole.
    fn update(&mut self, update: Update, recovered: bool) {
        let last = self
            .position
            .as_ref()
            .filter(|p| p.epoch == update.epoch)
            .map(|p| p.offset);
        if last.is_some_and(|last| update.offset <= last) {
            return;
        }
        if let Some(last) = last.filter(|last| update.offset > last + 1) {
            let reason = format!(
                "a gap: updates {} to {} never arrived",
                last + 1,
                update.offset - 1
            );
            return self.lost(
                None,
                reason,
                Decision::Retry("updates were lost on the way: reconnect and recover them"),
                None,
            );
        }
        self.position = Some(update.position());
        self.pending.push_back(Event::Update { update, recovered });
    }
    // ANCHOR_END: received
}

/// The gateway's envelope, as much of it as a subscriber reads.
#[derive(Debug, Deserialize)]
struct Envelope {
    /// The event's name.
    event: String,
    /// Its payload.
    #[serde(default)]
    data: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Backoff = Backoff {
        base: Duration::from_millis(100),
        cap: Duration::from_secs(1),
    };

    /// Without jitter every retry waits exactly its ceiling, doubling up to the cap; with
    /// full jitter it stays within it; full jitter is what a subscriber gets by default.
    #[test]
    fn no_jitter_waits_the_ceiling_itself() {
        let exact: Vec<u128> = (0..6)
            .map(|n| POLICY.delay_with(n, Jitter::None).as_millis())
            .collect();
        assert_eq!(exact, [100, 200, 400, 800, 1000, 1000]);
        for n in 0..6 {
            assert!(POLICY.delay_with(n, Jitter::Full) <= POLICY.ceiling(n));
        }
        assert_eq!(Options::new("ws://x/ws").jitter, Jitter::Full);
        assert_eq!(Jitter::default(), Jitter::Full);
    }
}
