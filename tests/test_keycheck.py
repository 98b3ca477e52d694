"""The shipped development key: refused off loopback, never the root of the log's chain key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.config import default_config_path, parse_config
from gateway.keycheck import key_problems

SHIPPED = default_config_path().read_text()
REAL_KEY = "a-real-secret-key-0123456789abcdef"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, timeout=60)


def public(text: str) -> str:
    return text.replace('host = "127.0.0.1"', 'host = "0.0.0.0"', 1)


def test_check_config_refuses_the_shipped_key_off_loopback(tmp_path: Path) -> None:
    cfg = tmp_path / "public.toml"
    cfg.write_text(public(SHIPPED))
    r = run_cli("check-config", str(cfg))
    assert r.returncode == 2
    assert "secret_keys" in r.stderr and "secrets.token_urlsafe(32)" in r.stderr
    # on loopback the shipped file is still a working development config
    assert run_cli("check-config", str(default_config_path())).returncode == 0


def test_serve_refuses_the_shipped_key_on_a_public_address(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(SHIPPED)
    # --host overrides the file: the check applies to the address really bound
    r = run_cli("serve", "--config", str(cfg), "--host", "0.0.0.0", "--port", "1")
    assert r.returncode == 2 and "secret_keys" in r.stderr and "token_urlsafe" in r.stderr


def test_a_public_address_needs_its_own_chain_key(tmp_path: Path) -> None:
    text = public(SHIPPED).replace("dev-only-change-me-0123456789abcdef", REAL_KEY)
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    r = run_cli("check-config", str(cfg))
    assert r.returncode == 2 and "chain_key" in r.stderr and "CONSENT_GATEWAY_LOG_KEY" in r.stderr
    cfg.write_text(text.replace('# chain_key = "..."', 'chain_key = "a-real-chain-key-0123456789"'))
    assert run_cli("check-config", str(cfg)).returncode == 0
    # or from the environment
    cfg.write_text(text)
    env_ok = subprocess.run([sys.executable, "-m", "gateway.cli", "check-config", str(cfg)], capture_output=True,
                            text=True, timeout=60, env={"CONSENT_GATEWAY_LOG_KEY": "env-chain-key-0123456789",
                                                         "PATH": "/usr/bin:/bin"})
    assert env_ok.returncode == 0, env_ok.stderr


def test_the_chain_key_is_never_derived_from_the_shipped_key() -> None:
    shipped = parse_config(SHIPPED, env={})
    real = parse_config(SHIPPED.replace("dev-only-change-me-0123456789abcdef", REAL_KEY), env={})
    assert "dev-only-change-me" not in shipped.log.chain_key
    assert REAL_KEY in real.log.chain_key  # a real key still seeds a loopback development chain
    assert key_problems(shipped, "127.0.0.1") == [] and key_problems(shipped, "::1") == []
    assert key_problems(shipped, "localhost") == []
    assert any("secret_keys" in p for p in key_problems(shipped, "192.0.2.1"))
