"""The maintainers' build: the Open Cookie Database quirks, on rows shaped like the real ones."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gateway.catalog.build import build, cookie_pattern, retention, write
from gateway.catalog.loader import read_file


@pytest.mark.parametrize(("name", "flag", "pattern"), [
    ("Hm_lvt_", "0", "Hm_lvt_*"),  # a prefix the flag misses
    ("SSPR_*", "0", "SSPR_*"),
    ("_ga_", "1", "_ga_*"),
    ("amplitude_id", "1", "amplitude_id*"),
    ("SR", "1", "SR"),  # two letters: kept exact
    ("ref-", "0", "ref-*"),
    ("__exponea_etc__", "0", "__exponea_etc__"),  # dunder: a name, not a prefix
    ("aboutads_sessNNN", "0", "aboutads_sess*"),
    ("pagead/conv/%INTEGER%", "0", "pagead/conv/*"),
    ("logglytrackings\xadession", "0", "logglytrackingsession"),
    ("ce_need_secure_cookie\t", "0", "ce_need_secure_cookie"),
    ("Site History", "0", None),
    ("_gid", "0", "_gid"),
])
def test_cookie_pattern_quirks(name: str, flag: str, pattern: str | None) -> None:
    assert cookie_pattern(name, flag) == pattern


def test_retention_is_normalised() -> None:
    assert retention("Session") == retention("End of session (browser)") == retention(" session ") == "session"
    assert retention("1 Year") == "1 year"


COLUMNS = ["ID", "Platform", "Category", "Cookie / Data Key name", "Domain", "Description", "Retention period",
           "Data Controller", "User Privacy & GDPR Rights Portals", "Wildcard match"]


def test_build_merges_duplicates_fixes_categories_and_writes_loadable_data(tmp_path: Path) -> None:
    rows = [
        ["1", "Xandr", "Functional", "token", ".adnxs.com", "Their sentence one.", "1440 Minutes", "Xandr", "", "0"],
        ["2", "Adform", "Marketing", "token", "adform.net (3rd party)", "Their sentence two.", "Session", "Adform",
         "", "0"],
        ["3", "LinkedIn", "Functional", "li_fat_id", "", "Their sentence three.", "30 days", "LinkedIn", "", "0"],
        ["4", "", "Security", "XSRF-TOKEN", "", "Their sentence four.", "Session", "", "", "0"],
        ["5", "Bing / Microsoft", "Marketing", "MUID", ".bing.com (3rd party) or .microsoft.com (3rd party)",
         "Their sentence five.", "1 year", "Microsoft", "", "0"],
    ]
    with (tmp_path / "open-cookie-database.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows)
    entries = {e["pattern"]: e for e in build(tmp_path, None)}
    token = entries["token"]
    assert token["vendor"] == "Adform" and token["purpose"] == "marketing" and "Xandr" in token["description"]
    assert entries["li_fat_id"]["purpose"] == "marketing"
    assert entries["XSRF-TOKEN"]["purpose"] == "necessary"
    assert entries["MUID"]["domain"] == "bing.com" and entries["MUID"]["country"] == "US"
    assert not any("Their sentence" in e["description"] for e in entries.values())  # never their words
    assert entries["cto_bundle"]["vendor"] == "Criteo"  # curated rows are added
    out = tmp_path / "catalog.jsonl"
    write(list(entries.values()), out)
    assert len(read_file(out)) == len(entries)
