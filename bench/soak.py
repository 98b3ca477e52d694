"""Soak: mixed traffic against a real `consent-gateway serve` for minutes, at about half capacity.

What it answers: after 10 minutes of the traffic a site really gets (HTML pages, JSON, consent
decisions, WebSockets, and clients that dawdle), does the process hold its memory, answer every
request, and keep its tail latency? It prints the gateway's RSS at start, at its peak and at the end,
errors by kind, and p50/p99 per request kind.

    python bench/soak.py [--minutes 10] [--probe-seconds 8]

First a short probe at full speed measures capacity on this machine today; the soak then paces
requests at half of it. The demo site is the origin; everything runs on loopback.
A benchmark, not a test: its figures go into notes, nothing asserts on them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.demo.site import create_site  # noqa: E402
from gateway.testing.servers import UvicornThread, free_port, wait_http  # noqa: E402

CONFIG = """
[gateway]
upstream = "{site}"
host = "127.0.0.1"
port = {port}

[consent]
secret_keys = ["soak-secret-key-0123456789abcdef"]
policy_version = "2024-10"
default_locale = "en"
decisions_per_minute = 0  # one address sends them all; the limit is tested elsewhere

[log]
url = "sqlite:///{dir}/log.db"
chain_key = "soak-chain-key-0123456789abcdef"

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
MIX = [("html", 6), ("json", 2), ("decision", 1), ("other", 1)]  # weights per paced request
WEBSOCKETS = 4  # long-lived sockets, each echoing a message a second
SLOW_CLIENTS = 4  # sockets that send their head a byte at a time, then read slowly
IN_FLIGHT = 16  # concurrent paced requests (keep-alive connections)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def one(client: httpx.AsyncClient, kind: str, origin: str,
              slots: asyncio.Semaphore) -> tuple[str, float, str | None]:
    async with slots:  # latency counts from the moment a connection is ours, not the queue before it
        return await _one(client, kind, origin)


async def _one(client: httpx.AsyncClient, kind: str, origin: str) -> tuple[str, float, str | None]:
    started = time.perf_counter()
    try:
        if kind == "html":
            r = await client.get("/products", headers={"Cookie": "_ga=1; sid=2; csrftoken=3"})
        elif kind == "json":
            r = await client.get("/_consent")
        elif kind == "decision":
            r = await client.post("/_consent", data={"action": random.choice(["accept_all", "reject_all"])},
                                  headers={"Origin": origin, "Accept": "application/json"})
        else:
            r = await client.get("/static/demo-tracker.js")
        error = None if r.status_code == 200 else f"{kind} {r.status_code}"
    except httpx.HTTPError as e:
        error = f"{kind} {type(e).__name__}"
    return kind, time.perf_counter() - started, error


async def paced(url: str, rate: float, seconds: float, results: list[tuple[str, float, str | None]]) -> None:
    kinds = [k for k, w in MIX for _ in range(w)]
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    slots = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        pending: set[asyncio.Task[tuple[str, float, str | None]]] = set()
        start = time.perf_counter()
        n = 0
        while (now := time.perf_counter()) - start < seconds:
            due = int((now - start) * rate)
            while n < due and len(pending) < 512:
                pending.add(asyncio.create_task(one(client, random.choice(kinds), url, slots)))
                n += 1
            done = {t for t in pending if t.done()}
            for t in done:
                results.append(t.result())
            pending -= done
            await asyncio.sleep(0.002)
        for t in pending:
            results.append(await t)


async def websockets_loop(url: str, seconds: float, errors: Counter[str]) -> None:
    async def session() -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            try:
                async with connect(url.replace("http", "ws") + "/ws", proxy=None) as ws:
                    await ws.recv()
                    for _ in range(30):
                        await ws.send("x" * 512)
                        await ws.recv()
                        await asyncio.sleep(1)
            except Exception as e:  # noqa: BLE001 - counted, the soak goes on
                errors[f"websocket {type(e).__name__}"] += 1
                await asyncio.sleep(1)

    await asyncio.gather(*(session() for _ in range(WEBSOCKETS)))


async def slow_loop(port: int, seconds: float, errors: Counter[str]) -> None:
    """Clients that dawdle but stay within the limits: a head a byte every 50 ms, a slow read."""
    async def session() -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                for b in b"GET /products HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n":
                    writer.write(bytes([b]))
                    await asyncio.sleep(0.05)
                got = b""
                while chunk := await reader.read(256):
                    got += chunk
                    await asyncio.sleep(0.01)
                if not got.startswith(b"HTTP/1.1 200"):
                    errors[f"slow {got[:12]!r}"] += 1
                writer.close()
            except OSError as e:
                errors[f"slow {type(e).__name__}"] += 1

    await asyncio.gather(*(session() for _ in range(SLOW_CLIENTS)))


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1] * 1000 if len(values) >= 100 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--probe-seconds", type=float, default=8)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cg-soak-"))
    site = UvicornThread(create_site()).start()
    port = free_port()
    (work / "gateway.toml").write_text(CONFIG.format(site=site.url, port=port, dir=work))
    exe = Path(sys.executable).with_name("consent-gateway")
    log = open(work / "gateway.log", "wb")  # noqa: SIM115 - closed at the end
    proc = subprocess.Popen([str(exe), "serve", "--config", str(work / "gateway.toml")], stderr=log,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/_consent/health/live")
        probe: list[tuple[str, float, str | None]] = []
        asyncio.run(paced(url, 100_000, args.probe_seconds, probe))  # as fast as it goes
        capacity = len(probe) / args.probe_seconds
        rate = capacity / 2
        print(f"capacity probe: {capacity:,.0f} req/s over {args.probe_seconds:.0f} s; soaking at {rate:,.0f} req/s "
              f"for {args.minutes:g} min, plus {WEBSOCKETS} WebSockets and {SLOW_CLIENTS} slow clients")
        rss_start = rss_mb(proc.pid)
        seconds = args.minutes * 60
        results: list[tuple[str, float, str | None]] = []
        errors: Counter[str] = Counter()
        samples: list[float] = []

        async def run() -> None:
            async def sample() -> None:
                end = time.perf_counter() + seconds
                while time.perf_counter() < end:
                    samples.append(rss_mb(proc.pid))
                    await asyncio.sleep(5)

            await asyncio.gather(paced(url, rate, seconds, results), websockets_loop(url, seconds, errors),
                                 slow_loop(port, seconds, errors), sample())

        asyncio.run(run())
        rss_end = rss_mb(proc.pid)
        for _, _, error in results:
            if error:
                errors[error] += 1
        by_kind: dict[str, list[float]] = {}
        for kind, seconds_taken, error in results:
            if not error:
                by_kind.setdefault(kind, []).append(seconds_taken)
        print(f"requests: {len(results):,} ({len(results) / seconds:,.0f}/s); errors: {sum(errors.values())} "
              f"{dict(errors) if errors else ''}")
        print(f"gateway RSS MB: start {rss_start:.1f}, peak {max(samples or [rss_end]):.1f}, end {rss_end:.1f}")
        print("latency ms       p50      p99")
        for kind, values in sorted(by_kind.items()):
            p50, p99 = statistics.median(values) * 1000, quantile(values, 0.99)
            print(f"  {kind:<9} {p50:8.2f} {p99:8.2f}  (n={len(values):,})")
        lines = [json.loads(line) for line in (work / "gateway.log").read_text().splitlines() if line.startswith("{")]
        levels = Counter(line.get("level") for line in lines if line.get("logger") != "consent_gateway.access")
        print(f"gateway log lines other than access: {dict(levels)}")
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
        site.stop()


if __name__ == "__main__":
    main()
