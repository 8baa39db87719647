//! The private lab's command-line client: log in as a demo user, publish a key, and send
//! or receive end-to-end encrypted messages, with the browser page or another terminal.
//!
//! ```text
//! cargo run -p lab-private                                         # the server, first
//! cargo run -p lab-private --bin private-client -- --user bob listen
//! cargo run -p lab-private --bin private-client -- --user alice send bob "Hello, Bob"
//! ```
//!
//! Both print their key's fingerprint: compare them with what the other side shows.
//! Chapter 8 ("Private messaging") walks through it.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use lab_gateway::client::ClientError;
use lab_private::client::{Incoming, PrivateClient, PrivateError, login};

/// Log in, connect, and talk end-to-end encrypted.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
struct Args {
    /// The lab's address.
    #[arg(long, default_value = "127.0.0.1:3004")]
    addr: String,

    /// The demo user to log in as: alice, bob or carol.
    #[arg(long, default_value = "alice")]
    user: String,

    /// The password (the demo users' is `<user>-pw`).
    #[arg(long)]
    password: Option<String>,

    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The client's commands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Print every message received, decrypted (or why it was refused), until Ctrl-C.
    Listen,
    /// Send one message to another user in your direct channel, then wait for it to arrive.
    Send {
        /// The other user.
        to: String,
        /// The message.
        text: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let password = args
        .password
        .clone()
        .unwrap_or_else(|| format!("{}-pw", args.user));
    let token = login(&format!("http://{}", args.addr), &args.user, &password)
        .await
        .context("logging in")?;
    let mut client = PrivateClient::connect(&format!("ws://{}/ws", args.addr), &token)
        .await
        .context("connecting")?;
    println!("logged in as {}", client.user);
    println!("your key's fingerprint: {}", client.fingerprint());
    match args.command {
        Command::Listen => loop {
            let incoming = match client.next_incoming().await {
                Ok(incoming) => incoming,
                // The server's goodbye (1008 when the token expires) ends the listener.
                Err(PrivateError::Ws(ClientError::Closed(Some((code, reason))))) => {
                    println!("the server closed the connection: {code} {reason}");
                    return Ok(());
                }
                Err(err) => return Err(err.into()),
            };
            match incoming {
                Incoming::Message {
                    channel,
                    from,
                    text,
                } => println!("[{channel}] {from}: {text}"),
                Incoming::Refused {
                    channel,
                    from,
                    error,
                } => println!("[{channel}] from {from}: {error}"),
            }
        },
        Command::Send { to, text } => {
            let channel = client.open_direct(&to).await?;
            client.refresh_keys().await?;
            match client.peer_fingerprint(&to) {
                Some(f) => println!("{to}'s fingerprint, as the server gave it: {f}"),
                None => anyhow::bail!("{to} has no key yet: start their client first"),
            }
            let delivered = client.send_text(&channel, &text).await?;
            println!("sent to {channel}, sealed; delivered to {delivered} connection(s)");
            client.close().await?;
        }
    }
    Ok(())
}
