"""Durability through a real gateway: a PostgreSQL outage, and a SIGKILL under load."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from gateway.testing.servers import UvicornThread, free_port, wait_http
from gateway.testing.tcpproxy import CuttableProxy
from tests.conftest import RunningGateway, config_text


def count_rows(url: str) -> tuple[int, int]:
    async def q() -> tuple[int, int]:
        conn = await asyncpg.connect(url)
        try:
            total = await conn.fetchval("SELECT count(*) FROM consent_log")
            distinct = await conn.fetchval("SELECT count(DISTINCT consent_id) FROM consent_log")
            return int(total), int(distinct)
        finally:
            await conn.close()

    return asyncio.run(q())


def decide(gw: RunningGateway) -> str:
    with gw.client() as c:
        r = c.post("/_consent", data={"action": "accept_all"},
                   headers={"Origin": gw.origin, "Accept": "application/json"})
        assert r.status_code == 200, r.text
        return str(r.json()["consent_id"])


def test_postgres_outage_loses_and_duplicates_nothing(pg_url: str, tmp_path: Path, site: UvicornThread) -> None:
    from gateway.app import ConsentGateway
    from gateway.config import parse_config

    proxy = CuttableProxy(("127.0.0.1", 5432))
    url = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    text = config_text(site.url, tmp_path / "unused.db").replace(
        f'url = "sqlite:///{tmp_path / "unused.db"}"', f'url = "{url}"\nspool_dir = "{tmp_path}/spool"')
    app = ConsentGateway(parse_config(text))
    server = UvicornThread(app, lifespan="on").start()
    gw = RunningGateway(server, app)
    try:
        before = [decide(gw) for _ in range(5)]
        proxy.cut()
        during = [decide(gw) for _ in range(20)]  # acknowledged from the spool
        with gw.client() as c:
            health = c.get("/_consent/health").json()
            r = c.post("/_consent", data={"action": "reject_all"}, headers={"Origin": gw.origin})
            receipt = c.get("/_consent/receipt")  # the visitor's history, from the spool meanwhile
            during.append(c.get("/_consent").json()["consent_id"])
        assert health["log"] == "spooling" and health["spool_backlog"] >= 20
        assert receipt.status_code == 200 and receipt.text.count("<tr><td><time") == 1
        assert count_rows(pg_url) == (5, 5)
        proxy.restore()
        deadline = time.monotonic() + 30
        while app.ledger.backlog and time.monotonic() < deadline:
            time.sleep(0.2)
        after = [decide(gw) for _ in range(5)]
        assert app.ledger.backlog == 0
        total, distinct = count_rows(pg_url)
        assert total == distinct == len(set(before + during + after)) == 31
        r = subprocess.run([sys.executable, "-m", "gateway.cli", "log", "verify", "--config",
                            str(_write(tmp_path, text))], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "31 records" in r.stdout, r.stderr
    finally:
        server.stop()
        proxy.cut()


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "gateway.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sigkill_under_load_loses_no_acknowledged_decision(backend: str, tmp_path: Path, site: UvicornThread,
                                                           request: pytest.FixtureRequest) -> None:
    port = free_port()
    db = tmp_path / "log.db"
    text = config_text(site.url, db).replace("[gateway]", f"[gateway]\nport = {port}", 1)
    if backend == "postgres":
        pg_url = request.getfixturevalue("pg_url")
        text = text.replace(f'url = "sqlite:///{db}"', f'url = "{pg_url}"\nspool_dir = "{tmp_path}/spool"')
    cfg = _write(tmp_path, text)
    exe = Path(sys.executable).with_name("consent-gateway")
    proc = subprocess.Popen([str(exe), "serve", "--config", str(cfg)], stderr=subprocess.DEVNULL)
    acked: list[str] = []
    stop = threading.Event()
    origin = f"http://127.0.0.1:{port}"

    def client() -> None:
        with httpx.Client(base_url=origin, timeout=5) as c:
            while not stop.is_set():
                try:
                    r = c.post("/_consent", data={"action": "save", "categories": "identity"},
                               headers={"Origin": origin, "Accept": "application/json"})
                except httpx.HTTPError:
                    continue
                if r.status_code == 200:
                    acked.append(r.json()["consent_id"])

    try:
        wait_http(origin + "/_consent/health")
        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 40
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # mid-load: no shutdown hook runs
        proc.wait(10)
        stop.set()
        for t in threads:
            t.join(10)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
    assert len(acked) >= 300
    if backend == "sqlite":
        import sqlite3

        conn = sqlite3.connect(db)
        stored = {row[0] for row in conn.execute("SELECT consent_id FROM consent_log")}
        conn.close()
    else:
        async def q() -> set[str]:
            conn = await asyncpg.connect(request.getfixturevalue("pg_url"))
            try:
                return {r[0] for r in await conn.fetch("SELECT consent_id FROM consent_log")}
            finally:
                await conn.close()

        stored = asyncio.run(q())
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged decisions lost"
    r = subprocess.run([str(exe), "log", "verify", "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
