"""What a scan found, as plain dataclasses: the Report a QA suite asserts on and report.json serialises.

Field names follow the EDPS Website Evidence Collector where they mean the same (`httpOnly`,
`sameSite`, `firstPartyStorage`, `log.type` / `log.location`), so its users can move across; the
schema is documented in docs/scan-report.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Attribution:
    """Who an item belongs to and what it is for; all None/"unknown" when nobody knows."""

    vendor: str | None = None
    category: str = "unknown"  # the config's category id, or the catalog's purpose, or "unknown"
    purpose: str | None = None  # necessary | functional | analytics | marketing (catalog), or None
    description: str | None = None
    country: str | None = None
    necessary: bool | None = None  # None: unknown
    attributed_by: str | None = None  # "config" | "catalog" | None


@dataclass
class Cookie:
    name: str
    domain: str
    path: str
    expires: str | None  # ISO 8601 UTC; None for a session cookie
    expires_days: float | None
    httpOnly: bool
    secure: bool
    sameSite: str
    session: bool
    firstPartyStorage: bool
    set_by: str  # "http" | "script" | "unknown"
    log: dict[str, str | None]  # {"type": "HTTP" | "JavaScript" | None, "location": URL of response or script}
    value: str = ""
    # False: a third-party Set-Cookie this Chromium refused (its default blocks third-party cookies);
    # a browser that allows them would have kept it
    stored: bool = True
    attribution: Attribution = field(default_factory=Attribution)


@dataclass
class Request:
    url: str
    host: str
    type: str  # Playwright's resource type: script, image, xhr, fetch, ping, sub_frame ("document" in a frame)...
    method: str
    count: int = 1
    attribution: Attribution = field(default_factory=Attribution)


@dataclass
class StorageItem:
    storage: str  # localStorage | sessionStorage
    origin: str
    key: str
    value: str = ""
    attribution: Attribution = field(default_factory=Attribution)


@dataclass
class Beacon:
    url: str
    host: str
    kind: str  # "sendBeacon" | "pixel"
    firstParty: bool
    attribution: Attribution = field(default_factory=Attribution)


@dataclass
class Violation:
    kind: str  # cookie | storage | request | beacon
    name: str | None
    url: str | None
    vendor: str | None
    category: str
    reason: str


@dataclass
class Page:
    url: str
    status: int | None
    note: str | None = None


@dataclass
class Phase:
    name: str  # before | reject | accept
    pages: list[Page] = field(default_factory=list)
    cookies: list[Cookie] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    storage: list[StorageItem] = field(default_factory=list)
    beacons: list[Beacon] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    screenshot: str | None = None  # path relative to the output directory
    screenshot_bytes: bytes | None = field(default=None, repr=False)  # kept for report.html, not in JSON


@dataclass
class Phases:
    before: Phase
    reject: Phase | None = None
    accept: Phase | None = None

    def items(self) -> list[tuple[str, Phase | None]]:
        return [("before", self.before), ("reject", self.reject), ("accept", self.accept)]


@dataclass
class Banner:
    found: bool
    kind: str | None = None  # gateway | cookiebot | onetrust | cookieconsent


@dataclass
class Report:
    url: str
    scanned_at: str
    tool_version: str
    banner: Banner
    phases: Phases
    browser: dict[str, Any] = field(default_factory=dict)

    @property
    def violations(self) -> list[Violation]:
        """Violations of every phase (only before and reject can have any)."""
        return [v for _, p in self.phases.items() if p for v in p.violations]

    @property
    def passed(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name, phase in self.phases.items():
            if phase is not None:
                data["phases"][name].pop("screenshot_bytes", None)
        return {"schema": "consent-gateway-scan/1", **data}
