"""permessage-deflate (RFC 7692) between Python's websockets and the handshake lab, both ways.

    python compression.py client ws://127.0.0.1:PORT/ws takeover|no-takeover 0 1024 65536 1048576
    python compression.py server takeover|no-takeover|default

As a client: connects with permessage-deflate offered (with context takeover, or asking for
none either way), sends text and binary messages of each size whole and then in 3 fragments,
and checks every echo. Prints {"case": "negotiated", "offered", "accepted"} first, then
{"case": "echo", "type", "size", "fragments", "sha256"} per message.

As a server: an echo server on 127.0.0.1 (a free port) with permessage-deflate, configured
as asked (`default` is websockets' own default: 4 KiB windows both ways, memLevel 5). It
prints {"case": "listening", "port"} once it listens, then {"case": "connection",
"accepted", "received"} when its first connection closes, and exits. (Whether the frames
were compressed is checked on the Rust side, which sees their RSV1 bit.)
"""

import asyncio
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)

from common import OPTIONS, TIMEOUT, binary_payload, check, emit, sha256, text_payload, within


def client_factory(mode):
    """The client's offer: websockets' default (context takeover, client_max_window_bits
    offered), or both no_context_takeover parameters."""
    fresh = mode == "no-takeover"
    return ClientPerMessageDeflateFactory(
        server_no_context_takeover=fresh, client_no_context_takeover=fresh
    )


def server_factory(mode):
    if mode == "default":
        return ServerPerMessageDeflateFactory(
            server_max_window_bits=12, client_max_window_bits=12, compress_settings={"memLevel": 5}
        )
    fresh = mode == "no-takeover"
    return ServerPerMessageDeflateFactory(
        server_no_context_takeover=fresh, client_no_context_takeover=fresh
    )


def thirds(payload):
    """`payload` cut into 3 parts (some maybe empty), for a fragmented send."""
    n = len(payload)
    return [payload[: n // 3], payload[n // 3 : 2 * n // 3], payload[2 * n // 3 :]]


async def run_client(url, mode, sizes):
    options = dict(OPTIONS, compression=None, extensions=[client_factory(mode)])
    async with connect(url, **options) as ws:
        offered = ws.request.headers.get("Sec-WebSocket-Extensions")
        accepted = ws.response.headers.get("Sec-WebSocket-Extensions")
        emit(case="negotiated", offered=offered, accepted=accepted)
        check(accepted is not None, "the lab did not accept permessage-deflate")
        for size in sizes:
            for kind, payload in (("text", text_payload(size)), ("binary", binary_payload(size))):
                for fragments in (1, 3):
                    message = payload if fragments == 1 else thirds(payload)
                    await within(ws.send(message), f"sending {kind} of {size} in {fragments}")
                    reply = await within(ws.recv(), f"the echo of {kind} of {size} in {fragments}")
                    check(type(reply) is type(payload), f"{kind} of {size} came back as {type(reply)}")
                    check(reply == payload, f"{kind} of {size} in {fragments} came back changed")
                    emit(case="echo", type=kind, size=len(reply), fragments=fragments, sha256=sha256(reply))


async def run_server(mode):
    done = asyncio.get_running_loop().create_future()

    async def echo(ws):
        accepted = ws.response.headers.get("Sec-WebSocket-Extensions")
        received = 0
        try:
            async for message in ws:
                received += 1
                await ws.send(message)
        finally:
            emit(case="connection", accepted=accepted, received=received)
            if not done.done():
                done.set_result(None)

    options = dict(
        compression=None,
        extensions=[server_factory(mode)],
        max_size=OPTIONS["max_size"],
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    )
    async with serve(echo, "127.0.0.1", 0, **options) as server:
        port = server.sockets[0].getsockname()[1]
        emit(case="listening", port=port)
        await asyncio.wait_for(done, 60)


if __name__ == "__main__":
    if sys.argv[1] == "client":
        asyncio.run(run_client(sys.argv[2], sys.argv[3], [int(size) for size in sys.argv[4:]]))
    else:
        asyncio.run(run_server(sys.argv[2]))
