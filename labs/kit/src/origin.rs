//! The Origin allowlist: the defence against cross-site WebSocket hijacking.
//!
//! A WebSocket is not covered by the browser's same-origin policy: any page the learner
//! visits, on any site, may run `new WebSocket("ws://127.0.0.1:3001/ws")`, and the browser
//! will connect, with the learner's cookies. What the browser does do is say who is asking:
//! it sends an `Origin` header with the page's origin, and a page cannot forge it. So the
//! server checks it *before* the upgrade and answers `403 Forbidden` to an origin it does
//! not know (RFC 6455, section 10.2).
//!
//! A request with no `Origin` at all comes from a program that is not a browser (the lab's
//! command-line client, a test, `websocat`): the attack needs a browser, and a browser always
//! sends the header, so such requests are allowed.
//!
//! The default list holds the lab's own origin and the course launcher's, under the names a
//! learner may type: `127.0.0.1`, `localhost` and `[::1]`. We deliberately do not accept
//! "whatever the Host header says": a DNS-rebinding page would pass that test.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::ports;

/// The origins whose pages may talk to a lab. Cheap to clone (the set is shared).
#[derive(Clone, Debug, Default)]
pub struct OriginAllowlist {
    /// Normalised origins, `scheme://host[:port]` in lower case.
    origins: Arc<BTreeSet<String>>,
}

/// An origin that cannot be put on the list.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not an origin: expected scheme://host[:port], like http://127.0.0.1:3000")]
pub struct BadOrigin(pub String);

/// Why a request was refused; the text is the body of the 403 response.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "Origin {origin} may not use this server (cross-site WebSocket hijacking protection). \
     Allowed origins: {allowed}"
)]
pub struct ForeignOrigin {
    /// The origin the browser reported.
    pub origin: String,
    /// The allowlist, for the learner who wonders why.
    pub allowed: String,
}

impl OriginAllowlist {
    /// A list that allows no browser origin at all (non-browser clients still pass).
    pub fn empty() -> Self {
        Self::default()
    }

    /// The default for a lab listening on `lab_port`: its own origin and the course's.
    pub fn for_lab(lab_port: u16) -> Self {
        Self::empty()
            .allow_local_port(lab_port)
            .allow_local_port(ports::COURSE)
    }

    /// Adds `http://127.0.0.1:<port>`, `http://localhost:<port>` and `http://[::1]:<port>`.
    pub fn allow_local_port(self, port: u16) -> Self {
        let mut origins = (*self.origins).clone();
        for host in ["127.0.0.1", "localhost", "[::1]"] {
            origins.insert(format!("http://{host}:{port}"));
        }
        Self {
            origins: Arc::new(origins),
        }
    }

    /// Adds one origin, such as `https://course.example.org`.
    pub fn allow(self, origin: &str) -> Result<Self, BadOrigin> {
        let normalised = normalise(origin).ok_or_else(|| BadOrigin(origin.to_owned()))?;
        let mut origins = (*self.origins).clone();
        origins.insert(normalised);
        Ok(Self {
            origins: Arc::new(origins),
        })
    }

    /// The allowed origins, sorted.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.origins.iter().map(String::as_str)
    }

    /// Decides on a request's headers: no `Origin` passes, a listed one passes, anything
    /// else (including the opaque origin `null` of sandboxed frames and `file://` pages) is
    /// refused.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ForeignOrigin> {
        let Some(value) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let reported = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match normalise(&reported) {
            Some(origin) if self.origins.contains(&origin) => Ok(()),
            _ => Err(ForeignOrigin {
                origin: reported,
                allowed: self.origins().collect::<Vec<_>>().join(", "),
            }),
        }
    }

    /// Wraps `router` so that every request from a foreign origin gets `403 Forbidden` before
    /// any handler runs, so before any WebSocket upgrade.
    pub fn protect<S>(self, router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        router.layer(middleware::from_fn_with_state(self, refuse_foreign_origin))
    }
}

/// The middleware behind [`OriginAllowlist::protect`].
async fn refuse_foreign_origin(
    State(allowlist): State<OriginAllowlist>,
    request: Request,
    next: Next,
) -> Response {
    match allowlist.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            tracing::warn!(origin = %refusal.origin, path = %request.uri().path(), "refused a foreign origin");
            (StatusCode::FORBIDDEN, refusal.to_string()).into_response()
        }
    }
}

/// `scheme://host[:port]` in lower case, with the default port of the scheme made explicit
/// so that `http://localhost` and `http://localhost:80` compare equal. `None` for anything
/// that is not an origin (a path, a query, a missing host, `null`).
fn normalise(origin: &str) -> Option<String> {
    let origin = origin.trim().to_ascii_lowercase();
    let (scheme, rest) = origin.split_once("://")?;
    let default_port = match scheme {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        _ => return None,
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    // An IPv6 host is bracketed, and its colons are not the port separator.
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !port.ends_with(']') => (host, port.parse::<u16>().ok()?),
        _ => (rest, default_port),
    };
    if host.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_origin(origin: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        headers
    }

    /// The lab's own origin and the course's pass under every local name, others do not.
    #[test]
    fn default_list_is_the_lab_and_the_course() {
        let list = OriginAllowlist::for_lab(3001);
        for ok in [
            "http://127.0.0.1:3001",
            "http://localhost:3001",
            "http://[::1]:3001",
            "http://127.0.0.1:3000",
            "HTTP://LOCALHOST:3000",
        ] {
            assert_eq!(list.check(&with_origin(ok)), Ok(()), "{ok}");
        }
        for refused in [
            "http://127.0.0.1:3002",
            "http://evil.example",
            "https://127.0.0.1:3001",
            "null",
            "file://",
            "http://127.0.0.1:3001.evil.example",
        ] {
            assert!(list.check(&with_origin(refused)).is_err(), "{refused}");
        }
    }

    /// A request without an Origin header is a non-browser client and passes.
    #[test]
    fn no_origin_passes() {
        assert_eq!(OriginAllowlist::empty().check(&HeaderMap::new()), Ok(()));
    }

    /// Default ports compare equal to explicit ones; junk is not an origin.
    #[test]
    fn normalisation() {
        assert_eq!(
            normalise("https://Example.org").as_deref(),
            Some("https://example.org:443")
        );
        assert_eq!(
            normalise("http://[::1]:3000").as_deref(),
            Some("http://[::1]:3000")
        );
        assert_eq!(
            normalise("http://[::1]").as_deref(),
            Some("http://[::1]:80")
        );
        for junk in [
            "",
            "null",
            "example.org",
            "http://",
            "http://a/b",
            "ftp://a",
            "http://a:99999",
        ] {
            assert_eq!(normalise(junk), None, "{junk}");
        }
        assert_eq!(
            OriginAllowlist::empty().allow("nonsense").unwrap_err(),
            BadOrigin("nonsense".into())
        );
    }
}
