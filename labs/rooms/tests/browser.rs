//! The chat page in a real browser (headless Chromium): two pages join the same room and
//! chat, and each sees the other's presence.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use kit::browser::Browser;

/// Connects the page as `name` and joins room `rust`.
async fn join_as(browser: &Browser, url: &str, name: &str) {
    browser.goto(&format!("{url}?name={name}")).await.unwrap();
    browser
        .wait_until(
            "the page is connected",
            "return document.getElementById('state').textContent === 'OPEN';",
        )
        .await
        .unwrap();
    // Reconnect with the chosen name, then join.
    browser
        .eval(&format!(
            "socket.onclose = null; socket.close(); document.getElementById('name').value = {name:?}; \
             connect(); return true;"
        ))
        .await
        .unwrap();
    browser
        .wait_until(
            "connected under the name",
            &format!("return document.getElementById('state').textContent === 'OPEN' \
                      && document.getElementById('chat').textContent.includes('connected as {name}');"),
        )
        .await
        .unwrap();
    browser
        .eval("document.getElementById('join').click(); return true;")
        .await
        .unwrap();
    browser
        .wait_until(
            "joined #rust",
            "return document.getElementById('chat').textContent.includes('you joined #rust');",
        )
        .await
        .unwrap();
}

/// ada and bob join #rust in two browsers; ada sees bob arrive; bob's message reaches ada.
#[tokio::test]
async fn two_pages_join_the_same_room_and_chat() {
    let Some(ada) = Browser::launch().await.unwrap() else {
        return;
    };
    let Some(bob) = Browser::launch().await.unwrap() else {
        return;
    };
    let (server, _) = common::start().await;
    let url = server.url("/");
    join_as(&ada, &url, "ada").await;
    join_as(&bob, &url, "bob").await;

    ada.wait_until(
        "ada sees bob join",
        "return document.getElementById('members').textContent.includes('bob') \
           && document.getElementById('chat').textContent.includes('[#rust] bob joined');",
    )
    .await
    .unwrap();

    bob.eval(
        "document.getElementById('text').value = 'hello ada'; \
         document.getElementById('send').click(); return true;",
    )
    .await
    .unwrap();
    ada.wait_until(
        "ada reads bob's message",
        "return document.getElementById('chat').textContent.includes('[#rust] bob: hello ada');",
    )
    .await
    .unwrap();
    bob.wait_until(
        "bob sees his own message, in the server's order",
        "return document.getElementById('chat').textContent.includes('[#rust] bob: hello ada');",
    )
    .await
    .unwrap();

    bob.close().await.unwrap();
    ada.wait_until(
        "ada sees bob leave when his browser goes",
        "return document.getElementById('chat').textContent.includes('[#rust] bob left');",
    )
    .await
    .unwrap();
    ada.close().await.unwrap();
}
