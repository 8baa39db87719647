//! Serving a lab's browser page.
//!
//! Each lab has one HTML file with its script inline, compiled into the binary with
//! `include_str!`: nothing to build, nothing fetched from a CDN, so the page works offline
//! and `cargo run` is all a learner needs.
//!
//! One convention every lab page follows, so the course's browser tests can check any
//! embedded widget the same way: an element with `id="state"` shows the page's WebSocket
//! `readyState` by name (`CONNECTING`, `OPEN`, `CLOSING`, `CLOSED`).
//!
//! Pages speak English and Vietnamese (the language of the lesson the course follows). A page
//! holds its own translations as JSON (`<script type="application/json" id="translations">`),
//! and [`static_page`] puts the kit's translator (`static/translate.js`) at the top of its
//! `<head>`; it picks the language from `?lang=vi`, from the `/vi/` edition of the course the
//! page is served in, or from the book page that embeds it. [`untranslated`] is how each lab's
//! tests check that every visible string of its page has its translation.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::{MethodRouter, get};
use regex::Regex;

/// The translator every page gets: see its own comment for the rules it applies.
pub const TRANSLATE_JS: &str = include_str!("../static/translate.js");

/// `html` with the translator's script at the top of its `<head>`, before the page's own
/// scripts, which may call its `translate(text)`.
pub fn with_translator(html: &str) -> String {
    let script = format!("\n<script>\n{TRANSLATE_JS}</script>");
    match html.find("<head>") {
        Some(at) => {
            let after = at + "<head>".len();
            format!("{}{script}{}", &html[..after], &html[after..])
        }
        None => format!("{script}\n{html}"),
    }
}

/// A `GET` route answering with `html`, with the translator added ([`with_translator`]).
///
/// The page is sent with `Cache-Control: no-cache`, so a learner who edits a lab and
/// restarts it sees the new page on the next reload.
pub fn static_page<S>(html: &'static str) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    // Built once per router; each response shares the same bytes.
    let page = Bytes::from(with_translator(html));
    get(move || {
        let page = page.clone();
        async move { ([(header::CACHE_CONTROL, "no-cache")], Html(page)).into_response() }
    })
}

/// Why a page's translations cannot be checked, or what they miss.
#[derive(Debug, thiserror::Error)]
pub enum TranslationError {
    /// The page has no `<script type="application/json" id="translations">`.
    #[error("the page has no <script type=\"application/json\" id=\"translations\">")]
    NoTable,
    /// The table is not JSON of the shape `{"vi": {"English": "translation"}}`.
    #[error("the translations are not a JSON object of objects of strings: {0}")]
    Invalid(String),
}

/// The visible strings of `html` that have no translation into `language` in the page's
/// table, and the table's keys that the page no longer uses: both empty when the page is
/// completely translated.
///
/// The strings are what the translator replaces: each text node outside `<script>`, `<style>`,
/// `<code>`, `<pre>`, `<textarea>`, `translate="no"` and `data-i18n` elements (spaces collapsed, entities decoded), the
/// `placeholder`, `title`, `aria-label` and `alt` attributes, and each `data-i18n` key. Text
/// without a letter (numbers, arrows, punctuation) needs no translation. Text the page's script
/// writes at run time is not seen here; the browser tests look at it.
pub fn untranslated(html: &str, language: &str) -> Result<Untranslated, TranslationError> {
    let table = translation_table(html, language)?;
    let wanted = visible_strings(html);
    Ok(Untranslated {
        missing: wanted
            .iter()
            .filter(|s| !table.contains(s.as_str()))
            .cloned()
            .collect(),
        table_size: table.len(),
        strings: wanted.len(),
    })
}

/// What [`untranslated`] found.
#[derive(Debug)]
pub struct Untranslated {
    /// Visible strings without a translation.
    pub missing: Vec<String>,
    /// How many translations the page's table has for the language.
    pub table_size: usize,
    /// How many visible strings the page has.
    pub strings: usize,
}

/// The keys of the page's translation table for `language`.
fn translation_table(html: &str, language: &str) -> Result<BTreeSet<String>, TranslationError> {
    let table =
        Regex::new(r#"(?s)<script type="application/json" id="translations">(.*?)</script>"#)
            .expect("a valid pattern");
    let json = table
        .captures(html)
        .ok_or(TranslationError::NoTable)?
        .get(1)
        .map_or("", |m| m.as_str());
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| TranslationError::Invalid(e.to_string()))?;
    let words = value
        .get(language)
        .and_then(|v| v.as_object())
        .ok_or_else(|| TranslationError::Invalid(format!("no object for {language:?}")))?;
    words
        .iter()
        .map(|(key, text)| match text.as_str() {
            Some(t) if !t.trim().is_empty() => Ok(key.clone()),
            _ => Err(TranslationError::Invalid(format!(
                "the translation of {key:?} is not a non-empty string"
            ))),
        })
        .collect()
}

/// The strings of a page a reader sees before its script runs (see [`untranslated`]).
pub fn visible_strings(html: &str) -> BTreeSet<String> {
    let hidden = Regex::new(
        r"(?s)<!--.*?-->|<script\b.*?</script>|<style\b.*?</style>|<code\b.*?</code>|<pre\b.*?</pre>",
    )
    .expect("a valid pattern");
    // Each hidden part becomes a tag, so the text on either side stays two strings, as it
    // is two text nodes in the browser.
    let html = hidden.replace_all(html, "<hidden>");
    // A textarea's content is what the reader edits, but its labels are read.
    let textarea = Regex::new(r"(?s)(<textarea\b[^>]*>).*?</textarea>").expect("a valid pattern");
    let html = textarea.replace_all(&html, "$1</textarea>");
    let mut found = BTreeSet::new();
    // data-i18n elements: their key is the string; their English content is not looked at.
    let (html, keys) = cut_keyed_elements(&html);
    found.extend(keys);
    let attribute =
        Regex::new(r#"\b(?:placeholder|title|aria-label|alt)="([^"]*)""#).expect("a valid pattern");
    let tag = Regex::new(r"(?s)<[^>]*>").expect("a valid pattern");
    for cap in attribute.captures_iter(&html) {
        insert_text(&mut found, &cap[1]);
    }
    for text in tag.split(&html) {
        insert_text(&mut found, text);
    }
    found
}

/// `html` without the content of its `data-i18n` elements (and their keys) and of its
/// `translate="no"` elements (HTML's own mark for "leave as it is", such as `#state`, whose
/// `readyState` names the tests read). The regex crate
/// cannot match an element up to its own end tag, so the end is found by counting the tags
/// of the same name that open and close inside it.
fn cut_keyed_elements(html: &str) -> (String, Vec<String>) {
    let opening = Regex::new(r#"<(\w+)\b[^>]*\b(?:data-i18n="([^"]+)"|translate="no")[^>]*>"#)
        .expect("a valid pattern");
    let mut out = String::with_capacity(html.len());
    let mut keys = Vec::new();
    let mut rest = html;
    while let Some(cap) = opening.captures(rest) {
        let whole = cap.get(0).expect("group 0 is the match");
        let name = cap[1].to_ascii_lowercase();
        if let Some(key) = cap.get(2) {
            keys.push(key.as_str().to_string());
        }
        out.push_str(&rest[..whole.start()]);
        let inner = &rest[whole.end()..];
        let tags = Regex::new(&format!(r"(?i)<(/?){name}\b[^>]*>")).expect("a valid pattern");
        let mut depth = 1;
        let mut end = inner.len();
        for tag in tags.captures_iter(inner) {
            depth += if tag[1].is_empty() { 1 } else { -1 };
            if depth == 0 {
                end = tag.get(0).expect("group 0 is the match").end();
                break;
            }
        }
        out.push_str("<hidden>");
        rest = &inner[end..];
    }
    out.push_str(rest);
    (out, keys)
}

/// Adds `text`, decoded and with its spaces collapsed, if it has a letter to translate.
fn insert_text(found: &mut BTreeSet<String>, text: &str) {
    let text = decode_entities(text);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().any(char::is_alphabetic) {
        found.insert(text);
    }
}

/// Decodes the character references the lab pages use (`&amp;`, `&rarr;`, `&#39;` ...).
fn decode_entities(text: &str) -> String {
    const NAMED: [(&str, &str); 13] = [
        ("amp", "&"),
        ("lt", "<"),
        ("gt", ">"),
        ("quot", "\""),
        ("apos", "'"),
        ("nbsp", "\u{a0}"),
        ("rarr", "→"),
        ("larr", "←"),
        ("middot", "·"),
        ("hellip", "…"),
        ("mdash", "—"),
        ("ndash", "–"),
        ("times", "×"),
    ];
    let reference = Regex::new(r"&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);").expect("a valid pattern");
    reference
        .replace_all(text, |cap: &regex::Captures<'_>| {
            let name = &cap[1];
            let decoded = if let Some(hex) = name.strip_prefix("#x") {
                u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
            } else if let Some(dec) = name.strip_prefix('#') {
                dec.parse().ok().and_then(char::from_u32)
            } else {
                NAMED
                    .iter()
                    .find(|(n, _)| *n == name)
                    .and_then(|(_, c)| c.chars().next())
            };
            decoded.map_or_else(|| cap[0].to_string(), String::from)
        })
        .into_owned()
}

/// A `GET` route answering with a static asset of the given content type (a script, a
/// stylesheet, an image) embedded in the binary.
pub fn static_asset<S>(content_type: &'static str, bytes: &'static [u8]) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    get(move || async move {
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response()
    })
}
