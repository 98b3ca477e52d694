"""First or third party: which registrable domain ("site") a host belongs to.

No Public Suffix List ships with the gateway, so this knows the common two-label public suffixes
(co.uk, com.cn, ...) and otherwise takes the last two labels. IP addresses and single-label hosts
(localhost) are their own site. Good enough to tell a tracker's host from the site's own; a
hosting platform's shared suffix (github.io) is the known gap.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

# second-level labels under which the registrable domain has three labels (example.co.uk)
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "gob", "gv", "mil"})


def site_of(host: str) -> str:
    host = host.lower().rstrip(".").strip("[]")
    if host.startswith("."):
        host = host[1:]
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.split(".")
    if len(labels) <= 2:
        return host
    if labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def same_site(url: str, start: str) -> bool:
    """May the scan follow `url` from a page of `start`? http(s), same site; same port on an IP host."""
    try:
        a, b = urlsplit(url), urlsplit(start)
        if a.scheme not in ("http", "https") or a.scheme != b.scheme:
            return False
        ha, hb = (a.hostname or "").lower(), (b.hostname or "").lower()
        if not ha or site_of(ha) != site_of(hb):
            return False
        if site_of(hb) == hb.strip("[]") and a.port != b.port:  # an IP or single-label host: the port too
            return False
        return True
    except ValueError:
        return False
