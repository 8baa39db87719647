"""The handshake lab's echo through Python's websockets: text and binary messages of each size
given on the command line come back unchanged.

    python echo.py ws://127.0.0.1:PORT/ws 0 125 65536 1048576

Prints, per size and type, {"case": "echo", "type", "size", "sha256"} of what came back; then
one connection with websockets' default options, which offer permessage-deflate: the lab
accepts it, unless started with --no-compression (RFC 7692: a server that declines just
answers without the extension, and the client must go on uncompressed).
"""

import asyncio
import sys

from websockets.asyncio.client import connect

from common import OPTIONS, TIMEOUT, binary_payload, check, emit, sha256, text_payload, within


async def main(url, sizes):
    async with connect(url, **OPTIONS) as ws:
        for size in sizes:
            for kind, payload in (("text", text_payload(size)), ("binary", binary_payload(size))):
                await within(ws.send(payload), f"sending {kind} of {size} bytes")
                reply = await within(ws.recv(), f"the echo of {kind} of {size} bytes")
                # recv() gives str for a text message and bytes for a binary one.
                check(type(reply) is type(payload), f"{kind} of {size} came back as {type(reply)}")
                check(reply == payload, f"{kind} of {size} bytes came back changed")
                emit(case="echo", type=kind, size=len(reply), sha256=sha256(reply))

    # websockets' defaults: compression="deflate" offers permessage-deflate.
    async with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        offered = ws.request.headers.get("Sec-WebSocket-Extensions")
        accepted = ws.response.headers.get("Sec-WebSocket-Extensions")
        await within(ws.send("compressible " * 100), "sending with the default options")
        reply = await within(ws.recv(), "the echo with the default options")
        check(reply == "compressible " * 100, "the echo with the default options changed")
        emit(case="extensions", offered=offered, accepted=accepted, size=len(reply))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], [int(size) for size in sys.argv[2:]]))
