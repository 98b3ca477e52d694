"""The response policy on its own: status and headers in, a ResponsePlan out. No server, no socket."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gateway.config import Config, parse_config
from gateway.cookies import CookieRules, CookieScopes
from gateway.navigation import VARY
from gateway.responsepolicy import ResponsePlan, ResponsePolicy, charset_label
from gateway.types import Headers
from tests.conftest import config_text

NOTHING: frozenset[str] = frozenset()
ALL = frozenset({"identity", "personalization"})


def config(consent: str = "", extra: str = "") -> Config:
    return parse_config(config_text("http://127.0.0.1:9", Path("/nonexistent/consent.db"), consent=consent,
                                    extra=extra))


def policy(cfg: Config | None = None) -> ResponsePolicy:
    cfg = cfg or config()
    return ResponsePolicy(cfg, CookieRules(cfg), CookieScopes())


def decide(p: ResponsePolicy, status: int, headers: Headers, granted: frozenset[str] = NOTHING,
           held: tuple[str, ...] = ()) -> ResponsePlan:
    return p.decide(status, headers, granted=granted, held=held, secure=False, host="shop.example")


def names(headers: Headers | tuple[tuple[bytes, bytes], ...]) -> list[bytes]:
    return [n for n, _ in headers]


def set_cookies(plan: ResponsePlan) -> list[bytes]:
    return [v for n, v in plan.headers if n == b"set-cookie"]


HTML_GZIP: Headers = [
    (b"content-type", b"text/html; charset=ISO-8859-1"), (b"content-encoding", b"gzip"),
    (b"content-length", b"1234"), (b"etag", b'"abc"'), (b"last-modified", b"Mon, 01 Jan 2024 00:00:00 GMT"),
    (b"cache-control", b"public, max-age=600"), (b"accept-ranges", b"bytes"), (b"x-site", b"1"),
    (b"connection", b"keep-alive"), (b"transfer-encoding", b"chunked"), (b"date", b"then"),
]


class TestCookies:
    def test_drops_set_cookie_not_granted_and_keeps_the_rest_unfolded(self) -> None:
        headers: Headers = [(b"content-type", b"application/json"), (b"set-cookie", b"_ga=1; Path=/"),
                            (b"set-cookie", b"csrftoken=t"), (b"set-cookie", b"sid=s"), (b"x-a", b"1")]
        plan = decide(policy(), 200, headers)
        assert set_cookies(plan) == [b"csrftoken=t"]
        assert plan.dropped == ("_ga", "sid")
        assert plan.would_drop == ()
        granted = decide(policy(), 200, headers, granted=ALL)
        assert set_cookies(granted) == [b"_ga=1; Path=/", b"csrftoken=t", b"sid=s"]

    def test_the_site_cannot_set_our_cookie_whatever_is_granted(self) -> None:
        plan = decide(policy(), 200, [(b"set-cookie", b"consent_gateway=forged")], granted=ALL)
        assert set_cookies(plan) == [] and plan.dropped == ("consent_gateway",)

    def test_held_cookies_are_expired_with_the_scope_the_site_set(self) -> None:
        p = policy()
        decide(p, 200, [(b"set-cookie", b"_ga=1; Domain=shop.example; Path=/x")])  # learned
        plan = decide(p, 200, [(b"content-type", b"text/plain")], held=("_ga", ""))
        expiries = set_cookies(plan)
        assert expiries and all(v.startswith(b"_ga=;") for v in expiries)
        assert any(b"Path=/x" in v and b"Domain=shop.example" in v for v in expiries)
        assert plan.unexpired == 0
        assert plan.headers[0] == (b"content-type", b"text/plain")  # added to the head, not instead of it

    def test_expiries_over_https_are_secure(self) -> None:
        """A browser reached over https ignores a Set-Cookie for a Secure cookie without Secure."""
        plan = policy().decide(200, [], granted=NOTHING, held=("_ga",), secure=True, host="shop.example")
        assert set_cookies(plan) and all(v.endswith(b"; Secure") for v in set_cookies(plan))
        plain = decide(policy(), 200, [], held=("_ga",))
        assert set_cookies(plain) and not any(b"Secure" in v for v in set_cookies(plain))

    def test_nothing_held_nothing_unexpired(self) -> None:
        plan = decide(policy(), 200, [(b"content-type", b"text/plain")])
        assert plan.unexpired == 0 and plan.status == 200 and plan.policies == ()

    def test_expiries_are_bounded_and_the_rest_counted(self) -> None:
        cfg = config()
        p = policy(dataclasses.replace(cfg, cookies=dataclasses.replace(cfg.cookies, max_expiries=2)))
        plan = decide(p, 200, [], held=tuple(f"c{i}" for i in range(10)))
        assert len(set_cookies(plan)) <= 2
        assert plan.unexpired >= 8

    def test_report_mode_drops_only_our_cookie_and_says_what_it_would_drop(self) -> None:
        p = policy(config(consent='mode = "report"'))
        headers: Headers = [(b"set-cookie", b"_ga=1"), (b"set-cookie", b"consent_gateway=x"),
                            (b"set-cookie", b"csrftoken=t")]
        plan = decide(p, 200, headers)
        assert set_cookies(plan) == [b"_ga=1", b"csrftoken=t"]
        assert plan.dropped == ("consent_gateway",)
        assert plan.would_drop == ("_ga",)  # not our own cookie: that one goes in both modes


class TestHead:
    def test_hop_by_hop_fields_never_pass(self) -> None:
        plan = decide(policy(), 200, [(b"content-type", b"image/png"), *HTML_GZIP[7:]])
        assert names(plan.headers) == [b"content-type", b"x-site"]

    def test_a_body_left_as_it_is_keeps_its_length_validators_and_caching(self) -> None:
        headers: Headers = [(b"content-type", b"application/json"), *HTML_GZIP[1:8]]
        plan = decide(policy(), 200, headers)
        assert not plan.rewrite
        assert plan.headers == tuple(headers[:8])
        assert plan.head() == headers[:8]

    def test_html_is_rewritten_and_its_head_says_what_changed(self) -> None:
        plan = decide(policy(), 200, list(HTML_GZIP))
        assert plan.rewrite and plan.coding == b"gzip" and plan.charset == b"ISO-8859-1"
        assert names(plan.headers) == [b"content-type", b"x-site", b"cache-control", b"vary", b"permissions-policy"]
        head = dict(plan.headers)
        assert head[b"cache-control"] == b"private, no-cache"
        assert head[b"vary"] == VARY
        assert head[b"permissions-policy"] == (b"browsing-topics=(), attribution-reporting=(), "
                                               b"join-ad-interest-group=(), run-ad-auction=()")

    def test_browser_ad_apis_open_once_granted_and_in_report_mode(self) -> None:
        granted = decide(policy(), 200, list(HTML_GZIP), granted=ALL)
        assert b"permissions-policy" not in names(granted.headers)
        report = decide(policy(config(consent='mode = "report"')), 200, list(HTML_GZIP))
        assert b"permissions-policy" not in names(report.headers)

    @pytest.mark.parametrize(("status", "coding", "ctype"), [
        (204, b"", b"text/html"), (206, b"", b"text/html"), (304, b"", b"text/html"), (101, b"", b"text/html"),
        (200, b"zstd", b"text/html"), (200, b"gzip, br", b"text/html"), (200, b"", b"application/xhtml+xml"),
    ])
    def test_no_rewrite_for_partial_bodiless_undecodable_or_xml(self, status: int, coding: bytes,
                                                                 ctype: bytes) -> None:
        headers: Headers = [(b"content-type", ctype), (b"content-encoding", coding), (b"etag", b"e")]
        plan = decide(policy(), status, headers)
        assert not plan.rewrite
        assert plan.headers == tuple(headers)

    def test_rewritten_for_error_statuses_and_every_decodable_coding(self) -> None:
        for status, coding in ((404, b"br"), (500, b"deflate"), (200, b"identity"), (200, b" GZIP ")):
            plan = decide(policy(), status, [(b"content-type", b"Text/HTML"), (b"content-encoding", coding)])
            assert plan.rewrite, (status, coding)

    @pytest.mark.parametrize(("ctype", "label"), [
        (b"text/html", b""), (b"text/html; charset=ISO-8859-2", b"ISO-8859-2"),
        (b"text/html;CHARSET=utf-8;format=flowed", b"utf-8"),
        # a repeated parameter: the first one counts (WHATWG MIME type parsing), as browsers read it
        (b"text/html; charset=utf-8; charset=iso-8859-2", b"utf-8"),
    ])
    def test_the_charset_label(self, ctype: bytes, label: bytes) -> None:
        assert charset_label(ctype) == label
        assert decide(policy(), 200, [(b"content-type", ctype)]).charset == label

    def test_the_sites_csp_is_read_for_nonces(self) -> None:
        headers: Headers = [(b"content-type", b"text/html"),
                            (b"content-security-policy", b"script-src 'nonce-abc' 'strict-dynamic'")]
        plan = decide(policy(), 200, headers)
        assert plan.policies == ("script-src 'nonce-abc' 'strict-dynamic'",)


class TestImmutability:
    def test_the_plan_is_frozen_and_the_callers_headers_untouched(self) -> None:
        headers = list(HTML_GZIP) + [(b"set-cookie", b"_ga=1")]
        before = list(headers)
        plan = decide(policy(), 200, headers)
        assert headers == before
        with pytest.raises(AttributeError):
            plan.rewrite = False  # type: ignore[misc]

    def test_a_transcoded_body_says_utf8_and_a_whole_one_its_length(self) -> None:
        plan = decide(policy(), 200, [(b"content-type", b"text/html; charset=utf-16"), (b"x-a", b"1")])
        before = plan.headers
        head = plan.head(utf8=True, length=42)
        assert head[-2:] == [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", b"42")]
        assert [n for n, _ in head].count(b"content-type") == 1
        head.append((b"x-late", b"1"))  # the caller's list is its own
        assert plan.headers == before and plan.head()[0] == (b"content-type", b"text/html; charset=utf-16")
