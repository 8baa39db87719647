//! The launcher's web site: the built book, the labs, and a page listing the labs.
//!
//! ```text
//! /labs/            the labs page (what each lab is, how to run it alone)
//! /labs/<topic>/    a lab's own router: its page at /, its WebSocket at /ws
//! /vi/...           the Vietnamese edition ([`crate::i18n`]), with the same labs under
//!                   /vi/labs/<topic>/ (the same running lab, its page in Vietnamese)
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

use crate::i18n::{self, ENGLISH, Language};
use crate::labs::Lab;

/// The whole site: `labs` mounted under `/labs/<topic>/`, the labs page, and the book in
/// `html_dir`. `course_port` is the port the launcher listens on, whose origin every lab
/// must accept. Every lab's WebSocket connections close with 1001 when `shutdown` starts.
///
/// The translated editions are folders of `html_dir` ([`i18n::edition_dir`]); each gets the
/// labs page and every lab under its prefix too, so a chapter of `/vi/` that embeds
/// `labs/rooms/` reaches the same lab as the English one, with its page in Vietnamese.
pub fn app(html_dir: &Path, course_port: u16, labs: &[Lab], shutdown: &kit::Shutdown) -> Router {
    let mut site = Router::new();
    let editions = std::iter::once(ENGLISH).chain(i18n::TRANSLATIONS);
    let prefixes: Vec<(Language, String)> = editions
        .map(|language| (language, prefix(language)))
        .collect();
    for (language, root) in &prefixes {
        let labs_path = format!("{root}/labs/");
        site = site
            .route(
                &format!("{root}/labs"),
                get({
                    let labs_path = labs_path.clone();
                    move || async move { Redirect::permanent(&labs_path) }
                }),
            )
            .route(
                &labs_path,
                get(labs_page(render_labs_page_in(labs, *language))),
            );
    }

    for lab in labs {
        let allowlist = OriginAllowlist::for_lab(lab.port).allow_local_port(course_port);
        // One router per lab, mounted under every edition's prefix: its state (rooms, the
        // users logged in, the counters) is shared, whichever language a reader chose.
        let router = (lab.router)(allowlist, shutdown);
        for (_, root) in &prefixes {
            let base = format!("{root}/labs/{}", lab.topic);
            // A lab's page opens its socket at the relative URL `ws`, so it must be served at a
            // path ending in `/` (`/labs/handshake/` + `ws`). axum's `nest` serves the lab's `/`
            // at the bare `/labs/handshake` instead, so we mount it by hand: strip the prefix,
            // hand the request (upgrade included) to the lab, and redirect the bare path.
            let prefix_len = base.len();
            let lab_service = router.clone().map_request(move |mut request: Request| {
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
    }

    let not_found = NotFound(html_dir.to_path_buf());
    site.fallback_service(
        ServeDir::new(html_dir)
            .append_index_html_on_directories(true)
            .not_found_service(get(move |request: Request| {
                not_found.clone().respond(request.uri().path().to_owned())
            })),
    )
}

/// The path prefix of an edition: none for English, `/vi` for Vietnamese.
fn prefix(language: Language) -> String {
    if language == ENGLISH {
        String::new()
    } else {
        format!("/{}", language.code)
    }
}

/// mdBook's own 404 page, sent with the 404 status (serving the file as is would say 200):
/// the Vietnamese one for a path under `/vi/`.
#[derive(Clone, Debug)]
struct NotFound(PathBuf);

impl NotFound {
    async fn respond(self, path: String) -> Response {
        let edition = i18n::TRANSLATIONS
            .into_iter()
            .find(|language| path.starts_with(&format!("/{}/", language.code)));
        let page = match edition {
            Some(language) => i18n::edition_dir(&self.0, language).join("404.html"),
            None => self.0.join("404.html"),
        };
        match tokio::fs::read_to_string(&page).await {
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

/// The labs page as HTML, in English: one card per lab, with how to run it inside the course
/// and alone.
pub fn render_labs_page(labs: &[Lab]) -> String {
    render_labs_page_in(labs, ENGLISH)
}

/// The words of the labs page in one language.
struct LabsPageText {
    title: &'static str,
    heading: &'static str,
    back: &'static str,
    intro: &'static str,
    open_here: &'static str,
    read_about: &'static str,
    the_chapter: &'static str,
    run_alone: &'static str,
    then_open: &'static str,
    none_yet: &'static str,
}

const LABS_PAGE_EN: LabsPageText = LabsPageText {
    title: "Labs: WebSockets, by running them",
    heading: "Labs",
    back: "back to the book",
    intro: "Every lab runs inside the course, on this same origin, and also on its own with \
            <code>cargo run -p &lt;lab&gt;</code> on its fixed port. Each has a browser page, \
            a WebSocket endpoint at <code>/ws</code>, and a command-line client.",
    open_here: "Open it here",
    read_about: "read about it",
    the_chapter: "the chapter",
    run_alone: "Run it alone, on port",
    then_open: "then open",
    none_yet: "No lab is mounted yet. Each lab joins this page when its crate lands in \
               <code>labs/</code>, together with the chapter that walks through it.",
};

const LABS_PAGE_VI: LabsPageText = LabsPageText {
    title: "Các lab: WebSockets qua thực hành",
    heading: "Các lab",
    back: "quay lại sách",
    intro: "Mọi lab đều chạy ngay trong khoá học, trên cùng origin này, và cũng chạy riêng được \
            bằng <code>cargo run -p &lt;lab&gt;</code> trên port cố định của nó. Mỗi lab có một \
            trang cho trình duyệt, một WebSocket endpoint tại <code>/ws</code> và một client \
            dòng lệnh.",
    open_here: "Mở tại đây",
    read_about: "đọc giải thích",
    the_chapter: "chương tương ứng",
    run_alone: "Chạy riêng, trên port",
    then_open: "rồi mở",
    none_yet: "Chưa có lab nào được mount. Mỗi lab xuất hiện ở trang này khi crate của nó có \
               trong <code>labs/</code>, cùng với chương giải thích nó.",
};

/// The labs page as HTML in `language`: the links stay inside that language's edition.
pub fn render_labs_page_in(labs: &[Lab], language: Language) -> String {
    let vietnamese = language == i18n::VIETNAMESE;
    let text = if vietnamese {
        &LABS_PAGE_VI
    } else {
        &LABS_PAGE_EN
    };
    let root = prefix(language);
    let mut cards = String::new();
    for lab in labs {
        let (title, summary) = if vietnamese {
            (lab.vi.title, lab.vi.summary)
        } else {
            (lab.title, lab.summary)
        };
        let _ = write!(
            cards,
            r#"<section class="lab">
  <h2><a href="{root}/labs/{topic}/">{title}</a></h2>
  <p>{summary}</p>
  <p>{open_here}: <a href="{root}/labs/{topic}/">{root}/labs/{topic}/</a> &middot; {read_about}: <a href="{root}/{chapter}.html">{the_chapter}</a></p>
  <p>{run_alone} {port}:</p>
  <pre><code>cargo run -p {package}
# {then_open} http://127.0.0.1:{port}/</code></pre>
</section>
"#,
            topic = escape(lab.topic),
            title = escape(title),
            summary = escape(summary),
            chapter = escape(lab.chapter),
            port = lab.port,
            package = escape(lab.package),
            open_here = text.open_here,
            read_about = text.read_about,
            the_chapter = text.the_chapter,
            run_alone = text.run_alone,
            then_open = text.then_open,
        );
    }
    if labs.is_empty() {
        let _ = writeln!(cards, "<p>{}</p>", text.none_yet);
    }
    format!(
        r#"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }}
  .lab {{ border: 1px solid #ccc; border-radius: 6px; padding: 0 1rem; margin: 1rem 0; }}
  pre {{ background: #f4f4f4; padding: 0.6rem; overflow-x: auto; }}
</style>
</head>
<body>
<p><a href="{root}/">&larr; {back}</a></p>
<h1>{heading}</h1>
<p>{intro}</p>
{cards}</body>
</html>
"#,
        lang = language.code,
        title = text.title,
        back = text.back,
        heading = text.heading,
        intro = text.intro,
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
