//! The gateway lab's command-line client: send one request and print its answer, or type
//! requests line by line and watch everything the server sends.
//!
//! ```text
//! cargo run -p lab-gateway --bin gateway-client -- echo '{"text": "Hello"}'
//! cargo run -p lab-gateway --bin gateway-client -- --user ada
//! > shout {"text": "hi all"}
//! ```
//!
//! Each line received is one envelope as JSON. Chapter 6 ("The gateway") uses it.

use anyhow::Context as _;
use clap::Parser;
use std::time::Duration;

use lab_gateway::client::{Client, ClientError, repl};
use serde_json::Value;

/// Talk to a gateway from the terminal.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
struct Args {
    /// The gateway's WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:3002/ws")]
    url: String,

    /// Connect with this name (`/ws?user=<name>`): the demo's guards want one to shout.
    #[arg(long)]
    user: Option<String>,

    /// After the answer, keep printing pushed events until Ctrl-C.
    #[arg(long)]
    listen: bool,

    /// The event to send as a request. Without it, read `<event> [json]` lines from stdin.
    event: Option<String>,

    /// The request's data, as JSON (default: null).
    data: Option<String>,
}

/// Parses a `<event> [json]` line into an event name and its data.
fn parse_line(line: &str) -> anyhow::Result<(String, Value)> {
    let line = line.trim();
    let (event, data) = line.split_once(' ').unwrap_or((line, ""));
    let data = if data.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(data).with_context(|| format!("not JSON: {data}"))?
    };
    Ok((event.to_owned(), data))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = match &args.user {
        Some(user) => format!("{}?user={user}", args.url),
        None => args.url.clone(),
    };
    let mut client = Client::connect(url.as_str())
        .await
        .with_context(|| format!("connecting to {url}"))?;

    if let Some(event) = &args.event {
        let data = match &args.data {
            Some(data) => {
                serde_json::from_str(data).with_context(|| format!("not JSON: {data}"))?
            }
            None => Value::Null,
        };
        let answer = client.request(event, data).await?;
        println!("{}", answer.to_json());
        if !args.listen {
            client.close(1000).await?;
            return Ok(());
        }
        loop {
            match client.next().await {
                Ok(envelope) => println!("{}", envelope.to_json()),
                Err(ClientError::Closed(why)) => {
                    println!("closed by the server: {why:?}");
                    return Ok(());
                }
                Err(err) => return Err(err.into()),
            }
        }
    }

    // Interactive: every line is a request with a fresh id; everything received is printed.
    // At the end of the input, wait for the answers still due, then close.
    eprintln!("connected to {url}; type `<event> [json]`, e.g. echo {{\"text\": \"hi\"}}");
    repl(client, 1, Duration::ZERO, parse_line, |envelope| {
        Some(envelope.to_json())
    })
    .await
}
