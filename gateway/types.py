"""Type aliases shared by every stage, so signatures read the same everywhere."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Headers stay a list of (name, value) pairs end to end: several Set-Cookie must never be folded.
# Names are lower-case bytes, as ASGI servers hand them to us.
Headers = list[tuple[bytes, bytes]]
