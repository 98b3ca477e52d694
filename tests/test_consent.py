from __future__ import annotations

import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gateway.config import parse_config
from gateway.consent import ConsentCodec
from tests.conftest import config_text

DB = Path("/tmp/unused.db")


def codec(**parts: str) -> ConsentCodec:
    return ConsentCodec(parse_config(config_text("http://127.0.0.1:1", DB, **parts)))


def test_roundtrip() -> None:
    c = codec()
    state = c.decide(frozenset({"identity"}), previous=c.undecided(False), gpc=True)
    back = c.state_from_cookie(c.encode(state), gpc=False)
    assert back.decided and back.granted == frozenset({"identity"})
    assert back.consent_id == state.consent_id and back.policy_version == "2024-10"


def test_attributes() -> None:
    c = codec()
    state = c.decide(frozenset(), previous=c.undecided(False), gpc=False)
    header = c.set_cookie_header(state, secure=True).decode()
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header and "Secure" in header
    assert "Secure" not in c.set_cookie_header(state, secure=False).decode()


def test_consent_id_survives_redecision() -> None:
    c = codec()
    first = c.decide(frozenset(), previous=c.undecided(False), gpc=False)
    second = c.decide(frozenset({"identity"}), previous=first, gpc=False)
    assert second.consent_id == first.consent_id


def test_tampered_truncated_and_forged_are_no_decision() -> None:
    c = codec()
    good = c.encode(c.decide(frozenset({"identity", "personalization"}), previous=c.undecided(False), gpc=False))
    for bad in (good[:-1], good[:10], good.replace(".", "x", 1), "x" * 5000, "", "...", "a.b.c",
                good[::-1], good + "A"):
        assert not c.state_from_cookie(bad, gpc=False).decided, bad


def test_unknown_key_and_rotation() -> None:
    old = codec()
    cookie = old.encode(old.decide(frozenset({"identity"}), previous=old.undecided(False), gpc=False))
    stranger = ConsentCodec(parse_config(config_text("http://127.0.0.1:1", DB).replace(
        "test-secret-key-0123456789abcdef", "another-key-0123456789abcdefgh")))
    assert not stranger.state_from_cookie(cookie, gpc=False).decided
    rotated = ConsentCodec(parse_config(config_text("http://127.0.0.1:1", DB).replace(
        '["test-secret-key-0123456789abcdef"]', '["test-secret-key-0123456789abcdef", "new-key-0123456789abcdefgh"]')))
    assert rotated.state_from_cookie(cookie, gpc=False).decided  # old key still verifies
    new_cookie = rotated.encode(rotated.decide(frozenset(), previous=rotated.undecided(False), gpc=False))
    assert not old.state_from_cookie(new_cookie, gpc=False).decided  # signed with the newest key


def test_expiry() -> None:
    c = codec()
    state = c.decide(frozenset({"identity"}), previous=c.undecided(False), gpc=False, now=time.time() - 181 * 86400)
    assert not c.state_from_cookie(c.encode(state), gpc=False).decided
    future = c.decide(frozenset({"identity"}), previous=c.undecided(False), gpc=False, now=time.time() + 3600)
    assert not c.state_from_cookie(c.encode(future), gpc=False).decided  # issued in the future: forged clock


def test_policy_version_bump_asks_again() -> None:
    c = codec()
    cookie = c.encode(c.decide(frozenset({"identity"}), previous=c.undecided(False), gpc=False))
    bumped = ConsentCodec(parse_config(config_text("http://127.0.0.1:1", DB).replace('"2024-10"', '"2025-01"')))
    state = bumped.state_from_cookie(cookie, gpc=False)
    assert not state.decided and state.granted == frozenset()


def test_new_category_asks_again_but_keeps_grants() -> None:
    c = codec()
    cookie = c.encode(c.decide(frozenset({"identity"}), previous=c.undecided(False), gpc=False))
    extra = '\n[[categories]]\nid = "ads"\ncookies = ["_fbp"]\n'
    grown = ConsentCodec(parse_config(config_text("http://127.0.0.1:1", DB, extra=extra)))
    state = grown.state_from_cookie(cookie, gpc=False)
    assert not state.decided and state.granted == frozenset({"identity"})


def test_required_category_always_granted() -> None:
    cats = '[[categories]]\nid = "essential"\nrequired = true\ncookies = ["sess"]\n' \
           '[[categories]]\nid = "identity"\ncookies = ["sid"]\n'
    c = codec(categories=cats)
    assert c.undecided(False).granted == frozenset({"essential"})
    state = c.decide(frozenset(), previous=c.undecided(False), gpc=False)
    assert state.granted == frozenset({"essential"})


def test_gpc_flag_respects_config() -> None:
    assert codec().undecided(True).gpc
    assert not codec(consent='honor_gpc = false\ndefault_locale = "en"').undecided(True).gpc


def test_cache_is_bounded_and_consistent() -> None:
    c = ConsentCodec(parse_config(config_text("http://127.0.0.1:1", DB)), cache_size=4)
    cookie = c.encode(c.decide(frozenset({"identity"}), previous=c.undecided(False), gpc=False))
    for i in range(50):
        c.state_from_cookie(f"junk{i}", gpc=False)
    assert len(c._cache) <= 4
    assert c.state_from_cookie(cookie, gpc=False).decided
    assert c.state_from_cookie(cookie, gpc=False).decided  # cached hit, same answer


@given(st.text(max_size=300))
def test_arbitrary_cookie_values_never_raise(value: str) -> None:
    state = codec().state_from_cookie(value, gpc=False)
    assert not state.decided


def test_a_revoked_cookie_is_no_decision_but_keeps_its_id() -> None:
    from gateway.config import default_config_path, load_config
    from gateway.consent import ConsentCodec

    codec = ConsentCodec(load_config(default_config_path(), env={}))
    undecided = codec.undecided(False)
    old = codec.decide(frozenset({"personalization"}), previous=undecided, gpc=False, now=1000)
    cookie = codec.encode(old)
    assert codec.state_from_cookie(cookie, gpc=False, now=1001).decided is True
    codec.revocations.revoke(str(old.consent_id), 1001)
    replay = codec.state_from_cookie(cookie, gpc=False, now=1002)
    assert replay.decided is False and replay.consent_id == old.consent_id
    assert "personalization" not in replay.granted
    newer = codec.decide(frozenset(), previous=replay, gpc=False, now=1001)
    assert codec.state_from_cookie(codec.encode(newer), gpc=False, now=1002).decided is True
