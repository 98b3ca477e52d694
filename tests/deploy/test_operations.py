"""Serving and operations: workers, graceful shutdown, the systemd unit."""

from __future__ import annotations

import configparser
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from gateway.testing.servers import UvicornThread, free_port, wait_http
from tests.conftest import config_text

ROOT = Path(__file__).resolve().parents[2]
EXE = Path(sys.executable).with_name("consent-gateway")


ADMIN_TOKEN = "operations-admin-token-0123456789"


def start(tmp_path: Path, site: UvicornThread, *extra: str,
          admin: bool = False) -> tuple[subprocess.Popen[bytes], str, Path, Path]:
    port = free_port()
    db = tmp_path / "log.db"
    cfg = tmp_path / "g.toml"
    more = f'\n[admin]\nenabled = true\ntoken = "{ADMIN_TOKEN}"\n' if admin else ""
    cfg.write_text(config_text(site.url, db, extra=more).replace("read_timeout = 2", "read_timeout = 10"))
    proc = subprocess.Popen([str(EXE), "serve", "--config", str(cfg), "--port", str(port), *extra],
                            stderr=open(tmp_path / "err.log", "wb"))  # noqa: SIM115
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/_consent/health")
    return proc, url, cfg, db


def decide(url: str) -> str:
    r = httpx.post(url + "/_consent", data={"action": "accept_all"},
                   headers={"Origin": url, "Accept": "application/json"})
    assert r.status_code == 200
    return str(r.json()["consent_id"])


