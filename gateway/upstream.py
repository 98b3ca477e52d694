"""The upstream client: a keep-alive pool of HTTP/1.1 connections to the site.

Built on asyncio protocols and httptools (the parser uvicorn uses) because the upstream client
decides the gateway's throughput: a general-purpose client costs several times more per request.
It streams both ways with explicit flow control, keeps no cookie jar (a shared jar would replay
one visitor's cookies to the next), and maps every lower-level failure to our error types here,
in one place.

A response head (1xx heads included) is bounded by the [gateway] head limits, as nginx bounds it by
proxy_buffer_size: 502 beyond. A connection is reused only if the site sent nothing its framing did
not allow (nginx: "upstream sent more data than specified"), else those bytes would be the next
visitor's response: a byte after a complete response or while pooled, or EOF while pooled, closes
it; the socket is checked again when the pool hands it out (the loop may not have read it yet).
Heads are checked in framing.py.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import httptools

from gateway.config import Upstream
from gateway.errors import GatewayError, UpstreamBodyError, UpstreamTimeout, UpstreamUnavailable
from gateway.framing import ack_now, check_status, quiet_probe, response_head
from gateway.types import Headers

log = logging.getLogger("consent_gateway.upstream")

# Sent again on a fresh connection when a reused one closed before any byte of the answer came. Only
# safe methods: the site may have acted on a PUT or DELETE before dropping it, and state has changed.
REPLAYABLE = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE"})
HIGH_WATER = 256 * 1024  # stop reading from the site when this much body waits for the client
LOW_WATER = 64 * 1024


def map_error(exc: BaseException, *, phase: str) -> GatewayError:
    """The one place where socket, parser and timeout errors become gateway errors."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"upstream timed out during {phase}")
    if isinstance(exc, ssl.SSLError):
        return UpstreamUnavailable(f"TLS to the upstream failed during {phase}")
    if isinstance(exc, httptools.HttpParserError):
        return UpstreamUnavailable(f"upstream sent an invalid response during {phase}")
    if isinstance(exc, ConnectionRefusedError):
        return UpstreamUnavailable("upstream refused the connection")
    if isinstance(exc, OSError | EOFError | ConnectionError):
        return UpstreamUnavailable(f"upstream connection failed during {phase}")
    return UpstreamUnavailable(f"upstream failed during {phase}")


