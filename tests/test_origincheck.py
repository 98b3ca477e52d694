"""The same-site check in front of every POST (gateway/origincheck.py), without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import parse_config
from gateway.consent import ConsentState
from gateway.context import RequestContext
from gateway.forwarded import ClientInfo, ForwardedResolver
from gateway.origincheck import ORIGINS_CACHED, OriginCheck
from tests.conftest import config_text

NOTHING: frozenset[str] = frozenset()


def check() -> OriginCheck:
    config = parse_config(config_text("http://127.0.0.1:1", Path("/tmp/u.db")))
    return OriginCheck(ForwardedResolver(config.gateway))


def ctx(host: str = "shop.example", scheme: str = "http", **headers: str) -> RequestContext:
    state = ConsentState(False, NOTHING, "2024-10", None, None, NOTHING)
    first = {k.encode(): v.encode("latin-1") for k, v in headers.items()}
    return RequestContext(list(first.items()), first, [], ClientInfo("203.0.113.9", scheme, host), state, False, False)


@pytest.mark.parametrize(("headers", "expected"), [
    ({"origin": "http://shop.example"}, True),
    ({"origin": "HTTP://SHOP.EXAMPLE:80"}, True),  # normalised: case and the default port
    ({"origin": "http://shop.example.evil.com"}, False),  # starts with ours: not ours
    ({"origin": "https://shop.example"}, False),  # another scheme is another origin
    ({"origin": "http://shop.example:8080"}, False),
    ({"origin": "null"}, False),
    ({"origin": "http://shop.example/path"}, False),  # an Origin has no path
    ({"referer": "http://shop.example/cart?x=1"}, True),  # no Origin: the Referer's origin
    ({"referer": "http://evil.example/http://shop.example"}, False),
    ({"origin": "http://evil.example", "referer": "http://shop.example/"}, False),  # Origin decides
    ({}, False),
])
def test_only_our_own_origin_passes(headers: dict[str, str], expected: bool) -> None:
    c = check()
    assert c(ctx(**headers)) is expected
    assert c(ctx(**headers)) is expected  # the second time from the memo, the same answer


def test_without_our_own_origin_nothing_passes() -> None:
    assert check()(ctx(host="", origin="http://")) is False


def test_the_memo_is_bounded() -> None:
    c = check()
    for i in range(ORIGINS_CACHED + 5):
        assert c(ctx(origin=f"http://x{i}.example")) is False
    assert len(c._origins) == ORIGINS_CACHED
