//! The book: it builds, every chapter of COURSE.md is there, every `{{#include}}` points at
//! real code, every command it shows names a real package, and it loads nothing from the
//! network.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{book_sources, built_book, summary_chapters};
use regex::Regex;

/// Every chapter listed in SUMMARY.md becomes an HTML page with real content.
#[test]
fn every_chapter_is_built() {
    let html = built_book();
    let chapters = summary_chapters();
    // Welcome, the twelve chapters, chapter 9b (scaling out) and three appendices.
    assert_eq!(chapters.len(), 17, "SUMMARY.md lists {chapters:?}");
    for chapter in chapters {
        let page = html.join(Path::new(&chapter).with_extension("html"));
        let text = std::fs::read_to_string(&page)
            .unwrap_or_else(|e| panic!("{} was not built: {e}", page.display()));
        assert!(text.contains("<h1"), "{chapter} has no title");
        let source =
            std::fs::read_to_string(course::book::default_source().join("src").join(&chapter))
                .expect("chapter source");
        assert!(
            source.split_whitespace().count() > 300,
            "{chapter} is a stub ({} words)",
            source.split_whitespace().count()
        );
    }
}

/// Each chapter mirroring a section of the source keeps that section's Vietnamese title.
#[test]
fn chapters_keep_the_vietnamese_title() {
    for chapter in summary_chapters() {
        let source =
            std::fs::read_to_string(course::book::default_source().join("src").join(&chapter))
                .expect("chapter source");
        assert!(
            source.contains(r#"class="vi-subtitle""#),
            "{chapter} has no Vietnamese subtitle"
        );
    }
}

/// `{{#include file:anchor}}` with a wrong path or anchor renders as an empty block without
/// any error from mdBook: check every one points at existing, non-empty code.
#[test]
fn every_include_exists_and_is_not_empty() {
    let include = Regex::new(r"\{\{#(?:include|rustdoc_include)\s+([^}\s]+)\s*\}\}").unwrap();
    let mut checked = 0;
    for md in book_sources() {
        let text = std::fs::read_to_string(&md).unwrap();
        for cap in include.captures_iter(&text) {
            let spec = &cap[1];
            let (file, selector) = match spec.split_once(':') {
                Some((file, selector)) => (file, Some(selector)),
                None => (spec, None),
            };
            let path = md.parent().unwrap().join(file);
            let code = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: includes {file}, which cannot be read: {e}",
                    md.display()
                )
            });
            let selected = select(&code, selector)
                .unwrap_or_else(|why| panic!("{}: {{{{#include {spec}}}}}: {why}", md.display()));
            assert!(
                !selected.trim().is_empty(),
                "{}: {{{{#include {spec}}}}} is empty",
                md.display()
            );
            checked += 1;
        }
    }
    // Every `{{#include` written in the book was understood by the pattern above: a spelling
    // it does not match would otherwise go unchecked, and an empty book would pass.
    let written: usize = book_sources()
        .iter()
        .map(|md| {
            let text = std::fs::read_to_string(md).unwrap();
            text.matches("{{#include").count() + text.matches("{{#rustdoc_include").count()
        })
        .sum();
    assert_eq!(
        checked, written,
        "{written} includes in the book, {checked} checked"
    );
    assert!(
        checked >= 50,
        "only {checked} includes in the book: are the chapters still read?"
    );
}

/// The include check can fail: a missing anchor, an anchor without its end and a line range
/// outside the file are errors, and a present anchor yields its lines without the markers.
#[test]
fn include_selection_rejects_what_mdbook_would_render_empty() {
    let code = "a\n// ANCHOR: here\nb\n// ANCHOR_END: here\n// ANCHOR: open\nc\n";
    assert_eq!(select(code, Some("here")).unwrap(), "b");
    assert!(select(code, Some("nowhere")).is_err());
    assert!(select(code, Some("open")).is_err());
    assert!(select(code, Some("9:12")).is_err());
    assert_eq!(select(code, Some("1:1")).unwrap(), "a");
}

