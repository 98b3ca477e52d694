from __future__ import annotations

import json
import os
import re
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import default_config_path, load_config, parse_config
from gateway.cookies import (
    CACHED_HEADERS,
    MAX_CACHED_HEADER,
    NECESSARY,
    CookieList,
    CookieRules,
    CookieScopes,
    bounded_expiry_headers,
    cookie_domains,
    drop_response_cookies,
    parse_cookie_header,
    parse_cookie_headers,
    parse_set_cookie,
    strip_request_cookies,
)
from gateway.types import Headers
from tests.conftest import config_text

CONFIG = parse_config(config_text("http://127.0.0.1:1", __import__("pathlib").Path("/tmp/unused.db")))
_HOSTNAME_SAFE = re.compile(r"^[a-z0-9.-]+$")
RULES = CookieRules(CONFIG)
# catalog names of every purpose, exact and glob-matched
CATALOG_NAMES = ["PHPSESSID", "lang", "_ga", "_ga_ABC", "_hjSessionUser_9", "_fbp", "UM_distinctid", "Hm_lvt_1",
                 "remember_me", "JSESSIONID", "XSRF-TOKEN", "SID", "_gcl_au", "cart_id"]


def expiry_headers(names: list[str], scopes: CookieScopes, *, secure: bool, host: str = "") -> Headers:
    return bounded_expiry_headers(names, scopes, secure=secure, host=host, limit=0)[0]


@pytest.fixture(autouse=True)
def _cold_rules() -> None:
    """RULES is shared by the tests of this module: each starts with its name caches empty, so each
    runs the lookup it asserts (the module caches are emptied by tests/conftest.py)."""
    RULES._cache.clear()
    RULES._labels.clear()
    RULES.strip_cache.clear()


class TestParseCookieHeader:
    def test_simple(self) -> None:
        got = parse_cookie_header(b"a=1; b=2")
        assert [(c.name, c.raw) for c in got] == [("a", b"a=1"), ("b", b"b=2")]

    def test_malformed_pairs(self) -> None:
        got = parse_cookie_header(b'novalue; =x; ;; q="a;b"; sp ace=1; \xe4\xb8\xad=2')
        assert [c.name for c in got] == ["", "", "q", "", "sp ace", "\xe4\xb8\xad"]
        # the quoted value is split at ';' exactly as browsers do: no quote awareness

    def test_only_space_and_tab_are_trimmed(self) -> None:
        got = parse_cookie_header(b"\x0bsid=1; a=b=c;\x0b; \t x \t=2 \t")
        assert [(c.name, c.raw) for c in got] == [("\x0bsid", b"\x0bsid=1"), ("a", b"a=b=c"), ("", b"\x0b"),
                                                  ("x", b"x \t=2")]

    def test_names_keep_every_byte_but_space_and_tab_at_their_ends(self) -> None:
        got = parse_cookie_header(b"X=1; aX=2;X;=X")
        assert [(c.name, c.raw) for c in got] == [("X", b"X=1"), ("aX", b"aX=2"), ("", b"X"), ("", b"=X")]

    def test_duplicates_are_kept(self) -> None:
        assert [c.raw for c in parse_cookie_header(b"sid=1; sid=2")] == [b"sid=1", b"sid=2"]

    def test_huge_header_is_bounded(self) -> None:
        got = parse_cookie_header(b"a=b; " * 100_000)
        assert 0 < len(got) <= 64 * 1024 // 5 + 1

    @given(st.binary(max_size=2000))
    def test_never_raises_and_keeps_bytes(self, raw: bytes) -> None:
        for cookie in parse_cookie_header(raw):
            assert cookie.raw in raw
            assert cookie.raw.strip(b" \t") == cookie.raw


