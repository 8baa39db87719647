//! gRPC with tonic: the echo as a unary call and as a bidirectional stream, and the push
//! workload as server streaming.
//!
//! tonic decodes each request and encodes each reply with prost, which is the same work the
//! other servers do by hand in [`crate::wire::echo`]. The echo rpcs are served twice on the
//! same port: `bench.v1.Bench` with protobuf messages and `bench.v1.BenchJson` with JSON ones
//! (`protos::json`), the same messages every other transport carries in each encoding.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::{Stream, StreamExt as _};
use protos::bench::v1::bench_json_server::{BenchJson, BenchJsonServer};
use protos::bench::v1::bench_server::{Bench, BenchServer};
use protos::bench::v1::{EchoReply, EchoRequest, SubscribeRequest, Update};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};

use super::ServerState;
use super::http::{make_update, push_payload};
use crate::wire::MAX_FRAME;

/// The service: shares the server state for the stall gate.
#[derive(Debug, Clone)]
pub struct BenchService {
    /// Options and the one-time pause.
    state: Arc<ServerState>,
}

/// A boxed stream of gRPC messages, the type tonic's generated trait asks for.
type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Bench for BenchService {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        self.echo_one(request).await
    }

    type SubscribeStream = BoxStream<Update>;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let SubscribeRequest {
            count,
            payload_size,
        } = request.into_inner();
        let payload = push_payload(payload_size as usize);
        // Each update is made when the stream is polled, i.e. when HTTP/2 flow control lets
        // the server send it: its `sent_at` is the moment it could leave.
        let updates =
            futures_util::stream::iter(0..count).map(move |seq| Ok(make_update(seq, &payload)));
        Ok(Response::new(Box::pin(updates)))
    }

    type EchoStreamStream = BoxStream<EchoReply>;

    async fn echo_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<Self::EchoStreamStream>, Status> {
        Ok(self.echo_many(request))
    }
}

/// The JSON service: the same two echo rpcs, the codec does the rest.
#[tonic::async_trait]
impl BenchJson for BenchService {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        self.echo_one(request).await
    }

    type EchoStreamStream = BoxStream<EchoReply>;

    async fn echo_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<Self::EchoStreamStream>, Status> {
        Ok(self.echo_many(request))
    }
}

impl BenchService {
    /// A unary echo, in either encoding: the codec has decoded the request already.
    async fn echo_one(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        self.state.stall.gate().await;
        let request = request.into_inner();
        Ok(Response::new(EchoReply {
            seq: request.seq,
            payload: request.payload,
        }))
    }

    /// A bidirectional echo stream, in either encoding.
    fn echo_many(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Response<BoxStream<EchoReply>> {
        let inbound = request.into_inner();
        let state = self.state.clone();
        // One reply per request, in order, without a task or channel in between: the reply
        // stream pulls the next request when tonic asks for the next reply.
        let replies = futures_util::stream::unfold(Some(inbound), move |inbound| {
            let state = state.clone();
            async move {
                let mut inbound = inbound?;
                match inbound.message().await {
                    Ok(Some(request)) => {
                        state.stall.gate().await;
                        let reply = EchoReply {
                            seq: request.seq,
                            payload: request.payload,
                        };
                        Some((Ok(reply), Some(inbound)))
                    }
                    Ok(None) => None,
                    // Report the error once, then end the stream.
                    Err(status) => Some((Err(status), None)),
                }
            }
        });
        Response::new(Box::pin(replies))
    }
}

/// Serves the gRPC service on `listener` with `TCP_NODELAY` set (or not) on every socket.
pub async fn serve(listener: TcpListener, state: Arc<ServerState>) {
    let nodelay = state.options.nodelay;
    let service = BenchService { state };
    // tonic refuses messages over 4 MiB by default; the 1 MiB payload in JSON and the
    // 4 MiB limit of the harness need more.
    let proto = BenchServer::new(service.clone())
        .max_decoding_message_size(MAX_FRAME)
        .max_encoding_message_size(MAX_FRAME);
    let json = BenchJsonServer::new(service)
        .max_decoding_message_size(MAX_FRAME)
        .max_encoding_message_size(MAX_FRAME);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(nodelay));
    if let Err(err) = tonic::transport::Server::builder()
        .add_service(proto)
        .add_service(json)
        .serve_with_incoming(incoming)
        .await
    {
        tracing::error!(%err, "the gRPC server stopped");
    }
}