/// What mdBook would include for `selector`: the whole file, a line range, or an anchor.
fn select(code: &str, selector: Option<&str>) -> Result<String, String> {
    let lines: Vec<&str> = code.lines().collect();
    let Some(selector) = selector else {
        return Ok(code.to_string());
    };
    if selector
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == ':')
    {
        let (from, to) = selector.split_once(':').unwrap_or((selector, selector));
        let from = from.parse::<usize>().unwrap_or(1).max(1);
        let to = to.parse::<usize>().unwrap_or(lines.len()).min(lines.len());
        if from > to {
            return Err(format!("line range {selector} is outside the file"));
        }
        return Ok(lines[from - 1..to].join("\n"));
    }
    let start = format!("ANCHOR: {selector}");
    let end = format!("ANCHOR_END: {selector}");
    let begin = lines
        .iter()
        .position(|l| l.trim_end().ends_with(&start))
        .ok_or_else(|| format!("no `{start}` in the file"))?;
    let finish = lines[begin..]
        .iter()
        .position(|l| l.trim_end().ends_with(&end))
        .ok_or_else(|| format!("no `{end}` after the anchor"))?;
    Ok(lines[begin + 1..begin + finish]
        .iter()
        .filter(|l| !l.contains("ANCHOR"))
        .copied()
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The workspace's package names, from `cargo metadata`.
fn workspace_packages() -> BTreeSet<String> {
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(course::workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata is JSON");
    meta["packages"]
        .as_array()
        .expect("a package list")
        .iter()
        .map(|p| p["name"].as_str().expect("a package name").to_string())
        .collect()
}

/// Every `cargo run/test/bench/build -p X` written in the book or the README names a package
/// of this workspace, so a learner never copies a command that cannot work.
#[test]
fn every_cargo_command_names_a_real_package() {
    let packages = workspace_packages();
    let command =
        Regex::new(r"cargo\s+(?:run|test|bench|build|nextest\s+run)\b[^\n`]*?(?:-p|--package)[\s=]+([A-Za-z0-9_-]+)")
            .unwrap();
    let mut files = book_sources();
    files.push(course::workspace_root().join("README.md"));
    let mut seen = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for cap in command.captures_iter(&text) {
            assert!(
                packages.contains(&cap[1]),
                "{} shows `{}`, but there is no package {:?} (packages: {packages:?})",
                file.display(),
                &cap[0],
                &cap[1]
            );
            seen += 1;
        }
    }
    // The README and chapter 0 show at least how to start the course.
    assert!(
        seen >= 2,
        "found only {seen} cargo commands: is the regex still right?"
    );
}

/// Nothing in the built book is fetched from outside the machine: no script, stylesheet,
/// font, image or frame with an absolute http(s) or protocol-relative URL.
#[test]
fn built_book_loads_nothing_from_the_network() {
    let html = built_book();
    let loads =
        Regex::new(r#"(?i)<(?:script|link|img|iframe|source|audio|video)\b[^>]*?\b(?:src|href)\s*=\s*["']?((?:https?:)?//[^"' >]+)"#)
            .unwrap();
    let css_loads =
        Regex::new(r#"(?i)(?:url\(\s*["']?|@import\s+["'])((?:https?:)?//[^"')]+)"#).unwrap();
    let mut pages = 0;
    for entry in walkdir::WalkDir::new(html) {
        let path = entry.unwrap().into_path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let text = match ext {
            "html" | "css" => std::fs::read_to_string(&path).unwrap(),
            _ => continue,
        };
        let pattern = if ext == "html" { &loads } else { &css_loads };
        if let Some(cap) = pattern.captures(&text) {
            // <link rel="canonical"> and similar do not load anything; the tags above do.
            panic!("{} loads {} from the network", path.display(), &cap[1]);
        }
        pages += 1;
    }
    assert!(pages > 16, "only {pages} html/css files in the build");
    // The diagram renderer is served from the book itself (under a content-hashed name).
    let theme: Vec<String> = std::fs::read_dir(html.join("theme"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        theme
            .iter()
            .any(|name| name.starts_with("mermaid-") && name.ends_with(".min.js")),
        "theme/ holds {theme:?}"
    );
}

/// The source's diagrams are all in the book: its six (connection flow, message flow, the
/// gateway, rooms, private messaging, broadcasting), the three state machines of chapter 1,
/// and the lifecycles of chapters 5 and 7.
#[test]
fn the_diagrams_of_the_source_are_in_the_book() {
    let mut diagrams = 0;
    for md in book_sources() {
        diagrams += std::fs::read_to_string(&md)
            .unwrap()
            .matches("```mermaid")
            .count();
    }
    let source =
        std::fs::read_to_string(course::book::default_source().join("theme/mermaid-init.js"))
            .unwrap();
    assert!(source.contains("language-mermaid"));
    assert!(
        diagrams >= 11,
        "only {diagrams} mermaid diagrams in the book"
    );
}
