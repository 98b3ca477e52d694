"""Who is asking, and under which origin: the peer, or X-Forwarded-* from a trusted proxy only."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

from gateway.config import GatewaySettings
from gateway.types import Scope

_HOST = re.compile(r"^(?:[a-z0-9.-]{1,253}|\[[0-9a-f:.]{2,45}\])(?::[0-9]{1,5})?$")


@dataclass(frozen=True)
class ClientInfo:
    ip: str
    scheme: str  # "http" | "https" as the browser sees it
    host: str  # lower-case host[:port] as the browser sees it, or "" when unusable
    trusted_peer: bool = False  # the connection came from one of our proxies

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"


class ForwardedResolver:
    def __init__(self, settings: GatewaySettings) -> None:
        self.trusted = settings.trusted_proxies
        self.public_origin = settings.public_origin
        self._trust_cache: dict[str, bool] = {}
        self._good_hosts: set[str] = set()

    def is_trusted(self, ip: str) -> bool:
        if not self.trusted:
            return False
        hit = self._trust_cache.get(ip)
        if hit is None:
            try:
                addr = ipaddress.ip_address(ip)
                hit = any(addr in net for net in self.trusted)
            except ValueError:
                hit = False
            if len(self._trust_cache) < 1024:
                self._trust_cache[ip] = hit
        return hit

    def resolve(self, scope: Scope, headers: dict[bytes, bytes]) -> ClientInfo:
        client = scope.get("client")
        peer = client[0] if client else ""
        scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"  # ASGI's default is http
        host = headers.get(b"host", b"").decode("latin-1").strip().lower()
        ip = peer
        trusted = bool(peer) and self.is_trusted(peer)
        if trusted:
            proto = headers.get(b"x-forwarded-proto")
            if proto:
                value = proto.split(b",")[0].strip().lower()
                if value in (b"http", b"https"):
                    scheme = value.decode()
            fhost = headers.get(b"x-forwarded-host")
            if fhost:
                host = fhost.split(b",")[0].strip().lower().decode("latin-1")
            xff = headers.get(b"x-forwarded-for")
            if xff:
                ip = self._client_from_xff(xff.decode("latin-1"), peer)
        if host not in self._good_hosts:
            if not _HOST.match(host):
                host = ""
            elif len(self._good_hosts) < 256:
                self._good_hosts.add(host)
        return ClientInfo(ip, scheme, host, trusted)

    def _client_from_xff(self, value: str, peer: str) -> str:
        # Walk right to left: the first address not ours is the client; the left part is forgeable.
        hops = [h.strip() for h in value.split(",") if h.strip()]
        addresses = [hop_address(h) for h in hops]
        for hop in reversed(addresses):
            if hop is None:
                return peer
            if not self.is_trusted(hop):
                return hop
        return addresses[0] or peer if addresses else peer

    def secure(self, info: ClientInfo) -> bool:
        """Whether the browser talks to us over https (cookies get Secure and __Host-)."""
        return (self.public_origin is not None and self.public_origin.startswith("https://")) or info.scheme == "https"

    def own_origin(self, info: ClientInfo) -> str | None:
        if self.public_origin:
            return self.public_origin
        return info.origin if info.host else None


def hop_address(hop: str) -> str | None:
    """The address in one X-Forwarded-For hop, or None. Some proxies (Azure Application Gateway,
    some IIS setups) write the client's port too, `203.0.113.9:50312` or `[2001:db8::1]:443`;
    refusing those made every visitor behind them share the proxy's own address (and its lockout
    and rate-limit buckets)."""
    if len(hop) > 64 or "%" in hop:  # the longest with brackets and a port is 53 characters; an IPv6
        return None  # zone id (fe80::1%eth0) names an interface on the proxy, never a client's address
    if hop.startswith("["):
        inner, sep, rest = hop[1:].partition("]")
        if not sep or not (rest == "" or (rest[:1] == ":" and rest[1:].isdigit() and rest[1:].isascii())):
            return None
        hop = inner
    elif hop.count(":") == 1:  # IPv4 with a port (a bare IPv6 address has at least two colons)
        hop, _, port = hop.partition(":")
        if not (port.isdigit() and port.isascii()):
            return None
    try:
        return str(ipaddress.ip_address(hop))
    except ValueError:
        return None


def forwarded_for(info: ClientInfo, peer: str, sent: bytes | None) -> bytes:
    """The X-Forwarded-For to send on: each proxy appends the address it was connected from, and a
    chain is kept only when it came from a trusted proxy."""
    chain = sent if info.trusted_peer and sent else None
    return (chain + b", " if chain else b"") + peer.encode("ascii", "replace")


@lru_cache(maxsize=4096)
def truncate_ip(ip: str) -> str:
    """IPv4 to its /24, IPv6 to its /48: enough for abuse statistics, not enough to identify."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))