class TestParseSetCookie:
    def test_scope(self) -> None:
        c = parse_set_cookie(b"_ga=1; Path=/shop; Domain=.Example.COM; HttpOnly; Secure")
        assert (c.name, c.path, c.domain) == ("_ga", "/shop", "example.com")

    def test_hostile_scope_is_ignored(self) -> None:
        c = parse_set_cookie(b"x=1; Path=relative; Domain=ev il;\r\n")
        assert (c.path, c.domain) == (None, None)

    def test_no_equals(self) -> None:
        assert parse_set_cookie(b"justvalue").name == ""

    @pytest.mark.parametrize("raw,expected", [
        (b"a=b=c", ("a", None, None)),  # the name ends at the first '='
        (b"X=1", ("X", None, None)),
        (b"=1", ("", None, None)),
        (b"x=1; XPath=/p", ("x", None, None)),
        (b"x=1; Path=/aX", ("x", "/aX", None)),
        (b"x=1; Domain=X.Example.com", ("x", None, "x.example.com")),
        (b"\x0bsid=1", ("\x0bsid", None, None)),  # only space and tab are trimmed (RFC 6265bis)
        (b" \tsid \t=1", ("sid", None, None)),
        (b"x=1; HttpOnly", ("x", None, None)),
        (b"x=1; Path=/a=b", ("x", "/a=b", None)),
        (b"x=1;\x0bPath=/p", ("x", None, None)),
        (b"x=1; Path=/p\x0b", ("x", None, None)),
        (b"x=1; Path=/!X~", ("x", "/!X~", None)),  # the printable range, both ends
        (b"x=1; Path=/a\x7f", ("x", None, None)),
        (b"x=1; Path=/a,b", ("x", None, None)),
        (b"x=1; Path= \t/t \t", ("x", "/t", None)),
        (b"x=1; Domain=..Example.COM", ("x", None, "example.com")),
        (b"x=1; Domain=example.com.", ("x", None, "example.com.")),
        (b"x=1; Domain=example.com\x0b", ("x", None, None)),
        (b"x=1; Domain= \texample.com\t ", ("x", None, "example.com")),
        (b"x=1; Domain=exa_mple.com", ("x", None, None)),
        (b"x=1; Domain=", ("x", None, None)),
        (b"x=1; Domain=.", ("x", None, None)),
    ])
    def test_name_and_scope_as_browsers_read_them(self, raw: bytes, expected: tuple[object, ...]) -> None:
        # attribute text never seen before (the scope table may hold the others), then seen before
        fresh = raw + b"; Comment=" + os.urandom(8).hex().encode()
        for value in (fresh, fresh, raw):
            c = parse_set_cookie(value)
            assert (c.name, c.path, c.domain) == expected

    @given(st.binary(max_size=500))
    def test_never_raises(self, raw: bytes) -> None:
        c = parse_set_cookie(raw)
        assert c.path is None or c.path.startswith("/")

    def test_values_are_cached_whole_and_the_table_is_bounded(self) -> None:
        from gateway import cookies

        value = b"sid=abc; Path=/shop; HttpOnly"
        assert parse_set_cookie(value) is parse_set_cookie(value)  # parsed once
        for i in range(CACHED_HEADERS + 10):  # per-visitor ids: never seen again
            parse_set_cookie(b"sid=%d; Path=/shop" % i)
        assert 0 < len(cookies._SET_COOKIES) <= CACHED_HEADERS
        assert parse_set_cookie(b"sid=%d; Path=/shop" % 1).path == "/shop"
        assert b"x" * 5000 not in cookies._SET_COOKIES
        assert parse_set_cookie(b"x" * 5000 + b"=1").name == "x" * 5000  # too long to keep, still read
        assert b"x" * 5000 + b"=1" not in cookies._SET_COOKIES


