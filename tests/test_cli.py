"""The operator CLI on a real log written through a real gateway."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import RunningGateway, config_text


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, timeout=60)


def test_log_commands(make_gateway: Callable[..., RunningGateway], tmp_path: Path) -> None:
    gw = make_gateway()
    ids = []
    ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
    for action in ("accept_all", "reject_all", "save", "withdraw"):
        with gw.client(headers={"User-Agent": ua}) as c:
            r = gw.decide(c, action, ("identity",) if action == "save" else ())
            ids.append(r.json()["consent_id"])
        with gw.client() as c:
            c.get("/page", headers={"Cookie": "mystery_cookie=1"})
    gw.server.stop()  # flushes the cookie inventory
    db = Path(gw.app.config.log.url[len("sqlite:///"):])
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text("http://127.0.0.1:1", db))

    r = cli("log", "verify", "--config", str(cfg))
    assert r.returncode == 0 and "4 records" in r.stdout
    r = cli("log", "export", "--config", str(cfg), "--format", "jsonl")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["action"] for row in rows] == ["accept_all", "reject_all", "save", "withdraw"]
    assert rows[0]["ip_prefix"] == "127.0.0.0/24" and rows[0]["device"] == "mobile"
    assert "127.0.0.1" not in r.stdout  # no full IP anywhere in the log
    r = cli("log", "export", "--config", str(cfg), "--format", "csv", "--since", rows[2]["ts"])
    assert r.stdout.splitlines()[0].startswith("record_id,ts,consent_id") and len(r.stdout.splitlines()) == 3
    r = cli("log", "show", ids[2], "--config", str(cfg))
    assert r.returncode == 0 and json.loads(r.stdout)["granted"] == ["identity"]
    assert cli("log", "show", "nobody", "--config", str(cfg)).returncode == 1
    stats = json.loads(cli("log", "stats", "--config", str(cfg)).stdout)
    assert stats["decisions"] == 4 and stats["by_action"]["withdraw"] == 1
    assert stats["opt_in_rate"] == {"identity": 0.5, "personalization": 0.25}
    report = cli("cookies", "report", "--config", str(cfg)).stdout
    assert "mystery_cookie" in report and "not classified" in report and "_ga" in report

    r = cli("log", "purge", "--older-than", "0d", "--config", str(cfg))
    assert r.returncode == 0 and "purged 4 records" in r.stdout
    assert cli("log", "verify", "--config", str(cfg)).returncode == 0
    assert cli("log", "purge", "--older-than", "soon", "--config", str(cfg)).returncode == 2

    conn = sqlite3.connect(db)
    conn.execute("UPDATE consent_checkpoints SET mac = 'x'")
    conn.commit()
    conn.close()
    r = cli("log", "verify", "--config", str(cfg))
    assert r.returncode == 1 and "forged" in r.stderr


def test_log_commands_refuse_a_missing_log(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text("http://127.0.0.1:1", tmp_path / "absent.db"))
    r = cli("log", "verify", "--config", str(cfg))
    assert r.returncode == 2 and "no log at" in r.stderr
    assert not (tmp_path / "absent.db").exists()


def test_unreachable_postgres_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text("http://127.0.0.1:1", tmp_path / "x.db").replace(
        f'url = "sqlite:///{tmp_path / "x.db"}"', 'url = "postgresql://postgres@127.0.0.1:1/none"'))
    r = cli("log", "verify", "--config", str(cfg))
    assert r.returncode == 2 and "cannot open the log" in r.stderr and "Traceback" not in r.stderr
