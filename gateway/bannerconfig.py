"""The `[banner]` table: the banner's texts, colours and placement from the operator's config, and
extra languages from a `locales_dir`, so none of it needs an edit inside the installed package.

Colours are checked to be `#rgb` or `#rrggbb` and only ever reach the page inside the banner's own
stylesheet (served with a content hash), never in markup, so the site's CSP needs nothing new.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.config import _Builder

COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
LOCALE_TAG = re.compile(r"^[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*$")
PLACEMENTS = ("bottom", "corner")
MAX_TEXT = 2000  # characters of one text: a banner, not a policy
MAX_LOCALE_FILE = 256 * 1024
KEYS = {"placement", "accent_color", "background_color", "text_color", "intro", "policy_link", "policy_url",
        "locales_dir"}


@dataclass(frozen=True)
class BannerSettings:
    placement: str = "bottom"
    accent_color: str = ""  # "" keeps the stylesheet's own (with its dark-mode variant)
    background_color: str = ""
    text_color: str = ""
    intro: dict[str, str] = field(default_factory=dict)  # locale -> text
    policy_link: dict[str, str] = field(default_factory=dict)  # locale -> the link's text
    policy_url: dict[str, str] = field(default_factory=dict)  # locale -> path or http(s) URL
    locales_dir: str = ""


def build_banner(b: _Builder) -> BannerSettings:
    t = b.table("banner")
    placement = b.typed("banner", t, "placement", str, "bottom")
    if placement not in PLACEMENTS:
        raise b.fail('placement must be "bottom" or "corner"', "banner", "placement")
    colours = {}
    for key in ("accent_color", "background_color", "text_color"):
        value = b.typed("banner", t, key, str, "")
        if value and not COLOUR.match(value):
            raise b.fail(f"{key} must be a colour like #0b57d0 or #fff, got {value!r}", "banner", key)
        colours[key] = value.lower()
    texts = {key: _per_locale(b, t, key) for key in ("intro", "policy_link", "policy_url")}
    for locale, url in texts["policy_url"].items():
        if not (url.startswith("/") or url.startswith(("https://", "http://"))) or any(ch in url for ch in "\r\n\"<>"):
            raise b.fail(f"policy_url.{locale} must be a path or an http(s) URL", "banner", "policy_url")
    locales_dir = b.typed("banner", t, "locales_dir", str, "")
    if locales_dir:
        _check_locales_dir(b, locales_dir)
    return BannerSettings(placement=placement, intro=texts["intro"], policy_link=texts["policy_link"],
                          policy_url=texts["policy_url"], locales_dir=locales_dir, **colours)


def _per_locale(b: _Builder, t: dict[str, Any], key: str) -> dict[str, str]:
    raw = b.typed("banner", t, key, dict, {})
    for locale, text in raw.items():
        if not LOCALE_TAG.match(locale):
            raise b.fail(f"{key}: {locale!r} is not a locale tag (like en, zh-CN)", "banner", key)
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            raise b.fail(f"{key}.{locale} must be text of 1-{MAX_TEXT} characters", "banner", key)
    return dict(raw)


def _check_locales_dir(b: _Builder, directory: str) -> None:
    """Every file must parse now, at load (or reload), not in front of the first visitor."""
    path = Path(directory)
    if not path.is_dir():
        raise b.fail(f"locales_dir {directory!r} is not a directory", "banner", "locales_dir")
    for file in sorted(path.glob("*.toml")):
        if not LOCALE_TAG.match(file.stem):
            raise b.fail(f"locales_dir: {file.name} is not named by a locale tag (like fr.toml)", "banner",
                         "locales_dir")
        try:
            read_locale_file(file)
        except (OSError, ValueError) as e:  # tomllib.TOMLDecodeError is a ValueError, with the line
            raise b.fail(f"locales_dir: {file}: {e}", "banner", "locales_dir") from None


def read_locale_file(file: Path) -> dict[str, Any]:
    if file.stat().st_size > MAX_LOCALE_FILE:
        raise ValueError(f"larger than {MAX_LOCALE_FILE} bytes")
    with file.open("rb") as f:
        return tomllib.load(f)


def merged_with(english: dict[str, Any], own: dict[str, Any], where: str = "") -> tuple[dict[str, Any], list[str]]:
    """An extra locale over English: what it lacks is English (and named, for check-config)."""
    out: dict[str, Any] = {}
    missing: list[str] = []
    for key, en_value in english.items():
        name = f"{where}.{key}" if where else key
        value = own.get(key)
        if isinstance(en_value, dict):
            sub, gaps = merged_with(en_value, value if isinstance(value, dict) else {}, name)
            out[key] = sub
            missing += gaps
        elif isinstance(value, type(en_value)) and value:
            out[key] = value
        else:
            out[key] = en_value
            if key not in ("name", "lang"):
                missing.append(name)
    for key, value in own.items():  # a locale may add what English lacks (a country, a category)
        out.setdefault(key, value)
    return out, missing


def theme_css(s: BannerSettings) -> bytes:
    """The operator's colours as the banner's custom properties, after its own rules (so they win)."""
    props = []
    if s.accent_color:
        props += [f"--cg-btn: {s.accent_color}", f"--cg-link: {s.accent_color}",
                  f"--cg-btn-fg: {_readable_on(s.accent_color)}"]
    if s.background_color:
        props.append(f"--cg-bg: {s.background_color}")
    if s.text_color:
        props += [f"--cg-fg: {s.text_color}", f"--cg-muted: {s.text_color}"]
    if not props:
        return b""
    return ("\n/* [banner] colours from the config */\n.cg-banner, .cg-reopen { " + "; ".join(props) + "; }\n").encode()


def _readable_on(colour: str) -> str:
    """Black or white text, whichever reads better on that button colour (WCAG relative luminance)."""
    h = colour[1:]
    if len(h) == 3:
        h = "".join(c * 2 for c in h)

    def lin(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else float(((v + 0.055) / 1.055) ** 2.4)

    r, g, b = (lin(int(h[i:i + 2], 16)) for i in (0, 2, 4))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"
