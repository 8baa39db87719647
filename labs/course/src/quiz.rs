//! The quizzes at the end of every chapter: TOML files under `book/quizzes/`, turned into
//! HTML by a preprocessor, answered in the page by `book/theme/quiz.js`.
//!
//! A chapter writes `{{#quiz ../quizzes/rooms.toml}}` where its questions go. The file
//! follows the format of [mdbook-quiz] (the same `[[questions]]` tables, `type`,
//! `prompt.prompt`, `prompt.distractors`, `answer.answer`, `context`) for the two kinds this
//! course uses, multiple choice and short answer, so the files stay portable. mdbook-quiz
//! itself is not used because it ships only as a binary (no library to call from the
//! launcher's in-process build) and its front end is a 1.4 MB React bundle; the whole of
//! what the course needs is this file and a fifty-line script.
//!
//! The same code runs in two ways: in-process, registered by [`crate::book::build`], and as
//! the `quiz-preprocessor` binary that a stock `mdbook build book` starts (book.toml's
//! `[preprocessor.quiz]`).
//!
//! [mdbook-quiz]: https://github.com/cognitive-engineering-lab/mdbook-quiz

use std::path::{Path, PathBuf};

use mdbook_preprocessor::book::{Book, BookItem};
use mdbook_preprocessor::{Preprocessor, PreprocessorContext};
use serde::Deserialize;

/// One quiz file: its questions, in order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quiz {
    /// The questions, as `[[questions]]` tables.
    pub questions: Vec<Question>,
}

/// One question, with its answer and the explanation shown once it is answered.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Which kind of question, which decides how it is answered.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// What the reader is asked (and, for multiple choice, the wrong options).
    pub prompt: Prompt,
    /// The right answer.
    pub answer: Answer,
    /// Why the answer is right: shown after answering, right or wrong. mdbook-quiz calls it
    /// `context`; here it is required, because a quiz that only says "wrong" teaches nothing.
    pub context: String,
}

/// The two kinds of question the course asks.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Pick one of several options: the answer and its distractors, shuffled.
    MultipleChoice,
    /// Type a short answer: a number, a word, a close code.
    ShortAnswer,
}

/// The question's text, and the wrong options of a multiple choice.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prompt {
    /// The question itself; `backticks` become code.
    pub prompt: String,
    /// The wrong options of a multiple choice (at least two, so guessing is not a coin toss).
    #[serde(default)]
    pub distractors: Vec<String>,
}

/// The right answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// The right option, or the expected short answer.
    pub answer: String,
    /// Other spellings a short answer accepts (compared without case or surrounding spaces).
    #[serde(default)]
    pub alternatives: Vec<String>,
}

/// What is wrong with a quiz file.
#[derive(Debug, thiserror::Error)]
pub enum QuizError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a quiz in the expected format.
    #[error("{path} is not a valid quiz: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML reader said.
        source: toml::de::Error,
    },
    /// A question is incomplete (its number counts from 1).
    #[error("{path}, question {number}: {problem}")]
    Question {
        /// The file.
        path: PathBuf,
        /// Which question.
        number: usize,
        /// What is missing or wrong.
        problem: &'static str,
    },
}

