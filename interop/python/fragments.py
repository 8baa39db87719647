"""Fragmented messages and a ping through Python's websockets, against the handshake lab.

    python fragments.py ws://127.0.0.1:PORT/ws

websockets sends a message as several frames when send() is given an iterable: the first
frame carries the opcode, the others are continuations, and it ends the message with one more,
empty continuation frame with FIN set (so 3 parts make 4 frames; the test checks them in the
lab's inspector). The lab must reassemble them and echo one message. Prints
{"case": "fragmented", ...} for two text messages in 3 parts, one with a 3-byte character in a
part of its own, and a binary message in 3 parts of 64 KiB, then {"case": "ping", ...}.
"""

import asyncio
import sys

from websockets.asyncio.client import connect

from common import OPTIONS, binary_payload, check, emit, sha256, within


async def main(url):
    async with connect(url, **OPTIONS) as ws:
        parts = ["Hel", "lo, ", "world"]
        await within(ws.send(parts), "sending 3 text fragments")
        reply = await within(ws.recv(), "the reassembled text")
        check(reply == "".join(parts), f"text fragments came back as {reply!r}")
        emit(case="fragmented", type="text", fragments=len(parts), received=reply)

        # "€" is 3 bytes of UTF-8, here a fragment of its own. (websockets encodes each str
        # part on its own, so it cannot split inside a character; the lab's own tests do.)
        parts = ["1 ", "€", " = 100 c"]
        await within(ws.send(parts), "sending text fragments with a 3-byte character")
        reply = await within(ws.recv(), "the reassembled text with a 3-byte character")
        check(reply == "".join(parts), f"text fragments came back as {reply!r}")
        emit(case="fragmented", type="text", fragments=len(parts), received=reply)

        whole = binary_payload(3 * 65536)
        parts = [whole[i : i + 65536] for i in range(0, len(whole), 65536)]
        await within(ws.send(parts), "sending 3 binary fragments")
        reply = await within(ws.recv(), "the reassembled binary")
        check(reply == whole, "binary fragments came back changed")
        emit(case="fragmented", type="binary", fragments=len(parts), size=len(reply), sha256=sha256(reply))

        # ping() returns a future that completes when the pong with the same payload arrives.
        pong = await within(ws.ping(b"are you there"), "sending a ping")
        latency = await within(pong, "the pong")
        emit(case="ping", payload="are you there", answered=latency >= 0)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
