"""Everything compiled from one validated Config, immutable once built, and swapped whole on reload.

A request reads `app.runtime` once and uses that object to its end, so a reload in the middle of
it changes nothing for it: no stage sees half of one config and half of the next. What must outlive
a reload (the consent log, the upstream pool, the metrics, the cookie scopes and withdrawals this
process learned) is `Shared`, built once per process.

Some settings cannot change in a running process: where the log is, which site it fronts, the
address it listens on, and the limits the HTTP server was started with. A reload that changes one
is refused, naming them, and the running config keeps serving (mitmproxy's OptionsError, nginx's
"reload failed, old workers keep running").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields

from gateway.accesslog import AccessLog
from gateway.banner import Banner
from gateway.config import Config
from gateway.consent import ConsentCodec
from gateway.cookies import CookieRules, CookieScopes
from gateway.endpoints import Endpoints
from gateway.forwarded import ForwardedResolver
from gateway.health import UpstreamHealth
from gateway.ledger import Ledger
from gateway.metrics import Metrics
from gateway.proxy import Proxy
from gateway.proxyhints import ProxyHints
from gateway.revocation import Revocations
from gateway.transport import Transport
from gateway.upstream import UpstreamPool
from gateway.websocket import WebSocketProxy

# [gateway] keys fixed at start: the upstream pool and the HTTP server were built with them.
RESTART_GATEWAY_KEYS = ("upstream", "host", "port", "upstream_ca", "pool_size", "connect_timeout", "read_timeout",
                        "header_timeout", "keepalive_timeout", "send_timeout", "body_timeout", "max_header_bytes",
                        "max_headers")


@dataclass(frozen=True)
class Shared:
    """What lives as long as the process, whatever the config becomes."""

    ledger: Ledger
    pool: UpstreamPool
    transport: Transport  # PoolTransport(pool), or an AppTransport in middleware mode
    metrics: Metrics
    scopes: CookieScopes
    revocations: Revocations
    upstream_health: UpstreamHealth
    readiness: Callable[[], Awaitable[dict[str, object]]]


@dataclass(frozen=True)
class Runtime:
    config: Config
    codec: ConsentCodec
    rules: CookieRules
    banner: Banner
    resolver: ForwardedResolver
    hints: ProxyHints
    access_log: AccessLog
    proxy: Proxy
    endpoints: Endpoints
    websockets: WebSocketProxy
    metrics_alias: bool  # /metrics is ours (behind the admin credential) only with [admin] on


def build_runtime(config: Config, shared: Shared) -> Runtime:
    g = config.gateway
    codec = ConsentCodec(config, revocations=shared.revocations)
    rules = CookieRules(config)
    banner = Banner(config)
    resolver = ForwardedResolver(g)
    proxy = Proxy(config, rules, banner, shared.transport, shared.metrics, scopes=shared.scopes)
    endpoints = Endpoints(config, codec, rules, banner, shared.ledger, resolver, shared.metrics, shared.scopes,
                          shared.readiness)
    websockets = WebSocketProxy(config, codec, proxy, resolver, shared.pool.ssl)
    return Runtime(config, codec, rules, banner, resolver, ProxyHints(g), AccessLog(g.access_log), proxy, endpoints,
                   websockets, config.admin.enabled)


def restart_only_changes(old: Config, new: Config) -> list[str]:
    """The settings that differ between two configs but need a restart to take effect."""
    changed = [f"[gateway] {key}" for key in RESTART_GATEWAY_KEYS
               if getattr(old.gateway, key) != getattr(new.gateway, key)]
    changed += [f"[log] {f.name}" for f in fields(old.log) if getattr(old.log, f.name) != getattr(new.log, f.name)]
    if old.cookies.inventory_names != new.cookies.inventory_names:
        changed.append("[cookies] inventory_names")
    return changed
