"""The operator CLI on a real log written through a real gateway."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.testing.servers import UvicornThread
from tests.conftest import RunningGateway, config_text


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, timeout=60)


def test_log_commands(make_gateway: Callable[..., RunningGateway], tmp_path: Path) -> None:
    gw = make_gateway()
    ids = []
    ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
    for action in ("accept_all", "reject_all", "save", "withdraw"):
        with gw.client(headers={"User-Agent": ua}) as c:
            r = gw.decide(c, action, ("identity",) if action == "save" else ())
            ids.append(r.json()["consent_id"])
        with gw.client() as c:
            c.get("/page", headers={"Cookie": "mystery_cookie=1"})
    gw.server.stop()  # flushes the cookie inventory
    db = Path(gw.app.config.log.url[len("sqlite:///"):])
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text("http://127.0.0.1:1", db))

    r = cli("log", "verify", "--config", str(cfg))
    assert r.returncode == 0 and "4 records" in r.stdout
    r = cli("log", "export", "--config", str(cfg), "--format", "jsonl")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["action"] for row in rows] == ["accept_all", "reject_all", "save", "withdraw"]
    assert rows[0]["ip_prefix"] == "127.0.0.0/24" and rows[0]["device"] == "mobile"
    assert "127.0.0.1" not in r.stdout  # no full IP anywhere in the log
    r = cli("log", "export", "--config", str(cfg), "--format", "csv", "--since", rows[2]["ts"])
    assert r.stdout.splitlines()[0].startswith("record_id,ts,consent_id") and len(r.stdout.splitlines()) == 3
    r = cli("log", "show", ids[2], "--config", str(cfg))
    assert r.returncode == 0 and json.loads(r.stdout)["granted"] == ["identity"]
    assert cli("log", "show", "nobody", "--config", str(cfg)).returncode == 1
    stats = json.loads(cli("log", "stats", "--config", str(cfg), "--json").stdout)
    assert stats["decisions"] == 4 and stats["by_action"]["withdraw"] == 1
    assert stats["opt_in_rate"] == {"identity": 0.5, "personalization": 0.25}
    table = cli("log", "stats", "--config", str(cfg)).stdout
    assert table.startswith("decisions: 4 in 1 of 1 day(s)") and "identity 50.0%" in table
    assert "personalization 25.0%" in table and len(table.splitlines()) < 20
    assert "decisions: 0 in 0 of 1" in cli("log", "stats", "--config", str(cfg), "--until", "2000-01-01").stdout
    report = cli("cookies", "report", "--config", str(cfg)).stdout
    assert "mystery_cookie" in report and "not classified" in report and "_ga" in report

    r = cli("log", "purge", "--older-than", "0d", "--config", str(cfg), "--dry-run")
    assert r.returncode == 0 and "4 records are older" in r.stdout and "nothing deleted" in r.stdout
    r = cli("log", "purge", "--older-than", "0d", "--config", str(cfg))  # not a terminal: asks for --yes
    assert r.returncode == 2 and "--yes" in r.stderr
    assert "4 records" in cli("log", "purge", "--older-than", "0d", "--config", str(cfg), "--dry-run").stdout
    r = cli("log", "purge", "--older-than", "0d", "--config", str(cfg), "--yes")
    assert r.returncode == 0 and "purged 4 records" in r.stdout
    assert cli("log", "verify", "--config", str(cfg)).returncode == 0
    assert cli("log", "purge", "--older-than", "soon", "--config", str(cfg)).returncode == 2

    conn = sqlite3.connect(db)
    conn.execute("UPDATE consent_checkpoints SET mac = 'x'")
    conn.commit()
    conn.close()
    r = cli("log", "verify", "--config", str(cfg))
    assert r.returncode == 1 and "forged" in r.stderr


def test_log_commands_refuse_a_missing_log(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text("http://127.0.0.1:1", tmp_path / "absent.db"))
    r = cli("log", "verify", "--config", str(cfg))
    assert r.returncode == 2 and "no log at" in r.stderr
    assert not (tmp_path / "absent.db").exists()


def test_unreachable_postgres_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text("http://127.0.0.1:1", tmp_path / "x.db").replace(
        f'url = "sqlite:///{tmp_path / "x.db"}"', 'url = "postgresql://postgres@127.0.0.1:1/none"'))
    r = cli("log", "verify", "--config", str(cfg))
    assert r.returncode == 2 and "cannot open the log" in r.stderr and "Traceback" not in r.stderr


def test_dates_are_checked_before_anything_is_read(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text("http://127.0.0.1:1", tmp_path / "absent.db"))
    r = cli("log", "export", "--config", str(cfg), "--since", "yesterday")
    assert r.returncode == 2 and "'yesterday' is not a date" in r.stderr and "7d" in r.stderr
    assert "Traceback" not in r.stderr


def test_when_forms() -> None:
    from gateway.logcli import parse_when

    assert parse_when("2026-11-01") == "2026-11-01T00:00:00.000Z"
    assert parse_when("2026-11-01T08:00+08:00") == "2026-11-01T00:00:00.000Z"
    assert parse_when("2026-11-01T08:00:00Z") == "2026-11-01T08:00:00.000Z"
    assert parse_when("7d") < parse_when("1h")


def test_export_streams_in_pages_and_a_closed_pipe_ends_quietly(make_gateway: Callable[..., RunningGateway],
                                                                tmp_path: Path) -> None:
    gw = make_gateway()
    with gw.client() as c:
        for _ in range(5):
            c.cookies.clear()
            gw.decide(c, "accept_all")
    gw.server.stop()
    db = Path(gw.app.config.log.url[len("sqlite:///"):])
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text("http://127.0.0.1:1", db))
    code = ("import sys, gateway.logcli as m; m.EXPORT_PAGE = 2; from gateway.cli import main; "
            "raise SystemExit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, "log", "export", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=60)
    ids = [json.loads(line)["record_id"] for line in r.stdout.splitlines()]
    assert len(ids) == len(set(ids)) == 5  # pages of 2: nothing twice, nothing lost
    # `export | head -1`: the reader goes away after one line
    p = subprocess.Popen([sys.executable, "-m", "gateway.cli", "log", "export", "--config", str(cfg)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(60) == 0 and "Traceback" not in err and "BrokenPipe" not in err


def test_version_and_help_text() -> None:
    import argparse

    from gateway.cli import build_parser

    r = cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("consent-gateway ")
    missing = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction | argparse._VersionAction) and not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "consent-gateway")
    assert missing == []


def run_with_stderr_on_a_terminal(args: list[str], stdout: Path, rows: int = 24, cols: int = 100) -> tuple[int, str]:
    """The CLI with stderr on a pseudo-terminal (as in an operator's shell) and stdout to a file."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    with stdout.open("wb") as out:
        p = subprocess.Popen([sys.executable, "-m", "gateway.cli", *args], stdout=out, stderr=slave,
                             stdin=subprocess.DEVNULL)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed its side
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    return p.wait(60), seen.decode(errors="replace")


def test_progress_bar_on_a_terminal_and_nothing_extra_off_one(tmp_path: Path) -> None:
    from tests.ledger.seed import seed_sqlite

    db = tmp_path / "log.db"
    seed_sqlite(db, 5000)  # three export pages
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text("http://127.0.0.1:1", db))  # the chain key the seed sealed with
    out = tmp_path / "out"

    code, tty = run_with_stderr_on_a_terminal(["log", "export", "--config", str(cfg)], out)
    assert code == 0 and "exporting" in tty and "5.00k/5.00k" in tty and "100%" in tty
    data = out.read_text()
    assert len([json.loads(line) for line in data.splitlines()]) == 5000  # stdout: the records, nothing else
    assert "\r" not in data and "exporting" not in data
    # a terminal that reports no size (`script`, some ssh sessions): tqdm alone would draw nothing
    code, tty = run_with_stderr_on_a_terminal(["log", "verify", "--config", str(cfg)], out, rows=0, cols=0)
    assert code == 0 and "verifying" in tty and "5.00k/5.00k" in tty
    assert out.read_text() == "log intact: 5000 records in 3 chain(s)\n"

    plain = cli("log", "export", "--config", str(cfg))  # stderr a pipe: no bar, no count, nothing
    assert plain.returncode == 0 and plain.stderr == "" and plain.stdout == data
    plain = cli("log", "verify", "--config", str(cfg))
    assert plain.returncode == 0 and plain.stderr == "" and plain.stdout == "log intact: 5000 records in 3 chain(s)\n"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@given(st.dictionaries(st.text(max_size=12), json_values, max_size=8))
