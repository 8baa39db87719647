//! The exception: everything a message can get wrong, and the one place that turns it into
//! the `exception` event a client receives (NestJS's `WsException` and its exception filter).
//!
//! The payload has NestJS's shape, `{"status": "error", "message": "...", "cause": {...}}`.
//! Our `cause` says which event failed and which `kind` of failure it was, so a program can
//! react without parsing English. An [`WsException::Internal`] error is not the client's
//! fault and may hold details (a file path, an address, a query) that must not leak: the
//! client gets a generic "internal error", the log gets the details. Chapter 6 ("The
//! gateway") explains it.

use serde_json::{Value, json};

/// A boxed error from anywhere, for [`WsException::Internal`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

// ANCHOR: exception
/// Why a message got an `exception` instead of an `ack`. The connection stays open for all
/// of them: only protocol violations and limits close it (see `kit::close`).
#[derive(Debug, thiserror::Error)]
pub enum WsException {
    /// The frame was not a JSON envelope, or was a binary frame.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// No handler is registered under this event name.
    #[error("unknown event {0:?}")]
    UnknownEvent(String),
    /// The payload does not fit the handler's type, or breaks a rule the type cannot express
    /// (the validation pipe).
    #[error("invalid data: {0}")]
    Validation(String),
    /// A guard refused the message.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The handler refused the request for a reason the client should read ("room is
    /// full"): NestJS's `throw new WsException('room is full')`.
    #[error("{0}")]
    Refused(String),
    /// Something broke that is not the client's fault. Its details stay in the server log.
    #[error("internal error")]
    Internal(#[source] BoxError),
}
// ANCHOR_END: exception

impl WsException {
    /// An internal error wrapping `err` (logged, never sent).
    pub fn internal(err: impl Into<BoxError>) -> Self {
        Self::Internal(err.into())
    }

    /// A short machine-readable name of the failure, the `cause.kind` of the payload.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnknownEvent(_) => "unknown_event",
            Self::Validation(_) => "validation",
            Self::Forbidden(_) => "forbidden",
            Self::Refused(_) => "refused",
            Self::Internal(_) => "internal",
        }
    }

    // ANCHOR: payload
    /// The `data` of the `exception` event: NestJS's `status`, `message` and `cause`. For an
    /// internal error the message is the generic text of `Display`, never the source.
    pub fn payload(&self, event: Option<&str>) -> Value {
        json!({
            "status": "error",
            "message": self.to_string(),
            "cause": { "event": event, "kind": self.kind() },
        })
    }
    // ANCHOR_END: payload
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An internal error's details never reach the payload.
    #[test]
    fn internal_details_stay_private() {
        let err = WsException::internal("password=hunter2 rejected by 10.0.0.5");
        let payload = err.payload(Some("fail")).to_string();
        assert!(!payload.contains("hunter2"), "{payload}");
        assert!(
            payload.contains(r#""message":"internal error""#),
            "{payload}"
        );
        assert!(payload.contains(r#""kind":"internal""#), "{payload}");
    }
}
