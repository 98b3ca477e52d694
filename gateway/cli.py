"""`consent-gateway` commands: serve, demo, check-config, log …, cookies report."""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from gateway.config import Config, load_config, parse_upstream
from gateway.errors import ConfigError
from gateway.ledger import RecordStore, VerifyResult

T = TypeVar("T")


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Messages never carry secrets or full IPs (see forwarded.py)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info).splitlines()[-1]
        fields = getattr(record, "fields", None)  # structured lines (the access log) keep their keys
        if isinstance(fields, dict):
            data.update(fields)
        # ASCII: a path or a header value cannot carry bidi or control characters into a terminal
        return json.dumps(data, ensure_ascii=True)


class NoAccessLines(logging.Filter):
    """uvicorn logs each WebSocket handshake on "uvicorn.error" as `client:port - "WebSocket
    /path?query" [accepted]`: a full client address and the query string (tokens). Drop them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith('%s - "WebSocket'))


LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "gateway.cli.JsonFormatter"}},
    "filters": {"no_access_lines": {"()": "gateway.cli.NoAccessLines"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr",
                            "filters": ["no_access_lines"]}},
    "loggers": {
        "consent_gateway": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        # uvicorn's access log prints full client addresses: off.
        "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}


def _load(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as e:
        print(f"consent-gateway: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def _refuse_unsafe_keys(config: Config, host: str) -> bool:
    """Print why the keys may not be used on `host`; True when refused."""
    from gateway.keycheck import key_problems

    problems = key_problems(config, host)
    for problem in problems:
        print(f"consent-gateway: {config.source}: {problem}", file=sys.stderr)
    return bool(problems)


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load(args.file)
    if _refuse_unsafe_keys(config, config.gateway.host):
        return 2
    cats = ", ".join(c.id + (" (required)" if c.required else "") for c in config.categories)
    print(f"{args.file}: OK — upstream {config.gateway.upstream}, categories: {cats}, "
          f"policy {config.consent.policy_version}, log {config.log.url.split(':', 1)[0]}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.serving import uvicorn_options

    config = _load(args.config)
    env = os.environ
    env["CONSENT_GATEWAY_CONFIG"] = str(Path(args.config).resolve())
    if args.upstream:
        try:
            parse_upstream(args.upstream)
        except ConfigError as e:
            print(f"consent-gateway: {e}", file=sys.stderr)
            return 2
        env["CONSENT_GATEWAY_UPSTREAM"] = args.upstream
    host = args.host or config.gateway.host
    port = args.port or config.gateway.port
    if _refuse_unsafe_keys(config, host):
        return 2
    _warn_at_start(config)
    _log_scanner()
    _raise_nofile()
    uvicorn.run(
        "gateway.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        loop=_loop(),
        lifespan="on",
        log_config=LOG_CONFIG,
        timeout_graceful_shutdown=args.graceful_timeout,
        **uvicorn_options(config.gateway),  # protocol, keep-alive, WebSocket cap, no access log
    )
    return 0


def _warn_at_start(config: Config) -> None:
    import logging.config

    from gateway.proxyhints import startup_warning

    warning = startup_warning(config.gateway)
    if warning:
        logging.config.dictConfig(LOG_CONFIG)
        logging.getLogger("consent_gateway.proxyhints").warning(warning)


def _log_scanner() -> None:
    """One line at start: which HTML scanner runs (the compiled one, or its pure-Python twin)."""
    import logging.config

    from gateway import scanner

    logging.config.dictConfig(LOG_CONFIG)
    logging.getLogger("consent_gateway.scanner").info(
        "html scanner: %s", scanner.IMPLEMENTATION, extra={"fields": {"scanner": scanner.IMPLEMENTATION}})


def _raise_nofile() -> None:
    """Raise the soft descriptor limit to the hard one, as Go and nginx's worker_rlimit_nofile do:
    the usual soft 1,024 is one small flood of idle sockets (the unit also sets LimitNOFILE)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard != resource.RLIM_INFINITY:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass  # keep the soft limit; header_timeout still frees idle sockets


def _loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo.run import run_demo

    return run_demo(args.port, args.site_port, Path(args.state_dir))


def _with_store(config: Config, fn: Callable[[RecordStore], Awaitable[T]]) -> T:
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


def cmd_log_export(args: argparse.Namespace) -> int:
    from gateway.ledger.export import csv_row, json_line

    records = _with_store(_load(args.config), lambda s: s.export(args.since, args.until))
    out = sys.stdout
    writer = None
    for record in records:
        row = record.as_dict()
        if args.format == "jsonl":
            out.write(json_line(row) + "\n")
        else:
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(csv_row(row))
    return 0


