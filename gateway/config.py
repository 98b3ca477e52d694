"""TOML configuration → frozen dataclasses, validated once at start.

Every error names the file and, where it can be found, the line, so an operator can fix a bad
file without guessing. Nothing here runs per request.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.bannerconfig import KEYS as BANNER_KEYS
from gateway.bannerconfig import BannerSettings, build_banner
from gateway.catalog import Catalog
from gateway.errors import ConfigError

# The start of the development key gateway/default.toml ships: public, so loopback only (keycheck.py).
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
    url: str = "sqlite:///var/lib/consent-gateway/consent.db"
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


def default_config_path() -> Path:
    return Path(__file__).with_name("default.toml")


# --- loading -----------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str], env: dict[str, str] | None = None) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", path=str(p)) from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"not UTF-8 text ({e.reason} at byte {e.start})", path=str(p)) from None
    return parse_config(text, source=str(p), env=os.environ if env is None else env)


def parse_config(text: str, *, source: str = "<config>", env: Any = None) -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line = _line_from_toml_error(str(e))
        raise ConfigError(f"invalid TOML: {_strip_position(str(e))}", path=source, line=line) from None
    return _Builder(raw, text, source, env or {}).build()


def _line_from_toml_error(message: str) -> int | None:
    m = re.search(r"line (\d+)", message)
    return int(m.group(1)) if m else None


def _strip_position(message: str) -> str:
    return re.sub(r"\s*\(at line \d+, column \d+\)", "", message)


class _Builder:
    """Turns the parsed TOML into a Config, locating each bad key in the text for the message."""

    KNOWN = {
        "gateway": {
            "upstream", "host", "port", "public_origin", "trusted_proxies", "preserve_host",
            "connect_timeout", "read_timeout", "max_html_bytes", "pool_size", "upstream_ca",
            "access_log",
            "header_timeout", "keepalive_timeout", "send_timeout", "max_header_bytes", "max_headers",
            "ws_max_message_bytes", "body_timeout",
        },
        "consent": {
            "secret_keys", "policy_version", "max_age_days", "honor_gpc", "cookie_name",
            "default_locale", "privacy_policy_url", "consent_mode", "decisions_per_minute", "browser_features",
            "decision_burst", "mode", "fallback_locale",
        },
        "log": {"url", "chain_key", "instance_id", "spool_dir", "group_commit"},
        "cookies": {"necessary", "unknown", "inventory_names", "max_expiries"},
        "catalog": {"enabled", "extra", "purposes"},
        "admin": {"enabled", "token", "username", "password", "max_failures", "lockout_seconds",
                  "session_minutes"},
        "categories": {"id", "cookies", "scripts", "required", "title", "description"},
        "banner": BANNER_KEYS,
    }

    def __init__(self, raw: dict[str, Any], text: str, source: str, env: Any) -> None:
        self.raw = raw
        self.lines = text.splitlines()
        self.source = source
        self.env = env

    # Locating keys: tomllib keeps no positions, so find the key inside its table in the text.
    def line_of(self, table: str, key: str | None = None, index: int = 0) -> int | None:
        current: str | None = None
        seen = -1
        header_line: int | None = None
        for n, line in enumerate(self.lines, 1):
            s = line.strip()
            m = re.match(r"^\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]", s) or re.match(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]", s)
            if m:
                current = m.group(1)
                if current == table:
                    seen += 1
                    if seen == index:
                        header_line = n
                continue
            if current == table and seen == index and key is not None:
                if re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=", line):
                    return n
        return header_line

    def fail(self, message: str, table: str, key: str | None = None, index: int = 0) -> ConfigError:
        return ConfigError(message, path=self.source, line=self.line_of(table, key, index))

    def table(self, name: str, required: bool = False) -> dict[str, Any]:
        value = self.raw.get(name, {})
        if required and name not in self.raw:
            return self._missing_table(name)
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table", path=self.source, line=self.line_of(name))
        for key in value:
            if key not in self.KNOWN[name]:
                raise self.fail(f"unknown key {key!r} in [{name}]", name, key)
        return value

    def _missing_table(self, name: str) -> dict[str, Any]:
        raise ConfigError(f"missing [{name}] table", path=self.source)

    def typed(self, table: str, data: dict[str, Any], key: str, kind: type | tuple[type, ...],
              default: Any = None, index: int = 0) -> Any:
        if key not in data:
            return default
        value = data[key]
        # bool is an int in Python; an operator writing `port = true` made a mistake.
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise self.fail(f"{key} must be a number, not a boolean", table, key, index)
        if not isinstance(value, kind):
            want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(f"{key} must be {want}, got {type(value).__name__}", table, key, index)
        return value

    def str_list(self, table: str, data: dict[str, Any], key: str, index: int = 0) -> tuple[str, ...]:
        value = self.typed(table, data, key, list, [], index)
        for item in value:
            if not isinstance(item, str) or not item:
                raise self.fail(f"{key} must be a list of non-empty strings", table, key, index)
        return tuple(value)

    def build(self) -> Config:
        for key in self.raw:
            if key not in self.KNOWN:
                raise ConfigError(f"unknown table [{key}]", path=self.source, line=self.line_of(key))
        gateway = self.build_gateway()
        categories = self.build_categories()
        consent = self.build_consent(categories)
        cookies = self.build_cookies(categories)
        log = self.build_log(consent)
        admin = self.build_admin()
        catalog = self.build_catalog(categories)
        return Config(gateway, consent, log, cookies, categories, admin, self.source, catalog,
                      banner=build_banner(self))

    def build_gateway(self) -> GatewaySettings:
        g = self.table("gateway", required=True)
        if "upstream" not in g:
            raise self.fail("[gateway] needs upstream = \"http://host:port\"", "gateway")
        upstream = parse_upstream(self.typed("gateway", g, "upstream", str), self, "gateway")
        port = self.typed("gateway", g, "port", int, 8080)
        if not 0 < port < 65536:
            raise self.fail(f"port must be 1-65535, got {port}", "gateway", "port")
        origin = self.typed("gateway", g, "public_origin", str)
        if origin is not None:
            origin = normalise_origin(origin)
            if origin is None:
                raise self.fail("public_origin must look like https://www.example.com (no path)",
                                "gateway", "public_origin")
        proxies = []
        for item in self.str_list("gateway", g, "trusted_proxies"):
            try:
                proxies.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise self.fail(f"trusted_proxies: {item!r} is not an IP address or CIDR",
                                "gateway", "trusted_proxies") from None
        timeouts = {}
        for key, default in (("connect_timeout", 5.0), ("read_timeout", 30.0)):
            value = float(self.typed("gateway", g, key, (int, float), default))
            if not 0 < value <= 3600:
                raise self.fail(f"{key} must be between 0 and 3600 seconds", "gateway", key)
            timeouts[key] = value
        max_html = self.typed("gateway", g, "max_html_bytes", int, 32 * 1024 * 1024)
        if max_html < 64 * 1024:
            raise self.fail("max_html_bytes must be at least 65536", "gateway", "max_html_bytes")
        pool = self.typed("gateway", g, "pool_size", int, 64)
        if not 1 <= pool <= 10_000:
            raise self.fail("pool_size must be 1-10000", "gateway", "pool_size")
        ca = self.typed("gateway", g, "upstream_ca", str)
        if ca is not None and not os.path.isfile(ca):
            raise self.fail(f"upstream_ca {ca!r} is not a readable file", "gateway", "upstream_ca")
        access_log = self.typed("gateway", g, "access_log", str, "on")
        if access_log not in ("on", "no-address", "off"):
            raise self.fail('access_log must be "on", "no-address" or "off"', "gateway", "access_log")
        return GatewaySettings(
            upstream=upstream,
            host=self.typed("gateway", g, "host", str, "127.0.0.1"),
            port=port,
            public_origin=origin,
            trusted_proxies=tuple(proxies),
            preserve_host=self.typed("gateway", g, "preserve_host", bool, True),
            connect_timeout=timeouts["connect_timeout"],
            read_timeout=timeouts["read_timeout"],
            max_html_bytes=max_html,
            pool_size=pool,
            upstream_ca=ca,
            access_log=access_log,
            **self.client_limits(g),
        )

    def client_limits(self, g: dict[str, Any]) -> dict[str, Any]:
        """The [gateway] keys that bound what a client may send and how long it may take."""
        out: dict[str, Any] = {}
        for key, default in (("header_timeout", 20.0), ("keepalive_timeout", 75.0), ("send_timeout", 60.0),
                             ("body_timeout", 60.0)):
            value = float(self.typed("gateway", g, key, (int, float), default))
            if not 0.1 <= value <= 3600:
                raise self.fail(f"{key} must be between 0.1 and 3600 seconds", "gateway", key)
            out[key] = value
        for key, default, low, high in (("max_header_bytes", 64 * 1024, 4096, 1024 * 1024),
                                        ("max_headers", 100, 16, 1000),
                                        ("ws_max_message_bytes", 1024 * 1024, 1024, 64 * 1024 * 1024)):
            value = self.typed("gateway", g, key, int, default)
            if not low <= value <= high:
                raise self.fail(f"{key} must be {low}-{high}", "gateway", key)
            out[key] = value
        return out

    def build_categories(self) -> tuple[Category, ...]:
        items = self.raw.get("categories", [])
        if not isinstance(items, list) or not items:
            raise ConfigError("at least one [[categories]] entry is required", path=self.source)
        seen: set[str] = set()
        out = []
        for i, c in enumerate(items):
            if not isinstance(c, dict):
                raise self.fail("each [[categories]] entry must be a table", "categories", None, i)
            for key in c:
                if key not in self.KNOWN["categories"]:
                    raise self.fail(f"unknown key {key!r} in [[categories]]", "categories", key, i)
            cid = self.typed("categories", c, "id", str, None, i)
            if cid is None:
                raise self.fail("category needs an id", "categories", None, i)
            if not CATEGORY_ID.match(cid):
                raise self.fail(f"category id {cid!r} must match {CATEGORY_ID.pattern}", "categories", "id", i)
            if cid in seen:
                raise self.fail(f"category id {cid!r} is defined twice", "categories", "id", i)
            seen.add(cid)
            cookies = self.str_list("categories", c, "cookies", i)
            for pattern in cookies:
                if not COOKIE_GLOB.match(pattern):
                    raise self.fail(f"cookie pattern {pattern!r} has characters a cookie name cannot have",
                                    "categories", "cookies", i)
            scripts = tuple(s.lower() for s in self.str_list("categories", c, "scripts", i))
            out.append(Category(
                id=cid,
                cookies=cookies,
                scripts=scripts,
                required=self.typed("categories", c, "required", bool, False, i),
                title=self.locale_texts(c, "title", i),
                description=self.locale_texts(c, "description", i),
            ))
        return tuple(out)

    def locale_texts(self, c: dict[str, Any], key: str, i: int) -> dict[str, str]:
        value = self.typed("categories", c, key, dict, {}, i)
        for loc, text in value.items():
            if not LOCALE.match(loc) or not isinstance(text, str):
                raise self.fail(f"{key} must map locales (like en, zh-CN) to text", "categories", key, i)
        return dict(value)

    def build_consent(self, categories: tuple[Category, ...]) -> ConsentSettings:
        c = self.table("consent", required=True)
        keys = self.str_list("consent", c, "secret_keys")
        env_keys = self.env.get("CONSENT_GATEWAY_SECRET_KEYS")
        if env_keys:
            keys = tuple(k.strip() for k in env_keys.split(",") if k.strip())
        if not keys:
            raise self.fail("secret_keys must hold at least one key (or set CONSENT_GATEWAY_SECRET_KEYS)",
                            "consent", "secret_keys")
        for k in keys:
            if len(k) < 16:
                raise self.fail("each secret key must be at least 16 characters", "consent", "secret_keys")
        version = self.typed("consent", c, "policy_version", str)
        if not version or not re.match(r"^[\w.:-]{1,64}$", version):
            raise self.fail("policy_version is required: letters, digits, . _ : - (max 64)",
                            "consent", "policy_version")
        max_age = self.typed("consent", c, "max_age_days", int, 180)
        if not 1 <= max_age <= MAX_AGE_DAYS_LIMIT:
            raise self.fail(f"max_age_days must be 1-{MAX_AGE_DAYS_LIMIT} (13 months at most), got {max_age}",
                            "consent", "max_age_days")
        cookie_name = self.typed("consent", c, "cookie_name", str, "consent_gateway")
        if not COOKIE_GLOB.match(cookie_name) or "*" in cookie_name:
            raise self.fail("cookie_name must be a valid cookie name", "consent", "cookie_name")
        locale = self.fallback_locale(c)
        policy_url = self.typed("consent", c, "privacy_policy_url", str, "/privacy")
        if not (policy_url.startswith("/") or policy_url.startswith("https://")
                or policy_url.startswith("http://")) or any(ch in policy_url for ch in "\r\n\"<>"):
            raise self.fail("privacy_policy_url must be a path or an http(s) URL", "consent", "privacy_policy_url")
        ids = {cat.id for cat in categories}
        gcm = self.per_category(c, "consent_mode", DEFAULT_CONSENT_MODE, ids, lambda v: v in GCM_SIGNALS,
                                 f"Consent Mode signals from {sorted(GCM_SIGNALS)}")
        features = self.per_category(c, "browser_features", DEFAULT_BROWSER_FEATURES, ids,
                                     lambda v: bool(FEATURE_NAME.match(v)),
                                     "Permissions-Policy feature names (lower-case letters, digits, '-')")
        per_minute = self.typed("consent", c, "decisions_per_minute", int, 600)
        if not 0 <= per_minute <= 1_000_000:
            raise self.fail("decisions_per_minute must be 0 (off) to 1000000", "consent", "decisions_per_minute")
        burst = self.typed("consent", c, "decision_burst", int, 120)
        if not 1 <= burst <= 1_000_000:
            raise self.fail("decision_burst must be 1 to 1000000", "consent", "decision_burst")
        mode = self.typed("consent", c, "mode", str, "enforce")
        if mode not in MODES:
            raise self.fail('mode must be "enforce" or "report"', "consent", "mode")
        return ConsentSettings(
            mode=mode,
            decisions_per_minute=per_minute,
            decision_burst=burst,
            secret_keys=keys,
            policy_version=version,
            max_age_days=max_age,
            honor_gpc=self.typed("consent", c, "honor_gpc", bool, True),
            cookie_name=cookie_name,
            fallback_locale=locale,
            privacy_policy_url=policy_url,
            consent_mode=gcm,
            browser_features=features,
        )

    def fallback_locale(self, c: dict[str, Any]) -> str:
        """fallback_locale, or default_locale (its old name): English when neither is set."""
        if "fallback_locale" in c and "default_locale" in c:
            raise self.fail("set fallback_locale or default_locale (its old name), not both",
                            "consent", "fallback_locale")
        key = "default_locale" if "default_locale" in c else "fallback_locale"
        locale: str = self.typed("consent", c, key, str, "en")
        if not LOCALE.match(locale):
            raise self.fail(f"{key} {locale!r} is not a locale tag", "consent", key)
        return locale

    def per_category(self, c: dict[str, Any], key: str, default: dict[str, tuple[str, ...]], ids: set[str],
                     valid: Callable[[str], bool], what: str) -> dict[str, tuple[str, ...]]:
        """A `[consent]` table of category id -> list of names (consent_mode, browser_features)."""
        raw = self.typed("consent", c, key, dict, None)
        if raw is None:
            return {k: v for k, v in default.items() if k in ids}
        out: dict[str, tuple[str, ...]] = {}
        for cid, names in raw.items():
            if cid not in ids:
                raise self.fail(f"{key} names unknown category {cid!r}", "consent", key)
            if not isinstance(names, list) or not all(isinstance(n, str) and valid(n) for n in names):
                raise self.fail(f"{key}.{cid} must list {what}", "consent", key)
            out[cid] = tuple(names)
        return out

    def build_cookies(self, categories: tuple[Category, ...]) -> CookieSettings:
        c = self.table("cookies")
        necessary = self.str_list("cookies", c, "necessary")
        unknown = self.typed("cookies", c, "unknown", str, "block")
        if unknown != "block" and unknown not in {cat.id for cat in categories}:
            raise self.fail(f"unknown must be \"block\" or a category id, got {unknown!r}", "cookies", "unknown")
        names = self.typed("cookies", c, "inventory_names", int, 500)
        if not 1 <= names <= 100_000:
            raise self.fail("inventory_names must be 1-100000", "cookies", "inventory_names")
        expiries = self.typed("cookies", c, "max_expiries", int, 50)
        if not 1 <= expiries <= 1000:
            raise self.fail("max_expiries must be 1-1000", "cookies", "max_expiries")
        return CookieSettings(necessary=necessary, unknown=unknown, inventory_names=names, max_expiries=expiries)

    def build_log(self, consent: ConsentSettings) -> LogSettings:
        c = self.table("log")
        url = self.typed("log", c, "url", str, "sqlite:///var/lib/consent-gateway/consent.db")
        scheme = url.split(":", 1)[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise self.fail(f"log url must start with sqlite:/// or postgresql://, got {scheme!r}", "log", "url")
        if scheme == "sqlite" and not url.startswith("sqlite:///"):
            raise self.fail("sqlite url must be sqlite:///relative/path or sqlite:////absolute/path", "log", "url")
        chain_key = self.env.get("CONSENT_GATEWAY_LOG_KEY") or self.typed("log", c, "chain_key", str, "")
        if chain_key and len(chain_key) < 16:
            raise self.fail("chain_key must be at least 16 characters", "log", "chain_key")
        if not chain_key and not consent.secret_keys[0].startswith(SHIPPED_KEY_PREFIX):
            # The chain is keyed apart from the database. Without its own key we derive one from the
            # oldest consent key, so rotating consent keys must keep that one listed (see deploy/README).
            # Loopback only: off loopback `serve` and `check-config` demand a chain_key (keycheck.py).
            # Never from the shipped key, which is public: then the key stays "" (a development log).
            chain_key = "derived:" + consent.secret_keys[0]
        instance = self.typed("log", c, "instance_id", str, "")
        if instance and not re.match(r"^[A-Za-z0-9_.-]{1,64}$", instance):
            raise self.fail("instance_id may hold letters, digits, _ . - (max 64)", "log", "instance_id")
        spool = self.typed("log", c, "spool_dir", str, "")
        if scheme != "sqlite":
            parts = urlsplit(url)
            if not parts.hostname and not parts.path.strip("/"):
                raise self.fail("postgresql url needs a host or a database", "log", "url")
        return LogSettings(url=url, chain_key=chain_key, instance_id=instance, spool_dir=spool,
                           group_commit=self.typed("log", c, "group_commit", bool, True))

    def build_catalog(self, categories: tuple[Category, ...]) -> CatalogSettings:
        c = self.table("catalog")
        enabled = self.typed("catalog", c, "enabled", bool, True)
        base = Path(self.source).parent if self.source != "<config>" else Path.cwd()
        extra = tuple(str(base / p) for p in self.str_list("catalog", c, "extra"))
        for path in extra:
            if not os.path.isfile(path):
                raise self.fail(f"extra catalog file {path!r} is not a readable file", "catalog", "extra")
        ids = {cat.id for cat in categories}
        # a default whose category the site does not have leaves that purpose to `unknown`
        purposes: dict[str, str | None] = {p: t if t == "necessary" or t in ids else None
                                           for p, t in DEFAULT_PURPOSES.items()}
        for purpose, target in self.typed("catalog", c, "purposes", dict, {}).items():
            if purpose not in DEFAULT_PURPOSES:
                raise self.fail(f"purposes: {purpose!r} is not a catalog purpose ({', '.join(DEFAULT_PURPOSES)})",
                                "catalog", "purposes")
            if not isinstance(target, str) or (target != "necessary" and target not in ids):
                raise self.fail(f"purposes.{purpose} must be \"necessary\" or a category id "
                                f"({', '.join(sorted(ids))}), got {target!r}", "catalog", "purposes")
            purposes[purpose] = target
        # a bad catalog file raises CatalogError (a ConfigError) naming that file and its line
        return CatalogSettings(enabled=enabled, extra=extra, purposes=purposes,
                               catalog=_load_catalog(enabled, extra))

    def build_admin(self) -> AdminSettings:
        c = self.table("admin")
        enabled = self.typed("admin", c, "enabled", bool, False)
        token = self.env.get("CONSENT_GATEWAY_ADMIN_TOKEN") or self.typed("admin", c, "token", str, "")
        username = self.typed("admin", c, "username", str, "")
        password = self.env.get("CONSENT_GATEWAY_ADMIN_PASSWORD") or self.typed("admin", c, "password", str, "")
        if enabled and not token and not (username and password):
            raise self.fail("admin is enabled but has no credential: set token, or username and password",
                            "admin", "enabled")
        if token and len(token) < 16:
            raise self.fail("admin token must be at least 16 characters", "admin", "token")
        if password and len(password) < 12:
            raise self.fail("admin password must be at least 12 characters", "admin", "password")
        failures = self.typed("admin", c, "max_failures", int, 10)
        if not 1 <= failures <= 10_000:
            raise self.fail("max_failures must be 1-10000", "admin", "max_failures")
        lockout = self.typed("admin", c, "lockout_seconds", int, 300)
        if not 1 <= lockout <= 86_400:
            raise self.fail("lockout_seconds must be 1-86400", "admin", "lockout_seconds")
        session = self.typed("admin", c, "session_minutes", int, 60)
        if not 1 <= session <= 1440:
            raise self.fail("session_minutes must be 1-1440 (a day at most)", "admin", "session_minutes")
        return AdminSettings(enabled=enabled, token=token, username=username, password=password,
                             max_failures=failures, lockout_seconds=lockout, session_minutes=session)


@functools.lru_cache(maxsize=8)
def _load_catalog_cached(enabled: bool, extra: tuple[str, ...], stamps: tuple[int, ...]) -> Catalog:
    return Catalog.load(enabled=enabled, extra=extra)


def _load_catalog(enabled: bool, extra: tuple[str, ...]) -> Catalog:
    """The catalog is immutable: a config parsed again (tests, check-config then serve) reuses the
    compiled one unless an extra file changed."""
    stamps = []
    for p in extra:
        try:
            stamps.append(os.stat(p).st_mtime_ns)
        except OSError:
            return Catalog.load(enabled=enabled, extra=extra)  # raises the readable error
    return _load_catalog_cached(enabled, extra, tuple(stamps))


def parse_upstream(value: str, builder: _Builder | None = None, table: str = "gateway") -> Upstream:
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
