"""A room through Python's websockets: two clients join it, one sends, the other receives.

    python rooms.py ws://127.0.0.1:PORT/ws

ada and bob connect (`?name=`), each reads its welcome and joins room `interop`; ada sends
a message to it. Prints {"case", "client", "frame"} for both welcomes, both join acks, the
ack of ada's `send`, and the `message` event as bob received it. Pushed events a case does
not wait for (presence, room lifecycle) are skipped, within the timeout.
"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect

from common import OPTIONS, check, emit, within


async def next_event(ws, predicate, what):
    """The next frame for which `predicate` holds, skipping others, within the timeout."""

    async def wait():
        while True:
            frame = json.loads(await ws.recv())
            if predicate(frame):
                return frame

    return await within(wait(), what)


def answer_to(request_id):
    return lambda frame: frame.get("id") == request_id


async def main(url):
    async with connect(f"{url}?name=ada", **OPTIONS) as ada, connect(f"{url}?name=bob", **OPTIONS) as bob:
        for name, ws in (("ada", ada), ("bob", bob)):
            welcome = json.loads(await within(ws.recv(), f"{name}'s welcome"))
            emit(case="welcome", client=name, frame=welcome)
        for name, ws in (("ada", ada), ("bob", bob)):
            await within(ws.send(json.dumps({"event": "join", "data": {"room": "interop"}, "id": 1})), "join")
            emit(case="join", client=name, frame=await next_event(ws, answer_to(1), f"{name}'s join ack"))

        send = {"event": "send", "data": {"room": "interop", "text": "hello from python"}, "id": 2}
        await within(ada.send(json.dumps(send)), "ada's send")
        emit(case="send", client="ada", frame=await next_event(ada, answer_to(2), "ada's send ack"))
        message = await next_event(bob, lambda f: f.get("event") == "message", "the message at bob")
        check(message["data"]["text"] == "hello from python", f"bob got {message}")
        emit(case="message", client="bob", frame=message)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
