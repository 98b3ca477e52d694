"""The /_consent endpoints through a real uvicorn gateway."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.endpoints import MAX_FIELDS, parse_form, safe_next
from gateway.errors import BadRequest
from tests.conftest import RunningGateway
from tests.support.servers import raw_request


def post(gw: RunningGateway, c: httpx.Client, data: object = None, *, origin: str | None = "same",
         json_accept: bool = False, **kw: object) -> httpx.Response:
    headers: dict[str, str] = {}
    if origin == "same":
        headers["Origin"] = gw.origin
    elif origin is not None:
        headers["Origin"] = origin
    if json_accept:
        headers["Accept"] = "application/json"
    headers.update(kw.pop("headers", {}))  # type: ignore[arg-type]
    return c.post("/_consent", data=data, headers=headers, **kw)  # type: ignore[arg-type]


def test_get_state_contract(gateway: RunningGateway) -> None:
    with gateway.client() as c:
        r = c.get("/_consent", headers={"Sec-GPC": "1"})
    assert r.json() == {"decided": False, "categories": {"identity": False, "personalization": False},
                        "policy_version": "2024-10", "consent_id": None, "gpc": True}
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("action,expected", [
    ("accept_all", {"identity": True, "personalization": True}),
    ("reject_all", {"identity": False, "personalization": False}),
    ("withdraw", {"identity": False, "personalization": False}),
])
def test_actions(gateway: RunningGateway, action: str, expected: dict[str, bool]) -> None:
    with gateway.client() as c:
        r = post(gateway, c, {"action": action, "next": "/"}, json_accept=True)
        assert r.status_code == 200
        assert r.json()["decided"] is True and r.json()["categories"] == expected
        assert c.get("/_consent").json()["categories"] == expected


def test_save_with_form_and_json(gateway: RunningGateway) -> None:
    with gateway.client() as c:
        r = post(gateway, c, {"action": "save", "categories": ["identity"], "next": "/a?b=c"})
        assert r.status_code == 303 and r.headers["location"] == "/a?b=c"
        assert c.get("/_consent").json()["categories"] == {"identity": True, "personalization": False}
        r = c.post("/_consent", content=json.dumps({"action": "save", "categories": ["personalization"]}),
                   headers={"Origin": gateway.origin, "Content-Type": "application/json",
                            "Accept": "application/json"})
        assert r.json()["categories"] == {"identity": False, "personalization": True}


@pytest.mark.parametrize("origin,referer", [
    (None, None), ("https://evil.example", None), ("null", None), (None, "https://evil.example/x"),
    ("http://127.0.0.1", None),  # same host, other port: another origin
])
def test_cross_origin_post_is_refused_and_changes_nothing(gateway: RunningGateway, origin: str | None,
                                                          referer: str | None) -> None:
    with gateway.client() as c:
        headers = {"Referer": referer} if referer else {}
        r = post(gateway, c, {"action": "accept_all"}, origin=origin, headers=headers)
        assert r.status_code == 403
        assert "set-cookie" not in r.headers
        assert c.get("/_consent").json()["decided"] is False


def test_a_remembered_origin_decides_as_a_fresh_one(gateway: RunningGateway) -> None:
    """Normalised Origin values are cached: the second sight of a header must decide the same."""
    with gateway.client() as c:
        for _ in range(2):
            assert post(gateway, c, {"action": "accept_all"}, origin="https://evil.example").status_code == 403
            assert post(gateway, c, {"action": "accept_all"}, origin=gateway.origin.upper()).status_code == 303
            assert post(gateway, c, {"action": "accept_all"}, origin="null").status_code == 403


def test_the_origin_memo_is_bounded(gateway: RunningGateway) -> None:
    """Origin values are the visitor's to invent: the memo keeps at most ORIGINS_CACHED of them."""
    from gateway.origincheck import ORIGINS_CACHED

    memo = gateway.app.endpoints.same_origin._origins
    memo.clear()
    with gateway.client() as c:
        for i in range(ORIGINS_CACHED + 3):
            assert post(gateway, c, {"action": "accept_all"}, origin=f"https://x{i}.example").status_code == 403
    assert len(memo) == ORIGINS_CACHED
    assert b"https://x0.example" in memo and f"https://x{ORIGINS_CACHED}.example".encode() not in memo


def test_referer_of_own_origin_is_accepted(gateway: RunningGateway) -> None:
    with gateway.client() as c:
        r = post(gateway, c, {"action": "reject_all"}, origin=None, headers={"Referer": gateway.url + "/page"})
        assert r.status_code == 303


@pytest.mark.parametrize("next_", ["//evil.example", "https://evil.example", "/\\evil.example",
                                   "javascript:alert(1)", "/ok\r\nSet-Cookie: x=1", "evil", "/a\tb"])
