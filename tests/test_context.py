from __future__ import annotations

from pathlib import Path

from gateway.config import parse_config
from gateway.consent import ConsentCodec
from gateway.context import read_request
from gateway.forwarded import ForwardedResolver
from tests.conftest import config_text

CONFIG = parse_config(config_text("http://127.0.0.1:1", Path("/tmp/u.db")))
CODEC = ConsentCodec(CONFIG)
RESOLVER = ForwardedResolver(CONFIG.gateway)
GOOD = CODEC.encode(CODEC.decide(frozenset({"identity"}), previous=CODEC.undecided(False), gpc=False))


def scope(*headers: tuple[bytes, bytes]) -> dict[str, object]:
    return {"type": "http", "headers": list(headers), "client": ("10.0.0.1", 1), "scheme": "http"}


def test_consent_cookie_found_among_many_headers() -> None:
    ctx = read_request(scope((b"cookie", b"a=1"), (b"cookie", f'consent_gateway="{GOOD}"; b=2'.encode()),
                             (b"sec-gpc", b"1"), (b"user-agent", b"UA")), CODEC, RESOLVER)
    assert ctx.state.decided and ctx.state.granted == frozenset({"identity"})
    assert ctx.gpc and ctx.user_agent == "UA" and [c.name for c in ctx.cookies] == ["a", "consent_gateway", "b"]


def test_first_consent_cookie_wins_and_junk_is_no_decision() -> None:
    ctx = read_request(scope((b"cookie", b"consent_gateway=forged; consent_gateway=" + GOOD.encode())),
                       CODEC, RESOLVER)
    assert not ctx.state.decided  # browsers send the most specific cookie first; a forged one loses all
    assert not read_request(scope((b"cookie", b"consent_gateway")), CODEC, RESOLVER).state.decided
    assert not read_request(scope(), CODEC, RESOLVER).state.decided
