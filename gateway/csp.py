"""The site's Content-Security-Policy, read for the one thing the injection needs: its nonces.

A site with a nonce-based policy (`script-src 'nonce-…' 'strict-dynamic'`, the strict CSP that
browsers' security guides recommend) blocks any script without that nonce, same-origin or not;
our guard and banner scripts must then carry the page's nonce, or the page's own policy disables
them. Policies come from the response headers and from a `<meta http-equiv>` the rewriter meets
before its injection point. Parsing follows CSP3 loosely and never raises: a policy we cannot
read gives no nonce.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.types import Headers

_NONCE = re.compile(r"^'nonce-([A-Za-z0-9+/_=-]{1,256})'$")  # base64 or base64url, nothing else
# For a <script> element the browser uses the first of these a policy has; likewise for <link>.
_SCRIPT_DIRECTIVES = ("script-src-elem", "script-src", "default-src")
_STYLE_DIRECTIVES = ("style-src-elem", "style-src", "default-src")
MAX_POLICY = 16 * 1024


@dataclass(frozen=True)
class Nonces:
    script: str | None = None
    style: str | None = None


NO_NONCES = Nonces()


def header_policies(headers: Headers) -> tuple[str, ...]:
    """The enforced policies of a response (report-only ones block nothing)."""
    return tuple(value[:MAX_POLICY].decode("latin-1") for name, value in headers
                 if name == b"content-security-policy")


def nonces_for(policies: Iterable[str]) -> Nonces:
    """The nonces our injected <script> and <link> elements need to pass every policy given."""
    parsed = [_parse_policy(p) for text in policies for p in text[:MAX_POLICY].split(",")]  # a field may hold several
    if not parsed:
        return NO_NONCES
    return Nonces(_choose(parsed, _SCRIPT_DIRECTIVES), _choose(parsed, _STYLE_DIRECTIVES))


def _parse_policy(text: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in text.split(";"):
        tokens = part.split()
        if tokens:
            directives.setdefault(tokens[0].lower(), tokens[1:])  # the first of a repeated name counts
    return directives


def _choose(policies: list[dict[str, list[str]]], order: tuple[str, ...]) -> str | None:
    """A nonce every policy that lists nonces for this element accepts; the first one otherwise."""
    lists: list[list[str]] = []
    for policy in policies:
        sources = next((policy[d] for d in order if d in policy), None)
        if sources is None:
            continue
        nonces = [m.group(1) for s in sources if (m := _NONCE.match(s))]
        if nonces:
            lists.append(nonces)
    if not lists:
        return None
    for nonce in lists[0]:
        if all(nonce in other for other in lists[1:]):
            return nonce
    return lists[0][0]
