"""A hostile re-test of the dashboard sign-in through a real gateway: what an attacker tries against
the form, the session cookie, the lockout and the logs. The first three tests guard findings that
were fixed; the others pin down what already held."""

from __future__ import annotations

import base64
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from itsdangerous import TimestampSigner

from gateway.adminsession import COOKIE, AdminSessions
from gateway.config import AdminSettings
from gateway.testing.servers import UvicornThread
from tests.conftest import SECRET, RunningGateway
from tests.hostile.rawclient import served

TOKEN = "the-right-admin-token-0123456789"
USER, PASSWORD = "ops-person", "right-password-0123"
ADMIN = f'\n[admin]\nenabled = true\ntoken = "{TOKEN}"\nusername = "{USER}"\npassword = "{PASSWORD}"\n' \
        "max_failures = 3\n"
BEHIND_PROXY = 'trusted_proxies = ["127.0.0.1/32"]'  # the test client plays the proxy


def sign_in(gw: RunningGateway, c: httpx.Client, data: dict[str, str], **headers: str) -> httpx.Response:
    return c.post("/_consent/admin/login", data=data, headers={"Origin": gw.origin, **headers})


def admin_lines(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("consent_gateway", "uvicorn")))


# --- findings ------------------------------------------------------------------------------------

def test_a_credential_without_its_scheme_is_not_logged(make_gateway: Callable[..., RunningGateway],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """A script that sends the bare token (no "Bearer ") was refused and the first 16 characters of
    the header were logged as the "scheme": the right token's first half, or a bare password."""
    gw = make_gateway(extra=ADMIN)
    with caplog.at_level(logging.INFO, "consent_gateway"), gw.client() as c:
        for value in (TOKEN, f"{USER}:{PASSWORD}", f"{PASSWORD}-guessed more"):
            assert c.get("/_consent/metrics", headers={"Authorization": value}).status_code == 401
    lines = admin_lines(caplog)
    assert lines.count("admin credential refused: other from 127.0.0.0/24") == 3
    for secret in (TOKEN[:8], USER, PASSWORD[:8]):
        assert secret not in lines.lower()


def test_rotating_ipv6_64s_inside_one_48_does_not_escape_the_lockout(
        make_gateway: Callable[..., RunningGateway]) -> None:
    """Each /64 had its own budget, and anyone can get a /48 (65,536 of them) from a tunnel broker:
    655,360 guesses a minute at the default max_failures. The /48 is now locked too, after four
    times max_failures; other networks are not."""
    gw = make_gateway(extra=ADMIN, gateway=BEHIND_PROXY)
    with gw.client() as c:
        for n in range(40):
            for _ in range(3):
                forwarded = {"X-Forwarded-For": f"2001:db8:77:{n:x}::1"}
                sign_in(gw, c, {"username": USER, "password": f"guess-{n}"}, **forwarded)
        # the 12th wrong guess from the /48 locks it (4 × max_failures); after that nothing is checked
        assert gw.app.metrics.tallies["admin_failures"]["refused"] == 12
        fresh = sign_in(gw, c, {"username": USER, "password": PASSWORD}, **{"X-Forwarded-For": "2001:db8:77:ffff::9"})
        assert fresh.status_code == 429 and "set-cookie" not in fresh.headers
        # a different /48 is not locked
        other = sign_in(gw, c, {"username": USER, "password": PASSWORD}, **{"X-Forwarded-For": "2001:db8:78::1"})
        assert other.status_code == 303 and COOKIE in other.headers["set-cookie"]


def test_forged_session_cookies_count_as_wrong_credentials(make_gateway: Callable[..., RunningGateway]) -> None:
    """The session is signed with the consent keys under a salt that carries the credential's digest.
    Whoever knows a consent key (the shipped development key behind a proxy on loopback, say) can sign
    a cookie per password guess, and a cookie that failed its signature was never counted: unlimited
    guessing, no lockout. Now it counts like a wrong header, and while locked no cookie is checked."""
    gw = make_gateway(extra=f'\n[admin]\nenabled = true\nusername = "{USER}"\npassword = "{PASSWORD}"\n'
                            "max_failures = 3\n")

    def forged(password: str) -> str:
        guess = AdminSettings(enabled=True, username=USER, password=password)
        return AdminSessions(guess, (SECRET,), 3600).issue()

    class LastWeek(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 7 * 86400

    ours = AdminSessions(AdminSettings(enabled=True, username=USER, password=PASSWORD), (SECRET,), 3600)
    ours._serializer.signer = LastWeek  # noqa: SLF001 - a genuine cookie from a browser left open
    with gw.client() as c:
        for stale in (ours.issue(), ""):  # expired, or what signing out leaves: a prompt, not a guess
            assert c.get("/_consent/admin", headers={"Cookie": f"{COOKIE}={stale}"}).status_code == 401
        assert gw.app.metrics.tallies["admin_failures"]["refused"] == 0
        codes = [c.get("/_consent/admin", headers={"Cookie": f"{COOKIE}={forged(f'guess-{i}-000000')}"}).status_code
                 for i in range(4)]
        assert codes == [401, 401, 401, 429]
        assert c.get("/_consent/admin", headers={"Cookie": f"{COOKIE}={forged(PASSWORD)}"}).status_code == 429
    assert gw.app.metrics.tallies["admin_failures"]["refused"] == 3


# --- what held: regression guards ------------------------------------------------------------------

def test_forged_forwarded_for_does_not_escape_the_lockout(make_gateway: Callable[..., RunningGateway]) -> None:
    direct = make_gateway(extra=ADMIN)  # no trusted proxy: X-Forwarded-For is the client's to forge
    with direct.client() as c:
        codes = [sign_in(direct, c, {"token": f"guess-{i}"}, **{"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                 for i in range(5)]
        assert codes == [403, 403, 429, 429, 429]
    proxied = make_gateway(extra=ADMIN, gateway=BEHIND_PROXY)
    with proxied.client() as c:  # the proxy appends the real client; the part to its left is forged
        codes = [sign_in(proxied, c, {"token": f"guess-{i}"},
                         **{"X-Forwarded-For": f"198.51.100.{i}, 203.0.113.7"}).status_code for i in range(5)]
        assert codes == [403, 403, 429, 429, 429]
        other = sign_in(proxied, c, {"token": TOKEN}, **{"X-Forwarded-For": "198.51.100.1, 203.0.113.8"})
        assert other.status_code == 303  # the next real client is not locked


def test_the_secure_flag_follows_only_a_trusted_proxys_proto(make_gateway: Callable[..., RunningGateway]) -> None:
    for gateway, expect_secure in (("", False), (BEHIND_PROXY, True)):
        gw = make_gateway(extra=ADMIN, gateway=gateway)
        own = ("https://" if expect_secure else "http://") + gw.url.split("://", 1)[1]
        with gw.client() as c:
            r = sign_in(gw, c, {"token": TOKEN}, Origin=own, **{"X-Forwarded-Proto": "https"})
            assert r.status_code == 303
            attrs = r.headers["set-cookie"].split("; ")
            assert ("Secure" in attrs) is expect_secure
            assert {"Path=/_consent/admin", "HttpOnly", "SameSite=Strict"} <= set(attrs)


def test_signed_values_of_the_gateway_do_not_cross(make_gateway: Callable[..., RunningGateway]) -> None:
    """The consent cookie and the admin session are signed with the same keys under other salts:
    neither is accepted as the other (a consent cookie in the admin cookie's place is one wrong
    credential)."""
    gw = make_gateway(extra=ADMIN)
    with gw.client() as visitor, gw.client() as c:
        gw.decide(visitor, "accept_all", ("personalization",))
        consent = visitor.cookies.get("consent_gateway")
        assert consent
        assert c.get("/_consent/admin", headers={"Cookie": f"{COOKIE}={consent}"}).status_code == 401
        admin = sign_in(gw, c, {"token": TOKEN}).headers["set-cookie"].split(";")[0].split("=", 1)[1]
        state = c.get("/_consent", headers={"Cookie": f"consent_gateway={admin}"}).json()
        assert state["decided"] is False and state["consent_id"] is None
    assert gw.app.metrics.tallies["admin_failures"]["refused"] == 1


@pytest.mark.parametrize("target", [
    "/_consent/admin?x=\r\nSet-Cookie: a=b", "/_consent/admin/\u2028x", "/_consent/admin/\u0085x",
    "/_consent/admin/\uff0f\uff0fevil.example", "/_consent/admin/%0d%0aSet-Cookie:%20a=b",
    "/_consent/admin/..%2f..%2fevil", "%2F%2Fevil.example", "/_consent/admin@evil.example",
    "/_consent/admin/\\evil", "/_consent/admin/\x00",
])
def test_hostile_next_over_a_raw_socket(make_gateway: Callable[..., RunningGateway], target: str) -> None:
    """What a browser would follow, read from the raw response head: one ASCII Location on this site
    under the dashboard, and no header the attacker wrote."""
    gw = make_gateway(extra=ADMIN)
    body = httpx.QueryParams({"token": TOKEN, "next": target}).__str__().encode()
    head = (f"POST /_consent/admin/login HTTP/1.1\r\nHost: 127.0.0.1:{gw.server.port}\r\nOrigin: {gw.origin}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", gw.server.port), timeout=10) as s:
        s.sendall(head + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    lines = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 303 See Other"
    locations = [line for line in lines if line.lower().startswith(b"location:")]
    assert len(locations) == 1 and locations[0].isascii()
    where = locations[0].split(b":", 1)[1].strip()
    assert where == b"/_consent/admin" or where.startswith((b"/_consent/admin/", b"/_consent/admin?"))
    assert b"//" not in where
    assert sum(line.lower().startswith(b"set-cookie:") for line in lines) == 1


def test_every_answer_is_no_store_and_bodies_are_bounded(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(extra=ADMIN)
    page = {"Accept": "text/html", "Sec-Fetch-Mode": "navigate"}
    with gw.client() as c:
        answers = [c.get("/_consent/admin/login"), c.get("/_consent/admin"), c.get("/_consent/admin", headers=page),
                   sign_in(gw, c, {"token": "wrong-one"}), c.post("/_consent/admin/login", data={"token": TOKEN}),
                   sign_in(gw, c, {"token": "x" * 5000}), sign_in(gw, c, {"token": TOKEN}),
                   c.get("/_consent/admin?from=<script>", headers={"Authorization": f"Bearer {TOKEN}"})]
        assert [r.status_code for r in answers] == [200, 401, 303, 403, 403, 413, 303, 400]
        assert all(r.headers["cache-control"] == "no-store" for r in answers)
        assert answers[-1].headers["content-type"].startswith("text/plain") and "<script>" not in answers[-1].text
        for kind in ("application/json", "text/plain", "multipart/form-data; boundary=x"):
            r = c.post("/_consent/admin/login", content=f"token={TOKEN}",
                       headers={"Origin": gw.origin, "Content-Type": kind})
            assert r.status_code == 415 and "set-cookie" not in r.headers
        chunked = c.post("/_consent/admin/login", content=iter([b"token=" + b"a" * 1000] * 10),
                         headers={"Origin": gw.origin})
        assert chunked.status_code == 413


def test_the_served_log_names_no_credential_user_or_address(tmp_path: Path, site: UvicornThread) -> None:
    """`consent-gateway serve` as operators run it (its JSON log config, uvicorn's loggers): every
    way of signing in, right and wrong, leaves no value, username, full address or query behind."""
    with served(tmp_path, site.url, extra=ADMIN.replace("max_failures = 3", "max_failures = 50")) as gw:
        transport = httpx.HTTPTransport(local_address="127.0.0.5")
        with httpx.Client(base_url=gw.url, transport=transport, timeout=10) as c:
            form = {"Origin": gw.url}
            assert c.post("/_consent/admin/login", data={"username": USER, "password": "guess-pw-1"},
                          headers=form).status_code == 403
            assert c.post("/_consent/admin/login", data={"token": "guess-token-1"}, headers=form).status_code == 403
            basic = base64.b64encode(f"{USER}:guess-pw-2".encode()).decode()
            assert c.get("/_consent/metrics", headers={"Authorization": f"Basic {basic}"}).status_code == 401
            assert c.get("/_consent/metrics", headers={"Authorization": TOKEN}).status_code == 401
            r = c.post("/_consent/admin/login", data={"username": USER, "password": PASSWORD,
                                                      "next": "/_consent/admin?range=1y"}, headers=form)
            assert r.status_code == 303
            assert c.get("/_consent/admin?range=1y&lang=en").status_code == 200
            assert c.post("/_consent/admin/logout", headers=form).status_code == 303
    text = gw.log.read_text()
    assert text.count("admin credential refused") == 4 and "admin signed in with the form (password)" in text
    assert '"client": "127.0.0.0/24"' in text or '"client":"127.0.0.0/24"' in text  # access lines are there
    for secret in (TOKEN, TOKEN[:8], USER, PASSWORD, "guess-", "127.0.0.5", "range=1y", basic):
        assert secret not in text, secret
