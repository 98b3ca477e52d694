"""A config file (or text) → a validated, frozen Config: parse the TOML, then each table."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from gateway.bannerconfig import build_banner
from gateway.config.model import Config
from gateway.config.network import build_gateway
from gateway.config.reader import TomlReader, line_from_toml_error, strip_position
from gateway.config.sections import (
    build_admin,
    build_catalog,
    build_categories,
    build_consent,
    build_cookies,
    build_log,
)
from gateway.errors import ConfigError


def default_config_path() -> Path:
    return Path(__file__).parent.parent / "default.toml"


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
        line = line_from_toml_error(str(e))
        raise ConfigError(f"invalid TOML: {strip_position(str(e))}", path=source, line=line) from None
    return build(TomlReader(raw, text, source, env or {}))


def build(b: TomlReader) -> Config:
    for key in b.raw:
        if key not in b.KNOWN:
            raise ConfigError(f"unknown table [{key}]", path=b.source, line=b.line_of(key))
    gateway = build_gateway(b)
    categories = build_categories(b)
    consent = build_consent(b, categories)
    cookies = build_cookies(b, categories)
    log = build_log(b, consent)
    admin = build_admin(b)
    catalog = build_catalog(b, categories)
    return Config(gateway, consent, log, cookies, categories, admin, b.source, catalog, banner=build_banner(b))
