//! The page in a real browser (headless Chromium): it connects and shows the stream; after
//! "drop my connection" it reconnects with `since` and shows the missed updates marked as
//! recovered; after the server says 1001 and comes back on the same port with a new epoch,
//! it reconnects and shows `recovered: false`. Its "server metrics" row follows `/metrics`.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use common::publish;
use kit::browser::Browser;
use lab_resilience::{Config, Stream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A lab server on `addr` (ticker and heartbeat off): its stream, its goodbye, and a
/// switch that stops it.
struct Lab {
    addr: SocketAddr,
    stream: Stream,
    shutdown: kit::Shutdown,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn serve_on(addr: SocketAddr) -> Lab {
    let listener = kit::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::for_port(addr.port()).with_heartbeat(None);
    config.rate = 0.0;
    let shutdown = config.gateway.shutdown.clone();
    let (router, stream) = lab_resilience::build(config);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(kit::serve(listener, router, async {
        let _ = stopped.await;
    }));
    Lab {
        addr,
        stream,
        shutdown,
        stop,
        task,
    }
}

/// The page follows the stream through a dropped connection (recovered: true, the missed
/// updates marked) and through a restart of the server (1001, then recovered: false).
#[tokio::test]
async fn page_recovers_after_a_drop_and_reports_a_restart() {
    let Some(browser) = Browser::launch().await.unwrap() else {
        return;
    };
    let lab = serve_on("127.0.0.1:0".parse().unwrap()).await;
    let addr = lab.addr;
    browser
        .goto(&format!("http://{addr}/?base=100&cap=400&outage=1000"))
        .await
        .unwrap();
    browser
        .wait_until(
            "the page is subscribed",
            "return document.getElementById('state').textContent === 'OPEN' \
               && document.getElementById('recovery').textContent.includes('subscribed to epoch');",
        )
        .await
        .unwrap();
    publish(&lab.stream, 3);
    browser
        .wait_until(
            "three live updates",
            "return document.getElementById('count').textContent === '3';",
        )
        .await
        .unwrap();

    // A dropped connection: 4 updates are published during the outage.
    browser
        .eval("document.getElementById('drop').click(); return true;")
        .await
        .unwrap();
    browser
        .wait_until(
            "the outage has begun",
            "return document.getElementById('state').textContent === 'CLOSED';",
        )
        .await
        .unwrap();
    publish(&lab.stream, 4);
    browser
        .wait_until(
            "the missed updates come back, marked",
            "return document.getElementById('recovery').textContent.includes('recovered: true, 4 missed') \
               && document.querySelectorAll('#stream .recovered').length === 4 \
               && document.getElementById('count').textContent === '7' \
               && document.getElementById('events').textContent.includes('reconnecting: attempt 1');",
        )
        .await
        .unwrap();
    browser
        .wait_until(
            "the metrics row counts the reconnection and its recovery",
            "return document.getElementById('m-connects').textContent === '2' \
               && document.getElementById('m-reconnects').textContent === '1' \
               && document.getElementById('m-recovered').textContent === '1' \
               && document.getElementById('m-open').textContent === '1';",
        )
        .await
        .unwrap();

    // A restart: goodbye with 1001, then a new server (a new epoch) on the same port.
    lab.shutdown
        .going_away(kit::shutdown::GOODBYE_DEADLINE)
        .await;
    let _ = lab.stop.send(());
    kit::testing::within("the first server's end", lab.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let again = serve_on(addr).await;
    browser
        .wait_until(
            "the page is told it could not recover",
            "return document.getElementById('recovery').textContent.includes('recovered: false') \
               && document.getElementById('recovery').textContent.includes('another epoch') \
               && document.getElementById('events').textContent.includes('closed: 1001') \
               && document.getElementById('state').textContent === 'OPEN';",
        )
        .await
        .unwrap();
    publish(&again.stream, 1);
    browser
        .wait_until(
            "the new epoch's first update",
            "return document.getElementById('count').textContent === '8';",
        )
        .await
        .unwrap();
    browser.close().await.unwrap();
}

/// The page's own heartbeat: a server that freezes (SIGSTOP: the TCP connection stays up,
/// nothing comes through it, no close ever arrives) is presumed dead after the page's
/// silence limit; the page gives the connection up, reconnects, and once the server thaws
/// recovers what it missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_notices_a_frozen_server_and_recovers_after_it_thaws() {
    let Some(browser) = Browser::launch().await.unwrap() else {
        return;
    };
    let lab =
        kit::testing::LabProcess::start(env!("CARGO_BIN_EXE_lab-resilience"), &["--rate", "10"])
            .await
            .unwrap();
    browser
        .goto(&format!(
            "http://{}/?base=100&cap=400&silence=1500&ping=500",
            lab.addr
        ))
        .await
        .unwrap();
    browser
        .wait_until(
            "live updates",
            "return document.getElementById('state').textContent === 'OPEN' \
               && Number(document.getElementById('count').textContent) >= 3;",
        )
        .await
        .unwrap();
    lab.signal("STOP").await.unwrap();
    browser
        .wait_until(
            "the silence noticed",
            "return document.getElementById('events').textContent.includes('silent for 1.5 s: presumed dead');",
        )
        .await
        .unwrap();
    lab.signal("CONT").await.unwrap();
    browser
        .wait_until(
            "the recovery after the thaw",
            "return document.getElementById('recovery').textContent.startsWith('recovered: true');",
        )
        .await
        .unwrap();
    browser.close().await.unwrap();
    lab.terminate().await.unwrap();
}

/// The page's server-side buttons: "kill my connection" (no close frame: the page sees
/// 1006, reconnects and recovers) and "restart the stream" (1012, a new epoch, recovered:
/// false).
#[tokio::test]
async fn page_buttons_kill_and_restart() {
    let Some(browser) = Browser::launch().await.unwrap() else {
        return;
    };
    let lab = serve_on("127.0.0.1:0".parse().unwrap()).await;
    browser
        .goto(&format!("http://{}/?base=100&cap=400", lab.addr))
        .await
        .unwrap();
    browser
        .wait_until(
            "the page is subscribed",
            "return document.getElementById('state').textContent === 'OPEN';",
        )
        .await
        .unwrap();
    publish(&lab.stream, 2);
    browser
        .wait_until(
            "two updates",
            "return document.getElementById('count').textContent === '2';",
        )
        .await
        .unwrap();
    browser
        .eval("document.getElementById('kill').click(); return true;")
        .await
        .unwrap();
    browser
        .wait_until(
            "the kill seen as 1006 and the page back",
            "return document.getElementById('events').textContent.includes('closed: 1006') \
               && document.getElementById('recovery').textContent.startsWith('recovered: true') \
               && document.getElementById('state').textContent === 'OPEN';",
        )
        .await
        .unwrap();
    browser
        .eval("document.getElementById('restart').click(); return true;")
        .await
        .unwrap();
    browser
        .wait_until(
            "the restart seen as 1012, then recovered: false",
            "return document.getElementById('events').textContent.includes('closed: 1012') \
               && document.getElementById('recovery').textContent.includes('another epoch');",
        )
        .await
        .unwrap();
    browser.close().await.unwrap();
    let _ = lab.stop.send(());
}
