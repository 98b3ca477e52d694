"""The operator's browser session after the login form: a short-lived signed cookie.

The cookie is signed with the consent secret keys (newest signs, all verify: rotation) under its
own salt, which also carries a digest of the configured admin credential: changing the token or
password ends every session at once. The signed timestamp is checked against the lifetime on each
request, so an old cookie is refused whatever its Max-Age said. Its path is /_consent/admin, so the
browser never sends it to the site behind the gateway.
"""

from __future__ import annotations

import hashlib
import time

from itsdangerous import BadSignature, URLSafeTimedSerializer

from gateway.config import AdminSettings

COOKIE = "consent_gateway_admin"
PATH = "/_consent/admin"
SALT = "consent-gateway.admin-session"
CLOCK_SKEW = 5  # seconds between workers' clocks


class AdminSessions:
    def __init__(self, settings: AdminSettings, secret_keys: tuple[str, ...], lifetime: int) -> None:
        self.lifetime = lifetime
        credential = "\x00".join((settings.token, settings.username, settings.password)).encode("utf-8")
        # the digest stays inside the key derivation: the cookie reveals nothing about the credential
        salt = SALT + "." + hashlib.sha256(credential).hexdigest()
        self._serializer = URLSafeTimedSerializer(list(secret_keys), salt=salt)

    def issue(self) -> str:
        return self._serializer.dumps({"v": 1})

    def valid(self, value: str | None, now: float | None = None) -> bool:
        return self.check(value, now) == "ok"

    def check(self, value: str | None, now: float | None = None) -> str:
        """"ok"; "expired" (ours, but too old or from the future); "bad" (not signed by us under
        this credential: forged, tampered, junk, or from before a credential or key change); ""
        when empty (what signing out leaves)."""
        if not value:
            return ""
        if len(value) > 512:
            return "bad"
        try:
            payload, signed_at = self._serializer.loads(value, return_timestamp=True)
        except BadSignature:
            return "bad"
        if not (isinstance(payload, dict) and payload.get("v") == 1):
            return "bad"
        age = (time.time() if now is None else now) - signed_at.timestamp()
        # expired, or signed in the future (a clock step back, or a forged time: never trusted)
        return "ok" if -CLOCK_SKEW <= age <= self.lifetime else "expired"

    def set_cookie(self, secure: bool) -> bytes:
        return _cookie(self.issue(), self.lifetime, secure)

    def clear_cookie(self, secure: bool) -> bytes:
        return _cookie("", 0, secure)


def _cookie(value: str, max_age: int, secure: bool) -> bytes:
    parts = [f"{COOKIE}={value}", f"Path={PATH}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode("ascii")
