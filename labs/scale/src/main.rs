//! The scale lab: a cluster of chat nodes behind HAProxy, with Redis between them.
//!
//! ```text
//! cargo run -p lab-scale                          # Redis, 3 nodes, HAProxy: open http://127.0.0.1:3007/
//! cargo run -p lab-scale -- --broker none         # the same without a broker: rooms split by node
//! cargo run -p lab-scale -- --balance cookie      # sticky sessions (or --balance source)
//! cargo run -p lab-scale -- haproxy-config --balance cookie   # print the generated configuration
//! cargo run -p lab-scale -- node --redis redis://127.0.0.1:6379/ --addr 127.0.0.1:4001 --node-id n9
//! cargo run -p lab-scale -- chat --url ws://127.0.0.1:3007/ws --name ada --room rust --say hello
//! ```
//!
//! The cluster prints what it started, with each part's pid: `kill -9 <pid>` a node and
//! watch its clients come back on another one. Chapter "Scaling out" walks through it.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use lab_resilience::client::Backoff;
use lab_scale::client::{ChatClient, Event};
use lab_scale::cluster::{Balance, Cluster, Options, example_config};
use lab_scale::{BrokerKind, BrokerSettings, Config};

/// Several chat nodes behind a real load balancer, Redis as the broker between them.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// What to run; without one, the whole cluster.
    #[command(subcommand)]
    command: Option<Command>,

    /// The cluster's settings.
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// `--broker`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BrokerArg {
    /// Every node on its own: members of one room on different nodes do not meet.
    None,
    /// Redis pub/sub, presence and streams between the nodes.
    Redis,
}

/// The cluster: where the balancer listens, how many nodes, which broker, which balancing.
#[derive(Debug, clap::Args)]
struct ClusterArgs {
    /// Where the load balancer listens (the nodes and Redis take free ports).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:3007")]
    addr: SocketAddr,

    /// How many nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,

    /// The broker between the nodes.
    #[arg(long, value_enum, default_value = "redis")]
    broker: BrokerArg,

    /// How HAProxy picks a node.
    #[arg(long, value_enum, default_value = "roundrobin")]
    balance: Balance,

    /// Seconds a presence entry lives without its node refreshing it.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    presence_ttl: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One node alone, for an instructor to start and kill by hand.
    Node(NodeArgs),
    /// A command-line chat client through the balancer, printing every event as JSON.
    Chat(ChatArgs),
    /// Prints the HAProxy configuration the cluster would generate (nodes on example ports).
    HaproxyConfig {
        /// How HAProxy picks a node.
        #[arg(long, value_enum, default_value = "roundrobin")]
        balance: Balance,
        /// How many nodes.
        #[arg(long, default_value_t = 3)]
        nodes: u16,
    },
}

#[derive(Debug, clap::Args)]
struct NodeArgs {
    /// `--addr` and `--allow-origin`, as every lab takes them.
    #[command(flatten)]
    serve: kit::cli::ServeArgs,

    /// This node's id (1 to 16 of a-z, 0-9, '-').
    #[arg(long, default_value = "n1")]
    node_id: String,

    /// The broker.
    #[arg(long, value_enum, default_value = "redis")]
    broker: BrokerArg,

    /// Redis's URL, for `--broker redis`.
    #[arg(long, default_value = "redis://127.0.0.1:6379/")]
    redis: String,

    /// Seconds a presence entry lives without this node refreshing it.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    presence_ttl: u64,

    /// Messages each room's history keeps.
    #[arg(long, default_value_t = BrokerSettings::default().history_len)]
    history: usize,

    /// No per-connection message rate limit (the gateway's 200 a second): for
    /// `scale-bench`, whose senders go faster than any person types.
    #[arg(long)]
    no_rate_limit: bool,
}

