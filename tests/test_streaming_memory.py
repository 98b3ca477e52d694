"""1 GB each way through a real gateway process, with its memory sampled: it must stay flat."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from gateway.testing.servers import UvicornThread, free_port, wait_http
from tests.conftest import config_text

GB = 1024 * 1024 * 1024
EXE = Path(sys.executable).with_name("consent-gateway")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def test_one_gigabyte_each_way_with_flat_memory(tmp_path: Path, site: UvicornThread) -> None:
    port = free_port()
    cfg = tmp_path / "g.toml"
    cfg.write_text(config_text(site.url, tmp_path / "log.db").replace("read_timeout = 2", "read_timeout = 30"))
    proc = subprocess.Popen([str(EXE), "serve", "--config", str(cfg), "--port", str(port)], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(rss_mb(proc.pid))
            time.sleep(0.05)

    try:
        wait_http(url + "/_consent/health")
        for _ in range(20):  # warm up: pools, caches, first allocations
            httpx.get(url + "/page")
        baseline = rss_mb(proc.pid)
        sampler = threading.Thread(target=sample)
        sampler.start()
        got = 0
        with httpx.Client(timeout=60) as c:
            with c.stream("GET", f"{url}/bytes?n={GB}") as r:
                for chunk in r.iter_raw(1 << 20):
                    got += len(chunk)
            block = b"u" * (1 << 20)
            up = c.post(url + "/upload", content=(block for _ in range(GB // len(block))))
        done.set()
        sampler.join()
    finally:
        done.set()
        proc.terminate()
        proc.wait(30)
    assert got == GB and up.json() == {"received": GB}
    peak = max(samples)
    assert len(samples) > 10
    print(f"gateway RSS: baseline {baseline:.1f} MB, peak {peak:.1f} MB while streaming 2 GB")
    assert peak - baseline < 64, f"RSS grew from {baseline:.0f} MB to {peak:.0f} MB while streaming 2 GB"
