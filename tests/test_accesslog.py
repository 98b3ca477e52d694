"""One JSON access line per request, through a real gateway: no query, no full address."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.cli import JsonFormatter
from gateway.testing.servers import free_port
from tests.conftest import RunningGateway
from tests.support.servers import RawFactory

Make = Callable[..., RunningGateway]


def access_lines(caplog: pytest.LogCaptureFixture, expect: int = 1) -> list[dict[str, Any]]:
    """The lines logged so far; a line is written just after its response, so wait for `expect`."""
    deadline = time.monotonic() + 5
    while True:
        lines = [r.fields for r in caplog.records if r.name == "consent_gateway.access"]  # type: ignore[attr-defined]
        if len(lines) >= expect or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def _capture(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="consent_gateway.access")


def test_a_page_request_is_one_line_without_its_query(make_gateway: Make, caplog: pytest.LogCaptureFixture) -> None:
    gw = make_gateway()
    with gw.client() as c:
        r = c.get("/page?email=someone%40example.com&token=s3cret", headers={"Cookie": "_ga=1; sid=2; csrftoken=3"})
        assert r.status_code == 200
    [line] = access_lines(caplog)
    assert line["method"] == "GET" and line["path"] == "/page" and line["status"] == 200
    assert line["kind"] == "html" and line["bytes"] == len(r.content)
    assert line["stripped"] == 2 and line["neutralised"] >= 1 and line["categories"] == []
    assert line["client"] == "127.0.0.0/24" and line["upstream_ms"] >= 0 and line["duration_ms"] >= 0
    assert line["ts"].endswith("+00:00") and "." in line["ts"]  # milliseconds and a zone
    text = json.dumps(line)
    assert "s3cret" not in text and "someone" not in text and "127.0.0.1" not in text


def test_endpoints_and_failures_are_logged_too(make_gateway: Make, caplog: pytest.LogCaptureFixture) -> None:
    gw = make_gateway()
    dead = make_gateway(upstream=f"http://127.0.0.1:{free_port()}")
    with gw.client() as c, dead.client() as d:
        c.get("/_consent")
        assert d.get("/page").status_code == 502
    # two gateways, two server threads: each writes its line after its answer has gone, so the
    # lines may come in either order (the 502's first when the other thread is descheduled)
    lines = access_lines(caplog, 2)
    [consent] = [line for line in lines if line["path"] == "/_consent"]
    [failed] = [line for line in lines if line["path"] == "/page"]
    assert consent["kind"] == "consent" and consent["status"] == 200 and "upstream_ms" not in consent
    assert failed["status"] == 502 and failed["upstream_error"].startswith("UpstreamUnavailable")


@pytest.mark.parametrize(("mode", "client"), [("no-address", False), ("off", None)])
def test_the_address_or_the_whole_line_can_be_left_out(make_gateway: Make, caplog: pytest.LogCaptureFixture,
                                                       mode: str, client: bool | None) -> None:
    gw = make_gateway(gateway=f'access_log = "{mode}"')
    with gw.client() as c:
        c.get("/page")
    with gw.client() as c:
        c.get("/_consent")  # a second request: once its line is there (or not), the first one's is too
    lines = access_lines(caplog, 2)
    if client is None:
        assert lines == []
    else:
        assert len(lines) == 2 and "client" not in lines[0]


def test_formatter_puts_the_fields_at_the_top_level_in_ascii() -> None:
    record = logging.LogRecord("consent_gateway.access", logging.INFO, __file__, 1, "access", None, None)
    record.fields = {"path": "/\u202eevil\u4e2d", "status": 200}
    out = JsonFormatter().format(record)
    assert out.isascii() and json.loads(out)["path"] == "/\u202eevil\u4e2d" and json.loads(out)["status"] == 200


def test_requests_are_counted_by_code_and_kind(make_gateway: Make) -> None:
    gw = make_gateway()
    with gw.client() as c:
        c.get("/page")
        c.get("/_consent")
        c.get("/nowhere-on-the-demo-site")
    text = gw.app.metrics.render().decode()
    assert 'consent_requests_total{code="200",kind="html"} 1.0' in text
    assert 'consent_requests_total{code="200",kind="consent"} 1.0' in text
    assert 'consent_gateway_build_info{python="' in text


@settings(max_examples=2000)
@given(st.floats(min_value=0, max_value=4e9, allow_nan=False) | st.integers(0, 4 * 10**9).map(lambda s: s + 0.9999995))
def test_the_timestamp_is_datetimes_own(now: float) -> None:
    """The per-second prefix spells exactly what datetime does, millisecond rounding included."""
    from datetime import UTC, datetime

    from gateway.accesslog import AccessLog

    log = AccessLog("on")
    for t in (now, now + 0.0004, now + 1):  # the same second again, and the next one
        assert log.timestamp(t) == datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def test_a_streamed_body_is_counted_chunk_by_chunk(make_gateway: Make, raw_server: RawFactory,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """The proxy counts what it sends itself (no wrapper around its `send`): a body that streams
    in pieces, a page and a file, is counted whole, with its status."""
    def handler(conn: socket.socket, request: bytes) -> None:
        kind = b"text/html" if b"/page" in request else b"application/octet-stream"
        conn.sendall(b"HTTP/1.1 203 OK\r\nContent-Type: " + kind + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b"<html><body>", b"x" * 5000, b"</body></html>"):
            time.sleep(0.05)
            conn.sendall(b"%x\r\n%b\r\n" % (len(piece), piece))
        conn.sendall(b"0\r\n\r\n")

    raw = raw_server(handler)
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
    with gw.client() as c:
        page, file = c.get("/page"), c.get("/file")
    lines = access_lines(caplog, 2)
    assert [(line["status"], line["bytes"], line["kind"]) for line in lines] == [
        (203, len(page.content), "html"), (203, len(file.content), "other")]
    assert len(file.content) == 5000 + 26