class TestRules:
    def test_categories_globs_necessary_unknown(self) -> None:
        assert RULES.category_of("sid") == "identity"
        assert RULES.category_of("remember_me") == "identity"
        assert RULES.category_of("_ga_XYZ") == "personalization"
        assert RULES.category_of("Hm_lvt_abc") == "personalization"
        assert RULES.category_of("csrftoken") == NECESSARY
        assert RULES.category_of("consent_gateway") == NECESSARY
        assert RULES.category_of("mystery") is None
        assert RULES.category_of("sId") is None  # names are case-sensitive (SID is Google's, in the catalog)
        assert RULES.category_of("SID") == "personalization"

    def test_glob_patterns_and_the_gateway_cookie(self) -> None:
        cats = ('[[categories]]\nid = "essential"\nrequired = true\ncookies = ["sess", "auth"]\n'
                '[[categories]]\nid = "stats"\ncookies = ["st*", "sess"]\n')
        rules = CookieRules(parse_config(config_text("http://127.0.0.1:1", __import__("pathlib").Path("/tmp/u.db"),
                                                     categories=cats)))
        assert [rules.category_of(n) for n in ("sess", "auth", "st", "stx", "xst", "Sess")] == [
            "essential", "essential", "stats", "stats", None, None]
        assert rules.required == frozenset({"essential"})
        everything = frozenset({"essential", "stats"})
        for name in ("consent_gateway", "__Host-consent_gateway"):
            assert strip_request_cookies(parse_cookie_header(name.encode() + b"=t"), rules, everything).cookie_header \
                is None
            dropped = drop_response_cookies([(b"set-cookie", name.encode() + b"=forged")], rules, everything,
                                            CookieScopes())
            assert dropped.headers == [] and dropped.dropped == [name]

    def test_the_gateway_cookie_is_never_passed_even_when_unknown_cookies_are(self) -> None:
        text = config_text("http://127.0.0.1:1", __import__("pathlib").Path("/tmp/u.db")).replace(
            'unknown = "block"', 'unknown = "personalization"')
        rules = CookieRules(parse_config(text))
        everything = frozenset({"identity", "personalization"})
        for name in ("consent_gateway", "__Host-consent_gateway"):
            assert strip_request_cookies(parse_cookie_header(name.encode() + b"=t; mystery=1"), rules,
                                         everything).cookie_header == b"mystery=1"
            assert drop_response_cookies([(b"set-cookie", name.encode() + b"=forged")], rules, everything,
                                         CookieScopes()).dropped == [name]

    def test_every_glob_character_makes_a_glob_and_an_exact_name_beats_any_glob(self) -> None:
        # [cookies] necessary takes fnmatch patterns: '?' and '[...]' as well as '*'
        rules = rules_with(["s*", "q?x", "[bc]z"], ["sid", "qax"], [], catalog="[catalog]\nenabled = false\n")
        assert [rules.category_of(n) for n in ("sx", "sid", "qbx", "qax", "bz", "cz", "az", "q?x", "[bc]z")] == [
            NECESSARY, "identity", NECESSARY, "identity", NECESSARY, NECESSARY, None, NECESSARY, None]

    def test_labels_for_reports(self) -> None:
        rules = CookieRules(CONFIG)  # its own label table, not one warmed by other tests
        for _ in range(2):  # computed, then from the table
            assert [rules.label_of(n) for n in ("sid", "remember_me", "_ga_X1", "csrftoken", "zz", "consent_gateway")] \
                == ["identity", "identity", "personalization", "necessary", "unknown", "necessary"]

    def test_unknown_as_category(self) -> None:
        text = config_text("http://127.0.0.1:1", __import__("pathlib").Path("/tmp/u.db")).replace(
            'unknown = "block"', 'unknown = "personalization"')
        rules = CookieRules(parse_config(text))
        assert rules.category_of("mystery") == "personalization"
        assert rules.allowed("mystery", frozenset({"personalization"}))
        assert not rules.allowed("mystery", frozenset())


FRAMEWORK = ["PHPSESSID", "laravel_session", "XSRF-TOKEN", "cart_id", "lang", "JSESSIONID", "csrftoken"]
OPERATOR_CATS = """
    [[categories]]
    id = "identity"
    cookies = {identity}
    scripts = []

    [[categories]]
    id = "personalization"
    cookies = {personalization}
    scripts = []
"""


def rules_with(necessary: list[str], identity: list[str], personalization: list[str],
               catalog: str = "") -> CookieRules:
    text = config_text("http://127.0.0.1:1", __import__("pathlib").Path("/tmp/u.db"), categories=OPERATOR_CATS.format(
        identity=json.dumps(identity), personalization=json.dumps(personalization)), extra=catalog)
    return CookieRules(parse_config(text.replace('necessary = ["csrftoken"]', f"necessary = {json.dumps(necessary)}")))


class TestCatalogRules:
    def test_framework_sessions_are_necessary_with_the_shipped_defaults(self) -> None:
        rules = CookieRules(load_config(default_config_path(), env={}))
        for name in FRAMEWORK:
            assert rules.category_of(name) == NECESSARY, name
            assert rules.allowed(name, frozenset())
        assert rules.category_of("_hjSessionUser_12345") == "personalization"  # Hotjar, analytics
        assert rules.label_of("_hjSessionUser_12345") == "personalization"
        assert rules.vendor_of("_hjSessionUser_12345") == "Hotjar"
        assert rules.category_of("UM_distinctid") == "personalization"  # Umeng
        assert rules.category_of("not-a-known-cookie") is None and rules.label_of("not-a-known-cookie") == "unknown"

    def test_the_catalogs_table_for_guard_js(self) -> None:
        exact, globs = rules_with([], [], []).catalog_rules()
        assert exact["_fbp"] == "personalization" and exact["PHPSESSID"] == NECESSARY
        assert ("_ga_*", "personalization") in globs and all(c is not None for _, c in globs)
        unmapped = rules_with([], [], [], catalog='[catalog]\npurposes = { marketing = "identity" }\n')
        assert unmapped.catalog_rules()[0]["_fbp"] == "identity"
        assert rules_with([], [], [], catalog="[catalog]\nenabled = false\n").catalog_rules() == ({}, [])

    def test_a_config_without_a_catalog(self) -> None:
        # Config built by hand (the parser always loads one, empty when disabled)
        rules = CookieRules(replace(CONFIG, catalog=replace(CONFIG.catalog, catalog=None)))
        assert rules.category_of("PHPSESSID") is None and rules.label_of("PHPSESSID") == "unknown"
        assert rules.vendor_of("_hjSessionUser_1") == "" and rules.catalog_rules() == ({}, [])
        assert rules.category_of("sid") == "identity"

    def test_vendor_of_a_name_the_catalog_does_not_know_is_empty(self) -> None:
        rules = CookieRules(load_config(default_config_path(), env={}))
        assert rules.vendor_of("not-a-known-cookie") == "" and rules.vendor_of("_fbp") == "Facebook"

    def test_catalog_off_leaves_names_unknown(self) -> None:
        rules = rules_with([], [], [], catalog="[catalog]\nenabled = false\n")
        assert rules.category_of("PHPSESSID") is None and rules.category_of("_ga") is None

    def test_purposes_map_is_applied(self) -> None:
        purposes = '{ analytics = "identity", necessary = "identity" }'
        rules = rules_with([], [], [], catalog=f"[catalog]\npurposes = {purposes}\n")
        assert rules.category_of("_ga") == "identity" and rules.category_of("PHPSESSID") == "identity"
        assert rules.category_of("_fbp") == "personalization"  # marketing keeps its default

    def test_operator_glob_beats_catalog_exact(self) -> None:
        rules = rules_with(["_hj*"], ["PHP*"], ["lang"])
        assert rules.category_of("_hjSessionUser_1") == NECESSARY
        assert rules.category_of("PHPSESSID") == "identity"  # the catalog's exact name loses to a glob
        assert rules.category_of("lang") == "personalization"
        assert rules.category_of("laravel_session") == NECESSARY  # from the catalog

    @given(st.lists(st.sampled_from(CATALOG_NAMES), min_size=1, max_size=6), st.data())
    def test_a_name_an_operator_rule_matches_never_takes_the_catalogs_category(
            self, names: list[str], data: st.DataObject) -> None:
        # each name, or a glob covering it, goes to a random operator list
        lists: dict[str, list[str]] = {"necessary": [], "identity": [], "personalization": []}
        for name in names:
            rule = data.draw(st.sampled_from([name, name[:2] + "*", "*" + name[-2:], name[:1] + "*" + name[-1:]]))
            lists[data.draw(st.sampled_from(sorted(lists)))].append(rule)
        rules = rules_with(lists["necessary"], lists["identity"], lists["personalization"])
        operator_only = rules_with(lists["necessary"], lists["identity"], lists["personalization"],
                                   catalog="[catalog]\nenabled = false\n")
        for name in names:
            assert rules.category_of(name) == operator_only.category_of(name) is not None
            assert rules.label_of(name) == operator_only.label_of(name)


