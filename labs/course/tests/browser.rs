//! The course in a real browser (headless Chromium): pages load, diagrams become SVG,
//! search works, and nothing is fetched from outside the machine.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use common::built_book;
use kit::browser::Browser;
use kit::testing::TestServer;

/// The course's labs, named here rather than taken from `labs::all()`: a lab missing from
/// the launcher fails the tests that visit them all, instead of being skipped by them.
const TOPICS: [&str; 7] = [
    "handshake",
    "gateway",
    "rooms",
    "private",
    "broadcast",
    "resilience",
    "scale",
];

/// A headless browser and the course site (the built book, every lab mounted) on a free
/// port; `None` when no browser is installed (the test is then skipped, and says so).
async fn browser_and_site() -> Option<(Browser, TestServer)> {
    let browser = Browser::launch().await.unwrap()?;
    let labs = course::labs::all();
    let server = TestServer::start(|addr| {
        course::site::app(built_book(), addr.port(), &labs, &kit::Shutdown::new())
    })
    .await
    .unwrap();
    Some((browser, server))
}

/// A chapter's mermaid diagrams are rendered to SVG by the committed script, and every
/// resource the page loaded came from the course's own origin.
#[tokio::test]
async fn diagrams_render_offline() {
    let Some((browser, server)) = browser_and_site().await else {
        return;
    };

    browser
        .goto(&server.url("/what-is-websocket-three-state-machines.html"))
        .await
        .unwrap();
    browser.wait_for("pre.mermaid svg").await.unwrap();
    browser
        .wait_until(
            "every diagram of the chapter is an SVG",
            "const d = document.querySelectorAll('pre.mermaid'); \
             return d.length >= 3 && [...d].every(e => e.querySelector('svg'));",
        )
        .await
        .unwrap();

    let foreign = browser
        .eval(
            "return performance.getEntriesByType('resource') \
               .map(e => e.name).filter(n => !n.startsWith(location.origin));",
        )
        .await
        .unwrap();
    assert_eq!(foreign, serde_json::json!([]), "resources from elsewhere");
    browser.close().await.unwrap();
    server.stop().await.unwrap();
}

/// The search box finds the handshake chapter.
#[tokio::test]
async fn search_finds_handshake() {
    let Some((browser, server)) = browser_and_site().await else {
        return;
    };

    // As a reader does: open the search bar with its button, type the word.
    browser.goto(&server.url("/index.html")).await.unwrap();
    browser
        .wait_for("#mdbook-search-toggle")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let bar = browser.wait_for("#mdbook-searchbar").await.unwrap();
    bar.send_keys("handshake").await.unwrap();
    browser
        .wait_for("#mdbook-searchresults li a")
        .await
        .unwrap();
    let hits = browser
        .eval(
            "return [...document.querySelectorAll('#mdbook-searchresults li a')] \
               .map(a => a.getAttribute('href'));",
        )
        .await
        .unwrap();
    let hits: Vec<String> = serde_json::from_value(hits).unwrap();
    assert!(
        hits.iter().any(|h| h.starts_with("connection-flow.html")),
        "search results for handshake: {hits:?}"
    );
    browser.close().await.unwrap();
    server.stop().await.unwrap();
}

/// The handshake lab works inside the course, on the book's origin (the axum mount): the
/// page connects, echoes, and shows the server's view.
#[tokio::test]
async fn handshake_lab_works_inside_the_course() {
    let Some((browser, server)) = browser_and_site().await else {
        return;
    };
    browser.goto(&server.url("/labs/handshake/")).await.unwrap();
    browser
        .wait_until(
            "the page is connected",
            "return document.getElementById('state').textContent === 'OPEN';",
        )
        .await
        .unwrap();
    browser
        .wait_for("#send")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_until(
            "the echo and the server's annotated frames",
            "return document.getElementById('browser-log').textContent.includes('received text: \"Hello\"') \
                && document.getElementById('server-log').textContent.includes('Masking-key');",
        )
        .await
        .unwrap();
    browser.close().await.unwrap();
    server.stop().await.unwrap();
}