def test_workers(tmp_path: Path, site: UvicornThread) -> None:
    proc, url, cfg, db = start(tmp_path, site, "--workers", "2", admin=True)
    try:
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) >= 2  # two worker processes (plus, possibly, uvicorn's helper)
        ids = {decide(url) for _ in range(40)}
        assert len(ids) == 40
        # a scrape reaches either worker and shows both workers' figures (within a snapshot interval)
        auth = {"Authorization": "Bearer " + ADMIN_TOKEN}
        deadline = time.monotonic() + 15
        agreeing = 0
        while agreeing < 6 and time.monotonic() < deadline:
            text = httpx.get(url + "/_consent/metrics", headers=auth).text
            complete = ('consent_decisions_total{action="accept_all"} 40.0' in text
                        and "consent_gateway_workers 2.0" in text)
            agreeing = agreeing + 1 if complete else 0
            time.sleep(0.05)
        assert agreeing == 6, text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    chains = {r[0] for r in sqlite3.connect(db).execute("SELECT DISTINCT chain_id FROM consent_log")}
    assert 1 <= len(chains) <= 2 and all(c.endswith(("-0", "-1")) for c in chains)
    r = subprocess.run([str(EXE), "log", "verify", "--config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 0 and "40 records" in r.stdout


def test_graceful_shutdown_drains_requests_and_flushes_the_log(tmp_path: Path, site: UvicornThread) -> None:
    proc, url, cfg, db = start(tmp_path, site)
    result: dict[str, object] = {}

    def slow() -> None:
        r = httpx.get(url + "/slow?s=1.5", timeout=10)
        result["status"] = r.status_code
        result["body"] = r.text

    consent_id = decide(url)
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)  # while the slow request is in flight
    t.join(15)
    # uvicorn re-raises the signal after a graceful shutdown; systemd counts SIGTERM as clean
    assert proc.wait(30) in (0, -signal.SIGTERM)
    assert result.get("status") == 200 and "late" in str(result.get("body"))
    stored = {r[0] for r in sqlite3.connect(db).execute("SELECT consent_id FROM consent_log")}
    assert consent_id in stored
    lines = (tmp_path / "err.log").read_text().splitlines()
    assert lines and all(line.startswith("{") for line in lines)  # structured: JSON lines


def test_systemd_unit() -> None:
    unit = (ROOT / "deploy" / "consent-gateway@.service").read_text()
    parsed = configparser.ConfigParser(strict=False, interpolation=None)
    parsed.read_string(unit)
    service = parsed["Service"]
    assert "serve --config" in service["ExecStart"] and "%i" in service["ExecStart"]
    assert service["KillSignal"] == "SIGTERM" and service["NoNewPrivileges"] == "yes"
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None or not Path("/usr/lib/systemd").exists()
    if analyze:
        # verify the unit as installed: point ExecStart at this checkout's real binary
        work = Path(ROOT / ".pytest_cache" / "unit")
        work.mkdir(parents=True, exist_ok=True)
        (work / "consent-gateway@.service").write_text(
            unit.replace("/opt/consent-gateway/.venv/bin/consent-gateway", str(EXE)))
        r = subprocess.run([analyze, "verify", str(work / "consent-gateway@8081.service")],
                           capture_output=True, text=True, cwd=work, timeout=60)
        problems = [line for line in (r.stdout + r.stderr).splitlines()
                    if "consent-gateway" in line and "secrets.env" not in line]
        assert r.returncode == 0 or not problems, r.stdout + r.stderr


def test_two_template_instances_on_one_host_keep_their_own_figures(tmp_path: Path, site: UvicornThread) -> None:
    """The systemd template runs one unit per port with one config and one state directory; each
    port's scrape must count its own requests, not the host's (Prometheus would count them twice)."""
    a, url_a, _, _ = start(tmp_path, site, "--workers", "2", admin=True)
    b = subprocess.Popen([str(EXE), "serve", "--config", str(tmp_path / "g.toml"), "--port", str(free_port()),
                          "--workers", "2"], stderr=open(tmp_path / "err-b.log", "wb"))  # noqa: SIM115
    try:
        url_b = None
        for _ in range(300):  # find b's port from its log line
            text = (tmp_path / "err-b.log").read_text()
            if "Uvicorn running on" in text:
                url_b = "http://" + text.split("Uvicorn running on http://", 1)[1].split()[0].rstrip('"\\')
                break
            time.sleep(0.1)
        assert url_b, "second instance did not start"
        wait_http(url_b + "/_consent/health/live")
        for _ in range(7):
            assert httpx.get(url_a + "/page").status_code == 200
        for _ in range(3):
            assert httpx.get(url_b + "/page").status_code == 200
        auth = {"Authorization": "Bearer " + ADMIN_TOKEN}
        wanted = {url_a: 7, url_b: 3}
        deadline = time.monotonic() + 20
        seen: dict[str, float] = {}
        while time.monotonic() < deadline:
            for url in (url_a, url_b):
                text = httpx.get(url + "/_consent/metrics", headers=auth).text
                line = next((x for x in text.splitlines()
                             if x.startswith('consent_requests_total{code="200",kind="html"}')), "x 0")
                seen[url] = float(line.split()[-1])
            if seen == wanted:
                break
            time.sleep(0.5)
        assert seen == wanted  # never 10 on either: the other instance's workers are not its siblings
    finally:
        for p in (a, b):
            p.send_signal(signal.SIGTERM)
            p.wait(30)


def _load_loop(url: str, stop: threading.Event, failures: list[str], count: list[int],
               keepalive: bool = True) -> None:
    # Without keep-alive for a rolling restart: a retiring worker closes its idle keep-alive
    # connections, and a request racing that close is retried by browsers and nginx (RFC 9112
    # 9.3.1) but not by httpx. A fresh connection per request still sees every refused or failed one.
    limits = httpx.Limits(max_keepalive_connections=None if keepalive else 0)
    with httpx.Client(base_url=url, timeout=10, limits=limits) as c:
        while not stop.is_set():
            try:
                r = c.get("/page")
                count[0] += 1
                if r.status_code != 200:
                    failures.append(str(r.status_code))
            except httpx.HTTPError as e:
                failures.append(repr(e))


def _policy(url: str) -> str:
    return str(httpx.get(url + "/_consent").json()["policy_version"])


def _wait_policy(url: str, version: str, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _policy(url) == version:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sighup_reloads_under_load_and_a_bad_config_changes_nothing(tmp_path: Path, site: UvicornThread,
                                                                     workers: str) -> None:
    proc, url, cfg, _ = start(tmp_path, site, "--workers", workers)
    good = cfg.read_text()
    stop, failures, count = threading.Event(), [], [0]
    # Load only where the promise is "no request lost": the in-process reload of one worker. With
    # --workers, SIGHUP is uvicorn's rolling restart, and a retiring worker closes a connection it
    # has accepted but not yet read (README known limits); nginx retries those, a bare client may not.
    threads = [threading.Thread(target=_load_loop, args=(url, stop, failures, count))
               for _ in range(3 if workers == "1" else 0)]
    for t in threads:
        t.start()
    try:
        # a new policy version: the live process (one worker) or fresh workers (two) take it
        cfg.write_text(good.replace('"2024-10"', '"2025-02"'))
        proc.send_signal(signal.SIGHUP)
        assert _wait_policy(url, "2025-02"), "the reload did not take"
        if workers == "2":  # a rolling restart: wait until both old workers have been replaced
            deadline = time.monotonic() + 60
            while (tmp_path / "err.log").read_text().split("Received SIGHUP")[-1].count(
                    "Terminated child process") < 2:
                assert time.monotonic() < deadline, "the rolling restart did not finish"
                time.sleep(0.2)
        # a broken file: refused, the running config keeps serving
        cfg.write_text(good.replace('"2024-10"', '"2025-03"').replace("[consent]", "[consent]\nbogus = 1"))
        proc.send_signal(signal.SIGHUP)
        time.sleep(3)
        assert _policy(url) == "2025-02" and proc.poll() is None
        # a setting that needs a restart: refused by name (one worker reloads in place)
        if workers == "1":
            cfg.write_text(good.replace('"2024-10"', '"2025-04"').replace("read_timeout = 10", "read_timeout = 11"))
            proc.send_signal(signal.SIGHUP)
            time.sleep(2)
            assert _policy(url) == "2025-02"
    finally:
        stop.set()
        for t in threads:
            t.join(15)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert failures == [], failures[:5]
    if workers == "1":
        assert count[0] > 30
    err = (tmp_path / "err.log").read_text()
    assert "Traceback" not in err
    for line in err.splitlines():
        json.loads(line)  # every line the process wrote is one JSON object
    assert "unknown key 'bogus'" in err
    if workers == "1":
        assert "reload refused" in err and "[gateway] read_timeout" in err
