//! Shared by the launcher's test files: the book, built once per test binary.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The book built into a temporary folder, once for all the tests of one binary.
pub fn built_book() -> &'static Path {
    static BUILT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_dir, html) = BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let built = course::book::build(&course::book::default_source(), dir.path())
            .expect("the book builds");
        (dir, built.html_dir)
    });
    html
}

/// Every markdown file under `book/src`.
pub fn book_sources() -> Vec<PathBuf> {
    walkdir::WalkDir::new(course::book::default_source().join("src"))
        .into_iter()
        .map(|entry| entry.expect("readable book folder").into_path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect()
}

/// The chapters listed in `SUMMARY.md`, as paths relative to `book/src`.
pub fn summary_chapters() -> Vec<String> {
    let summary = std::fs::read_to_string(course::book::default_source().join("src/SUMMARY.md"))
        .expect("SUMMARY.md");
    let link = regex::Regex::new(r"\]\(([^)]+\.md)\)").expect("valid regex");
    link.captures_iter(&summary)
        .map(|c| c[1].to_string())
        .collect()
}

/// Every edition of the book built into a temporary folder (the English book, the
/// translations inside it), once for all the tests of one binary: what the launcher serves.
pub fn built_site() -> &'static Path {
    static BUILT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_dir, html) = BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        course::i18n::build_all(&course::book::default_source(), dir.path())
            .expect("every edition builds");
        let html = course::book::html_dir(dir.path());
        (dir, html)
    });
    html
}
