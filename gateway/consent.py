"""The visitor's decision: `ConsentState`, and the signed cookie that carries it.

The cookie is the only state: any gateway instance holding the keys can verify it, so instances
need no shared session store and no sticky sessions.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_encode

from gateway.config import Config
from gateway.revocation import Revocations

SALT = "consent-gateway.state.v1"
MAX_COOKIE_VALUE = 4096  # browsers cap a cookie near 4 KiB; anything longer is forged


class _Serializer(URLSafeSerializer):
    """itsdangerous' URL-safe serializer without its zlib attempt on every dump.

    The payload is ~100 bytes; compressing it cost a tenth of a decision's CPU time and never
    paid off. Loading still accepts compressed payloads.
    """

    def dump_payload(self, obj: object) -> bytes:
        return base64_encode(_COMPACT.encode(obj).encode("utf-8"))

    def fast_signer(self) -> tuple[hmac.HMAC, bytes]:
        """The signing HMAC, keyed once, and the separator: `dumps` derives the key and builds a
        Signer on every call, which cost a decision more than the signature itself. Copies of the
        keyed HMAC sign exactly as `dumps` does (a test holds the two equal)."""
        signer = self.make_signer()
        digest = signer.algorithm.digest_method  # type: ignore[attr-defined]
        return hmac.new(signer.derive_key(), digestmod=digest), signer.sep


# itsdangerous' compact JSON (`json.dumps(obj, ensure_ascii=False, separators=(",", ":"))`), one
# encoder instead of a new one per call: the same bytes
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class ConsentState:
    """What the visitor decided, as it applies to this request.

    `decided` is False when there is no valid decision (none, forged, expired, older policy) or
    when categories were added since the decision: then the banner asks again.
    """

    decided: bool
    granted: frozenset[str]
    policy_version: str
    consent_id: str | None
    issued_at: int | None
    known: frozenset[str]  # categories offered when the visitor decided
    gpc: bool = False

    def as_json(self, category_ids: tuple[str, ...]) -> dict[str, object]:
        return {
            "decided": self.decided,
            "categories": {cid: cid in self.granted for cid in category_ids},
            "policy_version": self.policy_version,
            "consent_id": self.consent_id,
            "gpc": self.gpc,
        }


@dataclass(frozen=True)
class _Payload:
    granted: frozenset[str]
    policy_version: str
    consent_id: str
    issued_at: int
    known: frozenset[str]


class ConsentCodec:
    """Signs and verifies the consent cookie. Verified values are cached by their exact text.

    The cache holds the outcome of a full HMAC check for one exact cookie string, so a cached hit
    is as verified as a fresh one; expiry and policy version are checked on every request.
    """

    def __init__(self, config: Config, cache_size: int = 8192, revocations: Revocations | None = None) -> None:
        settings = config.consent
        # itsdangerous signs with the last key and verifies with all of them: rotation.
        self._serializer = _Serializer(list(settings.secret_keys), salt=SALT)
        self._mac, self._sep = self._serializer.fast_signer()
        self.cookie_name = settings.cookie_name
        # Over https the cookie is __Host- prefixed: Secure, Path=/, no Domain, so a sibling
        # subdomain cannot plant its own decision on the visitor ("cookie tossing").
        self.secure_cookie_name = "__Host-" + settings.cookie_name
        self.policy_version = settings.policy_version
        self.max_age = settings.max_age_days * 86400
        self.category_ids = config.category_ids
        self.required = frozenset(c.id for c in config.categories if c.required)
        self.optional = frozenset(config.category_ids) - self.required
        self.honor_gpc = settings.honor_gpc
        # withdrawals: older cookies of an id decide nothing (kept across a config reload)
        self.revocations = revocations if revocations is not None else Revocations()
        self._cache: OrderedDict[str, _Payload | None] = OrderedDict()
        self._cache_size = cache_size
        # most requests come from visitors who have not decided: two immutable answers, built once
        self._undecided = {g: ConsentState(False, self.required, self.policy_version, None, None, frozenset(), g)
                           for g in (False, True)}

    # --- reading --------------------------------------------------------------------------

    def undecided(self, gpc: bool) -> ConsentState:
        return self._undecided[gpc and self.honor_gpc]

    def state_from_cookie(self, value: str | None, *, gpc: bool, now: float | None = None) -> ConsentState:
        if not value:
            return self.undecided(gpc)
        payload = self._verify(value)
        if payload is None or payload.policy_version != self.policy_version:
            return self.undecided(gpc)
        now = time.time() if now is None else now
        if not 0 <= now - payload.issued_at < self.max_age:
            return self.undecided(gpc)
        if payload.issued_at < self.revocations.not_before(payload.consent_id):
            # replaced by a later decision (a withdrawal, say): no decision, but the same visitor
            return ConsentState(False, self.required, self.policy_version, payload.consent_id, None, frozenset(),
                                gpc and self.honor_gpc)
        granted = (payload.granted & self.optional) | self.required
        # New categories since the decision: ask again, keeping what was already granted.
        decided = self.optional <= payload.known
        return ConsentState(decided, granted, payload.policy_version, payload.consent_id,
                            payload.issued_at, payload.known, gpc and self.honor_gpc)

    def _verify(self, value: str) -> _Payload | None:
        cache = self._cache
        if value in cache:
            cache.move_to_end(value)
            return cache[value]
        payload = self._decode(value)
        cache[value] = payload
        if len(cache) > self._cache_size:
            cache.popitem(last=False)
        return payload

    def _decode(self, value: str) -> _Payload | None:
        if len(value) > MAX_COOKIE_VALUE:
            return None
        try:
            data = self._serializer.loads(value)
        except (BadSignature, ValueError, TypeError, UnicodeError):
            return None
        try:
            granted, version, consent_id, issued, known = data
            if not (isinstance(granted, list) and isinstance(known, list) and isinstance(version, str)
                    and isinstance(consent_id, str) and isinstance(issued, int)):
                return None
            return _Payload(frozenset(map(str, granted)), version, consent_id, issued, frozenset(map(str, known)))
        except (ValueError, TypeError):
            return None

    # --- writing --------------------------------------------------------------------------

    def decide(self, granted: frozenset[str], *, previous: ConsentState, gpc: bool,
               now: float | None = None) -> ConsentState:
        """A new decision. The consent id survives re-decisions so one visitor has one history."""
        consent_id = previous.consent_id or new_consent_id()
        issued = int(time.time() if now is None else now)
        return ConsentState(True, (granted & self.optional) | self.required, self.policy_version,
                            consent_id, issued, frozenset(self.category_ids), gpc and self.honor_gpc)

    def encode(self, state: ConsentState) -> str:
        assert state.consent_id is not None and state.issued_at is not None
        data = [sorted(state.granted), state.policy_version, state.consent_id, state.issued_at,
                sorted(state.known)]
        payload = self._serializer.dump_payload(data)
        mac = self._mac.copy()
        mac.update(payload)
        return (payload + self._sep + base64_encode(mac.digest())).decode("ascii")

    def name_for(self, secure: bool) -> str:
        return self.secure_cookie_name if secure else self.cookie_name

    def set_cookie_header(self, state: ConsentState, *, secure: bool) -> bytes:
        name = self.name_for(secure)
        value = f"{name}={self.encode(state)}; Max-Age={self.max_age}; Path=/; HttpOnly; SameSite=Lax"
        if secure:
            value += "; Secure"
        return value.encode("ascii")


def new_consent_id() -> str:
    """96 random bits, URL-safe. Never starting with '-': a visitor reads it out to the operator,
    who types it into `consent-gateway log show ID`, where a leading '-' reads as an option."""
    while True:
        token = secrets.token_urlsafe(12)
        if token[0] != "-":
            return token
