"""gateway/cycle.py: GatewayCycle writes what uvicorn's own cycle writes (heads and body message
sequences compared by hypothesis against the installed uvicorn), keeps long values out of its line
table, is what the gateway's server runs, and steps aside on an uvicorn it was not checked against."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import RunningGateway
from tests.test_serving import RecordingTransport

# --- GatewayCycle: the head uvicorn's send would write, for less ----------------------------------

_names = st.sampled_from([b"content-type", b"content-length", b"transfer-encoding", b"connection", b"set-cookie",
                          b"x-a", b"Content-Length", b"X-Up", b"bad name", b"123", b"", b"vary"])
_values = st.sampled_from([b"text/html", b"12", b"0", b" 7 ", b"x", b"chunked", b"Chunked", b"gzip, chunked",
                           b"close", b"keep-alive, Close", b"keep-alive", b"a\x01b", b"tab\tok", b"\xff\xfe",
                           b"", b"-1"])


def _start(cls: type, message: dict[str, Any], keep_alive: bool, method: str) -> tuple[object, ...]:
    from uvicorn.protocols.http.flow_control import FlowControl

    transport = RecordingTransport()
    cycle = cls({"method": method, "http_version": "1.1"}, transport, FlowControl(transport),  # type: ignore[arg-type]
                None, None, False, [(b"date", b"Sun, 29 Nov 2026 00:00:00 GMT")], asyncio.Event(), False,
                keep_alive, lambda: None)
    try:
        asyncio.run(cycle.send(message))
        error = None
    except Exception as e:  # noqa: BLE001 - compared: the same error, or none, from both
        error = (type(e), str(e))
    return (error, transport.writes, cycle.response_started, cycle.chunked_encoding,
            cycle.expected_content_length, cycle.keep_alive)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_names, _values), max_size=8), st.sampled_from([200, 204, 304, 404, 99, 600]),
       st.booleans(), st.sampled_from(["GET", "HEAD"]), st.booleans())
def test_gateway_cycle_writes_what_uvicorn_writes(headers: list[tuple[bytes, bytes]], status: int,
                                                  keep_alive: bool, method: str, twice: bool) -> None:
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

    from gateway.cycle import GatewayCycle

    message = {"type": "http.response.start", "status": status, "headers": headers}
    expected = _start(RequestResponseCycle, message, keep_alive, method)
    assert _start(GatewayCycle, message, keep_alive, method) == expected
    if twice:  # the lines it keeps: the second head comes from the table
        assert _start(GatewayCycle, message, keep_alive, method) == expected


def test_the_gateways_server_uses_the_gateway_cycle(gateway: RunningGateway) -> None:
    from gateway.cycle import _LINES

    _LINES.clear()
    with gateway.client() as c:
        assert c.get("/_consent").status_code == 200
    assert (b"content-type", b"application/json") in _LINES


def test_gateway_cycle_logs_uvicorns_access_line_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    from uvicorn.protocols.http.flow_control import FlowControl
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

    from gateway.cycle import GatewayCycle

    logger = logging.getLogger("test_serving.access")
    caplog.set_level(logging.INFO, logger="test_serving.access")
    scope = {"method": "GET", "http_version": "1.1", "path": "/p", "query_string": b"q=1", "root_path": "",
             "client": ("192.0.2.1", 5000)}
    for cls in (RequestResponseCycle, GatewayCycle):
        transport = RecordingTransport()
        cycle = cls(scope, transport, FlowControl(transport), None, logger, True, [], asyncio.Event(), False, True,
                    lambda: None)
        asyncio.run(cycle.send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")]}))
    first, second = (r.getMessage() for r in caplog.records)
    assert first == second == '192.0.2.1:5000 - "GET /p?q=1 HTTP/1.1" 200'


def _exchange(cls: type, messages: list[dict[str, Any]], keep_alive: bool, method: str) -> list[object]:
    from uvicorn.protocols.http.flow_control import FlowControl

    transport = RecordingTransport()
    done: list[int] = []
    cycle = cls({"method": method, "http_version": "1.1"}, transport, FlowControl(transport),  # type: ignore[arg-type]
                None, None, False, [], asyncio.Event(), False, keep_alive, lambda: done.append(1))
    seen: list[object] = []
    for message in messages:
        try:
            asyncio.run(cycle.send(message))
            error = None
        except Exception as e:  # noqa: BLE001 - compared: the same error, or none, from both
            error = (type(e), str(e))
        seen.append((error, list(transport.writes), transport.closed, len(done), cycle.response_complete,
                     cycle.expected_content_length, cycle.message_event.is_set()))
    return seen


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([[(b"content-length", b"6")], [(b"content-length", b"0")], [], [(b"x-a", b"b")],
                        [(b"transfer-encoding", b"chunked")]]),
       st.lists(st.tuples(st.sampled_from([b"", b"ab", b"abcd", b"abcdef", b"abcdefgh"]), st.booleans()), max_size=4),
       st.booleans(), st.sampled_from(["GET", "HEAD"]), st.sampled_from([200, 204]))
def test_gateway_cycle_sends_bodies_as_uvicorn_does(headers: list[tuple[bytes, bytes]],
                                                    bodies: list[tuple[bytes, bool]], keep_alive: bool,
                                                    method: str, status: int) -> None:
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

    from gateway.cycle import GatewayCycle

    messages: list[dict[str, Any]] = [{"type": "http.response.start", "status": status, "headers": headers}]
    messages += [{"type": "http.response.body", "body": b, "more_body": more} for b, more in bodies]
    assert _exchange(GatewayCycle, messages, keep_alive, method) == _exchange(RequestResponseCycle, messages,
                                                                              keep_alive, method)


def test_long_values_are_written_but_not_kept() -> None:
    from gateway.cycle import _LINES, MAX_CACHED_VALUE, GatewayCycle

    _LINES.clear()
    long = b"x" * (MAX_CACHED_VALUE + 1)
    message = {"type": "http.response.start", "status": 200,
               "headers": [(b"content-security-policy", long), (b"content-length", b"0")]}
    error, writes, *_ = _start(GatewayCycle, message, True, "GET")
    assert error is None and b"content-security-policy: " + long + b"\r\n" in writes[0]
    assert (b"content-security-policy", long) not in _LINES


def test_an_unchecked_uvicorn_keeps_its_own_cycle() -> None:
    """The version check, as a fresh process sees it: a release not in CHECKED_UVICORN runs uvicorn's cycle."""
    code = ("import uvicorn; uvicorn.__version__ = '9.9.9'\n"
            "from gateway import cycle, serving\n"
            "assert cycle.CYCLE_CHECKED is False and serving.CYCLE_CHECKED is False\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    import uvicorn

    from gateway.cycle import CHECKED_UVICORN, CYCLE_CHECKED
    assert CYCLE_CHECKED == uvicorn.__version__.startswith(CHECKED_UVICORN)
