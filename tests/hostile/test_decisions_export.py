"""Hostile User-Agent and `next` values, through a real decision POST, out through the real CLI."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from gateway.ledger.export import csv_cell, visible
from tests.conftest import RunningGateway, config_text

# ua-parser keeps these families as sent: a spreadsheet would read the first as a formula
HOSTILE_AGENTS = ["-x-spider/1.0 (=HYPERLINK(\"http://evil\"))", "-HYPERLINK-crawler/1.0 (x)"]
RAW_CONTROLS = ["\u202e", "\u2066", "\u200f", "\u0085", "\u009b"]
HOSTILE_NEXT = "/fil\u202egnp.exe/\u2066x\u2069/\u200e\u0085\u009b"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, timeout=60)


def test_export_neutralises_formulas_and_shows_controls(make_gateway: Callable[..., RunningGateway],
                                                        tmp_path: Path) -> None:
    gw = make_gateway()
    for ua in HOSTILE_AGENTS:
        with gw.client(headers={"User-Agent": ua}) as c:
            r = c.post("/_consent", data={"action": "reject_all", "next": HOSTILE_NEXT},
                       headers={"Origin": gw.origin, "Accept": "application/json"})
            assert r.status_code == 200, r.text
    gw.server.stop()
    db = Path(gw.app.config.log.url[len("sqlite:///"):])
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text("http://127.0.0.1:1", db))

    out = cli("log", "export", "--config", str(cfg), "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == 2
    for row in rows:
        for value in row.values():
            assert not value or value[0] not in "=+-@\t\r", value  # OWASP: no cell starts a formula
    assert {r["browser"] for r in rows} == {"'-x-spider", "'-HYPERLINK-crawler"}
    assert rows[0]["path"] == "/fil\\u202egnp.exe/\\u2066x\\u2069/\\u200e\\u0085\\u009b"
    for export in (out.stdout, cli("log", "export", "--config", str(cfg), "--format", "jsonl").stdout):
        assert not any(ch in export for ch in RAW_CONTROLS)
    jsonl = [json.loads(line) for line in
             cli("log", "export", "--config", str(cfg), "--format", "jsonl").stdout.splitlines()]
    # JSON escapes keep the exact value for a program, and show the characters to a person
    assert jsonl[0]["path"] == "/fil\u202egnp.exe/\u2066x\u2069/\u200e\u0085\u009b"
    assert "\\u202e" in cli("log", "export", "--config", str(cfg), "--format", "jsonl").stdout
    assert cli("log", "verify", "--config", str(cfg)).returncode == 0


def test_cell_rules() -> None:
    assert csv_cell("=1+1") == "'=1+1" and csv_cell("\tx") == "'\tx" and csv_cell("\rx") == "'\rx"
    assert csv_cell("@SUM(A1)") == "'@SUM(A1)" and csv_cell("/page") == "/page" and csv_cell("") == ""
    assert visible("a\u202eb\u0080") == "a\\u202eb\\u0080" and visible("plain é 中") == "plain é 中"
