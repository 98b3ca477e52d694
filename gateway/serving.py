"""The HTTP server under the gateway: uvicorn's httptools protocol, with the response head and the
first body bytes written together.

uvicorn writes a response head as soon as `http.response.start` arrives and the body in a second
write. With TCP_NODELAY each write is its own packet, and on a proxy's short responses the packet
count, not the byte count, is what costs (nginx's `tcp_nopush` exists for the same reason). The
gateway always sends the head and the first body bytes in the same tick, so holding the head until
the next write costs no latency; a head with no body write behind it (HEAD, a WebSocket 101) is
written at the end of the tick.

The protocol also bounds what a client may send (gateway/heads.py): a head's bytes and header count
(431), the time to send it (408), the idle time between requests, the requests it may pipeline
(MAX_PIPELINED), and the time a client may stop reading a response. Trailers of a chunked request
are dropped: they must never become headers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.config import Config as UvicornConfig
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from gateway.config import GatewaySettings
from gateway.cycle import CYCLE_CHECKED, GatewayCycle
from gateway.heads import BODY_TIMED_OUT, TIMED_OUT, TOO_LARGE, HeadLimits, Refused, check_head

_HEAD_START = (b"HTTP/1.1 ", b"HTTP/1.0 ")
_HEAD_END = b"\r\n\r\n"
LINGER_SECONDS = 2.0  # after a refusal (nginx: lingering_timeout 5s, lingering_time 30s)
# Requests parsed ahead of their answers on one connection. uvicorn parses a whole read (256 KiB: 9,000
# small GETs, about 2.3 KB each once queued) at once; nginx parses the next request only after answering.
# Past this the queued ones are answered and the connection closes; a pipelining client sends the rest again.
MAX_PIPELINED = 16
PIPELINE_FULL = Refused(503, "too many pipelined requests")  # never written: answers are under way


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
    def __init__(self, config: UvicornConfig, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = HeadLimits.of(self.app)
        self.timeout_keep_alive = self.limits.keepalive_timeout  # type: ignore[assignment]  # float seconds work
        self.head_open = True  # the next bytes belong to a request head
        self.head_begun = False  # ... and some of them arrived
        self.head_raw = 0  # raw bytes of the open head, for a line httptools is still buffering
        self.framing = 0  # bytes of the body phase since the last body bytes
        self.head_size = 0  # bytes of its parsed request line and headers
        self.head_count = 0
        self.heads_done = 0
        self.head_timer: asyncio.TimerHandle | None = None
        self.send_timer: asyncio.TimerHandle | None = None
        self.body_timer: asyncio.TimerHandle | None = None
        self.last_read = 0.0  # loop time of the last bytes from the client
        self.lingering = False  # refused: reading only to drop what still comes
        self.idle_since: float | None = None  # loop time the connection went idle between requests

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self.head_timer, self.send_timer, self.body_timer, self.timeout_keep_alive_task):
            if timer is not None:
                timer.cancel()
        self.head_timer = self.send_timer = self.body_timer = self.timeout_keep_alive_task = None
        super().connection_lost(exc)

    # --- keep-alive: one timer per idle stretch, pushed back, not one made per response ---------

    def on_response_complete(self) -> None:
        """uvicorn's, except that the keep-alive timer is not made anew for every response (and
        cancelled by the next request's bytes): the connection notes when it went idle, and a
        timer already running finds out when it fires (`_keep_alive_due`)."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self.idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_due)

    def _unset_keepalive_if_required(self) -> None:
        self.idle_since = None  # bytes came: not idle; a running timer will find that and stop

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        if self.idle_since is None:
            return  # busy; the timer starts again when this request is answered
        idle = self.loop.time() - self.idle_since
        if idle >= self.timeout_keep_alive:
            self.timeout_keep_alive_handler()
        else:
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive - idle, self._keep_alive_due)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return
        self._unset_keepalive_if_required()
        counting, done = self.head_open, self.heads_done
        if not counting:
            self.framing += len(data)  # on_body resets it: what is left is chunk framing or trailers
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as e:
            if isinstance(e.__context__, Refused):
                self.refuse(e.__context__)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        if self.head_open:
            # A head that began inside this chunk is counted from the next one: at most one read
            # (256 KiB) goes uncounted, and a line that never ends is still cut off.
            self.head_raw = self.head_raw + len(data) if counting and done == self.heads_done else 0
            if self.head_raw > self.limits.max_header_bytes:
                self.refuse(TOO_LARGE)
                return
            if self.head_begun or self._answered():  # not while the last request's answer streams
                self._arm_head_timer()  # any byte, even a stray CRLF, cancelled the keep-alive timer
        elif self.framing > self.limits.max_header_bytes:
            self.refuse(TOO_LARGE)  # a trailer (or chunk extension) that never ends is a head too
        else:
            self.last_read = self.loop.time()
            if self.body_timer is None:  # a body is under way (a request without one never gets here)
                self.body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)

    def refuse(self, refused: Refused) -> None:
        """Answer and close. Like nginx's lingering close, what the client is still sending is read
        and dropped for a moment: closing with unread bytes would reset the connection, and the
        client would lose the answer."""
        if self.transport.is_closing() or self.lingering:
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.more_body:
            # A later head is refused while complete requests are still being answered: an answer
            # now would read as theirs. They are answered, then the connection closes (no 4xx).
            cycle.keep_alive = False
            self.lingering = True
            return
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's receive and send now see a client that has gone
            cycle.message_event.set()
            if cycle.response_started:
                self.transport.close()  # never an answer in the middle of a response
                return
        self.lingering = True
        self.transport.write(refused.response())
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
        if self.transport.can_write_eof():
            self.transport.write_eof()

    # --- the head: size, count, time, then nginx's checks ---------------------------------

    def _answered(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.head_begun:
            self.refuse(TIMED_OUT)  # a request line arrived: say why
        elif not self.transport.is_closing():
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_begun = True
        self.head_size = self.head_count = 0

    def on_url(self, url: bytes) -> None:
        self.head_size += len(url)
        if self.head_size > self.limits.max_header_bytes:
            raise TOO_LARGE
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.head_open:
            return  # a chunked request's trailer: never a header for the app or the site
        self.head_size += len(name) + len(value) + 4
        self.head_count += 1
        if self.head_size > self.limits.max_header_bytes or self.head_count > self.limits.max_headers:
            raise TOO_LARGE
        # uvicorn's on_header, inlined: this runs for every header of every request
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.head_open = self.head_begun = False
        self.head_raw = self.framing = 0
        self.heads_done += 1
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        refused = check_head(self.parser.get_method(), self.parser.get_http_version(), self.headers)
        if refused is not None:
            raise refused
        super().on_headers_complete()
        cycle = self.cycle
        if CYCLE_CHECKED and type(cycle) is RequestResponseCycle:
            # The cycle uvicorn just made; its task has not run yet, so every send goes through
            # GatewayCycle.send. A subclass with no state of its own: only the class changes.
            cycle.__class__ = GatewayCycle

    def _body_timed_out(self) -> None:
        """One timer per body, pushed back on reading rather than re-armed on every read."""
        self.body_timer = None
        if self.head_open:
            return  # the body is complete
        idle = self.loop.time() - self.last_read
        if idle < self.limits.body_timeout or self.flow.read_paused:  # paused: we are not reading
            delay = self.limits.body_timeout - idle if not self.flow.read_paused else self.limits.body_timeout
            self.body_timer = self.loop.call_later(delay, self._body_timed_out)
            return
        self.refuse(BODY_TIMED_OUT)

    def on_body(self, body: bytes) -> None:
        self.framing = 0
        super().on_body(body)

    def on_message_complete(self) -> None:
        self.head_open = True
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None
        super().on_message_complete()
        if len(self.pipeline) >= MAX_PIPELINED:
            raise PIPELINE_FULL

    # --- a client that stops reading ----------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.send_timer is None:
            self.send_timer = self.loop.call_later(self.limits.send_timeout, self._send_timed_out)

    def resume_writing(self) -> None:
        if self.send_timer is not None:
            self.send_timer.cancel()
            self.send_timer = None
        super().resume_writing()

    def _send_timed_out(self) -> None:
        self.send_timer = None
        self.transport.abort()  # what it has not read is lost anyway; connection_lost frees the sender


def uvicorn_options(settings: GatewaySettings) -> dict[str, Any]:
    """The uvicorn settings every gateway server runs with (`serve`, and the tests' servers)."""
    return {
        "http": GatewayHttpProtocol,
        "timeout_keep_alive": settings.keepalive_timeout,
        "ws_max_size": settings.ws_max_message_bytes,
        # Off: uvicorn queues every message of a read before it pauses, and one 64 KiB read of
        # deflated messages can hold thousands (4 clients of repeated 900 KB text reached 538 MB).
        # The site's side is uncompressed too (websocket.py).
        "ws_per_message_deflate": False,
        "proxy_headers": False,  # we read X-Forwarded-* ourselves, from trusted proxies only
        "server_header": False,
        "access_log": False,  # it prints full client addresses and query strings
    }
