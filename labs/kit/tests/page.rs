//! A lab page's translations: the translator is added to every page, and the check of a
//! page's table finds each visible string without a translation.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

use kit::page::{untranslated, visible_strings, with_translator};

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<title>Demo lab</title>
<script type="application/json" id="translations">
{"vi": {"Demo lab": "Lab mẫu", "Connect": "Kết nối", "intro": "Trang <em>mẫu</em>.",
        "message to send": "message cần gửi"}}
</script>
</head>
<body>
<h1>Demo lab</h1>
<p data-i18n="intro">A <em>demo</em> page.</p>
<button id="connect">Connect</button>
<button id="close">Close &amp; forget</button>
<input aria-label="message to send" value="Hello">
<textarea aria-label="envelope">{"event": "echo"}</textarea>
<span>state: <span id="state" translate="no">CLOSED</span></span>
<p>Send a <code>Text</code> frame</p>
<code>/ws</code> <pre>GET /ws HTTP/1.1</pre> <span>1000 → 1001</span>
<script>const label = "not seen: written by the script";</script>
</body>
</html>
"#;

/// The visible strings are the text nodes, the labelled attributes and the data-i18n keys;
/// code, scripts, numbers, arrows and `translate="no"` are not among them, and text on each
/// side of inline code is two strings, as it is two text nodes in the browser.
#[test]
fn visible_strings_of_a_page() {
    let strings: Vec<String> = visible_strings(PAGE).into_iter().collect();
    assert_eq!(
        strings,
        [
            "Close & forget",
            "Connect",
            "Demo lab",
            "Send a",
            "envelope",
            "frame",
            "intro",
            "message to send",
            "state:"
        ]
    );
}

/// The check names what the table misses, and nothing else.
#[test]
fn untranslated_strings_are_named() {
    let found = untranslated(PAGE, "vi").unwrap();
    assert_eq!(
        found.missing,
        ["Close & forget", "Send a", "envelope", "frame", "state:"]
    );
    assert_eq!(found.table_size, 4);
    assert!(untranslated(PAGE, "fr").is_err(), "no table for French");
    assert!(untranslated("<p>Hi</p>", "vi").is_err(), "no table at all");
    let broken = PAGE.replace(r#""Connect": "Kết nối""#, r#""Connect": """#);
    assert!(untranslated(&broken, "vi").is_err(), "an empty translation");
}

/// The translator is inlined in a `<script>` element: an end tag spelled anywhere in it
/// (a comment included) would end the script there and show the rest as the page's text.
#[test]
fn the_translator_never_closes_its_script() {
    assert!(!kit::page::TRANSLATE_JS.to_lowercase().contains("</script"));
}

/// The translator goes at the top of the head, before the page's own scripts.
#[test]
fn the_translator_comes_first() {
    let page = with_translator(PAGE);
    let translator = page.find("window.translate = translate").unwrap();
    assert!(page.find("<head>").unwrap() < translator);
    assert!(translator < page.rfind("id=\"translations\"").unwrap());
    assert!(page.ends_with(PAGE.split("<head>").nth(1).unwrap()));
}