def test_dumps_ascii_writes_what_json_dumps_writes(data: dict[str, object]) -> None:
    from gateway.cli import dumps_ascii

    assert dumps_ascii(data) == json.dumps(data, ensure_ascii=True)


def test_dumps_ascii_raises_what_json_dumps_raises() -> None:
    from gateway.cli import dumps_ascii

    loop: dict[str, object] = {}
    loop["self"] = loop
    for bad, error in (({"x": object()}, TypeError), (loop, ValueError)):
        with pytest.raises(error):
            dumps_ascii(bad)
    assert dumps_ascii({"after": 1}) == '{"after": 1}'  # nothing left over from the failures


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, s: str) -> int:
        self.writes += 1
        return super().write(s)


def buffered_logger(name: str) -> tuple[logging.Logger, CountingStream]:
    from gateway.cli import JsonFormatter, TurnBufferedHandler

    stream = CountingStream()
    handler = TurnBufferedHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"test_cli.{name}")
    handler.buffered = frozenset({logger.name})  # held as the access lines are
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, stream


def test_the_lines_of_one_loop_turn_are_one_write() -> None:
    logger, stream = buffered_logger("turn")

    async def main() -> None:
        for i in range(3):
            logger.info("line %d", i)
        assert stream.writes == 0  # held until the end of this turn
        await asyncio.sleep(0)
        assert stream.writes == 1 and len(stream.getvalue().splitlines()) == 3
        logger.info("held")
        logger.warning("at once")  # with everything before it, in order
        assert stream.writes == 2
        logger.info("next turn")
        await asyncio.sleep(0)
        assert stream.writes == 3

    asyncio.run(main())
    assert [json.loads(line)["msg"] for line in stream.getvalue().splitlines()] == [
        "line 0", "line 1", "line 2", "held", "at once", "next turn"]
    logger.info("no loop")  # start-up lines and other threads: written at once
    assert stream.writes == 4


