"""GatewayCycle: uvicorn's request/response cycle with a cheaper response head and body step.

Split from serving.py (the protocol) because it is a different concern with a different risk: it
follows uvicorn's internals (`RequestResponseCycle`'s state and its `send`), so it must be read
against the installed uvicorn. tests/test_cycle.py compares it, by hypothesis, with uvicorn's own
cycle for heads and message sequences; an uvicorn release that changes that behaviour fails there
and on an uvicorn this was not checked against, serving.py keeps uvicorn's own cycle
(`CYCLE_CHECKED`): slower, never wrong.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE, STATUS_LINE, RequestResponseCycle
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

# The uvicorn releases whose RequestResponseCycle this was compared with (tests/test_cycle.py).
CHECKED_UVICORN = ("0.54.",)
CYCLE_CHECKED = uvicorn.__version__.startswith(CHECKED_UVICORN)

_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"connection"})
# (name, value) -> b"name: value\r\n" for header lines uvicorn's checks passed and that say nothing
# about framing. Responses repeat most of their lines (the site's Server, Content-Type, Vary, our
# expiry Set-Cookie...); emptied when full, as Date, ETag and per-visitor values never repeat.
_LINES: dict[tuple[bytes, bytes], bytes] = {}
MAX_LINES = 2048
MAX_CACHED_VALUE = 512  # name and value together, so the table stays under about 1 MB


class GatewayCycle(RequestResponseCycle):
    """uvicorn's request/response cycle, with the response head built for less.

    uvicorn's `send` runs two regular expressions, a lower() and three comparisons for every line
    of every response head. Here a line seen before is taken from `_LINES`; a new one gets
    uvicorn's checks. The head written, the state set, uvicorn's access line (when a handler would
    take it) and the errors raised are uvicorn's: anything else (a name not in lower case, a
    character uvicorn refuses, a status it has no line for, a paused or gone client, and every body
    message) goes to uvicorn's own `send`.
    """

    async def send(self, message: Any) -> None:
        if message["type"] == "http.response.body":
            if not self._body(message):
                await super().send(message)
            return
        head = None
        if (message["type"] == "http.response.start" and not self.response_started and not self.disconnected
                and not self.flow.write_paused):
            head = self._head(message)
        if head is None:
            await super().send(message)
            return
        if self.access_log:  # off under `serve` (cli.LOG_CONFIG): it would print addresses and queries
            scope = self.scope
            self.access_logger.info('%s - "%s %s HTTP/%s" %d', get_client_addr(scope), scope["method"],
                                    get_path_with_query_string(scope), scope["http_version"], message["status"])
        self.transport.write(head)

    def _body(self, message: Any) -> bool:
        """uvicorn's body step for a body with a Content-Length that fits it, without a second
        coroutine per message; False (and nothing done) for uvicorn's `send` to do it (chunked
        bodies, HEAD, a body longer or shorter than announced, a paused or gone client)."""
        if (not self.response_started or self.response_complete or self.disconnected or self.flow.write_paused
                or self.chunked_encoding or self.scope["method"] == "HEAD"):
            return False
        body = message.get("body", b"")
        more_body = message.get("more_body", False)
        left = self.expected_content_length - len(body)
        if left < 0 or (left and not more_body):
            return False
        self.expected_content_length = left
        self.transport.write(body)
        if not more_body:
            self.response_complete = True
            self.message_event.set()
            if not self.keep_alive:
                self.transport.close()
            self.on_response()
        return True

    def _head(self, message: Any) -> bytes | None:
        """The head uvicorn would write, with its state set; None (and nothing set) for uvicorn to do it."""
        status = message["status"]
        content = [STATUS_LINE.get(status)]
        if content[0] is None:
            return None
        headers = message.get("headers", [])
        if self.default_headers:
            headers = [*self.default_headers, *headers]
        chunked, length, keep_alive, close = self.chunked_encoding, self.expected_content_length, self.keep_alive, False
        lines = _LINES
        try:
            for header in headers:
                line = lines.get(header)
                if line is None:
                    name, value = header
                    if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value) or not name.islower():
                        return None
                    line = b"%b: %b\r\n" % (name, value)
                    if name not in _FRAMING:
                        # a long line (a CSP, a big cookie, a name the site made up) is not kept:
                        # the name counts too, it is the site's and may be 60 KiB
                        if len(name) + len(value) <= MAX_CACHED_VALUE:
                            if len(lines) >= MAX_LINES:
                                lines.clear()
                            lines[name, value] = line
                    elif name == b"content-length" and chunked is None:  # uvicorn's rules, in its order
                        length = int(value.decode())
                        chunked = False
                    elif name == b"transfer-encoding" and value.lower() == b"chunked":
                        length, chunked = 0, True
                    elif name == b"connection" and b"close" in [t.lower().strip() for t in value.split(b",")]:
                        keep_alive, close = False, True
                content.append(line)
        except (TypeError, ValueError):  # a header that is not a pair of bytes, a bad Content-Length
            return None
        self.response_started = True
        self.waiting_for_100_continue = False
        self.chunked_encoding, self.expected_content_length, self.keep_alive = chunked, length, keep_alive
        if not keep_alive and not close:
            content.append(b"connection: close\r\n")
        if chunked is None and self.scope["method"] != "HEAD" and status not in (204, 304):
            self.chunked_encoding = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        return b"".join(content)  # type: ignore[arg-type]
