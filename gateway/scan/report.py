"""The scan's files in --out DIR: report.json, report.html, screenshots/, suggested.toml.

report.json's schema is documented in docs/scan-report.md; suggested.toml lists, as `[[categories]]`
rules an operator can paste into the gateway config, what the scan found that neither the catalog
nor the given config classifies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from gateway.config import COOKIE_GLOB
from gateway.scan.model import Report

FORMATS = ("json", "html")


def write(report: Report, out: Path, formats: Iterable[str] = FORMATS) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    shots = out / "screenshots"
    for name, phase in report.phases.items():
        if phase is not None and phase.screenshot_bytes:
            shots.mkdir(exist_ok=True)
            path = shots / f"{name}.jpg"
            path.write_bytes(phase.screenshot_bytes)
            phase.screenshot = f"screenshots/{name}.jpg"
            written.append(path)
    formats = set(formats)
    if "json" in formats:
        path = out / "report.json"
        path.write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    if "html" in formats:
        from gateway.scan.html import render

        path = out / "report.html"
        path.write_text(render(report), encoding="utf-8")
        written.append(path)
    path = out / "suggested.toml"
    path.write_text(suggested_toml(report), encoding="utf-8")
    written.append(path)
    return written


def _comment(s: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", " ", s)[:200]


def _toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def suggested_toml(report: Report) -> str:
    """Unclassified cookies, storage keys and third-party script hosts, as one rule to review and split."""
    cookies: dict[str, str] = {}
    hosts: dict[str, str] = {}
    for name, phase in report.phases.items():
        if phase is None:
            continue
        for c in phase.cookies:
            if c.attribution.attributed_by is None and COOKIE_GLOB.match(c.name):
                cookies.setdefault(c.name, f"{name}: set by {c.set_by} {c.log.get('location') or ''}".strip())
        for s in phase.storage:  # a storage key the config can name like a cookie
            if s.attribution.attributed_by is None and COOKIE_GLOB.match(s.key):
                cookies.setdefault(s.key, f"{name}: {s.storage} key of {s.origin}")
        for r in phase.requests:
            if r.attribution.attributed_by is None and r.type in ("script", "sub_frame", "document", "image", "ping"):
                hosts.setdefault(r.host, f"{name}: {r.type} {r.url[:120]}")
        for b in phase.beacons:  # the site's own pixels too: the rule is a path, as the demo's /static/demo-tracker
            if b.attribution.attributed_by is None:
                pattern = b.host if not b.firstParty else urlsplit(b.url).path
                hosts.setdefault(pattern, f"{name}: {b.kind} {b.url[:120]}")
    lines = [f"# consent-gateway scan of {report.url} at {report.scanned_at}",
             "# Found on the site; neither the tracker catalog nor your config classifies these.",
             "# Check each one, move it to the category it belongs to (or to [cookies] necessary),",
             "# rename the category, and paste into the gateway config."]
    if not cookies and not hosts:
        lines.append("# Nothing unclassified was found.")
        return "\n".join(lines) + "\n"
    lines += ["", "[[categories]]", 'id = "review"', "cookies = ["]
    lines += [f"  {_toml_str(n)},  # {_comment(why)}" for n, why in sorted(cookies.items())]
    lines += ["]", "scripts = ["]
    lines += [f"  {_toml_str(h)},  # {_comment(why)}" for h, why in sorted(hosts.items())]
    lines += ["]"]
    return "\n".join(lines) + "\n"
