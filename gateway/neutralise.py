"""What the HTML rewriter holds back, and how: the decide half of the rewriter's find/decide seam.

gateway.rewrite finds the tokens that matter (with gateway.scanner) and edits the page; this module
decides, for the tags it is handed, whether a withheld tracker is in them, and writes the held
tag: a script or iframe whose src is a withheld tracker, an inline script that loads one, an
element that fetches one as the page parses (img, source, link, ...). A held tag keeps every
attribute, its URLs moved to data-* so nothing is fetched until the banner puts them back, and
names its category. In report mode a tag is counted and left as it is.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.csp import Nonces
from gateway.trackers import Held, TrackerRules

# Elements that fetch on parse, and the attributes holding what they fetch.
RESOURCE_ATTRS: dict[bytes, tuple[bytes, ...]] = {
    b"img": (b"src", b"srcset"), b"source": (b"src", b"srcset"), b"video": (b"src", b"poster"),
    b"audio": (b"src",), b"embed": (b"src",), b"input": (b"src",), b"track": (b"src",),
    b"object": (b"data",), b"link": (b"href",),
}
_ATTR = re.compile(
    rb"((?:=|[^\t\n\f\r />=])[^\t\n\f\r />=]*+)"
    rb"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(\"[^\"]*+\"|'[^']*+'|(?![\"'])[^\t\n\f\r >]*+))?+"
)
_JS_TYPES = frozenset({
    b"", b"text/javascript", b"application/javascript", b"module", b"text/ecmascript",
    b"application/ecmascript", b"application/x-javascript", b"text/jscript", b"text/livescript",
})
_SCRIPT_SRC = frozenset({b"src", b"srcset"})
_SCRIPT_OWN = frozenset({b"src", b"srcset", b"type"})  # data-* names the banner reads on a script/iframe


@dataclass
class RewritePlan:
    """What to do to one page; built per request from the consent state and compiled config."""

    blocked_scripts: tuple[tuple[str, str], ...]  # (lower-case URL substring, category id)
    head_html: bytes  # ASCII only, injected before the first script-like tag (see gateway.inject)
    body_html: Callable[[str], bytes]  # banner markup for a charset, injected where <body> starts
    charset: str | None = None  # from Content-Type; the page's <meta> is used otherwise
    # A <meta http-equiv=Content-Security-Policy> adds its policy to the header ones (`policies`);
    # `with_nonces` renders head and body again for the nonces all of them need.
    policies: tuple[str, ...] = ()
    with_nonces: Callable[[Nonces], tuple[bytes, Callable[[str], bytes]]] | None = None
    # the operator's rules and the catalog for this visitor (gateway/trackers.py); None: only
    # `blocked_scripts`
    trackers: TrackerRules | None = None
    report: bool = False  # [consent] mode = "report": count what would be held, change nothing
    # Click-to-load (placeholder.py): markup for the box that stands where an iframe is held,
    # from its URL, attributes and category; None (crawlers) leaves the iframe as it is.
    placeholder: Callable[[str, dict[bytes, bytes], str], bytes] | None = None
    banner: bool = False  # body_html is the first-layer banner: counted once the rewriter places it


def _kind(name: bytes) -> str:
    return "script" if name == b"script" else "iframe" if name == b"iframe" else "pixel"


@dataclass
class RewriteStats:
    neutralised: dict[str, int] = field(default_factory=dict)
    # (category, vendor, kind) -> tags held, or that would be held in report mode
    held: dict[tuple[str, str, str], int] = field(default_factory=dict)
    head_injected: bool = False
    body_injected: bool = False


class Neutraliser:
    """The trackers withheld from one page, and the tags held for them (counted in `stats`)."""

    def __init__(self, plan: RewritePlan, stats: RewriteStats) -> None:
        self.stats = stats
        self.report = plan.report
        self.placeholder = plan.placeholder
        self.trackers = plan.trackers or TrackerRules(plan.blocked_scripts,
                                                      frozenset(c for _, c in plan.blocked_scripts))
        self.patterns = tuple(p.encode("latin-1") for p, _ in self.trackers.blocked)
        self.searching = bool(self.trackers)  # anything to hold, so URLs in the page are looked for

    def holds_url(self, low: bytes) -> bool:
        """A lower-cased stretch holds a blocked URL substring or a withheld catalog pattern."""
        return any(p in low for p in self.patterns) or (
            self.trackers.matcher is not None and bool(self.trackers.catalog_starts(low)))

    def inline_script(self, tag: bytes, body: bytes) -> bytes:
        """The start tag of an inline script held to its end: neutralised when its text loads a tracker."""
        held = self.trackers.match(body.decode("latin-1"))
        if held is not None:
            tag = self._neutralise(b"script", tag, held, rename=frozenset())
        return tag


    def script_or_iframe(self, name: bytes, tag: bytes, out: list[bytes]) -> bytes | None:
        """The tag to write for a script or iframe start tag (a placeholder before a held iframe goes
        to `out`); None: an inline script, to be held until its end and looked inside
        (`inline_script`)."""
        if not self.searching:
            return tag
        attrs = attributes(tag, len(name) + 1)
        if name == b"script":
            kind = attrs.get(b"type", b"").strip().lower()
            if kind not in _JS_TYPES:
                return tag  # data blocks, JSON-LD, and scripts the site already tagged itself
            src = attrs.get(b"src")
            if src is None:
                # An inline loader (gtag/hm.js snippets) builds the tracker URL at run time:
                # hold the script until its end to look inside.
                return None
        else:
            low = tag.lower()
            if b"&" not in tag and not self.holds_url(low):
                return tag  # the common case, decided without parsing attributes
            src = attrs.get(b"src")
            if src is None:
                return tag
        url = html.unescape(src.decode("latin-1"))
        held = self.trackers.match(url)
        if held is None:
            return tag
        neutral = self._neutralise(name, tag, held, rename=_SCRIPT_SRC)
        if name == b"iframe" and self.placeholder is not None and not self.report:
            return self._with_placeholder(neutral, url, attrs, held.category, out)
        return neutral

    def _with_placeholder(self, held: bytes, url: str, attrs: dict[bytes, bytes], category: str,
                          out: list[bytes]) -> bytes:
        """The placeholder goes right before the iframe, which stays in the page hidden until the
        visitor loads it (activate.js) or allows its category (banner.js)."""
        assert self.placeholder is not None
        out.append(self.placeholder(url, attrs, category))
        return held[:-1] + b" hidden data-consent-embed>"

    def resource_tag(self, name: bytes, tag: bytes) -> bytes:
        """An img, source, link, ...: neutralised when a URL it would fetch is blocked."""
        attrs = attributes(tag, len(name) + 1)
        fetched = [a for a in RESOURCE_ATTRS[name] if a in attrs]
        for attr in fetched:
            held = self.trackers.match(html.unescape(attrs[attr].decode("latin-1")))
            if held is not None:
                return self._neutralise(name, tag, held, rename=frozenset(fetched), plain=False)
        return tag

    def _neutralise(self, name: bytes, tag: bytes, held: Held, *, rename: frozenset[bytes],
                    plain: bool = True) -> bytes:
        """Move the attributes in `rename` to data-*, so nothing is fetched until the banner puts
        them back. `plain`: a script or iframe also gets type="text/plain" (its own type is kept
        as data-type); other elements keep their type, which means something else there.
        In report mode the tag is counted and left as it is."""
        category = held.category
        key = (category, held.vendor, _kind(name))
        self.stats.held[key] = self.stats.held.get(key, 0) + 1
        if self.report:
            return tag
        parts = [b"<" + tag[1:len(name) + 1]]
        ours = {b"data-consent-category"} | {b"data-" + a for a in rename | (_SCRIPT_OWN if plain else set())}
        for m in _ATTR.finditer(tag, len(name) + 1, len(tag) - 1):
            attr = m.group(1).lower()
            raw = m.group(0)
            if attr in ours:
                continue  # ours win; a site value here would confuse activation
            if attr in rename or (plain and attr == b"type"):
                raw = b"data-" + raw
            parts.append(raw)
        if plain:
            parts.append(b'type="text/plain"')
        parts.append(b'data-consent-category="' + category.encode("ascii") + b'"')
        self.stats.neutralised[category] = self.stats.neutralised.get(category, 0) + 1
        return b" ".join(parts) + (b" />" if tag.endswith(b"/>") and name not in (b"script", b"iframe") else b">")


def attributes(tag: bytes, start: int) -> dict[bytes, bytes]:
    """Attribute name → unquoted value; the first occurrence wins, as in HTML."""
    attrs: dict[bytes, bytes] = {}
    for m in _ATTR.finditer(tag, start, len(tag) - 1):
        name = m.group(1).lower()
        if name in attrs:
            continue
        value = m.group(2) or b""
        if value[:1] in (b'"', b"'"):
            value = value[1:-1]
        attrs[name] = value
    return attrs
