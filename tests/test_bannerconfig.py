"""The [banner] table: validated with line numbers; texts, colours, placement and extra locales reach
the page (unit here; through a real gateway at the end)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from gateway.banner import Banner, locale_gaps
from gateway.bannerconfig import theme_css
from gateway.config import parse_config
from gateway.consent import ConsentCodec
from gateway.errors import ConfigError
from tests.conftest import RunningGateway, config_text

BASE = config_text("http://127.0.0.1:1", Path("/tmp/u.db"))


def with_banner(table: str) -> str:
    return BASE + "\n[banner]\n" + table + "\n"


def error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="t.toml", env={})
    return info.value


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("line,message,needle", [
    ('accent_color = "red"', "accent_color must be a colour", "accent_color"),
    ('background_color = "#12345"', "background_color must be a colour", "background_color"),
    ('text_color = "#fff; } body { display: none"', "text_color must be a colour", "text_color"),
    ('accent_color = "#fff</style>"', "accent_color must be a colour", "accent_color"),
    ('placement = "top"', 'placement must be "bottom" or "corner"', "placement"),
    ('intro = { "not a tag" = "x" }', "not a locale tag", "intro"),
    ('intro = { en = "" }', "intro.en must be text", "intro"),
    ('policy_url = { en = "javascript:alert(1)" }', "policy_url.en must be a path", "policy_url"),
    ('colour = "#fff"', "unknown key 'colour' in [banner]", "colour"),
    ('locales_dir = "/nonexistent/locales"', "is not a directory", "locales_dir"),
])
def test_bad_values_name_the_line(line: str, message: str, needle: str) -> None:
    text = with_banner(line)
    e = error(text)
    assert message in e.message
    assert e.line == line_of(text, needle)


def test_defaults_change_nothing() -> None:
    config = parse_config(BASE, env={})
    assert config.banner.placement == "bottom" and theme_css(config.banner) == b""


def test_colours_become_custom_properties_in_the_stylesheet() -> None:
    config = parse_config(with_banner('accent_color = "#FFCC00"\nbackground_color = "#123"\ntext_color = "#eeeeee"'))
    css = Banner(config).static["banner.css"].body.decode()
    theme = css[css.index("[banner] colours"):]
    assert "--cg-btn: #ffcc00" in theme and "--cg-link: #ffcc00" in theme
    assert "--cg-btn-fg: #000000" in theme  # dark text on a light accent
    assert "--cg-bg: #123" in theme and "--cg-fg: #eeeeee" in theme
    plain = Banner(parse_config(BASE)).static["banner.css"]
    assert plain.etag != Banner(config).static["banner.css"].etag  # a new colour, a new URL


def test_texts_and_policy_link_per_locale_and_placement() -> None:
    config = parse_config(with_banner(
        'placement = "corner"\n'
        'intro = { en = "Our own <b>words</b> & more.", zh-CN = "我们自己的说明。" }\n'
        'policy_link = { en = "How we use data" }\n'
        'policy_url = { en = "/en/privacy", zh-CN = "/zh/privacy" }'))
    banner = Banner(config)
    state = ConsentCodec(config).undecided(False)
    en = banner.body_html("en", state, "/", show=True)
    assert "Our own &lt;b&gt;words&lt;/b&gt; &amp; more." in en  # autoescaped
    assert '<a href="/en/privacy">How we use data</a>' in en
    assert 'class="cg-banner cg-corner"' in en
    zh = banner.body_html("zh-CN", state, "/", show=True)
    assert "我们自己的说明。" in zh and '<a href="/zh/privacy">查看隐私政策</a>' in zh  # shipped link text
    bottom = Banner(parse_config(BASE)).body_html("en", state, "/", show=True)
    assert 'class="cg-banner"' in bottom and "/privacy" in bottom


FRENCH = """
name = "Français"
lang = "fr"

[banner]
title = "Les cookies de ce site"
intro = "Nous utilisons des cookies pour vous garder connecté."
accept_all = "Tout accepter"
"""


def french_dir(tmp_path: Path) -> Path:
    d = tmp_path / "locales"
    d.mkdir()
    (d / "fr.toml").write_text(FRENCH, encoding="utf-8")
    return d


def test_locales_dir_adds_a_language_with_english_for_what_it_lacks(tmp_path: Path) -> None:
    d = french_dir(tmp_path)
    config = parse_config(with_banner(f'locales_dir = "{d}"'))
    banner = Banner(config)
    assert banner.choose_locale(b"fr-FR, en;q=0.5") == "fr"
    html = banner.body_html("fr", ConsentCodec(config).undecided(False), "/", show=True)
    assert 'lang="fr"' in html and "Les cookies de ce site" in html and "Tout accepter" in html
    assert "Reject all" in html  # missing: English
    gaps = locale_gaps(str(d))
    assert len(gaps) == 1 and "fr.toml lacks banner.policy_link" in gaps[0]


def test_locales_dir_files_are_checked_at_load(tmp_path: Path) -> None:
    d = french_dir(tmp_path)
    (d / "de.toml").write_text('[banner]\ntitle = "x\n', encoding="utf-8")
    text = with_banner(f'locales_dir = "{d}"')
    e = error(text)
    assert "de.toml" in e.message and "line 2" in e.message and e.line == line_of(text, "locales_dir")
    (d / "de.toml").unlink()
    (d / "not a tag.toml").write_text("", encoding="utf-8")
    assert "not named by a locale tag" in error(text).message


def test_check_config_warns_about_missing_keys(tmp_path: Path) -> None:
    d = french_dir(tmp_path)
    path = tmp_path / "c.toml"
    path.write_text(with_banner(f'locales_dir = "{d}"'), encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "gateway.cli", "check-config", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "fr.toml lacks" in r.stderr and "English is shown" in r.stderr


def test_through_a_gateway(make_gateway: Callable[..., RunningGateway], tmp_path: Path) -> None:
    d = french_dir(tmp_path)
    gw = make_gateway(extra=f'[banner]\nlocales_dir = "{d}"\naccent_color = "#7a1fa2"\n'
                            'intro = { en = "Plain words about cookies." }')
    with gw.client() as c:
        fr = c.get("/page", headers={"Accept-Language": "fr"}).text
        en = c.get("/page", headers={"Accept-Language": "en"}).text
    assert "Les cookies de ce site" in fr
    assert "Plain words about cookies." in en
    css_url = en.split('<link rel="stylesheet" href="')[1].split('"')[0]
    css = httpx.get(gw.url + css_url, timeout=10).text
    assert "--cg-btn: #7a1fa2" in css and "--cg-btn-fg: #ffffff" in css
