"""The decision limit: per address, generous, refusals always applied, JSON for JSON clients."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from gateway.testing.servers import UvicornThread, free_port, wait_http
from tests.conftest import RunningGateway, config_text

JSON = {"Accept": "application/json"}
TIGHT = 'default_locale = "en"\ndecisions_per_minute = 1\ndecision_burst = 2'


def decide(gw: RunningGateway, c: httpx.Client, action: str, **headers: str) -> httpx.Response:
    return c.post("/_consent", data={"action": action, "next": "/"},
                  headers={"Origin": gw.origin, **JSON, **headers})


def records(gw: RunningGateway) -> list[str]:
    db = gw.app.config.log.url[len("sqlite:///"):]
    conn = sqlite3.connect(db)
    try:
        return [row[0] for row in conn.execute("SELECT action FROM consent_log ORDER BY seq")]
    finally:
        conn.close()


def test_one_address_makes_a_hundred_decisions_with_the_defaults(make_gateway: Callable[..., RunningGateway]) -> None:
    # an office or a carrier-grade NAT: many visitors, one address
    gw = make_gateway(consent='default_locale = "en"\n# decisions_per_minute: the shipped default')
    codes = []
    for i in range(110):
        with gw.client() as c:
            codes.append(decide(gw, c, "accept_all" if i % 2 else "reject_all").status_code)
    assert codes == [200] * 110


def test_refused_requests_cost_nothing(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(consent=TIGHT)
    with gw.client() as c:
        for _ in range(10):
            assert decide(gw, c, "nonsense").status_code == 400
            assert c.post("/_consent", data={"action": "accept_all"},
                          headers={"Origin": "https://evil.example"}).status_code == 403
        assert [decide(gw, c, "accept_all").status_code for _ in range(2)] == [200, 200]


def test_over_the_limit_refusals_apply_and_grants_get_json_429(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(consent=TIGHT)
    with gw.client() as c:
        assert [decide(gw, c, "accept_all").status_code for _ in range(2)] == [200, 200]
        r = decide(gw, c, "accept_all", **{"Accept-Language": "zh-CN"})
        assert r.status_code == 429 and r.headers["content-type"].startswith("application/json")
        assert int(r.headers["retry-after"]) >= 1 and "set-cookie" not in r.headers
        body = r.json()
        assert body["retry_after"] == int(r.headers["retry-after"]) and body["lang"] == "zh-CN"
        assert "重试" in body["message"]
        # a rejection and a withdrawal take effect even now: the cookie is set
        r = decide(gw, c, "reject_all")
        assert r.status_code == 200 and "set-cookie" in r.headers
        assert c.get("/_consent").json()["categories"]["personalization"] is False
        r = decide(gw, c, "withdraw")
        assert r.status_code == 200 and "set-cookie" in r.headers
        # a grant is still refused; a plain form post gets a plain 429, never a silent drop
        form = c.post("/_consent", data={"action": "accept_all"}, headers={"Origin": gw.origin})
        assert form.status_code == 429 and "retry" in form.text
    # counted, not silently dropped: the two grants are logged, the two refusals aggregated
    assert records(gw) == ["accept_all", "accept_all"]
    tallies = gw.app.metrics.tallies
    assert tallies["aggregated"] == {"reject_all": 1, "withdraw": 1}
    assert tallies["limited"] == {"accept_all": 2}
    text = gw.app.metrics.render().decode()
    assert 'consent_decisions_aggregated_total{action="reject_all"} 1.0' in text


def test_the_limit_is_per_address_not_per_network(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(consent=TIGHT)
    with gw.client() as c:
        assert [decide(gw, c, "accept_all").status_code for _ in range(3)] == [200, 200, 429]
    # a neighbour in the same /24 (another address on loopback) is not limited by it
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=gw.url, transport=transport, timeout=10) as other:
        assert [decide(gw, other, "accept_all").status_code for _ in range(2)] == [200, 200]


def test_serve_warns_once_about_an_untrusted_proxy(tmp_path: Path, site: UvicornThread) -> None:
    cfg = tmp_path / "g.toml"
    cfg.write_text(config_text(site.url, tmp_path / "log.db"))
    port = free_port()
    err = tmp_path / "err.log"
    exe = Path(sys.executable).with_name("consent-gateway")
    proc = subprocess.Popen([str(exe), "serve", "--config", str(cfg), "--port", str(port)],
                            stderr=open(err, "wb"))  # noqa: SIM115
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/_consent/health")
        for _ in range(3):  # a proxy on loopback that is not in trusted_proxies
            httpx.get(url + "/", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
        r = httpx.post(url + "/_consent", data={"action": "accept_all"},
                       headers={"Origin": "https://127.0.0.1:" + str(port), **JSON})
        assert r.status_code == 403 and "trusted_proxies" in r.json()["error"]
        assert "terminates TLS" in r.json()["error"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    lines = [json.loads(line) for line in err.read_text().splitlines() if line.startswith("{")]
    warnings = [x for x in lines if x["level"] == "warning" and "trusted_proxies" in x["msg"]]
    at_start = [x for x in warnings if "neither trusted_proxies nor public_origin" in x["msg"]]
    per_request = [x for x in warnings if "X-Forwarded-For" in x["msg"]]
    assert len(at_start) == 1 and len(per_request) == 1, warnings
    assert "127.0.0.0/24" in per_request[0]["msg"] and "127.0.0.1" not in per_request[0]["msg"]
    assert "203.0.113" not in err.read_text()
