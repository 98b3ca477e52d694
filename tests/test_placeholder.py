"""Click-to-load placeholders: rendered server-side where the rewriter neutralises an iframe."""

from __future__ import annotations

import functools
import html
from pathlib import Path

from gateway.banner import Banner
from gateway.config import parse_config
from gateway.placeholder import box_style
from gateway.rewrite import HtmlRewriter, RewritePlan
from tests.conftest import config_text

CONFIG = parse_config(config_text("http://127.0.0.1:1", Path("/tmp/u.db")))
BANNER = Banner(CONFIG)
BLOCKED = (("youtube.com", "personalization"), ("maps.example.cn", "personalization"))
VIDEO = (b'<iframe width="560" height="315" src="https://www.youtube.com/embed/abc?x=1&amp;y=2" frameborder="0">'
         b"</iframe>")


def rewrite(html: bytes, locale: str = "en", path: str = "/shop", placeholders: bool = True) -> str:
    ph = functools.partial(BANNER.placeholders.render, locale, path) if placeholders else None
    r = HtmlRewriter(RewritePlan(BLOCKED, b"", lambda cs: b"", None, placeholder=ph))
    return (r.feed(html) + r.finish()).decode("utf-8")


def test_a_neutralised_iframe_gets_a_placeholder_in_its_place() -> None:
    out = rewrite(b"<p>a</p>" + VIDEO + b"<p>b</p>")
    before, _, after = out.partition("<iframe")
    assert "data-consent-placeholder" in before and "data-consent-placeholder" not in after
    assert "width:560px" in before and "height:315px" in before and "border-width:0" in before
    assert "YouTube" in before and "<button type=\"button\"" in before
    assert 'href="/_consent/receipt?next=/shop"' in before and 'data-consent-action="open"' in before
    assert "United States" in before
    frame = "<iframe" + after.split(">", 1)[0]
    assert " hidden" in frame and "data-consent-embed" in frame
    assert ' src=' not in frame and 'data-src="https://www.youtube.com/embed/abc?x=1&amp;y=2"' in frame
    assert out.endswith('data-consent-category="personalization" hidden data-consent-embed></iframe><p>b</p>')


def test_in_the_visitors_language() -> None:
    out = rewrite(VIDEO, locale="zh-CN")
    assert out.isascii()  # character references: right in whatever charset the page declares
    assert 'lang="zh-CN"' in out and "美国" in html.unescape(out) and "个性化" in html.unescape(out)


def test_no_placeholder_without_one_in_the_plan() -> None:
    out = rewrite(VIDEO, placeholders=False)
    assert "data-consent-placeholder" not in out and " hidden" not in out


def test_an_iframe_left_alone_gets_none() -> None:
    out = rewrite(b'<iframe src="https://player.example.org/v/1" width="10" height="10"></iframe>')
    assert "data-consent-placeholder" not in out and " hidden" not in out


def test_a_vendor_the_catalog_lacks_is_named_by_its_host() -> None:
    out = rewrite(b'<iframe src="//maps.example.cn/embed?q=1"></iframe>')
    assert "maps.example.cn" in out.split("<iframe")[0]
    assert "width:300px" in out and "height:150px" in out  # the browser's default iframe size


def test_the_path_is_escaped() -> None:
    out = rewrite(VIDEO, path='/a"b<c')
    assert 'next=/a%22b%3Cc"' in out and '/a"b<c' not in out


def test_box_from_attributes_and_style_nothing_else() -> None:
    assert box_style({b"width": b"640", b"height": b"360"}) == "width:640px;height:360px;border-width:2px"
    assert box_style({b"width": b"100%", b"height": b"400", b"frameborder": b"0"}) == \
        "width:100%;height:400px;border-width:0"
    # the style attribute wins over the attributes, as in CSS; only sizes pass, never other CSS
    got = box_style({b"width": b"640", b"style": b"width: 50%; aspect-ratio: 16 / 9; height:auto; border: 0;"
                     b" background:url(//evil.example/x); max-width:40rem"})
    assert got == "width:50%;height:auto;aspect-ratio:16/9;max-width:40rem;border-width:0"
    assert box_style({b"width": b"1px;background:red", b"height": b"expression(alert(1))"}) == \
        "width:300px;height:150px;border-width:2px"
    assert box_style({b"style": b"display:block;width:calc(100% - 2px)"}) == \
        "width:300px;height:150px;display:block;border-width:2px"
