"""Raw-socket clients, and a gateway started the way operators start it (`consent-gateway serve`)."""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.testing.servers import free_port, wait_http
from tests.conftest import config_text

EXE = Path(sys.executable).with_name("consent-gateway")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@dataclass
class ServedGateway:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss(self) -> float:
        return rss_mb(self.proc.pid)


@contextmanager
def served(tmp_path: Path, upstream: str, gateway: str = "", nofile: int | None = None,
           extra: str = "") -> Iterator[ServedGateway]:
    """`consent-gateway serve` as a subprocess; its stderr (the log) goes to a file. `nofile` sets
    its descriptor limit, soft and hard; `extra` is appended to the config (an [admin] table, say)."""
    port = free_port()
    cfg = tmp_path / f"served-{port}.toml"
    cfg.write_text(config_text(upstream, tmp_path / f"served-{port}.db", gateway=gateway, extra=extra))
    log = tmp_path / f"served-{port}.log"
    with log.open("wb") as err:
        limit = None if nofile is None else lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        proc = subprocess.Popen([str(EXE), "serve", "--config", str(cfg), "--port", str(port)], stderr=err,
                                preexec_fn=limit)
    try:
        wait_http(f"http://127.0.0.1:{port}/_consent/health")
        yield ServedGateway(proc, port, log)
    finally:
        proc.terminate()
        proc.wait(30)


def connect(port: int, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_until_close(s: socket.socket, limit: int = 1 << 20) -> bytes:
    """Everything the server writes until it closes (or resets), up to `limit` bytes."""
    data = bytearray()
    try:
        while len(data) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    return bytes(data)


def status_of(data: bytes) -> int | None:
    if not data.startswith(b"HTTP/1."):
        return None
    return int(data.split(b" ", 2)[1])


def send_steadily(s: socket.socket, data: bytes, seconds: float) -> int:
    """Send `data` in 16 KiB pieces for at most `seconds`; how many bytes went before the server
    closed or stopped reading."""
    sent = 0
    deadline = time.monotonic() + seconds
    s.settimeout(1)
    while sent < len(data) and time.monotonic() < deadline:
        try:
            sent += s.send(data[sent:sent + 16384])
        except TimeoutError:
            continue
        except OSError:
            break
    return sent
