"""The gateway's JSON envelope through Python's websockets: requests with ids and their
acks, exceptions that leave the connection open, and the size limit.

    python gateway.py ws://127.0.0.1:PORT/ws?user=ada LIMIT

Each frame the server sends is printed as {"case", "frame"}: the welcome, the ack of `echo`
(id 7) and of `add` (id 8), the exception for an unknown event (id 9) and for a frame that
is not JSON; then {"case": "too_big", ...} with the close frames after a message of
LIMIT + 1 bytes.
"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from common import OPTIONS, check, close_info, emit, text_payload, within


async def reply_to(ws, request, what):
    """Sends `request` (a dict as JSON, or raw text) and returns the next frame as JSON."""
    text = request if isinstance(request, str) else json.dumps(request)
    await within(ws.send(text), f"sending {what}")
    frame = await within(ws.recv(), f"the answer to {what}")
    check(isinstance(frame, str), f"the answer to {what} is not a text frame")
    return json.loads(frame)


async def main(url, limit):
    async with connect(url, **OPTIONS) as ws:
        welcome = json.loads(await within(ws.recv(), "the welcome"))
        emit(case="welcome", frame=welcome)
        requests = [
            ("echo", {"event": "echo", "data": {"text": "Hello"}, "id": 7}),
            ("add", {"event": "add", "data": {"a": 2, "b": 40}, "id": 8}),
            ("unknown", {"event": "no-such-event", "data": {}, "id": 9}),
            ("not_json", "this is not JSON"),
        ]
        for case, request in requests:
            emit(case=case, frame=await reply_to(ws, request, case))

        # One envelope over the limit: the frame header alone says it is too big.
        big = json.dumps({"event": "echo", "data": {"text": text_payload(limit)}})
        try:
            await within(ws.send(big), "sending a message over the limit")
            reply = await within(ws.recv(), "the answer to a message over the limit")
            check(False, f"a message over the limit was answered: {reply[:80]!r}")
        except ConnectionClosedOK:
            check(False, "the gateway closed normally after a message over the limit")
        except ConnectionClosed as closed:
            emit(case="too_big", size=len(big), sent=close_info(closed.sent), received=close_info(closed.rcvd))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
