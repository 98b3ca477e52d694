"""The streaming HTML rewriter: neutralise tracker tags, inject the banner, keep every other byte.

A DOM round trip would re-serialise the site's page; instead this is a byte-level scanner with
carry-over between chunks. It follows the HTML tokenizer where it matters for finding real
tags: quoted attribute values, comments, bogus comments and raw-text elements (script, style,
textarea, ...), so a `</body>` inside a comment, a script string or an attribute is not the end of
the body, and a `<script>` in an attribute value is not a script.

Most of the page is skipped by searching only for the tag names that matter (script, iframe,
raw-text elements, meta, body, comments); see `_skip_data` for why that stays exact. Elements that
fetch a URL as the page parses (pixels: img, source, link rel=preload, ...) are not candidates, since
a page has hundreds; instead the blocked URL substrings themselves are searched for, and only a tag
that contains one is looked at. The browser's preload scanner fetches those before any script can
stop it, so this cannot be left to the guard script.
Possessive quantifiers keep the patterns linear on hostile input.
"""

from __future__ import annotations

import codecs
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from gateway import scanner
from gateway.csp import Nonces, nonces_for
from gateway.htmltokens import DELIM as _DELIM
from gateway.htmltokens import MAX_CARRY
from gateway.htmltokens import TAG_REST as _TAG_REST
from gateway.inject import BeforeBody, Placement, comment_closer
from gateway.trackers import Held, TrackerRules, first_at_or_after

__all__ = ["MAX_CARRY", "HtmlRewriter", "RewritePlan", "RewriteStats", "normalise_charset"]
_SPECIAL = rb"script|iframe|style|textarea|title|xmp|noembed|noframes|plaintext|body|meta"
_END_SPECIAL = rb"body|html|head"


def _boring(stop: bytes) -> re.Pattern[bytes]:
    """Text and tags up to the next comment, end tag of `_END_SPECIAL`, or start tag named in `stop`."""
    return re.compile(
        rb"(?:[^<]++"
        rb"|<(?=[^A-Za-z/!?])"
        rb"|<(?!(?i:" + stop + rb")" + _DELIM + rb")[A-Za-z][^\t\n\f\r />]*+" + _TAG_REST +
        rb"|</(?!(?i:" + _END_SPECIAL + rb")" + _DELIM + rb")[A-Za-z][^\t\n\f\r />]*+" + _TAG_REST +
        rb"|<(?:\?|/(?![A-Za-z])|!(?!--))[^>]*+>"
        rb")*+"
    )


