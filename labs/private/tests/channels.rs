//! Private channels, enforced by the server: a third user can neither join nor send nor
//! receive, while the two members exchange many messages; groups are invite-only.

#![allow(clippy::unwrap_used)]

mod common;

use kit::testing::within;
use lab_private::client::{Incoming, PrivateClient, PrivateError};

/// How many messages each member sends while the outsider tries to get in.
const ROUNDS: usize = 50;

/// The refusal a non-member gets, whatever the request.
fn assert_refused(result: Result<serde_json::Value, PrivateError>, what: &str) {
    match result {
        Err(PrivateError::Refused { message, .. }) => {
            assert_eq!(
                message, "forbidden: no such channel, or you are not a member",
                "{what}"
            )
        }
        other => panic!("{what}: expected a refusal, got {other:?}"),
    }
}

/// Receives the next opened message.
async fn next_text(client: &mut PrivateClient) -> (String, String, String) {
    match within("a message", client.next_incoming())
        .await
        .unwrap()
        .unwrap()
    {
        Incoming::Message {
            channel,
            from,
            text,
        } => (channel, from, text),
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Carol cannot join, send into, or invite herself to alice and bob's direct channel, and
/// receives none of the messages they exchange; the first thing she receives is what alice
/// sends her in their own channel afterwards.
#[tokio::test]
async fn third_user_gets_nothing() {
    let (server, _) = common::start().await;
    let mut alice = common::connect(&server, "alice").await;
    let mut bob = common::connect(&server, "bob").await;
    let mut carol = common::connect(&server, "carol").await;
    let dm = within("open", alice.open_direct("bob"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dm, "dm:alice:bob");
    within("join", bob.join(&dm)).await.unwrap().unwrap();

    for round in 0..ROUNDS {
        // Carol keeps trying while they talk.
        if round % 10 == 0 {
            assert_refused(within("join", carol.join(&dm)).await.unwrap(), "join");
            let send = serde_json::json!({ "channel": dm, "seq": round, "copies": [] });
            assert_refused(
                within("send", carol.request("send", send)).await.unwrap(),
                "send",
            );
            let invite = serde_json::json!({ "channel": dm, "user": "carol" });
            assert_refused(
                within("invite", carol.request("invite", invite))
                    .await
                    .unwrap(),
                "invite",
            );
        }
        let text = format!("alice to bob {round}");
        within("send", alice.send_text(&dm, &text))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            next_text(&mut bob).await,
            (dm.clone(), "alice".into(), text)
        );
        let text = format!("bob to alice {round}");
        within("send", bob.send_text(&dm, &text))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            next_text(&mut alice).await,
            (dm.clone(), "bob".into(), text)
        );
    }

    // A marker through carol's own channel: anything leaked would have arrived before it.
    let theirs = within("open", alice.open_direct("carol"))
        .await
        .unwrap()
        .unwrap();
    within("send", alice.send_text(&theirs, "marker"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        next_text(&mut carol).await,
        (theirs, "alice".into(), "marker".into())
    );
    let leaked: Vec<&String> = carol.wire.iter().filter(|f| f.contains(&dm)).collect();
    assert!(
        leaked.iter().all(|f| !f.contains(r#""event":"message""#)),
        "{leaked:?}"
    );
}

/// A group is invite-only: carol is refused until its owner invites her, bob (not the
/// owner) cannot invite, and after the invitation carol reads the group's new messages.
#[tokio::test]
async fn group_is_invite_only() {
    let (server, _) = common::start().await;
    let mut alice = common::connect(&server, "alice").await;
    let mut bob = common::connect(&server, "bob").await;
    let mut carol = common::connect(&server, "carol").await;
    let group = within("create", alice.create_group("team", &["bob"]))
        .await
        .unwrap()
        .unwrap();
    assert_refused(within("join", carol.join(&group)).await.unwrap(), "join");
    let invite = serde_json::json!({ "channel": group, "user": "carol" });
    let by_bob = within("invite", bob.request("invite", invite.clone()))
        .await
        .unwrap();
    assert!(
        matches!(&by_bob, Err(PrivateError::Refused { message, .. }) if message.contains("owner")),
        "{by_bob:?}"
    );
    within("send", alice.send_text(&group, "before carol"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next_text(&mut bob).await.2, "before carol");

    within("invite", alice.request("invite", invite))
        .await
        .unwrap()
        .unwrap();
    let joined = within("join", carol.join(&group)).await.unwrap().unwrap();
    assert_eq!(
        joined["history"],
        serde_json::json!([]),
        "no copy was sealed for her"
    );
    within("send", alice.send_text(&group, "welcome carol"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next_text(&mut bob).await.2, "welcome carol");
    assert_eq!(next_text(&mut carol).await.2, "welcome carol");
}
