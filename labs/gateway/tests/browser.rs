//! The lab page in a real browser (headless Chromium): it connects, sends envelopes the
//! learner composed, and shows each answer, the connection staying open after bad input.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use kit::browser::Browser;

/// Send an echo and get its ack; send malformed JSON and get an exception; the page stays
/// connected; a guarded shout (the page connects as "ada") is delivered.
#[tokio::test]
async fn page_sends_envelopes_and_shows_answers() {
    let Some(browser) = Browser::launch().await.unwrap() else {
        return;
    };
    let server = common::start().await;
    browser.goto(&server.url("/")).await.unwrap();
    browser
        .wait_until(
            "the page is connected and welcomed",
            "return document.getElementById('state').textContent === 'OPEN' \
               && document.getElementById('whoami').textContent.includes('connection');",
        )
        .await
        .unwrap();

    // Clicks the example button labelled `example`, then Send.
    let send = |example: &'static str| {
        let browser = &browser;
        async move {
            browser
                .eval(&format!(
                    "[...document.querySelectorAll('[data-example]')] \
                       .find(b => b.textContent === {example:?}).click(); \
                     document.getElementById('send').click(); return true;"
                ))
                .await
                .unwrap();
        }
    };
    let log_has = |what: &'static str, text: &'static str| {
        let browser = &browser;
        async move {
            browser
                .wait_until(
                    what,
                    &format!(
                        "return document.getElementById('log').textContent.includes({text:?});"
                    ),
                )
                .await
                .unwrap();
        }
    };

    send("echo").await;
    log_has(
        "the echo's ack",
        r#"{"event":"ack","id":1,"data":{"text":"Hello"}}"#,
    )
    .await;

    send("malformed JSON").await;
    log_has("the malformed message's exception", "not valid JSON").await;

    send("shout (guarded)").await;
    log_has("the shout, pushed back to the page", r#""event":"shouted""#).await;
    log_has("the shout's ack", r#""data":{"delivered":1}"#).await;

    let state = browser
        .eval("return document.getElementById('state').textContent;")
        .await
        .unwrap();
    assert_eq!(state, "OPEN");
    browser.close().await.unwrap();
}
