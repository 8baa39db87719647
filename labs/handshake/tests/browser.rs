//! The lab page in a real browser (headless Chromium): it connects, sends what the learner
//! typed, and shows the server's view of every frame next to what the browser saw. Chromium
//! offers permessage-deflate, so this is also the browser interop test of `deflate.rs`.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use common::RawServer;
use kit::browser::Browser;

/// Connect, send "Hello", and see the masked frame annotated by the server, the echo
/// received by the page, and the raw upgrade request; with compression on (the default),
/// both frames are compressed and shown with what they inflate to.
#[tokio::test]
async fn page_shows_the_annotated_exchange() {
    let Some(browser) = Browser::launch().await.unwrap() else {
        return;
    };
    let server = RawServer::start().await;
    exchange(&browser, &server, true).await;
    browser.close().await.unwrap();
}

/// With `--no-compression`, Chromium's offer is declined: the page sees no extension and
/// "Hello" travels as its own five bytes.
#[tokio::test]
async fn page_without_compression() {
    let Some(browser) = Browser::launch().await.unwrap() else {
        return;
    };
    let server = RawServer::with(|config| config.settings.compression = None).await;
    exchange(&browser, &server, false).await;
    browser.close().await.unwrap();
}

async fn exchange(browser: &Browser, server: &RawServer, compressed: bool) {
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

    if compressed {
        // Chromium offered permessage-deflate, the server accepted; Chromium compressed
        // "Hello" into the RFC 7692 example's 7 bytes (f2 48 cd c9 c9 07 00), set RSV1 and
        // masked it; the server shows both forms, and compresses its echo the same way.
        browser
            .wait_until(
                "the page sees the negotiated extension",
                "return document.getElementById('extensions').textContent === 'permessage-deflate';",
            )
            .await
            .unwrap();
        browser
            .wait_until(
                "the server's view shows the compressed Hello and the compressed echo",
                "const t = document.getElementById('server-log').textContent; \
                 return t.includes('Sec-WebSocket-Extensions: permessage-deflate') \
                     && t.includes('RSV1: the message is compressed') \
                     && t.includes('payload unmasked:         f2 48 cd c9 c9 07 00') \
                     && t.includes('inflates to 5 bytes (ratio 1.400×)') \
                     && t.includes('original reads: \"Hello\"') \
                     && t.includes('to the browser: Text frame, 7 bytes') \
                     && t.includes('compressed from 5 bytes') && t.includes('Processed');",
            )
            .await
            .unwrap();
    } else {
        // The browser masked "Hello" (48 65 6c 6c 6f) with a random key; the server shows
        // the key and the unmasked bytes, then its own unmasked echo.
        browser
            .wait_until(
                "the page sees no extension",
                "return document.getElementById('extensions').textContent.startsWith('none');",
            )
            .await
            .unwrap();
        browser
            .wait_until(
                "the server's view shows the masked Hello and the echo",
                "const t = document.getElementById('server-log').textContent; \
                 return t.includes('Masking-key') && t.includes('payload unmasked:         48 65 6c 6c 6f') \
                     && t.includes('to the browser: Text frame, 5 bytes') && t.includes('Processed');",
            )
            .await
            .unwrap();
    }
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
}
