//! Serving a lab's browser page.
//!
//! Each lab has one HTML file with its script inline, compiled into the binary with
//! `include_str!`: nothing to build, nothing fetched from a CDN, so the page works offline
//! and `cargo run` is all a learner needs.
//!
//! One convention every lab page follows, so the course's browser tests can check any
//! embedded widget the same way: an element with `id="state"` shows the page's WebSocket
//! `readyState` by name (`CONNECTING`, `OPEN`, `CLOSING`, `CLOSED`).

use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::{MethodRouter, get};

/// A `GET` route answering with `html`.
///
/// The page is sent with `Cache-Control: no-cache`, so a learner who edits a lab and
/// restarts it sees the new page on the next reload.
pub fn static_page<S>(html: &'static str) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    get(move || async move { ([(header::CACHE_CONTROL, "no-cache")], Html(html)).into_response() })
}

/// A `GET` route answering with a static asset of the given content type (a script, a
/// stylesheet, an image) embedded in the binary.
pub fn static_asset<S>(content_type: &'static str, bytes: &'static [u8]) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    get(move || async move {
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response()
    })
}
