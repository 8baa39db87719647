//! The course launcher: one command that builds the book and serves it with every lab live
//! on the same origin, so the book's pages can embed working widgets.
//!
//! ```text
//! cargo run --release -p course        # then open http://127.0.0.1:3000
//! ```
//!
//! - [`book`] builds the mdBook in-process with `mdbook-driver` (no `mdbook` binary needed).
//! - [`i18n`] builds the Vietnamese edition too, from `book/po/vi.po` (gettext), into `/vi/`.
//! - [`quiz`] turns the chapters' quiz files into questions answered in the page.
//! - [`times`] words the pages' time lines in the edition's language.
//! - [`labs`] is the one place where each lab is mounted under `/labs/<topic>/`.
//! - [`site`] puts them together in one `axum::Router`: the labs, a page listing them, and
//!   the built book for every other path.
//!
//! Chapter 0 of the book ("Welcome") explains how to use it.

pub mod book;
pub mod i18n;
pub mod labs;
pub mod quiz;
pub mod site;
pub mod times;

use std::path::PathBuf;

/// The root of the repository (where the workspace `Cargo.toml` is), found from this crate's
/// location at compile time: the launcher is meant to be run from a clone with `cargo run`.
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // labs/course → the repository root, two levels up.
    here.ancestors().nth(2).map(PathBuf::from).unwrap_or(here)
}
