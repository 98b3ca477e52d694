"""Proxy throughput: nginx direct, nginx proxy_pass, and the gateway, in one run, side by side.

A 12 KB HTML page with a tracker tag, served by nginx with two Set-Cookie headers; wrk sends
cookies of both categories. The gateway's visitor has not consented, so it strips cookies,
drops Set-Cookie, neutralises the tag and injects the banner on every request.

The gateway runs twice, side by side: with the built-in tracker catalog (the default: hundreds of
cookie and URL patterns) and with `[catalog] enabled = false`; the ratio is the catalog's cost.

The proxy under test is pinned to CPU 0; wrk and the origin nginx share CPU 1. The machine is
shared and noisy: each configuration runs --rounds times, interleaved, and the median is quoted.

Then, at one connection (wrk -c1), the latency table: the origin alone, nginx proxy_pass and the
gateway, their median latency and what each proxy adds to the origin's; the goal is the gateway
adding at most 5x what nginx adds. `--workers N` (N > 1) adds a gateway with N uvicorn workers,
on CPUs 0-(N-1) (so it shares CPU 1 with wrk and the origin). Last, the gateway's CPU per request
split by stage, in process (bench/stages.py).

    python bench/proxy_bench.py [--seconds 8] [--rounds 3] [--connections 64] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def page_12k() -> bytes:
    head = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Bench page</title>'
            '<link rel="stylesheet" href="/site.css">'
            '<script async src="https://www.googletagmanager.com/gtag/js?id=G-BENCH"></script>'
            "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
            "gtag('js',new Date());gtag('config','G-BENCH');</script></head><body><header><nav>")
    nav = "".join(f'<a href="/section/{i}" class="nav-link">Section {i}</a>' for i in range(12))
    items = "".join(
        f'<article class="card" data-id="{i}"><h2><a href="/item/{i}">Item {i}</a></h2>'
        f'<img src="/img/{i}.jpg" alt="Item {i}" width="120" height="80">'
        f"<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor {i}.</p></article>"
        for i in range(47)
    )
    html = head + nav + "</nav></header><main>" + items
    html += "</main><footer><p>&copy; Bench</p></footer></body></html>"
    data = html.encode()
    assert 11_000 < len(data) < 14_000, len(data)
    return data


NGINX_CONF = """
daemon off;
worker_processes 1;
pid {dir}/nginx-{name}.pid;
error_log {dir}/nginx-{name}.err warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp-{name};
    proxy_temp_path {dir}/ptmp-{name};
    fastcgi_temp_path {dir}/ftmp-{name};
    uwsgi_temp_path {dir}/utmp-{name};
    scgi_temp_path {dir}/stmp-{name};
    keepalive_requests 1000000;
    {body}
}}
"""
ORIGIN = """
    server {{
        listen 127.0.0.1:{port};
        location = /data.json {{
            root {dir};
            default_type application/json;
            add_header Set-Cookie "_ga=GA1.2.3; Path=/; Max-Age=3600";
            add_header Set-Cookie "sid=abc; Path=/; HttpOnly";
        }}
        location = /page.html {{
            root {dir};
            default_type text/html;
            add_header Set-Cookie "_ga=GA1.2.3; Path=/; Max-Age=3600";
            add_header Set-Cookie "sid=abc; Path=/; HttpOnly";
        }}
    }}
