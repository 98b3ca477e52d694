"""gateway/heads.py: nginx's checks on a complete head, and the answers it refuses with."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app import ConsentGateway
from gateway.config import parse_config
from gateway.heads import TOO_LARGE, HeadLimits, Refused, check_head
from tests.conftest import config_text


@pytest.mark.parametrize("method,version,headers,status", [
    (b"GET", "1.1", [(b"host", b"www.example.com")], None),
    (b"GET", "1.1", [(b"host", b"www.example.com:8443")], None),
    (b"GET", "1.1", [(b"host", b"[2001:db8::1]:443")], None),
    (b"GET", "1.1", [(b"host", b"127.0.0.1")], None),
    (b"GET", "1.0", [], None),
    (b"GET", "1.1", [], 400),
    (b"GET", "1.1", [(b"host", b"a.example"), (b"host", b"a.example")], 400),
    (b"GET", "1.1", [(b"host", b"")], 400),
    (b"GET", "1.1", [(b"host", b"a.example/x")], 400),
    (b"GET", "1.1", [(b"host", b"a\\b")], 400),
    (b"GET", "1.1", [(b"host", b"a b")], 400),
    (b"GET", "1.1", [(b"host", b".hidden")], 400),
    (b"GET", "1.1", [(b"host", b"a..b")], 400),
    (b"TRACE", "1.1", [(b"host", b"a")], 405),
    (b"CONNECT", "1.1", [(b"host", b"a")], 405),
])
def test_check_head(method: bytes, version: str, headers: list[tuple[bytes, bytes]], status: int | None) -> None:
    refused = check_head(method, version, headers)
    assert (refused.status if refused else None) == status


def test_refusals_are_complete_closing_responses() -> None:
    head, _, body = TOO_LARGE.response().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"connection: close" in head and b"content-length: %d" % len(body) in head
    assert b"allow: " in Refused(405, "method not allowed").response()


def test_limits_come_from_the_gateway_config(tmp_path: Path) -> None:
    text = config_text("http://127.0.0.1:9", tmp_path / "l.db", gateway="header_timeout = 3\nmax_headers = 50")
    limits = HeadLimits.of(ConsentGateway(parse_config(text)))
    assert (limits.header_timeout, limits.max_headers, limits.max_header_bytes) == (3.0, 50, 65536)
    assert HeadLimits.of(object()) == HeadLimits()
