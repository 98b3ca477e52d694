from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gateway.bannerconfig import BannerSettings
from gateway.config import (
    DEFAULT_PURPOSES,
    AdminSettings,
    CatalogSettings,
    Category,
    ConsentSettings,
    CookieSettings,
    GatewaySettings,
    LogSettings,
    default_config_path,
    field_defaults,
    load_config,
    parse_config,
)
from gateway.errors import ConfigError
from tests.conftest import config_text

GOOD = config_text("http://127.0.0.1:8000", Path("/tmp/x.db"))


def error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="t.toml", env={})
    return info.value


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_default_config_is_valid() -> None:
    config = load_config(default_config_path(), env={})
    assert [c.id for c in config.categories] == ["identity", "personalization"]
    assert config.consent.max_age_days == 180 and config.cookies.unknown == "block"


def test_env_overrides_keys() -> None:
    config = parse_config(GOOD, env={"CONSENT_GATEWAY_SECRET_KEYS": "k1-0123456789abcdef, k2-0123456789abcdef"})
    assert config.consent.secret_keys == ("k1-0123456789abcdef", "k2-0123456789abcdef")


@pytest.mark.parametrize("old,new,message,needle", [
    ("max_age_days = 180", "max_age_days = 400", "13 months", "max_age_days"),
    ('policy_version = "2024-10"', 'policy_version = "bad version!"', "policy_version", "policy_version"),
    ('unknown = "block"', 'unknown = "ads"', "unknown must be", "unknown ="),
    ('id = "identity"', 'id = "Bad Id"', "category id", 'id = "Bad Id"'),
    ('cookies = ["sid", "remember_*"]', 'cookies = ["sid;x"]', "cookie pattern", 'cookies = ["sid;x"]'),
    ("read_timeout = 2", "read_timeout = -1", "read_timeout", "read_timeout"),
    ("read_timeout = 2", "read_timeout = true", "boolean", "read_timeout"),
    ("read_timeout = 2", "colour = 2", "unknown key 'colour'", "colour"),
    ('policy_version = "2024-10"', 'policy_version = "2024-10"\nbrowser_features = { ads = ["browsing-topics"] }',
     "unknown category 'ads'", "browser_features"),
    ('policy_version = "2024-10"', 'policy_version = "2024-10"\nbrowser_features = { identity = ["x=(); y"] }',
     "Permissions-Policy feature names", "browser_features"),
])
def test_bad_values_name_the_line(old: str, new: str, message: str, needle: str) -> None:
    text = GOOD.replace(old, new, 1)
    e = error(text)
    assert message in e.message
    assert e.line == line_of(text, needle)
    assert str(e).startswith(f"t.toml:{e.line}: ")


def test_browser_features() -> None:
    assert parse_config(GOOD, env={}).consent.browser_features == {
        "personalization": ("browsing-topics", "attribution-reporting", "join-ad-interest-group", "run-ad-auction")}
    text = GOOD.replace('policy_version = "2024-10"',
                        'policy_version = "2024-10"\nbrowser_features = { identity = ["browsing-topics"] }')
    assert parse_config(text, env={}).consent.browser_features == {"identity": ("browsing-topics",)}


def test_bad_upstream() -> None:
    for bad in ("ftp://x", "http://", "http://host/path", "http://u:p@host", "http://host:99999"):
        e = error(GOOD.replace("http://127.0.0.1:8000", bad))
        assert "upstream" in e.message and e.line == 3


def test_toml_syntax_error_has_line() -> None:
    e = error(GOOD + "\n[broken\n")
    assert "invalid TOML" in e.message and e.line == len(GOOD.splitlines()) + 2


def test_duplicate_category() -> None:
    text = GOOD + '\n[[categories]]\nid = "identity"\n'
    e = error(text)
    assert "defined twice" in e.message and e.line == len(text.splitlines())


def test_missing_tables_and_keys() -> None:
    assert "missing [gateway]" in error("[consent]\n").message
    assert "secret_keys" in error(GOOD.replace('secret_keys = ["test-secret-key-0123456789abcdef"]',
                                               "secret_keys = []")).message
    assert "at least 16" in error(GOOD.replace("test-secret-key-0123456789abcdef", "short")).message


def test_admin_needs_credential() -> None:
    e = error(GOOD + "\n[admin]\nenabled = true\n")
    assert "credential" in e.message


def test_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_bytes(b"\xff\xfe[gateway]")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(p)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, timeout=60)


