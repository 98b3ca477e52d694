"""deploy/README.md's install block, run as written, as far as this machine allows.

The block is read out of the README, so the guide and this test cannot drift apart. Paths move
into a temporary directory (/opt/consent-gateway, /etc/consent-gateway, /etc/systemd/system,
/etc/nginx); the site and the two ports become loopback ones. Four commands change the host or
need systemd as PID 1 and are recorded instead: `useradd`, `chgrp`, `systemctl` and `nginx`
(tests/deploy/test_nginx_deployment.py runs the shipped nginx.conf). `systemctl enable --now`
starts each instance from the installed unit's own ExecStart line, as systemd would, with its
StateDirectory= under the temporary directory. Everything else runs for real: the venv, `pip
install .` (offline, from a wheelhouse of the dependencies), init, check-config, `systemd-analyze
verify` of the installed unit and the readiness checks with curl.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from gateway.testing.servers import UvicornThread, free_port

ROOT = Path(__file__).resolve().parents[2]
HOST_ONLY = {"useradd", "chgrp", "systemctl", "nginx"}

STUBS = r"""
sudo() { "$@"; }
record() { echo "$*" >> "$T/host.log"; }
useradd() { record useradd "$@"; }
chgrp() { record chgrp "$@"; }
nginx() { record nginx "$@"; }
systemd-analyze() {
  # the unit as installed, its paths where this run put the venv and the config
  mkdir -p "$T/analyze"
  sed "s#/opt/consent-gateway#$T/opt#g; s#/etc/consent-gateway#$T/etc#g" \
    "$T/systemd/consent-gateway@.service" > "$T/analyze/consent-gateway@.service"
  (cd "$T/analyze" && command systemd-analyze "$1" "$T/analyze/$(basename "$2")")
}
systemctl() {
  record systemctl "$@"
  [ "$1 ${2:-}" = "enable --now" ] || return 0
  shift 2
  mkdir -p "$T/state"  # StateDirectory=consent-gateway
  sed -i "s#/var/lib/consent-gateway#$T/state#" "$T/etc/config.toml"
  for unit in "$@"; do
    cmd="$(sed -n 's/^ExecStart=//p' "$T/systemd/consent-gateway@.service")"
    cmd="${cmd//%i/${unit#*@}}"
    cmd="${cmd//\/opt\/consent-gateway/$T/opt}"
    cmd="${cmd//\/etc\/consent-gateway/$T/etc}"
    (set -a; . "$T/etc/secrets.env"; set +a; exec $cmd) > "$T/$unit.log" 2>&1 &
    echo $! >> "$T/pids"
  done
}
"""


def stop(pids: list[str]) -> None:
    """SIGTERM to the instances the block started (their bash has exited: they are not our children)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGTERM)
    deadline = time.monotonic() + 30
    for pid in pids:
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists() and not is_zombie(pid):
            time.sleep(0.1)


def is_zombie(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def install_block() -> str:
    """The first sh block under '## Install' in deploy/README.md."""
    section = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8").split("\n## Install\n", 1)[1]
    return section.split("```sh\n", 1)[1].split("\n```", 1)[0]


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """The dependencies' wheels (and setuptools, to build ours), kept between runs per pyproject."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    house = ROOT / ".pytest_cache" / f"wheelhouse-{digest}"
    if not house.is_dir():
        work = house.with_name(house.name + ".tmp")
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(work), str(ROOT),
                        "setuptools>=77"], check=True, timeout=600)
        for ours in work.glob("consent_gateway-*.whl"):
            ours.unlink()  # the block installs ours from the checkout
        work.rename(house)
    return house


def test_the_install_block_of_the_guide(tmp_path: Path, site: UvicornThread, wheelhouse: Path) -> None:
    block = install_block()
    assert block.count("\n") > 10 and "consent-gateway init" in block and "health/ready" in block
    checkout = tmp_path / "checkout"  # a clean checkout: pip's build leaves nothing in the worktree
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache", "build", "dist", "*.egg-info",
        "__pycache__", "*.so", "test-artifacts", "mutants*", ".hypothesis", ".demo-state"))
    t = tmp_path / "host"
    for d in ("systemd", "nginx"):  # there on a host with systemd and nginx
        (t / d).mkdir(parents=True)
    ports = (free_port(), free_port())
    script = (block.replace("/opt/consent-gateway", f"{t}/opt").replace("/etc/consent-gateway", f"{t}/etc")
              .replace("/etc/systemd/system", f"{t}/systemd").replace("/etc/nginx", f"{t}/nginx")
              .replace("http://127.0.0.1:8000", site.url)
              .replace("8081", str(ports[0])).replace("8082", str(ports[1])))
    env = {**os.environ, "T": str(t), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse)}
    env.pop("VIRTUAL_ENV", None)
    try:
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", STUBS + script], cwd=checkout, env=env,
                             capture_output=True, text=True, timeout=900)
        logs = "".join(p.read_text() for p in t.glob("consent-gateway@*.log"))
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:] + logs
    finally:
        stop((t / "pids").read_text().split() if (t / "pids").exists() else [])

    recorded = (t / "host.log").read_text().splitlines()
    assert {line.split()[0] for line in recorded} == HOST_ONLY
    assert f"systemctl enable --now consent-gateway@{ports[0]} consent-gateway@{ports[1]}" in recorded
    # step 1: a real install into its own venv, assets and all, not the checkout
    exe = t / "opt" / ".venv" / "bin" / "consent-gateway"
    assert re.search(r"^consent-gateway \d+\.\d+", run.stdout, re.M)
    where = subprocess.run([str(exe.with_name("python")), "-c", "import gateway; print(gateway.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert where.startswith(str(t / "opt" / ".venv")) and (Path(where).parent / "_assets").is_dir()
    # step 2: the config init wrote, readable by its group only, and the secrets file
    config = t / "etc" / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert stat.S_IMODE((t / "etc" / "secrets.env").stat().st_mode) == 0o600
    data = tomllib.loads(config.read_text())
    assert data["consent"]["mode"] == "report" and data["gateway"]["upstream"] == site.url
    assert f"{config}: OK" in run.stdout
    # step 5: both instances answered ready (curl -f), from the log in the state directory
    assert run.stdout.count('"ready":true') == 2, run.stdout
    assert (t / "state" / "consent.db").exists()
