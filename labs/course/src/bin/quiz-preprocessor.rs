//! The course's quiz preprocessor as a program, for a stock `mdbook build book`: mdBook
//! starts it (book.toml's `[preprocessor.quiz]`), asks `supports <renderer>`, then writes the
//! book as JSON on its standard input and reads the book back from its standard output.
//!
//! The launcher does not use this binary: it runs the same code in-process
//! (`course::quiz::QuizPreprocessor`). Chapter 0 of the book ("Welcome") explains the quizzes.

use std::io::Write;

use anyhow::Context;
use mdbook_preprocessor::Preprocessor;

fn main() -> anyhow::Result<()> {
    let preprocessor = course::quiz::QuizPreprocessor;
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("supports") {
        let renderer = args.next().unwrap_or_default();
        // mdBook reads the answer from the exit status: 0 supported, 1 not.
        std::process::exit(if preprocessor.supports_renderer(&renderer)? {
            0
        } else {
            1
        });
    }
    let (ctx, book) = mdbook_preprocessor::parse_input(std::io::stdin().lock())
        .context("reading the book mdBook sent")?;
    let book = preprocessor.run(&ctx, book)?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &book).context("writing the book back to mdBook")?;
    out.flush()?;
    Ok(())
}