#[derive(Debug, clap::Args)]
struct ChatArgs {
    /// The balancer's WebSocket endpoint.
    #[arg(long, default_value = "ws://127.0.0.1:3007/ws")]
    url: String,
    /// Your name.
    #[arg(long, default_value = "cli")]
    name: String,
    /// The room to join.
    #[arg(long, default_value = "lobby")]
    room: String,
    /// Something to say once joined (repeatable).
    #[arg(long)]
    say: Vec<String>,
    /// Stop after this many messages received (0: never).
    #[arg(long, default_value_t = 0)]
    count: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    kit::init_tracing();
    match args.command {
        None => cluster(args.cluster).await,
        Some(Command::Node(node_args)) => node(node_args).await,
        Some(Command::Chat(chat_args)) => chat(chat_args).await,
        Some(Command::HaproxyConfig { balance, nodes }) => {
            print!("{}", example_config(nodes, balance));
            Ok(())
        }
    }
}

/// The whole cluster, until Ctrl-C.
async fn cluster(args: ClusterArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.addr.ip().is_loopback(),
        "--addr must be on 127.0.0.1: the lab stays on your machine"
    );
    let options = Options {
        exe: std::env::current_exe().context("finding the lab's own binary")?,
        nodes: args.nodes,
        redis: args.broker == BrokerArg::Redis,
        balance: args.balance,
        addr: args.addr,
        node_args: vec!["--presence-ttl".into(), args.presence_ttl.to_string()],
    };
    let cluster = Cluster::start(&options).await?;
    for line in cluster.describe().lines() {
        tracing::info!("{line}");
    }
    tracing::info!(
        "scale lab: open http://{}/  (through HAProxy; Ctrl-C stops everything)",
        cluster.balancer.addr
    );
    kit::shutdown_signal().await;
    tracing::info!("stopping the balancer, the nodes, then redis");
    drop(cluster);
    Ok(())
}

/// One node, until Ctrl-C or SIGTERM.
async fn node(args: NodeArgs) -> anyhow::Result<()> {
    lab_scale::check_node_id(&args.node_id)?;
    let (listener, addr) = args.serve.bind(0).await?;
    let mut config = Config::for_port(addr.port());
    config.gateway.allowlist = args.serve.allowlist(config.gateway.allowlist)?;
    config.node = args.node_id.clone();
    config.broker = match args.broker {
        BrokerArg::None => BrokerKind::None,
        BrokerArg::Redis => BrokerKind::Redis(args.redis),
    };
    config.settings.presence_ttl = Duration::from_secs(args.presence_ttl.max(1));
    config.settings.history_len = args.history;
    if args.no_rate_limit {
        config.gateway.rate_limit = None;
    }
    let shutdown = config.gateway.shutdown.clone();
    let app = lab_scale::app(config);
    tracing::info!(
        "scale node {}: open http://{addr}/  (WebSocket at ws://{addr}/ws, Ctrl-C to stop)",
        args.node_id
    );
    kit::serve_with_goodbye(listener, app, kit::shutdown_signal(), &shutdown).await?;
    Ok(())
}

/// The command-line client: join, say, print every event, reconnect when the node dies.
async fn chat(args: ChatArgs) -> anyhow::Result<()> {
    let mut client = ChatClient::new(&args.url, &args.name, Backoff::DEFAULT);
    client.connect().await?;
    client.join(&args.room).await?;
    for text in &args.say {
        let ack = client.send(&args.room, text).await?;
        println!("{}", serde_json::json!({ "event": "sent", "data": ack }));
    }
    let mut received = 0;
    while let Some(event) = client.next().await {
        let line = match &event {
            Event::Welcome { node, conn } => {
                serde_json::json!({ "event": "welcome", "node": node, "conn": conn })
            }
            Event::Message(message) => serde_json::json!({ "event": "message", "data": message }),
            Event::Recovered {
                room,
                recovered,
                missed,
                reason,
            } => serde_json::json!({
                "event": "recovered", "room": room, "recovered": recovered, "missed": missed, "reason": reason,
            }),
            Event::Other(frame) => frame.clone(),
            Event::Closed {
                code,
                reason,
                decision,
            } => serde_json::json!({
                "event": "closed", "code": code, "reason": reason, "decision": decision,
            }),
            Event::GaveUp { reason } => serde_json::json!({ "event": "gave_up", "reason": reason }),
        };
        println!("{line}");
        if matches!(event, Event::Message(_)) {
            received += 1;
            if args.count > 0 && received >= args.count {
                break;
            }
        }
    }
    client.close().await;
    Ok(())
}
