"""What an origin's response head may say, checked once per response before anyone reads it.

httptools frames the body; this module decides what of the head goes on, and what the gateway refuses
with a 502 (the bar is nginx's):
- a status outside 100-599 ("upstream sent invalid status"), or a 101 the gateway never asked for
  (the pool never sends Upgrade; WebSockets have their own connections);
- a transfer coding the client cannot be told about (see `response_head`).

Fields that belong to the origin's hop never reach the client: every field that any `Connection`
header names (all of them, every token) is dropped here, and the RFC 9110 §7.6.1 set by the proxy's
own table (here too when the head is rebuilt anyway; the common head is passed on untouched).

Between responses, a pooled connection must stay silent; the two socket checks for that are here too.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable
from typing import Any, NamedTuple

from gateway.errors import UpstreamUnavailable
from gateway.types import Headers

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding",
    b"upgrade", b"proxy-authenticate", b"proxy-authorization",
})
# Codings that mean the same as transfer and as content codings, and that clients decode.
CONTENT_CODINGS = frozenset({b"gzip", b"x-gzip", b"deflate", b"br"})
QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only
_SEEN = frozenset({b"connection", b"transfer-encoding", b"content-length", b"content-encoding"})
_PLAIN_CONNECTION = frozenset({b"keep-alive", b"close"})  # name no field
BODILESS = (204, 304)  # llhttp reads no body for them whatever the head says; the client must not either


class ResponseHead(NamedTuple):
    headers: Headers  # still with the standard hop-by-hop fields, which the proxy drops with its own table
    until_eof: bool  # the body ends when the origin closes (no length, or a coding without chunked)


def check_status(status: int) -> None:
    if not 100 <= status <= 599:
        raise UpstreamUnavailable(f"upstream sent status {status}, outside 100-599")
    if status == 101:
        raise UpstreamUnavailable("upstream switched protocols on a request that did not ask to")


def response_head(status: int, raw: Headers) -> ResponseHead:
    """The head a client may see, and how the body ends.

    A transfer coding other than chunked (`gzip, chunked`) is not ours to drop: the body bytes are
    still gzip after de-chunking. The gateway never sends TE, so the origin should not have used
    one; rather than refuse the page as nginx (1.23+) does, a single coding that is also a content coding
    becomes the Content-Encoding (when the response has none), which the HTML rewriter decodes and
    every browser understands; the ETag turns weak, as for any re-encoded body. Anything else
    (a second coding, or one on top of a Content-Encoding) cannot be described to the client: 502.
    `identity` means nothing and is ignored; with no chunked at the end the body runs to EOF
    (RFC 9112 §6.3).
    """
    named: set[bytes] = set()
    codings: list[bytes] = []
    has_length = False
    encoding = b""
    for name, value in raw:  # one pass; most heads have only Content-Length and Connection to see
        if name not in _SEEN:
            continue
        if name == b"content-length":
            has_length = True
        elif name == b"content-encoding":
            encoding = value.strip().lower()
        elif name == b"connection":
            if value.lower() not in _PLAIN_CONNECTION:
                named.update(t.strip().lower() for t in value.split(b","))
        elif name == b"transfer-encoding":
            codings += [c.strip().lower() for c in value.split(b",") if c.strip()]
    bodiless = status in BODILESS
    if not named and not codings and not bodiless:
        return ResponseHead(raw, not has_length)  # nearly every response: nothing to drop here
    drop = HOP_BY_HOP.union(named)
    if bodiless:
        drop = drop | {b"content-length"}
    headers = [(n, v) for n, v in raw if n not in drop]
    chunked = bool(codings) and codings[-1] == b"chunked"
    until_eof = not chunked if codings else not has_length
    extra = [c for c in (codings[:-1] if chunked else codings) if c != b"identity"]
    if extra and not bodiless:
        if len(extra) > 1 or extra[0] not in CONTENT_CODINGS or encoding not in (b"", b"identity"):
            raise UpstreamUnavailable("upstream used a transfer coding the gateway cannot pass on")
        headers = [(n, b"W/" + v if n == b"etag" and not v.startswith(b"W/") else v)
                   for n, v in headers if n != b"content-encoding"]
        headers.append((b"content-encoding", extra[0]))
    return ResponseHead(headers, until_eof and not bodiless)


def quiet_probe(fd: int) -> Callable[[], bool]:
    """A check, made once per connection, that nothing is waiting on the socket (no byte, no EOF)
    that the event loop has not read yet. poll(), not select(): descriptors above 1023 are fine."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return lambda: not poller.poll(0)


def ack_now(sock: Any) -> None:
    """Acknowledge what came at once instead of with the next request (Linux delays ACKs).

    An origin with Nagle's algorithm on holds a small late write until its last segment is
    acknowledged: without this, its stray bytes would leave only when our next request carries the
    ACK, and arrive as that request's answer. Now they arrive while the connection is idle.
    `sock` is the transport's socket (asyncio's or uvloop's wrapper), or None.
    """
    if sock is not None and QUICKACK is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
        except OSError:
            pass
