"""Our own error types. Lower-level failures are mapped to these in one place (upstream.py)."""


class GatewayError(Exception):
    """Base for errors that become a branded error page instead of a traceback."""

    status = 500
    reason = "Gateway error"


class UpstreamUnavailable(GatewayError):
    """The site could not be reached, or broke the connection before a full response head."""

    status = 502
    reason = "Bad gateway"


class UpstreamTimeout(GatewayError):
    status = 504
    reason = "Gateway timeout"


class UpstreamBodyError(GatewayError):
    """The response body broke after the head was sent (reset mid-body, bad encoding, bomb)."""

    status = 502
    reason = "Bad gateway"


class ConfigError(Exception):
    """A configuration file is invalid. `line` is 1-based when known."""

    def __init__(self, message: str, *, path: str = "<config>", line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")


class BadRequest(Exception):
    """Client input we refuse, with a message that is safe to reflect."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.message = message
        self.status = status
        super().__init__(message)
