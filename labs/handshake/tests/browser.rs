//! The lab page in a real browser (headless Chromium): it connects, sends what the learner
//! typed, and shows the server's view of every frame next to what the browser saw.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use common::RawServer;
use kit::browser::Browser;

/// Connect, send "Hello", and see the masked frame annotated by the server, the echo
/// received by the page, and the raw upgrade request.
#[tokio::test]
async fn page_shows_the_annotated_exchange() {
    let Some(browser) = Browser::launch().await.unwrap() else {
        return;
    };
    let server = RawServer::start().await;
    browser
        .goto(&format!("http://{}/", server.addr))
        .await
        .unwrap();

    // The page opens the inspector, then its own connection.
    browser
        .wait_until(
            "the page is connected",
            "return document.getElementById('state').textContent === 'OPEN';",
        )
        .await
        .unwrap();
    browser.wait_until(
        "the server's view shows the upgrade request",
        "return document.getElementById('server-log').textContent.includes('Sec-WebSocket-Key');",
    )
    .await
    .unwrap();

    let input = browser.wait_for("#message").await.unwrap();
    input.clear().await.unwrap();
    input.send_keys("Hello").await.unwrap();
    browser
        .wait_for("#send")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // The browser masked "Hello" (48 65 6c 6c 6f) with a random key; the server shows the
    // key and the unmasked bytes, then its own unmasked echo.
    browser
        .wait_until(
            "the server's view shows the masked Hello and the echo",
            "const t = document.getElementById('server-log').textContent; \
             return t.includes('Masking-key') && t.includes('payload unmasked:         48 65 6c 6c 6f') \
                 && t.includes('to the browser: Text frame, 5 bytes') && t.includes('Processed');",
        )
        .await
        .unwrap();
    browser
        .wait_until(
            "the page received the echo",
            "return document.getElementById('browser-log').textContent.includes('received text: \"Hello\"');",
        )
        .await
        .unwrap();

    // Close with a code: the server echoes it, the page sees a clean close.
    browser
        .wait_for("#disconnect")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_until(
            "a clean close with 1000",
            "return document.getElementById('browser-log').textContent.includes('close: code 1000');",
        )
        .await
        .unwrap();
    browser.close().await.unwrap();
}
