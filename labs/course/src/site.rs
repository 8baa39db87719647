//! The launcher's web site: the built book, the labs, and a page listing the labs.
//!
//! ```text
//! /labs/            the labs page (what each lab is, how to run it alone)
//! /labs/<topic>/    a lab's own router: its page at /, its WebSocket at /ws
//! everything else   the built book (mdBook's HTML, search index, theme, diagrams)
//! ```
//!
//! Book and labs share one origin (`http://127.0.0.1:3000`), which is what lets a chapter
//! embed a lab's page in an `<iframe>` and the page open its WebSocket without any
//! cross-origin configuration.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use kit::OriginAllowlist;
use tower::ServiceExt as _;
use tower_http::services::ServeDir;

use crate::labs::Lab;

/// The whole site: `labs` mounted under `/labs/<topic>/`, the labs page, and the book in
/// `html_dir`. `course_port` is the port the launcher listens on, whose origin every lab
/// must accept. Every lab's WebSocket connections close with 1001 when `shutdown` starts.
pub fn app(html_dir: &Path, course_port: u16, labs: &[Lab], shutdown: &kit::Shutdown) -> Router {
    let mut site = Router::new()
        .route("/labs", get(|| async { Redirect::permanent("/labs/") }))
        .route("/labs/", get(labs_page(render_labs_page(labs))));

    for lab in labs {
        let allowlist = OriginAllowlist::for_lab(lab.port).allow_local_port(course_port);
        let base = format!("/labs/{}", lab.topic);
        // A lab's page opens its socket at the relative URL `ws`, so it must be served at a
        // path ending in `/` (`/labs/handshake/` + `ws`). axum's `nest` serves the lab's `/`
        // at the bare `/labs/handshake` instead, so we mount it by hand: strip the prefix,
        // hand the request (upgrade included) to the lab, and redirect the bare path.
        let prefix_len = base.len();
        let lab_service =
            (lab.router)(allowlist, shutdown).map_request(move |mut request: Request| {
                let rest = request
                    .uri()
                    .path_and_query()
                    .map_or("/", |pq| &pq.as_str()[prefix_len..])
                    .to_owned();
                // `rest` starts with '/' (the routes below guarantee it), so it is a valid URI.
                if let Ok(uri) = rest.parse() {
                    *request.uri_mut() = uri;
                }
                request
            });
        let slash = format!("{base}/");
        site = site
            .route_service(&slash, lab_service.clone())
            .route_service(&format!("{base}/{{*rest}}"), lab_service)
            .route(
                &base,
                get(move || async move { Redirect::permanent(&slash) }),
            );
    }

    let not_found = NotFound(html_dir.join("404.html"));
    site.fallback_service(
        ServeDir::new(html_dir)
            .append_index_html_on_directories(true)
            .not_found_service(get(move || not_found.clone().respond())),
    )
}

/// mdBook's own 404 page, sent with the 404 status (serving the file as is would say 200).
#[derive(Clone, Debug)]
struct NotFound(PathBuf);

impl NotFound {
    async fn respond(self) -> Response {
        match tokio::fs::read_to_string(&self.0).await {
            Ok(page) => (StatusCode::NOT_FOUND, Html(page)).into_response(),
            Err(_) => (StatusCode::NOT_FOUND, "not found").into_response(),
        }
    }
}

/// The handler of the `/labs/` page, rendered once at start-up.
fn labs_page(page: String) -> impl Fn() -> std::future::Ready<Response> + Clone {
    move || {
        std::future::ready(
            ([(header::CACHE_CONTROL, "no-cache")], Html(page.clone())).into_response(),
        )
    }
}

/// The labs page as HTML: one card per lab, with how to run it inside the course and alone.
pub fn render_labs_page(labs: &[Lab]) -> String {
    let mut cards = String::new();
    for lab in labs {
        let _ = write!(
            cards,
            r#"<section class="lab">
  <h2><a href="/labs/{topic}/">{title}</a></h2>
  <p>{summary}</p>
  <p>Open it here: <a href="/labs/{topic}/">/labs/{topic}/</a> &middot; read about it: <a href="/{chapter}.html">the chapter</a></p>
  <p>Run it alone, on port {port}:</p>
  <pre><code>cargo run -p {package}
# then open http://127.0.0.1:{port}/</code></pre>
</section>
"#,
            topic = escape(lab.topic),
            title = escape(lab.title),
            summary = escape(lab.summary),
            chapter = escape(lab.chapter),
            port = lab.port,
            package = escape(lab.package),
        );
    }
    if labs.is_empty() {
        cards.push_str(
            "<p>No lab is mounted yet. Each lab joins this page when its crate lands in \
             <code>labs/</code>, together with the chapter that walks through it.</p>\n",
        );
    }
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Labs: WebSockets, by running them</title>
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }}
  .lab {{ border: 1px solid #ccc; border-radius: 6px; padding: 0 1rem; margin: 1rem 0; }}
  pre {{ background: #f4f4f4; padding: 0.6rem; overflow-x: auto; }}
</style>
</head>
<body>
<p><a href="/">&larr; back to the book</a></p>
<h1>Labs</h1>
<p>Every lab runs inside the course, on this same origin, and also on its own with
<code>cargo run -p &lt;lab&gt;</code> on its fixed port. Each has a browser page, a WebSocket
endpoint at <code>/ws</code>, and a command-line client.</p>
{cards}</body>
</html>
"#
    )
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
