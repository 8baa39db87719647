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

/// Every page listed in SUMMARY.md becomes an HTML page with real content (its words with
/// those of the questions it includes: a chapter's last page may be mostly its quiz).
#[test]
fn every_chapter_is_built() {
    let html = built_book();
    let chapters = summary_chapters();
    // Welcome, the twelve chapters and chapter 9b (scaling out), each long one split into
    // pages of one idea, and four appendices.
    assert!(
        chapters.len() >= 90,
        "SUMMARY.md lists only {} pages: {chapters:?}",
        chapters.len()
    );
    for chapter in chapters {
        let page = html.join(Path::new(&chapter).with_extension("html"));
        let text = std::fs::read_to_string(&page)
            .unwrap_or_else(|e| panic!("{} was not built: {e}", page.display()));
        assert!(text.contains("<h1"), "{chapter} has no title");
        let source = page_source(&chapter);
        let words = source.split_whitespace().count()
            + quizzes_of(&source)
                .iter()
                .map(|q| {
                    std::fs::read_to_string(q)
                        .unwrap()
                        .split_whitespace()
                        .count()
                })
                .sum::<usize>();
        assert!(words > 300, "{chapter} is a stub ({words} words)");
    }
}

/// No page of the book is a long article any more: each is at most about 1 500 words of
/// source (the welcome page, which also lays out the whole course, is the longest).
#[test]
fn pages_teach_one_idea() {
    for chapter in summary_chapters() {
        if chapter.starts_with("appendix/") {
            continue; // reference pages, looked up rather than read in order
        }
        let words = page_source(&chapter).split_whitespace().count();
        assert!(words <= 1_850, "{chapter} has {words} words: split it");
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

/// The Markdown source of a page listed in SUMMARY.md.
fn page_source(chapter: &str) -> String {
    std::fs::read_to_string(course::book::default_source().join("src").join(chapter))
        .unwrap_or_else(|e| panic!("{chapter}: {e}"))
}

/// The quiz files a page includes with `{{#quiz path}}`, as paths.
fn quizzes_of(source: &str) -> Vec<std::path::PathBuf> {
    let quiz = Regex::new(r"\{\{#quiz\s+([^}\s]+)\s*\}\}").unwrap();
    let src = course::book::default_source().join("src");
    quiz.captures_iter(source)
        .map(|c| src.join(&c[1]))
        .collect()
}

/// A page's stated time: `(total, reading, lab, exercises)` from its `<p class="duration">`.
fn duration_of(chapter: &str) -> (u64, u64, u64, u64) {
    let re = Regex::new(
        r#"<p class="duration" data-minutes="(\d+)" data-reading="(\d+)" data-lab="(\d+)" data-exercises="(\d+)">"#,
    )
    .unwrap();
    let source = page_source(chapter);
    let cap = re
        .captures(&source)
        .unwrap_or_else(|| panic!("{chapter} does not say how long it takes"));
    let n = |i: usize| cap[i].parse::<u64>().unwrap();
    (n(1), n(2), n(3), n(4))
}

/// A `data-minutes` total written on a page (`chapter-total`, `course-total`).
fn total_on(chapter: &str, class: &str) -> Option<u64> {
    let re = Regex::new(&format!(r#"<p class="{class}" data-minutes="(\d+)">"#)).unwrap();
    re.captures(&page_source(chapter))
        .map(|c| c[1].parse().unwrap())
}

/// The chapters: pages of SUMMARY.md with a list of segments under them, and each one's
/// segments in the order SUMMARY.md lists them.
fn chapters_and_segments() -> Vec<(String, Vec<String>)> {
    let summary =
        std::fs::read_to_string(course::book::default_source().join("src/SUMMARY.md")).unwrap();
    let entry = Regex::new(r"^(\s*)- \[[^\]]*\]\(([^)]+\.md)\)").unwrap();
    let mut chapters: Vec<(String, usize, Vec<String>)> = Vec::new();
    for line in summary.lines() {
        let Some(cap) = entry.captures(line) else {
            continue;
        };
        let indent = cap[1].len();
        let page = cap[2].to_string();
        if let Some(parent) = chapters
            .iter_mut()
            .rev()
            .find(|(_, level, _)| *level < indent)
            .filter(|_| indent > 0)
        {
            // A segment of the nearest chapter above it; a nested chapter (9b) with its own
            // segments is both.
            if total_on(&page, "chapter-total").is_none() {
                parent.2.push(page);
                continue;
            }
        }
        chapters.push((page, indent, Vec::new()));
    }
    chapters
        .into_iter()
        .filter(|(page, _, _)| total_on(page, "chapter-total").is_some())
        .map(|(page, _, segments)| (page, segments))
        .collect()
}

/// Every page says how long it takes, and its parts (reading, lab, exercises) add up.
#[test]
fn every_page_has_a_duration() {
    for chapter in summary_chapters() {
        let (total, reading, lab, exercises) = duration_of(&chapter);
        assert_eq!(
            total,
            reading + lab + exercises,
            "{chapter}: the parts of its time do not add up"
        );
        assert!(reading > 0, "{chapter} takes no time to read?");
    }
}

/// Each chapter's first page lists its segments, as SUMMARY.md does, with each one's own
/// time, and its total is its own time plus theirs; the welcome page's total is the sum of
/// every page outside the appendices.
#[test]
fn chapter_times_add_up_to_their_segments() {
    let row = Regex::new(r"(?m)^\| \[[^\]]*\]\(([^)]+\.md)\) \| (\d+) min \|$").unwrap();
    let chapters = chapters_and_segments();
    assert_eq!(chapters.len(), 12, "chapters with segments: {chapters:?}");
    for (chapter, segments) in &chapters {
        let source = page_source(chapter);
        let rows: Vec<(String, u64)> = row
            .captures_iter(&source)
            .map(|c| (c[1].to_string(), c[2].parse().unwrap()))
            .collect();
        let listed: Vec<&String> = rows.iter().map(|(page, _)| page).collect();
        assert_eq!(
            listed,
            segments.iter().collect::<Vec<_>>(),
            "{chapter}'s segments differ from SUMMARY.md's"
        );
        for (page, minutes) in &rows {
            assert_eq!(
                *minutes,
                duration_of(page).0,
                "{chapter} gives {page} a time its page does not say"
            );
        }
        let sum = duration_of(chapter).0 + rows.iter().map(|(_, m)| m).sum::<u64>();
        assert_eq!(
            total_on(chapter, "chapter-total"),
            Some(sum),
            "{chapter}'s total is not the sum of its segments"
        );
    }
    let course: u64 = summary_chapters()
        .iter()
        .filter(|page| !page.starts_with("appendix/"))
        .map(|page| duration_of(page).0)
        .sum();
    assert_eq!(
        total_on("welcome.md", "course-total"),
        Some(course),
        "the welcome page's total for the course"
    );
}

/// Every chapter ends with at least five questions, of both kinds, that validate (a prompt,
/// an answer, distractors for a multiple choice, an explanation each); the last chapter too;
/// and every quiz file in `book/quizzes` belongs to one chapter.
#[test]
fn every_chapter_has_a_quiz_of_five() {
    let mut chapters: Vec<(String, Vec<String>)> = chapters_and_segments();
    chapters.push(("summary.md".to_string(), Vec::new()));
    let mut used = BTreeSet::new();
    let mut questions = 0;
    for (chapter, segments) in &chapters {
        let pages: Vec<&String> = std::iter::once(chapter).chain(segments).collect();
        let last = pages.last().unwrap();
        let quizzes: Vec<_> = pages
            .iter()
            .flat_map(|page| quizzes_of(&page_source(page)))
            .collect();
        assert_eq!(quizzes.len(), 1, "{chapter} should have one quiz");
        assert!(
            !quizzes_of(&page_source(last)).is_empty(),
            "{chapter}: the quiz is not on its last page, {last}"
        );
        let quiz = course::quiz::Quiz::load(&quizzes[0]).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            quiz.questions.len() >= 5,
            "{chapter}: only {} questions",
            quiz.questions.len()
        );
        use course::quiz::Kind;
        for kind in [Kind::MultipleChoice, Kind::ShortAnswer] {
            assert!(
                quiz.questions.iter().any(|q| q.kind == kind),
                "{chapter} has no {kind:?} question"
            );
        }
        questions += quiz.questions.len();
        assert!(used.insert(quizzes[0].canonicalize().unwrap()));
    }
    let files: BTreeSet<_> = std::fs::read_dir(course::book::default_source().join("quizzes"))
        .unwrap()
        .map(|e| e.unwrap().path().canonicalize().unwrap())
        // quizzes/vi/ holds the Vietnamese edition's (every_quiz_has_a_vietnamese_twin).
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    assert_eq!(files, used, "quiz files that no chapter includes");
    assert!(questions >= 65, "{questions} questions in the book");
}

/// The quiz reader refuses what would leave a reader without an answer or an explanation.
#[test]
fn quiz_validation_rejects_incomplete_questions() {
    let load = |text: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.toml");
        std::fs::write(&path, text).unwrap();
        course::quiz::Quiz::load(&path).map(|q| q.questions.len())
    };
    let good = r#"
[[questions]]
type = "MultipleChoice"
prompt.prompt = "Which side masks?"
answer.answer = "the client"
prompt.distractors = ["the server", "both"]
context = "Masking protects intermediaries from a page's chosen bytes."
"#;
    assert_eq!(load(good).unwrap(), 1);
    let no_context = good.replace(
        "context = \"Masking protects intermediaries from a page's chosen bytes.\"",
        "",
    );
    assert!(load(&no_context).is_err(), "a question without explanation");
    let empty_context = good.replace(
        "Masking protects intermediaries from a page's chosen bytes.",
        " ",
    );
    assert!(load(&empty_context).is_err(), "an empty explanation");
    let one_distractor = good.replace(r#"["the server", "both"]"#, r#"["the server"]"#);
    assert!(load(&one_distractor).is_err(), "a coin toss");
    let answer_twice = good.replace(r#"["the server", "both"]"#, r#"["the client", "both"]"#);
    assert!(
        load(&answer_twice).is_err(),
        "the answer among the distractors"
    );
    let no_answer = good.replace(r#"answer.answer = "the client""#, "");
    assert!(load(&no_answer).is_err(), "no answer");
    let unknown = good.replace("context =", "explanation = \"x\"\ncontext =");
    assert!(load(&unknown).is_err(), "a misspelt field is not ignored");
    let kind = good.replace("MultipleChoice", "Essay");
    assert!(load(&kind).is_err(), "a kind the page cannot answer");
    assert!(load("").is_err(), "no questions");
}

/// The quiz preprocessor turns `{{#quiz}}` into questions the page script can answer: the
/// right option marked, the short answers accepted, the explanation present but hidden.
#[test]
fn quizzes_become_answerable_html() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("q.toml"),
        r#"
[[questions]]
type = "ShortAnswer"
prompt.prompt = "Close code for *invalid* `UTF-8`, 2 * 3?"
answer.answer = "1007"
answer.alternatives = ["1007 Invalid"]
context = "Invalid <payload> data."
"#,
    )
    .unwrap();
    let html = course::quiz::expand("before\n{{#quiz q.toml}}\nafter", dir.path()).unwrap();
    assert!(html.starts_with("before\n<div class=\"quiz\" data-quiz=\"q\">"));
    assert!(html.ends_with("\nafter"));
    assert!(html.contains("Close code for <em>invalid</em> <code>UTF-8</code>, 2 * 3?"));
    assert!(html.contains("data-accept=\"1007\u{1f}1007 invalid\""));
    assert!(html.contains("<div class=\"quiz-explanation\" hidden>"));
    assert!(html.contains("Invalid &lt;payload&gt; data."));
    assert!(course::quiz::expand("{{#quiz missing.toml}}", dir.path()).is_err());
    assert!(html.contains(">Check</button>") && html.contains("<strong>Answer:</strong>"));

    // The Vietnamese edition's book language gives its quizzes Vietnamese words.
    let labels = course::quiz::Labels::for_language(Some("vi"));
    assert_eq!(labels, course::quiz::Labels::VIETNAMESE);
    assert_eq!(
        course::quiz::Labels::for_language(Some("en")),
        course::quiz::Labels::ENGLISH
    );
    let vi = course::quiz::expand_with("{{#quiz q.toml}}", dir.path(), labels).unwrap();
    assert!(vi.contains(">Kiểm tra</button>") && vi.contains("<strong>Đáp án:</strong>"));
    assert!(!vi.contains(">Check<"));
}

/// Every quiz has its Vietnamese edition in `quizzes/vi/`: the same questions in the same
/// order, of the same kinds, with as many options, and the same short answers accepted (a
/// learner who types `1008` is right in both languages).
#[test]
fn every_quiz_has_a_vietnamese_twin() {
    let dir = course::book::default_source().join("quizzes");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let vi_path = dir.join("vi").join(path.file_name().unwrap());
        let en = course::quiz::Quiz::load(&path).unwrap();
        let vi = course::quiz::Quiz::load(&vi_path)
            .unwrap_or_else(|e| panic!("{}: {e}", vi_path.display()));
        vi.validate(&vi_path).unwrap();
        assert_eq!(
            en.questions.len(),
            vi.questions.len(),
            "{}",
            vi_path.display()
        );
        for (i, (a, b)) in en.questions.iter().zip(&vi.questions).enumerate() {
            let at = format!("{} question {}", vi_path.display(), i + 1);
            assert_eq!(a.kind, b.kind, "{at}");
            assert_eq!(
                a.prompt.distractors.len(),
                b.prompt.distractors.len(),
                "{at}"
            );
            if a.kind == course::quiz::Kind::ShortAnswer {
                assert_eq!(a.answer.answer, b.answer.answer, "{at}");
                for alt in &a.answer.alternatives {
                    assert!(b.answer.alternatives.contains(alt), "{at}: {alt} dropped");
                }
            }
            assert_ne!(a.prompt.prompt, b.prompt.prompt, "{at} is not translated");
        }
        count += 1;
    }
    assert!(count >= 13, "only {count} quizzes");
}

/// Every page has speaker notes for whoever presents it.
#[test]
fn every_page_has_speaker_notes() {
    for chapter in summary_chapters() {
        assert!(
            page_source(&chapter).contains("<details><summary>Speaker notes"),
            "{chapter} has no speaker notes"
        );
    }
}

/// A learner always knows where to start and how to check: each lab chapter's first page
/// says what to run before you start; each chapter's last page ends with "Check yourself"
/// and "Go further"; the welcome page says what you need.
#[test]
fn every_chapter_has_a_path_through_it() {
    let labs = course::labs::all();
    for lab in &labs {
        let first = page_source(&format!("{}.md", lab.chapter));
        assert!(
            first.contains("## Before you start") && first.contains("cargo run"),
            "{}: no command under \"Before you start\"",
            lab.chapter
        );
        assert!(
            page_source(&format!("{}.md", lab.widget_page)).contains("class=\"lab-widget\""),
            "{} does not embed the {} lab",
            lab.widget_page,
            lab.topic
        );
    }
    for (chapter, segments) in chapters_and_segments() {
        let last = segments.last().unwrap_or(&chapter);
        let source = page_source(last);
        let check = source.find("## Check yourself");
        let further = source.find("## Go further");
        assert!(
            matches!((check, further), (Some(c), Some(f)) if c < f),
            "{last} does not end with Check yourself, then Go further"
        );
    }
    let welcome = page_source("welcome.md");
    assert!(welcome.contains("## What you need") && welcome.contains("## How long it takes"));
}

/// Every link between pages of the built book leads somewhere: the page exists, and its
/// `#fragment` is an id on that page or one of the page's redirects (book.toml's
/// `[output.html.redirect]`, for headings that moved to another page), whose destination
/// exists in turn. Links into the labs name a lab the launcher mounts.
#[test]
fn links_and_anchors_resolve() {
    let html = built_book();
    let config: toml::Table = toml::from_str(
        &std::fs::read_to_string(course::book::default_source().join("book.toml")).unwrap(),
    )
    .unwrap();
    let redirects: std::collections::BTreeMap<String, String> =
        config["output"]["html"]["redirect"]
            .as_table()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
    let id = Regex::new(r#"\bid="([^"]+)""#).unwrap();
    let href = Regex::new(r#"<a\s[^>]*?href="([^"]+)""#).unwrap();
    let mut ids: std::collections::HashMap<std::path::PathBuf, BTreeSet<String>> =
        Default::default();
    let mut ids_of = |page: &Path| -> Option<BTreeSet<String>> {
        let page = page.to_path_buf();
        if !page.is_file() {
            return None;
        }
        Some(
            ids.entry(page.clone())
                .or_insert_with(|| {
                    let text = std::fs::read_to_string(&page).unwrap();
                    id.captures_iter(&text).map(|c| c[1].to_string()).collect()
                })
                .clone(),
        )
    };
    let topics: BTreeSet<&str> = course::labs::all().iter().map(|l| l.topic).collect();
    let mut checked = 0;
    let resolve = |from: &Path,
                   link: &str,
                   ids_of: &mut dyn FnMut(&Path) -> Option<BTreeSet<String>>|
     -> Result<(), String> {
        let (path, fragment) = link.split_once('#').unwrap_or((link, ""));
        let target = if path.is_empty() {
            from.to_path_buf()
        } else {
            from.parent().unwrap().join(path)
        };
        let target = normalise(&target);
        let page_ids =
            ids_of(&target).ok_or_else(|| format!("{} does not exist", target.display()))?;
        if fragment.is_empty() || page_ids.contains(fragment) {
            return Ok(());
        }
        let key = format!(
            "/{}#{fragment}",
            target.strip_prefix(html).unwrap().to_string_lossy()
        );
        match redirects.get(&key) {
            Some(dest) => {
                let (dest_path, dest_fragment) = dest.split_once('#').unwrap_or((dest, ""));
                let dest_page = normalise(&target.parent().unwrap().join(dest_path));
                let dest_ids = ids_of(&dest_page)
                    .ok_or_else(|| format!("{key} redirects to a missing page {dest}"))?;
                if dest_fragment.is_empty() || dest_ids.contains(dest_fragment) {
                    Ok(())
                } else {
                    Err(format!("{key} redirects to {dest}, which has no such id"))
                }
            }
            None => Err(format!("{} has no id {fragment:?}", target.display())),
        }
    };
    let mut failures = Vec::new();
    for chapter in summary_chapters() {
        let page = html.join(Path::new(&chapter).with_extension("html"));
        let text = std::fs::read_to_string(&page).unwrap();
        // The chapter's own content, not the sidebar and navigation mdBook adds around it.
        let main = text
            .split_once("<main>")
            .and_then(|(_, rest)| rest.split_once("</main>"))
            .map(|(main, _)| main)
            .unwrap_or_else(|| panic!("{chapter} has no <main>"));
        for cap in href.captures_iter(main) {
            let link = cap[1].replace("&amp;", "&");
            if link.starts_with("http:")
                || link.starts_with("https:")
                || link.starts_with("mailto:")
            {
                continue;
            }
            if let Some(rest) = link.strip_prefix("/labs/") {
                let topic = rest.split('/').next().unwrap();
                if !topic.is_empty() && !topics.contains(topic) {
                    failures.push(format!("{chapter}: {link} names no lab"));
                }
                continue;
            }
            if link.starts_with('/') {
                continue; // the launcher's own pages (/labs/)
            }
            if let Err(why) = resolve(&page, &link, &mut ids_of) {
                failures.push(format!("{chapter}: {link}: {why}"));
            }
            checked += 1;
        }
    }
    // Every redirect lands on a page and an id that exist, so an old link from outside the
    // book (a bookmark, another site) finds the heading where it went.
    for (from, to) in &redirects {
        let old = html.join(from.trim_start_matches('/').split('#').next().unwrap());
        let (dest, fragment) = to.split_once('#').unwrap_or((to, ""));
        match ids_of(&normalise(&old.parent().unwrap().join(dest))) {
            Some(dest_ids) if fragment.is_empty() || dest_ids.contains(fragment) => {}
            _ => failures.push(format!("redirect {from} -> {to} leads nowhere")),
        }
        if old.is_file() {
            let text = std::fs::read_to_string(&old).unwrap();
            assert!(
                text.contains(&to.replace('/', "\\/")) || text.contains(to.as_str()),
                "{} does not carry its fragment redirect to {to}",
                old.display()
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} broken links:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 300, "only {checked} links checked");
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn normalise(path: &Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The quiz preprocessor as the program a stock `mdbook build book` starts (book.toml's
/// `[preprocessor.quiz]`): it says which renderers it supports by its exit status, and turns
/// a book sent as JSON on its input into the same book with the questions in place.
#[test]
fn quiz_preprocessor_speaks_mdbooks_protocol() {
    use mdbook_preprocessor::book::{Book, Chapter};
    use std::process::{Command, Stdio};

    let program = env!("CARGO_BIN_EXE_quiz-preprocessor");
    let supports = |renderer: &str| {
        Command::new(program)
            .args(["supports", renderer])
            .status()
            .unwrap()
            .success()
    };
    assert!(supports("html"));
    assert!(!supports("epub"), "questions need the page script");

    let root = course::book::default_source();
    let config = mdbook_preprocessor::config::Config::from_disk(root.join("book.toml")).unwrap();
    let ctx = mdbook_preprocessor::PreprocessorContext::new(root, config, "html".into());
    let mut book = Book::new();
    book.push_item(Chapter::new(
        "Check yourself",
        "# Check yourself\n\n{{#quiz ../quizzes/rooms.toml}}\n".into(),
        "rooms-check.md",
        Vec::new(),
    ));
    let mut child = Command::new(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), &(&ctx, &book)).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let back: Book = serde_json::from_slice(&output.stdout).unwrap();
    let content = back
        .iter()
        .find_map(|item| match item {
            mdbook_preprocessor::book::BookItem::Chapter(c) => Some(c.content.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        content.contains("<div class=\"quiz\" data-quiz=\"rooms\">"),
        "{content}"
    );
    assert!(!content.contains("{{#quiz"));
}

/// A stock mdBook build runs the quiz preprocessor as a command, not in-process: the book
/// built that way (mdBook's own command runner, pointed at this package's binary rather than
/// `cargo run`) has the same questions in its pages.
#[test]
fn a_stock_build_runs_the_quiz_command() {
    let root = course::book::default_source();
    let mut config =
        mdbook_preprocessor::config::Config::from_disk(root.join("book.toml")).unwrap();
    let command = config
        .get::<String>("preprocessor.quiz.command")
        .unwrap()
        .expect("book.toml names the quiz preprocessor's command");
    assert!(
        command.contains("-p course --bin quiz-preprocessor"),
        "book.toml runs {command}"
    );
    config
        .set(
            "preprocessor.quiz.command",
            env!("CARGO_BIN_EXE_quiz-preprocessor"),
        )
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    config.build.build_dir = out.path().to_path_buf();
    let book = mdbook_driver::MDBook::load_with_config(&root, config).unwrap();
    book.build().unwrap();
    let page = std::fs::read_to_string(out.path().join("rooms-exercise-who-is-here.html")).unwrap();
    assert!(
        page.contains("<form class=\"quiz-question\""),
        "no questions in the page"
    );
    assert!(!page.contains("{{#quiz"));
}
