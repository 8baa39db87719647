//! The lab page in a real browser (headless Chromium): its two sides talk through the
//! server, and the page's WebCrypto interoperates with the Rust client, both ways.
//! Skipped, with a message, where Chromium is not installed.

#![allow(clippy::unwrap_used)]

mod common;

use kit::browser::Browser;
use kit::testing::within;
use lab_private::client::Incoming;

/// The page's two sides connect, open their direct channel and exchange a sealed message;
/// the server's column shows the ciphertext, never the text.
#[tokio::test]
async fn page_sides_talk_sealed() {
    let Some(browser) = Browser::launch().await.unwrap() else {
        return;
    };
    let (server, _) = common::start().await;
    browser.goto(&server.url("/")).await.unwrap();
    browser
        .wait_until(
            "both sides are in their direct channel",
            "return document.getElementById('state').textContent === 'OPEN' \
               && sides.b.$('.channel').value === 'dm:alice:bob';",
        )
        .await
        .unwrap();
    browser
        .eval(
            "sides.b.$('.text').value = 'a very private pancake recipe'; \
             sides.b.$('.send').click(); return true;",
        )
        .await
        .unwrap();
    browser
        .wait_until(
            "alice reads it",
            "return sides.a.$('.messages').textContent.includes('bob: a very private pancake recipe');",
        )
        .await
        .unwrap();
    let wire = browser
        .eval("return document.getElementById('wire').textContent;")
        .await
        .unwrap();
    let wire = wire.as_str().unwrap();
    assert!(wire.contains("\"ciphertext\""), "{wire}");
    assert!(!wire.contains("pancake"), "{wire}");

    // The attack buttons: a flipped bit and a replay are refused, visibly.
    browser
        .eval("sides.b.$('.tamper').click(); return true;")
        .await
        .unwrap();
    browser
        .wait_until(
            "alice refuses the tampered copy",
            "return sides.a.$('.messages').textContent.includes('tampered');",
        )
        .await
        .unwrap();
    browser
        .eval("sides.b.$('.replay').click(); return true;")
        .await
        .unwrap();
    browser
        .wait_until(
            "alice refuses the replay",
            "return sides.a.$('.messages').textContent.includes('(replay)');",
        )
        .await
        .unwrap();

    // The right side becomes carol, who may not join alice and bob's channel.
    browser
        .eval("sides.b.$('.user').value = 'carol'; sides.b.$('.connect').click(); return true;")
        .await
        .unwrap();
    browser
        .wait_until(
            "carol is connected",
            "return sides.b.socket.readyState === 1 && sides.b.user === 'carol' \
               && sides.b.$('.messages').textContent.includes('connected, protocol');",
        )
        .await
        .unwrap();
    browser
        .eval(
            "sides.b.$('.joinname').value = 'dm:alice:bob'; sides.b.$('.join').click(); \
             return true;",
        )
        .await
        .unwrap();
    browser
        .wait_until(
            "carol is refused",
            "return sides.b.$('.messages').textContent \
               .includes('server: forbidden: no such channel, or you are not a member');",
        )
        .await
        .unwrap();
    browser.close().await.unwrap();
}

/// Interop: the page (alice, WebCrypto) and the Rust client (bob, RustCrypto) see the same
/// fingerprints and exchange sealed messages both ways.
#[tokio::test]
async fn page_and_rust_client_interoperate() {
    let Some(browser) = Browser::launch().await.unwrap() else {
        return;
    };
    let (server, _) = common::start().await;
    browser.goto(&server.url("/?b=none")).await.unwrap();
    browser
        .wait_until(
            "alice has published her key",
            "return document.getElementById('state').textContent === 'OPEN' \
               && !!sides.a.keys.alice;",
        )
        .await
        .unwrap();
    let mut bob = common::connect(&server, "bob").await;
    within("keys", bob.refresh_keys()).await.unwrap().unwrap();
    let alice_fp = browser
        .eval("return sides.a.$('.mine-fp').textContent;")
        .await
        .unwrap();
    assert_eq!(
        Some(alice_fp.as_str().unwrap().to_owned()),
        bob.peer_fingerprint("alice")
    );
    let dm = within("open", bob.open_direct("alice"))
        .await
        .unwrap()
        .unwrap();
    browser
        .wait_until(
            "the page knows bob's key and the channel",
            "return !!sides.a.keys.bob && sides.a.$('.channel').value === 'dm:alice:bob';",
        )
        .await
        .unwrap();
    let shown = browser
        .eval("return sides.a.$('.peer-fp').textContent;")
        .await
        .unwrap();
    assert!(
        shown.as_str().unwrap().contains(&bob.fingerprint()),
        "{shown}"
    );

    within("send", bob.send_text(&dm, "hello from Rust"))
        .await
        .unwrap()
        .unwrap();
    browser
        .wait_until(
            "the page opens the Rust client's message",
            "return sides.a.$('.messages').textContent.includes('bob: hello from Rust');",
        )
        .await
        .unwrap();

    browser
        .eval(
            "sides.a.$('.text').value = 'hello from the browser'; \
             sides.a.$('.send').click(); return true;",
        )
        .await
        .unwrap();
    let got = within("the page's message", bob.next_incoming())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got,
        Incoming::Message {
            channel: dm,
            from: "alice".into(),
            text: "hello from the browser".into(),
        }
    );
    browser.close().await.unwrap();
}
