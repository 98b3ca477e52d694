"""Re-test of issue 10 finding 6: every bidi control is made visible in exports, U+061C included.

The export showed U+200E/U+200F, U+202A-U+202E and U+2066-U+2069 as \\uXXXX but let the Arabic
letter mark (U+061C, the third of Unicode's bidi marks, used by "Trojan Source" too) through raw, in
CSV and in JSON Lines, from a visitor's `next`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import RunningGateway, config_text


def export(cfg: Path, fmt: str) -> str:
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "log", "export", "--config", str(cfg),
                          "--format", fmt], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_arabic_letter_mark_is_visible(make_gateway: Callable[..., RunningGateway], tmp_path: Path) -> None:
    gw = make_gateway()
    with gw.client() as c:
        r = c.post("/_consent", data={"action": "reject_all", "next": "/invoice\u061c.pdf"},
                   headers={"Origin": gw.origin, "Accept": "application/json"})
    assert r.status_code == 200, r.text
    gw.server.stop()
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text("http://127.0.0.1:1", Path(gw.app.config.log.url[len("sqlite:///"):])))
    for fmt in ("csv", "jsonl"):
        text = export(cfg, fmt)
        assert "/invoice" in text and "\u061c" not in text, fmt
        assert "/invoice\\u061c.pdf" in text, fmt
