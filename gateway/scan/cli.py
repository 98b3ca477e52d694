"""`consent-gateway scan URL`: the subcommand's options and what it prints.

Exit codes, like a linter's: 0 no violations, 1 violations, 2 the scan itself failed (always one
line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from gateway.scan.model import Page, Report
from gateway.scan.report import FORMATS


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser("scan", help="compliance scan: what a site does before consent, after reject, after accept")
    s.add_argument("url", help="the page to scan, http(s)")
    s.add_argument("--out", default="scan-report", help="directory for report.json, report.html, screenshots/, "
                   "suggested.toml (default: ./scan-report)")
    s.add_argument("--pages", type=int, default=3, help="same-site pages visited after reject and accept (default 3)")
    s.add_argument("--browser-arg", action="append", default=[], metavar="ARG",
                   help="extra Chromium argument, e.g. --browser-arg=--proxy-server=http://proxy:3128 (repeatable)")
    s.add_argument("--locale", default="en", help="browser locale and Accept-Language (default en)")
    s.add_argument("--timeout", type=float, default=120, help="cap on the whole scan, seconds (default 120)")
    s.add_argument("--format", default="json,html", help="report formats: json, html or both (default json,html)")
    s.add_argument("--config", help="a gateway config: its category rules attribute what the catalog does not know")
    s.add_argument("--catalog", action="append", default=[], metavar="FILE", help="extra catalog file (repeatable)")
    s.add_argument("--chromium", help="Chromium binary (default /usr/bin/chromium when present)")
    s.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    s.set_defaults(func=run)


def _progress(phase: str, page: Page) -> None:
    status = page.status if page.status is not None else "-"
    note = f"  ({page.note})" if page.note else ""
    print(f"scan [{phase:>6}] {status} {page.url}{note}", file=sys.stderr, flush=True)


def _fail(message: str) -> int:
    print(f"consent-gateway scan: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from gateway.errors import ConfigError
    from gateway.scan import ScanError, ascan, check_url

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    if not formats or set(formats) - set(FORMATS):
        return _fail(f"--format: use json, html or json,html (got {args.format!r})")
    if args.pages < 0 or args.timeout <= 0:
        return _fail("--pages must be 0 or more and --timeout above 0")
    config = None
    try:
        check_url(args.url)
        if args.config:
            from gateway.config import load_config

            config = load_config(args.config)
        report = asyncio.run(ascan(args.url, pages=args.pages, browser_args=args.browser_arg, locale=args.locale,
                                   timeout=args.timeout, config=config, catalog_files=args.catalog,
                                   chromium=args.chromium, progress=None if args.quiet else _progress))
    except (ScanError, ConfigError) as e:  # ConfigError: --config or a --catalog file, naming file and line
        return _fail(str(e))
    except KeyboardInterrupt:
        return _fail("interrupted")
    except Exception as e:  # noqa: BLE001 - a config or catalog error, or a browser crash: one line
        return _fail(f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")
    try:
        from gateway.scan.report import write

        write(report, Path(args.out), formats)
    except OSError as e:
        return _fail(f"cannot write the report to {args.out}: {e.strerror or e}")
    print(summary(report, Path(args.out)))
    return 1 if report.violations else 0


def summary(report: Report, out: Path) -> str:
    banner = f"banner: {report.banner.kind}" if report.banner.found else "no banner found (reject/accept not run)"
    counts = ", ".join(f"{name} {len(p.violations)}" for name, p in report.phases.items() if p is not None)
    verdict = "PASS" if report.passed else f"FAIL: {len(report.violations)} violation(s)"
    vendors = sorted({v.vendor or "unknown vendor" for v in report.violations})
    who = f" ({', '.join(vendors)})" if vendors else ""
    return f"{verdict}{who}; {banner}; violations by phase: {counts}; report in {out}/"
