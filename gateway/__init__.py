"""consent-gateway: a reverse proxy that enforces cookie consent on the wire."""

__version__ = "0.1.0"