def test_only_access_lines_wait_for_the_end_of_the_turn() -> None:
    """uvicorn's shutdown lines are written at once, with the access lines before them: at SIGTERM
    its last turn ends the process (tests/hostile/test_retest_hotpath.py runs the real one)."""
    from gateway.cli import JsonFormatter, TurnBufferedHandler

    stream = CountingStream()
    handler = TurnBufferedHandler(stream)
    handler.setFormatter(JsonFormatter())
    access, other = logging.getLogger("consent_gateway.access"), logging.getLogger("test_cli.lifecycle")
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate) for lg in (access, other)]
    for lg in (access, other):
        lg.handlers[:] = [handler]
        lg.setLevel(logging.INFO)
        lg.propagate = False

    async def main() -> None:
        access.info("access")
        assert stream.writes == 0
        other.info("Finished server process")
        assert stream.writes == 1

    try:
        asyncio.run(main())
    finally:
        for lg, handlers, level, propagate in saved:
            lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate
    assert [json.loads(line)["msg"] for line in stream.getvalue().splitlines()] == ["access", "Finished server process"]


def test_a_full_buffer_is_written_and_a_stopped_loop_does_not_hold_lines() -> None:
    from gateway.cli import TurnBufferedHandler

    logger, stream = buffered_logger("bound")
    line = "x" * 1000

    async def fill() -> None:
        for _ in range(TurnBufferedHandler.MAX_BUFFERED // 1000 + 1):
            logger.info(line)
        assert stream.writes == 1  # the bound, not the end of the turn

    asyncio.run(fill())
    lines_before = len(stream.getvalue().splitlines())

    def log_and_stop() -> None:
        logger.info("left when the loop stops")
        loop.stop()  # before the flush it scheduled runs

    loop = asyncio.new_event_loop()
    loop.call_soon(log_and_stop)
    loop.run_forever()
    loop.close()
    assert len(stream.getvalue().splitlines()) == lines_before

    async def later() -> None:
        logger.info("on another loop")
        await asyncio.sleep(0)

    asyncio.run(later())
    assert len(stream.getvalue().splitlines()) == lines_before + 2
    assert stream.getvalue().splitlines()[-1].endswith('"msg": "on another loop"}')


def test_serve_writes_the_access_line_while_running(tmp_path: Path, site: UvicornThread) -> None:
    """The real server, its real logging config: the line reaches stderr without a shutdown, with its
    keys in the order operators parse."""
    from gateway.testing.servers import free_port, wait_http

    port = free_port()
    cfg = tmp_path / "g.toml"
    cfg.write_text(config_text(site.url, tmp_path / "log.db"))
    err_path = tmp_path / "err.log"
    exe = Path(sys.executable).with_name("consent-gateway")
    with err_path.open("wb") as err:
        proc = subprocess.Popen([str(exe), "serve", "--config", str(cfg), "--port", str(port)], stderr=err)
        try:
            wait_http(f"http://127.0.0.1:{port}/_consent/health")
            deadline = time.monotonic() + 10
            access: list[dict[str, object]] = []
            while not access and time.monotonic() < deadline:
                time.sleep(0.05)
                access = [json.loads(line) for line in err_path.read_text().splitlines()
                          if '"consent_gateway.access"' in line]
            assert proc.poll() is None  # still serving
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert access, err_path.read_text()
    assert list(access[0])[:8] == ["ts", "level", "logger", "msg", "method", "path", "status", "bytes"]
    assert access[0]["path"] == "/_consent/health" and access[0]["level"] == "info"
