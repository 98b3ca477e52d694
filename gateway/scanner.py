"""The seam between "find" and "decide" in the HTML rewriter: `walk` finds the next token that
matters (gateway/_scan_py.py documents the contract); gateway.rewrite decides what to do with it.

Two implementations with the same output, byte for byte: the compiled gateway._speedups (built by
`pip install`, see setup.py) and its pure-Python twin gateway._scan_py, the reference and the
fallback when no compiler was there. CONSENT_GATEWAY_PURE_PYTHON=1 forces the twin.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType

from gateway import _scan_py

Walk = Callable[[bytes, bytes, int, int, int, int, int, bool], tuple[int, int, int, int, int, int]]
DONE, SLOW, HIT, STALE = _scan_py.DONE, _scan_py.SLOW, _scan_py.HIT, _scan_py.STALE


def _compiled() -> ModuleType | None:
    try:
        from gateway import _speedups  # type: ignore[attr-defined]
    except ImportError:
        return None
    module: ModuleType = _speedups
    return module


def available() -> dict[str, Walk]:
    """Every implementation that can run here, by name (the tests run each)."""
    found: dict[str, Walk] = {"python": _scan_py.walk}
    compiled = _compiled()
    if compiled is not None:
        found["compiled"] = compiled.walk
    return found


def forced_pure() -> bool:
    return os.environ.get("CONSENT_GATEWAY_PURE_PYTHON", "") not in ("", "0")


def _choose() -> tuple[str, Walk]:
    found = available()
    if forced_pure() or "compiled" not in found:
        return "python", found["python"]
    return "compiled", found["compiled"]


IMPLEMENTATION, walk = _choose()
