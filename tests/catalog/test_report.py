"""`consent-gateway cookies report` with the catalog, through the real CLI on a real log."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

from gateway.catalog import Catalog
from gateway.catalog.report import printable, render
from tests.conftest import RunningGateway, config_text
from tests.test_cli import cli


def test_report_names_vendor_and_purpose_and_offers_toml(make_gateway: Callable[..., RunningGateway],
                                                        tmp_path: Path) -> None:
    gw = make_gateway()
    with gw.client() as c:
        c.get("/page", headers={"Cookie": "PHPSESSID=1; _hjSessionUser_1234=2; mystery_cookie=3; _ga=4; "
                                          "UM_distinctid=5; laravel_session=6"})
    gw.server.stop()  # flushes the cookie inventory
    db = Path(gw.app.config.log.url[len("sqlite:///"):])
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text("http://127.0.0.1:1", db))

    r = cli("cookies", "report", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    table, _, toml = r.stdout.partition("\n\n")
    lines = {line.split()[0]: line for line in table.splitlines()[1:]}
    # the catalog classifies them on the wire: withheld under the category their purpose maps to
    assert "Hotjar" in lines["_hjSessionUser_1234"] and "analytics" in lines["_hjSessionUser_1234"]
    assert "personalization" in lines["_hjSessionUser_1234"] and "not classified" not in lines["_hjSessionUser_1234"]
    assert "CNZZ / Umeng" in lines["UM_distinctid"]
    # kept (necessary by the catalog) and listed too: the report shows every cookie seen
    assert "PHP" in lines["PHPSESSID"] and "necessary" in lines["PHPSESSID"]
    assert "not classified" not in lines["PHPSESSID"] and "Laravel" in lines["laravel_session"]
    assert "Google Analytics" in lines["_ga"] and "personalization" in lines["_ga"]  # the config's rule
    assert "?" in lines["mystery_cookie"] and "not classified" in lines["mystery_cookie"]
    assert "not classified" not in lines["_ga"]

    snippet = tomllib.loads(toml)  # ready to paste: it parses
    cats = {c["id"]: c["cookies"] for c in snippet["categories"]}
    assert set(cats) == {"personalization"}  # only what nothing classifies, on the safe side
    assert "mystery_cookie" in cats["personalization"] and "UM_distinctid" not in cats["personalization"]
    assert "_ga" not in toml and "_hj" not in toml  # rules or the catalog already decide them


def test_names_from_visitors_cannot_drive_the_terminal() -> None:
    out = render([("evil\x1b[2J\x07name", "unknown", "request", 1, "2026-11-28T00:00:00Z")], Catalog.load())
    assert "\x1b" not in out and "\x07" not in out and "evil?[2J?name" in out
    assert printable("x" * 50, 10) == "x" * 9 + "…"
    assert tomllib.loads(out.partition("\n\n")[2])["categories"][0]["cookies"] == ["evil\x1b[2J\x07name"]
