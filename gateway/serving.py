"""The HTTP server under the gateway: uvicorn's httptools protocol, with the response head and the
first body bytes written together.

uvicorn writes a response head as soon as `http.response.start` arrives and the body in a second
write. With TCP_NODELAY each write is its own packet, and on a proxy's short responses the packet
count, not the byte count, is what costs (nginx's `tcp_nopush` exists for the same reason). The
gateway always sends the head and the first body bytes in the same tick, so holding the head until
the next write costs no latency; a head with no body write behind it (HEAD, a WebSocket 101) is
written at the end of the tick.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_HEAD_START = (b"HTTP/1.1 ", b"HTTP/1.0 ")
_HEAD_END = b"\r\n\r\n"


class CoalescingTransport:
    """Wraps a transport: a write that is a whole response head waits for the next write."""

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data.startswith(_HEAD_START) and data.endswith(_HEAD_END):
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GatewayHttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
