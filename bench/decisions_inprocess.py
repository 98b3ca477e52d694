"""A decision's CPU cost, in process: where `POST /_consent` spends its time next to `GET /_consent`.

Drives the gateway's ASGI app directly (no sockets, no load generator), 64 requests in flight like
decisions_bench.py's wrk, with the real ledger (SQLite, WAL, synchronous=FULL, group commit). Prints
the process's CPU time per request (the ledger's writer thread included) for each, their ratio,
and with --profile the top functions of a cProfile run of the decisions. A shared machine does not
inflate CPU time the way it does requests per second.

    python bench/decisions_inprocess.py [--requests 4000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import tempfile
from typing import Any

from gateway.app import ConsentGateway
from gateway.config import parse_config

CONFIG = """
[gateway]
upstream = "http://127.0.0.1:9"
port = 8000

[consent]
secret_keys = ["bench-secret-key-0123456789abcdef"]
policy_version = "2024-10"
decisions_per_minute = 0

[log]
url = "sqlite:///{dir}/log.db"
chain_key = "bench-chain-key-0123456789"
group_commit = true

[[categories]]
id = "identity"
cookies = ["sid"]

[[categories]]
id = "personalization"
cookies = ["_ga"]
"""
RATE: dict[str, float] = {}  # method → requests per wall-clock second, the last load
SPLIT: dict[str, tuple[float, float]] = {}  # method → (user, system) CPU seconds per request, the last load
UA = b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
BODY = b"action=save&categories=identity&next=%2Fproducts"


def scope(method: str) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", UA), (b"accept", b"application/json")]
    if method == "POST":
        headers += [(b"origin", b"http://127.0.0.1:8000"), (b"content-type", b"application/x-www-form-urlencoded"),
                    (b"content-length", str(len(BODY)).encode())]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": "/_consent", "raw_path": b"/_consent", "query_string": b"", "root_path": "",
            "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}


async def one(app: ConsentGateway, method: str) -> int:
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": BODY if method == "POST" else b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope(method), receive, send)
    return status


async def load(app: ConsentGateway, method: str, total: int, concurrency: int = 64) -> float:
    """CPU seconds per request for `total` requests, `concurrency` at a time."""
    left = total

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            assert await one(app, method) == 200

    start = os.times()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    end = os.times()
    user, system = (end.user - start.user) / total, (end.system - start.system) / total
    SPLIT[method] = (user, system)
    RATE[method] = total / (end.elapsed - start.elapsed)
    return user + system


async def lifespan(app: ConsentGateway) -> asyncio.Task[None]:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    await queue.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan"}, queue.get, send))
    await started.wait()
    task.queue = queue  # type: ignore[attr-defined]
    return task


async def main_async(requests: int, profile: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="cg-dinproc-") as d:
        app = ConsentGateway(parse_config(CONFIG.format(dir=d)))
        task = await lifespan(app)
        await load(app, "GET", 500)
        await load(app, "POST", 500)  # warm: caches, the database file, the writer thread
        get_us = await load(app, "GET", requests) * 1e6
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        post_us = await load(app, "POST", requests) * 1e6
        if profiler:
            profiler.disable()
        print(f"CPU per request, in process, {requests} each, 64 in flight: GET /_consent {get_us:.0f} us, "
              f"POST /_consent {post_us:.0f} us; GET/POST = {get_us / post_us:.2f} (the decisions/GET goal: >= 0.35)")
        print("  user/system CPU us: " + ", ".join(f"{m} {u * 1e6:.0f}/{sy * 1e6:.0f}" for m, (u, sy) in SPLIT.items())
              + f"; {app.ledger.commits} group commits")
        print(f"  wall clock: GET {RATE['GET']:.0f}/s, POST {RATE['POST']:.0f}/s, "
              f"ratio {RATE['POST'] / RATE['GET']:.2f} (the event loop's stalls count here, not in CPU time)")
        await task.queue.put({"type": "lifespan.shutdown"})  # type: ignore[attr-defined]
        await task
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
            print(out.getvalue())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    asyncio.run(main_async(args.requests, args.profile))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
