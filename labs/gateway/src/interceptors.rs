//! Interceptors: code that runs around every handler, written as tower layers.
//!
//! NestJS's `intercept(context, next)` runs code before `next.handle()` and after its result.
//! A tower `Layer` wraps a `Service` in another `Service` whose `call` does the same: work
//! before calling the inner service, and work on its future's output. Two interceptors here:
//!
//! - [`LoggingLayer`]: one log line per message with the event, the connection, the request
//!   id, the outcome and the time the handler took. Never the payload: message bodies can
//!   hold anything a user typed.
//! - [`MetricsLayer`]: counts calls and failures per event in a shared [`Metrics`].
//!
//! Why not tower-http's `TraceLayer`? It wraps HTTP requests, and a WebSocket connection is
//! one HTTP request (the upgrade): it would log one line per connection and none of the
//! messages. These layers wrap the gateway's own services, one call per message. Chapter 6
//! ("The gateway") explains them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use tower::{Layer, Service};

use crate::exception::WsException;
use crate::pipeline::Call;

// ANCHOR: logging
/// Logs every message handled, with its timing.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoggingLayer;

impl<Svc> Layer<Svc> for LoggingLayer {
    type Service = Logging<Svc>;

    fn layer(&self, inner: Svc) -> Self::Service {
        Logging { inner }
    }
}

/// The service [`LoggingLayer`] builds around a handler.
#[derive(Clone, Debug)]
pub struct Logging<Svc> {
    inner: Svc,
}

impl<S, C, Svc> Service<Call<S, C>> for Logging<Svc>
where
    Svc: Service<Call<S, C>, Response = Value, Error = WsException>,
    Svc::Future: Send + 'static,
{
    type Response = Value;
    type Error = WsException;
    type Future = BoxFuture<'static, Result<Value, WsException>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: Call<S, C>) -> Self::Future {
        // Before: note what is being handled, and when it started.
        let (event, conn, id) = (call.ctx.event.clone(), call.ctx.socket.id(), call.ctx.id);
        let started = Instant::now();
        let handled = self.inner.call(call);
        Box::pin(async move {
            let result = handled.await;
            // After: one line with the outcome and the time, never the payload.
            let micros = started.elapsed().as_micros() as u64;
            match &result {
                Ok(_) => tracing::info!(%event, conn, ?id, micros, "ack"),
                Err(WsException::Internal(source)) => {
                    // The details go to the log only; the client gets "internal error".
                    tracing::error!(%event, conn, ?id, micros, error = %source, "internal error");
                }
                Err(err) => {
                    tracing::info!(%event, conn, ?id, micros, kind = err.kind(), %err, "exception")
                }
            }
            result
        })
    }
}
// ANCHOR_END: logging

// ANCHOR: metrics
/// Calls and failures per event name, shared by every connection.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    counts: Arc<Mutex<BTreeMap<String, EventCounts>>>,
}

/// The counters of one event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EventCounts {
    /// Messages handled.
    pub calls: u64,
    /// Of which ended in an exception.
    pub errors: u64,
}

impl Metrics {
    /// Counts one handled message.
    fn record(&self, event: &str, failed: bool) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = counts.entry(event.to_owned()).or_default();
        entry.calls += 1;
        entry.errors += u64::from(failed);
    }

    /// A copy of every counter, by event name.
    pub fn snapshot(&self) -> BTreeMap<String, EventCounts> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Counts every message handled into a [`Metrics`].
#[derive(Clone, Debug)]
pub struct MetricsLayer {
    metrics: Metrics,
}

impl MetricsLayer {
    /// A layer counting into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<Svc> Layer<Svc> for MetricsLayer {
    type Service = Counting<Svc>;

    fn layer(&self, inner: Svc) -> Self::Service {
        Counting {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`MetricsLayer`] builds around a handler.
#[derive(Clone, Debug)]
pub struct Counting<Svc> {
    inner: Svc,
    metrics: Metrics,
}

impl<S, C, Svc> Service<Call<S, C>> for Counting<Svc>
where
    Svc: Service<Call<S, C>, Response = Value, Error = WsException>,
    Svc::Future: Send + 'static,
{
    type Response = Value;
    type Error = WsException;
    type Future = BoxFuture<'static, Result<Value, WsException>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: Call<S, C>) -> Self::Future {
        let event = call.ctx.event.clone();
        let metrics = self.metrics.clone();
        let handled = self.inner.call(call);
        Box::pin(async move {
            let result = handled.await;
            metrics.record(&event, result.is_err());
            result
        })
    }
}
// ANCHOR_END: metrics
