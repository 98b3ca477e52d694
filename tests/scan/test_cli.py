"""`consent-gateway scan`: exit codes 0/1/2, progress lines, one-line errors and never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.testing.servers import free_port


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", "scan", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_scanned_directly_the_site_fails_with_exit_1(scan_site: str, browser_args: list[str], tmp_path: Path) -> None:
    r = _run(scan_site + "/", "--out", str(tmp_path), "--pages", "0", "--format", "json",
             *[f"--browser-arg={a}" for a in browser_args])
    assert r.returncode == 1, r.stderr
    assert r.stdout.startswith("FAIL") and "Google Analytics" in r.stdout and "Hotjar" in r.stdout
    assert f"scan [before] 200 {scan_site}/" in r.stderr  # a progress line
    assert (tmp_path / "report.json").is_file() and not (tmp_path / "report.html").exists()
    assert (tmp_path / "suggested.toml").is_file() and (tmp_path / "screenshots" / "before.jpg").is_file()


def test_through_the_gateway_it_passes_with_exit_0(scan_gateway: str, browser_args: list[str],
                                                   tmp_path: Path) -> None:
    r = _run(scan_gateway + "/", "--out", str(tmp_path), "--pages", "0", "--quiet",
             *[f"--browser-arg={a}" for a in browser_args])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("PASS") and "banner: gateway" in r.stdout
    assert r.stderr == ""  # --quiet: no progress
    assert (tmp_path / "report.html").is_file()


def _one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("consent-gateway scan: "), r.stderr
    return lines[0]


def test_a_bad_url_is_exit_2(tmp_path: Path) -> None:
    assert "not an http:// or https:// URL" in _one_line_error(_run("ftp://example.com/", "--out", str(tmp_path)))
    assert "not an http" in _one_line_error(_run("http://[::1/", "--out", str(tmp_path)))
    assert "--format" in _one_line_error(_run("http://localhost/", "--format", "pdf"))


def test_an_unreachable_host_is_exit_2(tmp_path: Path) -> None:
    port = free_port()  # nobody listens there
    line = _one_line_error(_run(f"http://localhost:{port}/", "--out", str(tmp_path), "-q"))
    assert "connection refused" in line
    assert not (tmp_path / "report.json").exists()


def test_a_scan_over_its_time_cap_is_exit_2(scan_site: str, tmp_path: Path) -> None:
    line = _one_line_error(_run(scan_site + "/hostile/slow", "--out", str(tmp_path), "--timeout", "4", "-q"))
    assert "did not finish within 4 s" in line


def test_a_bad_config_or_catalog_file_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "cookie"}\n')
    line = _one_line_error(_run("http://localhost:9/", "--out", str(tmp_path), "--catalog", str(bad)))
    assert "bad.jsonl" in line and "Error:" not in line
    line = _one_line_error(_run("http://localhost:9/", "--out", str(tmp_path), "--config", str(tmp_path / "no.toml")))
    assert "no.toml" in line
