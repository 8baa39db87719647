//! The floor: echo over length-prefixed frames on a bare TCP socket.
//!
//! No headers, no masking, no streams: a 4-byte length and the encoded message. Whatever a
//! real protocol costs on top of this is what the other rows of the results show.

use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use super::ServerState;
use crate::wire::{self, FrameReader, WireError};

/// Accepts connections forever, one task per connection.
pub async fn serve(listener: TcpListener, state: Arc<ServerState>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Usually "too many open files": log it and keep accepting.
                tracing::warn!(%err, "accept failed on the raw TCP listener");
                continue;
            }
        };
        if let Err(err) = stream.set_nodelay(state.options.nodelay) {
            tracing::warn!(%err, "could not set TCP_NODELAY");
        }
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(err) = handle_connection(stream, &state).await {
                tracing::debug!(%peer, %err, "raw TCP connection ended with an error");
            }
        });
    }
}

/// One connection: the encoding byte, then frame in, frame out, until the peer closes.
async fn handle_connection(mut stream: TcpStream, state: &ServerState) -> Result<(), WireError> {
    let hello = stream.read_u8().await?;
    let Some(encoding) = wire::encoding_from_hello(hello) else {
        return Err(WireError::Decode(format!(
            "unknown encoding byte {hello:#04x}"
        )));
    };
    let mut reader = FrameReader::default();
    loop {
        let request = match reader.read(&mut stream).await {
            Ok(request) => request,
            Err(WireError::Closed) => return Ok(()),
            Err(err) => return Err(err),
        };
        state.stall.gate().await;
        let reply = wire::echo(encoding, &request)?;
        wire::write_frame(&mut stream, reply).await?;
    }
}
