"""The response policy: what the visitor may get of the site's answer, decided from its status and
headers, the request and the consent state, before a body byte is read.

No sockets and no `send`: `ResponsePolicy.decide` returns a `ResponsePlan`, immutable, and the
proxy's responder carries it out whichever transport brought the answer (the upstream pool or a
wrapped ASGI app). It decides which Set-Cookie go and which held cookies are expired, whether the
body is rewritten, and every header that follows from that (the ones a changed body makes false,
Vary, Cache-Control, Permissions-Policy), including the head of a body transcoded to UTF-8.
The one thing it updates is the learned cookie-scope table (which Domain and Path a site set each
cookie with), so that a later expiry names the same scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from gateway.config import Config
from gateway.cookies import CookieRules, CookieScopes, bounded_expiry_headers, drop_response_cookies
from gateway.csp import header_policies
from gateway.decoding import can_decode
from gateway.navigation import VARY
from gateway.types import Headers

Header = tuple[bytes, bytes]

# RFC 9110 §7.6.1 hop-by-hop fields, plus the ones we rebuild ourselves.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding",
    b"upgrade", b"proxy-authenticate", b"proxy-authorization",
    b"date",  # the server in front of the client writes its own Date
})
# What a rewritten body makes false: it has another length, no coding, no validators, and is per visitor.
CHANGED_BODY_DROPS = frozenset({
    b"content-length", b"etag", b"content-encoding", b"accept-ranges", b"content-md5", b"digest",
    b"cache-control", b"last-modified",
})
# Not application/xhtml+xml: an XML parser would reject the banner's HTML and blank the page.
HTML_TYPES = (b"text/html",)
PRIVATE = (b"cache-control", b"private, no-cache")
UTF8_HTML = (b"content-type", b"text/html; charset=utf-8")


class ResponsePlan(NamedTuple):
    """Everything about one response head, and what the body goes through. Immutable (a named
    tuple: built on every response, it costs a quarter of a frozen dataclass)."""

    status: int
    headers: tuple[Header, ...]  # the head as it leaves (see `head` for the two late changes)
    rewrite: bool  # an HTML body we decode, scan and inject into; its head says so already
    coding: bytes  # the body's Content-Encoding, undone before the scan
    charset: bytes  # the Content-Type's charset label, b"" when it has none
    policies: tuple[str, ...]  # the site's Content-Security-Policy headers: the nonces we need
    dropped: tuple[str, ...]  # Set-Cookie names removed
    would_drop: tuple[str, ...]  # report mode: what enforce mode would have removed (not our own)
    unexpired: int  # held cookies left unexpired past the [cookies] max_expiries bound

    def head(self, *, utf8: bool = False, length: int | None = None) -> Headers:
        """The head to send. `utf8`: the body was transcoded from UTF-16 and says so; `length`: a
        rewritten body that came whole gets its Content-Length (it has none of its own)."""
        headers = list(self.headers)
        if utf8:
            headers = [h for h in headers if h[0] != b"content-type"]
            headers.append(UTF8_HTML)
        if length is not None:
            headers.append((b"content-length", b"%d" % length))
        return headers


def _content(headers: Iterable[Header]) -> tuple[bytes, bytes]:
    content_type = coding = b""
    for n, v in headers:
        if n == b"content-type":
            content_type = v
        elif n == b"content-encoding":
            coding = v
    return content_type, coding


def charset_label(content_type: bytes) -> bytes:
    i = content_type.lower().find(b"charset=")
    return content_type[i + 8:].split(b";")[0] if i >= 0 else b""


class ResponsePolicy:
    """Built once per Runtime from the config; `decide` runs per response."""

    def __init__(self, config: Config, rules: CookieRules, scopes: CookieScopes) -> None:
        self.rules = rules
        self.scopes = scopes
        self.report = config.consent.mode == "report"
        self.max_expiries = config.cookies.max_expiries
        self._browser_features = config.consent.browser_features
        self._everything = frozenset(config.category_ids)
        self._features_header: dict[frozenset[str], bytes] = {}

    def decide(self, status: int, headers: Headers, *, granted: frozenset[str], held: Iterable[str],
               secure: bool, host: str) -> ResponsePlan:
        """`held`: the cookie names the request filter stripped, to be expired in the browser;
        `secure` and `host`: how the browser reached us, which the expiries must match."""
        out, dropped, would_drop = self._set_cookies(headers, granted)
        unexpired = 0
        names = [n for n in held if n]
        if names:
            expiries, unexpired = bounded_expiry_headers(names, self.scopes, secure=secure, host=host,
                                                         limit=self.max_expiries)
            out += expiries
        content_type, coding = _content(out)
        # Error pages carry tracker tags too: every HTML body is rewritten, except partial ones.
        rewrite = (content_type.split(b";")[0].strip().lower() in HTML_TYPES
                   and status >= 200 and status not in (204, 206, 304) and can_decode(coding))
        policies: tuple[str, ...] = ()
        if rewrite:
            out = self._rewritten_head(out, granted)
            policies = header_policies(out)
        return ResponsePlan(status, tuple(out), rewrite, coding, charset_label(content_type), policies,
                            tuple(dropped), tuple(would_drop), unexpired)

    def _set_cookies(self, headers: Headers, granted: frozenset[str]) -> tuple[Headers, list[str], list[str]]:
        """The head without hop-by-hop fields and without the Set-Cookie not allowed; report mode
        removes only our own cookie and says what enforce mode would have removed."""
        result = drop_response_cookies(headers, self.rules, granted, self.scopes, omit=HOP_BY_HOP)
        would_drop: list[str] = []
        if self.report:
            would_drop = [n for n in result.dropped if n not in self.rules.own]
            result = drop_response_cookies(headers, self.rules, granted, self.scopes, everything=True, omit=HOP_BY_HOP)
        return result.headers, result.dropped, would_drop

    def _rewritten_head(self, headers: Headers, granted: frozenset[str]) -> Headers:
        """The page we send is another body: other length, no coding or validators, per visitor."""
        out = [(n, v) for n, v in headers if n not in CHANGED_BODY_DROPS]
        out.append(PRIVATE)
        out.append((b"vary", VARY))  # the consent cookie, and what says page or fragment
        features = self.permissions_policy(self._everything if self.report else granted)
        if features:
            out.append((b"permissions-policy", features))
        return out

    def permissions_policy(self, granted: frozenset[str]) -> bytes:
        """Browser ad and interest APIs off until their category is granted. Sent after the site's
        own header: in the combined field a repeated feature takes its last value, ours."""
        value = self._features_header.get(granted)
        if value is None:
            denied = dict.fromkeys(f for cid, features in self._browser_features.items()
                                   if cid not in granted for f in features)
            value = ", ".join(f + "=()" for f in denied).encode("ascii")
            self._features_header[granted] = value
        return value
