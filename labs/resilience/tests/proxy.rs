//! Through a real nginx (Debian's), started on a free loopback port with each of the two
//! configurations committed in `proxy/`: through the stripping one the WebSocket upgrade
//! fails (nginx passes back the lab's 426) and the fallback carries the stream, recovery
//! included, in the Rust client and in the browser; through the forwarding one the
//! WebSocket opens. Where nginx is not installed the tests say so and pass without running;
//! `REQUIRE_PROXY=1` (set by `.ci/run`, which installs it) makes that a failure.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use common::{next, options, publish, start_with, until_offset, updates};
use kit::browser::Browser;
use kit::testing::{TestServer, connect_ws};
use lab_resilience::Stream;
use lab_resilience::client::{Event, Subscriber, Transport};
use lab_resilience::proxy::{INSTALL_HINT, Proxy, ProxyKind, find_nginx};
use tokio_tungstenite::tungstenite::Error;

/// The lab (ticker and heartbeat off) with nginx in front of it, or `None` (after saying
/// why) where nginx is not installed.
async fn behind(kind: ProxyKind) -> Option<(TestServer, Stream, Proxy)> {
    if find_nginx().is_none() {
        kit::testing::missing("REQUIRE_PROXY", INSTALL_HINT);
        return None;
    }
    // The proxy's port first: pages served through it have its origin, which the lab must
    // allow.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = free.local_addr().unwrap();
    drop(free);
    let (server, stream) = start_with(|config| {
        config.gateway.allowlist = config
            .gateway
            .allowlist
            .clone()
            .allow_local_port(listen.port());
    })
    .await;
    let proxy = Proxy::start(kind, listen, server.addr).await.unwrap();
    Some((server, stream, proxy))
}

/// Through the stripping proxy: the upgrade is answered 426 *by nginx's path* (its
/// `Server` header), a client without a fallback gives up, and the subscriber falls back
/// to Server-Sent Events, receives every update once and in order, and recovers after a
/// cut, all through nginx.
#[tokio::test]
async fn the_stripping_proxy_blocks_the_upgrade_and_the_fallback_carries_the_stream() {
    let Some((server, stream, proxy)) = behind(ProxyKind::Strip).await else {
        return;
    };
    let url = format!("ws://{}/ws", proxy.addr());
    match connect_ws(url.as_str()).await.unwrap() {
        Err(Error::Http(response)) => {
            assert_eq!(response.status(), 426, "the lab saw a plain GET");
            let via = response.headers()["server"].to_str().unwrap();
            assert!(via.starts_with("nginx"), "answered through nginx: {via}");
        }
        other => panic!("the upgrade must fail through the stripping proxy: {other:?}"),
    }
    // Without the proxy, the same upgrade works: the proxy is what breaks it.
    assert!(
        connect_ws(server.ws_url("/ws").as_str())
            .await
            .unwrap()
            .is_ok()
    );

    let mut no_fallback = options(url.clone());
    no_fallback.fallback = None;
    let mut stuck = Subscriber::new(no_fallback);
    match next(&mut stuck).await.unwrap() {
        Event::Closed { decision, .. } => assert!(!decision.retries(), "{decision:?}"),
        other => panic!("expected a stop, got {other:?}"),
    }

    let mut subscriber = Subscriber::new(options(url));
    match next(&mut subscriber).await.unwrap() {
        Event::Fallback { status, url } => {
            assert_eq!(status, 426);
            assert_eq!(url, format!("http://{}/sse", proxy.addr()));
        }
        other => panic!("expected the fallback, got {other:?}"),
    }
    assert!(matches!(
        next(&mut subscriber).await.unwrap(),
        Event::Subscribed(_)
    ));
    assert_eq!(subscriber.transport(), Transport::ServerSentEvents);
    // One at a time: each update must come through before the next is published, which
    // fails if nginx buffers the stream (without the lab's `X-Accel-Buffering: no`).
    for offset in 1..=5 {
        publish(&stream, 1);
        let events = until_offset(&mut subscriber, offset).await;
        assert_eq!(updates(&events).len(), 1);
    }

    // A cut, 4 updates meanwhile, and the recovery through nginx.
    subscriber.cut();
    publish(&stream, 4);
    let events = until_offset(&mut subscriber, 9).await;
    let recovered = events.iter().find_map(|e| match e {
        Event::Subscribed(r) => Some(r.clone()),
        _ => None,
    });
    assert!(recovered.is_some_and(|r| r.recovered), "{events:?}");
    let got = updates(&events);
    let offsets: Vec<u64> = got.iter().map(|(u, _)| u.offset).collect();
    assert_eq!(offsets, [6, 7, 8, 9], "every missed update once, in order");
    assert!(got.iter().all(|(_, recovered)| *recovered));
    assert_eq!(subscriber.transport(), Transport::ServerSentEvents);
    let metrics = stream.metrics_text();
    assert!(
        metrics.contains("resilience_fallback_connects_total 2"),
        "{metrics}"
    );
    proxy.stop().await.unwrap();
}

