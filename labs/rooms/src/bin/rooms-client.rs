//! The rooms lab's command-line client: join rooms, type lines to chat, see presence and
//! lifecycle events as they happen.
//!
//! ```text
//! cargo run -p lab-rooms --bin rooms-client -- --name ada --join rust
//! > hello            (sent to the first room joined)
//! > /join go         (/leave go, /to go hi, /rooms)
//! ```
//!
//! Chapter 7 ("Rooms") uses it.

use anyhow::Context as _;
use clap::Parser;
use lab_gateway::Envelope;
use lab_gateway::client::{Client, repl};
use serde_json::{Value, json};

/// How long the client keeps listening after its input ends and its requests are answered.
const LINGER: std::time::Duration = std::time::Duration::from_millis(300);

/// Chat in rooms from the terminal.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
struct Args {
    /// The rooms lab's WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:3003/ws")]
    url: String,

    /// Your name in the rooms.
    #[arg(long)]
    name: Option<String>,

    /// A room to join at start (repeatable); plain lines go to the first one.
    #[arg(long)]
    join: Vec<String>,
}

/// One received envelope as a line for humans.
fn describe(envelope: &Envelope) -> String {
    let d = &envelope.data;
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    match envelope.event.as_str() {
        "message" => format!("[{}] {}: {}", s(&d["room"]), s(&d["from"]), s(&d["text"])),
        "presence" if d.get("joined").is_some() => {
            format!("[{}] + {} joined", s(&d["room"]), s(&d["joined"]))
        }
        "presence" => format!("[{}] - {} left", s(&d["room"]), s(&d["left"])),
        "room" => format!("room {} is now {}", s(&d["room"]), s(&d["state"])),
        "missed" => format!("[{}] you missed {} messages", s(&d["room"]), d["missed"]),
        "ack" if d.get("members").is_some() => {
            format!("joined [{}], members: {}", s(&d["room"]), d["members"])
        }
        "exception" => format!("refused: {}", s(&d["message"])),
        _ => envelope.to_json(),
    }
}

/// Turns a typed line into a request: `/join r`, `/leave r`, `/to r text`, `/rooms`, or
/// text for `room`.
fn request_for(line: &str, room: Option<&str>) -> anyhow::Result<(&'static str, Value)> {
    let mut words = line.splitn(3, ' ');
    Ok(match words.next().unwrap_or_default() {
        "/join" => (
            "join",
            json!({ "room": words.next().context("/join <room>")? }),
        ),
        "/leave" => (
            "leave",
            json!({ "room": words.next().context("/leave <room>")? }),
        ),
        "/rooms" => ("rooms", Value::Null),
        "/to" => {
            let room = words.next().context("/to <room> <text>")?;
            (
                "send",
                json!({ "room": room, "text": words.next().unwrap_or_default() }),
            )
        }
        _ => {
            let room = room.context("join a room first: /join <room>")?;
            ("send", json!({ "room": room, "text": line }))
        }
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = match &args.name {
        Some(name) => format!("{}?name={name}", args.url),
        None => args.url.clone(),
    };
    let mut client = Client::connect(url.as_str())
        .await
        .with_context(|| format!("connecting to {url}"))?;
    for room in &args.join {
        let answer = client.request("join", json!({ "room": room })).await?;
        println!("{}", describe(&answer));
    }
    let first = args.join.first().cloned();

    // Acks of chat messages are noise in a chat; everything else is shown.
    repl(
        client,
        1_000,
        LINGER,
        |line| request_for(line, first.as_deref()),
        |envelope| {
            let chat_ack = envelope.event == "ack" && envelope.data.get("delivered").is_some();
            (!chat_ack).then(|| describe(envelope))
        },
    )
    .await
}
