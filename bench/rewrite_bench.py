"""CPU cost of the HTML rewriter alone, per page: the part of the gateway's time that is the scan.

Runs in-process (no sockets), best of --repeat timings, for the proxy bench's 12 KB page:
with the bench's blocking rules (one tracker neutralised), the same with the built-in catalog's
URL patterns (the default), without rules (scan and inject only), and fed in 1 KB chunks.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proxy_bench import page_12k  # noqa: E402

from gateway.clientrules import catalog_urls  # noqa: E402
from gateway.config import default_config_path, load_config  # noqa: E402
from gateway.rewrite import HtmlRewriter, RewritePlan  # noqa: E402
from gateway.trackers import TrackerRules  # noqa: E402

BANNER = b"<div id=consent-banner>" + b"x" * 2000 + b"</div>"


def run(plan: RewritePlan, page: bytes, chunk: int) -> bytes:
    r = HtmlRewriter(plan)
    out = [r.feed(page[i:i + chunk]) for i in range(0, len(page), chunk)]
    return b"".join(out) + r.finish()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--number", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    page = page_12k()
    blocking = RewritePlan((("www.googletagmanager.com", "personalization"),), b"<script>/*cfg*/</script>",
                           lambda cs: BANNER, "utf-8")
    plain = RewritePlan((), b"<script>/*cfg*/</script>", lambda cs: BANNER, "utf-8")
    config = load_config(default_config_path(), env={})
    assert config.catalog.catalog is not None
    trackers = TrackerRules(blocking.blocked_scripts, frozenset({"identity", "personalization"}),
                            config.catalog.catalog.matcher, catalog_urls(config))
    catalog = RewritePlan(trackers.blocked, b"<script>/*cfg*/</script>", lambda cs: BANNER, "utf-8",
                          trackers=trackers)
    assert b'data-consent-category="personalization"' in run(blocking, page, len(page))
    print(f"HtmlRewriter on the {len(page):,}-byte bench page, best of {args.repeat} x {args.number}")
    print(f"{'case':<42}{'us/page':>10}{'MB/s':>10}")
    for name, plan, chunk in (("blocking rules, whole page", blocking, len(page)),
                              ("blocking rules + catalog, whole page", catalog, len(page)),
                              ("no rules (scan + inject only), whole page", plain, len(page)),
                              ("blocking rules, 1 KB chunks", blocking, 1024)):
        best = min(timeit.repeat(lambda p=plan, c=chunk: run(p, page, c), number=args.number,
                                 repeat=args.repeat)) / args.number
        print(f"{name:<42}{best * 1e6:>10.1f}{len(page) / best / 1e6:>10.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
