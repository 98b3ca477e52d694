from __future__ import annotations

from pathlib import Path

from gateway.config import parse_config
from gateway.forwarded import ForwardedResolver, hop_address, truncate_ip
from tests.conftest import config_text


def resolver(gateway: str = "") -> ForwardedResolver:
    config = parse_config(config_text("http://127.0.0.1:1", Path("/tmp/u.db"), gateway=gateway))
    return ForwardedResolver(config.gateway)


def scope(peer: str, scheme: str = "http") -> dict[str, object]:
    return {"client": (peer, 1234), "scheme": scheme}


def test_untrusted_peer_cannot_forge() -> None:
    info = resolver().resolve(scope("10.1.2.3"), {b"host": b"example.com", b"x-forwarded-for": b"1.1.1.1",
                                                  b"x-forwarded-proto": b"https", b"x-forwarded-host": b"evil"})
    assert (info.ip, info.scheme, info.host, info.trusted_peer) == ("10.1.2.3", "http", "example.com", False)


def test_trusted_proxy_chain() -> None:
    r = resolver('trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]')
    info = r.resolve(scope("127.0.0.1"), {b"host": b"internal:8080",
                                          b"x-forwarded-for": b"6.6.6.6, 203.0.113.9, 10.0.0.5",
                                          b"x-forwarded-proto": b"https", b"x-forwarded-host": b"WWW.Example.com"})
    assert (info.ip, info.scheme, info.host) == ("203.0.113.9", "https", "www.example.com")
    assert r.own_origin(info) == "https://www.example.com"


def test_private_client_behind_a_trusted_proxy_is_the_client() -> None:
    # 10.9.9.9 is private but not one of our proxies: it is the client, whatever ipaddress calls it
    r = resolver('trusted_proxies = ["127.0.0.1", "10.0.0.0/24"]')
    info = r.resolve(scope("127.0.0.1"), {b"host": b"shop", b"x-forwarded-for": b"6.6.6.6, 10.9.9.9, 10.0.0.5"})
    assert info.ip == "10.9.9.9" and info.trusted_peer
    assert r.is_trusted("10.0.0.200") and not r.is_trusted("10.9.9.9") and not r.is_trusted("garbage")
    # every hop ours: the leftmost is the best we know
    assert r.resolve(scope("127.0.0.1"), {b"x-forwarded-for": b"10.0.0.7, 10.0.0.5"}).ip == "10.0.0.7"
    # a hop that is not an address: the chain is broken there, the peer is all we can vouch for
    assert r.resolve(scope("127.0.0.1"), {b"x-forwarded-for": b"10.9.9.9, junk, 10.0.0.5"}).ip == "127.0.0.1"
    assert r.resolve(scope("127.0.0.1"), {b"x-forwarded-for": b" , "}).ip == "127.0.0.1"


def test_hops_with_a_port_name_the_client() -> None:
    # Azure Application Gateway writes "client:port"; without this every visitor behind it was the
    # proxy's own address (one shared lockout and rate-limit bucket)
    r = resolver('trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]')
    assert r.resolve(scope("127.0.0.1"), {b"x-forwarded-for": b"203.0.113.9:50312"}).ip == "203.0.113.9"
    assert r.resolve(scope("127.0.0.1"), {b"x-forwarded-for": b"[2001:db8::1]:443, 10.0.0.5:80"}).ip == "2001:db8::1"
    assert r.resolve(scope("127.0.0.1"), {b"x-forwarded-for": b"6.6.6.6, 10.0.0.5:1"}).ip == "6.6.6.6"


def test_hop_address_forms() -> None:
    assert hop_address("203.0.113.9") == "203.0.113.9"
    assert hop_address("203.0.113.9:8080") == "203.0.113.9"
    assert hop_address("2001:db8::1") == "2001:db8::1"
    assert hop_address("[2001:DB8::1]") == "2001:db8::1"
    assert hop_address("[2001:db8::1]:443") == "2001:db8::1"
    assert hop_address("fe80::1%eth0") is None and hop_address("[fe80::1%25x]:80") is None
    for bad in ("203.0.113.9:", "203.0.113.9:x", "203.0.113.9:\u0661", "[2001:db8::1", "[2001:db8::1]x",
                "[2001:db8::1]:", "[2001:db8::1]:x443", "[2001:db8::1]:\u0661443",
                "[203.0.113.9]:1:2", "host:80", "unknown", "", "1" * 65, "[::1]:443" + "0" * 60):
        assert hop_address(bad) is None, bad


def test_bad_values_are_ignored() -> None:
    r = resolver('trusted_proxies = ["127.0.0.1"]')
    info = r.resolve(scope("127.0.0.1"), {b"host": b"a b", b"x-forwarded-proto": b"gopher",
                                          b"x-forwarded-for": b"not-an-ip"})
    assert (info.ip, info.scheme, info.host) == ("127.0.0.1", "http", "")
    assert r.own_origin(info) is None  # no usable host: POSTs are refused


def test_public_origin_wins() -> None:
    r = resolver('public_origin = "https://www.example.com/"')
    assert r.own_origin(r.resolve(scope("1.2.3.4"), {b"host": b"other"})) == "https://www.example.com"


