"""Small ASGI responders shared by the endpoints and the proxy: JSON, HTML, redirects, errors."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from gateway.errors import GatewayError
from gateway.types import Headers, Send

if TYPE_CHECKING:
    from gateway.banner import Banner

NO_STORE = (b"cache-control", b"no-store")
SECURITY_HEADERS: Headers = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


async def send_bytes(send: Send, status: int, body: bytes, content_type: bytes,
                     headers: Headers | None = None) -> None:
    all_headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    all_headers += SECURITY_HEADERS
    if headers:
        all_headers += headers
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, data: Any, headers: Headers | None = None) -> None:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    await send_bytes(send, status, body, b"application/json", [NO_STORE, *(headers or [])])


async def send_html(send: Send, status: int, html: str, headers: Headers | None = None) -> None:
    await send_bytes(send, status, html.encode("utf-8"), b"text/html; charset=utf-8",
                     [NO_STORE, (b"x-frame-options", b"DENY"), *(headers or [])])


async def send_text(send: Send, status: int, text: str, headers: Headers | None = None) -> None:
    await send_bytes(send, status, text.encode("utf-8"), b"text/plain; charset=utf-8", [NO_STORE, *(headers or [])])


async def error_page(send: Send, error: GatewayError, banner: Banner, locale: str) -> None:
    texts = banner.texts(locale).get("errors", {})
    message = texts.get("gateway_timeout" if error.status == 504 else "bad_gateway", "")
    html = banner.render("error.html", lang=locale, status=error.status, reason=error.reason, message=message)
    await send_html(send, error.status, html)
