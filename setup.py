"""What pyproject.toml cannot say: the optional C scanner, and the top-level assets in the wheel."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithAssets(build_py):
    """templates/ and static/ live at the top of the checkout; the wheel carries them as
    gateway/_assets/ (gateway.banner.asset_dir looks in both places)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the checkout
        for name in ("templates", "static"):
            shutil.copytree(ROOT / name, Path(self.build_lib) / "gateway" / "_assets" / name, dirs_exist_ok=True)


setup(
    # optional: when it cannot be compiled, the install goes on and gateway.scanner runs the
    # pure-Python twin (gateway/_scan_py.py), just slower
    ext_modules=[Extension("gateway._speedups", ["gateway/_speedups.c"], optional=True)],
    cmdclass={"build_py": BuildPyWithAssets},
)
