//! The reconnection policy as pure functions, then against a server: full-jitter backoff
//! stays within `[0, min(cap, base·2ⁿ)]`, close codes are classified retry or stop, and a
//! subscriber closed with 1008 never comes back while one closed with 1001 does.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{next, options};
use futures_util::SinkExt as _;
use kit::testing::within;
use lab_resilience::client::{Backoff, Event, Subscriber, classify, classify_refusal};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

const POLICY: Backoff = Backoff {
    base: Duration::from_millis(100),
    cap: Duration::from_secs(10),
};

/// The ceiling doubles from the base up to the cap and stays there, without overflow.
#[test]
fn ceiling_doubles_up_to_the_cap() {
    let ms = |n| POLICY.ceiling(n).as_millis();
    assert_eq!([ms(0), ms(1), ms(2), ms(3)], [100, 200, 400, 800]);
    assert_eq!(ms(6), 6400);
    assert_eq!(ms(7), 10_000, "12.8 s is over the cap");
    assert_eq!(ms(40), 10_000);
    assert_eq!(ms(u32::MAX), 10_000, "no overflow");
}

/// Every delay lies in `[0, min(cap, base·2ⁿ)]`, at the edges of the random draw too.
#[test]
fn delays_stay_within_full_jitter_bounds() {
    for n in 0..64 {
        let bound = POLICY
            .base
            .saturating_mul(2u32.saturating_pow(n))
            .min(POLICY.cap);
        assert_eq!(POLICY.delay_for(n, 0.0), Duration::ZERO, "attempt {n}");
        for unit in [0.25, 0.5, 0.999_999] {
            let delay = POLICY.delay_for(n, unit);
            assert!(
                delay <= bound,
                "attempt {n}, unit {unit}: {delay:?} > {bound:?}"
            );
        }
        for _ in 0..200 {
            let delay = POLICY.delay(n);
            assert!(delay <= bound, "attempt {n}: {delay:?} > {bound:?}");
        }
    }
}

/// Full jitter really spreads: 2 000 draws at one attempt are not all alike, and their
/// mean is near half the ceiling (the uniform distribution's).
#[test]
fn jitter_spreads_the_delays() {
    let draws: Vec<f64> = (0..2000).map(|_| POLICY.delay(3).as_secs_f64()).collect();
    let mean = draws.iter().sum::<f64>() / draws.len() as f64;
    let ceiling = POLICY.ceiling(3).as_secs_f64();
    assert!(
        (0.4 * ceiling..0.6 * ceiling).contains(&mean),
        "mean {mean}, ceiling {ceiling}"
    );
    let distinct: std::collections::BTreeSet<u128> =
        draws.iter().map(|d| (d * 1e6) as u128).collect();
    assert!(distinct.len() > 1000, "{} distinct delays", distinct.len());
}

/// Which close codes and refusals are retried: the passing ones, never the permanent ones.
#[test]
fn close_codes_are_classified() {
    for code in [1001, 1006, 1011, 1012, 1013, 1014] {
        assert!(classify(Some(code)).retries(), "{code}");
    }
    for code in [1000, 1002, 1003, 1007, 1008, 1009, 4000] {
        assert!(!classify(Some(code)).retries(), "{code}");
    }
    assert!(classify(None).retries(), "a close without a code");
    for status in [503, 429, 502, 504, 500] {
        assert!(classify_refusal(status).retries(), "{status}");
    }
    for status in [400, 401, 403, 404] {
        assert!(!classify_refusal(status).retries(), "{status}");
    }
    assert!(classify(Some(1008)).reason().contains("policy"));
}

/// A server that closes every connection with `code`, and the subscriber's first events
/// against it, with how many connections it accepted meanwhile.
async fn close_with(code: u16) -> (Vec<Event>, usize) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut subscriber = Subscriber::new(options(format!("ws://{addr}/ws")));
    let accepted = Arc::new(AtomicUsize::new(0));
    let server = tokio::spawn({
        let accepted = Arc::clone(&accepted);
        async move {
            // Bounded: 2 connections are enough to tell retry from stop.
            for _ in 0..2 {
                let Ok((tcp, _)) = listener.accept().await else {
                    break;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                let frame = CloseFrame {
                    code: code.into(),
                    reason: "test".into(),
                };
                let _ = ws.send(Message::Close(Some(frame))).await;
                let _ = within("the client's close", futures_util::StreamExt::next(&mut ws)).await;
            }
        }
    });
    let mut events = Vec::new();
    // Bounded: a stop ends after 2 events; a retry shows itself within 3.
    while events.len() < 3 {
        match next(&mut subscriber).await {
            Some(event) => events.push(event),
            None => break,
        }
    }
    drop(subscriber);
    server.abort();
    (events, accepted.load(Ordering::SeqCst))
}

/// Closed with 1008, the subscriber says why, gives up, and never connects again.
#[tokio::test]
async fn no_retry_after_1008() {
    let (events, accepted) = close_with(1008).await;
    assert!(
        matches!(&events[0], Event::Closed { code: Some(1008), decision, .. } if !decision.retries()),
        "{events:?}"
    );
    assert!(matches!(&events[1], Event::GaveUp { .. }), "{events:?}");
    assert_eq!(events.len(), 2, "nothing after giving up: {events:?}");
    assert_eq!(accepted, 1, "one connection only");
}

/// Closed with 1001 (the server going away), the subscriber schedules a retry within the
/// backoff's first ceiling and connects again.
#[tokio::test]
async fn retry_after_1001() {
    let (events, accepted) = close_with(1001).await;
    assert!(
        matches!(&events[0], Event::Closed { code: Some(1001), decision, .. } if decision.retries()),
        "{events:?}"
    );
    match &events[1] {
        Event::Reconnecting { attempt: 1, delay } => assert!(*delay <= Duration::from_millis(10)),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(
            &events[2],
            Event::Closed {
                code: Some(1001),
                ..
            }
        ),
        "it came back: {events:?}"
    );
    assert_eq!(accepted, 2);
}

/// Against a full server (one seat, taken), the subscriber reads the 503, classifies it as
/// worth a retry, and waits at least its `Retry-After` (5 s), whatever its own backoff says.
#[tokio::test]
async fn a_503_is_retried_no_sooner_than_retry_after() {
    let (server, _stream) = common::start_with(|config| config.gateway.max_connections = 1).await;
    let _seated = common::Json::connect(&server, "").await;
    let mut subscriber = Subscriber::new(options(server.ws_url("/ws")));
    match next(&mut subscriber).await.unwrap() {
        Event::Closed {
            code: None,
            reason,
            decision,
        } => {
            assert!(reason.starts_with("HTTP 503"), "{reason}");
            assert!(decision.retries());
        }
        other => panic!("{other:?}"),
    }
    match next(&mut subscriber).await.unwrap() {
        Event::Reconnecting { attempt: 1, delay } => {
            assert!(
                delay >= Duration::from_secs(5),
                "{delay:?}: Retry-After is 5 s"
            );
        }
        other => panic!("{other:?}"),
    }
    server.stop().await.unwrap();
}