def test_check_config_cli(tmp_path: Path) -> None:
    ok = run_cli("check-config", str(default_config_path()))
    assert ok.returncode == 0 and "OK" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace("max_age_days = 180", "max_age_days = 999"))
    r = run_cli("check-config", str(bad))
    assert r.returncode == 2
    assert f"{bad}:{line_of(bad.read_text(), 'max_age_days')}: max_age_days must be" in r.stderr
    missing = run_cli("check-config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "file not found" in missing.stderr


@pytest.mark.parametrize("line,message", [
    ("header_timeout = 0", "header_timeout must be between 0.1 and 3600 seconds"),
    ("keepalive_timeout = 7200", "keepalive_timeout must be between"),
    ("send_timeout = true", "boolean"),
    ("body_timeout = 0.01", "body_timeout must be between"),
    ("max_header_bytes = 100", "max_header_bytes must be 4096-1048576"),
    ("max_headers = 5000", "max_headers must be 16-1000"),
    ('ws_max_message_bytes = "1M"', "ws_max_message_bytes must be int"),
])
def test_client_limit_keys_are_validated(line: str, message: str) -> None:
    text = GOOD.replace("read_timeout = 2", "read_timeout = 2\n" + line, 1)
    e = error(text)
    assert message in e.message
    assert e.line == line_of(text, line.split(" =")[0])


def test_client_limit_defaults() -> None:
    g = parse_config(GOOD, env={}).gateway
    assert (g.header_timeout, g.keepalive_timeout, g.send_timeout, g.body_timeout) == (20.0, 75.0, 60.0, 60.0)
    assert (g.max_header_bytes, g.max_headers, g.ws_max_message_bytes) == (65536, 100, 1048576)


# --- [catalog] and report mode ---------------------------------------------------------------


def test_catalog_defaults_on_with_the_issue_mapping() -> None:
    config = load_config(default_config_path(), env={})
    assert config.consent.mode == "enforce"
    assert config.catalog.enabled and config.catalog.catalog is not None and len(config.catalog.catalog) > 1000
    assert config.catalog.purposes == {"necessary": "necessary", "functional": "identity",
                                       "analytics": "personalization", "marketing": "personalization"}


def test_catalog_purposes_default_to_unknown_without_their_category() -> None:
    text = GOOD.replace('id = "personalization"', 'id = "ads"')
    assert parse_config(text, env={}).catalog.purposes["analytics"] is None


def test_catalog_purposes_and_off(tmp_path: Path) -> None:
    text = GOOD + '\n[catalog]\nenabled = false\npurposes = { functional = "necessary", marketing = "identity" }\n'
    config = parse_config(text, env={})
    assert config.catalog.purposes["functional"] == "necessary" and config.catalog.purposes["marketing"] == "identity"
    assert config.catalog.catalog is not None and len(config.catalog.catalog) == 0


@pytest.mark.parametrize("body,message,needle", [
    ('purposes = { analytics = "ads" }', "purposes.analytics must be", "purposes"),
    ('purposes = { tracking = "identity" }', "'tracking' is not a catalog purpose", "purposes"),
    ("enabled = 1", "enabled must be bool", "enabled"),
    ("extra = [1]", "extra must be a list", "extra"),
    ("colour = 1", "unknown key 'colour' in [catalog]", "colour"),
])
def test_bad_catalog_keys_name_the_line(body: str, message: str, needle: str) -> None:
    text = GOOD + "\n[catalog]\n" + body + "\n"
    e = error(text)
    assert message in e.message and e.line == line_of(text, needle)


def test_bad_extra_catalog_file_names_its_own_line(tmp_path: Path) -> None:
    extra = tmp_path / "ours.jsonl"
    extra.write_text('# ours\n{"kind": "cookie", "pattern": "shop_pref", "vendor": "Us", "purpose": "functional"}\n'
                     '{"kind": "script", "pattern": "https://x.example/a.js", "vendor": "X", "purpose": "analytics"}\n')
    e = error(GOOD + f'\n[catalog]\nextra = ["{extra}"]\n')
    assert e.path == str(extra) and e.line == 3 and "without the scheme" in e.message
    missing = error(GOOD + f'\n[catalog]\nextra = ["{tmp_path / "nope.jsonl"}"]\n')
    assert "not a readable file" in missing.message


def test_extra_catalog_is_relative_to_the_config_and_corrects_the_shipped(tmp_path: Path) -> None:
    (tmp_path / "ours.jsonl").write_text(
        '{"kind": "cookie", "pattern": "_ga", "vendor": "Google Analytics", "purpose": "functional"}\n')
    (tmp_path / "site.toml").write_text(GOOD + '\n[catalog]\nextra = ["ours.jsonl"]\n')
    catalog = load_config(tmp_path / "site.toml", env={}).catalog.catalog
    assert catalog is not None and catalog.cookie("_ga").purpose == "functional"  # type: ignore[union-attr]


def test_mode_is_enforce_or_report() -> None:
    assert parse_config(GOOD.replace('policy_version = "2024-10"', 'policy_version = "2024-10"\nmode = "report"'),
                        env={}).consent.mode == "report"
    text = GOOD.replace('policy_version = "2024-10"', 'policy_version = "2024-10"\nmode = "audit"')
    e = error(text)
    assert "mode must be" in e.message and e.line == line_of(text, 'mode = "audit"')


def test_mode_and_catalog_keys() -> None:
    config = parse_config(GOOD, env={})
    assert config.consent.mode == "enforce" and config.catalog.enabled and config.catalog.extra == ()
    text = GOOD.replace('policy_version = "2024-10"', 'policy_version = "2024-10"\nmode = "audit"', 1)
    e = error(text)
    assert "mode must be" in e.message and e.line == line_of(text, 'mode = "audit"')
    e = error(GOOD + '\n[catalog]\nextra = ["/nonexistent/ours.jsonl"]\n')
    assert "not a readable file" in e.message
    assert not parse_config(GOOD + "\n[catalog]\nenabled = false\n", env={}).catalog.enabled


def test_fallback_locale_and_its_alias() -> None:
    assert parse_config(GOOD.replace('default_locale = "en"', ""), env={}).consent.fallback_locale == "en"
    assert parse_config(GOOD.replace('default_locale = "en"', 'fallback_locale = "zh-CN"'),
                        env={}).consent.fallback_locale == "zh-CN"
    assert parse_config(GOOD.replace('default_locale = "en"', 'default_locale = "zh-CN"'),
                        env={}).consent.fallback_locale == "zh-CN"
    text = GOOD.replace('default_locale = "en"', 'fallback_locale = "not a tag"')
    e = error(text)
    assert "fallback_locale" in e.message and e.line == line_of(text, "fallback_locale")
    text = GOOD.replace('default_locale = "en"', 'default_locale = "en"\nfallback_locale = "zh-CN"')
    e = error(text)
    assert "both" in e.message and e.line == line_of(text, "fallback_locale")


# --- one set of defaults: the dataclasses; gateway/default.toml must show the same ---------------

# default.toml shows these with an example value, not their default
EXAMPLES = {
    "gateway": {"upstream", "public_origin", "trusted_proxies", "upstream_ca"},
    "consent": {"secret_keys", "policy_version"},
    "log": {"chain_key", "instance_id", "spool_dir"},
    "cookies": {"necessary"},
    "catalog": {"extra"},
    "admin": {"enabled", "token", "username", "password"},
    "banner": {"accent_color", "background_color", "text_color", "intro", "policy_link", "policy_url", "locales_dir"},
    "categories": {"id", "cookies", "scripts", "title", "description"},
}
TABLES: dict[str, type] = {
    "gateway": GatewaySettings, "consent": ConsentSettings, "log": LogSettings, "cookies": CookieSettings,
    "catalog": CatalogSettings, "admin": AdminSettings, "banner": BannerSettings, "categories": Category,
}
NOT_KEYS = {("catalog", "catalog")}  # the compiled catalog, a field but no key


def shown_in_default_toml() -> list[tuple[str, str, object]]:
    """(table, key, value) for every key default.toml sets, or shows commented out."""
    table = ""
    shown = []
    for line in default_config_path().read_text(encoding="utf-8").splitlines():
        header = re.match(r"^#?\s*\[\[?\s*([a-z]+)\s*\]\]?", line)
        if header:
            table = header.group(1)
            continue
        m = re.match(r"^#?\s*([a-z_]+)\s*=\s*(.*)$", line)
        if m and table:
            try:
                value = tomllib.loads(f"v = {m.group(2)}")["v"]
            except tomllib.TOMLDecodeError:
                continue  # prose
            shown.append((table, m.group(1), value))
    return shown


def as_toml(value: object) -> object:
    if isinstance(value, tuple):
        return [as_toml(v) for v in value]
    if isinstance(value, dict):
        return {k: as_toml(v) for k, v in value.items()}
    return value


def test_default_toml_shows_the_dataclass_defaults() -> None:
    shown = shown_in_default_toml()
    keys = {(t, k) for t, k, _ in shown}
    wrong = []
    for table, key, value in shown:
        if key in EXAMPLES.get(table, ()):
            continue
        defaults = field_defaults(TABLES[table])
        default = DEFAULT_PURPOSES if (table, key) == ("catalog", "purposes") else defaults.get(key, "<no default>")
        if as_toml(default) != value:
            wrong.append(f"[{table}] {key}: default.toml {value!r}, dataclass {default!r}")
    assert not wrong, wrong
    missing = [f"[{t}] {f.name}" for t, cls in TABLES.items() for f in dataclasses.fields(cls)
               if (t, f.name) not in keys and (t, f.name) not in NOT_KEYS]
    assert not missing, f"default.toml does not show: {missing}"
    assert all((t, k) in keys for t, names in EXAMPLES.items() for k in names)  # no stale exceptions


def test_an_omitted_key_takes_the_dataclass_default() -> None:
    config = parse_config(GOOD, env={})
    assert config.gateway.send_timeout == field_defaults(GatewaySettings)["send_timeout"]
    assert config.admin == AdminSettings()
    assert config.catalog.purposes == {p: c if c == "necessary" or c in config.category_ids else None
                                       for p, c in DEFAULT_PURPOSES.items()}