_BORING = _boring(_SPECIAL)
# Elements that fetch on parse, and the attributes holding what they fetch.
_RESOURCE_ATTRS: dict[bytes, tuple[bytes, ...]] = {
    b"img": (b"src", b"srcset"), b"source": (b"src", b"srcset"), b"video": (b"src", b"poster"),
    b"audio": (b"src",), b"embed": (b"src",), b"input": (b"src",), b"track": (b"src",),
    b"object": (b"data",), b"link": (b"href",),
}
_RESOURCE = rb"img|source|video|audio|embed|input|track|object|link"
_RESOURCE_TAG = re.compile(rb"<((?i:" + _RESOURCE + rb"))(?=" + _DELIM + rb")" + _TAG_REST)
# the exact slow path, stopping at resource tags too when there is something to look for in them
_BORING_OR_RESOURCE = _boring(_SPECIAL + b"|" + _RESOURCE)
_INTERESTING = re.compile(
    rb"(<!--)"
    rb"|<((?i:" + _SPECIAL + rb"))(?=" + _DELIM + rb")" + _TAG_REST +
    rb"|</((?i:" + _END_SPECIAL + rb"))(?=" + _DELIM + rb")" + _TAG_REST
)
_COMMENT_END = re.compile(rb"--!?>")
_ATTR = re.compile(
    rb"((?:=|[^\t\n\f\r />=])[^\t\n\f\r />=]*+)"
    rb"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(\"[^\"]*+\"|'[^']*+'|(?![\"'])[^\t\n\f\r >]*+))?+"
)
_SCRIPT_TOKENS = re.compile(rb"<!--|-->|</?(?i:script)(?=" + _DELIM + rb")")
_SCRIPT_DATA, _SCRIPT_ESCAPED, _SCRIPT_DOUBLE = 0, 1, 2
_RAW_END = {
    name: re.compile(rb"</(?i:" + name + rb")(?=" + _DELIM + rb")")
    for name in (b"script", b"style", b"textarea", b"title", b"xmp", b"noembed", b"noframes", b"iframe")
}
_META_CHARSET = re.compile(rb"charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
_JS_TYPES = frozenset({
    b"", b"text/javascript", b"application/javascript", b"module", b"text/ecmascript",
    b"application/ecmascript", b"application/x-javascript", b"text/jscript", b"text/livescript",
})
_SCRIPT_SRC = frozenset({b"src", b"srcset"})
_SCRIPT_OWN = frozenset({b"src", b"srcset", b"type"})  # data-* names the banner reads on a script/iframe
MAX_INLINE_SCRIPT = 512 * 1024  # inline script body we hold to check for tracker loaders

# WHATWG: these labels mean a superset; the banner must be encoded as the browser will decode.
_CHARSET_ALIASES = {
    "gb2312": "gbk", "x-gbk": "gbk", "gb_2312-80": "gbk", "iso-8859-1": "cp1252", "latin1": "cp1252",
    "us-ascii": "cp1252", "ascii": "cp1252", "utf-16": "utf-8", "utf-16le": "utf-8", "utf-16be": "utf-8",
}


def normalise_charset(label: str | bytes | None) -> str | None:
    if not label:
        return None
    if isinstance(label, bytes):
        label = label.decode("ascii", "replace")
    label = label.strip().strip("\"'").lower()
    label = _CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


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


def _kind(name: bytes) -> str:
    return "script" if name == b"script" else "iframe" if name == b"iframe" else "pixel"


@dataclass
class RewriteStats:
    neutralised: dict[str, int] = field(default_factory=dict)
    # (category, vendor, kind) -> tags held, or that would be held in report mode
    held: dict[tuple[str, str, str], int] = field(default_factory=dict)
    head_injected: bool = False
    body_injected: bool = False


class HtmlRewriter(BeforeBody):
    def __init__(self, plan: RewritePlan) -> None:
        self.plan = plan
        self.stats = RewriteStats()
        self._trackers = plan.trackers or TrackerRules(plan.blocked_scripts,
                                                       frozenset(c for _, c in plan.blocked_scripts))
        self._patterns = tuple(p.encode("latin-1") for p, _ in self._trackers.blocked)
        self._searching = bool(self._trackers)  # anything to hold, so URLs in the page are looked for
        self._catalog_starts: list[int] = []
        self._charset = plan.charset
        self._carry = b""
        self._policies = plan.policies
        self._hits: list[int] = []
        self._raw_end: re.Pattern[bytes] | None = None  # inside a raw-text element
        self._raw_name = b""
        self._script_state = 0  # see _script_end
        self._in_comment = False
        self._plaintext = False
        self._held_tag: bytes | None = None  # start tag of an inline script being inspected
        self._held_body: list[bytes] = []
        self._held_len = 0
        self._place = Placement()
        self._comment_tail = b""  # a comment's last bytes: how to close it at EOF (comment_closer)
        self._raw_ended = False  # the token here is the end tag of a raw-text element

    # --- public -------------------------------------------------------------------------

    def use_charset(self, charset: str) -> None:
        """The body was transcoded: the banner is encoded for this, whatever a <meta> says."""
        self._charset = charset

    def feed(self, data: bytes) -> bytes:
        return self._scan(self._carry + data if self._carry else data, final=False)

    def finish(self) -> bytes:
        out = self._scan(self._carry, final=True)
        tail = []
        if self._held_tag is not None:
            tail.append(self._held_tag)
            tail.extend(self._held_body)
            self._held_tag = None
        if self._place.pending and not self._plaintext:
            # The page ended before its body started (a head only, or nothing). EOF inside a
            # comment, a raw-text element or a template ends it for the browser too; close it the
            # same way so the banner is markup, not comment or script text, then add the body.
            if self._place.noscript:
                tail.append(b"</noscript>")  # all raw text to the browser, whatever we made of it
            elif self._in_comment:
                tail.append(comment_closer(self._comment_tail))
            elif self._raw_end is not None:
                if self._raw_name == b"script" and self._script_state == _SCRIPT_DOUBLE:
                    return out + b"".join(tail)  # no end tag ends it without adding script text
                tail.append(b"</" + self._raw_name + b">")
            tail.append(b"</template>" * self._place.templates)
            tail.append(self._inject_head())
            tail.append(self._inject_body())
        return out + b"".join(tail)

    # --- scanner ------------------------------------------------------------------------

    def _scan(self, buf: bytes, final: bool) -> bytes:
        out: list[bytes] = []
        pos = 0
        n = len(buf)
        low = buf.lower()  # ASCII only: offsets stay the same
        self._hits = [-2] * len(self._patterns)  # see _next_hit
        self._catalog_starts = self._trackers.catalog_starts(low)  # one pass for every catalog pattern
        self._carry = b""
        while pos < n:
            if self._plaintext:
                out.append(buf[pos:])
                return b"".join(out)
            if self._in_comment:
                m = _COMMENT_END.search(buf, pos)
                if m is None:
                    keep = min(n - pos, 3)  # a split "--!>" must survive to the next chunk
                    cut = n if final else n - keep
                    out.append(buf[pos:cut])
                    self._comment_tail = (self._comment_tail + buf[max(pos, cut - 3):cut])[-3:]
                    pos = cut
                    break
                out.append(buf[pos:m.end()])
                pos = m.end()
                self._in_comment = False
                continue
            if self._raw_end is not None:
                pos = self._scan_raw(buf, pos, out, final)
                if self._raw_end is not None:
                    break
                continue
            if self._place.pending:
                pos, wait = self._pre_body(buf, pos, out, final)
                if wait:
                    break
                continue
            end = self._skip_data(buf, low, pos, final)
            if end > pos:
                out.append(buf[pos:end])
                pos = end
            if pos >= n:
                break
            m = _INTERESTING.match(buf, pos)
            if m is None and self._searching:
                r = _RESOURCE_TAG.match(buf, pos)
                if r is not None:
                    out.append(self._resource_tag(r.group(1).lower(), r.group(0)))
                    pos = r.end()
                    continue
            if m is None:
                if final or n - pos > MAX_CARRY:
                    # EOF inside a tag, or a hostile tag longer than we hold: pass the '<' as text.
                    out.append(buf[pos:pos + 1])
                    pos += 1
                    continue
                break  # an incomplete tag: wait for the rest
            pos = m.end()
            if m.group(1):
                pos, wait = self._comment_start(buf, m.start(), out, final)
                if wait:
                    break
                continue
            if m.group(2):
                self._start_tag(m.group(2).lower(), buf[m.start():m.end()], out)
            else:
                self._end_tag(m.group(3).lower(), buf[m.start():m.end()], out)
        if pos < n:
            self._carry = buf[pos:]
        return b"".join(out)

    def _comment_start(self, buf: bytes, pos: int, out: list[bytes], final: bool) -> tuple[int, bool]:
        """At a "<!--": returns (where the comment text starts or the comment ends, wait for more)."""
        out.append(b"<!--")
        pos += 4
        # "<!-->" and "<!--->" are complete (empty) comments
        if buf.startswith(b">", pos) or buf.startswith(b"->", pos):
            stop = pos + (1 if buf[pos:pos + 1] == b">" else 2)
            out.append(buf[pos:stop])
            return stop, False
        if len(buf) - pos < 2 and not final:
            out.pop()
            return pos - 4, True
        self._in_comment = True
        self._comment_tail = b""
        return pos, False

    def _inert(self, run: bytes) -> bool:
        low = run.lower()
        return not ((self._charset is None and b"charset" in low)
                    or (self.plan.with_nonces is not None and b"nonce-" in low)
                    or self._holds_url(low))

    def _holds_url(self, low: bytes) -> bool:
        """A lower-cased stretch holds a blocked URL substring or a withheld catalog pattern."""
        return any(p in low for p in self._patterns) or (
            self._trackers.matcher is not None and bool(self._trackers.catalog_starts(low)))

    def _any_start_tag(self, name: bytes, tag: bytes, out: list[bytes]) -> None:
        """A start tag of any name (before the body, where every tag is looked at)."""
        if name in _RESOURCE_ATTRS:
            # as on the fast path: only a tag holding a blocked URL is parsed
            low = tag.lower()
            out.append(self._resource_tag(name, tag) if self._holds_url(low) else tag)
        else:
            self._start_tag(name, tag, out)

    def _skip_data(self, buf: bytes, low: bytes, pos: int, final: bool) -> int:
        """From `pos` (in the data state), the position of the next token that matters.

        Text and ordinary tags are skipped by `scanner.walk` (compiled, or its pure-Python twin;
        gateway/_scan_py.py says how that stays exact). What needs Python stays here: the blocked
        URL substrings, searched for from where the walk knows the data state goes on, and the
        exact (slower) `_BORING` regex for a stretch where an attribute value hides a '<'. A
        blocked URL inside a resource tag makes that tag the token.
        """
        n = len(buf)
        hit = self._next_hit(low, pos, n) if self._searching else -1
        checked = known = pos
        cand = -2
        walk = scanner.walk
        while True:
            kind, start, end, checked, known, cand = walk(buf, low, pos, checked, known, cand, hit, final)
            if kind == scanner.DONE:
                return start
            if kind == scanner.SLOW:
                b = (_BORING_OR_RESOURCE if self._searching else _BORING).match(buf, pos)
                return b.end() if b else pos
            if kind == scanner.HIT:
                if start >= 0 and (end < 0 or _RESOURCE_TAG.match(low, start, end)):
                    return start  # a resource tag to look at, or one not finished yet
                # in text, or in a tag that fetches nothing; either way the data state goes on from
                # there, so later hits never walk back over this stretch (hits in text are unbounded)
                known = end if start >= 0 else hit + 1
            hit = self._next_hit(low, known, n) if self._searching else -1

    def _next_hit(self, low: bytes, start: int, end: int) -> int:
        """The first blocked URL substring or withheld catalog pattern in low[start:end], or -1.
        Each operator pattern's next occurrence is remembered for the rest of this buffer, so no
        byte is searched twice; the catalog's were all found in one pass (`_catalog_starts`)."""
        first = first_at_or_after(self._catalog_starts, start, end) if self._catalog_starts else -1
        hits = self._hits
        for i, pattern in enumerate(self._patterns):
            h = hits[i]
            if h != -1 and h < start:  # -1: none left in this buffer; below start: search on
                h = hits[i] = low.find(pattern, start)
            if 0 <= h < end and (first < 0 or h < first):
                first = h
        return first

    def _scan_raw(self, buf: bytes, pos: int, out: list[bytes], final: bool) -> int:
        assert self._raw_end is not None
        if self._raw_name == b"script":
            end, cut = self._script_end(buf, pos, final)
        else:
            m = self._raw_end.search(buf, pos)
            end = m.start() if m else -1
            cut = len(buf) - (0 if final else min(len(buf) - pos, 10))  # "</noframes" is the longest end
        if end < 0:
            self._raw_text(buf[pos:cut], out)
            return cut
        self._raw_text(buf[pos:end], out)
        self._raw_end = None
        self._raw_ended = True
        if self._held_tag is not None:
            self._release_inline_script(out)
        return end  # the end tag itself is scanned as data

    def _script_end(self, buf: bytes, pos: int, final: bool) -> tuple[int, int]:
        """Where a script's text ends, following the tokenizer's script data states: inside
        `<!--`, a `<script` starts a "double escaped" stretch whose `</script` does not end the
        element (old `document.write('<script ...></script>')` loaders). Returns (the end tag's
        position or -1, how far the text is known to be script text)."""
        n = len(buf)
        p = pos
        state = self._script_state
        while True:
            m = _SCRIPT_TOKENS.search(buf, p)
            if m is None:
                break
            token = m.group(0).lower()
            if token == b"<!--":
                if state == _SCRIPT_DATA:
                    after = buf[m.end():m.end() + 2]
                    if len(after) < 2 and not final and after in (b"", b"-"):
                        self._script_state = state
                        return -1, m.start()  # "<!-->" or not: the next chunk says
                    if after[:1] == b">" or after == b"->":  # "<!-->", "<!--->": closed at once
                        p = m.end() + (1 if after[:1] == b">" else 2)
                        continue
                    state = _SCRIPT_ESCAPED  # longer dash runs end at their "-->", found next
            elif token == b"-->":
                state = _SCRIPT_DATA
            elif token.startswith(b"</"):
                if state != _SCRIPT_DOUBLE:
                    self._script_state = _SCRIPT_DATA
                    return m.start(), m.start()
                state = _SCRIPT_ESCAPED
            elif state == _SCRIPT_ESCAPED:  # "<script"
                state = _SCRIPT_DOUBLE
            p = m.end()
        self._script_state = state
        # a token may be cut at the chunk's end: "</script" and its delimiter, or "<!--"
        return -1, n if final else max(p, n - 9)

    def _raw_text(self, text: bytes, out: list[bytes]) -> None:
        if self._held_tag is None:
            out.append(text)
            return
        self._held_body.append(text)
        self._held_len += len(text)
        if self._held_len > MAX_INLINE_SCRIPT:
            # Too long to inspect: let it through unchanged rather than hold the page.
            out.append(self._held_tag)
            out.extend(self._held_body)
            self._held_tag, self._held_body, self._held_len = None, [], 0

    def _release_inline_script(self, out: list[bytes]) -> None:
        assert self._held_tag is not None
        body = b"".join(self._held_body)
        tag = self._held_tag
        self._held_tag, self._held_body, self._held_len = None, [], 0
        held = self._trackers.match(body.decode("latin-1"))
        if held is not None:
            tag = self._neutralise(b"script", tag, held, rename=frozenset())
        out.append(tag)
        out.append(body)

    # --- tags ---------------------------------------------------------------------------

    def _start_tag(self, name: bytes, tag: bytes, out: list[bytes]) -> None:
        if name == b"meta":
            if self._charset is None:
                m = _META_CHARSET.search(tag)
                if m:
                    self._charset = normalise_charset(m.group(1))
            if self.plan.with_nonces is not None and b"nonce-" in tag:
                self._meta_policy(tag)
            out.append(tag)
            return
        if name == b"plaintext":
            out.append(tag)
            self._plaintext = True
            return
        if name in (b"script", b"iframe"):
            rewritten = self._maybe_neutralise(name, tag, out)
            if rewritten is None:
                return  # held: an inline script being inspected
            tag = rewritten
        if name in _RAW_END:
            self._raw_end = _RAW_END[name]
            self._raw_name = name
            self._script_state = _SCRIPT_DATA
        out.append(tag)

    def _meta_policy(self, tag: bytes) -> None:
        attrs = _attributes(tag, len(b"meta") + 1)
        if attrs.get(b"http-equiv", b"").strip().lower() != b"content-security-policy":
            return
        assert self.plan.with_nonces is not None
        policy = html.unescape(attrs.get(b"content", b"").decode("latin-1"))
        self._policies = (*self._policies, policy)
        head, body = self.plan.with_nonces(nonces_for(self._policies))
        self.plan = replace(self.plan, head_html=head, body_html=body)

    def _maybe_neutralise(self, name: bytes, tag: bytes, out: list[bytes]) -> bytes | None:
        if not self._searching:
            return tag
        attrs = _attributes(tag, len(name) + 1)
        if name == b"script":
            kind = attrs.get(b"type", b"").strip().lower()
            if kind not in _JS_TYPES:
                return tag  # data blocks, JSON-LD, and scripts the site already tagged itself
            src = attrs.get(b"src")
            if src is None:
                # An inline loader (gtag/hm.js snippets) builds the tracker URL at run time:
                # hold the script until its end to look inside.
                self._held_tag = tag
                self._raw_end = _RAW_END[b"script"]
                self._raw_name = b"script"
                self._script_state = _SCRIPT_DATA
                return None
        else:
            low = tag.lower()
            if b"&" not in tag and not self._holds_url(low):
                return tag  # the common case, decided without parsing attributes
            src = attrs.get(b"src")
            if src is None:
                return tag
        url = html.unescape(src.decode("latin-1"))
        held = self._trackers.match(url)
        if held is None:
            return tag
        neutral = self._neutralise(name, tag, held, rename=_SCRIPT_SRC)
        if name == b"iframe" and self.plan.placeholder is not None and not self.plan.report:
            return self._with_placeholder(neutral, url, attrs, held.category, out)
        return neutral

    def _with_placeholder(self, held: bytes, url: str, attrs: dict[bytes, bytes], category: str,
                          out: list[bytes]) -> bytes:
        """The placeholder goes right before the iframe, which stays in the page hidden until the
        visitor loads it (activate.js) or allows its category (banner.js)."""
        assert self.plan.placeholder is not None
        out.append(self.plan.placeholder(url, attrs, category))
        return held[:-1] + b" hidden data-consent-embed>"

    def _resource_tag(self, name: bytes, tag: bytes) -> bytes:
        """An img, source, link, ...: neutralised when a URL it would fetch is blocked."""
        attrs = _attributes(tag, len(name) + 1)
        fetched = [a for a in _RESOURCE_ATTRS[name] if a in attrs]
        for attr in fetched:
            held = self._trackers.match(html.unescape(attrs[attr].decode("latin-1")))
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
        if self.plan.report:
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

    def _end_tag(self, name: bytes, tag: bytes, out: list[bytes]) -> None:
        out.append(tag)  # nothing is injected here any more: see gateway.inject

    def _inject_head(self) -> bytes:
        if self.stats.head_injected:
            return b""
        self.stats.head_injected = True
        return self.plan.head_html

    def _inject_body(self) -> bytes:
        if self.stats.body_injected:
            return b""
        self.stats.body_injected = True
        return self.plan.body_html(self._charset or "utf-8")


def _attributes(tag: bytes, start: int) -> dict[bytes, bytes]:
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
