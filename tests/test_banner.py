from __future__ import annotations

import gzip
from pathlib import Path

from gateway.banner import Banner, asset_dir, load_locales
from gateway.config import parse_config
from gateway.consent import ConsentCodec
from tests.conftest import config_text

CONFIG = parse_config(config_text("http://127.0.0.1:1", Path("/tmp/u.db"), consent='default_locale = "zh-CN"'))
BANNER = Banner(CONFIG)
CODEC = ConsentCodec(CONFIG)


def test_assets_fit_the_budget() -> None:
    # What every page carries (localtime.js is the receipt page's alone). The budget was 10 KiB
    # before document.write-safe activation, click-to-load, the retry notice and the modal settings
    # layer; 12 KiB keeps it under a third of the smallest CMP script we compare with.
    root = asset_dir("static") / "consent-banner"
    js_css = b"".join(p.read_bytes() for p in sorted(root.iterdir())
                      if p.suffix in (".js", ".css") and p.name != "localtime.js")
    size = len(gzip.compress(js_css, 9))
    assert size <= 12 * 1024, f"banner JS + CSS are {size} bytes gzipped"


def test_locale_negotiation() -> None:
    assert BANNER.choose_locale(None) == "zh-CN"
    assert BANNER.choose_locale(b"en-US,en;q=0.9") == "en"
    assert BANNER.choose_locale(b"zh-TW;q=0.8, fr") == "zh-CN"  # same language, other region
    assert BANNER.choose_locale(b"fr, en;q=0.5") == "en"
    assert BANNER.choose_locale(b"en;q=0, zh") == "zh-CN"
    assert BANNER.choose_locale(b"*") == "zh-CN"
    assert BANNER.choose_locale(b";;;,,q=abc,\xff\xfe" * 100) == "zh-CN"


def test_every_locale_has_every_string() -> None:
    locales = load_locales()
    en = locales["en"]
    for name, texts in locales.items():
        for section in ("banner", "receipt", "actions", "errors"):
            assert set(texts[section]) == set(en[section]), (name, section)
        for cat in ("identity", "personalization"):
            assert texts["categories"][cat]["title"] and texts["categories"][cat]["description"]


def test_body_is_escaped_and_path_filled() -> None:
    state = CODEC.undecided(False)
    html = BANNER.body_html("en", state, '/a"><script>x</script>', show=True)
    assert '<script>x</script>' not in html and "&lt;script&gt;" in html
    assert 'id="consent-banner"' in html and 'data-consent-action="open"' in html
    assert BANNER.body_html("en", state, "/b", show=True).count('value="/b"') == 1  # cache keeps no path


def test_reopen_link_carries_the_page_path() -> None:
    """Without JavaScript the settings control is a link to the receipt, which links back."""
    state = CODEC.decide(frozenset(), previous=CODEC.undecided(False), gpc=False)
    for show in (True, False):
        html = BANNER.body_html("en", state, "/shop/a b&c", show=show)
        assert 'href="/_consent/receipt?next=/shop/a%20b%26c"' in html
        assert "\x00" not in html and "%00" not in html


def test_decided_visitor_gets_only_the_settings_control() -> None:
    state = CODEC.decide(frozenset(), previous=CODEC.undecided(False), gpc=False)
    html = BANNER.body_html("en", state, "/", show=False)
    assert 'id="consent-banner"' not in html and 'data-consent-action="open"' in html


def test_head_config_cannot_break_out_of_its_script() -> None:
    # the page config carries category ids only; ids are validated, so test the escaping itself
    cats = '[[categories]]\nid = "identity"\nscripts = ["</script><b>"]\n'
    banner = Banner(parse_config(config_text("http://127.0.0.1:1", Path("/tmp/u.db"), categories=cats)))
    banner.page_config = lambda state: {"x": "</script><b>&"}  # type: ignore[method-assign]
    head = banner.head_html(CODEC.undecided(False)).decode()
    assert head.count("</script>") == 2 and "\\u003c/script\\u003e" in head and "\\u0026" in head
    # the patterns themselves live in the guard asset, a script file of its own
    assert b"</script><b>" in banner.static["guard.js"].body and "</script><b>" not in head


def test_config_titles_override_builtin() -> None:
    cats = ('[[categories]]\nid = "identity"\ntitle = { en = "Log-in", "zh-CN" = "登录" }\n'
            'description = { en = "Keeps you signed in." }\n')
    banner = Banner(parse_config(config_text("http://127.0.0.1:1", Path("/tmp/u.db"), categories=cats)))
    assert banner.category_text("en", "identity", "title") == "Log-in"
    assert banner.category_text("zh-CN", "identity", "description")  # falls back to the built-in text


