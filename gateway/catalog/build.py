"""Maintainers' build of gateway/catalog/data/catalog.jsonl (the shipped file is this script's output).

    python -m gateway.catalog.build --ocd ../shared/data/open-cookie-database \
        --facts ../shared/data/trackers-facts.md

Inputs: the Open Cookie Database CSV (Apache-2.0, pinned commit in NOTICE) for facts only (names,
domains, platform, category, retention, controller; never its Description sentences), and the
curated rows in sources.py. Curated rows come last, so they correct the database where they meet.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gateway.catalog.sources import FRAMEWORK, VENDORS, Vendor

OCD_COMMIT = "0ee5a17"
OUT = Path(__file__).with_name("data") / "catalog.jsonl"

CATEGORY = {"functional": "functional", "marketing": "marketing", "analytics": "analytics",
            "personalization": "functional", "security": "necessary", "necessary": "necessary"}
# When two database rows share a name, the stricter purpose wins: blocking by mistake is visible
# and fixable, letting a tracker through is not.
STRICTNESS = {"necessary": 0, "functional": 1, "analytics": 2, "marketing": 3}
PHRASE = {
    "necessary": "keeps a session, a sign-in or protection against forged requests",
    "functional": "remembers a setting or the state of a feature",
    "analytics": "measures visits and how the site is used",
    "marketing": "advertising, conversion or cross-site tracking",
}
# Facts the database gets wrong (README quirks), with the reason.
PURPOSE_FIX = {
    "li_fat_id": "marketing",  # LinkedIn ad-click identifier, labelled Functional in the database
    "sb-": "functional",  # "Necessary", but a Supabase token kept up to a year is a remember-me
}
VENDOR_PURPOSE = {"Hotjar": "analytics"}  # every Hotjar cookie serves Hotjar's analytics only

# Head-office country of the data controller, where we know it (empty = unknown; the declaration
# page says so rather than guess).
COUNTRY = {
    "Google": "US", "Microsoft": "US", "Salesforce": "US", "LinkedIn": "US", "Adobe": "US",
    "Shopify.com": "CA", "Hotjar": "MT", "SAP": "DE", "WordPress": "US", "Piano": "US",
    "Crazy Egg": "US", "Facebook": "US", "Meta": "US", "ContentSquare": "FR", "Pubmatic": "US",
    "PubMatic": "US", "Zendesk": "US", "Qualtrics": "US", "X": "US", "HubSpot": "US", "Yahoo": "US",
    "Epsilon": "US", "Outbrain": "US", "Equativ.com": "FR", "Yandex": "RU", "Adform": "DK",
    "GitHub": "US", "Github": "US", "Twitch": "US", "Cloudflare": "US", "Wix.com": "IL",
    "Magnite": "US", "SurveyMonkey": "US", "Amazon Web Services": "US", "taboola.com": "US",
    "Pinterest": "US", "Xandr": "US", "PayPal": "US", "Lucky Orange": "US", "Cookiebot": "DK",
    "Lotame": "US", "OneTrust": "US", "Oracle": "US", "Trustpilot": "DK", "Snapchat": "US",
    "TikTok": "SG", "Vimeo": "US", "Wistia": "US", "Braze": "US", "Amplitude": "US", "Optimizely": "US",
    "Quantcast": "US", "Akamai": "US", "Nielsen": "US", "ComScore": "US", "Criteo": "FR",
    "RTB House": "PL", "MediaMath": "US", "OpenX": "US", "TripleLift": "US", "Baidu": "CN",
    "Matomo": "NZ", "Dynatrace": "US", "Indeed": "US", "Tripadvisor": "US", "ZOHO": "IN",
    "Teads.com": "FR", "Zeotap": "DE", "Customer.io": "US", "Parse.ly": "US", "Auth0": "US",
    "Casale Media": "CA", "ID5": "GB", "Dynamic Yield": "US", "Yieldmo": "US", "Sonobi": "US",
}
_HOST = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+")
_SESSIONISH = re.compile(r"^(session|sessions|end of session.*|browser session)$")


def cookie_pattern(name: str, wildcard: str) -> str | None:
    """The database name as our glob, or None for names no cookie can have (spaces)."""
    name = name.replace("\xad", "").strip()
    if not name or " " in name:
        return None
    name = name.replace("%INTEGER%", "*").replace("NNN", "*")
    if "*" in name:
        return name
    dunder = name.startswith("__") and name.endswith("__")
    # The Wildcard flag misses prefixes (Hm_lvt_, names ending in *); a name ending in a separator
    # is a prefix whatever the flag says. A flagged two-letter name ("SR", "CT") would swallow
    # half the site's cookies: kept exact.
    if (name[-1] in "_-./" and not dunder) or (wildcard == "1" and len(name) > 2):
        return name + "*"
    return name


def retention(text: str) -> str:
    t = " ".join(text.split()).lower()
    return "session" if _SESSIONISH.match(t) else t


def ocd_entries(csv_path: Path) -> list[dict[str, Any]]:
    with csv_path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    best: dict[str, dict[str, Any]] = {}
    others: dict[str, list[str]] = {}
    for r in rows:
        pattern = cookie_pattern(r["Cookie / Data Key name"], r["Wildcard match"].strip())
        if pattern is None:
            continue
        platform = r["Platform"].strip() or "unknown"
        purpose = CATEGORY[r["Category"].strip().lower()]
        purpose = VENDOR_PURPOSE.get(platform, purpose)
        purpose = PURPOSE_FIX.get(r["Cookie / Data Key name"].strip(), purpose)
        controller = r["Data Controller"].strip()
        domains = _HOST.findall(r["Domain"].lower())
        entry = {
            "kind": "cookie", "pattern": pattern, "vendor": platform, "controller": controller,
            "country": COUNTRY.get(controller, ""), "purpose": purpose,
            "retention": retention(r["Retention period"]),
            "description": f"{platform}: {PHRASE[purpose]}.",
            "source": "ocd",
        }
        if domains:
            entry["domain"] = domains[0]
        held = best.get(pattern)
        if held is None or STRICTNESS[purpose] > STRICTNESS[held["purpose"]]:
            if held is not None:
                others.setdefault(pattern, []).append(held["vendor"])
            best[pattern] = entry
        elif held["vendor"] != platform:
            others.setdefault(pattern, []).append(platform)
    for pattern, vendors in others.items():
        names = ", ".join(sorted(set(vendors) - {best[pattern]["vendor"]}))
        if names:
            best[pattern]["description"] += f" The name is also used by {names}."
    return list(best.values())


def curated_entries(groups: Iterable[Vendor], source: str) -> list[dict[str, Any]]:
    out = []
    for v in groups:
        for kind, pattern, purpose, keep, description in v.rows:
            e: dict[str, Any] = {"kind": kind, "pattern": pattern, "vendor": v.name, "controller": v.controller,
                                 "country": v.country, "purpose": purpose, "retention": keep,
                                 "description": description, "confidence": v.confidence, "source": source}
            out.append(e)
    return out


def check_facts_covered(facts_md: Path) -> None:
    """Every vendor row of trackers-facts.md's China table has curated rows (the file is free text,
    so it is checked, not parsed)."""
    names = {v.name.split(" (")[0].lower() for v in VENDORS}
    missing = []
    for line in facts_md.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 3 and cells[1] and not cells[1].startswith(("vendor", "---", "others")):
            vendor = cells[1].split(" (")[0].lower()
            if not any(vendor in n or n in vendor for n in names):
                missing.append(cells[1])
    if missing:
        raise SystemExit(f"trackers-facts.md vendors without curated rows: {missing}")


def build(ocd_dir: Path, facts_md: Path | None) -> list[dict[str, Any]]:
    if facts_md is not None:
        check_facts_covered(facts_md)
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for e in (*ocd_entries(ocd_dir / "open-cookie-database.csv"), *curated_entries(VENDORS, "facts"),
              *curated_entries(FRAMEWORK, "framework")):
        merged[("cookie" if e["kind"] == "cookie" else "url", e["pattern"])] = e  # later corrects earlier
    return sorted(merged.values(), key=lambda e: (e["kind"] != "cookie", e["pattern"].lower(), e["pattern"]))


def write(entries: list[dict[str, Any]], out: Path) -> None:
    header = (f"# consent-gateway catalog: one JSON object per line (format: gateway/catalog/README.md).\n"
              f"# Generated by gateway/catalog/build.py. Cookie facts from the Open Cookie Database\n"
              f"# (jkwakman/Open-Cookie-Database, commit {OCD_COMMIT}, Apache-2.0: data/LICENSE, NOTICE);\n"
              f"# descriptions are our own.\n")
    lines = [json.dumps(e, ensure_ascii=False, separators=(", ", ": ")) for e in entries]
    out.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ocd", type=Path, required=True, help="folder with open-cookie-database.csv")
    p.add_argument("--facts", type=Path, help="trackers-facts.md, checked for coverage")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    entries = build(args.ocd, args.facts)
    write(entries, args.out)
    print(f"wrote {len(entries)} entries to {args.out}")


if __name__ == "__main__":
    main()
