"""Reading a small request body whole, with a size limit: the decision POST and the dashboard's
sign-in form both need it, and a limit that is checked in one place is checked the same way.

The declared Content-Length is refused before a byte is read when it is already over the limit;
the bytes are counted as they come anyway, since a chunked body declares nothing. A pause is
bounded elsewhere: serving.py answers 408 when the body stalls longer than `body_timeout`.
"""

from __future__ import annotations

from gateway.errors import BadRequest
from gateway.types import Receive


async def read_bounded_body(receive: Receive, limit: int, declared: bytes | None = None,
                            what: str = "request body") -> bytes:
    """The whole body, or BadRequest: 413 over `limit` bytes (declared or counted), 400 for a
    Content-Length that is not a number or a client that went away."""
    too_large = BadRequest(f"{what} too large (limit {limit} bytes)", 413)
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise BadRequest("bad Content-Length") from None
        if length > limit:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
