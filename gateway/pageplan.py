"""What one HTML page gets: the trackers held for this visitor, the head config and the banner, as
the `RewritePlan` the rewriter follows. Built per page from the compiled config; no sockets.

A crawler and a fragment get neither the config nor the banner, a frame no banner
(gateway/navigation.py). A `<meta http-equiv=Content-Security-Policy>` in the page can ask for
nonces the headers did not: `BannerMarkup.with_nonces` renders both again for them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from gateway.banner import Banner
from gateway.clientrules import catalog_urls
from gateway.config import Config
from gateway.consent import ConsentState
from gateway.context import RequestContext
from gateway.csp import Nonces, nonces_for
from gateway.decoding import normalise_charset
from gateway.navigation import Page, classify
from gateway.neutralise import RewritePlan
from gateway.trackers import TrackerRules


@dataclass(frozen=True, slots=True)
class BannerMarkup:
    """The injections of one page, in the visitor's language and for its consent state."""

    banner: Banner
    locale: str
    state: ConsentState
    path: str
    framed: bool  # a frame: the head config, no banner

    def with_nonces(self, nonces: Nonces) -> tuple[bytes, Callable[[str], bytes]]:
        """The head config and the banner (by charset), carrying these CSP nonces."""
        return self.banner.head_html(self.state, nonces), functools.partial(self.body_html, nonces)

    def body_html(self, nonces: Nonces, charset: str) -> bytes:
        if self.framed:
            return b""
        html = self.banner.body_html(self.locale, self.state, self.path, show=not self.state.decided, nonces=nonces)
        return html.encode(charset, "xmlcharrefreplace")


def _nothing(_charset: str) -> bytes:
    return b""


class PagePlanner:
    """Built once per Runtime; `plan` runs per page."""

    def __init__(self, config: Config, banner: Banner) -> None:
        self.config = config
        self.banner = banner
        self.report = config.consent.mode == "report"
        # (pattern, category) for each category, and the catalog's URL patterns: what is held
        # for a set of granted categories is built once for that set (gateway/trackers.py)
        self._script_rules = tuple((p, c.id) for c in config.categories for p in c.scripts)
        self._catalog_urls = catalog_urls(config)
        self._trackers: dict[frozenset[str], TrackerRules] = {}

    def trackers(self, granted: frozenset[str]) -> TrackerRules:
        trackers = self._trackers.get(granted)
        if trackers is None:
            withheld = frozenset(c for c in self.config.category_ids if c not in granted)
            catalog = self.config.catalog.catalog
            trackers = TrackerRules(self._script_rules, withheld, catalog.matcher if catalog else None,
                                    self._catalog_urls)
            self._trackers[granted] = trackers  # granted is a subset of the categories: bounded
        return trackers

    def plan(self, ctx: RequestContext, granted: frozenset[str], bot: bool, path: str, charset: bytes,
             policies: tuple[str, ...]) -> RewritePlan:
        """`charset`: the Content-Type's label; `policies`: the site's CSP headers."""
        trackers = self.trackers(granted)
        page_charset = normalise_charset(charset)
        page = classify(ctx.first)
        if bot or page is Page.FRAGMENT:
            return RewritePlan(trackers.blocked, b"", _nothing, page_charset, trackers=trackers, report=self.report)
        locale = self.banner.choose_locale(ctx.first.get(b"accept-language"))
        framed = page is Page.FRAME
        markup = BannerMarkup(self.banner, locale, ctx.state, path, framed)
        head, body = markup.with_nonces(nonces_for(policies))
        placeholder = functools.partial(self.banner.placeholders.render, locale, path)
        return RewritePlan(trackers.blocked, head, body, page_charset, policies, markup.with_nonces,
                           trackers=trackers, report=self.report, placeholder=placeholder,
                           banner=not framed and not ctx.state.decided)
