//! The labs the launcher mounts: the one place to add a lab to the course.
//!
//! Each lab is its own crate with a function returning its `axum::Router` (the lab
//! contract in the README). Adding a lab to the course is one entry in [`all`]: the launcher
//! then serves it under `/labs/<topic>/`, next to the book, and lists it on `/labs/`.

use axum::Router;
use kit::OriginAllowlist;

/// One lab as the launcher sees it.
#[derive(Clone, Copy, Debug)]
pub struct Lab {
    /// The path segment under `/labs/`, and the folder under `labs/`.
    pub topic: &'static str,
    /// A human title for the labs page.
    pub title: &'static str,
    /// The cargo package, for "run it alone": `cargo run -p <package>`.
    pub package: &'static str,
    /// The port the lab uses when it runs alone.
    pub port: u16,
    /// The book chapter that walks through it (a file of `book/src`, without `.md`): its
    /// first page, with the chapter's segments and what to run before you start.
    pub chapter: &'static str,
    /// The page of that chapter that embeds the lab's live widget (a file of `book/src`,
    /// without `.md`).
    pub widget_page: &'static str,
    /// One sentence on what the learner does there.
    pub summary: &'static str,
    /// Builds the lab's router; the allowlist already holds the course's origin.
    /// Its connections close with 1001 when the launcher's `Shutdown` starts.
    pub router: fn(OriginAllowlist, &kit::Shutdown) -> Router,
}

/// Every lab of the course, in the order of the book.
pub fn all() -> Vec<Lab> {
    vec![
        Lab {
            topic: "handshake",
            title: "The handshake and the frames: RFC 6455 from scratch",
            package: "lab-handshake",
            port: kit::ports::HANDSHAKE,
            chapter: "connection-flow",
            widget_page: "connection-flow-in-the-lab",
            summary: "Send a message from your browser and see every byte the server saw: the \
                  upgrade request, each frame's header bits, the masking key, the state machine.",
            router: lab_handshake::router,
        },
        Lab {
            topic: "gateway",
            title: "The gateway: NestJS ideas in Rust",
            package: "lab-gateway",
            port: kit::ports::GATEWAY,
            chapter: "gateway",
            widget_page: "gateway-in-the-lab",
            summary: "Compose any envelope and send it: see the ack with your request's id, the \
                  exception that names what was wrong, guards refusing, and events the \
                  server pushes.",
            router: lab_gateway::router,
        },
        Lab {
            topic: "rooms",
            title: "Rooms: isolation, presence and the room lifecycle",
            package: "lab-rooms",
            port: kit::ports::ROOMS,
            chapter: "rooms",
            widget_page: "rooms-in-the-lab",
            summary: "Chat in rooms from several windows: see who is present, watch a room go \
                      from Created to Deleted, and check that a room's messages reach its \
                      members and nobody else.",
            router: lab_rooms::router,
        },
        Lab {
            topic: "private",
            title: "Private messaging: authenticated, private, end-to-end encrypted",
            package: "lab-private",
            port: kit::ports::PRIVATE,
            chapter: "private-messaging",
            widget_page: "private-messaging-in-the-lab",
            summary: "Log in as two users side by side, open a private channel, and send \
                      messages sealed in the browser: the middle column shows what the server \
                      sees (ciphertext), and the attack buttons show tampering and replays \
                      refused.",
            router: lab_private::router,
        },
        Lab {
            topic: "broadcast",
            title: "Broadcasting: to all, to some, confirmed, and what fan-out costs",
            package: "lab-broadcast",
            port: kit::ports::BROADCAST,
            chapter: "broadcasting",
            widget_page: "broadcasting-in-the-lab",
            summary: "Watch the live counters while you broadcast to everyone, to a topic, to \
                  an attribute filter or to everyone but you; ask for confirmations and read \
                  the exact delivered / failed / timed-out counts; see volatile drops.",
            router: lab_broadcast::router,
        },
        Lab {
            topic: "resilience",
            title: "Resilience: heartbeats, reconnection with backoff, recovery of missed updates",
            package: "lab-resilience",
            port: kit::ports::RESILIENCE,
            chapter: "best-practices",
            widget_page: "best-practices-in-the-lab",
            summary: "Drop your connection and watch the page back off with jitter, reconnect \
                      with since=<epoch>:<offset> and replay the updates it missed \
                      (recovered: true); restart the server and see recovered: false.",
            router: lab_resilience::router,
        },
        Lab {
            topic: "scale",
            title: "Scaling out: several nodes, a real load balancer, Redis between them",
            package: "lab-scale",
            port: kit::ports::SCALE,
            chapter: "scaling-out",
            widget_page: "scaling-out-the-problem-state-lives",
            summary: "Here: one node without a broker, the single server a chat starts as. Alone, \
                      cargo run -p lab-scale starts Redis, three nodes and HAProxy (it needs \
                      redis-server and haproxy: sudo apt-get install redis-server haproxy; the \
                      page says which is missing): see which node each panel is on, the \
                      messages lost with --broker none, and a node killed with kill -9 whose \
                      clients recover on the others.",
            router: lab_scale::router,
        },
    ]
}
