"""`consent-gateway` commands: serve, demo, check-config, log …, cookies report."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.config import Config, load_config, parse_upstream
from gateway.errors import ConfigError


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
        return json.dumps(data, ensure_ascii=False)


LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "gateway.cli.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
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


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load(args.file)
    cats = ", ".join(c.id + (" (required)" if c.required else "") for c in config.categories)
    print(f"{args.file}: OK — upstream {config.gateway.upstream}, categories: {cats}, "
          f"policy {config.consent.policy_version}, log {config.log.url.split(':', 1)[0]}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

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
    uvicorn.run(
        "gateway.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        http="httptools",
        loop=_loop(),
        lifespan="on",
        proxy_headers=False,  # we read X-Forwarded-* ourselves, from trusted proxies only
        server_header=False,
        access_log=False,
        log_config=LOG_CONFIG,
        timeout_graceful_shutdown=args.graceful_timeout,
        ws_max_size=16 * 1024 * 1024,
    )
    return 0


def _loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo.run import run_demo

    return run_demo(args.port, args.site_port, Path(args.state_dir))


def _ledger(config: Config) -> Any:
    from gateway.ledger.sqlite import SQLiteLedger, sqlite_path

    if config.log.url.startswith("sqlite:"):
        path = sqlite_path(config.log.url)
        if not path.exists():
            print(f"consent-gateway: no log at {path}", file=sys.stderr)
            raise SystemExit(2)
        return SQLiteLedger(path, config.log.chain_key)
    from gateway.ledger import open_ledger

    return open_ledger(config.log)


def cmd_log_export(args: argparse.Namespace) -> int:
    ledger = _ledger(_load(args.config))
    out = sys.stdout
    writer = None
    for record in ledger.export(args.since, args.until):
        row = record.as_dict()
        if args.format == "jsonl":
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(row))
                writer.writeheader()
            row["granted"] = " ".join(row["granted"])
            row["denied"] = " ".join(row["denied"])
            writer.writerow(row)
    return 0


def cmd_log_verify(args: argparse.Namespace) -> int:
    result = _ledger(_load(args.config)).verify()
    if result.ok:
        print(f"log intact: {result.records} records in {result.chains} chain(s)")
        return 0
    print(f"log NOT intact: {result.problem}", file=sys.stderr)
    return 1


def cmd_log_show(args: argparse.Namespace) -> int:
    import asyncio

    records = asyncio.run(_ledger(_load(args.config)).history(args.consent_id))
    for r in records:
        print(json.dumps(r.as_dict(), ensure_ascii=False))
    return 0 if records else 1


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
    v = lg.add_parser("verify")
    v.add_argument("--config", required=True)
    v.set_defaults(func=cmd_log_verify)
    sh = lg.add_parser("show")
    sh.add_argument("consent_id")
    sh.add_argument("--config", required=True)
    sh.set_defaults(func=cmd_log_show)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