class TestFilters:
    def test_strip_request_cookies(self) -> None:
        cookies = parse_cookie_header(b"sid=1; _ga=2; csrftoken=3; zz=4")
        result = strip_request_cookies(cookies, RULES, frozenset({"identity"}))
        assert result.cookie_header == b"sid=1; csrftoken=3"
        assert [c.name for c in result.stripped] == ["_ga", "zz"]
        assert result.kept == ["sid", "csrftoken"]  # the inventory counts these

    def test_strip_everything_sends_no_header(self) -> None:
        result = strip_request_cookies(parse_cookie_header(b"_ga=1"), RULES, frozenset())
        assert result.cookie_header is None

    @given(st.lists(st.sampled_from(["sid", "_ga", "csrftoken", "x", "remember_a", "_gid"]), max_size=20),
           st.sets(st.sampled_from(["identity", "personalization"])))
    def test_kept_cookies_are_exactly_the_allowed_ones(self, names: list[str], granted: set[str]) -> None:
        header = "; ".join(f"{n}={i}" for i, n in enumerate(names)).encode()
        result = strip_request_cookies(parse_cookie_header(header), RULES, frozenset(granted))
        kept = [p.split(b"=")[0].decode() for p in (result.cookie_header or b"").split(b"; ") if p]
        assert kept == [n for n in names if RULES.allowed(n, frozenset(granted))]

    def test_nameless_request_cookies_are_stripped_even_with_everything_granted(self) -> None:
        cookies = parse_cookie_header(b"novalue; =x; csrftoken=1;  = y")
        result = strip_request_cookies(cookies, RULES, frozenset({"identity", "personalization"}))
        assert result.cookie_header == b"csrftoken=1"
        assert [c.raw for c in result.stripped] == [b"novalue", b"=x", b"= y"]

    def test_nameless_set_cookies_are_dropped_even_with_everything_granted(self) -> None:
        headers = [(b"set-cookie", b"justvalue"), (b"set-cookie", b"=x; Path=/"), (b"set-cookie", b" =y"),
                   (b"set-cookie", b"sid=1")]
        result = drop_response_cookies(headers, RULES, frozenset({"identity", "personalization"}), CookieScopes())
        assert result.headers == [(b"set-cookie", b"sid=1")]
        assert result.dropped == ["", "", ""]

    def test_drop_response_cookies_keeps_order_and_other_headers(self) -> None:
        headers = [(b"content-type", b"text/html"), (b"set-cookie", b"_ga=1; Path=/"),
                   (b"set-cookie", b"csrftoken=2"), (b"x-a", b"b"), (b"set-cookie", b"sid=3; HttpOnly")]
        result = drop_response_cookies(headers, RULES, frozenset({"identity"}), CookieScopes())
        assert result.headers == [(b"content-type", b"text/html"), (b"set-cookie", b"csrftoken=2"),
                                  (b"x-a", b"b"), (b"set-cookie", b"sid=3; HttpOnly")]
        assert result.dropped == ["_ga"]

    def test_omitted_names_go_in_the_same_pass(self) -> None:
        headers = [(b"connection", b"keep-alive"), (b"set-cookie", b"_ga=1"), (b"x-a", b"b"), (b"date", b"d"),
                   (b"set-cookie", b"sid=3")]
        result = drop_response_cookies(headers, RULES, frozenset({"identity"}), CookieScopes(),
                                       omit=frozenset({b"connection", b"date"}))
        assert result.headers == [(b"x-a", b"b"), (b"set-cookie", b"sid=3")] and result.dropped == ["_ga"]


