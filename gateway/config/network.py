"""The [gateway] table: the site we front, where we listen, timeouts and what a client may send;
and the URL checks `serve --upstream` and the endpoints share."""

from __future__ import annotations

import ipaddress
import os
from typing import Any
from urllib.parse import urlsplit

from gateway.config.model import GatewaySettings, Upstream, field_defaults
from gateway.config.reader import TomlReader
from gateway.errors import ConfigError

GATEWAY = field_defaults(GatewaySettings)


def build_gateway(b: TomlReader) -> GatewaySettings:
    g = b.table("gateway", required=True)
    if "upstream" not in g:
        raise b.fail("[gateway] needs upstream = \"http://host:port\"", "gateway")
    upstream = parse_upstream(b.typed("gateway", g, "upstream", str), b, "gateway")
    port = b.typed("gateway", g, "port", int, GATEWAY["port"])
    if not 0 < port < 65536:
        raise b.fail(f"port must be 1-65535, got {port}", "gateway", "port")
    origin = b.typed("gateway", g, "public_origin", str)
    if origin is not None:
        origin = normalise_origin(origin)
        if origin is None:
            raise b.fail("public_origin must look like https://www.example.com (no path)",
                            "gateway", "public_origin")
    proxies = []
    for item in b.str_list("gateway", g, "trusted_proxies"):
        try:
            proxies.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise b.fail(f"trusted_proxies: {item!r} is not an IP address or CIDR",
                            "gateway", "trusted_proxies") from None
    timeouts = {}
    for key in ("connect_timeout", "read_timeout"):
        value = float(b.typed("gateway", g, key, (int, float), GATEWAY[key]))
        if not 0 < value <= 3600:
            raise b.fail(f"{key} must be between 0 and 3600 seconds", "gateway", key)
        timeouts[key] = value
    max_html = b.typed("gateway", g, "max_html_bytes", int, GATEWAY["max_html_bytes"])
    if max_html < 64 * 1024:
        raise b.fail("max_html_bytes must be at least 65536", "gateway", "max_html_bytes")
    pool = b.typed("gateway", g, "pool_size", int, GATEWAY["pool_size"])
    if not 1 <= pool <= 10_000:
        raise b.fail("pool_size must be 1-10000", "gateway", "pool_size")
    ca = b.typed("gateway", g, "upstream_ca", str)
    if ca is not None and not os.path.isfile(ca):
        raise b.fail(f"upstream_ca {ca!r} is not a readable file", "gateway", "upstream_ca")
    access_log = b.typed("gateway", g, "access_log", str, GATEWAY["access_log"])
    if access_log not in ("on", "no-address", "off"):
        raise b.fail('access_log must be "on", "no-address" or "off"', "gateway", "access_log")
    return GatewaySettings(
        upstream=upstream,
        host=b.typed("gateway", g, "host", str, GATEWAY["host"]),
        port=port,
        public_origin=origin,
        trusted_proxies=tuple(proxies),
        preserve_host=b.typed("gateway", g, "preserve_host", bool, GATEWAY["preserve_host"]),
        connect_timeout=timeouts["connect_timeout"],
        read_timeout=timeouts["read_timeout"],
        max_html_bytes=max_html,
        pool_size=pool,
        upstream_ca=ca,
        access_log=access_log,
        **client_limits(b, g),
    )


def client_limits(b: TomlReader, g: dict[str, Any]) -> dict[str, Any]:
    """The [gateway] keys that bound what a client may send and how long it may take."""
    out: dict[str, Any] = {}
    for key in ("header_timeout", "keepalive_timeout", "send_timeout", "body_timeout"):
        value = float(b.typed("gateway", g, key, (int, float), GATEWAY[key]))
        if not 0.1 <= value <= 3600:
            raise b.fail(f"{key} must be between 0.1 and 3600 seconds", "gateway", key)
        out[key] = value
    for key, low, high in (("max_header_bytes", 4096, 1024 * 1024), ("max_headers", 16, 1000),
                           ("ws_max_message_bytes", 1024, 64 * 1024 * 1024)):
        value = b.typed("gateway", g, key, int, GATEWAY[key])
        if not low <= value <= high:
            raise b.fail(f"{key} must be {low}-{high}", "gateway", key)
        out[key] = value
    return out


def parse_upstream(value: str, builder: TomlReader | None = None, table: str = "gateway") -> Upstream:
    parts = urlsplit(value)
    problem = None
    if parts.scheme not in ("http", "https"):
        problem = "upstream must be an http:// or https:// URL"
    elif not parts.hostname:
        problem = "upstream needs a host"
    elif parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        problem = "upstream must be scheme://host:port with no path, query or credentials"
    else:
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            problem = "upstream port is not a number in 1-65535"
    if problem:
        if builder is not None:
            raise builder.fail(problem, table, "upstream")
        raise ConfigError(problem, path="--upstream")
    assert parts.hostname is not None
    return Upstream(parts.scheme, parts.hostname, port)


def normalise_origin(value: str) -> str | None:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")
