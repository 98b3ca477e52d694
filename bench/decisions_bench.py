"""Acknowledged consent decisions per second, with and without group commit, in one run.

wrk POSTs decisions (form, same-origin, JSON answer) to one gateway worker with a SQLite log.
Every 200 answer means the decision was durable. After each run the log is counted and verified,
so the figure is of decisions really stored. The gateway is pinned to CPU 0, wrk to CPU 1.

The same gateway process also answers `GET /_consent` (the visitor's state, no log) for as long,
just before its decisions: decisions/s over GET/s is the issue's ratio (goal >= 0.35). The gateway's
own CPU time per request is printed beside it: unlike requests/s, other load does not inflate it.

    python bench/decisions_bench.py [--seconds 8] [--rounds 3] [--connections 64] [--modes sqlite-group,...]
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
from proxy_bench import cpu_seconds, free_port, wait_port  # noqa: E402

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


GET_LUA = """
wrk.headers["Accept"] = "application/json"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
"""


def wrk_run(tmp: Path, port: int, script: str, seconds: int, connections: int) -> str:
    (tmp / "run.lua").write_text(script)
    return subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                           "-s", str(tmp / "run.lua"), f"http://127.0.0.1:{port}/_consent"],
                          capture_output=True, text=True, check=True, timeout=seconds + 60).stdout


Row = tuple[float, float, int, int, float, float, float]  # rps, p99 ms, stored, non-2xx, GET rps, CPU us POST, GET


def run_once(tmp: Path, group: bool, seconds: int, connections: int, postgres: bool = False) -> Row:
    port = free_port()
    stamp = time.monotonic_ns()
    if postgres:
        pg(f"CREATE DATABASE cg_bench_{stamp}")
        url = f"postgresql://postgres@127.0.0.1:5432/cg_bench_{stamp}"
    else:
        url = f"sqlite:///{tmp}/log-{group}-{stamp}.db"
    cfg = tmp / "gw.toml"
    cfg.write_text(CONFIG.format(port=port, url=url, spool=tmp / f"spool-{stamp}", group="true" if group else "false"))
    exe = Path(sys.executable).with_name("consent-gateway")
    proc = subprocess.Popen(["taskset", "-c", "0", str(exe), "serve", "--config", str(cfg)],
                            stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        wrk_run(tmp, port, GET_LUA, 1, connections)  # warm-up
        before = cpu_seconds(proc.pid)
        got = wrk_run(tmp, port, GET_LUA, seconds, connections)
        middle = cpu_seconds(proc.pid)
        out = wrk_run(tmp, port, LUA.format(port=port), seconds, connections)
        after = cpu_seconds(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    get_rps = float(re.search(r"Requests/sec:\s+([\d.]+)", got).group(1))  # type: ignore[union-attr]
    get_total = int(re.search(r"(\d+) requests in", got).group(1))  # type: ignore[union-attr]
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
    return (rps, p99_ms, stored, errors, get_rps, (after - middle) * 1e6 / max(total, 1),
            (middle - before) * 1e6 / max(get_total, 1))


MODES = {"sqlite-group": ("SQLite, group commit", True, False), "sqlite-fsync": ("SQLite, fsync each", False, False),
         "postgres-group": ("PostgreSQL, group commit", True, True)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated: " + ", ".join(MODES))
    args = ap.parse_args()
    modes = [MODES[m] for m in args.modes.split(",")]
    results: dict[str, list[Row]] = {name: [] for name, _, _ in modes}
    with tempfile.TemporaryDirectory(prefix="cg-dbench-") as d:
        for _ in range(args.rounds):
            for name, group, postgres in modes:
                results[name].append(run_once(Path(d), group, args.seconds, args.connections, postgres=postgres))
    print(f"\nPOST /_consent, wrk -t1 -c{args.connections} -d{args.seconds}s, one gateway worker on one core; "
          f"SQLite in WAL with synchronous=FULL; median of {args.rounds}")
    print(f"{'mode':<26}{'decisions/s':>12}{'p99 ms':>9}{'stored':>9}{'non-2xx':>9}{'GET/s':>9}{'ratio':>7}"
          f"{'CPU us POST':>12}{'GET':>6}{'ratio':>7}   all rounds decisions/s (ratio)")
    med = {}
    for name, rows in results.items():
        med[name] = statistics.median(r[0] for r in rows)
        ratio = statistics.median(r[0] / r[4] for r in rows)
        post_us, get_us = statistics.median(r[5] for r in rows), statistics.median(r[6] for r in rows)
        print(f"{name:<28}{med[name]:>10.0f}{statistics.median(r[1] for r in rows):>9.1f}"
              f"{sum(r[2] for r in rows):>9}{sum(r[3] for r in rows):>9}{statistics.median(r[4] for r in rows):>9.0f}"
              f"{ratio:>7.2f}{post_us:>12.0f}{get_us:>6.0f}{get_us / post_us:>7.2f}   "
              + ", ".join(f"{r[0]:.0f} ({r[0] / r[4]:.2f})" for r in rows))
    print("\nratio: decisions/s over GET /_consent/s on the same process in the same round (goal >= 0.35);"
          " CPU ratio: the gateway's CPU per GET over per decision")
    if "SQLite, group commit" in med and "SQLite, fsync each" in med:
        print(f"SQLite group commit / fsync each = {med['SQLite, group commit'] / med['SQLite, fsync each']:.2f}")
    if "SQLite, group commit" in med and "PostgreSQL, group commit" in med:
        print(f"PostgreSQL / SQLite (group commit) = "
              f"{med['PostgreSQL, group commit'] / med['SQLite, group commit']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
