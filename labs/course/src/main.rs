//! `cargo run --release -p course`: build the book, serve it with every lab, print the URL.
//!
//! ```text
//! cargo run --release -p course                 # http://127.0.0.1:3000
//! cargo run --release -p course -- --port 8080  # another port
//! cargo run --release -p course -- --no-build   # serve the last build as it is
//! cargo run --release -p course -- --lang vi    # open the Vietnamese edition first (/vi/)
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// Build the WebSockets course book and serve it, with every lab live, on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Port to listen on (always on 127.0.0.1: the course never leaves your machine).
    #[arg(long, default_value_t = kit::ports::COURSE)]
    port: u16,

    /// Serve the last build instead of building the book first.
    #[arg(long)]
    no_build: bool,

    /// The book's source folder (the one with book.toml).
    #[arg(long, value_name = "DIR", default_value_os_t = course::book::default_source())]
    book: PathBuf,

    /// Where to write the built book.
    #[arg(long, value_name = "DIR", default_value_os_t = course::book::default_output())]
    out: PathBuf,

    /// The edition to open first: `en` (the book at /) or `vi` (Tiếng Việt, at /vi/).
    /// Both are built and served either way; the picker in the menu bar switches.
    #[arg(long, value_name = "LANG", default_value = "en", value_parser = parse_lang)]
    lang: String,
}

/// Accepts `en` and the code of every translated edition.
fn parse_lang(code: &str) -> Result<String, String> {
    if code == course::i18n::ENGLISH.code || course::i18n::translation(code).is_some() {
        Ok(code.to_string())
    } else {
        let known: Vec<&str> = std::iter::once(course::i18n::ENGLISH)
            .chain(course::i18n::TRANSLATIONS)
            .map(|language| language.code)
            .collect();
        Err(format!(
            "no edition in {code:?}; the editions are {known:?}"
        ))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    kit::init_tracing();

    let html_dir = if args.no_build {
        let html_dir = course::book::html_dir(&args.out);
        for language in course::i18n::TRANSLATIONS {
            let edition = course::i18n::edition_dir(&html_dir, language);
            anyhow::ensure!(
                edition.join("index.html").is_file(),
                "--no-build: there is no built book in {} yet; run once without --no-build",
                edition.display()
            );
        }
        html_dir
    } else {
        let (source, out) = (args.book.clone(), args.out.clone());
        // mdbook-driver is synchronous: build off the async runtime's threads. Every edition
        // is built: the English book, then each translation inside it.
        let built = tokio::task::spawn_blocking(move || course::i18n::build_all(&source, &out))
            .await
            .context("the book build panicked")??;
        for (language, edition) in &built {
            tracing::info!(lang = language.code, elapsed_ms = edition.elapsed.as_millis(), dir = %edition.html_dir.display(), "book built");
        }
        course::book::html_dir(&args.out)
    };

    let labs = course::labs::all();
    let listener = kit::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))).await?;
    let addr = listener.local_addr()?;
    // One goodbye for every lab: on Ctrl-C each WebSocket is closed with 1001.
    let shutdown = kit::Shutdown::new();
    let app = course::site::app(&html_dir, addr.port(), &labs, &shutdown);

    // The one line a learner needs: where to point the browser. Printed on stdout (not as a
    // log line) so that scripts can read it.
    let first = if args.lang == course::i18n::ENGLISH.code {
        String::new()
    } else {
        format!("{}/", args.lang)
    };
    println!(
        "The course is ready: open http://{addr}/{first}  (labs: http://{addr}/{first}labs/, Ctrl-C to stop)"
    );
    kit::serve_with_goodbye(listener, app, kit::shutdown_signal(), &shutdown).await?;
    Ok(())
}
