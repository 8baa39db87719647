"""The private lab's browser login, through Python's websockets: the token offered as a
subprotocol next to `private.v1`, as a browser's `new WebSocket(url, ["private.v1", token])`
does, since a browser cannot set an Authorization header.

    python private.py http://127.0.0.1:PORT

Logs in as alice with `POST /login` (Python's own urllib), connects offering
["private.v1", token] and prints {"case": "subprotocol", ...}: the protocol websockets saw
chosen, the header the lab sent, and the welcome. Then offers a forged token (its signature
altered) and prints {"case": "forged", ...} with the status of the refused upgrade.
"""

import asyncio
import json
import sys
import urllib.request

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from common import OPTIONS, TIMEOUT, check, emit, within

PROTOCOL = "private.v1"


def login(base, user, password):
    request = urllib.request.Request(
        f"{base}/login",
        data=json.dumps({"user": user, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return json.load(response)["token"]


async def main(base):
    ws_url = base.replace("http://", "ws://", 1) + "/ws"
    # urllib blocks; in a thread, so the event loop's timeouts still hold.
    token = await within(asyncio.to_thread(login, base, "alice", "alice-pw"), "logging in")
    check(token.count(".") == 2, "the login did not answer a JWT")

    async with connect(ws_url, subprotocols=[PROTOCOL, token], **OPTIONS) as ws:
        welcome = json.loads(await within(ws.recv(), "the welcome"))
        emit(
            case="subprotocol",
            chosen=ws.subprotocol,
            header=ws.response.headers.get("Sec-WebSocket-Protocol"),
            welcome=welcome,
        )

    # The same token with its signature's first character changed.
    head, claims, signature = token.split(".")
    forged = ".".join([head, claims, ("A" if signature[0] != "A" else "B") + signature[1:]])
    try:
        async with connect(ws_url, subprotocols=[PROTOCOL, forged], **OPTIONS):
            check(False, "a forged token was let in")
    except InvalidStatus as refused:
        response = refused.response
        emit(
            case="forged",
            status=response.status_code,
            www_authenticate=response.headers.get("WWW-Authenticate"),
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
