"""Close codes both ways through Python's websockets, against a lab whose message limit is
given on the command line.

    python close.py ws://127.0.0.1:PORT/ws LIMIT

1. The client closes with 4000 (a code for applications, RFC 6455 section 7.4.2) and a
   reason, then with 1000 and none: the closing handshake completes and the lab answers
   with a close frame of its own (the lab echoes the code).
2. The client sends one message of LIMIT + 1 bytes in a single frame, then one in two
   frames of about LIMIT / 2 + 1 bytes each: the lab closes with 1009 ("message too big").

Prints {"case", "sent", "received"} per connection: the close frames each way, as websockets
recorded them (null for one that never came).
"""

import asyncio
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from common import OPTIONS, check, close_info, emit, text_payload, within


async def client_close(url, code, reason):
    async with connect(url, **OPTIONS) as ws:
        await within(ws.send("before closing"), "sending")
        check(await within(ws.recv(), "the echo") == "before closing", "echo changed")
        await within(ws.close(code=code, reason=reason), f"closing with {code}")
        emit(case="client_close", sent=close_info(ws.protocol.close_sent), received=close_info(ws.protocol.close_rcvd))


async def too_big(url, case, message):
    async with connect(url, **OPTIONS) as ws:
        try:
            await within(ws.send(message), "sending a message over the limit")
            reply = await within(ws.recv(), "the server's answer to a message over the limit")
            check(False, f"a message over the limit was answered with a message: {reply[:40]!r}")
        except ConnectionClosedOK:
            check(False, "the server closed normally after a message over the limit")
        except ConnectionClosed as closed:
            emit(case=case, sent=close_info(closed.sent), received=close_info(closed.rcvd))


async def main(url, limit):
    await client_close(url, 4000, "interop bye")
    await client_close(url, 1000, "")
    await too_big(url, "too_big", text_payload(limit + 1))
    half = limit // 2 + 1
    await too_big(url, "too_big_fragmented", [text_payload(half), text_payload(half)])


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
