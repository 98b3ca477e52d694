"""`consent-gateway serve` says which HTML scanner runs: one JSON line at start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import scanner
from gateway.testing.servers import UvicornThread, free_port, wait_http
from tests.conftest import config_text

EXE = Path(sys.executable).with_name("consent-gateway")


@pytest.mark.parametrize("pure", ["0", "1"])
def test_serve_logs_the_scanner_once(tmp_path: Path, site: UvicornThread, pure: str) -> None:
    port = free_port()
    cfg = tmp_path / "g.toml"
    cfg.write_text(config_text(site.url, tmp_path / "log.db"))
    log = tmp_path / "err.log"
    env = {**os.environ, "CONSENT_GATEWAY_PURE_PYTHON": pure}
    with log.open("wb") as err:
        proc = subprocess.Popen([str(EXE), "serve", "--config", str(cfg), "--port", str(port)], stderr=err, env=env)
        try:
            wait_http(f"http://127.0.0.1:{port}/_consent/health")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    said = [line for line in lines if line.get("logger") == "consent_gateway.scanner"]
    expected = "python" if pure == "1" or "compiled" not in scanner.available() else "compiled"
    assert [line["scanner"] for line in said] == [expected]
