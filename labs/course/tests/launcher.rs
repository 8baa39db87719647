//! The launcher serves the book, the labs page and the labs, and its command line behaves.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;

use common::built_book;
use kit::testing::{TestServer, within};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The course's labs, named here rather than taken from `labs::all()`: a lab missing from
/// the launcher fails the tests that visit them all, instead of being skipped by them.
const TOPICS: [&str; 7] = [
    "handshake",
    "gateway",
    "rooms",
    "private",
    "broadcast",
    "resilience",
    "scale",
];

/// Serves the built book with every registered lab, as `cargo run -p course` does.
async fn site() -> TestServer {
    let labs = course::labs::all();
    TestServer::start(|addr| {
        course::site::app(built_book(), addr.port(), &labs, &kit::Shutdown::new())
    })
    .await
    .expect("the site starts")
}

async fn get(url: &str) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    within(url, client.get(url).send())
        .await
        .expect("in time")
        .expect("a response")
}

/// The index, a chapter, the search index and the diagram script are served from the book.
#[tokio::test]
async fn serves_the_book() {
    let server = site().await;
    let index = get(&server.url("/")).await;
    assert_eq!(index.status(), 200);
    assert!(
        index
            .text()
            .await
            .unwrap()
            .contains("WebSockets, by running them")
    );

    let chapter = get(&server.url("/what-is-websocket-three-state-machines.html")).await;
    assert_eq!(chapter.status(), 200);
    let body = chapter.text().await.unwrap();
    assert!(
        body.contains("language-mermaid"),
        "the chapter's diagrams are in the page"
    );
    assert!(
        body.contains("theme/mermaid-init-"),
        "the diagram script is linked"
    );

    // mdBook 0.5 names assets by content hash (mermaid.min-1a2b3c4d.js): follow the page's
    // own links, as a browser would.
    let asset = regex::Regex::new(r#"src="([^"]*mermaid[^"]*\.js)""#).unwrap();
    let mut found = 0;
    for cap in asset.captures_iter(&body) {
        let response = get(&server.url(&format!("/{}", &cap[1]))).await;
        assert_eq!(response.status(), 200, "{}", &cap[1]);
        found += 1;
    }
    assert!(found >= 2, "the chapter links the mermaid scripts");
    let search = regex::Regex::new(r#"(searchindex-[0-9a-f]+\.js)"#).unwrap();
    let index = search
        .captures(&body)
        .expect("the page points at the search index");
    assert_eq!(
        get(&server.url(&format!("/{}", &index[1]))).await.status(),
        200
    );
    server.stop().await.unwrap();
}

/// An unknown path gets mdBook's 404 page with the 404 status, not a 200.
#[tokio::test]
async fn unknown_page_is_a_404() {
    let server = site().await;
    let missing = get(&server.url("/no-such-chapter.html")).await;
    assert_eq!(missing.status(), 404);
    server.stop().await.unwrap();
}

/// `/labs/` lists every registered lab with the command that runs it alone, and each lab
/// answers under `/labs/<topic>/`.
#[tokio::test]
async fn serves_the_labs_page_and_the_labs() {
    let server = site().await;
    let redirect = get(&server.url("/labs")).await;
    assert!(redirect.status().is_redirection());
    assert_eq!(redirect.headers()["location"], "/labs/");

    let page = get(&server.url("/labs/")).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("<h1>Labs</h1>"));
    let mut served = BTreeSet::new();
    for lab in course::labs::all() {
        assert!(
            page.contains(&format!("cargo run -p {}", lab.package)),
            "{}",
            lab.topic
        );
        let bare = get(&server.url(&format!("/labs/{}", lab.topic))).await;
        assert!(bare.status().is_redirection(), "{}", lab.topic);
        let home = get(&server.url(&format!("/labs/{}/", lab.topic))).await;
        assert_eq!(home.status(), 200, "{}", lab.topic);
        assert!(served.insert(lab.topic), "{} listed twice", lab.topic);
    }
    assert_eq!(served, TOPICS.into(), "every lab listed and served");
    server.stop().await.unwrap();
}

/// The labs page escapes what it prints, and says so when no lab is mounted.
#[test]
fn labs_page_rendering() {
    let empty = course::site::render_labs_page(&[]);
    assert!(empty.contains("No lab is mounted yet"));
    let lab = course::labs::Lab {
        topic: "demo",
        title: "Demo <lab>",
        package: "lab-demo",
        port: 3999,
        chapter: "connection-flow",
        widget_page: "connection-flow-in-the-lab",
        summary: "Shows & tells.",
        vi: course::labs::LabText {
            title: "Bản <demo>",
            summary: "Cho xem & kể.",
        },
        router: |_, _| axum::Router::new(),
    };
    let page = course::site::render_labs_page(&[lab]);
    assert!(page.contains("Demo &lt;lab&gt;"));
    assert!(page.contains("Shows &amp; tells."));
    assert!(page.contains("cargo run -p lab-demo"));
    assert!(page.contains("http://127.0.0.1:3999/"));
    assert!(!page.contains("No lab is mounted yet"));
    assert!(!page.contains("Bản &lt;demo&gt;"));

    // In Vietnamese: the lab's Vietnamese text, links kept inside /vi/, the commands as they are.
    let page = course::site::render_labs_page_in(&[lab], course::i18n::VIETNAMESE);
    assert!(page.contains(r#"<html lang="vi">"#));
    assert!(page.contains("Bản &lt;demo&gt;") && page.contains("Cho xem &amp; kể."));
    assert!(!page.contains("Demo &lt;lab&gt;"));
    assert!(page.contains(r#"href="/vi/labs/demo/""#));
    assert!(page.contains(r#"href="/vi/connection-flow.html""#));
    assert!(page.contains("cargo run -p lab-demo"));
    let empty = course::site::render_labs_page_in(&[], course::i18n::VIETNAMESE);
    assert!(empty.contains("Chưa có lab nào"));
}

/// `course --help` documents the flags the book mentions.
#[test]
fn help_lists_the_flags() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_course"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in ["--port", "--no-build", "--book", "--out", "--lang"] {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
    }
}

/// The real binary: builds the book in both languages, prints the URL of the edition asked
/// for with `--lang` on stdout, serves it, exits cleanly on SIGTERM; run again with
/// `--no-build`, it serves that build untouched, and opens the English edition by default.
#[tokio::test]
async fn the_binary_builds_serves_and_stops_on_sigterm() {
    let out = tempfile::tempdir().unwrap();
    let (child, url) = launch(&["--port", "0", "--lang", "vi", "--out"], out.path()).await;
    assert!(url.ends_with("/vi/"), "--lang vi opens {url}");
    let index = get(&url).await;
    assert_eq!(index.status(), 200);
    assert!(index.text().await.unwrap().contains(r#"<html lang="vi""#));
    assert!(out.path().join("index.html").is_file());
    assert!(out.path().join("vi").join("index.html").is_file());
    stop_with_sigterm(child).await;

    // `--no-build` serves that build as it is, without building again.
    std::fs::write(out.path().join("marker.html"), "left by the test").unwrap();
    let (child, url) = launch(&["--no-build", "--port", "0", "--out"], out.path()).await;
    assert!(
        !url.contains("/vi/"),
        "the English edition opens by default: {url}"
    );
    let marker = get(&format!("{url}marker.html")).await;
    assert_eq!(marker.text().await.unwrap(), "left by the test");
    stop_with_sigterm(child).await;
}

/// How long the launcher may take to build the English and Vietnamese books.
const BUILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

/// Starts the launcher with `args` then `dir`; returns it and the URL it printed.
async fn launch(args: &[&str], dir: &std::path::Path) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_course"))
        .args(args)
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The URL comes once both editions are built: longer than one network step in a debug
    // build (the Vietnamese edition re-reads every message of its catalog).
    let line = tokio::time::timeout(BUILD_TIMEOUT, lines.next_line())
        .await
        .expect("the launcher prints its URL once the book is built")
        .unwrap()
        .expect("a line on stdout");
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (child, url)
}

/// Sends SIGTERM and checks the launcher exits with success.
async fn stop_with_sigterm(mut child: tokio::process::Child) {
    let pid = child.id().expect("running") as i32;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = within("the launcher exits after SIGTERM", child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "exit status {exit}");
}

/// `--lang` accepts only the editions there are.
#[test]
fn an_unknown_language_is_an_error() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_course"))
        .args(["--lang", "xx", "--no-build"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no edition in \"xx\""), "{stderr}");
}

/// `--no-build` with nothing built yet is a clear error, not a server of empty pages.
#[test]
fn no_build_without_a_build_is_an_error() {
    let out = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_course"))
        .args(["--no-build", "--port", "0", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("run once without --no-build"), "{stderr}");
}

/// Stopping the launcher closes the WebSockets of every mounted lab with 1001: each lab's
/// router gets the launcher's goodbye.
#[tokio::test]
async fn every_lab_says_goodbye_with_1001() {
    let labs = course::labs::all();
    let shutdown = kit::Shutdown::new();
    let signal = shutdown.clone();
    let server =
        TestServer::start(move |addr| course::site::app(built_book(), addr.port(), &labs, &signal))
            .await
            .unwrap();
    let token = within(
        "login",
        lab_private::client::login(&server.url("/labs/private"), "alice", "alice-pw"),
    )
    .await
    .unwrap()
    .unwrap();
    let bearer = format!("Authorization: Bearer {token}");
    let mut clients = Vec::new();
    for lab in course::labs::all() {
        let path = format!("/labs/{}/ws", lab.topic);
        let extra: &[&str] = if lab.topic == "private" {
            &[&bearer]
        } else {
            &[]
        };
        let client = kit::testing::RawClient::connect(server.addr, &path, extra)
            .await
            .unwrap_or_else(|err| panic!("{path}: {err:#}"));
        clients.push((lab.topic, path, client));
    }
    assert_eq!(shutdown.open_connections(), clients.len());
    let left = within(
        "the goodbye",
        shutdown.going_away(std::time::Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_eq!(left, 0);
    let mut closed = BTreeSet::new();
    for (topic, path, mut client) in clients {
        assert_eq!(client.close_code().await.unwrap(), Some(1001), "{path}");
        assert!(closed.insert(topic), "{topic} mounted twice");
    }
    assert_eq!(closed, TOPICS.into(), "every lab said goodbye");
}
