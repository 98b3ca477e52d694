from __future__ import annotations

import dataclasses
import random
import string
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous._json import _CompactJSON
from itsdangerous.encoding import base64_encode

from gateway import consent
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
    # exactly the undecided state, but for its id: today's policy, nothing known, GPC as sent now
    assert codec.honor_gpc
    for gpc in (False, True):
        got = codec.state_from_cookie(cookie, gpc=gpc, now=1002)
        assert got == dataclasses.replace(codec.undecided(gpc), consent_id=old.consent_id), gpc
    newer = codec.decide(frozenset(), previous=replay, gpc=False, now=1001)
    assert codec.state_from_cookie(codec.encode(newer), gpc=False, now=1002).decided is True


def test_the_codec_reads_the_revocations_it_is_given() -> None:
    """The gateway shares one Revocations between the codec and the log's refresher (app.py)."""
    from gateway.config import default_config_path, load_config
    from gateway.revocation import Revocations

    shared = Revocations()
    c = ConsentCodec(load_config(default_config_path(), env={}), revocations=shared)
    state = c.decide(frozenset(), previous=c.undecided(False), gpc=False, now=1000)
    shared.revoke(str(state.consent_id), 1001)
    assert c.state_from_cookie(c.encode(state), gpc=False, now=1002).decided is False


def test_a_consent_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """A visitor reads it out and the operator types it after `log show`, where '-' starts an option."""
    tokens = iter(["-x-yz", "a-bc"])
    monkeypatch.setattr(consent.secrets, "token_urlsafe", lambda n: next(tokens))
    assert consent.new_consent_id() == "a-bc"


def test_state_as_json_contract() -> None:
    c = codec()
    state = c.decide(frozenset({"identity"}), previous=c.undecided(False), gpc=True)
    assert state.as_json(("identity", "personalization")) == {
        "decided": True, "categories": {"identity": True, "personalization": False},
        "policy_version": "2024-10", "consent_id": state.consent_id, "gpc": True}
    assert c.undecided(False).as_json(("identity",)) == {
        "decided": False, "categories": {"identity": False}, "policy_version": "2024-10", "consent_id": None,
        "gpc": False}


def test_cookie_header_exactly() -> None:
    c = codec()
    state = c.decide(frozenset(), previous=c.undecided(False), gpc=False)
    token = c.encode(state)
    assert c.set_cookie_header(state, secure=False).decode() == (
        f"consent_gateway={token}; Max-Age={180 * 86400}; Path=/; HttpOnly; SameSite=Lax")
    assert c.set_cookie_header(state, secure=True).decode() == (
        f"__Host-consent_gateway={token}; Max-Age={180 * 86400}; Path=/; HttpOnly; SameSite=Lax; Secure")
    assert (c.name_for(True), c.name_for(False)) == ("__Host-consent_gateway", "consent_gateway")


def test_decision_grants_only_offered_categories_and_records_what_was_offered() -> None:
    c = codec()
    state = c.decide(frozenset({"identity", "ads", "necessary"}), previous=c.undecided(False), gpc=False, now=1000.7)
    assert state.granted == frozenset({"identity"}) and state.issued_at == 1000
    assert state.known == frozenset({"identity", "personalization"}) and state.decided
    assert len(state.consent_id or "") == 16  # 12 random bytes, URL-safe base64
    back = c.state_from_cookie(c.encode(state), gpc=False, now=1001)
    assert back == state


def test_expiry_boundaries() -> None:
    c = codec()
    state = c.decide(frozenset({"identity"}), previous=c.undecided(False), gpc=False, now=10_000)
    cookie = c.encode(state)
    assert c.state_from_cookie(cookie, gpc=False, now=10_000).decided  # issued this second
    assert c.state_from_cookie(cookie, gpc=False, now=10_000 + 180 * 86400 - 1).decided
    assert not c.state_from_cookie(cookie, gpc=False, now=10_000 + 180 * 86400).decided
    assert not c.state_from_cookie(cookie, gpc=False, now=9_999).decided


