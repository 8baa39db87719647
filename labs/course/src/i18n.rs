//! The book in more than one language, by the gettext workflow of `mdbook-i18n-helpers`
//! (the one Comprehensive Rust uses for its 21 languages).
//!
//! ```text
//! book/src/*.md ──xgettext──▶ book/po/messages.pot   every message of the English book
//!                             book/po/vi.po          each message with its Vietnamese text
//! book/src + vi.po ──gettext preprocessor──▶ the Vietnamese book, served under /vi/
//! ```
//!
//! A message is a paragraph, a heading, a list item, a table cell, an alt text: the unit a
//! translator translates. Because a translation is tied to its English message and not to a
//! line, an edit of the English text leaves every other translation in place; the edited
//! message shows up as new in `messages.pot`, and `msgmerge` marks it for the translator.
//!
//! The launcher uses the helpers as a library, so a learner needs nothing but cargo. The same
//! files build with a stock `mdbook` and the `mdbook-gettext` binary on `PATH` (the commands
//! are in `book/book.toml`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use mdbook_driver::MDBook;
use mdbook_driver::config::Config;
use mdbook_i18n_helpers::preprocessors::Gettext;
use mdbook_i18n_helpers::renderers::Xgettext;
use polib::catalog::Catalog;

use crate::book::Built;

/// One edition of the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Language {
    /// The language code: `book.language` in `book.toml`, the name of its `.po` file, and
    /// the path segment its edition is served under (`/vi/`).
    pub code: &'static str,
    /// The language's name in itself, as the picker shows it.
    pub name: &'static str,
}

/// The source's language, and the one every edition is translated from.
pub const ENGLISH: Language = Language {
    code: "en",
    name: "English",
};

/// The language of the source lesson the course follows.
pub const VIETNAMESE: Language = Language {
    code: "vi",
    name: "Tiếng Việt",
};

/// The translated editions, each built from `book/po/<code>.po`. Adding a language is one
/// entry here and one `.po` file (and its name in `book/theme/language-picker.js`).
pub const TRANSLATIONS: [Language; 1] = [VIETNAMESE];

/// Finds a translated edition by its code (`--lang vi`).
pub fn translation(code: &str) -> Option<Language> {
    TRANSLATIONS
        .into_iter()
        .find(|language| language.code == code)
}

/// The folder of the catalogs: `book/po`.
pub fn po_dir(source: &Path) -> PathBuf {
    source.join("po")
}

/// Where a translated edition of a book built into `output` goes: a folder named after the
/// language inside the English one, so `/vi/x.html` is the Vietnamese `/x.html` and the
/// picker only has to add or remove the prefix.
pub fn edition_dir(output: &Path, language: Language) -> PathBuf {
    output.join(language.code)
}

/// Builds the English book into `output`, then every translation into its folder inside it.
/// English goes first because mdBook empties its output folder before writing into it.
pub fn build_all(source: &Path, output: &Path) -> anyhow::Result<Vec<(Language, Built)>> {
    let mut built = vec![(ENGLISH, crate::book::build(source, output)?)];
    for language in TRANSLATIONS {
        let edition = build_edition(source, &edition_dir(output, language), language)?;
        built.push((language, edition));
    }
    Ok(built)
}

/// Builds the book at `source` translated into `language` (with `po/<code>.po`) into `output`.
///
/// This is what `MDBOOK_BOOK__LANGUAGE=vi mdbook build` does with `mdbook-gettext` installed:
/// `book.language` tells the gettext preprocessor which catalog to load. Here the preprocessor
/// is the library's own, registered under the name `book.toml` gives it, so it replaces the
/// external command mdBook would otherwise start.
pub fn build_edition(source: &Path, output: &Path, language: Language) -> anyhow::Result<Built> {
    let started = Instant::now();
    let catalog = po_dir(source).join(format!("{}.po", language.code));
    // Without its catalog the preprocessor silently leaves the book in English: say so instead.
    anyhow::ensure!(
        catalog.is_file(),
        "no translation catalog at {}",
        catalog.display()
    );
    check_header(&catalog)?;
    let mut book = MDBook::load(source)
        .with_context(|| format!("loading the book at {}", source.display()))?;
    book.config.book.language = Some(language.code.to_string());
    book.config.build.build_dir = output.to_path_buf();
    // The 404 page links its styles and scripts from the site's root: this edition's.
    book.config
        .set("output.html.site-url", format!("/{}/", language.code))
        .context("setting the edition's site-url")?;
    book.with_preprocessor(Gettext);
    // The quizzes as in the English build: in-process, under the name book.toml gives them.
    // gettext runs first (book.toml), so a translated directive names the Vietnamese file.
    book.with_preprocessor(crate::quiz::QuizPreprocessor);
    book.build().with_context(|| {
        format!(
            "building the {} book into {}",
            language.name,
            output.display()
        )
    })?;
    let html_dir = book.build_dir_for("html");
    anyhow::ensure!(
        html_dir.join("index.html").is_file(),
        "the {} book was built but {} has no index.html",
        language.name,
        html_dir.display()
    );
    Ok(Built {
        html_dir,
        elapsed: started.elapsed(),
    })
}

