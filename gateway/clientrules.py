"""The rules guard.js applies in the browser, generated from the ones the server applies.

The server decides on the wire (cookies.CookieRules for names, the categories' `scripts` for URLs,
`[consent] consent_mode` for Google Consent Mode); guard.js decides the same questions for what
scripts do after the page has loaded (document.cookie writes, inserted tags, gtag). Writing the
rules twice let the copies drift (an exact name lost to a `necessary` glob in the browser only), so
the browser gets this table, built from the server's own objects, and nothing else.

It is served as a hashed static asset in front of guard.js rather than inlined in every page: with
a tracker catalog it is tens of kilobytes, which a browser should fetch once, not per page view.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.catalog.matcher import MAX_COOKIE_NAME
from gateway.config import GCM_SIGNALS, Config
from gateway.cookies import NECESSARY, CookieRules

# Consent Mode signals that no category withholds: Google's own guidance grants security storage.
ALWAYS_GRANTED_SIGNALS = ("security_storage",)


def glob_to_js(pattern: str) -> str:
    """A cookie-name glob (`*` only: config.COOKIE_GLOB) as an anchored JavaScript regex source."""
    out = []
    for ch in pattern:
        out.append(".*" if ch == "*" else "\\" + ch if ch in r"\^$.|?+()[]{}/" else ch)
    return "^" + "".join(out) + "$"


def catalog_urls(config: Config) -> dict[str, str]:
    """Catalog URL pattern -> the category it falls into (patterns whose purpose maps to none are
    left out: the catalog does not decide them). The rewriter and guard.js both hold by this."""
    catalog = config.catalog.catalog
    if catalog is None:
        return {}
    purposes = config.catalog.purposes
    return {p: c for p, e in catalog.matcher.patterns.items()
            if (c := purposes.get(e.purpose)) is not None and c != NECESSARY}


def rules_document(config: Config, rules: CookieRules) -> dict[str, Any]:
    """Everything guard.js needs to decide as the server does, in the server's precedence order."""
    exact, globs = rules.catalog_rules()
    by_category: dict[str, list[str]] = {}
    for name, category in exact.items():
        by_category.setdefault(category, []).append(name)
    return {
        "necessary": NECESSARY,
        "report": config.consent.mode == "report",  # hold nothing, block no cookie write
        "cookies": {
            "exact": rules.exact_rules,
            "globs": [[glob_to_js(p), c] for p, c in rules.glob_rules],
            "unknown": rules.unknown,
            # only for names no rule above decides: exact names (grouped by category), then globs
            # in the catalog's order of preference, for names up to maxName characters
            "catalog": {"exact": by_category, "globs": [[glob_to_js(p), c] for p, c in globs],
                        "maxName": MAX_COOKIE_NAME},
        },
        # lower-case URL substrings, first match wins, categories in config order (as the rewriter)
        "urls": [[p, c.id] for c in config.categories for p in c.scripts],
        # only for URLs no substring above matches: catalog host[/path] patterns with the host
        # boundaries of gateway/catalog/matcher.py; the leftmost withheld one names the category
        "catalogUrls": sorted([p, c] for p, c in catalog_urls(config).items()),
        "consentMode": {
            "signals": sorted(GCM_SIGNALS),
            "alwaysGranted": list(ALWAYS_GRANTED_SIGNALS),
            "byCategory": {k: list(v) for k, v in config.consent.consent_mode.items()},
        },
    }


def rules_script(config: Config, rules: CookieRules) -> bytes:
    """The table as a script that guard.js, loaded right after it, reads synchronously."""
    data = json.dumps(rules_document(config, rules), separators=(",", ":"), ensure_ascii=True, sort_keys=True)
    return b"window.consentGatewayRules=" + data.encode("ascii") + b";\n"
