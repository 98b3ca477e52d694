"""Signing in to the dashboard through the real gateway: the form for either credential, the signed
cookie, the lockout, the Origin check, where the browser goes afterwards; and headers for scripts."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from itsdangerous import TimestampSigner

from gateway.adminsession import COOKIE, AdminSessions
from tests.conftest import RunningGateway

TOKEN = "the-right-admin-token-0123456789"
USER, PASSWORD = "ops", "right-password-0123"
BOTH = f'\n[admin]\nenabled = true\ntoken = "{TOKEN}"\nusername = "{USER}"\npassword = "{PASSWORD}"\n' \
       "max_failures = 3\nsession_minutes = 5\n"
TOKEN_ONLY = f'\n[admin]\nenabled = true\ntoken = "{TOKEN}"\n'
PAGE = {"Accept": "text/html,application/xhtml+xml", "Sec-Fetch-Mode": "navigate"}


def sign_in(gw: RunningGateway, c: httpx.Client, data: dict[str, str], **headers: str) -> httpx.Response:
    return c.post("/_consent/admin/login", data=data, headers={"Origin": gw.origin, **headers})


def admin_cookie(r: httpx.Response) -> str:
    header = r.headers["set-cookie"]
    assert header.startswith(COOKIE + "=")
    return header.split(";")[0].split("=", 1)[1]


def test_a_browser_is_sent_to_the_form_and_back(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(extra=BOTH)
    with gw.client() as c:
        r = c.get("/_consent/admin?range=1y&lang=zh-CN", headers=PAGE)
        assert r.status_code == 303
        location = urlsplit(r.headers["location"])
        assert location.path == "/_consent/admin/login"
        assert parse_qs(location.query)["next"] == ["/_consent/admin?range=1y&lang=zh-CN"]
        form = c.get(r.headers["location"], headers={"Accept-Language": "en"})
        assert form.status_code == 200 and "default-src 'none'" in form.headers["content-security-policy"]
        assert "form-action 'self'" in form.headers["content-security-policy"]
        for field in ('name="username"', 'name="password"', 'name="token"',
                      'name="next" value="/_consent/admin?range=1y&amp;lang=zh-CN"'):
            assert field in form.text
        r = sign_in(gw, c, {"username": USER, "password": PASSWORD, "next": "/_consent/admin?range=1y&lang=zh-CN"})
        assert r.status_code == 303 and r.headers["location"] == "/_consent/admin?range=1y&lang=zh-CN"
        attrs = r.headers["set-cookie"].split("; ")[1:]
        assert attrs == ["Path=/_consent/admin", "Max-Age=300", "HttpOnly", "SameSite=Strict"]  # no Secure on http
        page = c.get(r.headers["location"])  # httpx keeps the cookie, for its path
        assert page.status_code == 200 and '<html lang="zh-CN">' in page.text and "同意管理仪表盘" in page.text
        # signing out clears it; the dashboard asks again
        out = c.post("/_consent/admin/logout", data={"lang": "en"}, headers={"Origin": gw.origin})
        assert out.status_code == 303 and out.headers["location"] == "/_consent/admin/login?out=1&lang=en"
        assert "Max-Age=0" in out.headers["set-cookie"]
        assert c.get("/_consent/admin", headers=PAGE).status_code == 303


def test_the_token_signs_in_through_the_form_too(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(extra=TOKEN_ONLY)
    with gw.client() as c:
        r = c.get("/_consent/admin")  # a script without a credential: 401 with a challenge it can meet
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer ")  # not a Basic prompt
        form = c.get("/_consent/admin/login").text
        assert 'name="token"' in form and 'name="password"' not in form
        assert sign_in(gw, c, {"token": "wrong-token-000000000"}).status_code == 403
        r = sign_in(gw, c, {"token": TOKEN})
        assert r.status_code == 303 and r.headers["location"] == "/_consent/admin"
        assert c.get("/_consent/admin").status_code == 200
        # a password field cannot stand in for the token when no password is configured
        with gw.client() as fresh:
            assert sign_in(gw, fresh, {"username": "", "password": TOKEN}).status_code == 403


def test_scripts_keep_their_headers(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(extra=BOTH)
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    with gw.client() as c:
        assert c.get("/_consent/admin", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert c.get("/_consent/admin", headers={"Authorization": f"Basic {basic}"}).status_code == 200
        assert c.get("/_consent/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        r = c.get("/_consent/admin")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic ")
        # a date the parser refuses is a plain 400 that says why
        bad = c.get("/_consent/admin?from=yesterday", headers={"Authorization": f"Bearer {TOKEN}"})
        assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text


def test_wrong_cookie_values_never_open_it(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(extra=BOTH.replace("max_failures = 3", "max_failures = 10"))  # each wrong one counts
    config = gw.app.runtime.config
    good = AdminSessions(config.admin, config.consent.secret_keys, 300).issue()

    class TwoHoursAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 7200

    old = AdminSessions(config.admin, config.consent.secret_keys, 300)
    old._serializer.signer = TwoHoursAgo  # noqa: SLF001 - an expired cookie, signed with the real key
    other_key = AdminSessions(config.admin, ("another-secret-key-0123456789",), 300).issue()
    body, _, sig = good.rpartition(".")
    tampered = body.replace(body[1], "A" if body[1] != "A" else "B", 1) + "." + sig
    with gw.client() as c:
        for value in (old.issue(), other_key, tampered, "1", "admin"):
            r = c.get("/_consent/admin", headers={"Cookie": f"{COOKIE}={value}"})
            assert r.status_code == 401, value
        assert c.get("/_consent/admin", headers={"Cookie": f"{COOKIE}={good}"}).status_code == 200


@pytest.mark.parametrize("target", [
    "//evil.example/_consent/admin", "https://evil.example/_consent/admin", "/\\evil.example", "\\\\evil.example",
    "javascript:alert(1)", "/page", "/", "/_consent", "/_consent/administrator", "/_consent/admin/../../page",
    "/_consent/admin/%2e%2e/%2e%2e/page", "/_consent/admin\t//evil.example", " //evil.example",
    "/_consent/admin/login?next=//evil.example", "http:/_consent/admin", "",
])
def test_no_open_redirect_after_signing_in(make_gateway: Callable[..., RunningGateway], target: str) -> None:
    gw = make_gateway(extra=BOTH)
    with gw.client() as c:
        r = sign_in(gw, c, {"username": USER, "password": PASSWORD, "next": target})
        assert r.status_code == 303 and r.headers["location"] == "/_consent/admin"
        # and the form does not echo it either
        assert 'name="next" value="/_consent/admin"' in c.get("/_consent/admin/login", params={"next": target}).text


def test_posts_must_come_from_this_site(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(extra=BOTH)
    data = {"username": USER, "password": PASSWORD}
    with gw.client() as c:
        for headers in ({}, {"Origin": "http://evil.example"}, {"Origin": "null"},
                        {"Referer": "http://evil.example/_consent/admin/login"},
                        {"Origin": gw.origin.replace("127.0.0.1", "localhost")}):
            r = c.post("/_consent/admin/login", data=data, headers=headers)
            assert r.status_code == 403 and "set-cookie" not in r.headers, headers
            assert c.post("/_consent/admin/logout", headers=headers).status_code == 403
        # a browser that sends only a Referer (older ones on same-origin POSTs) from here is fine
        r = c.post("/_consent/admin/login", data=data, headers={"Referer": gw.url + "/_consent/admin/login"})
        assert r.status_code == 303 and COOKIE in r.headers["set-cookie"]


def test_the_form_shares_the_lockout_and_logs_no_secret(make_gateway: Callable[..., RunningGateway],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    gw = make_gateway(extra=BOTH)
    with caplog.at_level(logging.INFO, "consent_gateway"), gw.client() as c:
        codes = [sign_in(gw, c, {"username": USER, "password": f"guess-number-{i}"}).status_code for i in range(3)]
        assert codes == [403, 403, 429]  # max_failures = 3
        locked = sign_in(gw, c, {"username": USER, "password": PASSWORD}, **{"Accept-Language": "zh-CN"})
        assert locked.status_code == 429 and "set-cookie" not in locked.headers  # even the right one
        assert int(locked.headers["retry-after"]) > 60 and "秒后重试" in locked.text
        assert c.get("/_consent/admin", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 429
        other = httpx.Client(base_url=gw.url, transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10)
        with other:
            assert sign_in(gw, other, {"token": TOKEN}).status_code == 303  # another network is not locked
    lines = "\n".join(r.getMessage() for r in caplog.records)
    assert lines.count("admin credential refused: form from 127.0.0.0/24") == 3
    assert "admin access locked" in lines and "admin signed in with the form (token) from 127.0.0.0/24" in lines
    for secret in ("guess-number", PASSWORD, TOKEN, f"{USER} ", "127.0.0.1", "127.0.0.2"):
        assert secret not in lines
    assert gw.app.metrics.tallies["admin_failures"]["refused"] == 3


def test_secure_cookie_behind_https(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(extra=BOTH, gateway='public_origin = "https://shop.example.test"')
    with gw.client() as c:
        r = sign_in(gw, c, {"username": USER, "password": PASSWORD}, Origin="https://shop.example.test")
        assert r.status_code == 303 and r.headers["set-cookie"].endswith("; Secure")
        assert sign_in(gw, c, {"username": USER, "password": PASSWORD}).status_code == 403  # http origin ≠ ours


def test_language_of_the_pages(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(extra=BOTH)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with gw.client() as c:
        zh = c.get("/_consent/admin", headers={**auth, "Accept-Language": "zh-Hans;q=0.9, fr;q=1"})
        assert zh.headers["content-language"] == "zh-CN" and "日期范围" in zh.text and "Date range" not in zh.text
        assert "全部接受" in zh.text  # the legend's action names
        en = c.get("/_consent/admin?lang=en", headers={**auth, "Accept-Language": "zh-CN"})
        assert en.headers["content-language"] == "en" and "Date range" in en.text
        fr = c.get("/_consent/admin?lang=fr", headers={**auth, "Accept-Language": "de"})
        assert fr.headers["content-language"] == "en"  # neither is there: English
        login = c.get("/_consent/admin/login", headers={"Accept-Language": "zh-CN"})
        assert "登录同意管理仪表盘" in login.text and 'lang="zh-CN"' in login.text


def test_report_mode_shows_what_would_be_blocked(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(extra=TOKEN_ONLY, consent='mode = "report"\ndefault_locale = "en"')
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with gw.client() as c:
        before = c.get("/_consent/admin", headers=auth).text
        assert "Nothing would have been blocked so far." in before
        for _ in range(3):
            assert c.get("/page", headers={"Cookie": "_ga=GA1.1.1; sid=1"}).status_code == 200
        page = c.get("/_consent/admin", headers=auth).text
    section = page[page.index('id="would-block"'):page.index("</section>", page.index('id="would-block"'))]
    assert "<td>personalization</td><td>Google Analytics</td><td>cookie</td>" in section
    assert '<td class="num">3</td>' in section
