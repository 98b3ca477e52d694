"""consent-gateway: a reverse proxy that enforces cookie consent on the wire."""

__version__ = "0.1.0"

__all__ = ["ConsentMiddleware"]


def __getattr__(name: str) -> object:
    # `from gateway import ConsentMiddleware` without loading the whole gateway on `import gateway`
    if name == "ConsentMiddleware":
        from gateway.middleware import ConsentMiddleware

        return ConsentMiddleware
    raise AttributeError(f"module 'gateway' has no attribute {name!r}")
