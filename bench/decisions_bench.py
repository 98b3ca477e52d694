"""Acknowledged consent decisions per second, with and without group commit, in one run.

wrk POSTs decisions (form, same-origin, JSON answer) to one gateway worker with a SQLite log.
Every 200 answer means the decision was durable. After each run the log is counted and verified,
so the figure is of decisions really stored. The gateway is pinned to CPU 0, wrk to CPU 1.

    python bench/decisions_bench.py [--seconds 8] [--rounds 3] [--connections 64]
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_bench import free_port, wait_port  # noqa: E402

CONFIG = """
[gateway]
upstream = "http://127.0.0.1:9"
port = {port}

[consent]
secret_keys = ["bench-secret-key-0123456789abcdef"]
policy_version = "2024-10"
decisions_per_minute = 0  # one load generator, one address: the flood limit would stop it

[log]
url = "{url}"
spool_dir = "{spool}"
chain_key = "bench-chain-key-0123456789"
group_commit = {group}

[[categories]]
id = "identity"
cookies = ["sid"]

[[categories]]
id = "personalization"
cookies = ["_ga"]
"""
LUA = """
wrk.method = "POST"
wrk.body = "action=save&categories=identity&next=%2Fproducts"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Origin"] = "http://127.0.0.1:{port}"
wrk.headers["Accept"] = "application/json"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
"""


PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def pg(sql: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def count_stored(url: str) -> int:
    if url.startswith("sqlite:"):
        return int(sqlite3.connect(url[len("sqlite:///"):]).execute("SELECT count(*) FROM consent_log").fetchone()[0])
    import asyncio

    import asyncpg

    async def run() -> int:
        conn = await asyncpg.connect(url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM consent_log"))
        finally:
            await conn.close()

    return asyncio.run(run())


def run_once(tmp: Path, group: bool, seconds: int, connections: int,
             postgres: bool = False) -> tuple[float, float, int, int]:
    port = free_port()
    stamp = time.monotonic_ns()
    if postgres:
        pg(f"CREATE DATABASE cg_bench_{stamp}")
        url = f"postgresql://postgres@127.0.0.1:5432/cg_bench_{stamp}"
    else:
        url = f"sqlite:///{tmp}/log-{group}-{stamp}.db"
    cfg = tmp / "gw.toml"
    cfg.write_text(CONFIG.format(port=port, url=url, spool=tmp / f"spool-{stamp}", group="true" if group else "false"))
    (tmp / "post.lua").write_text(LUA.format(port=port))
    exe = Path(sys.executable).with_name("consent-gateway")
    proc = subprocess.Popen(["taskset", "-c", "0", str(exe), "serve", "--config", str(cfg)],
                            stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                              "-s", str(tmp / "post.lua"), f"http://127.0.0.1:{port}/_consent"],
                             capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    finally:
        proc.terminate()
        proc.wait(30)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = int(m.group(1)) if m else 0
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)] if p99 else float("nan")
    stored = count_stored(url)
    # wrk counts requests it sent; the ones cut off by the end of the run may not be answered
    assert stored >= total - errors - connections, (stored, total, errors)
    verify = subprocess.run([str(exe), "log", "verify", "--config", str(cfg)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    if postgres:
        pg(f"DROP DATABASE cg_bench_{stamp} WITH (FORCE)")
    return rps, p99_ms, stored, errors


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()
    results: dict[str, list[tuple[float, float, int, int]]] = {
        "SQLite, group commit": [], "SQLite, fsync each": [], "PostgreSQL, group commit": []}
    with tempfile.TemporaryDirectory(prefix="cg-dbench-") as d:
        for _ in range(args.rounds):
            results["SQLite, group commit"].append(run_once(Path(d), True, args.seconds, args.connections))
            results["SQLite, fsync each"].append(run_once(Path(d), False, args.seconds, args.connections))
            results["PostgreSQL, group commit"].append(
                run_once(Path(d), True, args.seconds, args.connections, postgres=True))
    print(f"\nPOST /_consent, wrk -t1 -c{args.connections} -d{args.seconds}s, one gateway worker on one core; "
          f"SQLite in WAL with synchronous=FULL; median of {args.rounds}")
    print(f"{'mode':<26}{'decisions/s':>12}{'p99 ms':>9}{'stored':>9}{'non-2xx':>9}   all rounds")
    med = {}
    for name, rows in results.items():
        med[name] = statistics.median(r[0] for r in rows)
        print(f"{name:<28}{med[name]:>12.0f}{statistics.median(r[1] for r in rows):>9.1f}"
              f"{sum(r[2] for r in rows):>9}{sum(r[3] for r in rows):>9}   "
              + ", ".join(f"{r[0]:.0f}" for r in rows))
    print(f"\nSQLite group commit / fsync each = {med['SQLite, group commit'] / med['SQLite, fsync each']:.2f}")
    print(f"PostgreSQL / SQLite (group commit) = "
          f"{med['PostgreSQL, group commit'] / med['SQLite, group commit']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
