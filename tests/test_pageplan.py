"""What one page gets (gateway/pageplan.py), without a server: trackers, head config and banner."""

from __future__ import annotations

from pathlib import Path

from gateway.banner import Banner
from gateway.config import Config, parse_config
from gateway.consent import ConsentState
from gateway.context import RequestContext
from gateway.cookies import CookieRules
from gateway.csp import nonces_for
from gateway.forwarded import ClientInfo
from gateway.metrics import Metrics
from gateway.neutralise import RewritePlan, RewriteStats
from gateway.pageplan import PagePlanner
from tests.conftest import config_text

NOTHING: frozenset[str] = frozenset()


def config() -> Config:
    return parse_config(config_text("http://127.0.0.1:9", Path("/nonexistent/consent.db")))


def planner() -> tuple[PagePlanner, Metrics]:
    cfg = config()
    return PagePlanner(cfg, Banner(cfg, rules=CookieRules(cfg))), Metrics()


def placed(plan: RewritePlan, metrics: Metrics) -> None:
    """What the proxy does once the rewriter is done: the banner counts if it was placed."""
    stats = RewriteStats()
    stats.body_injected = True
    metrics.rewritten(stats, report=plan.report, banner=plan.banner)


def ctx(decided: bool = False, **headers: str) -> RequestContext:
    state = ConsentState(decided, NOTHING, "2024-10", None, None, NOTHING)
    first = {k.replace("_", "-").encode(): v.encode() for k, v in headers.items()}
    return RequestContext(list(first.items()), first, [], ClientInfo("127.0.0.1", "http", "shop.example"), state,
                          False, False)


def test_a_page_gets_the_head_config_and_the_banner_counted_once_placed() -> None:
    p, metrics = planner()
    plan = p.plan(ctx(), NOTHING, False, "/", b"utf-8", ())
    assert plan.head_html and plan.placeholder is not None and plan.with_nonces is not None
    assert ("www.googletagmanager.com", "personalization") in plan.blocked_scripts
    assert plan.charset == "utf-8"
    body = plan.body_html("utf-8")
    assert b"<" in body and metrics.banners == 0  # rendering counts nothing: the page plan is pure
    metrics.rewritten(RewriteStats(), banner=plan.banner)  # a page with no place for it: not shown
    assert metrics.banners == 0
    placed(plan, metrics)
    assert plan.banner and metrics.banners == 1


def test_a_decided_visitor_is_not_counted_as_shown_a_banner() -> None:
    p, metrics = planner()
    plan = p.plan(ctx(decided=True), NOTHING, False, "/", b"", ())
    plan.body_html("utf-8")
    placed(plan, metrics)
    assert not plan.banner and metrics.banners == 0


def test_a_frame_gets_the_head_config_but_no_banner() -> None:
    p, metrics = planner()
    plan = p.plan(ctx(sec_fetch_dest="iframe"), NOTHING, False, "/", b"", ())
    placed(plan, metrics)
    assert plan.head_html and plan.body_html("utf-8") == b"" and metrics.banners == 0


def test_a_fragment_and_a_crawler_get_neither_but_trackers_stay_held() -> None:
    p, _ = planner()
    for plan in (p.plan(ctx(hx_request="true"), NOTHING, False, "/", b"", ()),
                 p.plan(ctx(), NOTHING, True, "/", b"", ())):
        assert plan.head_html == b"" and plan.body_html("utf-8") == b"" and plan.placeholder is None
        assert not plan.banner
        assert plan.trackers is not None and plan.trackers.blocked


def test_granted_categories_hold_nothing_of_theirs_and_rules_are_built_once_per_set() -> None:
    p, _ = planner()
    everything = frozenset({"identity", "personalization"})
    assert p.plan(ctx(), everything, False, "/", b"", ()).blocked_scripts == ()
    assert p.trackers(everything) is p.trackers(everything)


def test_nonces_a_meta_policy_asks_for_are_rendered_again() -> None:
    p, _ = planner()
    plan = p.plan(ctx(), NOTHING, False, "/", b"", ())
    assert plan.with_nonces is not None
    head, body = plan.with_nonces(nonces_for(["script-src 'nonce-r4nd0m'"]))
    assert b'nonce="r4nd0m"' in head
    assert b"r4nd0m" not in plan.head_html
