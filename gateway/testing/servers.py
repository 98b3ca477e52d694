"""Real servers on loopback for tests: uvicorn in a thread, and raw TCP servers that misbehave."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from gateway.app import ConsentGateway
from gateway.serving import uvicorn_options


def wait_http(url: str, timeout: float = 30) -> None:
    """Until `url` answers 200 (self-signed TLS accepted: loopback only)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, verify=False, timeout=1).status_code == 200:  # noqa: S501
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class UvicornThread:
    """A real uvicorn server (httptools, real sockets) running an app in its own thread and loop."""

    def __init__(self, app: Any, port: int | None = None, **kwargs: Any) -> None:
        self.port = port or free_port()
        # the gateway runs with the options `serve` gives it; sites and helpers on plain httptools
        opts: dict[str, Any] = dict(host="127.0.0.1", port=self.port, log_level="warning", http="httptools",
                                    lifespan="auto", access_log=False, proxy_headers=False)
        if isinstance(app, ConsentGateway):
            opts.update(uvicorn_options(app.config.gateway))
        opts.update(kwargs)
        self.server = uvicorn.Server(uvicorn.Config(app, **opts))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def call(self, coro: Any, timeout: float = 10) -> Any:
        """Run a coroutine in the server's own loop (e.g. to reach into the app) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> UvicornThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


class RawServer:
    """A TCP server whose handler writes whatever bytes a test wants, then misbehaves."""

    def __init__(self, handler: Callable[[socket.socket, bytes], None]) -> None:
        self.handler = handler
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            self.handler(conn, data)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop = True
        self.sock.close()


def reset(conn: socket.socket) -> None:
    """Close with RST instead of FIN, as a crashed server does."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def run(coro: Any) -> Any:
    return asyncio.new_event_loop().run_until_complete(coro)


def raw_request(port: int, request: bytes, timeout: float = 10) -> tuple[int, list[tuple[str, str]], bytes]:
    """Send exact bytes (headers httpx refuses to send) and read a Content-Length or close-delimited reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = [(k.strip().lower(), v.strip()) for k, v in (line.split(":", 1) for line in lines[1:])]
        length = next((int(v) for k, v in headers if k == "content-length"), None)
        chunked = any(k == "transfer-encoding" for k, _ in headers)
        while True:
            if length is not None and len(body) >= length:
                break
            if chunked and body.endswith(b"0\r\n\r\n"):
                break
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, headers, body