def test_open_redirects_and_crlf_are_refused(gateway: RunningGateway, next_: str) -> None:
    with gateway.client() as c:
        r = post(gateway, c, {"action": "accept_all", "next": next_})
        assert r.status_code == 400
        assert "location" not in r.headers and "set-cookie" not in r.headers
        assert c.get("/_consent").json()["decided"] is False


def test_unicode_next_is_percent_encoded(gateway: RunningGateway) -> None:
    with gateway.client() as c:
        r = post(gateway, c, {"action": "accept_all", "next": "/产品?q=中"})
        assert r.status_code == 303 and r.headers["location"] == "/%E4%BA%A7%E5%93%81?q=%E4%B8%AD"


@pytest.mark.parametrize("data,status,message", [
    ({"action": "nope"}, 400, "action must be one of"),
    ({}, 400, "action must be one of"),
    ({"action": "save", "categories": ["identity", "ads<script>"]}, 400, "unknown category"),
])
def test_bad_forms(gateway: RunningGateway, data: dict[str, object], status: int, message: str) -> None:
    with gateway.client() as c:
        r = post(gateway, c, data, json_accept=True)
        assert r.status_code == status and message in r.json()["error"]
        assert c.get("/_consent").json()["decided"] is False


def test_oversized_and_malformed_bodies(gateway: RunningGateway) -> None:
    with gateway.client() as c:
        r = post(gateway, c, {"action": "accept_all", "pad": "x" * 20000})
        assert r.status_code == 413
        r = c.post("/_consent", content=b"{not json", headers={"Origin": gateway.origin,
                                                               "Content-Type": "application/json"})
        assert r.status_code == 400 and "JSON" in r.text
        r = c.post("/_consent", content=b"\xff\xfe", headers={"Origin": gateway.origin,
                                                             "Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 400
        r = c.post("/_consent", content=b"a", headers={"Origin": gateway.origin, "Content-Type": "text/xml"})
        assert r.status_code == 415
        r = c.post("/_consent", content="&".join(f"k{i}=v" for i in range(100)),
                   headers={"Origin": gateway.origin, "Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 400
        assert c.get("/_consent").json()["decided"] is False


def test_chunked_oversized_body_without_length(gateway: RunningGateway) -> None:
    body = b"action=accept_all&pad=" + b"x" * 30000
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    host = f"127.0.0.1:{gateway.server.port}".encode()
    request = (b"POST /_consent HTTP/1.1\r\nHost: " + host + b"\r\nOrigin: " + gateway.origin.encode() +
               b"\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n"
               b"Connection: close\r\n\r\n" + chunked)
    status, _, _ = raw_request(gateway.server.port, request)
    assert status == 413


def test_withdrawal_expires_held_cookies_in_the_answer(gateway: RunningGateway) -> None:
    with gateway.client() as c:
        gateway.decide(c, "accept_all")
        r = c.post("/_consent", data={"action": "withdraw"},
                   headers={"Origin": gateway.origin, "Cookie": gateway.with_consent(c, "sid=1; _ga=2")})
        cookies = r.headers.get_list("set-cookie")
        assert any(v.startswith("sid=;") and "Max-Age=0" in v for v in cookies)
        assert any(v.startswith("_ga=;") and "Max-Age=0" in v for v in cookies)


def test_receipt_shows_id_choices_and_history(gateway: RunningGateway) -> None:
    with gateway.client() as c:
        gateway.decide(c, "accept_all")
        gateway.decide(c, "save", ("identity",))
        consent_id = c.get("/_consent").json()["consent_id"]
        r = c.get("/_consent/receipt?next=//evil.example", headers={"Accept-Language": "en"})
    assert r.status_code == 200
    assert consent_id in r.text and "2024-10" in r.text
    assert r.text.count("<tr><td><time") == 2
    assert 'data-category="personalization" data-granted="false"' in r.text
    assert 'href="//evil.example"' not in r.text
    assert r.headers["x-frame-options"] == "DENY"


def test_receipt_escapes(gateway: RunningGateway) -> None:
    with gateway.client() as c:
        r = c.get("/_consent/receipt", params={"next": '/"><script>alert(1)</script>'})
    assert "<script>alert(1)" not in r.text


def test_health_and_static(gateway: RunningGateway) -> None:
    with gateway.client() as c:
        h = c.get("/_consent/health")
        assert h.status_code == 200 and h.json()["ready"] is True and h.json()["log"] == "ok"
        js = c.get("/_consent/static/consent-banner/banner.js")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]
        assert c.get("/_consent/static/consent-banner/banner.js",
                     headers={"If-None-Match": js.headers["etag"]}).status_code == 304
        assert c.get("/_consent/static/consent-banner/../../etc/passwd").status_code == 404
        assert c.get("/_consent/nothing").status_code == 404
        assert c.put("/_consent").status_code == 405


def test_metrics_need_a_credential(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(extra='\n[admin]\nenabled = true\ntoken = "admin-token-0123456789"\n')
    with gw.client() as c:
        assert c.get("/_consent/metrics").status_code == 401
        assert c.get("/_consent/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        c.get("/page")
        assert post(gw, c, {"action": "accept_all"}).status_code == 303
        r = c.get("/_consent/metrics", headers={"Authorization": "Bearer admin-token-0123456789"})
        assert r.status_code == 200
        assert 'consent_set_cookies_dropped_total{category="personalization"}' in r.text
        # the decision's wait for the log is measured (issue 11: decision-log latency)
        assert "consent_log_write_seconds_count 1.0" in r.text
        assert "consent_banners_shown_total 1.0" in r.text  # /page, before the decision; counted once placed
        assert c.get("/metrics").status_code == 401
        r = c.get("/metrics", headers={"Authorization": "Bearer admin-token-0123456789"})
        assert r.status_code == 200 and "consent_banners_shown_total" in r.text


def test_metrics_path_belongs_to_the_site_without_admin(gateway: RunningGateway) -> None:
    with gateway.client() as c:
        assert c.get("/metrics").status_code == 404  # proxied: the test site has no /metrics


def test_safe_next_unit() -> None:
    assert safe_next(None) == "/" and safe_next("/a/b?c#d") == "/a/b?c#d"
    for bad in ("//x", "http://x", "/\\x", "x", "/\x00", "/" + "a" * 3000):
        with pytest.raises(BadRequest):
            safe_next(bad)


def test_decision_flood_is_limited_per_address(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(consent='default_locale = "en"\ndecisions_per_minute = 6\ndecision_burst = 2')
    with gw.client() as c:
        codes = [post(gw, c, {"action": "accept_all"}, json_accept=True).status_code for _ in range(4)]
        assert codes == [200, 200, 429, 429]  # burst of 2, then wait (tests/hostile/test_decisions_limit.py)
        r = post(gw, c, {"action": "save", "categories": "identity"}, json_accept=True)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_rate_limiter_refills_and_forgets() -> None:
    from gateway.ratelimit import RateLimiter

    limiter = RateLimiter(per_minute=60, burst=2, max_keys=3)
    assert [limiter.allow("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 1.0]
    assert limiter.allow("a", now=1.0) == 0.0  # one token per second
    for key in "bcde":
        limiter.allow(key, now=2.0)
    assert "a" not in limiter._buckets and len(limiter._buckets) == 3
    assert RateLimiter(per_minute=0).allow("x") == 0.0


def test_https_uses_a_host_prefixed_cookie_and_ignores_a_planted_plain_one(
        make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(gateway='public_origin = "https://shop.example"')
    with gw.client() as c:
        r = c.post("/_consent", data={"action": "save", "categories": "identity"},
                   headers={"Origin": "https://shop.example", "Accept": "application/json"})
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("__Host-consent_gateway=") and "; Secure" in cookie and "Domain" not in cookie
        token = cookie.split(";")[0].split("=", 1)[1]
    with gw.client() as c:
        # a sibling subdomain planted a plain-named cookie (from its own accept-all visit): ignored
        planted = c.get("/_consent", headers={"Cookie": f"consent_gateway={token}"}).json()
        assert planted["decided"] is False
        real = c.get("/_consent", headers={"Cookie": f"__Host-consent_gateway={token}"}).json()
        assert real["categories"] == {"identity": True, "personalization": False}


@pytest.mark.parametrize("origin,referer", [
    ("https://shop.example.evil.com", None),  # starts with ours: still another site
    ("https://shop.examplex", None),
    ("http://shop.example", None),  # same host, other scheme
    (None, "https://shop.example.evil.com/page"),
    (None, "https://shop.example@evil.com/page"),
])
def test_origin_must_equal_ours_not_start_with_it(make_gateway: Callable[..., RunningGateway],
                                                  origin: str | None, referer: str | None) -> None:
    gw = make_gateway(gateway='public_origin = "https://shop.example"')
    with gw.client() as c:
        headers = {"Referer": referer} if referer else {}
        r = post(gw, c, {"action": "accept_all"}, origin=origin, headers=headers)
        assert r.status_code == 403
        assert "set-cookie" not in r.headers
        r = post(gw, c, {"action": "accept_all"}, origin="https://shop.example")
        assert r.status_code == 303  # the same request from our own origin is accepted


def test_safe_next_limits_and_messages() -> None:
    assert safe_next("") == "/" and safe_next("/" + "a" * 2047) == "/" + "a" * 2047
    assert safe_next("/ok ~!$&'()*+,;=:@%20") == "/ok ~!$&'()*+,;=:@%20"  # 0x20 and 0x7e are text
    control, elsewhere = "next must not contain control characters", "next must be a path on this site, like /page"
    cases = [("/" + "a" * 2048, "next is too long"), ("/a\x1fb", control), ("/a\x7fb", control), ("/a\nb", control),
             ("//x", elsewhere), ("x/y", elsewhere), ("/a\\b", elsewhere), ("https://x/", elsewhere)]
    for value, message in cases:  # the visitor reads these in the 400 answer
        with pytest.raises(BadRequest) as e:
            safe_next(value)
        assert e.value.message == message and e.value.status == 400, value


@given(st.one_of(st.text(max_size=30), st.text(alphabet="/\\:@?#%.aZ09 \t\n\x00", max_size=12)))
@example("/\t/evil.example")  # URL parsers drop tab and newline: "//evil.example"
@example("/\r\n/evil.example")
def test_every_accepted_next_stays_on_this_site(value: str) -> None:
    """safe_next is one syntactic check; here a URL parser confirms that whatever it accepts names
    no scheme and no host, and resolves against our origin to a page of our origin."""
    try:
        path = safe_next(value)
    except BadRequest:
        return
    parts = urlsplit(path)
    assert not parts.scheme and not parts.netloc, value
    assert urljoin("https://shop.example/a/b", path).startswith("https://shop.example/"), value


def test_location_header_is_ascii_and_keeps_url_syntax() -> None:
    from gateway.endpoints import location_header

    keep = "/a/b?c=d&e=f#g%20h:@!$'()*+,;~-._"
    assert location_header(keep) == keep.encode()
    assert location_header("/产 品\"<>`{}|^") == b"/%E4%BA%A7%20%E5%93%81%22%3C%3E%60%7B%7D%7C%5E"


def test_origin_check_without_a_usable_host_refuses(gateway: RunningGateway) -> None:
    with gateway.client() as c:
        # no public_origin and a Host we cannot use: there is no "our origin" to match
        r = post(gateway, c, {"action": "accept_all"}, origin="http://a b", headers={"Host": "a b"})
        assert r.status_code in (400, 403) and "set-cookie" not in r.headers
        # a Host the HTTP layer passes but we cannot use (no '_' in a host name): refused all the same
        r = post(gateway, c, {"action": "accept_all"}, origin="http://shop_x.example",
                 headers={"Host": "shop_x.example"})
        assert r.status_code == 403 and "set-cookie" not in r.headers
        r = post(gateway, c, {"action": "accept_all"}, origin=None, headers={"Referer": "not a url"})
        assert r.status_code == 403
        r = post(gateway, c, {"action": "accept_all"}, origin=gateway.origin + "/", headers={"Referer": "x"})
        assert r.status_code == 303  # an Origin is decisive; the Referer is only a fallback
        r = post(gateway, c, {"action": "accept_all"}, origin="https://evil.example",
                 headers={"Referer": gateway.url + "/page"})
        assert r.status_code == 403


def test_receipt_times_are_machine_readable_with_a_utc_fallback(gateway: RunningGateway) -> None:
    with gateway.client() as c:
        gateway.decide(c, "accept_all")
        r = c.get("/_consent/receipt", headers={"Accept-Language": "en"})
    stamp = re.search(r'<time datetime="([^"]+)" data-local>([^<]+)</time>', r.text)
    assert stamp, r.text
    assert stamp.group(1).endswith(("Z", "+00:00"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", stamp.group(2))  # read before the script runs
    assert re.search(r'<script src="/_consent/static/consent-banner/localtime.js\?v=\w+" defer>', r.text)


def test_receipt_in_chinese_uses_full_width_punctuation(gateway: RunningGateway) -> None:
    with gateway.client() as c:
        gateway.decide(c, "accept_all")
        r = c.get("/_consent/receipt", headers={"Accept-Language": "zh-CN"})
    text = r.text
    assert "登录识别：<strong>已允许</strong>" in text or "：<strong>已允许</strong>" in text
    assert ": <strong>" not in text
    assert "（始终开启）" in text and "(始终开启)" not in text
    granted = text.split("<td>全部接受</td><td>")[1].split("</td>")[0] if "<td>全部接受</td>" in text else ""
    assert "、" in granted and ", " not in granted, text


@given(st.lists(st.text(alphabet="ab=&%+2F0 \u00e9;", max_size=12), max_size=MAX_FIELDS + 3))
@example(["a=1"] * MAX_FIELDS)
@example(["a=1"] * (MAX_FIELDS + 1))
def test_parse_form_is_parse_qsl(parts: list[str]) -> None:
    """The decision form's fast path gives parse_qsl's pairs, and its error past MAX_FIELDS."""
    from urllib.parse import parse_qsl

    text = "&".join(parts)
    try:
        want: object = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, strict_parsing=False)
    except ValueError:
        want = ValueError
    try:
        got: object = parse_form(text)
    except ValueError:
        got = ValueError
    assert got == want