def test_page_nonce_goes_on_every_injected_script_and_stylesheet() -> None:
    from gateway.csp import Nonces

    state = CODEC.undecided(False)
    head = BANNER.head_html(state, Nonces(script="abc", style="def")).decode()
    assert head.count("<script ") == head.count('<script nonce="abc" ') == 2
    assert head.count('<link nonce="def" rel="stylesheet"') == 1
    body = BANNER.body_html("en", state, "/", show=True, nonces=Nonces(script="abc"))
    assert body.count("<script ") == body.count('<script nonce="abc" ') == 2  # activate.js, banner.js
    assert "nonce" not in BANNER.head_html(state).decode()  # the cache holds no nonce


CUSTOM = ('[[categories]]\nid = "identity"\n\n[[categories]]\nid = "analytics"\ncookies = ["_hjSessionUser_*"]\n\n'
          '[[categories]]\nid = "newsletter"\n')


def test_a_raw_category_id_is_never_shown_to_visitors() -> None:
    banner = Banner(parse_config(config_text("http://127.0.0.1:1", Path("/tmp/u.db"), categories=CUSTOM)))
    state = CODEC.undecided(False)
    for locale in ("en", "zh-CN"):
        html = banner.body_html(locale, state, "/", show=True)
        labels = [line for line in html.splitlines() if line.startswith("<label")]
        assert len(labels) == 4  # the three categories, after the "necessary, always on" row
        assert not any(">newsletter<" in x or ">analytics<" in x or ">identity<" in x for x in labels), labels
    # common ids take the catalog purposes' texts; an unknown one a generic, localised title
    assert banner.category_text("en", "analytics", "title") == "Statistics"
    assert banner.category_text("zh-CN", "analytics", "title") == "统计分析"
    assert banner.category_text("en", "newsletter", "title") == "Other cookies"
    assert banner.category_text("zh-CN", "newsletter", "title") == "其他 Cookie"


def test_second_layer_names_the_vendors_and_links_the_declaration() -> None:
    banner = Banner(parse_config(config_text("http://127.0.0.1:1", Path("/tmp/u.db"), categories=CUSTOM)))
    html = banner.body_html("en", CODEC.undecided(False), "/", show=True)
    assert 'class="cg-vendors">Provided by: Hotjar</p>' in html  # from the operator's rule
    assert 'href="/_consent/cookies"' in html
    # vendors seen in traffic join the list, and the cached banner follows
    banner.declaration.update([("_clck", "analytics", "request", 3, "2026-01-01"),
                               ("_hjSessionUser_9", "analytics", "request", 1, "2026-01-01")])
    banner._body_cache.clear()
    html = banner.body_html("zh-CN", CODEC.undecided(False), "/", show=True)
    assert 'class="cg-vendors">提供方： Hotjar、Microsoft</p>' in html


def _banner(consent: str) -> Banner:
    return Banner(parse_config(config_text("http://127.0.0.1:1", Path("/tmp/u.db"), consent=consent)))


def test_fallback_is_english_unless_the_operator_says_otherwise() -> None:
    plain = _banner("# no locale keys: the fallback is en")
    assert plain.choose_locale(b"fr") == "en"  # not the first file, not zh-CN
    assert plain.choose_locale(None) == "en"
    assert plain.choose_locale(b"*") == "en"
    assert plain.choose_locale(b"zh") == "zh-CN"  # language-only match
    assert plain.choose_locale(b"en-GB") == "en"
    assert plain.choose_locale(b"fr;q=1, zh-Hans;q=0.4, en;q=0.3") == "zh-CN"  # q-values order the tags
    assert plain.choose_locale(b"de, fr;q=0.9") == "en"
    chosen = _banner('fallback_locale = "zh-CN"')
    assert chosen.choose_locale(b"fr") == "zh-CN"
    assert chosen.choose_locale(b"fr, en;q=0.1") == "en"
    alias = _banner('default_locale = "zh-CN"')  # the old name still works
    assert alias.choose_locale(b"fr") == "zh-CN"


def test_seed_site_sets_chinese_explicitly() -> None:
    text = (Path(__file__).parents[1] / "gateway" / "demo" / "demo.toml").read_text()
    assert 'fallback_locale = "zh-CN"' in text


def test_necessary_row_unless_a_category_is_required() -> None:
    state = CODEC.undecided(False)
    html = BANNER.body_html("en", state, "/", show=True)
    assert html.count('class="cg-category cg-necessary"') == 1 and "(Always on)" in html
    row = html[html.index("cg-necessary"):html.index("</li>", html.index("cg-necessary"))]
    assert "checked disabled" in row and "name=" not in row  # shown, never posted
    required = CUSTOM.replace('id = "identity"\n', 'id = "identity"\nrequired = true\n')
    banner = Banner(parse_config(config_text("http://127.0.0.1:1", Path("/tmp/u.db"), categories=required)))
    html = banner.body_html("en", state, "/", show=True)
    assert html.count("cg-necessary") == 1 and 'id="cg-cat-necessary-row"' not in html  # that category is the row