class TestHeaderCache:
    """The parse and the filter are cached by the exact Cookie header(s): a cached answer must be the
    answer a fresh parse and filter give, for every header, grant and mode, and the caches stay bounded."""

    @given(st.lists(st.binary(max_size=80), min_size=1, max_size=3),
           st.lists(st.tuples(st.sets(st.sampled_from(["identity", "personalization"])), st.booleans()),
                    min_size=1, max_size=4))
    def test_cached_answers_equal_fresh_ones(self, values: list[bytes], asks: list[tuple[set[str], bool]]) -> None:
        rules = CookieRules(CONFIG)
        fresh_cookies = [c for v in values for c in parse_cookie_header(v)]
        for _ in range(2):  # the second round is answered from the caches
            cookies = parse_cookie_headers(values)
            assert cookies == fresh_cookies and cookies.key == tuple(values)
            for granted, everything in asks:
                got = strip_request_cookies(cookies, rules, frozenset(granted), everything=everything)
                want = strip_request_cookies(list(fresh_cookies), rules, frozenset(granted), everything=everything)
                assert got == want

    def test_the_grant_is_part_of_the_key(self) -> None:
        rules = CookieRules(CONFIG)
        cookies = parse_cookie_headers([b"sid=1; _ga=2"])
        assert strip_request_cookies(cookies, rules, frozenset()).cookie_header is None
        assert strip_request_cookies(cookies, rules, frozenset({"identity"})).cookie_header == b"sid=1"
        assert strip_request_cookies(cookies, rules, frozenset({"identity"}),
                                     everything=True).cookie_header == b"sid=1; _ga=2"

    def test_a_caller_changing_its_result_does_not_change_the_next(self) -> None:
        rules = CookieRules(CONFIG)
        first = strip_request_cookies(parse_cookie_headers([b"sid=1; _ga=2"]), rules, frozenset())
        first.stripped.clear()
        first.kept.append("x")
        again = strip_request_cookies(parse_cookie_headers([b"sid=1; _ga=2"]), rules, frozenset())
        assert [c.name for c in again.stripped] == ["sid", "_ga"] and again.kept == []

    def test_the_rules_are_part_of_the_answer(self) -> None:
        other = CookieRules(parse_config(config_text("http://127.0.0.1:1", __import__("pathlib").Path("/tmp/u.db"))
                                         .replace('cookies = ["sid"', 'cookies = ["zz", "sid"')))
        cookies = parse_cookie_headers([b"zz=1; sid=2"])
        assert strip_request_cookies(cookies, RULES, frozenset({"identity"})).cookie_header == b"sid=2"
        assert strip_request_cookies(cookies, other, frozenset({"identity"})).cookie_header == b"zz=1; sid=2"

    def test_caches_are_bounded(self) -> None:
        from gateway import cookies as module
        rules = CookieRules(CONFIG)
        for i in range(module.CACHED_HEADERS + 50):
            strip_request_cookies(parse_cookie_headers([b"v=%d" % i]), rules, frozenset())
        assert len(module._PARSED) == module.CACHED_HEADERS
        assert len(rules.strip_cache) == module.CACHED_HEADERS
        # the most recent stay, the oldest went
        assert (b"v=%d" % (module.CACHED_HEADERS + 49),) in module._PARSED and (b"v=0",) not in module._PARSED

    def test_an_entry_another_thread_evicts_costs_a_parse_not_an_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from collections import OrderedDict

        from gateway import cookies as module

        class Racing(OrderedDict[tuple[bytes, ...], tuple[module.RequestCookie, ...]]):
            """Another thread's gateway evicts the entry between the lookup and move_to_end."""

            def move_to_end(self, key: tuple[bytes, ...], last: bool = True) -> None:
                self.pop(key, None)
                raise KeyError(key)

        monkeypatch.setattr(module, "_PARSED", Racing())
        first = parse_cookie_headers([b"a=1; b=2"])
        again = parse_cookie_headers([b"a=1; b=2"])  # found, then gone: still answered
        assert [c.name for c in again] == [c.name for c in first] == ["a", "b"]

    def test_the_least_recently_used_goes_first(self) -> None:
        from gateway import cookies as module
        module._PARSED.clear()
        rules = CookieRules(CONFIG)
        for i in range(module.CACHED_HEADERS):
            strip_request_cookies(parse_cookie_headers([b"v=%d" % i]), rules, frozenset())
        strip_request_cookies(parse_cookie_headers([b"v=0"]), rules, frozenset())  # used again: now the newest
        for i in range(10):
            strip_request_cookies(parse_cookie_headers([b"w=%d" % i]), rules, frozenset())
        assert (b"v=0",) in module._PARSED and (b"v=1",) not in module._PARSED
        assert ((b"v=0",), frozenset(), False) in rules.strip_cache
        assert ((b"v=1",), frozenset(), False) not in rules.strip_cache

    def test_long_headers_are_not_cached(self) -> None:
        rules = CookieRules(CONFIG)
        value = b"sid=" + b"x" * MAX_CACHED_HEADER
        cookies = parse_cookie_headers([value])
        assert isinstance(cookies, CookieList) and cookies.key is None and [c.name for c in cookies] == ["sid"]
        assert strip_request_cookies(cookies, rules, frozenset({"identity"})).cookie_header == value
        assert not rules.strip_cache
        # the bound is the whole request's Cookie text, both ends
        assert parse_cookie_headers([b"sid=" + b"x" * (MAX_CACHED_HEADER - 7), b"a=1"]).key is not None
        assert parse_cookie_headers([b"sid=" + b"x" * (MAX_CACHED_HEADER - 6), b"a=1"]).key is None