/// Every lab's chapter embeds its live widget (`<iframe class="lab-widget">`) on the page the
/// lab names, and the widget loads its lab and connects, from the book's own page.
#[tokio::test]
async fn chapter_widgets_connect() {
    let Some((browser, server)) = browser_and_site().await else {
        return;
    };
    let mut checked = std::collections::BTreeSet::new();
    for lab in &course::labs::all() {
        let chapter = server.url(&format!("/{}.html", lab.widget_page));
        browser.goto(&chapter).await.unwrap();
        let css = format!("iframe.lab-widget[src$='labs/{}/']", lab.topic);
        let frame = browser
            .client
            .find(fantoccini::Locator::Css(&css))
            .await
            .unwrap_or_else(|_| panic!("{chapter} does not embed the {} lab ({css})", lab.topic));
        frame.enter_frame().await.unwrap();
        browser
            .wait_until(
                &format!("the {} widget connects inside {chapter}", lab.topic),
                "const s = document.getElementById('state'); return !!s && s.textContent === 'OPEN';",
            )
            .await
            .unwrap();
        browser.client.enter_parent_frame().await.unwrap();
        assert!(checked.insert(lab.topic), "{} listed twice", lab.topic);
    }
    assert_eq!(checked, TOPICS.into(), "every lab's widget checked");
    browser.close().await.unwrap();
    server.stop().await.unwrap();
}

/// Opening any page leaves the reader at its top: no embedded widget takes focus or
/// scrolls its host page, even once it has connected and filled its logs. (The handshake
/// widget once used `scrollIntoView` on its log lines, which also scrolls the book, and
/// chapter 4 opened about 8 000 px down.) And no page is wider than a 1280 px window: a wide
/// table scrolls inside itself, never the page sideways, and every diagram fits its column.
#[tokio::test]
async fn chapters_open_at_the_top() {
    let Some((browser, server)) = browser_and_site().await else {
        return;
    };
    let mut widgets = 0;
    let mut too_wide = Vec::new();
    for chapter in common::summary_chapters() {
        let page = server.url(&format!("/{}", chapter.replace(".md", ".html")));
        browser.goto(&page).await.unwrap();
        let count = browser
            .eval("return document.querySelectorAll('iframe.lab-widget').length;")
            .await
            .unwrap()
            .as_u64()
            .unwrap();
        // Each widget is connected and has written to the page (its logs, its state) before
        // the position is read: that is when a widget that scrolls would have done it.
        browser
            .wait_until(
                &format!("every widget of {page} connects and logs"),
                "return [...document.querySelectorAll('iframe.lab-widget')].every(f => { \
                   const d = f.contentDocument; const s = d && d.getElementById('state'); \
                   return !!s && s.textContent === 'OPEN' \
                     && d.body.innerText.length > 200; });",
            )
            .await
            .unwrap();
        // Give the widgets' first messages time to arrive, measured in the page's own time.
        browser
            .eval("await new Promise(r => setTimeout(r, 300)); return true;")
            .await
            .unwrap();
        let at = browser
            .eval(
                "return { y: window.scrollY, \
                   focus: document.activeElement ? document.activeElement.tagName : null };",
            )
            .await
            .unwrap();
        assert_eq!(at["y"], 0, "{page} scrolled itself: {at}");
        assert_ne!(
            at["focus"], "IFRAME",
            "{page}: a widget took the focus: {at}"
        );
        // Nothing scrolls sideways: not the page, not the content column (mdBook's `.content`
        // scrolls on its own when something inside it is too wide), and no table is wider
        // than the text column. Code blocks may scroll inside themselves; tables may not hide
        // columns.
        let width = browser
            .eval(
                "const main = document.querySelector('main'); \
                 const column = main.getBoundingClientRect().width; \
                 return { window: window.innerWidth, \
                   scrolls: [document.documentElement, document.querySelector('.content'), main] \
                     .filter(e => e && e.scrollWidth > e.clientWidth + 1) \
                     .map(e => e.tagName + '.' + e.className), \
                   tables: [...main.querySelectorAll('table')] \
                     .filter(t => t.getBoundingClientRect().width > column + 1) \
                     .map(t => Math.round(t.getBoundingClientRect().width) + ' px: ' \
                       + t.rows[0].textContent.trim().replace(/\\s+/g, ' ').slice(0, 60)) };",
            )
            .await
            .unwrap();
        assert!(
            width["window"].as_u64().unwrap() <= 1280,
            "the browser window is wider than the 1280 px this checks: {width}"
        );
        if width["scrolls"] != serde_json::json!([]) || width["tables"] != serde_json::json!([]) {
            too_wide.push(format!("{page}: {width}"));
        }
        // Every diagram is drawn, and drawn whole: no SVG wider than the column it sits in.
        browser
            .wait_until(
                &format!("the diagrams of {page} are drawn and fit the page"),
                "const main = document.querySelector('main').getBoundingClientRect(); \
                 return [...document.querySelectorAll('pre.mermaid')].every(d => { \
                   const svg = d.querySelector('svg'); if (!svg) return false; \
                   const r = svg.getBoundingClientRect(); \
                   return r.width > 0 && r.left >= main.left - 1 && r.right <= main.right + 1; });",
            )
            .await
            .unwrap();
        widgets += count;
    }
    assert!(
        too_wide.is_empty(),
        "pages wider than a 1280 px window:\n{}",
        too_wide.join("\n")
    );
    assert!(
        widgets >= course::labs::all().len() as u64,
        "only {widgets} widgets seen across the chapters"
    );
    browser.close().await.unwrap();
    server.stop().await.unwrap();
}