def test_gpc_reaches_every_state_only_when_honoured() -> None:
    c = codec()
    cookie = c.encode(c.decide(frozenset(), previous=c.undecided(False), gpc=False))
    assert c.state_from_cookie(cookie, gpc=True).gpc and not c.state_from_cookie(cookie, gpc=False).gpc
    assert c.decide(frozenset(), previous=c.undecided(False), gpc=True).gpc
    assert not c.undecided(False).gpc and c.undecided(True).gpc
    assert c.state_from_cookie(None, gpc=True).gpc and c.state_from_cookie("junk", gpc=True).gpc
    off = codec(consent='honor_gpc = false\ndefault_locale = "en"')
    assert not off.state_from_cookie(cookie, gpc=True).gpc
    assert not off.decide(frozenset(), previous=off.undecided(False), gpc=True).gpc


def test_signed_payloads_of_the_wrong_shape_are_no_decision() -> None:
    from itsdangerous import URLSafeSerializer

    from gateway.consent import SALT

    c = codec()
    sign = URLSafeSerializer(["test-secret-key-0123456789abcdef"], salt=SALT).dumps
    now = int(time.time())
    good = [["identity"], "2024-10", "cid", now, ["identity", "personalization"]]
    assert c.state_from_cookie(sign(good), gpc=False).decided  # compressed or not, our own format
    for i, wrong in enumerate(["identity", 2024, None, "now", "identity"]):
        bad = list(good)
        bad[i] = wrong
        assert not c.state_from_cookie(sign(bad), gpc=False).decided, bad
    for shape in (good[:4], [*good, 1], {"granted": []}, "text", None):
        assert not c.state_from_cookie(sign(shape), gpc=False).decided, shape
    assert c.state_from_cookie(sign([[1, "identity"], "2024-10", "cid", now, ["identity", "personalization"]]),
                               gpc=False).granted == frozenset({"identity"})


def test_longest_cookie_a_browser_keeps_still_verifies() -> None:
    from itsdangerous import URLSafeSerializer

    from gateway.consent import MAX_COOKIE_VALUE, SALT

    c = codec()
    sign = URLSafeSerializer(["test-secret-key-0123456789abcdef"], salt=SALT).dumps
    now = int(time.time())
    noise = "".join(random.Random(0).choices(string.ascii_letters + string.digits, k=6000))
    lengths = {}
    for n in range(2500, 6000):
        value = sign([[], "2024-10", noise[:n], now, ["identity", "personalization"]])
        lengths[len(value)] = value
        if len(value) > MAX_COOKIE_VALUE + 8:
            break
    assert c.state_from_cookie(lengths[MAX_COOKIE_VALUE], gpc=False).decided
    longer = min(n for n in lengths if n > MAX_COOKIE_VALUE)
    assert not c.state_from_cookie(lengths[longer], gpc=False).decided


@given(st.frozensets(st.sampled_from(["identity", "personalization", "ads"])), st.booleans(),
       st.integers(min_value=0, max_value=2**40), st.text(max_size=30))
def test_the_fast_signature_is_itsdangerous_own(granted: frozenset[str], gpc: bool, issued: int, cid: str) -> None:
    """encode signs with a keyed HMAC built once: byte for byte what itsdangerous' dumps gives,
    with the last of several keys, for any content (non-ASCII ids included)."""
    rotated = ConsentCodec(parse_config(config_text("http://127.0.0.1:1", DB).replace(
        '["test-secret-key-0123456789abcdef"]', '["test-secret-key-0123456789abcdef", "new-key-0123456789abcdefgh"]')))
    for c in (codec(), rotated):
        state = c.decide(granted, previous=c.undecided(False), gpc=gpc, now=issued)
        state = type(state)(True, state.granted, state.policy_version, cid, issued, state.known, gpc)
        data = [sorted(state.granted), state.policy_version, cid, issued, sorted(state.known)]
        # the reference: itsdangerous' own compact JSON and Signer (our serializer only skips zlib)
        payload = base64_encode(_CompactJSON.dumps(data).encode("utf-8"))
        assert c.encode(state) == c._serializer.make_signer().sign(payload).decode("ascii")
        assert c.encode(state) == c.encode(state)  # the keyed HMAC is copied, never fed twice
