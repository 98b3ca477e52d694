"""`consent-gateway init`: a starter config that passes check-config, through the real CLI."""

from __future__ import annotations

import stat
import subprocess
import sys
import tomllib
from pathlib import Path


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


def test_init_writes_a_config_that_passes_check_config(tmp_path: Path) -> None:
    out = tmp_path / "gateway.toml"
    run = cli("init", "--upstream", "http://127.0.0.1:9000", "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert str(out) in run.stdout
    text = out.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert data["gateway"]["upstream"] == "http://127.0.0.1:9000"
    assert data["consent"]["mode"] == "report"
    assert data["catalog"]["enabled"] is True
    secret = data["consent"]["secret_keys"][0]
    chain = data["log"]["chain_key"]
    assert len(secret) >= 40 and len(chain) >= 40 and secret != chain
    assert not secret.startswith("dev-only")
    assert text.count("\n#") > 10  # commented for the operator
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds the keys
    from gateway.ledger.sqlite import sqlite_path

    # the unit's state directory whatever the working directory (`log verify` from an operator's shell)
    assert sqlite_path(data["log"]["url"]) == Path("/var/lib/consent-gateway/consent.db")

    check = cli("check-config", str(out))
    assert check.returncode == 0, check.stderr
    assert "OK" in check.stdout


def test_each_init_generates_new_keys(tmp_path: Path) -> None:
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    assert cli("init", "--upstream", "https://origin.internal", "--out", str(a)).returncode == 0
    assert cli("init", "--upstream", "https://origin.internal", "--out", str(b)).returncode == 0
    ka, kb = tomllib.loads(a.read_text()), tomllib.loads(b.read_text())
    assert ka["consent"]["secret_keys"] != kb["consent"]["secret_keys"]
    assert ka["log"]["chain_key"] != kb["log"]["chain_key"]


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "gateway.toml"
    out.write_text("# mine\n")
    run = cli("init", "--upstream", "http://127.0.0.1:9000", "--out", str(out))
    assert run.returncode == 2
    assert "exists" in run.stderr and "--force" in run.stderr
    assert out.read_text() == "# mine\n"
    forced = cli("init", "--upstream", "http://127.0.0.1:9000", "--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "upstream" in out.read_text()


def test_init_rejects_a_bad_upstream_in_one_line(tmp_path: Path) -> None:
    for bad in ("ftp://example.com", "example.com", "http://example.com/path", "http://example.com:99999"):
        out = tmp_path / "x.toml"
        run = cli("init", "--upstream", bad, "--out", str(out))
        assert run.returncode == 2, bad
        assert run.stderr.count("\n") == 1 and run.stderr.startswith("consent-gateway: "), run.stderr
        assert "Traceback" not in run.stderr
        assert not out.exists()


def test_init_default_out_is_in_the_current_directory(tmp_path: Path) -> None:
    run = cli("init", "--upstream", "http://127.0.0.1:9000", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "consent-gateway.toml").is_file()


def test_check_config_warns_when_a_category_lacks_text_in_a_shipped_locale(tmp_path: Path) -> None:
    from tests.conftest import config_text

    cats = ('[[categories]]\nid = "identity"\n\n[[categories]]\nid = "analytics"\n\n'
            '[[categories]]\nid = "newsletter"\ntitle = { en = "Newsletter" }\n')
    path = tmp_path / "c.toml"
    path.write_text(config_text("http://127.0.0.1:1", tmp_path / "x.db", categories=cats))
    run = cli("check-config", str(path))
    assert run.returncode == 0, run.stderr  # a warning, not a refusal
    warnings = [line for line in run.stderr.splitlines() if "warning" in line]
    assert any("'newsletter'" in w and "zh-CN" in w and "title" in w for w in warnings), run.stderr
    assert any("'newsletter'" in w and "description" in w for w in warnings), run.stderr
    assert not any("'newsletter'" in w and " en " in w and "title" in w for w in warnings), run.stderr
    assert not any("'analytics'" in w or "'identity'" in w for w in warnings), run.stderr  # built-in texts


def test_init_writes_fallback_locale_not_its_old_name(tmp_path: Path) -> None:
    from gateway.config import load_config

    out = tmp_path / "gateway.toml"
    assert cli("init", "--upstream", "http://127.0.0.1:9000", "--out", str(out)).returncode == 0
    text = out.read_text()
    assert "default_locale" not in text  # the old name is only an alias now
    assert tomllib.loads(text)["consent"]["fallback_locale"] == "en"
    assert load_config(str(out)).consent.fallback_locale == "en"
    out.write_text(text.replace('fallback_locale = "en"', 'fallback_locale = "zh-CN"'))
    assert load_config(str(out)).consent.fallback_locale == "zh-CN"  # the key is read, not defaulted
