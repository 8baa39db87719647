//! The Vietnamese edition: its catalog is complete and follows the English book, it builds
//! into the same pages with every include and diagram, no English paragraph is left in it,
//! and the launcher serves it under `/vi/` with the labs.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::built_site;
use course::i18n::{self, VIETNAMESE};
use kit::testing::TestServer;
use polib::catalog::Catalog;
use polib::message::Message;
use polib::metadata::CatalogMetadata;
use regex::Regex;

/// `book/po`, where the template and the catalogs are committed.
fn po_dir() -> PathBuf {
    i18n::po_dir(&course::book::default_source())
}

/// A catalog's text without its creation date, which changes with every extraction.
fn without_date(pot: &str) -> String {
    pot.lines()
        .filter(|line| !line.starts_with("\"POT-Creation-Date:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `messages.pot` is what the extractor makes of the English book today: an edit of the
/// English text that was not followed by `mdbook-xgettext` (and a translation) fails here.
#[test]
fn messages_pot_is_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = i18n::extract_messages(&course::book::default_source(), dir.path()).unwrap();
    let fresh = std::fs::read_to_string(fresh).unwrap();
    let committed = std::fs::read_to_string(po_dir().join("messages.pot")).unwrap();
    let (fresh, committed) = (without_date(&fresh), without_date(&committed));
    if fresh != committed {
        let fresh_ids: BTreeSet<&str> = fresh.lines().filter(|l| l.starts_with("msgid")).collect();
        let old_ids: BTreeSet<&str> = committed
            .lines()
            .filter(|l| l.starts_with("msgid"))
            .collect();
        let new: Vec<_> = fresh_ids.difference(&old_ids).take(10).collect();
        let gone: Vec<_> = old_ids.difference(&fresh_ids).take(10).collect();
        panic!(
            "book/po/messages.pot is out of date with the English book: regenerate it with \
             the command in book/book.toml, then msgmerge book/po/vi.po.\n\
             first messages new in the book: {new:#?}\nfirst messages gone from it: {gone:#?}"
        );
    }
    assert!(
        fresh.matches("\nmsgid ").count() > 1000,
        "too few messages extracted: is the book still read?"
    );
}

/// Every message of the English book has a checked Vietnamese translation in `vi.po`: none
/// missing, none empty, none fuzzy.
#[test]
fn vietnamese_catalog_is_complete() {
    let template = i18n::read_catalog(&po_dir().join("messages.pot")).unwrap();
    let translation = i18n::read_catalog(&po_dir().join("vi.po")).unwrap();
    let gaps = i18n::gaps(&template, &translation);
    let total = template.messages().count();
    assert!(
        gaps.is_empty(),
        "book/po/vi.po: {} of {total} messages untranslated, {} fuzzy; the first untranslated: \
         {:#?}; the first fuzzy: {:#?}",
        gaps.untranslated.len(),
        gaps.fuzzy.len(),
        gaps.untranslated.iter().take(5).collect::<Vec<_>>(),
        gaps.fuzzy.iter().take(5).collect::<Vec<_>>(),
    );
}

/// `vi.po` has been merged with the current template: it holds no translation of a message
/// the English book no longer has (`msgmerge` would have made it obsolete), so no translator
/// works on text that is gone.
#[test]
fn vietnamese_catalog_follows_the_template() {
    let template = i18n::read_catalog(&po_dir().join("messages.pot")).unwrap();
    let translation = i18n::read_catalog(&po_dir().join("vi.po")).unwrap();
    let stale: Vec<&str> = translation
        .messages()
        .map(|m| m.msgid())
        .filter(|id| !id.is_empty() && template.find_message(None, id, None).is_none())
        .take(10)
        .collect();
    assert!(
        stale.is_empty(),
        "book/po/vi.po translates messages the book no longer has (run msgmerge, see \
         book/book.toml): {stale:#?}"
    );
}

/// The completeness check can fail: a missing, an empty and a fuzzy translation are each
/// reported, and a translated one is not.
#[test]
fn completeness_check_finds_each_kind_of_gap() {
    let message = |id: &str, text: &str| {
        Message::build_singular()
            .with_msgid(id.to_string())
            .with_msgstr(text.to_string())
            .done()
    };
    let mut template = Catalog::new(CatalogMetadata::new());
    for id in ["translated", "missing", "empty", "fuzzy"] {
        template.append_or_update(message(id, ""));
    }
    let mut translation = Catalog::new(CatalogMetadata::new());
    translation.append_or_update(message("translated", "đã dịch"));
    translation.append_or_update(message("empty", ""));
    let mut fuzzy = message("fuzzy", "đoán");
    polib::message::MessageMutView::flags_mut(&mut fuzzy).add_flag("fuzzy");
    translation.append_or_update(fuzzy);

    let gaps = i18n::gaps(&template, &translation);
    assert_eq!(gaps.untranslated, ["missing", "empty"]);
    assert_eq!(gaps.fuzzy, ["fuzzy"]);
    assert!(!gaps.is_empty());
    assert!(i18n::gaps(&translation, &translation).fuzzy.len() == 1);
}

/// The launcher's build translates in-process: a small book with the same `book.toml`
/// settings and a one-message catalog comes out in Vietnamese, with no `mdbook-gettext`
/// command involved (the preprocessor from book.toml is optional, so without the built-in one
/// the page would silently stay English).
#[test]
fn the_edition_build_translates_with_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path();
    std::fs::create_dir_all(book.join("src")).unwrap();
    std::fs::create_dir_all(book.join("po")).unwrap();
    std::fs::write(
        book.join("book.toml"),
        "[book]\ntitle = \"Demo\"\nlanguage = \"en\"\n\
         [preprocessor.gettext]\ncommand = \"no-such-mdbook-gettext\"\nafter = [\"links\"]\noptional = true\n",
    )
    .unwrap();
    std::fs::write(
        book.join("src/SUMMARY.md"),
        "# Summary\n\n- [The frame](frame.md)\n",
    )
    .unwrap();
    std::fs::write(
        book.join("src/frame.md"),
        "# The frame\n\nA frame carries a message.\n\n```text\nFIN=1 opcode=1\n```\n",
    )
    .unwrap();
    std::fs::write(
        book.join("po/vi.po"),
        "msgid \"\"\nmsgstr \"\"\n\
         \"Project-Id-Version: Demo\\n\"\n\"POT-Creation-Date: \\n\"\n\"PO-Revision-Date: \\n\"\n\
         \"Language-Team: Vietnamese\\n\"\n\"MIME-Version: 1.0\\n\"\n\
         \"Content-Type: text/plain; charset=UTF-8\\n\"\n\"Content-Transfer-Encoding: 8bit\\n\"\n\
         \"Language: vi\\n\"\n\"Plural-Forms: nplurals=1; plural=0;\\n\"\n\n\
         msgid \"The frame\"\nmsgstr \"Frame\"\n\n\
         msgid \"A frame carries a message.\"\nmsgstr \"Một frame mang một message.\"\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let built = i18n::build_edition(book, &out, VIETNAMESE).unwrap();
    let page = std::fs::read_to_string(built.html_dir.join("frame.html")).unwrap();
    assert!(page.contains("Một frame mang một message."), "{page}");
    assert!(page.contains(r#"<html lang="vi""#));
    assert!(page.contains("FIN=1 opcode=1"), "code is left as it is");
    assert!(!page.contains("A frame carries a message."));

    // A catalog whose header lost a field (as msgcat of parts can) is an error, not a panic.
    let po = std::fs::read_to_string(book.join("po/vi.po")).unwrap();
    std::fs::write(
        book.join("po/vi.po"),
        po.replace("\"Plural-Forms: nplurals=1; plural=0;\\n\"\n", ""),
    )
    .unwrap();
    let error = i18n::build_edition(book, &out, VIETNAMESE).unwrap_err();
    assert!(format!("{error:#}").contains("Plural-Forms"), "{error:#}");

    // Without a catalog, the build says so instead of writing an English "translation".
    std::fs::remove_file(book.join("po/vi.po")).unwrap();
    let error = i18n::build_edition(book, &out, VIETNAMESE).unwrap_err();
    assert!(
        format!("{error:#}").contains("no translation catalog"),
        "{error:#}"
    );
}

/// Every HTML page of an edition, relative to its root (the English one leaves out the
/// translated editions' folders inside it).
fn pages(root: &Path) -> BTreeSet<PathBuf> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .map(|p| p.strip_prefix(root).unwrap().to_path_buf())
        .filter(|p| {
            !i18n::TRANSLATIONS
                .iter()
                .any(|language| p.starts_with(language.code))
        })
        .collect()
}

/// The content of a page: mdBook's `<main>`, where the chapter is.
fn main_of(html: &str) -> &str {
    let start = html.find("<main>").unwrap_or(0);
    let end = html[start..]
        .find("</main>")
        .map_or(html.len(), |e| start + e);
    &html[start..end]
}

/// What a translation must keep as it is: code blocks, included code, images, diagrams and
/// embedded labs, counted on one page.
fn kept(html: &str) -> Vec<(&'static str, usize)> {
    let main = main_of(html);
    [
        ("code block", "<pre"),
        ("diagram", r#"class="mermaid""#),
        ("image", "<img"),
        ("embedded lab", "<iframe"),
        ("table", "<table"),
        ("speaker notes", "<details"),
        ("link", "<a "),
    ]
    .into_iter()
    .map(|(what, needle)| (what, main.matches(needle).count()))
    .collect()
}

/// The Vietnamese edition has every page of the English one, each with the same code blocks
/// (every include), diagrams, images, embedded labs, tables and speaker notes, in Vietnamese.
#[test]
fn vietnamese_edition_has_the_same_pages() {
    let english = built_site();
    let vietnamese = i18n::edition_dir(english, VIETNAMESE);
    let (en_pages, vi_pages) = (pages(english), pages(&vietnamese));
    assert!(en_pages.len() >= 17, "English pages: {en_pages:?}");
    assert_eq!(en_pages, vi_pages, "the two editions' pages differ");
    for page in &en_pages {
        let en = std::fs::read_to_string(english.join(page)).unwrap();
        let vi = std::fs::read_to_string(vietnamese.join(page)).unwrap();
        assert!(
            vi.contains(r#"<html lang="vi""#),
            "{} is not marked Vietnamese",
            page.display()
        );
        assert_eq!(
            kept(&en),
            kept(&vi),
            "{}: what translation keeps",
            page.display()
        );
    }
}

/// Letters only Vietnamese uses among the Latin scripts' (its vowels with their marks, đ):
/// a sentence of Vietnamese has some, a sentence of English none.
fn has_vietnamese_letters(text: &str) -> bool {
    text.chars().any(|c| {
        "àáảãạăắằẳẵặâấầẩẫậđèéẻẽẹêếềểễệìíỉĩịòóỏõọôốồổỗộơớờởỡợùúủũụưứừửữựỳýỷỹỵ"
            .contains(c.to_lowercase().next().unwrap_or(c))
    })
}

/// The paragraphs of a page that read as English: prose blocks (paragraphs, list items,
/// headings, table cells, summaries) of six words or more, code taken out, with no letter
/// of Vietnamese. Code, diagrams and scripts are left out before looking.
fn english_paragraphs(html: &str) -> Vec<String> {
    let main = main_of(html);
    let code =
        Regex::new(r"(?s)<pre.*?</pre>|<code.*?</code>|<script.*?</script>|<svg.*?</svg>").unwrap();
    let main = code.replace_all(main, " ");
    let block = Regex::new(r"(?s)<(p|li|h[1-6]|td|th|summary|figcaption|blockquote)\b[^>]*>(.*?)</(?:p|li|h[1-6]|td|th|summary|figcaption|blockquote)>").unwrap();
    let tag = Regex::new(r"<[^>]*>").unwrap();
    let word = Regex::new(r"\b[A-Za-z]{2,}\b").unwrap();
    let mut found = Vec::new();
    for cap in block.captures_iter(&main) {
        let text = tag.replace_all(&cap[2], " ");
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if word.find_iter(&text).count() >= 6 && !has_vietnamese_letters(&text) {
            found.push(text);
        }
    }
    found
}

/// No English paragraph is left in the Vietnamese edition, outside code: a heuristic over the
/// built HTML that an untranslated page, paragraph or list item fails.
#[test]
fn no_english_paragraph_left_in_the_vietnamese_edition() {
    let english = built_site();
    let vietnamese = i18n::edition_dir(english, VIETNAMESE);
    let mut left = Vec::new();
    let mut english_found = 0;
    let cells = Regex::new(r"(?s)<td\b[^>]*>.*?</td>").unwrap();
    for page in pages(&vietnamese) {
        // print.html is every chapter again on one page; 404.html is mdBook's own text,
        // which no source file holds and so no catalog can translate.
        if page == Path::new("print.html") || page == Path::new("404.html") {
            continue;
        }
        let vi = std::fs::read_to_string(vietnamese.join(&page)).unwrap();
        // The glossary's tables pair English terms with Vietnamese ones: their English cells
        // are the content, in both editions. Its prose is checked like every page's.
        let vi = if page == Path::new("appendix/glossary.html") {
            cells.replace_all(&vi, "<td></td>").into_owned()
        } else {
            vi
        };
        for paragraph in english_paragraphs(&vi) {
            left.push(format!("{}: {paragraph}", page.display()));
        }
        let en = std::fs::read_to_string(english.join(&page)).unwrap();
        english_found += english_paragraphs(&en).len();
    }
    // The heuristic sees the English book as English: it would see an untranslated page.
    assert!(
        english_found > 300,
        "the heuristic found only {english_found} English paragraphs in the English book"
    );
    assert!(
        left.is_empty(),
        "{} English paragraphs in the Vietnamese edition, the first ones:\n{}",
        left.len(),
        left.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// The heuristic tells the two languages apart: an English sentence is found, a Vietnamese
/// one, code and short labels are not.
#[test]
fn english_paragraph_heuristic() {
    let page = "<main>\
        <p>The server answers with a status line and three headers.</p>\
        <p>Server trả lời bằng một status line và ba header.</p>\
        <p><code>cargo run --release -p course -- --lang vi now</code></p>\
        <pre><code>Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo= is the answer here</code></pre>\
        <li>Close code 1009</li></main>";
    assert_eq!(
        english_paragraphs(page),
        ["The server answers with a status line and three headers."]
    );
}

/// The launcher serves the Vietnamese edition under `/vi/`: its pages, its 404 page, its
/// labs page and the labs themselves (the same running lab as under `/labs/`).
#[tokio::test]
async fn launcher_serves_the_vietnamese_edition() {
    let labs = course::labs::all();
    let server = TestServer::start(|addr| {
        course::site::app(built_site(), addr.port(), &labs, &kit::Shutdown::new())
    })
    .await
    .unwrap();
    // Redirects are checked, not followed.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| {
        let request = http.get(server.url(path));
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };

    let (status, page) = get("/vi/rooms.html").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"<html lang="vi""#),
        "/vi/rooms.html is not Vietnamese"
    );
    let (status, page) = get("/vi/").await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"<html lang="vi""#));

    let (status, page) = get("/vi/no-such-page.html").await;
    assert_eq!(status, 404);
    assert!(
        page.contains(r#"<html lang="vi""#),
        "the 404 of /vi/ is the English one"
    );
    let (status, page) = get("/no-such-page.html").await;
    assert_eq!(status, 404);
    assert!(page.contains(r#"<html lang="en""#));

    let (status, page) = get("/vi/labs/").await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"<html lang="vi">"#) && page.contains("Các lab"));
    for lab in &labs {
        assert!(
            page.contains(&format!(r#"href="/vi/labs/{}/""#, lab.topic))
                && page.contains(&format!(r#"href="/vi/{}.html""#, lab.chapter)),
            "the Vietnamese labs page does not link {} inside /vi/",
            lab.topic
        );
        let (status, _) = get(&format!("/vi/labs/{}/", lab.topic)).await;
        assert_eq!(status, 200, "/vi/labs/{}/", lab.topic);
    }
    let (status, _) = get("/vi/labs/handshake").await;
    assert_eq!(status, 308, "the bare lab path redirects to its folder");

    // The lab's WebSocket under /vi/ is the lab's own: the upgrade goes through to it.
    kit::testing::connect_ok(server.ws_url("/vi/labs/handshake/ws"))
        .await
        .unwrap();
    server.stop().await.unwrap();
}

/// A headless browser and the launcher's site with every edition; `None` (the test is then
/// skipped, and says so) when no browser is installed.
async fn browser_and_site() -> Option<(kit::browser::Browser, TestServer)> {
    let browser = kit::browser::Browser::launch().await.unwrap()?;
    let labs = course::labs::all();
    let server = TestServer::start(|addr| {
        course::site::app(built_site(), addr.port(), &labs, &kit::Shutdown::new())
    })
    .await
    .unwrap();
    Some((browser, server))
}

/// Opens the picker of the menu bar and picks `code`, then waits for that edition of `path`.
async fn pick(browser: &kit::browser::Browser, code: &str, path: &str, lang: &str) {
    browser
        .wait_for("#language-toggle")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for(&format!("#language-{code}"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_until(
            &format!("the picker opens {path} in {lang}"),
            &format!(
                "return location.pathname === {path:?} && document.documentElement.lang === {lang:?} \
                 && !!document.querySelector('#language-toggle');"
            ),
        )
        .await
        .unwrap();
}

/// The language picker in the menu bar opens the same page in Vietnamese, and back in
/// English; on a page one folder down too.
#[tokio::test]
async fn the_picker_switches_a_page_to_vietnamese_and_back() {
    let Some((browser, server)) = browser_and_site().await else {
        return;
    };
    browser.goto(&server.url("/rooms.html")).await.unwrap();
    pick(&browser, "vi", "/vi/rooms.html", "vi").await;
    let toggle = browser
        .eval("return document.getElementById('language-toggle').textContent;")
        .await
        .unwrap();
    assert_eq!(toggle, "VI", "the picker shows the page's language");
    pick(&browser, "en", "/rooms.html", "en").await;

    browser
        .goto(&server.url("/vi/appendix/glossary.html"))
        .await
        .unwrap();
    pick(&browser, "en", "/appendix/glossary.html", "en").await;
    pick(&browser, "vi", "/vi/appendix/glossary.html", "vi").await;
    browser.close().await.unwrap();
    server.stop().await.unwrap();
}

/// The visible text of a lab page that is still an English string of its table (one with a
/// different Vietnamese translation): empty once the translator has done its work.
const ENGLISH_LEFT: &str = "\
    const t = JSON.parse(document.getElementById('translations').textContent).vi; \
    const left = []; \
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT); \
    while (walk.nextNode()) { \
      const n = walk.currentNode; const k = n.nodeValue.replace(/\\s+/g, ' ').trim(); \
      if (k && Object.hasOwn(t, k) && t[k] !== k \
          && !n.parentElement.closest('script, style, code, pre, textarea, [translate=no]')) \
        left.push(k); \
    } \
    for (const e of document.querySelectorAll('[placeholder], [title], [aria-label]')) \
      for (const a of ['placeholder', 'title', 'aria-label']) { \
        const v = e.getAttribute(a); if (v && Object.hasOwn(t, v) && t[v] !== v) left.push(v); } \
    return left;";

/// Every lab's page under `/vi/` is in Vietnamese once connected (headings, buttons, labels,
/// what its script wrote), and the handshake widget works there: it echoes and shows the
/// server's view, as in English.
#[tokio::test]
async fn lab_pages_work_in_vietnamese_under_vi() {
    let Some((browser, server)) = browser_and_site().await else {
        return;
    };
    for lab in course::labs::all() {
        browser
            .goto(&server.url(&format!("/vi/labs/{}/", lab.topic)))
            .await
            .unwrap();
        browser
            .wait_until(
                &format!("the {} page is connected, in Vietnamese", lab.topic),
                "const s = document.getElementById('state'); \
                 return document.documentElement.lang === 'vi' && !!s && s.textContent === 'OPEN';",
            )
            .await
            .unwrap();
        let left = browser.eval(ENGLISH_LEFT).await.unwrap();
        assert_eq!(
            left,
            serde_json::json!([]),
            "English left on /vi/labs/{}/",
            lab.topic
        );
    }

    // The handshake widget inside the Vietnamese chapter: same lab, Vietnamese page.
    browser
        .goto(&server.url("/vi/connection-flow-in-the-lab.html"))
        .await
        .unwrap();
    let frame = browser
        .client
        .find(fantoccini::Locator::Css(
            "iframe.lab-widget[src$='labs/handshake/']",
        ))
        .await
        .unwrap();
    frame.enter_frame().await.unwrap();
    browser
        .wait_until(
            "the widget connects, in Vietnamese",
            "return document.documentElement.lang === 'vi' \
               && location.pathname === '/vi/labs/handshake/' \
               && document.getElementById('state').textContent === 'OPEN';",
        )
        .await
        .unwrap();
    let button = browser
        .eval("return document.getElementById('send').textContent;")
        .await
        .unwrap();
    assert_eq!(button, "Gửi text");
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
    browser.client.enter_parent_frame().await.unwrap();
    browser.close().await.unwrap();
    server.stop().await.unwrap();
}

/// `?lang=vi` turns a lab page Vietnamese wherever it is served, and a page without it
/// outside `/vi/` stays English.
#[tokio::test]
async fn lang_parameter_chooses_the_lab_page_language() {
    let Some((browser, server)) = browser_and_site().await else {
        return;
    };
    browser
        .goto(&server.url("/labs/rooms/?lang=vi"))
        .await
        .unwrap();
    browser
        .wait_until(
            "the rooms page in Vietnamese",
            "return document.documentElement.lang === 'vi' \
               && document.getElementById('join').textContent === 'Vào';",
        )
        .await
        .unwrap();
    browser.goto(&server.url("/labs/rooms/")).await.unwrap();
    browser
        .wait_until(
            "the rooms page in English",
            "return document.documentElement.lang === 'en' \
               && document.getElementById('join').textContent === 'Join' \
               && document.getElementById('state').textContent === 'OPEN';",
        )
        .await
        .unwrap();
    browser.close().await.unwrap();
    server.stop().await.unwrap();
}

/// A translated heading keeps its English anchor with `{#...}`, which mdBook turns into the
/// heading's id; a page's title must not carry one, or the sidebar would show it: no page of
/// the Vietnamese edition shows the attribute's text.
#[test]
fn no_heading_attribute_shows_in_the_vietnamese_edition() {
    let vietnamese = i18n::edition_dir(built_site(), VIETNAMESE);
    let shown = Regex::new(r"\{#[a-z0-9_-]+\}").unwrap();
    for page in pages(&vietnamese) {
        let html = std::fs::read_to_string(vietnamese.join(&page)).unwrap();
        assert!(
            !shown.is_match(&html),
            "{}: {:?}",
            page.display(),
            shown.find(&html).map(|m| m.as_str())
        );
    }
}
