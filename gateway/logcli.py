"""`consent-gateway log …`: export, verify, show, purge and stats over the consent log.

Built for logs of millions of records and for shells: the export streams page by page in constant
memory, dates are checked before anything is read (a typo must not export nothing and exit 0), a
purge shows what it would delete and asks first, and a closed pipe (`export | head`) ends quietly.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from gateway.config import Config, load_config
from gateway.errors import ConfigError
from gateway.ledger import RecordStore, VerifyResult

T = TypeVar("T")
EXPORT_PAGE = 2000  # records per query: memory stays flat however long the log is
_RELATIVE = re.compile(r"\s*(\d+)\s*(d|h|w|days?|hours?|weeks?)\s*")


def parse_duration(text: str) -> dt.timedelta:
    m = _RELATIVE.fullmatch(text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: use a number of days, hours or weeks, like 395d, 12h, 8w")
    n, unit = int(m.group(1)), m.group(2)[0]
    return {"d": dt.timedelta(days=n), "h": dt.timedelta(hours=n), "w": dt.timedelta(weeks=n)}[unit]


def parse_when(text: str) -> str:
    """A bound for --since/--until, as the log stores timestamps (UTC, ISO 8601, milliseconds, Z).

    Accepts a date (2026-11-01), a date and time with or without a zone (taken as UTC without), or
    a time ago (7d, 12h, 2w). Anything else is refused with an example.
    """
    if _RELATIVE.fullmatch(text):
        when = dt.datetime.now(dt.UTC) - parse_duration(text)
    else:
        try:
            when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a date: use 2026-11-01, 2026-11-01T08:00, 2026-11-01T08:00+08:00 or a time "
                "ago like 7d, 12h") from None
        when = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _load(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as e:
        print(f"consent-gateway: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def with_store(config: Config, fn: Callable[[RecordStore], Awaitable[T]]) -> T:
    """Run one operation against the configured log store (never creates a SQLite file)."""
    from gateway.ledger import open_store
    from gateway.ledger.sqlite import sqlite_path

    if config.log.url.startswith("sqlite:") and not sqlite_path(config.log.url).exists():
        print(f"consent-gateway: no log at {sqlite_path(config.log.url)}", file=sys.stderr)
        raise SystemExit(2)

    async def run() -> T:
        store = open_store(config.log)
        try:
            await store.open()
        except Exception as e:  # noqa: BLE001 - reported plainly, no traceback
            print(f"consent-gateway: cannot open the log: {type(e).__name__}: {e}", file=sys.stderr)
            raise SystemExit(2) from None
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(run())


class Progress:
    """tqdm's bar on stderr while records stream, only when stderr is a terminal.

    stdout carries the data (`export > file`, `| gzip`): the bar never goes there, and off a
    terminal (cron, a pipe, journald) nothing extra is printed, not even the count query.
    """

    def __init__(self, what: str, total: Callable[[], Awaitable[int]]) -> None:
        self.what = what
        self.total = total
        self.bar: Any = None

    async def start(self) -> Callable[[int], None]:
        if not sys.stderr.isatty():
            return lambda n: None
        from tqdm import tqdm

        # a terminal that reports no size (some `script` and ssh sessions) would get an empty bar
        sized = min(os.get_terminal_size(sys.stderr.fileno())) > 0
        self.bar = tqdm(total=await self.total(), desc=self.what, unit=" records", unit_scale=True,
                        file=sys.stderr, dynamic_ncols=sized, ncols=None if sized else 80, nrows=None if sized else 24)
        return self.bar.update  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_export(args: argparse.Namespace) -> int:
    from gateway.ledger.export import csv_row, json_line

    out = sys.stdout
    writer: Any = None

    async def stream(store: RecordStore) -> None:
        nonlocal writer
        progress = Progress("exporting", lambda: store.count(args.since, args.until))
        advance = await progress.start()
        after: tuple[str, str, int] | None = None
        try:
            while True:
                page = await store.export_page(args.since, args.until, after, EXPORT_PAGE)
                for record in page:
                    row = record.as_dict()
                    if args.format == "jsonl":
                        out.write(json_line(row) + "\n")
                    else:
                        if writer is None:
                            writer = csv.DictWriter(out, fieldnames=list(row))
                            writer.writeheader()
                        writer.writerow(csv_row(row))
                advance(len(page))
                if len(page) < EXPORT_PAGE:
                    return
                last = page[-1]
                after = (last.decision.ts, last.chain_id, last.seq)
        finally:
            progress.close()

    with_store(_load(args.config), stream)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from gateway.ledger import spool_dir
    from gateway.ledger.chain import derive_key
    from gateway.ledger.verify import verify_store

    config = _load(args.config)
    heads = Path(args.heads) if args.heads else spool_dir(config.log)
    key = derive_key(config.log.chain_key)

    async def verify(store: RecordStore) -> VerifyResult:
        progress = Progress("verifying", store.count)
        try:
            return await verify_store(store, key, heads, progress=await progress.start())
        finally:
            progress.close()

    result = with_store(config, verify)
    if result.ok:
        print(f"log intact: {result.records} records in {result.chains} chain(s)")
        return 0
    print(f"log NOT intact: {result.problem}", file=sys.stderr)
    return 1


def cmd_show(args: argparse.Namespace) -> int:
    from gateway.ledger.export import json_line

    records = with_store(_load(args.config), lambda s: s.history(args.consent_id))
    for r in records:
        print(json_line(r.as_dict()))
    if not records:
        print(f"no decisions for consent id {args.consent_id!r}", file=sys.stderr)
    return 0 if records else 1


def cmd_purge(args: argparse.Namespace) -> int:
    from gateway.ledger.chain import derive_key, sign_checkpoint

    config = _load(args.config)
    key = derive_key(config.log.chain_key)
    cutoff = (dt.datetime.now(dt.UTC) - args.older_than).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    count = with_store(config, lambda s: s.count_before(cutoff))
    if args.dry_run or count == 0:
        print(f"{count} records are older than {cutoff}" + (" (dry run: nothing deleted)" if args.dry_run else ""))
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"consent-gateway: {count} records would be deleted; add --yes to confirm (or --dry-run)",
                  file=sys.stderr)
            return 2
        if input(f"Delete {count} records older than {cutoff}? Type yes: ").strip() != "yes":
            print("nothing deleted")
            return 1

    def sign(chain_id: str, seq: int, mac: str, ts: str) -> str:
        return sign_checkpoint(key, chain_id, seq, mac, ts)

    purged = with_store(config, lambda s: s.purge(cutoff, sign))
    print(f"purged {purged} records older than {cutoff}; checkpoints keep the rest verifiable")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from gateway.admin import summarize_stats

    config = _load(args.config)
    raw = with_store(config, lambda s: s.stats())
    days = {d for d, *_ in raw["groups"]}
    since, until = (args.since or "")[:10], (args.until or "")[:10]
    raw["groups"] = [g for g in raw["groups"] if (not since or g[0] >= since) and (not until or g[0] < until)]
    summary = summarize_stats(raw, config.category_ids)
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
        return 0
    print(stats_table(summary, config.category_ids, len(days)))
    return 0


def stats_table(s: dict[str, Any], categories: tuple[str, ...], days_in_log: int) -> str:
    """A screenful: totals, opt-in per category, actions and devices, and the last 14 days."""
    lines = [f"decisions: {s['decisions']:,} in {len(s['per_day'])} of {days_in_log} day(s); "
             f"chains: {s['chains']}; with GPC: {s['gpc_decisions']:,}"]
    rates = "  ".join(f"{c} {r * 100:.1f}%" if r is not None else f"{c} -" for c, r in s["opt_in_rate"].items())
    lines.append(f"opt-in: {rates}")
    lines.append("actions: " + "  ".join(f"{a} {n:,}" for a, n in s["by_action"].items()))
    lines.append("devices: " + "  ".join(f"{d} {n:,}" for d, n in s["by_device"].items()))
    recent = list(s["per_day"].items())[-14:]
    if recent:
        lines.append("")
        lines.append("day         decisions  " + "  ".join(f"{c[:14]:>14}" for c in categories))
        for day, row in recent:
            lines.append(f"{day}  {row['decisions']:>9,}  " + "  ".join(f"{row[c] * 100:>13.1f}%" for c in categories))
        if len(s["per_day"]) > 14:
            lines.append(f"(the last 14 of {len(s['per_day'])} days; --json for all, --since/--until to choose)")
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    lg = sub.add_parser("log", help="the consent log").add_subparsers(dest="log_command", required=True)
    cfg = {"required": True, "help": "the gateway's config file (its [log] section says where the log is)"}
    when = {"type": parse_when, "help": "a date (2026-11-01), a date and time (UTC unless a zone is given), "
                                        "or a time ago (7d, 12h)"}
    e = lg.add_parser("export", help="every decision as JSON lines or CSV, streamed (constant memory)")
    e.add_argument("--config", **cfg)
    e.add_argument("--format", choices=("jsonl", "csv"), default="jsonl",
                   help="jsonl (default) or csv (cells that start a formula are neutralised)")
    e.add_argument("--since", **when)
    e.add_argument("--until", **when)
    e.set_defaults(func=cmd_export)
    v = lg.add_parser("verify", help="check every chain; and that the log reaches this host's chain heads")
    v.add_argument("--config", **cfg)
    v.add_argument("--heads", help="directory of head files (default: the spool directory)")
    v.set_defaults(func=cmd_verify)
    sh = lg.add_parser("show", help="one visitor's history (access requests)")
    sh.add_argument("consent_id", help="the consent id from the visitor's receipt page")
    sh.add_argument("--config", **cfg)
    sh.set_defaults(func=cmd_show)
    pu = lg.add_parser("purge", help="retention: delete old records, keep the chain verifiable")
    pu.add_argument("--older-than", required=True, type=parse_duration, help="an age like 395d, 8w or 12h")
    pu.add_argument("--config", **cfg)
    pu.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
    pu.add_argument("--yes", action="store_true", help="do not ask (needed when not on a terminal)")
    pu.set_defaults(func=cmd_purge)
    st = lg.add_parser("stats", help="decisions, opt-in rates, devices, per day")
    st.add_argument("--config", **cfg)
    st.add_argument("--json", action="store_true", help="everything, as JSON, for programs")
    st.add_argument("--since", **when)
    st.add_argument("--until", **when)
    st.set_defaults(func=cmd_stats)
