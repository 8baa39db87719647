//! `ws-inspect`: a WebSocket client that shows every byte it sends and receives.
//!
//! ```text
//! cargo run -p lab-handshake --bin ws-inspect -- ws://127.0.0.1:3001/ws text:Hello ping:are-you-there close:1000:bye
//! ```
//!
//! It prints the raw HTTP upgrade request and response, then each frame taken apart: the
//! header bits, the masking key, the payload as it travelled (masked) and as it reads, and
//! the connection's state changes. With `--compress` it offers permessage-deflate as a
//! browser does; when the server accepts, each compressed frame is shown with what it
//! inflates to and the ratio.
//! It works against any `ws://` server, not only the lab's.
//! Chapter 4 of the book walks through its output.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use lab_handshake::client::connect;
use lab_handshake::deflate::DeflateConfig;
use lab_handshake::events::{Event, Observer};
use lab_handshake::{Connection, Message, Settings};
use tokio::net::TcpStream;

/// Connect to a WebSocket server and print every frame of the exchange, annotated.
#[derive(Debug, Parser)]
#[command(version, about, after_help = STEPS_HELP)]
struct Args {
    /// The server, e.g. ws://127.0.0.1:3001/ws
    url: String,

    /// What to do, in order (see below). Default: text:Hello close:1000
    steps: Vec<String>,

    /// Send this Origin header, as a browser would (try a foreign one to see the 403).
    #[arg(long)]
    origin: Option<String>,

    /// Offer permessage-deflate (RFC 7692), as browsers do. Off by default, so that the
    /// frames show their payloads as written (chapter 4); chapter 5 turns it on.
    #[arg(long)]
    compress: bool,

    /// With --compress: offer no context takeover either way.
    #[arg(long, requires = "compress")]
    no_context_takeover: bool,

    /// How long to wait for each answer, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    wait_ms: u64,
}

const STEPS_HELP: &str = "STEPS:
  text:<message>              send a text message, wait for a reply
  binary:<hex>                send a binary message given in hex (e.g. binary:00ff10)
  fragments:<part>,<part>...  send one text message cut into several frames
  ping[:<payload>]            send a ping, wait for the pong
  close[:<code>[:<reason>]]   start the closing handshake (default code 1000), wait for the answer";

/// One step of the script.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Text(String),
    Binary(Vec<u8>),
    Fragments(Vec<String>),
    Ping(String),
    Close(u16, String),
}

fn parse_step(step: &str) -> anyhow::Result<Step> {
    let (verb, arg) = step.split_once(':').unwrap_or((step, ""));
    Ok(match verb {
        "text" => Step::Text(arg.to_owned()),
        "binary" => {
            if arg.len() % 2 != 0 {
                bail!("binary:{arg}: hex needs two digits per byte");
            }
            let bytes = (0..arg.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&arg[i..i + 2], 16))
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("binary:{arg}: not hex"))?;
            Step::Binary(bytes)
        }
        "fragments" => Step::Fragments(arg.split(',').map(str::to_owned).collect()),
        "ping" => Step::Ping(arg.to_owned()),
        "close" => {
            let (code, reason) = arg.split_once(':').unwrap_or((arg, ""));
            let code = if code.is_empty() {
                1000
            } else {
                code.parse()
                    .with_context(|| format!("close:{code}: not a number"))?
            };
            Step::Close(code, reason.to_owned())
        }
        other => bail!(
            "unknown step {other:?}: expected text, binary, fragments, ping or close (see --help)"
        ),
    })
}

/// Prints events as they happen.
fn printer() -> Observer {
    Observer::new(0, None, |tagged| match tagged.event {
        Event::Handshake { request, response } => {
            println!("→ upgrade request\n{}", indent(&request));
            println!("← upgrade response\n{}", indent(&response));
        }
        Event::Frame(frame) => println!("{frame}"),
        Event::State { from, to, why } => println!("· state {from:?} → {to:?} ({why})"),
        Event::Error {
            message,
            close_code,
        } => match close_code {
            Some(code) => println!("! {message} (closing with {code})"),
            None => println!("! {message}"),
        },
        Event::Message { .. } => {}
    })
}

fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Waits for a message matching `want`, printing (through the observer) what arrives.
async fn wait_for(
    connection: &mut Connection<TcpStream>,
    wait: Duration,
    want: impl Fn(&Message) -> bool,
) -> anyhow::Result<Option<Message>> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, connection.recv()).await {
            Err(_) => {
                println!("· no answer within {wait:?}");
                return Ok(None);
            }
            Ok(Ok(message)) if want(&message) => return Ok(Some(message)),
            Ok(Ok(Message::Close(_))) => return Ok(None),
            Ok(Ok(_)) => continue,
            Ok(Err(err)) => return Err(err.into()),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let raw_steps = if args.steps.is_empty() {
        vec!["text:Hello".to_owned(), "close:1000".to_owned()]
    } else {
        args.steps.clone()
    };
    let steps = raw_steps
        .iter()
        .map(|s| parse_step(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let wait = Duration::from_millis(args.wait_ms);

    let compression = match (args.compress, args.no_context_takeover) {
        (false, _) => None,
        (true, true) => Some(DeflateConfig::no_context_takeover()),
        (true, false) => Some(DeflateConfig::default()),
    };
    let settings = Settings {
        idle_after: None,
        compression,
        ..Settings::default()
    };
    let (mut connection, _transcript) =
        connect(&args.url, args.origin.as_deref(), settings, printer())
            .await
            .with_context(|| format!("connecting to {}", args.url))?;

    for step in steps {
        match step {
            Step::Text(text) => {
                connection.send(Message::Text(text)).await?;
                wait_for(&mut connection, wait, |m| {
                    matches!(m, Message::Text(_) | Message::Binary(_))
                })
                .await?;
            }
            Step::Binary(bytes) => {
                connection.send(Message::Binary(bytes.into())).await?;
                wait_for(&mut connection, wait, |m| {
                    matches!(m, Message::Text(_) | Message::Binary(_))
                })
                .await?;
            }
            Step::Fragments(parts) => {
                let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
                connection.send_fragmented(true, &parts).await?;
                wait_for(&mut connection, wait, |m| {
                    matches!(m, Message::Text(_) | Message::Binary(_))
                })
                .await?;
            }
            Step::Ping(payload) => {
                connection
                    .send(Message::Ping(payload.into_bytes().into()))
                    .await?;
                wait_for(&mut connection, wait, |m| matches!(m, Message::Pong(_))).await?;
            }
            Step::Close(code, reason) => {
                connection.close(code, &reason).await?;
                wait_for(&mut connection, wait, |m| matches!(m, Message::Close(_))).await?;
                return Ok(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steps parse as --help describes, and bad ones say what is wrong.
    #[test]
    fn steps() {
        assert_eq!(
            parse_step("text:Hello").unwrap(),
            Step::Text("Hello".into())
        );
        assert_eq!(
            parse_step("binary:00ff").unwrap(),
            Step::Binary(vec![0, 255])
        );
        assert_eq!(
            parse_step("fragments:Hel,lo").unwrap(),
            Step::Fragments(vec!["Hel".into(), "lo".into()])
        );
        assert_eq!(parse_step("ping").unwrap(), Step::Ping(String::new()));
        assert_eq!(
            parse_step("close").unwrap(),
            Step::Close(1000, String::new())
        );
        assert_eq!(
            parse_step("close:4000:bye").unwrap(),
            Step::Close(4000, "bye".into())
        );
        assert!(parse_step("binary:0").is_err());
        assert!(parse_step("binary:zz").is_err());
        assert!(
            parse_step("shout:hi")
                .unwrap_err()
                .to_string()
                .contains("unknown step")
        );
    }
}
