"""The admin session cookie: signed, expiring on the server's clock, bound to the credential."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer

from gateway.adminsession import AdminSessions
from gateway.config import AdminSettings, parse_config
from gateway.errors import ConfigError
from tests.conftest import config_text

KEYS = ("first-secret-key-0123456789", "newest-secret-key-0123456789")
SETTINGS = AdminSettings(enabled=True, username="ops", password="right-password-0123")


def test_issued_cookie_is_valid_until_its_lifetime() -> None:
    s = AdminSessions(SETTINGS, KEYS, lifetime=600)
    value = s.issue()
    now = time.time()
    assert s.valid(value, now=now) and s.valid(value, now=now + 590)
    assert not s.valid(value, now=now + 602)  # expired: whatever Max-Age the browser was told
    assert not s.valid(value, now=now - 60)  # signed "in the future": a forged or stepped clock


def test_check_tells_expired_from_forged() -> None:
    # the gate counts "bad" as a wrong credential (a forged cookie is a password guess), never
    # "expired" (a browser left open) nor "" (what signing out leaves)
    s = AdminSessions(SETTINGS, KEYS, lifetime=600)
    value = s.issue()
    now = time.time()
    assert s.check(value, now=now) == "ok" and s.check(value, now=now + 700) == "expired"
    assert s.check(value, now=now - 60) == "expired"
    other = AdminSessions(AdminSettings(enabled=True, username="ops", password="guessed-password"), KEYS, 600)
    assert s.check(other.issue()) == "bad" and s.check("junk") == "bad" and s.check("x" * 600) == "bad"
    assert s.check("") == "" and s.check(None) == ""


def test_tampered_foreign_and_junk_values_are_refused() -> None:
    s = AdminSessions(SETTINGS, KEYS, lifetime=600)
    value = s.issue()
    body, _, sig = value.rpartition(".")
    # the first character: the last one of unpadded base64 has spare bits, so "A" for "B" can decode
    # to the same signature (this failed about once in 20 runs)
    assert not s.valid(body + "." + ("A" if sig[0] != "A" else "B") + sig[1:])
    assert not s.valid(value.replace(value[0], "x" if value[0] != "x" else "y", 1))
    for junk in ("", "x", "a.b.c", "." * 600, value + "x" * 600, None):
        assert not s.valid(junk)
    # signed with the same keys but not our salt (another use of the same secret)
    other = URLSafeTimedSerializer(list(KEYS), salt="itsdangerous").dumps({"v": 1})
    assert not s.valid(other)


def test_rotation_and_a_credential_change() -> None:
    old = AdminSessions(SETTINGS, KEYS[:1], lifetime=600).issue()
    assert AdminSessions(SETTINGS, KEYS, lifetime=600).valid(old)  # an older key still verifies
    changed = AdminSettings(enabled=True, username="ops", password="a-new-password-0123")
    assert not AdminSessions(changed, KEYS, lifetime=600).valid(old)  # new password: every session ends
    assert "right-password" not in old and "ops" not in old


def test_cookie_attributes() -> None:
    s = AdminSessions(SETTINGS, KEYS, lifetime=900)
    plain = s.set_cookie(secure=False).decode()
    assert plain.startswith("consent_gateway_admin=")
    attrs = plain.split("; ")[1:]
    assert attrs == ["Path=/_consent/admin", "Max-Age=900", "HttpOnly", "SameSite=Strict"]
    assert s.set_cookie(secure=True).decode().endswith("; Secure")
    assert s.clear_cookie(secure=False).decode() == ("consent_gateway_admin=; Path=/_consent/admin; Max-Age=0; "
                                                     "HttpOnly; SameSite=Strict")


def test_session_minutes_is_checked(tmp_path: Path) -> None:
    base = config_text("http://127.0.0.1:9", tmp_path / "log.db",
                       extra='\n[admin]\nenabled = true\ntoken = "admin-token-0123456789"\n')
    assert parse_config(base).admin.session_minutes == 60
    assert parse_config(base + "session_minutes = 15\n").admin.session_minutes == 15
    for bad in ("0", "1441", '"60"'):
        with pytest.raises(ConfigError, match="session_minutes"):
            parse_config(base + f"session_minutes = {bad}\n")
