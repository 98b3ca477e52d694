"""The test servers live in the package so QA teams' suites can use them too."""

from gateway.testing.servers import RawServer, UvicornThread, free_port, raw_request, reset

__all__ = ["RawServer", "UvicornThread", "free_port", "raw_request", "reset"]
