"""What a configuration is: frozen dataclasses, their defaults, and the constants the format is
checked against. The defaults live here only: gateway/config/sections.py reads them from these
fields (`DEFAULTS`), and tests/test_config.py checks gateway/default.toml shows the same values.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from gateway.bannerconfig import BannerSettings
from gateway.catalog import Catalog

SHIPPED_KEY_PREFIX = "dev-only-change-me"
MAX_AGE_DAYS_LIMIT = 395  # 13 months: the longest consent lifetime regulators accept
CATEGORY_ID = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
COOKIE_GLOB = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 6265 token chars; '*' for globs
LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
GCM_SIGNALS = frozenset(
    {
        "analytics_storage",
        "personalization_storage",
        "functionality_storage",
        "security_storage",
        "ad_storage",
        "ad_user_data",
        "ad_personalization",
    }
)
DEFAULT_CONSENT_MODE = {
    "personalization": ("analytics_storage", "personalization_storage"),
    "identity": ("functionality_storage",),
}
# Browser-level ad and interest APIs (Privacy Sandbox), switched off by a Permissions-Policy
# header until their category is granted: the site's scripts cannot call them even if they run.
DEFAULT_BROWSER_FEATURES: dict[str, tuple[str, ...]] = {
    "personalization": ("browsing-topics", "attribution-reporting", "join-ad-interest-group", "run-ad-auction"),
}
FEATURE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
MODES = ("enforce", "report")
# The catalog's purposes and the site categories they fall into unless [catalog] purposes says
# otherwise. "necessary": always allowed (session, CSRF and security cookies; Article 29 WP 04/2012).
DEFAULT_PURPOSES = {"necessary": "necessary", "functional": "identity", "analytics": "personalization",
                    "marketing": "personalization"}


@dataclass(frozen=True)
class Upstream:
    scheme: str
    host: str
    port: int

    @property
    def authority(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.authority}"


@dataclass(frozen=True)
class GatewaySettings:
    upstream: Upstream
    host: str = "127.0.0.1"
    port: int = 8080
    public_origin: str | None = None
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    preserve_host: bool = True
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_html_bytes: int = 32 * 1024 * 1024
    pool_size: int = 64
    upstream_ca: str | None = None  # CA bundle for an https upstream (default: the system's)
    access_log: str = "on"  # "on" (client /24 or /48), "no-address", "off"
    # What a client may send and how long it may take (gateway/heads.py, gateway/serving.py)
    header_timeout: float = 20.0  # a request head must be complete within this; then 408
    keepalive_timeout: float = 75.0  # idle keep-alive; longer than nginx's upstream keepalive_timeout
    send_timeout: float = 60.0  # a client that reads nothing of a response for this long is dropped
    body_timeout: float = 60.0  # a request body that pauses this long: 408, the site's request is dropped
    max_header_bytes: int = 64 * 1024  # request line + headers; over it: 431
    max_headers: int = 100  # header lines; over it: 431
    ws_max_message_bytes: int = 1024 * 1024  # a larger WebSocket message closes with 1009


@dataclass(frozen=True)
class Category:
    id: str
    cookies: tuple[str, ...] = ()
    scripts: tuple[str, ...] = ()
    required: bool = False
    title: dict[str, str] = field(default_factory=dict)
    description: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConsentSettings:
    secret_keys: tuple[str, ...]
    policy_version: str
    max_age_days: int = 180
    honor_gpc: bool = True
    cookie_name: str = "consent_gateway"
    fallback_locale: str = "en"  # when nothing in Accept-Language matches a locale we have
    privacy_policy_url: str = "/privacy"
    consent_mode: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_CONSENT_MODE))
    browser_features: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_BROWSER_FEATURES))
    decisions_per_minute: int = 600  # per client address (IPv6: /64), sustained; 0 turns the limit off
    decision_burst: int = 120  # decisions one address may make at once before the limit applies
    mode: str = "enforce"  # "report": nothing is withheld; what would have been is counted

    @property
    def default_locale(self) -> str:  # the key's old name, still read from older configs
        return self.fallback_locale


@dataclass(frozen=True)
class LogSettings:
    url: str = "sqlite:////var/lib/consent-gateway/consent.db"
    chain_key: str = ""
    instance_id: str = ""
    spool_dir: str = ""
    group_commit: bool = True  # off only to measure what it saves (bench/decisions_bench.py)


@dataclass(frozen=True)
class CookieSettings:
    necessary: tuple[str, ...] = ()
    unknown: str = "block"
    inventory_names: int = 500  # distinct names per category label in the inventory; the rest are "(other)"
    max_expiries: int = 50  # Set-Cookie expiry headers per response; the cookies left over are counted


@dataclass(frozen=True)
class CatalogSettings:
    enabled: bool = True
    extra: tuple[str, ...] = ()
    # catalog purpose -> "necessary" or a category id; None: the catalog does not decide (unknown)
    purposes: dict[str, str | None] = field(default_factory=dict)
    # loaded and compiled once, at start (immutable); None only for a Config built by hand
    catalog: Catalog | None = field(default=None, compare=False, repr=False)

    def category(self, purpose: str) -> str | None:
        return self.purposes.get(purpose)


@dataclass(frozen=True)
class AdminSettings:
    enabled: bool = False
    token: str = ""
    username: str = ""
    password: str = ""
    max_failures: int = 10  # wrong credentials per address and minute before it is locked out
    lockout_seconds: int = 300
    session_minutes: int = 60  # how long the login form's admin cookie is accepted


@dataclass(frozen=True)
class Config:
    gateway: GatewaySettings
    consent: ConsentSettings
    log: LogSettings
    cookies: CookieSettings
    categories: tuple[Category, ...]
    admin: AdminSettings = AdminSettings()
    source: str = "<config>"
    catalog: CatalogSettings = CatalogSettings()
    banner: BannerSettings = BannerSettings()

    @property
    def category_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories)

    def category(self, category_id: str) -> Category | None:
        for c in self.categories:
            if c.id == category_id:
                return c
        return None


def field_defaults(cls: type) -> dict[str, Any]:
    """Field name -> its default (a fresh one for a default_factory); fields without one are left out."""
    out: dict[str, Any] = {}
    for f in fields(cls):
        if f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:
            out[f.name] = f.default_factory()
    return out


def table_keys(cls: type) -> frozenset[str]:
    """The TOML keys of a table: its dataclass's fields."""
    return frozenset(f.name for f in fields(cls))
