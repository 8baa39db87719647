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
    /// The title and the summary in Vietnamese, for the labs page of the `/vi/` edition.
    pub vi: LabText,
    /// Builds the lab's router; the allowlist already holds the course's origin.
    /// Its connections close with 1001 when the launcher's `Shutdown` starts.
    pub router: fn(OriginAllowlist, &kit::Shutdown) -> Router,
}

/// What the labs page says about a lab, in one language.
#[derive(Clone, Copy, Debug)]
pub struct LabText {
    /// The lab's title.
    pub title: &'static str,
    /// One sentence on what the learner does there.
    pub summary: &'static str,
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
            vi: LabText {
                title: "Handshake và frame: RFC 6455 tự viết từ đầu",
                summary: "Gửi một message từ trình duyệt và xem từng byte server nhận được: request upgrade, các bit header của từng frame, masking key, state machine.",
            },
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
            vi: LabText {
                title: "Gateway: các ý tưởng của NestJS viết bằng Rust",
                summary: "Soạn một envelope bất kỳ rồi gửi đi: xem ack mang id của request, exception nói rõ sai ở đâu, guard từ chối, và các event server push xuống.",
            },
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
            vi: LabText {
                title: "Room: cô lập, presence và vòng đời của room",
                summary: "Chat trong các room từ nhiều cửa sổ: xem ai đang có mặt, theo dõi một room đi từ Created đến Deleted, và kiểm tra rằng message của một room đến được các thành viên của nó và không ai khác.",
            },
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
            vi: LabText {
                title: "Private messaging: có xác thực, riêng tư, mã hoá đầu cuối",
                summary: "Đăng nhập hai user cạnh nhau, mở một private channel và gửi các message được niêm phong ngay trong trình duyệt: cột giữa cho thấy những gì server thấy (ciphertext), còn các nút tấn công cho thấy việc sửa gói tin và phát lại bị từ chối.",
            },
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
            vi: LabText {
                title: "Broadcasting: đến tất cả, đến một nhóm, có xác nhận, và cái giá của fan-out",
                summary: "Theo dõi các bộ đếm trực tiếp khi bạn broadcast đến mọi người, đến một topic, theo bộ lọc thuộc tính hoặc đến mọi người trừ bạn; yêu cầu xác nhận và đọc chính xác số delivered / failed / timed-out; xem các message volatile bị bỏ.",
            },
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
            vi: LabText {
                title: "Resilience: heartbeat, reconnect có backoff, khôi phục các cập nhật bị lỡ",
                summary: "Ngắt kết nối của bạn và xem trang backoff có jitter, reconnect với since=<epoch>:<offset> rồi phát lại các cập nhật đã lỡ (recovered: true); khởi động lại server và thấy recovered: false.",
            },
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
            vi: LabText {
                title: "Scale out: nhiều node, một load balancer thật, Redis ở giữa",
                summary: "Tại đây: một node không có broker, chính là server duy nhất mà một ứng dụng chat thường bắt đầu. Chạy riêng, cargo run -p lab-scale khởi động Redis, ba node và HAProxy (cần redis-server và haproxy: sudo apt-get install redis-server haproxy; trang sẽ báo thiếu gì): xem mỗi panel đang ở node nào, các message bị mất với --broker none, và một node bị kill -9 mà client của nó khôi phục trên các node còn lại.",
            },
            router: lab_scale::router,
        },
    ]
}