class _Connection(asyncio.Protocol):
    """One TCP connection to the site; parses one response at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_head_bytes: int = 64 * 1024,
                 max_headers: int = 100) -> None:
        self.loop = loop
        self.max_head_bytes = max_head_bytes  # what nginx's proxy_buffer_size bounds: 502 beyond
        self.max_headers = max_headers
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self.idle = False  # waiting in the pool: no byte is expected
        self.excess = False  # the site sent more than its framing allowed: never reuse
        self.sock: Any = None  # the transport's socket wrapper (asyncio's or uvloop's)
        self.quiet: Callable[[], bool] = lambda: True
        self._error: BaseException | None = None
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        # One parser for the connection's life: llhttp starts the next message by itself after a
        # complete one, and a connection is only used again after a clean, complete response
        # (`can_reuse`); any other ending closes it, parser and all.
        self.parser = httptools.HttpResponseParser(self)
        self._reset(head_only=False)

    def _reset(self, *, head_only: bool) -> None:
        self.head_only = head_only
        self.status = 0
        self.headers: Headers = []
        self.head_bytes = 0  # raw bytes before the final head ended, interim (1xx) heads included
        self.head_size = 0  # parsed header bytes, for a head that ends inside one read
        self.head_done: asyncio.Future[None] = self.loop.create_future()
        self.body: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.complete = False
        self.got_bytes = False
        self.read_paused = False
        self._body_waiter: asyncio.Future[None] | None = None
        self.eof_ends_body = False
        self.keep_alive = False

    def begin(self, head_only: bool) -> None:
        self._reset(head_only=head_only)

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transport is not a subclass
        self.sock = transport.get_extra_info("socket")
        if self.sock is not None:
            self.quiet = quiet_probe(self.sock.fileno())

    def data_received(self, data: bytes) -> None:
        if self.idle or self.complete:
            self._overrun()
            return
        self.got_bytes = True
        if not self.status:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # never reached: check_status refuses the 101 first
            self._fail(UpstreamUnavailable("upstream switched protocols"))
        except httptools.HttpParserError as e:
            cause = e.__context__  # what a callback raised
            if isinstance(cause, _Overrun):
                self._overrun()
            else:
                self._fail(cause if isinstance(cause, GatewayError) else e)
            return
        if not self.status and self.head_bytes > self.max_head_bytes:
            self._fail(UpstreamUnavailable("upstream sent too big a response head"))  # a line still open

    def eof_received(self) -> bool | None:
        if self.idle:
            self.close()  # the site closed a pooled connection: nothing to tell anyone
        if not self.complete and self.head_done.done() and self.eof_ends_body:
            self.on_message_complete()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.complete:
            if self.head_done.done() and self.eof_ends_body and exc is None:
                self.on_message_complete()
            else:
                self._fail(exc or ConnectionResetError("upstream closed the connection"))
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_exception(ConnectionResetError("upstream closed the connection"))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # --- httptools callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:
            raise _Overrun  # a second response after a complete one: stop parsing here

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.status:
            return  # a trailer (httptools reports them as headers): never part of the head
        self.head_size += len(name) + len(value) + 4
        if self.head_size > self.max_head_bytes or len(self.headers) >= self.max_headers:
            raise UpstreamUnavailable("upstream sent too big a response head")
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self.headers = []  # interim response (100, 103): wait for the final one
            return
        check_status(status)  # raises: 502
        head = response_head(status, self.headers)
        self.status = status
        self.headers = head.headers
        # Read it now: after the message completes the parser has reset and no longer knows.
        self.keep_alive = self.parser.should_keep_alive()
        self.eof_ends_body = head.until_eof
        if not self.head_done.done():
            self.head_done.set_result(None)
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)  # an answer during the upload: send no more of it
        if self.head_only or status in (204, 304):
            # httptools cannot be told the response has no body (HEAD); end it here and never
            # reuse this connection, since the parser would wait for a body that never comes.
            if self.head_only:
                self.closed = True
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        if self.complete:
            raise _Overrun  # a body after a HEAD answer (the parser expects one the head announced)
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.read_paused and self.transport is not None:
            self.read_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.status == 0 or self.complete:
            return  # end of an interim response
        self.complete = True
        self._wake()

    # --- helpers ------------------------------------------------------------------------

    def _overrun(self) -> None:
        if not self.excess:
            self.excess = True
            log.warning("upstream sent more data than its response allowed; connection closed")
        self.close()

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        if not self.head_done.done():
            self.head_done.set_exception(exc)
            self.head_done.exception()  # mark retrieved; the caller reads it via await
        self._wake()
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        w = self._body_waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def drain(self, timeout: float) -> None:
        """Wait until the site takes more of the body (nginx: proxy_send_timeout), or answers."""
        if self._write_paused and not self.closed and not self.head_done.done():
            self._drain_waiter = self.loop.create_future()
            await _wait(self.loop, self._drain_waiter, timeout)

    async def next_chunk(self, timeout: float) -> bytes | None:
        """The next piece of body, or None at its end. Raises on reset or timeout."""
        while True:
            if self.body:
                chunk = self.body.popleft()
                self.buffered -= len(chunk)
                if self.read_paused and self.buffered < LOW_WATER and self.transport is not None:
                    self.read_paused = False
                    self.transport.resume_reading()
                return chunk
            if self.complete:
                return None
            if self._error is not None:
                raise UpstreamBodyError("upstream broke the connection mid-body") from self._error
            self._body_waiter = self.loop.create_future()
            await _wait(self.loop, self._body_waiter, timeout)
            self._body_waiter = None

    def can_reuse(self) -> bool:
        return (self.complete and not self.closed and self._error is None and not self.excess
                and self.keep_alive and self.transport is not None
                and not self.transport.is_closing())

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Overrun(Exception):
    """Raised inside a parser callback to stop parsing bytes the framing did not allow."""

    def __init__(self) -> None:
        super().__init__("upstream sent more data than its response allowed")


async def _wait(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any], timeout: float) -> None:
    # A bare timer instead of asyncio.wait_for: no extra task per wait on the hot path.
    def expire() -> None:
        if not fut.done():
            fut.set_exception(TimeoutError())

    handle = loop.call_later(timeout, expire)
    try:
        await fut
    finally:
        handle.cancel()


class UpstreamResponse:
    """A response head from the site, with its body still on the wire."""

    def __init__(self, pool: UpstreamPool, conn: _Connection, request_done: bool) -> None:
        self._pool = pool
        self._conn = conn
        self._request_done = request_done
        self.status = conn.status
        self.headers = conn.headers
        self._released = False

    @property
    def drained(self) -> bool:
        """The whole body has been handed out: no more chunks will come."""
        return self._conn.complete and not self._conn.body

    def take_whole(self) -> bytes | None:
        """The whole body, when the site has sent all of it already (a small response: head and body
        in one read), with the connection given back at once; else None, and nothing is taken."""
        conn = self._conn
        if not conn.complete or self._released:
            return None
        body = conn.body
        whole = body.popleft() if len(body) == 1 else b"".join(body)
        body.clear()
        conn.buffered = 0
        if conn.read_paused and conn.transport is not None:  # as next_chunk does once the buffer drains
            conn.read_paused = False
            conn.transport.resume_reading()
        self.release()
        return whole

    async def iter_body(self) -> AsyncGenerator[bytes, None]:
        conn = self._conn
        try:
            while True:
                try:
                    chunk = await conn.next_chunk(self._pool.read_timeout)
                except TimeoutError:
                    raise UpstreamBodyError("upstream stalled mid-body") from None
                if chunk is None:
                    break
                yield chunk
        finally:
            self.release()

    def release(self) -> None:
        """Give the connection back when the exchange ended cleanly, otherwise close it."""
        if self._released:
            return
        self._released = True
        if self._request_done and self._conn.can_reuse():
            self._pool._put(self._conn)
        else:
            self._conn.close()

    def discard(self) -> None:
        """Close the connection unless it was already released: for paths that end in an error."""
        if not self._released:
            self._released = True
            self._conn.close()


class UpstreamPool:
    def __init__(self, upstream: Upstream, *, connect_timeout: float = 5.0, read_timeout: float = 30.0,
                 size: int = 64, ca_file: str | None = None, max_head_bytes: int = 64 * 1024,
                 max_headers: int = 100) -> None:
        self.upstream = upstream
        self.head_limits = (max_head_bytes, max_headers)
        # An https site: verified against the system CAs (or the configured bundle), SNI and
        # hostname checked against the upstream's host. Built once; handshakes only on new connections.
        self.ssl: ssl.SSLContext | None = None
        if upstream.scheme == "https":
            self.ssl = ssl.create_default_context(cafile=ca_file)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.size = size
        self._idle: collections.deque[_Connection] = collections.deque()

    def _put(self, conn: _Connection) -> None:
        if len(self._idle) < self.size:
            conn.reused = True
            conn.idle = True
            ack_now(conn.sock)
            self._idle.append(conn)
        else:
            conn.close()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        # create_connection is a coroutine; asyncio.wait_for is fine here, connects are rare.
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: _Connection(loop, *self.head_limits), self.upstream.host, self.upstream.port,
                                   ssl=self.ssl, server_hostname=self.upstream.host if self.ssl else None),
            self.connect_timeout,
        )
        return conn

    async def _acquire(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()  # most recently used: least likely to have timed out
            if (not conn.closed and not conn.excess and conn.transport is not None
                    and not conn.transport.is_closing() and conn.quiet()):
                conn.idle = False
                return conn
            conn.close()
        return await self._connect()

    async def request(self, method: bytes, head: bytes, body: AsyncIterator[bytes] | None,
                      chunked: bool) -> UpstreamResponse:
        """Send a request head (already serialised) and its streamed body; wait for the response head.

        A reused keep-alive connection may have been closed by the site in the meantime; a safe
        request without a body is then retried once on a fresh connection, as browsers do, when no
        byte of an answer came. Anything else gets the 502: it may have been processed.
        """
        for attempt in (0, 1):
            try:
                conn = await self._acquire()
            except Exception as e:  # not BaseException: a cancelled request stays cancelled
                raise map_error(e, phase="connect") from e
            conn.begin(head_only=method == b"HEAD")
            try:
                assert conn.transport is not None
                conn.transport.write(head)
                sent = body is None or await self._send_body(conn, body, chunked)
                await _wait(conn.loop, conn.head_done, self.read_timeout)
            except BaseException as e:
                conn.close()
                stale = (conn.reused and not conn.got_bytes and body is None and method in REPLAYABLE
                         and not isinstance(e, TimeoutError))
                if attempt == 0 and stale and isinstance(e, OSError | ConnectionError):
                    continue
                if isinstance(e, asyncio.CancelledError):
                    raise
                raise map_error(e, phase="request") from e
            return UpstreamResponse(self, conn, request_done=sent)
        raise UpstreamUnavailable("upstream closed the connection")  # pragma: no cover - loop exits above

    async def _send_body(self, conn: _Connection, body: AsyncIterator[bytes], chunked: bool) -> bool:
        """Whether all of it went: a site that answers first gets no more, and that connection closes."""
        assert conn.transport is not None
        async for chunk in body:
            if conn.head_done.done():
                return False
            if conn.closed:
                raise ConnectionResetError("upstream closed the connection during upload")
            if not chunk:
                continue
            if chunked:
                conn.transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            else:
                conn.transport.write(chunk)
            await conn.drain(self.read_timeout)
        if chunked:
            conn.transport.write(b"0\r\n\r\n")
        return True

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
