"""What every interop script shares: the payloads, the output, the checks, the timeouts.

The Rust tests in interop/tests/python.rs start a lab on 127.0.0.1:0 and run a script from
this folder with the lab's URL; see interop/src/lib.rs for why and how. A script prints one
JSON object per line for the Rust side to check, and exits non-zero with a message on
anything it did not expect (check() below, or any exception websockets raises).
"""

import asyncio
import hashlib
import json
import sys

# Every wait on the network is bounded, so a lab that never answers fails the script
# instead of hanging it (the Rust side kills it after a minute anyway).
TIMEOUT = 10

# The options of every connection unless a case says otherwise: no compression (it would
# hide the frame sizes the tests check; compression.py turns it on), and room for the 1 MiB echo
# plus a margin (websockets' default limit is exactly 1 MiB).
OPTIONS = {
    "compression": None,
    "max_size": 4 * 2**20,
    "open_timeout": TIMEOUT,
    "close_timeout": TIMEOUT,
}


def text_payload(size):
    """`abcdefghij` repeated to `size` bytes, as interop::text_payload builds it."""
    return ("abcdefghij" * (size // 10 + 1))[:size]


def binary_payload(size):
    """`i mod 251` for each byte, as interop::binary_payload builds it."""
    return bytes(i % 251 for i in range(size))


def sha256(data):
    """Lowercase hex SHA-256 of text (as UTF-8) or bytes."""
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def emit(**fields):
    """One result line for the Rust side."""
    print(json.dumps(fields), flush=True)


def check(condition, message):
    """Stops the script with a message and exit code 1 if `condition` is false."""
    if not condition:
        print(f"{sys.argv[0]}: {message}", file=sys.stderr, flush=True)
        sys.exit(1)


async def within(awaitable, what):
    """Awaits `awaitable` for at most TIMEOUT seconds; a late answer fails the script."""
    try:
        return await asyncio.wait_for(awaitable, TIMEOUT)
    except asyncio.TimeoutError:
        check(False, f"timed out after {TIMEOUT} s: {what}")


def close_info(frame):
    """A received or sent close frame as JSON (None if there was none)."""
    if frame is None:
        return None
    return {"code": frame.code, "reason": frame.reason}
