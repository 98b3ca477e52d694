"""report.html: one self-contained page (no CDN, screenshots inlined) a person reads.

A verdict, the before/reject/accept comparison, per-vendor counts per phase, then each phase's
items grouped by vendor with its screenshot. Every text is in English and Chinese; a switch (or,
without script, the scan's locale) chooses which shows.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import jinja2
from markupsafe import Markup, escape

from gateway.banner import asset_dir
from gateway.scan.model import Attribution, Phase, Report
from gateway.scan.strings import LANGS, STRINGS


@dataclass
class Row:
    kind: str
    item: str
    category: str
    details: str
    violation: bool


@dataclass
class Group:
    vendor: str | None
    rows: list[Row] = field(default_factory=list)


def t(key: str) -> Markup:
    """Both languages of a string; CSS shows the chosen one."""
    en, zh = STRINGS[key]
    return Markup('<span lang="en">{}</span><span lang="zh-CN">{}</span>').format(en, zh)


def _cat(a: Attribution) -> str:
    if a.attributed_by is None:
        return "unknown"
    extra = f" ({a.purpose})" if a.purpose and a.purpose != a.category else ""
    return a.category + extra


def groups(phase: Phase) -> list[Group]:
    flagged = {(v.kind, v.name or v.url) for v in phase.violations}
    by_vendor: dict[str | None, Group] = {}

    def add(a: Attribution, row: Row) -> None:
        by_vendor.setdefault(a.vendor, Group(a.vendor)).rows.append(row)

    for c in phase.cookies:
        life = "session" if c.session else f"{c.expires_days:g} d" if c.expires_days is not None else ""
        party = "1st" if c.firstPartyStorage else "3rd"
        details = f"{c.domain}{c.path} · {life} · {party} party · set by {c.set_by}"
        if c.log.get("location"):
            details += f" ({c.log['location']})"
        flags = [f for f, on in (("HttpOnly", c.httpOnly), ("Secure", c.secure)) if on]
        details += " · " + " ".join([*flags, f"SameSite={c.sameSite}"])
        if not c.stored:
            details += " · refused by this browser (third-party cookies off); other browsers keep it"
        add(c.attribution, Row("cookie", c.name, _cat(c.attribution), details, ("cookie", c.name) in flagged))
    for s in phase.storage:
        add(s.attribution, Row(s.storage, s.key, _cat(s.attribution), s.origin, ("storage", s.key) in flagged))
    for r in phase.requests:
        count = f" ×{r.count}" if r.count > 1 else ""
        add(r.attribution, Row(f"request: {r.type}", r.url, _cat(r.attribution), f"{r.method} {r.host}{count}",
                               ("request", r.url) in flagged))
    for b in phase.beacons:
        add(b.attribution, Row(b.kind, b.url, _cat(b.attribution), b.host,
                               ("beacon", b.url) in flagged or ("request", b.url) in flagged))
    # named vendors first, most items first; the unattributed last
    return sorted(by_vendor.values(), key=lambda g: (g.vendor is None, -len(g.rows), g.vendor or ""))


def stats(phase: Phase | None) -> dict[str, int] | None:
    if phase is None:
        return None
    return {
        "cookies": len(phase.cookies),
        "nonnecessary": sum(c.attribution.necessary is False for c in phase.cookies),
        "requests": len(phase.requests),
        "tracker_requests": sum(r.attribution.necessary is False for r in phase.requests),
        "storage": len(phase.storage),
        "beacons": len(phase.beacons),
        "violations": len(phase.violations),
        "pages": len(phase.pages),
    }


@dataclass
class Cell:
    items: int = 0
    violations: int = 0


def vendor_matrix(report: Report) -> list[tuple[str, list[Cell | None]]]:
    """Vendor → items (and violations) seen in each phase; None: the phase was not run."""
    names: dict[str, list[Cell | None]] = {}
    phases = report.phases.items()
    for i, (_, phase) in enumerate(phases):
        if phase is None:
            continue
        for g in groups(phase):
            if g.vendor is None:
                continue
            row = names.setdefault(g.vendor, [None if p is None else Cell() for _, p in phases])
            cell = row[i]
            assert cell is not None
            cell.items += len(g.rows)
            cell.violations += sum(r.violation for r in g.rows)
    return sorted(names.items(), key=lambda kv: kv[0].lower())


def _data_uri(data: bytes | None) -> str | None:
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii") if data else None


def render(report: Report, lang: str | None = None) -> str:
    lang = lang or ("zh-CN" if report.browser.get("locale", "").startswith("zh") else "en")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(asset_dir("templates"))),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.globals["t"] = t
    phases: list[dict[str, Any]] = []
    for name, phase in report.phases.items():
        phases.append({"name": name, "phase": phase, "stats": stats(phase),
                       "groups": groups(phase) if phase else [],
                       "shot": _data_uri(phase.screenshot_bytes) if phase else None})
    return env.get_template("scan-report.html").render(
        report=report, lang=lang, langs=LANGS, phases=phases, matrix=vendor_matrix(report),
        metrics=["pages", "cookies", "nonnecessary", "requests", "tracker_requests", "storage", "beacons",
                 "violations"], esc=escape)
