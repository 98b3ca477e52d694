"""deploy/nginx.conf in front of two gateway instances sharing a PostgreSQL log, all real, on loopback.

The config is the shipped file with only its `# EDIT(name)` lines changed (ports, paths, names).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect

from gateway.demo.site import create_site
from gateway.testing.servers import RawServer, UvicornThread, free_port, wait_http

ROOT = Path(__file__).resolve().parents[2]
NGINX = "/usr/sbin/nginx"

GATEWAY_TOML = """
[gateway]
upstream = "{site}"
host = "127.0.0.1"
port = {port}
trusted_proxies = ["127.0.0.1"]

[consent]
secret_keys = ["deploy-test-secret-0123456789abcdef"]
policy_version = "2024-10"
default_locale = "en"
decisions_per_minute = 0  # the load below posts hundreds of decisions from one address

[log]
url = "{pg}"
chain_key = "deploy-test-chain-key-0123456789"
instance_id = "{instance}"
spool_dir = "{spool}"

[cookies]
necessary = ["csrftoken"]

[[categories]]
id = "identity"
cookies = ["sid", "remember_*"]

[[categories]]
id = "personalization"
cookies = ["_ga", "_ga_*", "Hm_lvt_*"]
scripts = ["/static/demo-tracker.js"]
"""


def render_nginx(values: dict[str, str]) -> str:
    """Replace the value of each `# EDIT(name)` line, and nothing else."""
    out = []
    used = set()
    for line in (ROOT / "deploy" / "nginx.conf").read_text().splitlines():
        m = re.match(r"^(\s*)([a-z_]+)\s+(.*?);(\s*)# EDIT\((\w+)\)", line)
        if m and m.group(5) in values:
            indent, directive, _, _, name = m.groups()
            used.add(name)
            value = values[name]
            line = f"{indent}{directive} {value};" if value else f"{indent}# {directive} (disabled in test)"
        elif m:
            raise AssertionError(f"no test value for EDIT({m.group(5)})")
        out.append(line)
    assert used == set(values), set(values) - used
    return "\n".join(out) + "\n"


def start_nginx(tmp_path: Path, upstreams: tuple[str, str]) -> tuple[subprocess.Popen[bytes], dict[str, int], str]:
    """The shipped nginx.conf, its EDIT lines pointed at `upstreams` (host:port) on loopback."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
                   check=True, capture_output=True, timeout=60)
    os.chmod(tmp_path, 0o755)
    https, http = free_port(), free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx({
        "pid": str(tmp_path / "nginx.pid"), "error_log": f"{tmp_path}/error.log warn",
        "access_log": f"{tmp_path}/access.log consent_privacy",
        "gateway_1": f"{upstreams[0]} max_fails=1 fail_timeout=5s",
        "gateway_2": f"{upstreams[1]} max_fails=1 fail_timeout=5s",
        "http_listen": f"127.0.0.1:{http}", "http_listen_v6": "", "server_name": "localhost",
        "https_listen": f"127.0.0.1:{https} ssl http2", "https_listen_v6": "", "server_name_tls": "localhost",
        "ssl_certificate": str(tmp_path / "cert.pem"), "ssl_certificate_key": str(tmp_path / "key.pem"),
    }))
    test = subprocess.run([NGINX, "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True)
    nginx = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"])
    return nginx, {"https": https, "http": http}, test.stderr if test.returncode else ""


@pytest.fixture
def deployment(tmp_path: Path, pg_url: str) -> Iterator[dict[str, object]]:
    site = UvicornThread(create_site()).start()
    g1, g2 = free_port(), free_port()
    exe = Path(sys.executable).with_name("consent-gateway")
    gateways: dict[str, subprocess.Popen[bytes]] = {}
    configs = {}
    for name, port in (("a", g1), ("b", g2)):
        cfg = tmp_path / f"gateway-{name}.toml"
        cfg.write_text(GATEWAY_TOML.format(site=site.url, port=port, pg=pg_url, instance=f"inst-{name}",
                                           spool=tmp_path / f"spool-{name}"))
        configs[name] = cfg
        log = open(tmp_path / f"gateway-{name}.log", "wb")  # noqa: SIM115 - closed with the process
        gateways[name] = subprocess.Popen([str(exe), "serve", "--config", str(cfg)], stderr=log)
    nginx, ports, nginx_t = start_nginx(tmp_path, (f"127.0.0.1:{g1}", f"127.0.0.1:{g2}"))
    try:
        for port in (g1, g2):
            wait_http(f"http://127.0.0.1:{port}/_consent/health")
        wait_http(f"https://127.0.0.1:{ports['https']}/_consent/health")
        yield {**ports, "ports": {"a": g1, "b": g2}, "gateways": gateways, "configs": configs,
               "nginx_t": nginx_t, "tmp": tmp_path, "pg": pg_url, "exe": exe}
    finally:
        nginx.terminate()
        nginx.wait(10)
        for p in gateways.values():
            if p.poll() is None:
                p.terminate()
                p.wait(30)
        site.stop()


def _client(d: dict[str, object]) -> httpx.Client:
    return httpx.Client(base_url=f"https://127.0.0.1:{d['https']}", verify=False, timeout=10)  # noqa: S501


def _decide(c: httpx.Client, origin: str) -> httpx.Response:
    return c.post("/_consent", data={"action": "save", "categories": "identity"},
                  headers={"Origin": origin, "Accept": "application/json"})


def _stored_ids(pg: str) -> tuple[set[str], set[str]]:
    async def q() -> tuple[set[str], set[str]]:
        conn = await asyncpg.connect(pg)
        try:
            rows = await conn.fetch("SELECT consent_id, chain_id FROM consent_log")
            return {r[0] for r in rows}, {r[1] for r in rows}
        finally:
            await conn.close()

    return asyncio.run(q())


def test_deployment(deployment: dict[str, object]) -> None:
    d = deployment
    assert d["nginx_t"] == "", d["nginx_t"]
    origin = f"https://127.0.0.1:{d['https']}"
    ports: dict[str, int] = d["ports"]  # type: ignore[assignment]

    # HTTP moves to HTTPS
    r = httpx.get(f"http://127.0.0.1:{d['http']}/products?x=1", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == "https://127.0.0.1/products?x=1"

    # A decision through nginx (instance A or B), honoured by both instances
    with _client(d) as c:
        r = _decide(c, origin)
        assert r.status_code == 200, r.text
        cookie = r.headers["set-cookie"]
        # the gateway saw https through X-Forwarded-Proto: Secure, and the __Host- name
        assert cookie.startswith("__Host-consent_gateway=") and "Secure" in cookie and "Domain" not in cookie
        consent = c.cookies["__Host-consent_gateway"]
    for name, port in ports.items():  # each instance directly, as nginx reaches it
        state = httpx.get(f"http://127.0.0.1:{port}/_consent", headers={
            "Cookie": f"__Host-consent_gateway={consent}", "X-Forwarded-Proto": "https"}).json()
        assert state["categories"] == {"identity": True, "personalization": False}, name

    # Round-robin puts decisions on both instances; one log, one chain each, verified
    with _client(d) as c:
        for _ in range(10):
            assert _decide(c, origin).status_code == 200
    with _client(d) as c:  # a new visitor
        page = c.get("/", headers={"Accept-Encoding": "gzip"})
        assert page.headers.get("content-encoding") == "gzip"  # nginx compresses the rewritten HTML
        assert 'id="consent-banner"' in page.text and "private" in page.headers["cache-control"]
    _, chains = _stored_ids(d["pg"])  # type: ignore[arg-type]
    assert chains == {"inst-a-0", "inst-b-0"}
    verify = subprocess.run([str(d["exe"]), "log", "verify", "--config", str(d["configs"]["a"])],  # type: ignore[index]
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0 and "2 chain(s)" in verify.stdout, verify.stderr

    # The access log has no query strings and no full client address
    access = (d["tmp"] / "access.log").read_text()  # type: ignore[operator]
    assert "/products" in access and "x=1" not in access and "127.0.0.1 " not in access
    assert "127.0.0.0/24" in access
    # The gateways' own logs are JSON lines without addresses or secrets
    for name in ("a", "b"):
        for line in (d["tmp"] / f"gateway-{name}.log").read_text().splitlines():  # type: ignore[operator]
            json.loads(line)
            assert "127.0.0.1:" not in line or "Uvicorn running" in line
            assert "deploy-test-secret" not in line


def test_websocket_through_nginx(deployment: dict[str, object]) -> None:
    d = deployment
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    async def run() -> tuple[dict[str, str], str]:
        async with connect(f"wss://127.0.0.1:{d['https']}/ws", ssl=ctx, proxy=None,
                           additional_headers={"Cookie": "sid=1; _ga=2"}) as ws:
            hello = json.loads(await ws.recv())
            await ws.send("through nginx")
            return hello, str(await ws.recv())

    hello, echo = asyncio.run(run())
    assert echo == "through nginx"
    assert hello["cookie"] == "" and hello["categories"] == ""  # no consent: both cookies stripped


def test_killing_one_instance_mid_load_loses_nothing(deployment: dict[str, object]) -> None:
    d = deployment
    origin = f"https://127.0.0.1:{d['https']}"
    failures: list[str] = []
    acked: list[str] = []
    gets = 0
    stop = threading.Event()

    def load() -> None:
        nonlocal gets
        with _client(d) as c:
            while not stop.is_set():
                try:
                    r = c.get("/products")  # idempotent: nginx retries it on the other instance
                    gets += 1
                    if r.status_code != 200:
                        failures.append(f"GET {r.status_code}")
                except httpx.HTTPError as e:
                    failures.append(f"GET {e!r}")
                try:
                    r = _decide(c, origin)
                except httpx.HTTPError:
                    continue  # a POST in flight on the killed instance: not acknowledged, not retried
                if r.status_code == 200:
                    acked.append(r.json()["consent_id"])

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(2)
    d["gateways"]["b"].send_signal(signal.SIGKILL)  # type: ignore[index]
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(15)
    assert gets > 50 and len(acked) > 50
    assert failures == [], failures[:5]
    stored, _ = _stored_ids(d["pg"])  # type: ignore[arg-type]
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged decisions missing"


def test_a_post_lost_with_its_instance_does_not_cost_the_next_request(tmp_path: Path) -> None:
    """The cause of a once-flaky kill test: with `proxy_request_buffering off`, nginx forwards a POST's
    head before it has read the body; when the instance dies then, nginx answers 502 *with*
    `Connection: keep-alive` and closes the connection anyway, swallowing the visitor's next request
    ("Server disconnected without sending a response"). The shipped config buffers request bodies."""

    def instance_that_dies_on_post(conn: socket.socket, head: bytes) -> None:
        if not head.startswith(b"POST"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        # a POST: the process is gone before it answers (the connection closes, body unread)

    dying = [RawServer(instance_that_dies_on_post) for _ in range(2)]
    nginx, ports, nginx_t = start_nginx(tmp_path, tuple(f"127.0.0.1:{s.port}" for s in dying))  # type: ignore[arg-type]
    try:
        assert nginx_t == "", nginx_t
        wait_http(f"https://127.0.0.1:{ports['https']}/")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", ports["https"]), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost") as c:
            body = b"action=save&categories=identity"
            c.sendall(b"POST /_consent HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded"
                      b"\r\nContent-Length: %d\r\n\r\n" % len(body))
            time.sleep(0.3)  # the body follows the head a moment later, as it does on a real network
            c.sendall(body)
            first = _read_response(c)
            assert first.startswith(b"HTTP/1.1 502"), first[:80]
            assert b"connection: close" not in first.lower()  # nginx says the connection lives on...
            c.sendall(b"GET /products HTTP/1.1\r\nHost: localhost\r\n\r\n")
            second = _read_response(c)
            assert second.startswith(b"HTTP/1.1 200"), second[:80]  # ...so it must answer on it
    finally:
        nginx.terminate()
        nginx.wait(10)
        for s in dying:
            s.close()


def _read_response(c: ssl.SSLSocket) -> bytes:
    """One response with a Content-Length body, or whatever came before the connection closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(rest) < length:
        chunk = c.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest
