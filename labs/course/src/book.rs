//! Building the book in-process.
//!
//! `mdbook-driver` is the library inside the `mdbook` command: loading `book/book.toml`,
//! running the preprocessors (`{{#include}}` is one) and rendering HTML with search. Using
//! it here means a learner needs nothing but cargo to read the course.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use mdbook_driver::MDBook;

use crate::workspace_root;

/// The book's source folder in this repository (`book/`).
pub fn default_source() -> PathBuf {
    workspace_root().join("book")
}

/// Where the launcher writes the built book: under cargo's `target/`, so a `git status`
/// stays clean and `cargo clean` removes it.
pub fn default_output() -> PathBuf {
    workspace_root().join("target").join("course-book")
}

/// Where the HTML of a book built into `output` is. mdBook writes straight into the build
/// folder when the book has a single renderer, as ours does (HTML only).
pub fn html_dir(output: &Path) -> PathBuf {
    output.to_path_buf()
}

/// What a build produced.
#[derive(Debug)]
pub struct Built {
    /// The folder of HTML to serve (it holds `index.html`).
    pub html_dir: PathBuf,
    /// How long the build took, reported to the learner.
    pub elapsed: Duration,
}

/// Builds the book at `source` (a folder with `book.toml`) into `output`.
pub fn build(source: &Path, output: &Path) -> anyhow::Result<Built> {
    let started = Instant::now();
    let mut book = MDBook::load(source)
        .with_context(|| format!("loading the book at {}", source.display()))?;
    // An absolute build-dir overrides book.toml's, which points inside the source tree for
    // the benefit of a stock `mdbook serve book`.
    book.config.build.build_dir = output.to_path_buf();
    // book.toml names the quiz preprocessor as a command for a stock mdbook; here the same
    // code runs in-process, under the same name, replacing the command.
    book.with_preprocessor(crate::quiz::QuizPreprocessor);
    book.build()
        .with_context(|| format!("building the book into {}", output.display()))?;
    let html_dir = book.build_dir_for("html");
    debug_assert_eq!(html_dir, self::html_dir(output));
    anyhow::ensure!(
        html_dir.join("index.html").is_file(),
        "the book was built but {} has no index.html",
        html_dir.display()
    );
    Ok(Built {
        html_dir,
        elapsed: started.elapsed(),
    })
}
