//! The dashboard in a real browser (headless Chromium): it connects, opens helper
//! connections, publishes with confirmation, and shows the report and the live counters.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use kit::browser::Browser;

/// The page connects; with 3 confirming and 2 silent helpers, a confirmed broadcast to
/// everyone reports 4 delivered (the page and 3 helpers) and 2 timed out, and the
/// dashboard's counters show the same.
#[tokio::test]
async fn dashboard_publishes_and_counts() {
    let Some(browser) = Browser::launch().await.unwrap() else {
        return;
    };
    let (server, _hub) = common::start().await;
    browser.goto(&server.url("/?role=admin")).await.unwrap();
    browser
        .wait_until(
            "the page is connected and welcomed",
            "return document.getElementById('state').textContent === 'OPEN' \
               && document.getElementById('whoami').textContent.includes('admin');",
        )
        .await
        .unwrap();
    browser
        .eval(
            "document.getElementById('helpers-confirm').click(); \
             document.getElementById('helpers-silent').click(); return true;",
        )
        .await
        .unwrap();
    browser
        .wait_until(
            "the dashboard counts six connections",
            "return document.getElementById('connected').textContent === '6';",
        )
        .await
        .unwrap();
    browser
        .eval("document.getElementById('publish').click(); return true;")
        .await
        .unwrap();
    browser
        .wait_until(
            "the report's exact counts",
            "return document.getElementById('report').textContent \
               .includes('\"confirmation\":{\"delivered\":4,\"failed\":0,\"timed_out\":2}');",
        )
        .await
        .unwrap();
    browser
        .wait_until(
            "the counters and the log",
            "return document.getElementById('confirmed').textContent === '4' \
               && document.getElementById('timed_out').textContent === '2' \
               && document.getElementById('log').textContent.includes('Hello, everyone');",
        )
        .await
        .unwrap();
    browser.close().await.unwrap();
    server.stop().await.unwrap();
}
