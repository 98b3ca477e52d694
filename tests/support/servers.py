"""The test servers live in the package so QA teams' suites can use them too."""

import socket
from collections.abc import Callable

from gateway.testing.servers import RawServer, UvicornThread, free_port, raw_request, reset

# the `raw_server` fixture: a handler (connection, request head) in, a running server out
RawFactory = Callable[[Callable[[socket.socket, bytes], None]], RawServer]

__all__ = ["RawFactory", "RawServer", "UvicornThread", "free_port", "raw_request", "reset"]
