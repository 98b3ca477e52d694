"""One config, compiled once; a reload swaps it whole, or is refused with the reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gateway.app import ConsentGateway
from gateway.config import parse_config
from gateway.testing.servers import UvicornThread
from tests.conftest import RunningGateway, config_text

Make = Callable[..., RunningGateway]


def db_of(app: ConsentGateway) -> Path:
    return Path(app.config.log.url[len("sqlite:///"):])


def test_reload_swaps_rules_and_keeps_what_the_process_learned(make_gateway: Make, site: UvicornThread) -> None:
    gw = make_gateway()
    app = gw.app
    scopes, revocations, pool = app.shared.scopes, app.runtime.codec.revocations, app.pool
    with gw.client() as c:
        assert c.get("/_consent").json()["policy_version"] == "2024-10"
    text = config_text(site.url, db_of(app), extra='\n[[categories]]\nid = "ads"\ncookies = ["_fbp"]\n')
    assert app.reload(parse_config(text.replace('"2024-10"', '"2025-01"'))) is None
    assert app.config.consent.policy_version == "2025-01" and "ads" in app.config.category_ids
    # what the process learned survives: cookie scopes, withdrawals, the pooled connections
    assert app.shared.scopes is scopes and app.runtime.codec.revocations is revocations and app.pool is pool
    with gw.client() as c:
        state = c.get("/_consent").json()
        assert state["policy_version"] == "2025-01" and state["categories"]["ads"] is False
        page = c.get("/page", headers={"Cookie": "_fbp=1; csrftoken=2"})
        assert page.status_code == 200


def test_settings_fixed_at_start_are_refused_by_name(make_gateway: Make) -> None:
    gw = make_gateway()
    app = gw.app
    before = app.runtime
    text = config_text("http://127.0.0.1:1", db_of(app), gateway="header_timeout = 5")
    problem = app.reload(parse_config(text))
    assert problem is not None and "[gateway] upstream" in problem and "[gateway] header_timeout" in problem
    assert app.runtime is before  # the running config stays