impl Quiz {
    /// Reads and validates the quiz at `path`.
    pub fn load(path: &Path) -> Result<Quiz, QuizError> {
        let text = std::fs::read_to_string(path).map_err(|source| QuizError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let quiz: Quiz = toml::from_str(&text).map_err(|source| QuizError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        quiz.validate(path)?;
        Ok(quiz)
    }

    /// Checks what the format alone cannot: every question has a prompt, an answer and an
    /// explanation; a multiple choice has at least two distractors, none equal to the answer.
    pub fn validate(&self, path: &Path) -> Result<(), QuizError> {
        let fail = |number, problem| QuizError::Question {
            path: path.to_path_buf(),
            number,
            problem,
        };
        if self.questions.is_empty() {
            return Err(fail(0, "the quiz has no questions"));
        }
        for (i, q) in self.questions.iter().enumerate() {
            let n = i + 1;
            if q.prompt.prompt.trim().is_empty() {
                return Err(fail(n, "the prompt is empty"));
            }
            if q.answer.answer.trim().is_empty() {
                return Err(fail(n, "the answer is empty"));
            }
            if q.context.trim().is_empty() {
                return Err(fail(n, "there is no explanation (`context`)"));
            }
            match q.kind {
                Kind::MultipleChoice => {
                    if q.prompt.distractors.len() < 2 {
                        return Err(fail(n, "a multiple choice needs at least two distractors"));
                    }
                    if q.prompt.distractors.iter().any(|d| d == &q.answer.answer) {
                        return Err(fail(n, "a distractor is the same as the answer"));
                    }
                    if q.prompt.distractors.iter().any(|d| d.trim().is_empty()) {
                        return Err(fail(n, "a distractor is empty"));
                    }
                }
                Kind::ShortAnswer => {
                    if !q.prompt.distractors.is_empty() {
                        return Err(fail(n, "a short answer has no distractors"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The quiz as HTML for `quiz.js`: one `<form>` per question, the answer in a data
    /// attribute (a self-check, not an exam), the explanation hidden until answered.
    pub fn to_html(&self, name: &str) -> String {
        self.to_html_with(name, Labels::ENGLISH)
    }

    /// [`Quiz::to_html`], with the buttons and labels in `labels`.
    pub fn to_html_with(&self, name: &str, labels: Labels) -> String {
        let mut html = format!("<div class=\"quiz\" data-quiz=\"{}\">\n", escape(name));
        for (i, q) in self.questions.iter().enumerate() {
            let n = i + 1;
            let kind = match q.kind {
                Kind::MultipleChoice => "choice",
                Kind::ShortAnswer => "short",
            };
            html.push_str(&format!(
                "<form class=\"quiz-question\" data-kind=\"{kind}\">\n\
                 <p class=\"quiz-prompt\"><span class=\"quiz-number\">{n}.</span> {}</p>\n",
                inline(&q.prompt.prompt)
            ));
            match q.kind {
                Kind::MultipleChoice => {
                    for (value, option) in options(q).iter().enumerate() {
                        html.push_str(&format!(
                            "<label class=\"quiz-option\"><input type=\"radio\" name=\"q{n}\" \
                             value=\"{value}\"{}> {}</label>\n",
                            if option.1 { " data-correct" } else { "" },
                            inline(option.0)
                        ));
                    }
                }
                Kind::ShortAnswer => {
                    let accepted: Vec<String> = std::iter::once(&q.answer.answer)
                        .chain(&q.answer.alternatives)
                        .map(|a| escape(&a.trim().to_lowercase()))
                        .collect();
                    html.push_str(&format!(
                        "<input class=\"quiz-text\" type=\"text\" name=\"q{n}\" autocomplete=\"off\" \
                         aria-label=\"{}\" data-accept=\"{}\">\n",
                        labels.your_answer,
                        accepted.join("\u{1f}")
                    ));
                }
            }
            html.push_str(&format!(
                "<button type=\"submit\">{}</button>\n\
                 <p class=\"quiz-result\" role=\"status\" hidden></p>\n\
                 <div class=\"quiz-explanation\" hidden><p><strong>{}</strong> {}</p><p>{}</p></div>\n\
                 </form>\n",
                labels.check,
                labels.answer,
                inline(&q.answer.answer),
                inline(&q.context)
            ));
        }
        html.push_str("</div>\n");
        html
    }
}

/// A multiple choice's options, each with whether it is the answer. The answer's place
/// depends on the prompt's text, so it is stable from build to build but not always first.
fn options(q: &Question) -> Vec<(&str, bool)> {
    let mut all: Vec<(&str, bool)> = q
        .prompt
        .distractors
        .iter()
        .map(|d| (d.as_str(), false))
        .collect();
    let place = q.prompt.prompt.bytes().map(usize::from).sum::<usize>() % (all.len() + 1);
    all.insert(place, (q.answer.answer.as_str(), true));
    all
}

/// HTML-escapes `text`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Escapes `text` and turns `backticked` spans into `<code>` and `*starred*` ones into
/// `<em>`, the only markup a question uses.
fn inline(text: &str) -> String {
    escape(text.trim())
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                emphasis(part)
            }
        })
        .collect()
}

/// `*word*` as `<em>word</em>`; a lone `*` stays as it is.
fn emphasis(text: &str) -> String {
    let parts: Vec<&str> = text.split('*').collect();
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            // An odd star opens, an even one closes; an opening star without its pair is text.
            let opening = i % 2 == 1;
            if opening && i + 1 >= parts.len() {
                out.push('*');
            } else {
                out.push_str(if opening { "<em>" } else { "</em>" });
            }
        }
        out.push_str(part);
    }
    out
}

/// The directive a chapter writes, `{{#quiz <path>}}`, as mdbook-quiz spells it.
const DIRECTIVE: &str = "{{#quiz ";

/// The words a quiz shows around its questions, in the book's language: the Vietnamese
/// edition's quizzes (`quizzes/vi/`) get Vietnamese buttons too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labels {
    /// The button that checks an answer.
    pub check: &'static str,
    /// Before the answer, once shown.
    pub answer: &'static str,
    /// The short-answer box's accessible name.
    pub your_answer: &'static str,
}

impl Labels {
    /// English, the book's own language.
    pub const ENGLISH: Labels = Labels {
        check: "Check",
        answer: "Answer:",
        your_answer: "your answer",
    };

    /// Vietnamese, for the edition under `/vi/`.
    pub const VIETNAMESE: Labels = Labels {
        check: "Kiểm tra",
        answer: "Đáp án:",
        your_answer: "câu trả lời của bạn",
    };

    /// The labels of a book whose `book.language` is `language`.
    pub fn for_language(language: Option<&str>) -> Labels {
        match language {
            Some(lang) if lang.starts_with("vi") => Labels::VIETNAMESE,
            _ => Labels::ENGLISH,
        }
    }
}

/// Replaces every `{{#quiz path}}` in `content` (a chapter whose source is in `dir`) with
/// the quiz's HTML, in English.
pub fn expand(content: &str, dir: &Path) -> Result<String, QuizError> {
    expand_with(content, dir, Labels::ENGLISH)
}

/// [`expand`], with the buttons and labels in `labels`.
pub fn expand_with(content: &str, dir: &Path, labels: Labels) -> Result<String, QuizError> {
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(start) = rest.find(DIRECTIVE) {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let file = rest[start + DIRECTIVE.len()..start + len].trim();
        let path = dir.join(file);
        let quiz = Quiz::load(&path)?;
        let name = Path::new(file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push_str(&rest[..start]);
        out.push_str(&quiz.to_html_with(&name, labels));
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The preprocessor: expands the quizzes of every chapter.
pub struct QuizPreprocessor;

impl Preprocessor for QuizPreprocessor {
    fn name(&self) -> &str {
        "quiz"
    }

    fn run(&self, ctx: &PreprocessorContext, mut book: Book) -> anyhow::Result<Book> {
        let src = ctx.root.join(&ctx.config.book.src);
        let language = ctx.config.book.language.as_deref();
        let labels = Labels::for_language(language);
        let mut failure = None;
        book.for_each_mut(|item| {
            let BookItem::Chapter(chapter) = item else {
                return;
            };
            let (Some(source), None) = (chapter.source_path.as_ref(), failure.as_ref()) else {
                return;
            };
            let dir = src.join(source.parent().unwrap_or(Path::new("")));
            match expand_with(&chapter.content, &dir, labels) {
                // The time lines too: HTML that no catalog reaches (crate::times).
                Ok(content) => chapter.content = crate::times::localize(&content, language),
                Err(e) => failure = Some(e),
            }
        });
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(book),
        }
    }

    fn supports_renderer(&self, renderer: &str) -> anyhow::Result<bool> {
        Ok(renderer == "html")
    }
}