class TestExpiry:
    def test_uses_learned_scope_and_default(self) -> None:
        scopes = CookieScopes()
        scopes.learn(parse_set_cookie(b"_ga=1; Path=/a; Domain=example.com"))
        got = [v for _, v in expiry_headers(["_ga", "_ga"], scopes, secure=True)]
        assert got == [b"_ga=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Secure",
                       b"_ga=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/a; Secure",
                       b"_ga=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/a; Domain=example.com; Secure"]

    def test_parent_domains_of_the_host(self) -> None:
        """Scripts set analytics cookies on the parent domain; the Cookie header does not say so."""
        got = [v.split(b"GMT; ")[1] for _, v in expiry_headers(["_gid"], CookieScopes(), secure=False,
                                                               host="www.shop.example:8443")]
        assert got == [b"Path=/", b"Path=/; Domain=shop.example", b"Path=/; Domain=www.shop.example"]
        for host in ("127.0.0.1:8080", "[::1]:80", "localhost", "", "x..y", "a.b\r\n.c"):
            assert [v.split(b"GMT; ")[1] for _, v in expiry_headers(["_gid"], CookieScopes(), secure=False,
                                                                    host=host)] == [b"Path=/"]

    @given(st.text(max_size=60))
    def test_hostile_hosts_never_reach_a_header(self, host: str) -> None:
        assert all(_HOSTNAME_SAFE.match(d) for d in cookie_domains(host))
        for _, value in expiry_headers(["_gid"], CookieScopes(), secure=True, host=host):
            assert all(0x20 <= b < 0x7f for b in value)

    def test_parents_are_bounded_and_keep_the_nearest_to_the_suffix(self) -> None:
        domains = cookie_domains("a.b.c.d.e.f.example.co.uk")
        assert domains[0] == "a.b.c.d.e.f.example.co.uk" and "example.co.uk" in domains and len(domains) == 5

    def test_parents_of_a_short_host_and_labels_that_are_numbers(self) -> None:
        assert cookie_domains("www.shop.example") == ("www.shop.example", "shop.example")
        # only a last label of digits makes an IPv4 address
        assert cookie_domains("www.42.example:8080") == ("www.42.example", "42.example")
        for host in ("shop.example:1:2", "[::1]:80", "::1", "10.0.0.1", "10.0.0.1:80"):
            assert cookie_domains(host) == (), host

    def test_expiries_are_set_cookie_fields_in_a_stable_order(self) -> None:
        got = expiry_headers(["_gid"], CookieScopes(), secure=False, host="www.1shop.example")
        assert {n for n, _ in got} == {b"set-cookie"}
        assert [v.split(b"GMT; ")[1] for _, v in got] == [  # no Domain first, then the domains in order
            b"Path=/", b"Path=/; Domain=1shop.example", b"Path=/; Domain=www.1shop.example"]

    def test_secure_prefix_gets_secure_on_plain_http(self) -> None:
        got = [v for _, v in expiry_headers(["__Secure-id"], CookieScopes(), secure=False)]
        assert got == [b"__Secure-id=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Secure"]

    def test_host_prefix_is_expired_at_path_root_without_domain_whatever_scope_was_learned(self) -> None:
        # a __Host- cookie exists only as Path=/ without Domain; a learned scope saying otherwise came
        # from a Set-Cookie the browser refused, and must not cost the one expiry that works
        scopes = CookieScopes()
        scopes.learn(parse_set_cookie(b"__Host-sid=1; Path=/a; Domain=shop.example"))
        got = [v for _, v in expiry_headers(["__Host-sid"], scopes, secure=False, host="www.shop.example")]
        assert got == [b"__Host-sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Secure"]
        plain = [v.split(b"GMT; ")[1] for _, v in expiry_headers(["__host-sid"], scopes, secure=False,
                                                                  host="www.shop.example")]
        assert len(plain) == 3  # the prefix is case-sensitive here: a lower-case one is a plain name

    def test_the_limit_counts_headers_and_every_cookie_left(self) -> None:
        scopes = CookieScopes()
        host = "www.shop.example"  # three expiries per name: Path=/ with no Domain and with two
        def run(names: list[str], limit: int) -> tuple[list[str], int]:
            headers, left = bounded_expiry_headers(names, scopes, secure=False, host=host, limit=limit)
            return sorted({v.split(b"=")[0].decode() for _, v in headers}), left
        assert run(["a", "a", "b", "c"], 0) == (["a", "b", "c"], 0)  # a name repeated counts once
        assert run(["a", "a", "b", "c"], 9) == (["a", "b", "c"], 0)  # an exact fit
        assert run(["a", "b", "c"], 8) == (["a", "b"], 1)
        assert run(["a", "b", "c", "d"], 4) == (["a"], 3)  # a name never splits: 3 + 3 > 4
        assert run(["a", "b", "c", "d"], 3) == (["a"], 3)  # full: each further name is counted
        assert run(["a", "b", "c", "a", "d"], 3) == (["a"], 3)
        # past the limit a name costs nothing, not even the look at whether it could be echoed
        assert run(["a", "b", "0\n"], 3) == (["a"], 2)
        headers, left = bounded_expiry_headers(["a", "b", "c"], scopes, secure=False, host="", limit=1)
        assert len(headers) == 1 and left == 2

    def test_host_prefix(self) -> None:
        got = [v for _, v in expiry_headers(["__Host-sid"], CookieScopes(), secure=False)]
        assert got == [b"__Host-sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Secure"]

    def test_a_trailing_newline_is_not_a_safe_name_or_host(self) -> None:
        assert expiry_headers(["0\n", "sid\r\n"], CookieScopes(), secure=False) == []
        assert cookie_domains("shop.example\n") == ()

    @given(st.text(max_size=40))
    def test_never_emits_unsafe_bytes(self, name: str) -> None:
        for _, value in expiry_headers([name], CookieScopes(), secure=False):
            assert all(0x20 <= b < 0x7f for b in value)
            assert b"\r" not in value and b"\n" not in value

    def test_scopes_are_shared_and_absorbed(self) -> None:
        a, b = CookieScopes(), CookieScopes()
        a.learn(parse_set_cookie(b"_ga=1; Path=/shop; Domain=.Example.com"))
        rows = a.unshared()
        assert rows == [("_ga", "/shop", "example.com")]
        a.shared(rows)
        assert a.unshared() == []
        b.learn(parse_set_cookie(b"sid=1; Path=/mine"))
        b.absorb(rows + [("sid", "/theirs", ""), ("x", "no-slash", "bad domain;"), ("", "/", "")])
        assert b.get("_ga") == ("/shop", "example.com")
        assert b.get("sid") == ("/mine", None)  # learned here and not shared yet: ours is newer
        assert b.get("x") == (None, None)  # re-validated: a table row is outside data
        assert b.unshared() == [("sid", "/mine", "")]

    def test_a_scope_learned_again_is_not_shared_again(self) -> None:
        scopes = CookieScopes()
        scopes.learn(parse_set_cookie(b"_ga=1; Path=/a"))
        scopes.shared(scopes.unshared())
        scopes.learn(parse_set_cookie(b"_ga=2; Path=/a"))
        assert scopes.unshared() == []
        scopes.learn(parse_set_cookie(b"_ga=2; Path=/b"))
        assert scopes.unshared() == [("_ga", "/b", "")]

    def test_tables_hold_exactly_their_limit(self) -> None:
        scopes = CookieScopes(limit=2)
        for name in ("a", "b", "c"):
            scopes.learn(parse_set_cookie(name.encode() + b"=1; Path=/" + name.encode()))
        assert len(scopes.unshared()) == 2
        assert (scopes.get("a"), scopes.get("b"), scopes.get("c")) == ((None, None), ("/b", None), ("/c", None))

    def test_absorb_validates_each_row_and_keeps_going(self) -> None:
        a = CookieScopes()
        a.learn(parse_set_cookie(b"mine=1; Path=/m"))
        a.learn(parse_set_cookie(b"bare=1"))
        assert a.unshared() == [("mine", "/m", ""), ("bare", "", "")]
        long = "n" * 300
        a.absorb([("mine", "/other", ""), ("", "/", ""), ("wide", "/\u8def", "\u4f8b.com"), (long, "/l", ""),
                  ("plain", "", ""), ("dom", "", "shop.example")])
        assert a.get("mine") == ("/m", None) and a.get("") == (None, None)
        assert a.get("wide") == ("/?", None)  # not latin-1: replaced, then validated as usual
        assert a.get(long[:256]) == ("/l", None)
        assert a.get("plain") == (None, None) and a.get("dom") == (None, "shop.example")

    def test_absorbing_a_known_scope_does_not_refresh_it(self) -> None:
        scopes = CookieScopes(limit=2)
        scopes.learn(parse_set_cookie(b"a=1; Path=/a"))
        scopes.learn(parse_set_cookie(b"b=1; Path=/b"))
        scopes.shared(scopes.unshared())
        scopes.absorb([("a", "/a", "")])  # nothing new: "a" stays the oldest
        scopes.learn(parse_set_cookie(b"c=1; Path=/c"))
        assert (scopes.get("a"), scopes.get("b")) == ((None, None), ("/b", None))

    def test_caches_of_visitor_input_hold_exactly_their_bound(self) -> None:
        from gateway import cookies

        for i in range(1100):
            parse_set_cookie(b"a=1; Path=/" + str(i).encode())
        for i in range(300):
            cookie_domains(f"h{i}.example")
        for i in range(4200):
            expiry_headers([f"n{i}"], CookieScopes(), secure=False)
            RULES.category_of(f"n{i}")
            RULES.label_of(f"n{i}")
        assert (len(cookies._SCOPE_CACHE), len(cookies._DOMAINS_CACHE), len(cookies._EXPIRY_CACHE),
                len(RULES._cache), len(RULES._labels)) == (1024, 256, 4096, 4096, 4096)
        assert parse_set_cookie(b"a=1; Path=/1099").path == "/1099" and cookie_domains("h299.example") != ()
        scopes = CookieScopes()
        for i in range(2100):
            scopes.learn(parse_set_cookie(f"c{i}=1; Path=/p".encode()))
        assert len(scopes.unshared()) == 2048
        assert scopes.get("c51") == (None, None) and scopes.get("c52") == ("/p", None)

    def test_scope_table_is_bounded(self) -> None:
        scopes = CookieScopes(limit=10)
        for i in range(100):
            scopes.learn(parse_set_cookie(f"c{i}=1; Path=/p".encode()))
        assert scopes.get("c0") == (None, None) and scopes.get("c99") == ("/p", None)