/// A reader answers a chapter's questions in the page: a wrong option says so and shows the
/// explanation, the right one says "Correct.", and a typed short answer is accepted whatever
/// its case.
#[tokio::test]
async fn a_quiz_is_answered_in_the_page() {
    let Some((browser, server)) = browser_and_site().await else {
        return;
    };
    browser
        .goto(&server.url("/connection-flow-exercises.html"))
        .await
        .unwrap();
    browser.wait_for("form.quiz-question").await.unwrap();
    // The first question is a multiple choice: pick a wrong option, check, then the right one.
    let first = "document.querySelector('form.quiz-question')";
    let outcome = |pick: &str| {
        format!(
            "const f = {first}; f.querySelector('input[type=radio]{pick}').click(); \
             f.querySelector('button').click(); \
             return {{ result: f.querySelector('.quiz-result').textContent, \
               explained: !f.querySelector('.quiz-explanation').hidden }};"
        )
    };
    let wrong = browser
        .eval(&outcome(":not([data-correct])"))
        .await
        .unwrap();
    assert!(
        wrong["result"].as_str().unwrap().starts_with("Not quite"),
        "a wrong answer: {wrong}"
    );
    assert_eq!(
        wrong["explained"], true,
        "the explanation after a wrong answer"
    );
    let right = browser.eval(&outcome("[data-correct]")).await.unwrap();
    assert_eq!(right["result"], "Correct.", "the right answer: {right}");
    // A short answer, typed as a reader would, in another case than the file's.
    let field = browser
        .wait_for("form.quiz-question[data-kind=short] input.quiz-text")
        .await
        .unwrap();
    field.send_keys(" 101 Switching Protocols ").await.unwrap();
    browser
        .eval(
            "document.querySelector('form.quiz-question[data-kind=short] button').click(); \
             return true;",
        )
        .await
        .unwrap();
    browser
        .wait_until(
            "the short answer is accepted",
            "const f = document.querySelector('form.quiz-question[data-kind=short]'); \
             return f.querySelector('.quiz-result').textContent === 'Correct.' \
               && !f.querySelector('.quiz-explanation').hidden;",
        )
        .await
        .unwrap();
    // Checking did not reload or scroll the page away from the question.
    let still = browser.eval("return location.pathname;").await.unwrap();
    assert_eq!(still, "/connection-flow-exercises.html");
    browser.close().await.unwrap();
    server.stop().await.unwrap();
}
