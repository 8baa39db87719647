//! The path of one message through the gateway, as tower services: a handler is a
//! `Service<Call>`, the validation pipe and the guards are wrappers around it, and
//! interceptors are ordinary tower `Layer`s (see `interceptors.rs`).
//!
//! Why tower: it already is "a function from a request to a future of a response, and
//! wrappers around such functions". NestJS's guards, pipes and interceptors are that same
//! idea with decorators; tower lets us write them as plain values, compose them in one
//! expression, and reuse any middleware written for it (timeouts, concurrency limits...).
//! Chapter 6 ("The gateway") walks through this file.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tower::ServiceExt as _;
use tower::util::BoxCloneSyncService;

use crate::exception::WsException;
use crate::server::{Server, Socket};

// ANCHOR: ctx
/// What a handler knows about the message it handles, besides its payload.
#[derive(Debug)]
pub struct Ctx<S, C> {
    /// The event name it was routed by.
    pub event: Arc<str>,
    /// The request id, if the client wants an answer.
    pub id: Option<u64>,
    /// The connection it came from (`@ConnectedSocket()`).
    pub socket: Socket<C>,
    /// The application's shared state, given to the gateway at build time.
    pub state: S,
}

impl<S, C> Ctx<S, C> {
    /// The whole server (`@WebSocketServer()`).
    pub fn server(&self) -> &Server {
        self.socket.server()
    }
}

/// One message on its way to a handler: the context, and the payload still as JSON.
#[derive(Debug)]
pub struct Call<S, C> {
    /// Who sent it, and under which event name.
    pub ctx: Ctx<S, C>,
    /// The `data` of the envelope, not yet validated.
    pub data: Value,
}

/// A handler, wrapped or not: a cloneable, shareable tower service from a [`Call`] to the
/// `data` of the `ack`, or an exception.
pub type HandlerService<S, C> = BoxCloneSyncService<Call<S, C>, Value, WsException>;
// ANCHOR_END: ctx

// ANCHOR: pipe
/// Turns an async function of a typed payload into a [`HandlerService`]: the payload is
/// deserialised first (the validation pipe: a missing field or a wrong type becomes
/// [`WsException::Validation`] naming it), and the result is serialised for the `ack`.
pub fn handler_service<S, C, T, R, F, Fut>(handler: F) -> HandlerService<S, C>
where
    S: Send + 'static,
    C: Send + 'static,
    T: DeserializeOwned + Send + 'static,
    R: Serialize + 'static,
    F: Fn(Ctx<S, C>, T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<R, WsException>> + Send + 'static,
{
    BoxCloneSyncService::new(tower::service_fn(move |call: Call<S, C>| {
        let handler = handler.clone();
        async move {
            let payload: T = serde_json::from_value(call.data)
                .map_err(|err| WsException::Validation(err.to_string()))?;
            let result = handler(call.ctx, payload).await?;
            serde_json::to_value(result).map_err(WsException::internal)
        }
    }))
}
// ANCHOR_END: pipe

// ANCHOR: guard
/// A guard: looks at a message before its handler runs and may refuse it with a reason,
/// which the client receives as a `forbidden` exception. Any
/// `Fn(&Ctx<S, C>, &Value) -> Result<(), String>` is a guard.
pub type Guard<S, C> = Arc<dyn Fn(&Ctx<S, C>, &Value) -> Result<(), String> + Send + Sync>;

/// Wraps `inner` so that `guards` run first, in order; the first refusal stops the message.
pub fn guarded<S, C>(inner: HandlerService<S, C>, guards: Vec<Guard<S, C>>) -> HandlerService<S, C>
where
    S: Send + 'static,
    C: Send + 'static,
{
    if guards.is_empty() {
        return inner;
    }
    let guards: Arc<[Guard<S, C>]> = guards.into();
    BoxCloneSyncService::new(tower::service_fn(move |call: Call<S, C>| {
        let (inner, guards) = (inner.clone(), Arc::clone(&guards));
        async move {
            for guard in guards.iter() {
                guard(&call.ctx, &call.data).map_err(WsException::Forbidden)?;
            }
            inner.oneshot(call).await
        }
    }))
}
// ANCHOR_END: guard
