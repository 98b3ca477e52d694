"""`consent-gateway` commands: init, serve, demo, check-config, log …, cookies report."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from gateway.config import Config, load_config, parse_upstream
from gateway.errors import ConfigError

T = TypeVar("T")


# json.dumps builds a new C encoder for every call; one built once with json.dumps's own settings
# (ensure_ascii, ", " and ": ", NaN allowed) writes the same text. No circular check: a structure that
# fails goes to json.dumps, which raises what it always did.
_ENCODE = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, json.encoder.JSONEncoder().default, json.encoder.encode_basestring_ascii, None, ": ", ", ",
    False, False, True) if json.encoder.c_make_encoder is not None else None  # type: ignore[attr-defined]


def dumps_ascii(data: dict[str, Any]) -> str:
    """`json.dumps(data, ensure_ascii=True)`, the same text, cheaper."""
    if _ENCODE is not None:
        try:
            return "".join(_ENCODE(data, 0))
        except Exception:  # noqa: BLE001, S110 - json.dumps below raises the error callers know
            pass
    return json.dumps(data, ensure_ascii=True)


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Messages never carry secrets or full IPs (see forwarded.py)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)  # structured lines (the access log) keep their keys
        if not isinstance(fields, dict):
            fields = None
        data: dict[str, Any] = {
            # an access line brings its own ts (with milliseconds and zone): strftime only for the others
            "ts": fields["ts"] if fields and "ts" in fields else self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info).splitlines()[-1]
        if fields:
            data.update(fields)
        # ASCII: a path or a header value cannot carry bidi or control characters into a terminal
        return dumps_ascii(data)


class TurnBufferedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that writes the lines of one event-loop turn together, in one write.

    Under load every request ends with an access line; one write (and flush) each was a system call
    per request. Here an access line waits in memory until the end of the loop's current turn
    (`call_soon`), or until MAX_BUFFERED characters are waiting. Any other line (start-up, shutdown,
    warnings: rare), or one logged outside a running loop (another thread), is written at once with
    everything before it, so the order of the lines never changes. That matters at SIGTERM: uvicorn
    re-raises the signal with the default handler inside the loop's last turn, so the process ends
    without Python's exit and a line still waiting would be lost; its last line ("Finished server
    process") is not an access line, so it writes everything. What a crash can lose: the access lines
    of the turn it happened in (at most MAX_BUFFERED characters), and only a crash that skips
    Python's exit (SIGKILL, a segfault, os._exit); a normal exit flushes the handler (logging.shutdown).
    """

    MAX_BUFFERED = 64 * 1024
    buffered = frozenset({"consent_gateway.access"})  # the line per request; the others are written at once

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._lines: list[str] = []
        self._size = 0
        self._scheduled: Any = None  # the asyncio loop a flush is scheduled on

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)
            return
        self._lines.append(line)
        self._size += len(line)
        if (record.name not in self.buffered or record.levelno >= logging.WARNING
                or self._size >= self.MAX_BUFFERED):
            self.flush()
            return
        # asyncio is not imported here: the CLI's other commands start without it, and no loop runs then
        aio = sys.modules.get("asyncio")
        loop = aio._get_running_loop() if aio is not None else None
        if loop is None:
            self.flush()
            return
        if self._scheduled is not loop:  # a loop that stopped before running our flush is not waited for
            self._scheduled = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        self.acquire()
        try:
            self._scheduled = None
            if self._lines:
                text = "".join(self._lines)
                self._lines.clear()
                self._size = 0
                try:
                    self.stream.write(text)
                except Exception:  # noqa: BLE001 - as StreamHandler.emit: a broken stream is reported, not raised
                    self.handleError(logging.makeLogRecord({"msg": "buffered log lines lost"}))
                    return
            if self.stream and hasattr(self.stream, "flush"):
                self.stream.flush()
        finally:
            self.release()


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
    "handlers": {"stderr": {"class": "gateway.cli.TurnBufferedHandler", "formatter": "json", "stream": "ext://sys.stderr",
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
    from gateway.banner import load_locales, locale_gaps
    from gateway.categorytexts import missing_texts

    for warning in [*missing_texts(config, load_locales(extra=config.banner.locales_dir)),
                    *locale_gaps(config.banner.locales_dir)]:
        print(f"consent-gateway: warning: {args.file}: {warning}", file=sys.stderr)
    cats = ", ".join(c.id + (" (required)" if c.required else "") for c in config.categories)
    print(f"{args.file}: OK — upstream {config.gateway.upstream}, categories: {cats}, "
          f"policy {config.consent.policy_version}, log {config.log.url.split(':', 1)[0]}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from gateway.starter import StarterError, starter_config, write_starter

    out = Path(args.out)
    try:
        write_starter(out, starter_config(args.upstream, out.name), force=args.force)
    except (ConfigError, StarterError) as e:
        print(f"consent-gateway: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} (report mode: nothing is blocked yet); check it with: consent-gateway check-config {out}")
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
    env["CONSENT_GATEWAY_PORT"] = str(port)  # the default instance id (app.create_app)
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
        # SIGHUP with --workers is a rolling restart: each new worker must be up before an old one
        # goes. uvicorn's 5 s gave up on a loaded host (startup loads the catalog and the log).
        timeout_worker_healthcheck=60,
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


def cmd_cookies_report(args: argparse.Namespace) -> int:
    from gateway.catalog import Catalog
    from gateway.catalog.report import render
    from gateway.logcli import with_store

    config = _load(args.config)
    rows = with_store(config, lambda s: s.inventory())
    # the config's catalog (its extra files, its purposes map), the shipped one when it is off
    print(render(rows, config.catalog.catalog or Catalog.load(), config.catalog.purposes), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from gateway.metrics import VERSION

    p = argparse.ArgumentParser(prog="consent-gateway", description=__doc__)
    p.add_argument("--version", action="version", version=f"consent-gateway {VERSION}")
    sub = p.add_subparsers(dest="command", required=True)

    i = sub.add_parser("init", help="write a starter config: fresh keys, report mode, the catalog on")
    i.add_argument("--upstream", required=True, help="the site, like http://127.0.0.1:8000")
    i.add_argument("--out", default="consent-gateway.toml", help="where to write it (default: %(default)s)")
    i.add_argument("--force", action="store_true", help="overwrite an existing file")
    i.set_defaults(func=cmd_init)

    s = sub.add_parser("serve", help="run the gateway")
    s.add_argument("--config", required=True, help="the config file (see gateway/default.toml)")
    s.add_argument("--upstream", help="the site, overriding [gateway] upstream")
    s.add_argument("--host", help="address to bind, overriding [gateway] host")
    s.add_argument("--port", type=int, help="port to bind, overriding [gateway] port")
    s.add_argument("--workers", type=int, default=1, help="processes sharing the port (default: 1)")
    s.add_argument("--graceful-timeout", type=int, default=20,
                   help="seconds to drain in-flight requests on shutdown")
    s.set_defaults(func=cmd_serve)

    d = sub.add_parser("demo", help="run the sample site behind the gateway")
    d.add_argument("--port", type=int, default=8080, help="the gateway's port (default: %(default)s)")
    d.add_argument("--site-port", type=int, default=8000, help="the sample site's port (default: %(default)s)")
    d.add_argument("--state-dir", default=".demo-state", help="keys and log of the demo (default: %(default)s)")
    d.set_defaults(func=cmd_demo)

    c = sub.add_parser("check-config", help="validate a config file")
    c.add_argument("file", help="the config file to check")
    c.set_defaults(func=cmd_check_config)

    ck = sub.add_parser("cookies", help="the passive cookie inventory").add_subparsers(dest="cookies_command",
                                                                                        required=True)
    rep = ck.add_parser("report", help="every cookie name seen in traffic: category, vendor and purpose")
    rep.add_argument("--config", required=True, help="the gateway's config file")
    rep.set_defaults(func=cmd_cookies_report)

    from gateway.logcli import add_parser as add_log_parser
    from gateway.scan.cli import add_parser as add_scan_parser

    add_log_parser(sub)
    add_scan_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # `consent-gateway log export | head`: the reader has what it wanted. Point stdout at
        # /dev/null so the interpreter's final flush does not raise again, and end quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
