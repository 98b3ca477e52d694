"""Floods of cookie names: a bounded inventory, a bounded number of expiries per response."""

from __future__ import annotations

import random
import sqlite3
import string
from collections.abc import Callable

from tests.conftest import RunningGateway

NAMES_PER_REQUEST = 4000
REQUESTS = 14


def random_cookies(rng: random.Random) -> str:
    # short names keep the head near 32 KB (a real browser sends at most a few hundred cookies)
    names = {"z" + "".join(rng.choices(string.ascii_lowercase + string.digits, k=4))
             for _ in range(NAMES_PER_REQUEST)}
    return "; ".join(f"{n}=1" for n in names)


def test_a_flood_of_cookie_names_is_bounded(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway()  # defaults: 500 distinct names per label in the inventory, 50 expiries a response
    rng = random.Random(7)
    with gw.client() as c:
        for i in range(REQUESTS):
            cookie = random_cookies(rng) + "; _ga=GA1.2; sid=s"
            r = c.get("/page", headers={"Cookie": cookie}) if i % 2 else \
                c.post("/_consent", data={"action": "reject_all"}, headers={"Origin": gw.origin, "Cookie": cookie})
            assert r.status_code in (200, 303)
            expiries = [v for v in r.headers.get_list("set-cookie") if "Max-Age=0" in v or "1970" in v]
            assert 0 < len(expiries) <= 50, len(expiries)
            assert len(r.headers.get_list("set-cookie")) <= 60
    unexpired = gw.app.metrics.tallies["unexpired"]
    assert sum(unexpired.values()) > REQUESTS * (NAMES_PER_REQUEST - 1000)  # counted, not hidden
    gw.server.stop()  # flushes the inventory
    conn = sqlite3.connect(gw.app.config.log.url[len("sqlite:///"):])
    try:
        rows = conn.execute("SELECT name, label, source, count FROM cookie_inventory").fetchall()
    finally:
        conn.close()
    unknown = {name for name, label, _, _ in rows if label == "unknown"}
    assert len(unknown) <= 501  # 500 names, and "(other)" for the rest
    assert "(other)" in unknown
    other = sum(n for name, label, _, n in rows if name == "(other)")
    # every cookie the page requests carried is still counted (decisions do not feed the inventory)
    assert other > REQUESTS // 2 * (NAMES_PER_REQUEST - 100) - 500
    assert {"_ga", "sid"} <= {name for name, _, _, _ in rows}  # classified names are kept
    assert len(rows) <= 600
