"""The other tables: [consent], [[categories]], [cookies], [log], [catalog] and [admin], each read,
checked and turned into its dataclass. Defaults come from the dataclasses (gateway/config/model.py)."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.catalog import Catalog
from gateway.config.model import (
    CATEGORY_ID,
    COOKIE_GLOB,
    DEFAULT_BROWSER_FEATURES,
    DEFAULT_CONSENT_MODE,
    DEFAULT_PURPOSES,
    FEATURE_NAME,
    GCM_SIGNALS,
    LOCALE,
    MAX_AGE_DAYS_LIMIT,
    MODES,
    SHIPPED_KEY_PREFIX,
    AdminSettings,
    CatalogSettings,
    Category,
    ConsentSettings,
    CookieSettings,
    LogSettings,
    field_defaults,
)
from gateway.config.reader import TomlReader
from gateway.errors import ConfigError

CATEGORY = field_defaults(Category)
CONSENT = field_defaults(ConsentSettings)
COOKIES = field_defaults(CookieSettings)
LOG = field_defaults(LogSettings)
CATALOG = field_defaults(CatalogSettings)
ADMIN = field_defaults(AdminSettings)

def build_categories(b: TomlReader) -> tuple[Category, ...]:
    items = b.raw.get("categories", [])
    if not isinstance(items, list) or not items:
        raise ConfigError("at least one [[categories]] entry is required", path=b.source)
    seen: set[str] = set()
    out = []
    for i, c in enumerate(items):
        if not isinstance(c, dict):
            raise b.fail("each [[categories]] entry must be a table", "categories", None, i)
        for key in c:
            if key not in b.KNOWN["categories"]:
                raise b.fail(f"unknown key {key!r} in [[categories]]", "categories", key, i)
        cid = b.typed("categories", c, "id", str, None, i)
        if cid is None:
            raise b.fail("category needs an id", "categories", None, i)
        if not CATEGORY_ID.match(cid):
            raise b.fail(f"category id {cid!r} must match {CATEGORY_ID.pattern}", "categories", "id", i)
        if cid in seen:
            raise b.fail(f"category id {cid!r} is defined twice", "categories", "id", i)
        seen.add(cid)
        cookies = b.str_list("categories", c, "cookies", i)
        for pattern in cookies:
            if not COOKIE_GLOB.match(pattern):
                raise b.fail(f"cookie pattern {pattern!r} has characters a cookie name cannot have",
                                "categories", "cookies", i)
        scripts = tuple(s.lower() for s in b.str_list("categories", c, "scripts", i))
        out.append(Category(
            id=cid,
            cookies=cookies,
            scripts=scripts,
            required=b.typed("categories", c, "required", bool, CATEGORY["required"], i),
            title=locale_texts(b, c, "title", i),
            description=locale_texts(b, c, "description", i),
        ))
    return tuple(out)


def locale_texts(b: TomlReader, c: dict[str, Any], key: str, i: int) -> dict[str, str]:
    value = b.typed("categories", c, key, dict, {}, i)
    for loc, text in value.items():
        if not LOCALE.match(loc) or not isinstance(text, str):
            raise b.fail(f"{key} must map locales (like en, zh-CN) to text", "categories", key, i)
    return dict(value)


def build_consent(b: TomlReader, categories: tuple[Category, ...]) -> ConsentSettings:
    c = b.table("consent", required=True)
    keys = b.str_list("consent", c, "secret_keys")
    env_keys = b.env.get("CONSENT_GATEWAY_SECRET_KEYS")
    if env_keys:
        keys = tuple(k.strip() for k in env_keys.split(",") if k.strip())
    if not keys:
        raise b.fail("secret_keys must hold at least one key (or set CONSENT_GATEWAY_SECRET_KEYS)",
                        "consent", "secret_keys")
    for k in keys:
        if len(k) < 16:
            raise b.fail("each secret key must be at least 16 characters", "consent", "secret_keys")
    version = b.typed("consent", c, "policy_version", str)
    if not version or not re.match(r"^[\w.:-]{1,64}$", version):
        raise b.fail("policy_version is required: letters, digits, . _ : - (max 64)",
                        "consent", "policy_version")
    max_age = b.typed("consent", c, "max_age_days", int, CONSENT["max_age_days"])
    if not 1 <= max_age <= MAX_AGE_DAYS_LIMIT:
        raise b.fail(f"max_age_days must be 1-{MAX_AGE_DAYS_LIMIT} (13 months at most), got {max_age}",
                        "consent", "max_age_days")
    cookie_name = b.typed("consent", c, "cookie_name", str, CONSENT["cookie_name"])
    if not COOKIE_GLOB.match(cookie_name) or "*" in cookie_name:
        raise b.fail("cookie_name must be a valid cookie name", "consent", "cookie_name")
    locale = fallback_locale(b, c)
    policy_url = b.typed("consent", c, "privacy_policy_url", str, CONSENT["privacy_policy_url"])
    if not (policy_url.startswith("/") or policy_url.startswith("https://")
            or policy_url.startswith("http://")) or any(ch in policy_url for ch in "\r\n\"<>"):
        raise b.fail("privacy_policy_url must be a path or an http(s) URL", "consent", "privacy_policy_url")
    ids = {cat.id for cat in categories}
    gcm = per_category(b, c, "consent_mode", DEFAULT_CONSENT_MODE, ids, lambda v: v in GCM_SIGNALS,
                             f"Consent Mode signals from {sorted(GCM_SIGNALS)}")
    features = per_category(b, c, "browser_features", DEFAULT_BROWSER_FEATURES, ids,
                                 lambda v: bool(FEATURE_NAME.match(v)),
                                 "Permissions-Policy feature names (lower-case letters, digits, '-')")
    per_minute = b.typed("consent", c, "decisions_per_minute", int, CONSENT["decisions_per_minute"])
    if not 0 <= per_minute <= 1_000_000:
        raise b.fail("decisions_per_minute must be 0 (off) to 1000000", "consent", "decisions_per_minute")
    burst = b.typed("consent", c, "decision_burst", int, CONSENT["decision_burst"])
    if not 1 <= burst <= 1_000_000:
        raise b.fail("decision_burst must be 1 to 1000000", "consent", "decision_burst")
    mode = b.typed("consent", c, "mode", str, CONSENT["mode"])
    if mode not in MODES:
        raise b.fail('mode must be "enforce" or "report"', "consent", "mode")
    return ConsentSettings(
        mode=mode,
        decisions_per_minute=per_minute,
        decision_burst=burst,
        secret_keys=keys,
        policy_version=version,
        max_age_days=max_age,
        honor_gpc=b.typed("consent", c, "honor_gpc", bool, CONSENT["honor_gpc"]),
        cookie_name=cookie_name,
        fallback_locale=locale,
        privacy_policy_url=policy_url,
        consent_mode=gcm,
        browser_features=features,
    )


def fallback_locale(b: TomlReader, c: dict[str, Any]) -> str:
    """fallback_locale, or default_locale (its old name): English when neither is set."""
    if "fallback_locale" in c and "default_locale" in c:
        raise b.fail("set fallback_locale or default_locale (its old name), not both",
                        "consent", "fallback_locale")
    key = "default_locale" if "default_locale" in c else "fallback_locale"
    locale: str = b.typed("consent", c, key, str, CONSENT["fallback_locale"])
    if not LOCALE.match(locale):
        raise b.fail(f"{key} {locale!r} is not a locale tag", "consent", key)
    return locale


def per_category(b: TomlReader, c: dict[str, Any], key: str, default: dict[str, tuple[str, ...]], ids: set[str],
                 valid: Callable[[str], bool], what: str) -> dict[str, tuple[str, ...]]:
    """A `[consent]` table of category id -> list of names (consent_mode, browser_features)."""
    raw = b.typed("consent", c, key, dict, None)
    if raw is None:
        return {k: v for k, v in default.items() if k in ids}
    out: dict[str, tuple[str, ...]] = {}
    for cid, names in raw.items():
        if cid not in ids:
            raise b.fail(f"{key} names unknown category {cid!r}", "consent", key)
        if not isinstance(names, list) or not all(isinstance(n, str) and valid(n) for n in names):
            raise b.fail(f"{key}.{cid} must list {what}", "consent", key)
        out[cid] = tuple(names)
    return out


def build_cookies(b: TomlReader, categories: tuple[Category, ...]) -> CookieSettings:
    c = b.table("cookies")
    necessary = b.str_list("cookies", c, "necessary")
    unknown = b.typed("cookies", c, "unknown", str, COOKIES["unknown"])
    if unknown != "block" and unknown not in {cat.id for cat in categories}:
        raise b.fail(f"unknown must be \"block\" or a category id, got {unknown!r}", "cookies", "unknown")
    names = b.typed("cookies", c, "inventory_names", int, COOKIES["inventory_names"])
    if not 1 <= names <= 100_000:
        raise b.fail("inventory_names must be 1-100000", "cookies", "inventory_names")
    expiries = b.typed("cookies", c, "max_expiries", int, COOKIES["max_expiries"])
    if not 1 <= expiries <= 1000:
        raise b.fail("max_expiries must be 1-1000", "cookies", "max_expiries")
    return CookieSettings(necessary=necessary, unknown=unknown, inventory_names=names, max_expiries=expiries)


def build_log(b: TomlReader, consent: ConsentSettings) -> LogSettings:
    c = b.table("log")
    url = b.typed("log", c, "url", str, LOG["url"])
    scheme = url.split(":", 1)[0]
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise b.fail(f"log url must start with sqlite:/// or postgresql://, got {scheme!r}", "log", "url")
    if scheme == "sqlite" and not url.startswith("sqlite:///"):
        raise b.fail("sqlite url must be sqlite:///relative/path or sqlite:////absolute/path", "log", "url")
    chain_key = b.env.get("CONSENT_GATEWAY_LOG_KEY") or b.typed("log", c, "chain_key", str, LOG["chain_key"])
    if chain_key and len(chain_key) < 16:
        raise b.fail("chain_key must be at least 16 characters", "log", "chain_key")
    if not chain_key and not consent.secret_keys[0].startswith(SHIPPED_KEY_PREFIX):
        # The chain is keyed apart from the database. Without its own key we derive one from the
        # oldest consent key, so rotating consent keys must keep that one listed (see deploy/README).
        # Loopback only: off loopback `serve` and `check-config` demand a chain_key (keycheck.py).
        # Never from the shipped key, which is public: then the key stays "" (a development log).
        chain_key = "derived:" + consent.secret_keys[0]
    instance = b.typed("log", c, "instance_id", str, LOG["instance_id"])
    if instance and not re.match(r"^[A-Za-z0-9_.-]{1,64}$", instance):
        raise b.fail("instance_id may hold letters, digits, _ . - (max 64)", "log", "instance_id")
    spool = b.typed("log", c, "spool_dir", str, LOG["spool_dir"])
    if scheme != "sqlite":
        parts = urlsplit(url)
        if not parts.hostname and not parts.path.strip("/"):
            raise b.fail("postgresql url needs a host or a database", "log", "url")
    return LogSettings(url=url, chain_key=chain_key, instance_id=instance, spool_dir=spool,
                       group_commit=b.typed("log", c, "group_commit", bool, LOG["group_commit"]))


def build_catalog(b: TomlReader, categories: tuple[Category, ...]) -> CatalogSettings:
    c = b.table("catalog")
    enabled = b.typed("catalog", c, "enabled", bool, CATALOG["enabled"])
    base = Path(b.source).parent if b.source != "<config>" else Path.cwd()
    extra = tuple(str(base / p) for p in b.str_list("catalog", c, "extra"))
    for path in extra:
        if not os.path.isfile(path):
            raise b.fail(f"extra catalog file {path!r} is not a readable file", "catalog", "extra")
    ids = {cat.id for cat in categories}
    # a default whose category the site does not have leaves that purpose to `unknown`
    purposes: dict[str, str | None] = {p: t if t == "necessary" or t in ids else None
                                       for p, t in DEFAULT_PURPOSES.items()}
    for purpose, target in b.typed("catalog", c, "purposes", dict, {}).items():
        if purpose not in DEFAULT_PURPOSES:
            raise b.fail(f"purposes: {purpose!r} is not a catalog purpose ({', '.join(DEFAULT_PURPOSES)})",
                            "catalog", "purposes")
        if not isinstance(target, str) or (target != "necessary" and target not in ids):
            raise b.fail(f"purposes.{purpose} must be \"necessary\" or a category id "
                            f"({', '.join(sorted(ids))}), got {target!r}", "catalog", "purposes")
        purposes[purpose] = target
    # a bad catalog file raises CatalogError (a ConfigError) naming that file and its line
    return CatalogSettings(enabled=enabled, extra=extra, purposes=purposes,
                           catalog=_load_catalog(enabled, extra))


def build_admin(b: TomlReader) -> AdminSettings:
    c = b.table("admin")
    enabled = b.typed("admin", c, "enabled", bool, ADMIN["enabled"])
    token = b.env.get("CONSENT_GATEWAY_ADMIN_TOKEN") or b.typed("admin", c, "token", str, ADMIN["token"])
    username = b.typed("admin", c, "username", str, ADMIN["username"])
    password = b.env.get("CONSENT_GATEWAY_ADMIN_PASSWORD") or b.typed("admin", c, "password", str, ADMIN["password"])
    if enabled and not token and not (username and password):
        raise b.fail("admin is enabled but has no credential: set token, or username and password",
                        "admin", "enabled")
    if token and len(token) < 16:
        raise b.fail("admin token must be at least 16 characters", "admin", "token")
    if password and len(password) < 12:
        raise b.fail("admin password must be at least 12 characters", "admin", "password")
    failures = b.typed("admin", c, "max_failures", int, ADMIN["max_failures"])
    if not 1 <= failures <= 10_000:
        raise b.fail("max_failures must be 1-10000", "admin", "max_failures")
    lockout = b.typed("admin", c, "lockout_seconds", int, ADMIN["lockout_seconds"])
    if not 1 <= lockout <= 86_400:
        raise b.fail("lockout_seconds must be 1-86400", "admin", "lockout_seconds")
    session = b.typed("admin", c, "session_minutes", int, ADMIN["session_minutes"])
    if not 1 <= session <= 1440:
        raise b.fail("session_minutes must be 1-1440 (a day at most)", "admin", "session_minutes")
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