/// Through the forwarding proxy the WebSocket opens (answered through nginx) and the
/// subscriber never falls back.
#[tokio::test]
async fn the_forwarding_proxy_passes_the_upgrade() {
    let Some((_server, stream, proxy)) = behind(ProxyKind::Forward).await else {
        return;
    };
    let url = format!("ws://{}/ws", proxy.addr());
    let (_ws, response) = connect_ws(url.as_str()).await.unwrap().unwrap();
    let via = response.headers()["server"].to_str().unwrap();
    assert!(via.starts_with("nginx"), "answered through nginx: {via}");

    let mut subscriber = Subscriber::new(options(url));
    assert!(matches!(
        next(&mut subscriber).await.unwrap(),
        Event::Subscribed(_)
    ));
    assert_eq!(subscriber.transport(), Transport::WebSocket);
    publish(&stream, 3);
    let events = until_offset(&mut subscriber, 3).await;
    assert_eq!(updates(&events).len(), 3);
    assert!(!events.iter().any(|e| matches!(e, Event::Fallback { .. })));
    let metrics = stream.metrics_text();
    assert!(
        metrics.contains("resilience_fallback_connects_total 0"),
        "{metrics}"
    );
    proxy.stop().await.unwrap();
}

/// The page behind the stripping proxy: its WebSocket never opens, plain HTTP works, so it
/// says so, goes on over Server-Sent Events, and recovers the updates missed during a
/// dropped connection.
#[tokio::test]
async fn the_page_falls_back_behind_the_stripping_proxy() {
    let Some(browser) = Browser::launch().await.unwrap() else {
        return;
    };
    let Some((_server, stream, proxy)) = behind(ProxyKind::Strip).await else {
        return;
    };
    browser
        .goto(&format!(
            "http://{}/?base=100&cap=400&outage=1000",
            proxy.addr()
        ))
        .await
        .unwrap();
    browser
        .wait_until(
            "the page has fallen back and subscribed",
            "return document.getElementById('transport').textContent.includes('Server-Sent Events') \
               && document.getElementById('state').textContent === 'OPEN' \
               && document.getElementById('recovery').textContent.includes('subscribed to epoch');",
        )
        .await
        .unwrap();
    let said = browser
        .eval("return document.getElementById('events').textContent;")
        .await
        .unwrap();
    assert!(
        said.as_str()
            .unwrap()
            .contains("a proxy in between does not pass the upgrade"),
        "{said}"
    );
    publish(&stream, 3);
    browser
        .wait_until(
            "three live updates over SSE",
            "return document.getElementById('count').textContent === '3';",
        )
        .await
        .unwrap();

    browser
        .eval("document.getElementById('drop').click(); return true;")
        .await
        .unwrap();
    browser
        .wait_until(
            "the page is offline",
            "return document.getElementById('events').textContent.includes('outage begins');",
        )
        .await
        .unwrap();
    publish(&stream, 4);
    browser
        .wait_until(
            "the missed updates recovered over SSE",
            "return document.getElementById('count').textContent === '7' \
               && document.getElementById('recovered-count').textContent === '4' \
               && document.getElementById('recovery').textContent.startsWith('recovered: true');",
        )
        .await
        .unwrap();
    browser.close().await.unwrap();
    proxy.stop().await.unwrap();
}

/// `lab-resilience --proxy strip` from the command line: nginx in front on the given port,
/// the page served through it, the upgrade through it refused with 426, the fallback
/// through it accepted from the proxy's own origin (the lab allows it), and nginx gone once
/// the lab has stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_starts_and_stops_its_proxy() {
    if find_nginx().is_none() {
        kit::testing::missing("REQUIRE_PROXY", INSTALL_HINT);
        return;
    }
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = free.local_addr().unwrap();
    drop(free);
    let lab = kit::testing::LabProcess::start(
        env!("CARGO_BIN_EXE_lab-resilience"),
        &[
            "--rate",
            "0",
            "--proxy",
            "strip",
            "--proxy-addr",
            &proxy.to_string(),
        ],
    )
    .await
    .unwrap();
    // The lab prints its address first, then starts nginx: wait until nginx listens.
    kit::testing::within("nginx listening", async {
        while tokio::net::TcpStream::connect(proxy).await.is_err() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    let page = kit::testing::within(
        "the page through nginx",
        reqwest::get(format!("http://{proxy}/")),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["server"]
            .to_str()
            .unwrap()
            .starts_with("nginx")
    );
    match connect_ws(format!("ws://{proxy}/ws").as_str())
        .await
        .unwrap()
    {
        Err(Error::Http(response)) => assert_eq!(response.status(), 426),
        other => panic!("the upgrade must fail through the stripping proxy: {other:?}"),
    }
    let origin = format!("http://{proxy}");
    let sse = kit::testing::within(
        "the fallback through nginx",
        reqwest::Client::new()
            .get(format!("http://{proxy}/sse"))
            .header("origin", &origin)
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(sse.status(), 200, "the proxy's origin must be allowed");
    drop(sse);
    lab.terminate().await.unwrap();
    let (status, _) = lab.wait().await.unwrap();
    assert!(status.success(), "{status}");
    assert!(
        std::net::TcpStream::connect(proxy).is_err(),
        "nginx must stop with the lab"
    );
}
