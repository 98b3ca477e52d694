"""Click-to-load placeholders: what stands where the rewriter held an iframe (video, map, post).

Rendered server-side, so it shows without JavaScript: the vendor's name (catalog lookup by the
iframe's URL), what loading it means, a button that loads this one embed (activate.js) and a link
to the settings where the visitor can allow the whole category. The box takes the iframe's size
from its width/height attributes or its style, so nothing moves when the embed loads. Only size
values pass from the page's markup into our style attribute, never other CSS.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import TYPE_CHECKING, Any

from gateway.declaration import country_name

if TYPE_CHECKING:
    from gateway.banner import Banner

MAX_CACHED = 1024  # rendered placeholders kept; keys hold the page path, which is the visitor's
_LENGTH = re.compile(r"^(?:\d{1,5}(?:\.\d{1,3})?(?:px|%|em|rem|vw|vh)|0|auto)$")
_NUMBER = re.compile(r"^\d{1,5}(?:\.\d{1,3})?%?$")
_RATIO = re.compile(r"^(\d{1,4}(?:\.\d{1,3})?)\s*/\s*(\d{1,4}(?:\.\d{1,3})?)$")
_DECL = re.compile(r"([a-z-]{1,20})\s*:\s*([^;]{0,60})")
_SIZE_ATTRS = (b"width", b"height", b"style", b"frameborder")  # all box_style() reads
_BOX = ("width", "height", "min-width", "max-width", "min-height", "max-height")


def box_style(attrs: dict[bytes, bytes]) -> str:
    """The iframe's box as our style attribute: size from attributes, then style (which wins)."""
    size: dict[str, str] = {}
    for key in ("width", "height"):
        value = attrs.get(key.encode(), b"").decode("latin-1").strip()
        if _NUMBER.match(value):
            size[key] = value if value.endswith("%") else value + "px"
    border = "0" if attrs.get(b"frameborder", b"").strip().lower() in (b"0", b"no") else "2px"
    extra: dict[str, str] = {}
    style = attrs.get(b"style", b"").decode("latin-1").lower()
    for prop, raw in _DECL.findall(style):
        value = raw.strip()
        if prop in _BOX and _LENGTH.match(value):
            (size if prop in ("width", "height") else extra)[prop] = value
        elif prop == "aspect-ratio" and (m := _RATIO.match(value)):
            extra[prop] = f"{m.group(1)}/{m.group(2)}"
        elif prop == "display" and value in ("block", "inline-block"):
            extra[prop] = value
        elif prop in ("border", "border-width", "border-style") and value.split()[:1] in (["0"], ["none"], ["0px"]):
            border = "0"
    size.setdefault("width", "300px")  # the browser's default iframe size
    size.setdefault("height", "150px")
    order = [*_BOX[:2], "aspect-ratio", *_BOX[2:], "display"]
    parts = [f"{k}:{v}" for k in order for v in [size.get(k) or extra.get(k)] if v]
    return ";".join([*parts, f"border-width:{border}"])


class Placeholders:
    def __init__(self, banner: Banner) -> None:
        self.banner = banner
        self._cache: dict[tuple[str | bytes, ...], bytes] = {}

    def render(self, locale: str, path: str, src: str, attrs: dict[bytes, bytes], category: str) -> bytes:
        """Markup for before the held iframe; ASCII (characters as references) for any page charset."""
        key: tuple[str | bytes, ...] = (locale, path, src, category, *(attrs.get(a, b"") for a in _SIZE_ATTRS))
        hit = self._cache.get(key)
        if hit is None:
            entry = self.banner.declaration.catalog.url(src)
            try:
                host = (urllib.parse.urlsplit(src if "//" in src else "//" + src).hostname or "")[:100]
            except ValueError:
                host = ""
            hit = self._render(locale, path, entry.vendor if entry else host, entry.country if entry else "",
                               category, box_style(attrs))
            if len(self._cache) < MAX_CACHED:
                self._cache[key] = hit
        return hit

    def _render(self, locale: str, path: str, vendor: str, country: str, category: str, style: str) -> bytes:
        texts = self.banner.texts(locale)
        t: dict[str, Any] = {**self.banner.texts("en")["placeholder"], **texts.get("placeholder", {})}
        where = country_name(country, texts) if country else ""
        ctx = {
            "lang": texts.get("lang", locale), "category": category, "style": style, "vendor": vendor,
            "text": str(t["where" if where else "text"]).replace("{vendor}", vendor).replace("{country}", where),
            "load": t["load"],
            "allow": str(t["allow"]).replace("{category}", self.banner.category_text(locale, category, "title")),
            "settings_url": "/_consent/receipt?next=" + urllib.parse.quote(path, safe="/"),
        }
        html = self.banner.render("placeholder.html", **ctx)
        return html.encode("ascii", "xmlcharrefreplace")