def cmd_log_verify(args: argparse.Namespace) -> int:
    from gateway.ledger import spool_dir
    from gateway.ledger.chain import check_heads, derive_key, verify_chains

    config = _load(args.config)
    heads = Path(args.heads) if args.heads else spool_dir(config.log)
    key = derive_key(config.log.chain_key)

    async def verify(store: RecordStore) -> VerifyResult:
        records, checkpoints = await store.all_by_chain(), await store.checkpoints()
        result = verify_chains(key, records, checkpoints)
        if result.ok and heads.is_dir():
            problem = check_heads(key, heads, records, checkpoints)
            if problem:
                return VerifyResult(False, result.records, result.chains, problem)
        return result

    result = _with_store(config, verify)
    if result.ok:
        print(f"log intact: {result.records} records in {result.chains} chain(s)")
        return 0
    print(f"log NOT intact: {result.problem}", file=sys.stderr)
    return 1


def cmd_log_show(args: argparse.Namespace) -> int:
    records = _with_store(_load(args.config), lambda s: s.history(args.consent_id))
    from gateway.ledger.export import json_line

    for r in records:
        print(json_line(r.as_dict()))
    if not records:
        print(f"no decisions for consent id {args.consent_id!r}", file=sys.stderr)
    return 0 if records else 1


def parse_duration(text: str) -> dt.timedelta:
    m = re.fullmatch(r"\s*(\d+)\s*(d|h|w|days?|hours?|weeks?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: use a number of days, hours or weeks, like 395d, 12h, 8w")
    n, unit = int(m.group(1)), m.group(2)[0]
    return {"d": dt.timedelta(days=n), "h": dt.timedelta(hours=n), "w": dt.timedelta(weeks=n)}[unit]


def cmd_log_purge(args: argparse.Namespace) -> int:
    from gateway.ledger.chain import derive_key, sign_checkpoint

    config = _load(args.config)
    key = derive_key(config.log.chain_key)
    cutoff = (dt.datetime.now(dt.UTC) - args.older_than).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def sign(chain_id: str, seq: int, mac: str, ts: str) -> str:
        return sign_checkpoint(key, chain_id, seq, mac, ts)

    purged = _with_store(config, lambda s: s.purge(cutoff, sign))
    print(f"purged {purged} records older than {cutoff}; checkpoints keep the rest verifiable")
    return 0


def cmd_log_stats(args: argparse.Namespace) -> int:
    config = _load(args.config)
    from gateway.admin import summarize_stats

    raw = _with_store(config, lambda s: s.stats())
    print(json.dumps(summarize_stats(raw, config.category_ids), indent=2, ensure_ascii=False))
    return 0


def cmd_cookies_report(args: argparse.Namespace) -> int:
    from gateway.catalog import Catalog
    from gateway.catalog.report import render

    rows = _with_store(_load(args.config), lambda s: s.inventory())
    print(render(rows, Catalog.load()), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="consent-gateway", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the gateway")
    s.add_argument("--config", required=True)
    s.add_argument("--upstream")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--graceful-timeout", type=int, default=20,
                   help="seconds to drain in-flight requests on shutdown")
    s.set_defaults(func=cmd_serve)

    d = sub.add_parser("demo", help="run the sample site behind the gateway")
    d.add_argument("--port", type=int, default=8080)
    d.add_argument("--site-port", type=int, default=8000)
    d.add_argument("--state-dir", default=".demo-state")
    d.set_defaults(func=cmd_demo)

    c = sub.add_parser("check-config", help="validate a config file")
    c.add_argument("file")
    c.set_defaults(func=cmd_check_config)

    lg = sub.add_parser("log", help="the consent log").add_subparsers(dest="log_command", required=True)
    e = lg.add_parser("export")
    e.add_argument("--config", required=True)
    e.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    e.add_argument("--since")
    e.add_argument("--until")
    e.set_defaults(func=cmd_log_export)
    v = lg.add_parser("verify", help="check every chain; and that the log reaches this host's chain heads")
    v.add_argument("--config", required=True)
    v.add_argument("--heads", help="directory of head files (default: the spool directory)")
    v.set_defaults(func=cmd_log_verify)
    sh = lg.add_parser("show", help="one visitor's history (access requests)")
    sh.add_argument("consent_id")
    sh.add_argument("--config", required=True)
    sh.set_defaults(func=cmd_log_show)
    pu = lg.add_parser("purge", help="retention: delete old records, keep the chain verifiable")
    pu.add_argument("--older-than", required=True, type=parse_duration)
    pu.add_argument("--config", required=True)
    pu.set_defaults(func=cmd_log_purge)
    st = lg.add_parser("stats", help="decisions, opt-in rates, devices")
    st.add_argument("--config", required=True)
    st.set_defaults(func=cmd_log_stats)

    ck = sub.add_parser("cookies", help="the passive cookie inventory").add_subparsers(dest="cookies_command",
                                                                                        required=True)
    rep = ck.add_parser("report", help="every cookie name seen in traffic: category, vendor and purpose")
    rep.add_argument("--config", required=True)
    rep.set_defaults(func=cmd_cookies_report)

    from gateway.scan.cli import add_parser as add_scan_parser

    add_scan_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