"""
PROXY = """
    upstream origin {{ server 127.0.0.1:{origin}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
"""
GATEWAY = """
[gateway]
upstream = "http://127.0.0.1:{origin}"
port = {port}
pool_size = 128

[consent]
secret_keys = ["bench-secret-key-0123456789abcdef"]
policy_version = "2024-10"
default_locale = "en"

[log]
url = "sqlite:///{dir}/bench-{port}.db"

[cookies]
necessary = ["csrftoken"]

[[categories]]
id = "identity"
cookies = ["sid", "remember_*"]

[[categories]]
id = "personalization"
cookies = ["_ga", "_ga_*", "_gid"]
scripts = ["www.googletagmanager.com"]
{catalog}"""


def start_nginx(tmp: Path, name: str, body: str, cpu: int) -> subprocess.Popen[bytes]:
    conf = tmp / f"nginx-{name}.conf"
    conf.write_text(NGINX_CONF.format(dir=tmp, name=name, body=body))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return subprocess.Popen(["taskset", "-c", str(cpu), nginx, "-c", str(conf), "-p", str(tmp)])


def wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


# The ceiling for anything served by uvicorn on one core: an ASGI app that returns the page.
BARE_APP = """
from pathlib import Path
PAGE = Path({page!r}).read_bytes()
HEAD = [(b"content-type", b"text/html"), (b"content-length", str(len(PAGE)).encode())]
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({{"type": "http.response.start", "status": 200, "headers": HEAD}})
    await send({{"type": "http.response.body", "body": PAGE}})
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): a cost per request that other
    load on a shared machine does not inflate, unlike requests per second."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(port: int, seconds: int, connections: int, path: str = "/page.html") -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, requests)"""
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-H", "Cookie: _ga=GA1.2.3; sid=abc; csrftoken=t; other=1",
         "-H", "Accept-Language: en", "-H", f"User-Agent: {BROWSER}", f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        raise RuntimeError("errors during the run:\n" + out)

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    return rps, pct("50"), pct("99"), total


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--workers", type=int, default=1, help="also run a gateway with this many workers")
    args = ap.parse_args()
    if os.cpu_count() and os.cpu_count() < 2:  # type: ignore[operator]
        print("needs 2 CPUs (proxy on CPU 0, load and origin on CPU 1)")
        return 2
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="cg-bench-") as d:
        tmp = Path(d)
        os.chmod(tmp, 0o755)
        (tmp / "page.html").write_bytes(page_12k())
        (tmp / "data.json").write_bytes(b'{"items": [' + b", ".join(b'{"id": %d}' % i for i in range(900)) + b"]}")
        (tmp / "bare_app.py").write_text(BARE_APP.format(page=str(tmp / "page.html")))
        origin, proxy, gw, bare, gw_off, gw_n = (free_port() for _ in range(6))
        try:
            procs.append(start_nginx(tmp, "origin", ORIGIN.format(port=origin, dir=tmp), cpu=1))
            procs.append(start_nginx(tmp, "proxy", PROXY.format(port=proxy, origin=origin), cpu=0))
            (tmp / "gateway.toml").write_text(GATEWAY.format(origin=origin, port=gw, dir=tmp, catalog=""))
            (tmp / "gateway-off.toml").write_text(GATEWAY.format(origin=origin, port=gw_off, dir=tmp,
                                                                 catalog="\n[catalog]\nenabled = false\n"))
            exe = Path(sys.executable).with_name("consent-gateway")
            pids = {}
            for name, conf in (("consent-gateway", "gateway.toml"), ("gateway, no catalog", "gateway-off.toml")):
                procs.append(subprocess.Popen(["taskset", "-c", "0", str(exe), "serve", "--config",
                                               str(tmp / conf)], stderr=subprocess.DEVNULL))
                pids[name] = procs[-1].pid
            multi = f"gateway, {args.workers} workers"
            if args.workers > 1:
                (tmp / "gateway-n.toml").write_text(GATEWAY.format(origin=origin, port=gw_n, dir=tmp, catalog=""))
                procs.append(subprocess.Popen(["taskset", "-c", f"0-{args.workers - 1}", str(exe), "serve",
                                               "--config", str(tmp / "gateway-n.toml"), "--workers",
                                               str(args.workers)], stderr=subprocess.DEVNULL))
            procs.append(subprocess.Popen(
                ["taskset", "-c", "0", str(Path(sys.executable).with_name("uvicorn")), "bare_app:app",
                 "--port", str(bare),
                 "--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning"],
                cwd=tmp, stderr=subprocess.DEVNULL))
            for p in (origin, proxy, gw, bare, gw_off, *([gw_n] if args.workers > 1 else [])):
                wait_port(p)
            # the gateway really rewrites: check one response before timing anything
            import urllib.request
            req = urllib.request.Request(f"http://127.0.0.1:{gw}/page.html", headers={"Cookie": "_ga=1; sid=2",
                                                                                       "User-Agent": BROWSER})
            with urllib.request.urlopen(req) as r:  # noqa: S310 - loopback
                body = r.read()
                assert b'id="consent-banner"' in body and b'data-consent-category="personalization"' in body
                assert not [c for c in r.headers.get_all("set-cookie") or [] if "Max-Age=0" not in c]
            targets = {"nginx direct": (origin, "/page.html"), "nginx proxy_pass": (proxy, "/page.html"),
                       "consent-gateway": (gw, "/page.html"),
                       "gateway, no catalog": (gw_off, "/page.html"),
                       "uvicorn bare app": (bare, "/page.html"),
                       "gateway, JSON": (gw, "/data.json")}
            if args.workers > 1:
                targets[multi] = (gw_n, "/page.html")
            for port, path in targets.values():
                wrk(port, 2, args.connections, path)  # warm-up
            results: dict[str, list[tuple[float, float, float, int]]] = {k: [] for k in targets}
            cpu_us: dict[str, list[float]] = {k: [] for k in pids}
            for _ in range(args.rounds):
                for name, (port, path) in targets.items():
                    before = cpu_seconds(pids[name]) if name in pids else 0.0
                    results[name].append(wrk(port, args.seconds, args.connections, path))
                    if name in pids:
                        cpu_us[name].append((cpu_seconds(pids[name]) - before) * 1e6 / results[name][-1][3])
            # one connection: latency, not throughput
            single = {"origin alone (nginx)": origin, "nginx proxy_pass": proxy, "consent-gateway": gw}
            p50s: dict[str, list[float]] = {k: [] for k in single}
            for _ in range(args.rounds):
                for name, port in single.items():
                    p50s[name].append(wrk(port, max(2, args.seconds // 2), 1)[1] * 1000)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
    med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v),
               statistics.median(r[2] for r in v)) for k, v in results.items()}
    print(f"\n12 KB HTML page, wrk -t1 -c{args.connections} -d{args.seconds}s, median of {args.rounds} rounds")
    print(f"{'proxy':<20}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}   all rounds req/s")
    for name, (rps, p50, p99) in med.items():
        rounds = ", ".join(f"{r[0]:.0f}" for r in results[name])
        print(f"{name:<20}{rps:>10.0f}{p50:>10.2f}{p99:>10.2f}   {rounds}")
    ratio = med["consent-gateway"][0] / med["nginx proxy_pass"][0]
    print(f"\ngateway / nginx proxy_pass = {ratio:.2f}  (goal >= 0.35)")
    print(f"uvicorn bare app / nginx proxy_pass = {med['uvicorn bare app'][0] / med['nginx proxy_pass'][0]:.2f}"
          "  (the ceiling for one uvicorn process)")
    print(f"gateway / uvicorn bare app = {med['consent-gateway'][0] / med['uvicorn bare app'][0]:.2f}")
    print(f"gateway HTML with the catalog / without = "
          f"{med['consent-gateway'][0] / med['gateway, no catalog'][0]:.2f}  (goal >= 0.90)")
    on, off = (statistics.median(cpu_us[k]) for k in ("consent-gateway", "gateway, no catalog"))
    print(f"the same by the gateway processes' own CPU time per request (not inflated by other load): "
          f"{on:.0f} us with the catalog, {off:.0f} us without, throughput ratio {off / on:.2f}  (goal >= 0.90)"
          f"\n  rounds with: {', '.join(f'{x:.0f}' for x in cpu_us['consent-gateway'])}; "
          f"without: {', '.join(f'{x:.0f}' for x in cpu_us['gateway, no catalog'])}")
    print(f"gateway JSON (cookie filtering, no HTML rewrite) / nginx proxy_pass = "
          f"{med['gateway, JSON'][0] / med['nginx proxy_pass'][0]:.2f}")
    if args.workers > 1:
        print(f"gateway with {args.workers} workers (CPUs 0-{args.workers - 1}, shared with wrk) / nginx proxy_pass = "
              f"{med[multi][0] / med['nginx proxy_pass'][0]:.2f}")
    # The Python servers saturate their core, so 1/throughput is their CPU cost per request.
    us = {k: 1e6 / med[k][0] for k in ("consent-gateway", "gateway, JSON", "uvicorn bare app")}
    print(f"CPU per request on the server's core: gateway HTML {us['consent-gateway']:.0f} us, gateway JSON "
          f"{us['gateway, JSON']:.0f} us, uvicorn bare app {us['uvicorn bare app']:.0f} us "
          f"(HTML - JSON = {us['consent-gateway'] - us['gateway, JSON']:.0f} us: the rewrite and banner)")
    print_latency(p50s, args.rounds)
    print_stages(statistics.median(cpu_us["consent-gateway"]))
    return 0