/// The extractor's line granularity, the same as the documented command's
/// `MDBOOK_OUTPUT='{"xgettext": {"granularity": 0}}'`: 0 gives a message's source as its file
/// without a line number, so moving a paragraph does not change `messages.pot`, editing it does.
const XGETTEXT_GRANULARITY: u32 = 0;

/// Extracts every message of the English book at `source` into `dir/messages.pot`, as
/// `mdbook-xgettext` does, and returns the path of that file.
pub fn extract_messages(source: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let toml = source.join("book.toml");
    let mut config =
        Config::from_disk(&toml).with_context(|| format!("reading {}", toml.display()))?;
    let output = BTreeMap::from([(
        "xgettext",
        BTreeMap::from([("granularity", XGETTEXT_GRANULARITY)]),
    )]);
    // Only the extractor renders (mdBook picks the renderers when it loads the book, hence
    // the config set before): no HTML is written, and the gettext preprocessor, which does
    // not run for the xgettext renderer, leaves the English text as it is.
    config
        .set("output", output)
        .context("setting the extractor as the only renderer")?;
    let mut book = MDBook::load_with_config(source, config)
        .with_context(|| format!("loading the book at {}", source.display()))?;
    book.config.build.build_dir = dir.to_path_buf();
    book.with_renderer(Xgettext);
    // The quiz preprocessor only runs for HTML, so the `{{#quiz ...}}` directives stay
    // messages of their own; registered in-process so mdBook does not start its command to ask.
    book.with_preprocessor(crate::quiz::QuizPreprocessor);
    book.build()
        .with_context(|| format!("extracting the messages into {}", dir.display()))?;
    let pot = dir.join("messages.pot");
    anyhow::ensure!(pot.is_file(), "the extractor wrote no {}", pot.display());
    Ok(pot)
}

/// The header fields polib (the catalog reader of mdbook-gettext) requires: without one of
/// them it panics instead of reporting an error. `msgcat` and `msgmerge` keep the header of
/// their first input, so assembling a catalog from parts can drop them.
const REQUIRED_HEADER: [&str; 9] = [
    "Project-Id-Version",
    "POT-Creation-Date",
    "PO-Revision-Date",
    "Language-Team",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Language",
    "Plural-Forms",
];

/// Checks that the catalog at `path` has every header field [`REQUIRED_HEADER`] lists.
pub fn check_header(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the catalog {}", path.display()))?;
    // The header is the first entry, the one with the empty msgid, up to the first blank line.
    let header = text
        .split("\n\n")
        .find(|entry| entry.lines().any(|line| line == "msgid \"\""))
        .unwrap_or("");
    let missing: Vec<&str> = REQUIRED_HEADER
        .into_iter()
        .filter(|field| !header.contains(&format!("\"{field}:")))
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "the header of {} lacks {missing:?} (copy them from messages.pot's header)",
        path.display()
    );
    Ok(())
}

/// Reads a `.po` or `.pot` catalog.
pub fn read_catalog(path: &Path) -> anyhow::Result<Catalog> {
    check_header(path)?;
    polib::po_file::parse(path)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("reading the catalog {}", path.display()))
}

/// What keeps a translation from being complete.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Gaps {
    /// Messages of the English book with no translation in the catalog (missing, or empty).
    pub untranslated: Vec<String>,
    /// Messages marked fuzzy: `msgmerge` guessed them from a similar old message, and
    /// mdbook-gettext ignores them until a translator has checked them.
    pub fuzzy: Vec<String>,
}

impl Gaps {
    /// True when every message is translated and none is fuzzy.
    pub fn is_empty(&self) -> bool {
        self.untranslated.is_empty() && self.fuzzy.is_empty()
    }
}

/// Compares a translation with the template: every message of `template` must have a
/// translation in `translation` that is neither empty nor fuzzy.
pub fn gaps(template: &Catalog, translation: &Catalog) -> Gaps {
    let mut gaps = Gaps::default();
    for message in template.messages() {
        let id = message.msgid();
        if id.is_empty() {
            continue;
        }
        match translation.find_message(None, id, None) {
            None => gaps.untranslated.push(id.to_string()),
            Some(found) if found.is_fuzzy() => gaps.fuzzy.push(id.to_string()),
            Some(found) if !found.is_translated() => gaps.untranslated.push(id.to_string()),
            Some(_) => {}
        }
    }
    gaps
}
