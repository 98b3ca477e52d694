"""The request as every later stage sees it: headers read once, the client, and the consent state.

Built once per request by `read_request`, the first stage after routing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.accesslog import AccessRecord
from gateway.consent import ConsentCodec, ConsentState
from gateway.cookies import RequestCookie, parse_cookie_headers
from gateway.forwarded import ClientInfo, ForwardedResolver
from gateway.types import Headers, Scope


@dataclass
class RequestContext:
    headers: Headers
    first: dict[bytes, bytes]  # the first value of each header (X-Forwarded-For: all, joined)
    cookies: list[RequestCookie]
    client: ClientInfo
    state: ConsentState
    gpc: bool
    secure: bool  # the browser talks to us over https: cookies get Secure and the __Host- name
    access: AccessRecord = field(default_factory=AccessRecord)  # what the stages did, for the access log

    @property
    def user_agent(self) -> str:
        return self.first.get(b"user-agent", b"").decode("latin-1")


def read_request(scope: Scope, codec: ConsentCodec, resolver: ForwardedResolver) -> RequestContext:
    headers: Headers = scope["headers"]
    first: dict[bytes, bytes] = {}
    cookie_values = []
    for name, value in headers:
        if name == b"cookie":
            cookie_values.append(value)
        elif name not in first:
            first[name] = value
        elif name == b"x-forwarded-for":
            # A proxy may add its own line (HAProxy) after the client's: the lines are one list
            # (RFC 9110 §5.3), read from the right; the first line alone is the client's to forge.
            first[name] += b", " + value
    cookies = parse_cookie_headers(cookie_values) if cookie_values else []
    client = resolver.resolve(scope, first)
    consent_value = None
    # over https only the __Host- cookie counts: a plain one may have been planted by a subdomain
    secure = resolver.secure(client)
    own = codec.name_for(secure)
    for cookie in cookies:
        if cookie.name == own:
            consent_value = cookie.raw[len(own) + 1:].decode("latin-1").strip('"')
            break  # browsers send the most specific (longest path) first
    gpc = first.get(b"sec-gpc", b"").strip() == b"1"
    state = codec.state_from_cookie(consent_value, gpc=gpc)
    return RequestContext(headers, first, cookies, client, state, gpc, secure)