def print_latency(p50s: dict[str, list[float]], rounds: int) -> None:
    med = {k: statistics.median(v) for k, v in p50s.items()}
    base = med["origin alone (nginx)"]
    print(f"\nOne connection (wrk -c1), median of {rounds} rounds' p50 latency")
    print(f"{'':<24}{'p50 us':>9}{'added us':>10}   all rounds p50 us")
    for name, value in med.items():
        added = "" if name.startswith("origin") else f"{value - base:.0f}"
        print(f"{name:<24}{value:>9.0f}{added:>10}   {', '.join(f'{x:.0f}' for x in p50s[name])}")
    nginx_added = max(med["nginx proxy_pass"] - base, 1.0)
    print(f"gateway added / nginx added = {(med['consent-gateway'] - base) / nginx_added:.1f}  (goal <= 5)")


def print_stages(server_us: float) -> None:
    from stages import stage_costs  # bench/ is on sys.path when this script runs

    costs = stage_costs(GATEWAY.format(origin=9, port=9, dir=tempfile.gettempdir(), catalog=""), page_12k(), BROWSER)
    print(f"\nThe gateway's CPU per request by stage (in process, the same request; HTML, catalog on): "
          f"server total {server_us:.0f} us")
    for name, us in costs.items():
        print(f"  {us:7.1f} us  {name}")
    rest = server_us - sum(costs.values())
    print(f"  {rest:7.1f} us  the rest: uvicorn (HTTP parsing, ASGI), the upstream client, socket writes, "
          "the transport")


if __name__ == "__main__":
    raise SystemExit(main())
