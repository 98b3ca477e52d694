"""The catalog: the shipped data, operators' extra files, and the compiled matchers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.catalog import SHIPPED, Catalog, CatalogError, Entry
from gateway.catalog.loader import read_file
from gateway.catalog.matcher import UrlMatcher
from gateway.errors import ConfigError


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


# --- the shipped data ------------------------------------------------------------------------


def test_shipped_data_parses_and_credits_its_source(catalog: Catalog) -> None:
    assert len(catalog) > 2000
    head = "".join(SHIPPED.read_text(encoding="utf-8").splitlines()[:4])
    assert "Open Cookie Database" in head and "0ee5a17" in head
    assert "Apache License" in (SHIPPED.parent / "LICENSE").read_text()
    notice = (Path(__file__).parents[2] / "NOTICE").read_text()
    assert "Open-Cookie-Database" in notice and "0ee5a17" in notice


@pytest.mark.parametrize(("name", "vendor", "purpose"), [
    ("Hm_lvt_0123456789abcdef0123456789abcdef", "Baidu Tongji", "analytics"),  # flag 0, yet a prefix
    ("Hm_lpvt_0123456789abcdef0123456789abcdef", "Baidu Tongji", "analytics"),
    ("_hjSessionUser_3456789", "Hotjar", "analytics"),
    ("_ga_ABC123", "Google Analytics", "analytics"),
    ("_ga", "Google Analytics", "analytics"),
    ("li_fat_id", "LinkedIn", "marketing"),  # the database says Functional
    ("UM_distinctid", "CNZZ / Umeng", "analytics"),
    ("CNZZDATA1281234", "CNZZ / Umeng", "analytics"),
    ("1234_gdp_session_id", "GrowingIO", "analytics"),
    ("__51vcke__JfvlrnUmvss1Q5Sf", "51.la", "analytics"),
    ("cto_bundle", "Criteo", "marketing"),  # absent from the database
    ("PHPSESSID", "PHP", "necessary"),  # the database says Functional
    ("sessionid", "Django", "necessary"),  # the database has Instagram's, marketing
    ("laravel_session", "Laravel", "necessary"),
    ("XSRF-TOKEN", "Laravel", "necessary"),
    (".AspNetCore.Antiforgery.Xyz123", "ASP.NET", "necessary"),
    ("wordpress_logged_in_abcdef", "WordPress", "necessary"),
    ("wp-settings-time-1", "WordPress", "functional"),
    ("_shop_session", "Ruby on Rails", "necessary"),
    ("cart_id", "Shop (generic)", "necessary"),
    ("lang", "Site language (generic)", "necessary"),
])
def test_cookie_names(catalog: Catalog, name: str, vendor: str, purpose: str) -> None:
    e = catalog.cookie(name)
    assert e is not None, name
    assert (e.vendor, e.purpose) == (vendor, purpose)


def test_wildcard_quirks(catalog: Catalog) -> None:
    # names ending in `*` (flag 0 in the database) are prefixes
    assert catalog.cookie("SSPR_12345") is not None and catalog.cookie("SSPR_12345").pattern == "SSPR_*"  # type: ignore[union-attr]
    # flagged two-letter names stay exact instead of swallowing every name they start
    assert catalog.cookie("SR") is not None and catalog.cookie("SRX_site_pref") is None
    # a name that appears twice keeps the stricter purpose and says who else uses it
    dup = catalog.cookie("token")
    assert dup is not None and dup.purpose == "marketing" and "Xandr" in dup.description
    # never the database's Description sentences: ours are built from facts
    assert catalog.cookie("_ga").description.startswith("Google Analytics: ")  # type: ignore[union-attr]
    # dunder names are exact, not prefixes
    assert catalog.cookie("__exponea_etc__") is not None and catalog.cookie("__exponea_etc__x") is None


def test_every_trackers_facts_vendor_is_there(catalog: Catalog) -> None:
    vendors = {e.vendor for e in catalog.entries}
    for v in ("Baidu Tongji", "CNZZ / Umeng", "Tencent Analytics (MTA)", "WeChat JS-SDK", "Ocean Engine (ByteDance)",
              "Alibaba aplus / Alimama", "Sina / Weibo", "360 / Qihoo", "Sogou", "JD Union", "GrowingIO",
              "Sensors Data", "Zhuge", "TalkingData", "51.la", "Gridsum", "iResearch", "Miaozhen", "AdMaster",
              "Google Analytics", "Google Tag Manager", "Google Ads / DoubleClick", "Meta Pixel", "Hotjar",
              "Microsoft Clarity", "LinkedIn Insight", "TikTok Pixel", "Bing UET", "Criteo", "YouTube", "Vimeo",
              "Google Maps", "Bilibili", "Youku", "Tencent Video", "Yandex Metrica"):
        assert v in vendors, v
    sogou = catalog.cookie("SUV")
    assert sogou is not None and sogou.confidence == "low"


@pytest.mark.parametrize(("url", "vendor", "kind"), [
    ("https://www.googletagmanager.com/gtag/js?id=G-1", "Google Tag Manager", "script"),
    ("https://www.google-analytics.com/analytics.js", "Google Analytics", "script"),
    ("https://googleads.g.doubleclick.net/pagead/viewthroughconversion/1/", "Google Ads / DoubleClick", "iframe"),
    ("https://connect.facebook.net/en_US/fbevents.js", "Meta Pixel", "script"),
    ("https://www.facebook.com/tr?id=1&ev=PageView&noscript=1", "Meta Pixel", "pixel"),
    ("https://static.hotjar.com/c/hotjar-123.js?sv=6", "Hotjar", "script"),
    ("https://www.clarity.ms/tag/abc", "Microsoft Clarity", "script"),
    ("https://snap.licdn.com/li.lms-analytics/insight.min.js", "LinkedIn Insight", "script"),
    ("https://px.ads.linkedin.com/collect/?pid=1", "LinkedIn Insight", "pixel"),
    ("https://analytics.tiktok.com/i18n/pixel/events.js", "TikTok Pixel", "script"),
    ("https://bat.bing.com/bat.js", "Bing UET", "script"),
    ("https://static.criteo.net/js/ld/publishertag.js", "Criteo", "script"),
    ("https://www.youtube.com/embed/dQw4w9WgXcQ", "YouTube", "iframe"),
    ("https://player.vimeo.com/video/1", "Vimeo", "iframe"),
    ("https://www.google.com/maps/embed?pb=1", "Google Maps", "iframe"),
    ("https://player.bilibili.com/player.html?bvid=1", "Bilibili", "iframe"),
    ("https://player.youku.com/embed/X", "Youku", "iframe"),
    ("https://v.qq.com/txp/iframe/player.html?vid=1", "Tencent Video", "iframe"),
    ("https://mc.yandex.ru/metrika/tag.js", "Yandex Metrica", "script"),
    ("https://s4.cnzz.com/z_stat.php?id=1&show=pic", "CNZZ / Umeng", "script"),
    ("HM.BAIDU.COM/hm.js?abc", "Baidu Tongji", "script"),
    ("//sdk.51.la/js-sdk-pro.min.js", "51.la", "script"),
    ("s.360.cn:8080", "360 / Qihoo", "script"),
])
def test_urls(catalog: Catalog, url: str, vendor: str, kind: str) -> None:
    e = catalog.url(url)
    assert e is not None, url
    assert (e.vendor, e.kind) == (vendor, kind)


@pytest.mark.parametrize("url", [
    "https://notgoogle-analytics.com/x", "https://google-analytics.com.evil/x", "https://www.facebook.com/track",
    "https://www.facebook.com/", "https://example.com/?u=google-analytics.com", "hotjar.community", "",
    "http://[::1", "not a url at all",
])
def test_urls_not_in_the_catalog(catalog: Catalog, url: str) -> None:
    assert catalog.url(url) is None


def test_loader_snippets_that_concatenate_the_url_are_caught(catalog: Catalog) -> None:
    hotjar = (b"<script>(function(h,o,t,j,a,r){h.hj=h.hj||function(){(h.hj.q=h.hj.q||[]).push(arguments)};"
              b"h._hjSettings={hjid:123,hjsv:6};a=o.getElementsByTagName('head')[0];r=o.createElement('script');"
              b"r.async=1;r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;a.appendChild(r);"
              b"})(window,document,'https://static.hotjar.com/c/hotjar-','.js?sv=');</script>")
    tiktok = (b"!function (w, d, t) {w.TiktokAnalyticsObject=t;var ttq=w[t]=w[t]||[];"
              b'ttq.load=function(e,n){var r="https://analytics.tiktok.com/i18n/pixel/events.js",o=n&&n.partner;'
              b'ttq._i=ttq._i||{};var a=document.createElement("script");a.src=r+"?sdkid="+e+"&lib="+t;};'
              b"ttq.load('C1');ttq.page();}(window, document, 'ttq');")
    cnzz = (b'document.write(unescape("%3Cspan id=\'cnzz_stat_icon_1234\'%3E%3C/span%3E%3Cscript src='
            b"'https://s4.cnzz.com/z_stat.php%3Fid%3D1234%26show%3Dpic' type='text/javascript'%3E%3C/script%3E\"));")
    escaped = b'{"src":"https:\\/\\/connect.facebook.net\\/en_US\\/fbevents.js"} "https%3A%2F%2Fwww.facebook.com%2Ftr"'
    assert set(catalog.matcher.findall(hotjar)) == {"hotjar.com"}
    assert set(catalog.matcher.findall(tiktok)) == {"analytics.tiktok.com"}
    assert set(catalog.matcher.findall(cnzz)) == {"cnzz.com"}
    assert set(catalog.matcher.findall(escaped)) == {"connect.facebook.net", "facebook.com/tr"}
    assert catalog.matcher.search(hotjar + cnzz).vendor == "Hotjar"  # type: ignore[union-attr]
    assert catalog.matcher.search(b"<p>nothing here, example.com</p>") is None


# --- extra files -------------------------------------------------------------------------------


def _line(**fields: object) -> str:
    base: dict[str, object] = {"kind": "cookie", "pattern": "shop_pref", "vendor": "Our shop", "purpose": "functional"}
    base.update(fields)
    return json.dumps(base)


def test_extra_file_adds_corrects_and_removes(tmp_path: Path) -> None:
    extra = tmp_path / "ours.jsonl"
    extra.write_text("\n".join([
        "# our corrections",
        _line(),
        _line(pattern="_ga", vendor="Google Analytics", purpose="marketing", description="we use it for ads"),
        _line(kind="script", pattern="Stats.Example.CN/t.js", vendor="Example stats", purpose="analytics",
              country="CN"),
        json.dumps({"kind": "script", "pattern": "hotjar.com", "remove": True}),
        "",
    ]), encoding="utf-8")
    c = Catalog.load(extra=[extra])
    assert c.cookie("shop_pref").vendor == "Our shop"  # type: ignore[union-attr]
    assert c.cookie("_ga").purpose == "marketing"  # type: ignore[union-attr]
    assert c.url("https://stats.example.cn/t.js?x=1").country == "CN"  # type: ignore[union-attr]
    assert c.url("https://static.hotjar.com/c/hotjar-1.js") is None
    assert c.url("https://script.hotjar.io/x") is not None  # only the one entry removed
    only = Catalog.load(enabled=False, extra=[extra])
    assert only.cookie("shop_pref") is not None and only.cookie("_gid") is None


@pytest.mark.parametrize(("content", "line", "message"), [
    (b"{\"kind\": \"cookie\"", 1, "not valid JSON"),
    (b"\n\n[1, 2]", 3, "JSON object"),
    (b"# c\n" + _line(purpose="tracking").encode(), 2, "purpose must be one of"),
    (_line(kind="tracker").encode(), 1, "kind must be one of"),
    (_line(vendor="").encode(), 1, "vendor is missing"),
    (_line(colour="red").encode(), 1, "unknown field(s) colour"),
    (b'{"kind": "cookie", "kind": "script"}', 1, "given twice"),
    (_line(pattern="*").encode(), 1, "nearly every cookie"),
    (_line(pattern="a*b*c*d").encode(), 1, "at most two"),
    (_line(pattern="bad name").encode(), 1, "cannot have"),
    (_line(kind="script", pattern="https://x.example.com/a").encode(), 1, "without the scheme"),
    (_line(kind="script", pattern="localhost").encode(), 1, "host name"),
    (_line(kind="script", pattern="x.example.com/a b").encode(), 1, "path"),
    (_line(vendor="Evil\u001b[31m").encode(), 1, "control character"),
    (_line(vendor="x" * 600).encode(), 1, "longer than"),
    (_line(country="China").encode(), 1, "two-letter"),
    (_line(remove="yes").encode(), 1, "true or false"),
    (_line(purpose=["marketing"]).encode(), 1, "must be a string"),
    (b"\xff\xfe{}", 1, "not UTF-8"),
    (b"# ok\n" + b'{"vendor": "' + b"x" * 9000 + b'"}', 2, "line longer than"),
    (b"[" * 3000, 1, "JSON object"),
    (b"{\"kind\": " + b"[" * 3000 + b"}", 1, "nested too deeply"),
])
def test_malformed_and_hostile_extra_files(tmp_path: Path, content: bytes, line: int, message: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    with pytest.raises(CatalogError) as err:
        Catalog.load(extra=[bad])
    assert err.value.line == line and err.value.path == str(bad)
    assert f"{bad}:{line}: " in str(err.value) and message in str(err.value)
    assert isinstance(err.value, ConfigError)  # the config loader reports it like its own errors


def test_missing_and_oversized_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CatalogError, match="cannot read the catalog file"):
        Catalog.load(extra=[tmp_path / "absent.jsonl"])
    with pytest.raises(CatalogError, match="cannot read"):
        Catalog.load(extra=[tmp_path])  # a directory
    monkeypatch.setattr("gateway.catalog.loader.MAX_FILE_BYTES", 100)
    big = tmp_path / "big.jsonl"
    big.write_text("#" * 200)
    with pytest.raises(CatalogError, match="larger than"):
        read_file(big)


# --- the matcher, against a naive reference ----------------------------------------------------

_LEFT = r"(?:(?<![a-z0-9_\-])|(?<=%2f)|(?<=\\u002f)|(?<=\\x2f))"
_RIGHT = r"(?![a-z0-9_\-]|\.[a-z0-9_\-])"


def naive(patterns: list[str], text: str) -> set[str]:
    """One regular expression per pattern and per spelling of '/': the slow obvious way."""
    low = text.lower()
    found = set()
    for p in patterns:
        for spelling in {p, p.replace("/", "\\/"), p.replace("/", "%2f")}:
            rx = _LEFT + re.escape(spelling) + (_RIGHT if p[-1].isalnum() else "")
            if re.search(rx, low):
                found.add(p)
    return found


label = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=6).filter(
    lambda s: not s.startswith("-") and not s.endswith("-"))
host = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(label, min_size=1, max_size=3),
                 st.sampled_from(["com", "cn", "net", "la"]))
pattern = st.builds(lambda h, path: h + path, host, st.sampled_from(["", "", "/tr", "/c/hotjar-", "/js/x.js"]))


def _matcher(patterns: list[str]) -> UrlMatcher[str]:
    return UrlMatcher({p: p for p in patterns})


@settings(max_examples=150, deadline=None)
@given(st.lists(pattern, min_size=1, max_size=12, unique=True), st.data())
def test_multi_pattern_search_equals_naive_search(patterns: list[str], data: st.DataObject) -> None:
    pieces = st.one_of(st.sampled_from(patterns), st.sampled_from(["/", ".", "-", "x", "%2F", "\\/", "'", "A", ":"]),
                       st.text("abc.-/%2F\\ '\"", max_size=4))
    buffer = "".join(data.draw(st.lists(pieces, max_size=30)))
    buffer = "".join(c.upper() if data.draw(st.booleans()) else c for c in buffer) if len(buffer) < 40 else buffer
    assert set(_matcher(patterns).findall(buffer)) == naive(patterns, buffer)
    assert set(_matcher(patterns).findall(buffer.encode())) == naive(patterns, buffer)


@settings(max_examples=150, deadline=None)
@given(host, st.sampled_from(["https://", "http://", "//", "'", '"', " ", "", "https:\\/\\/", "https%3A%2F%2F"]),
       st.sampled_from(["", "www.", "static.", "s4."]), st.sampled_from(["", ":443", ":8080"]),
       st.sampled_from(["", "/", "/path/x.js", "/x?a=1&b=2", "?q", "#f", "'", "\\/x"]), st.booleans())
def test_a_url_containing_a_catalog_host_is_found(h: str, scheme: str, sub: str, port: str, rest: str,
                                                   upper: bool) -> None:
    url = scheme + sub + h + port + rest
    if upper:
        url = url.upper()
    m = _matcher([h])
    assert h in m.findall(url) and m.search(url) == h
    assert h in m.findall(b"<script src=\"" + url.encode() + b"\"></script>")


@settings(max_examples=150, deadline=None)
@given(host, st.sampled_from(["not", "x-", "a_", "9"]), st.sampled_from(["", ".evil", "x", "-cdn", ".evil.com/"]))
def test_substrings_are_not_the_host(h: str, before: str, after: str) -> None:
    m = _matcher([h])
    assert m.findall("https://" + before + h + "/x") == {}
    if after:
        assert m.findall("https://" + h + after) == {}


def test_host_boundary_examples() -> None:
    m = _matcher(["google-analytics.com", "facebook.com/tr", "static.hotjar.com/c/hotjar-"])
    assert set(m.findall("https://www.google-analytics.com/g/collect")) == {"google-analytics.com"}
    assert m.findall("notgoogle-analytics.com.evil") == {}
    assert m.findall("google-analytics.com.evil") == {}
    assert set(m.findall("google-analytics.com.")) == {"google-analytics.com"}  # end of a sentence
    assert m.findall("facebook.com/track") == {} and set(m.findall("facebook.com/tr/")) == {"facebook.com/tr"}
    assert set(m.findall("'https://static.hotjar.com/c/hotjar-'+id")) == {"static.hotjar.com/c/hotjar-"}


def test_cookie_globs_prefer_the_most_specific() -> None:
    c = Catalog.from_entries([
        Entry(kind="cookie", pattern="_ga*", vendor="broad", purpose="analytics"),
        Entry(kind="cookie", pattern="_ga_*", vendor="specific", purpose="analytics"),
        Entry(kind="cookie", pattern="*_gdp_cs1", vendor="suffix", purpose="analytics"),
        Entry(kind="cookie", pattern="_*_session", vendor="rails", purpose="necessary"),
        Entry(kind="cookie", pattern="_ga", vendor="exact", purpose="analytics"),
    ])
    assert c.cookie("_ga").vendor == "exact"  # type: ignore[union-attr]
    assert c.cookie("_ga_X").vendor == "specific"  # type: ignore[union-attr]
    assert c.cookie("_gab").vendor == "broad"  # type: ignore[union-attr]
    assert c.cookie("12_gdp_cs1").vendor == "suffix"  # type: ignore[union-attr]
    assert c.cookie("_app_session").vendor == "rails"  # type: ignore[union-attr]
    assert c.cookie("x" * 300) is None and c.cookie("") is None