def test_truncate_ip() -> None:
    assert truncate_ip("203.0.113.77") == "203.0.113.0/24"
    assert truncate_ip("2001:db8:abcd:1234::1") == "2001:db8:abcd::/48"
    assert truncate_ip("::ffff:203.0.113.77") == "203.0.113.0/24"
    assert truncate_ip("garbage") == ""


def test_scheme_as_the_browser_sees_it() -> None:
    r = resolver()
    for sent, seen in (("http", "http"), ("https", "https"), ("ws", "http"), ("wss", "https")):
        assert r.resolve(scope("1.2.3.4", sent), {b"host": b"a.example"}).scheme == seen
    bare = r.resolve({"client": ("1.2.3.4", 1)}, {})  # no scheme in the scope, no Host header
    assert (bare.scheme, bare.host, r.own_origin(bare)) == ("http", "", None)
    none = r.resolve({}, {b"host": b" A.Example:8080 "})
    assert (none.ip, none.host, none.trusted_peer) == ("", "a.example:8080", False)
    assert none.origin == "http://a.example:8080"


def test_trusted_proxy_headers_take_their_first_value() -> None:
    r = resolver('trusted_proxies = ["127.0.0.1"]')
    info = r.resolve(scope("127.0.0.1"), {b"host": b"internal", b"x-forwarded-proto": b" HTTPS , http",
                                          b"x-forwarded-host": b" Shop.Example , evil.example"})
    assert (info.scheme, info.host, info.trusted_peer) == ("https", "shop.example", True)
    assert info.origin == "https://shop.example"
    assert r.resolve(scope("127.0.0.1"), {b"host": b"h", b"x-forwarded-proto": b"https,http"}).scheme == "https"
    unix = r.resolve({"client": ("/run/gw.sock", 0)}, {b"host": b"h", b"x-forwarded-for": b"6.6.6.6"})
    assert unix.trusted_peer is False and unix.ip == "/run/gw.sock" and r.is_trusted("garbage") is False
    info = r.resolve(scope("127.0.0.1", "https"), {b"host": b"h", b"x-forwarded-proto": b"http"})
    assert info.scheme == "http"  # the proxy speaks for the browser, downgrades included
    for host in (b"evil.example/x", b"a b", b"x" * 300, b"[::1]:80", b"ex\xe4mple.com"):
        got = r.resolve(scope("127.0.0.1"), {b"host": b"h", b"x-forwarded-host": host}).host
        assert got == ("[::1]:80" if host == b"[::1]:80" else "")
    assert not resolver().is_trusted("127.0.0.1")  # no trusted proxies configured


def test_secure_follows_the_public_origin_or_the_scheme() -> None:
    http_info = resolver().resolve(scope("1.2.3.4"), {b"host": b"a"})
    https_info = resolver().resolve(scope("1.2.3.4", "https"), {b"host": b"a"})
    assert not resolver().secure(http_info) and resolver().secure(https_info)
    assert resolver('public_origin = "https://shop.example"').secure(http_info)
    assert not resolver('public_origin = "http://shop.example"').secure(http_info)
    assert resolver().own_origin(http_info) == "http://a"


def test_forwarded_for_keeps_a_chain_only_from_our_proxies() -> None:
    from gateway.forwarded import ClientInfo, forwarded_for

    ours, stranger = ClientInfo("1.1.1.1", "http", "a", True), ClientInfo("1.1.1.1", "http", "a", False)
    assert forwarded_for(ours, "10.0.0.5", b"1.1.1.1, 10.0.0.9") == b"1.1.1.1, 10.0.0.9, 10.0.0.5"
    assert forwarded_for(stranger, "10.0.0.5", b"6.6.6.6") == b"10.0.0.5"
    assert forwarded_for(ours, "10.0.0.5", None) == b"10.0.0.5"
    assert forwarded_for(ours, "10.0.0.5", b"") == b"10.0.0.5"
    assert forwarded_for(stranger, "h\u00e9", None) == b"h?"


def test_truncate_ip_edges() -> None:
    assert truncate_ip("10.9.9.9") == "10.9.9.0/24"
    assert truncate_ip("::1") == "::/48"
    assert truncate_ip("::ffff:10.1.2.3") == "10.1.2.0/24"
    assert truncate_ip("") == ""


def test_tables_filled_by_visitors_hold_exactly_their_bound() -> None:
    # X-Forwarded-For hops and Host values are the visitor's: the memos of them are bounded
    r = resolver('trusted_proxies = ["127.0.0.1"]')
    for i in range(1100):
        assert r.is_trusted(f"10.{i // 256}.{i % 256}.1") is False
    assert len(r._trust_cache) == 1024
    for i in range(300):
        assert r.resolve(scope("1.2.3.4"), {b"host": f"h{i}.example".encode()}).host == f"h{i}.example"
    assert len(r._good_hosts) == 256
    assert r.is_trusted("127.0.0.1") and r.resolve(scope("1.2.3.4"), {b"host": b"h299.example"}).host == "h299.example"
