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

The seam: gateway/scanner.py finds the next token that matters in text and ordinary tags (compiled
or its pure-Python twin); gateway/neutralise.py decides whether a tag is held and writes it held;
this module drives both, follows the tokenizer's states and edits the page (inject: gateway.inject).
"""

from __future__ import annotations

import html
import re
from dataclasses import replace

from gateway import scanner
from gateway.csp import nonces_for
from gateway.decoding import normalise_charset
from gateway.htmltokens import DELIM as _DELIM
from gateway.htmltokens import MAX_CARRY
from gateway.htmltokens import TAG_REST as _TAG_REST
from gateway.inject import BeforeBody, Placement, comment_closer
from gateway.neutralise import RESOURCE_ATTRS, Neutraliser, RewritePlan, RewriteStats, attributes
from gateway.trackers import first_at_or_after

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
_SCRIPT_TOKENS = re.compile(rb"<!--|-->|</?(?i:script)(?=" + _DELIM + rb")")
_SCRIPT_DATA, _SCRIPT_ESCAPED, _SCRIPT_DOUBLE = 0, 1, 2
_RAW_END = {
    name: re.compile(rb"</(?i:" + name + rb")(?=" + _DELIM + rb")")
    for name in (b"script", b"style", b"textarea", b"title", b"xmp", b"noembed", b"noframes", b"iframe")
}
_META_CHARSET = re.compile(rb"charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
MAX_INLINE_SCRIPT = 512 * 1024  # inline script body we hold to check for tracker loaders

class HtmlRewriter(BeforeBody):
    def __init__(self, plan: RewritePlan, *, exact: bool = False) -> None:
        """exact: never take the walk's fast path; every token is found by the exact tag-by-tag
        regexes. The output is the same (the tests compare both); it is the reference, and slower."""
        self.plan = plan
        self._exact = exact
        self.stats = RewriteStats()
        self._holds = Neutraliser(plan, self.stats)  # what is held, and how (gateway/neutralise.py)
        self._trackers = self._holds.trackers
        self._patterns = self._holds.patterns
        self._searching = self._holds.searching
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
                pos = self._scan_comment(buf, pos, out, final)
                if self._in_comment:
                    break
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
                    out.append(self._holds.resource_tag(r.group(1).lower(), r.group(0)))
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

    def _scan_comment(self, buf: bytes, pos: int, out: list[bytes], final: bool) -> int:
        """Inside a comment: to its end (then out of it), or as far as this chunk allows."""
        m = _COMMENT_END.search(buf, pos)
        if m is None:
            n = len(buf)
            cut = n if final else n - min(n - pos, 3)  # a split "--!>" must survive to the next chunk
            out.append(buf[pos:cut])
            self._comment_tail = (self._comment_tail + buf[max(pos, cut - 3):cut])[-3:]
            return cut
        out.append(buf[pos:m.end()])
        self._in_comment = False
        return m.end()

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

    def _inert(self, buf: bytes, start: int, end: int) -> bool:
        low = buf[start:end].lower()
        return not ((self._charset is None and b"charset" in low)
                    or (self.plan.with_nonces is not None and b"nonce-" in low)
                    or self._holds_url(low, start, end))

    def _holds_url(self, low: bytes, start: int, end: int) -> bool:
        """`Neutraliser.holds_url` for whole tokens at buf[start:end] (`low` lower-cased), from
        this buffer's catalog pass when that gives the same answer (`TrackerRules.token_local`)."""
        if not self._trackers.token_local:
            return self._holds.holds_url(low)
        for p in self._patterns:  # a loop, not any() over a generator: this runs per head tag
            if p in low:
                return True
        return bool(self._catalog_starts) and first_at_or_after(self._catalog_starts, start, end) >= 0

    def _any_start_tag(self, name: bytes, tag: bytes, out: list[bytes], at: int) -> None:
        """A start tag of any name (before the body, where every tag is looked at), at buf[at:]."""
        if name in RESOURCE_ATTRS:
            # as on the fast path: only a tag holding a blocked URL is parsed
            low = tag.lower()
            held = self._holds_url(low, at, at + len(tag))
            out.append(self._holds.resource_tag(name, tag) if held else tag)
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
        if self._exact:
            b = (_BORING_OR_RESOURCE if self._searching else _BORING).match(buf, pos)
            return b.end() if b else pos
        n = len(buf)
        hit = self._next_hit(low, pos, n) if self._searching else -1
        checked = known = pos
        cand = -2
        walk = scanner.walk
        while True:
            kind, start, end, checked, known, cand = walk(buf, low, pos, checked, known, cand, hit, final)
            if kind == scanner.DONE:
                return start
            if kind == scanner.SLOW:  # a '<' hidden in an attribute value: this stretch exactly
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
        out.append(self._holds.inline_script(tag, body))
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
            rewritten = self._holds.script_or_iframe(name, tag, out)
            if rewritten is None:  # an inline script: held to its end, to look inside
                self._held_tag = tag
                self._raw_end = _RAW_END[b"script"]
                self._raw_name = b"script"
                self._script_state = _SCRIPT_DATA
                return
            tag = rewritten
        if name in _RAW_END:
            self._raw_end = _RAW_END[name]
            self._raw_name = name
            self._script_state = _SCRIPT_DATA
        out.append(tag)

    def _meta_policy(self, tag: bytes) -> None:
        attrs = attributes(tag, len(b"meta") + 1)
        if attrs.get(b"http-equiv", b"").strip().lower() != b"content-security-policy":
            return
        assert self.plan.with_nonces is not None
        policy = html.unescape(attrs.get(b"content", b"").decode("latin-1"))
        self._policies = (*self._policies, policy)
        head, body = self.plan.with_nonces(nonces_for(self._policies))
        self.plan = replace(self.plan, head_html=head, body_html=body)

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
