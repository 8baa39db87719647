//! End-to-end encryption through the real server: it never sees a plaintext (in what it
//! received, stored or logged), and the recipient refuses tampered and replayed messages.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kit::testing::within;
use lab_private::client::Incoming;
use lab_private::e2e::E2eError;
use serde_json::json;

/// A tracing writer into a shared buffer: everything the server logs, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Known plaintexts go from alice to bob and into a group; none of them, nor the tokens,
/// appears in any frame the server received, in its store, or in its logs (at TRACE).
#[tokio::test]
async fn server_never_sees_plaintext() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // The test runtime has one thread, so every server task logs to this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let (server, state) = common::start().await;
    let tokens = [
        common::token(&server, "alice").await,
        common::token(&server, "bob").await,
    ];
    let connect = |token: String| {
        let url = server.ws_url("/ws");
        async move {
            within(
                "connect",
                lab_private::client::PrivateClient::connect(&url, &token),
            )
            .await
            .unwrap()
            .unwrap()
        }
    };
    let mut alice = connect(tokens[0].clone()).await;
    let mut bob = connect(tokens[1].clone()).await;
    let dm = within("open", alice.open_direct("bob"))
        .await
        .unwrap()
        .unwrap();
    let group = within("group", alice.create_group("secret-club", &["bob"]))
        .await
        .unwrap()
        .unwrap();
    let plaintexts: Vec<String> = (0..20)
        .map(|i| format!("the launch code is {i}-swordfish"))
        .collect();
    for (i, text) in plaintexts.iter().enumerate() {
        let channel = if i % 2 == 0 { &dm } else { &group };
        within("send", alice.send_text(channel, text))
            .await
            .unwrap()
            .unwrap();
        match within("receive", bob.next_incoming())
            .await
            .unwrap()
            .unwrap()
        {
            Incoming::Message { text: got, .. } => assert_eq!(&got, text),
            other => panic!("{other:?}"),
        }
    }

    let received: String = [&alice.wire, &bob.wire]
        .into_iter()
        .flatten()
        .filter(|frame| frame.starts_with("> "))
        .cloned()
        .collect();
    let stored = serde_json::to_string(&state.stored()).unwrap();
    assert_eq!(state.stored().len(), plaintexts.len());
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("relayed"),
        "the logs were captured: {logged}"
    );
    for text in &plaintexts {
        assert!(!received.contains(text.as_str()), "received: {text}");
        assert!(!stored.contains(text.as_str()), "stored: {text}");
        assert!(!logged.contains(text.as_str()), "logged: {text}");
        // Nor its base64, in case something encoded it on the way.
        assert!(
            !stored.contains(&B64.encode(text)),
            "stored as base64: {text}"
        );
    }
    assert!(!received.contains("swordfish") && !stored.contains("swordfish"));
    for token in &tokens {
        assert!(!logged.contains(token.as_str()), "a token was logged");
    }
}

/// Alice sends Bob one hand-made copy (`iv`, `ciphertext`) on `channel` under `seq`, as a
/// malicious server or a replaying attacker would; returns what Bob's client makes of it.
async fn forge(
    alice: &mut lab_private::client::PrivateClient,
    bob: &mut lab_private::client::PrivateClient,
    channel: &str,
    seq: u64,
    iv: &str,
    ciphertext: &str,
) -> Incoming {
    let copy = json!({ "to": "bob", "iv": iv, "ciphertext": ciphertext });
    let forged = json!({ "channel": channel, "seq": seq, "copies": [copy] });
    within("send the forged copy", alice.request("send", forged))
        .await
        .unwrap()
        .unwrap();
    within("receive", bob.next_incoming())
        .await
        .unwrap()
        .unwrap()
}

/// A copy whose ciphertext was changed on the way, and a copy delivered a second time,
/// are refused by the recipient with a visible error; the next good one still opens.
#[tokio::test]
async fn tampered_and_replayed_are_refused() {
    let (server, state) = common::start().await;
    let mut alice = common::connect(&server, "alice").await;
    let mut bob = common::connect(&server, "bob").await;
    let dm = within("open", alice.open_direct("bob"))
        .await
        .unwrap()
        .unwrap();
    within("send", alice.send_text(&dm, "first"))
        .await
        .unwrap()
        .unwrap();
    let first = within("receive", bob.next_incoming())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(first, Incoming::Message { ref text, .. } if text == "first"));

    // Replayed: the stored copy, sent again as it was (same seq, nonce, ciphertext).
    let stored = state.stored().pop().unwrap();
    let refused = forge(
        &mut alice,
        &mut bob,
        &dm,
        stored.seq,
        &stored.iv,
        &stored.ciphertext,
    )
    .await;
    assert_eq!(
        refused,
        Incoming::Refused {
            channel: dm.clone(),
            from: "alice".into(),
            error: E2eError::Replayed {
                from: "alice".into(),
                seq: stored.seq
            },
        }
    );
    assert!(
        E2eError::Replayed {
            from: "alice".into(),
            seq: 1
        }
        .to_string()
        .contains("replay")
    );

    // Tampered: one bit of the ciphertext flipped, under a fresh sequence number.
    let mut bytes = B64.decode(&stored.ciphertext).unwrap();
    bytes[0] ^= 0x01;
    let refused = forge(
        &mut alice,
        &mut bob,
        &dm,
        99,
        &stored.iv,
        &B64.encode(bytes),
    )
    .await;
    assert!(
        matches!(
            refused,
            Incoming::Refused {
                error: E2eError::Tampered,
                ..
            }
        ),
        "{refused:?}"
    );

    // Moved: the good ciphertext under another sequence number fails too (the AAD).
    let refused = forge(
        &mut alice,
        &mut bob,
        &dm,
        100,
        &stored.iv,
        &stored.ciphertext,
    )
    .await;
    assert!(
        matches!(
            refused,
            Incoming::Refused {
                error: E2eError::Tampered,
                ..
            }
        ),
        "{refused:?}"
    );

    within("send", alice.send_text(&dm, "second"))
        .await
        .unwrap()
        .unwrap();
    let second = within("receive", bob.next_incoming())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(second, Incoming::Message { ref text, .. } if text == "second"));
}

/// Both sides see the same fingerprints for each other's keys when the server is honest.
#[tokio::test]
async fn fingerprints_match() {
    let (server, _) = common::start().await;
    let mut alice = common::connect(&server, "alice").await;
    let bob = common::connect(&server, "bob").await;
    within("keys", alice.refresh_keys()).await.unwrap().unwrap();
    assert_eq!(alice.peer_fingerprint("bob").unwrap(), bob.fingerprint());
}
