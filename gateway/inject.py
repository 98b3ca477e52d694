"""Where the injections go: the head config before the page's first script, the banner where the
tree builder creates <body>.

The banner used to go before the page's `</body>`, or at EOF without one. By then any element may
still be open (a <select>, a <template>, a table, an <svg>, a <plaintext>), and the tree builder
tears the banner apart or hides it; a page that ends inside a tag or a comment swallowed it. At the
start of the body none of that can happen: the stack of open elements is just <html><body>, no
formatting element is active, no form is open. The dialog is fixed-position, so its place in the
DOM changes no layout, and first in focus order suits a modal.

`Placement` follows the HTML tree builder's modes before the body ("before html" to "after head")
for the tokens the rewriter hands it, and says when the body starts: an explicit <body>, or the
first token those modes do not accept (non-space text, a start tag that does not belong in <head>,
`</body>`, `</html>`, `</br>`). Inside a <template> or a <noscript> in the head nothing starts it.
A <frameset> means the page has no body at all: it gets the head config only (see README).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from enum import Enum

from gateway.htmltokens import DELIM, MAX_CARRY, NON_SPACE, TAG_AT, TAG_REST


class Act(Enum):
    NOTHING = 0
    HEAD_BEFORE = 1  # the head config goes before this token
    BODY_BEFORE = 2  # the body starts with this token: head config and banner before it
    BODY_AFTER = 3  # an explicit <body>: head config before it, banner right after it



# The members as plain module names: `Act.NOTHING` is an enum class attribute lookup, several per
# token in the walk below and nine times the cost of a global.
_NOTHING, _HEAD_BEFORE, _BODY_BEFORE, _BODY_AFTER = Act.NOTHING, Act.HEAD_BEFORE, Act.BODY_BEFORE, Act.BODY_AFTER

# Start tags the modes before the body keep in (or route to) <head>. `noscript` only until </head>.
_HEAD_ELEMENTS = frozenset({
    b"html", b"head", b"base", b"basefont", b"bgsound", b"link", b"meta", b"title", b"noscript",
    b"noframes", b"style", b"script", b"template",
})
# Before these the page's scripts may run: the guard must already be there. A template or noscript
# gets it before, so that it is not placed inside one (inert there).
_HEAD_TRIGGERS = frozenset({b"script", b"style", b"template", b"noscript"})
_BODY_END_TAGS = frozenset({b"body", b"html", b"br"})
# `Placement.start_tag` for the head elements that open nothing (template and noscript do), in
# the head or after it: one lookup for the common case (meta, link, title, script, ...).
_HEAD_START = {
    name: _HEAD_BEFORE if name in _HEAD_TRIGGERS else _NOTHING
    for name in _HEAD_ELEMENTS - {b"template", b"noscript"}
}
_BOM = b"\xef\xbb\xbf"
# A run of whole tokens that change nothing before the body: spaces, head tags that hold no text,
# end tags other than the ones `Placement` reads, doctypes and bogus comments. A run is passed on in
# one piece unless the rewriter wants to look at a tag in it (a blocked URL, a charset, a nonce).
_INERT_RUN = re.compile(
    rb"(?:[\t\n\f\r ]++"
    rb"|<(?i:html|head|base|basefont|bgsound|link|meta)(?=" + DELIM + rb")" + TAG_REST +
    rb"|</(?!(?i:head|body|html|br|template|noscript)" + DELIM + rb")[A-Za-z][^\t\n\f\r />]*+" + TAG_REST +
    rb"|<(?:!(?!--)|\?|/(?![A-Za-z>]))[^>]*+>"
    rb")*+"
)
# TAG_AT with its end-tag slash and its name as groups: one match per tag, no second for the name
_TAG_NAMED = re.compile(rb"<(/?)([A-Za-z][^\t\n\f\r />]*+)" + TAG_REST)
assert _TAG_NAMED.pattern.replace(b"(/?)(", b"/?").replace(b"*+)", b"*+", 1) == TAG_AT.pattern


class Placement:
    """The tree builder's view before the body, as far as placing the injections needs it."""

    def __init__(self) -> None:
        self.pending = True  # the body has not started yet: the banner is still to place
        self.at_start = True  # nothing seen yet: a byte order mark here is the decoder's, not text
        self.frameset = False
        self.templates = 0  # open <template> elements: their content is inert, nothing starts the body
        self.noscript = False  # inside a <noscript> in <head>: raw text for a browser that runs scripts
        self._after_head = False

    def text(self) -> Act:
        """Non-space text (spaces never start the body)."""
        if self.templates or self.noscript:
            return _NOTHING
        self.pending = False
        return _BODY_BEFORE

    def start_tag(self, name: bytes) -> Act:
        if self.templates:
            self.templates += name == b"template"
            return _NOTHING
        if self.noscript:
            return _NOTHING
        act = _HEAD_START.get(name)
        if act is not None:
            return act
        if name in _HEAD_ELEMENTS and not (name == b"noscript" and self._after_head):
            if name == b"template":
                self.templates = 1
            elif name == b"noscript":
                self.noscript = True
            return _HEAD_BEFORE if name in _HEAD_TRIGGERS else _NOTHING
        self.pending = False
        if name == b"frameset":
            self.frameset = True  # no body will ever come: the guard only
            return _HEAD_BEFORE
        return _BODY_AFTER if name == b"body" else _BODY_BEFORE

    def end_tag(self, name: bytes) -> Act:
        if self.templates:
            self.templates -= name == b"template"
            return _NOTHING
        if self.noscript:
            self.noscript = name != b"noscript"
            return _NOTHING
        if name == b"head":
            self._after_head = True
            return _HEAD_BEFORE
        if name in _BODY_END_TAGS:
            self.pending = False
            return _BODY_BEFORE
        return _NOTHING


def comment_closer(tail: bytes) -> bytes:
    """What ends a comment left open at EOF without changing its text, from its last three bytes.

    At EOF the tokenizer drops the dashes (and "--!") it was holding as a possible end; appended
    bytes must close the comment from that same state, or the dashes would become comment text.
    """
    if tail.endswith((b"--", b"--!")):
        return b">"
    if tail.endswith(b"-"):
        return b"->"
    return b"-->"


class BeforeBody(ABC):
    """The rewriter's scan until the body starts (HtmlRewriter mixes this in): token by token, a
    head is short, so that `Placement` sees every token the tree builder does, and the injections go
    between tokens, never into one."""

    _place: Placement
    _raw_end: re.Pattern[bytes] | None
    _plaintext: bool
    _raw_ended: bool  # the token here is the end tag of a raw-text element

    # provided by HtmlRewriter (abstract: a subclass that forgets one cannot be built)
    @abstractmethod
    def _comment_start(self, buf: bytes, pos: int, out: list[bytes], final: bool) -> tuple[int, bool]:
        ...

    @abstractmethod
    def _any_start_tag(self, name: bytes, tag: bytes, out: list[bytes], at: int) -> None:
        ...

    @abstractmethod
    def _end_tag(self, name: bytes, tag: bytes, out: list[bytes]) -> None:
        ...

    @abstractmethod
    def _inject_head(self) -> bytes:
        ...

    @abstractmethod
    def _inject_body(self) -> bytes:
        ...

    @abstractmethod
    def _inert(self, buf: bytes, start: int, end: int) -> bool:
        """No tag in this run of head tags, buf[start:end], needs looking at."""

    def _pre_body(self, buf: bytes, pos: int, out: list[bytes], final: bool) -> tuple[int, bool]:
        """Until the body starts, token by token (a head is short), so that `Placement` sees every
        token the tree builder does. Returns (position, wait for more data)."""
        n = len(buf)
        place = self._place
        if place.at_start and pos < n:
            if not final and n - pos < 3 and _BOM.startswith(buf[pos:]):
                return pos, True
            if buf.startswith(_BOM, pos):  # else the banner would go before the doctype: quirks mode
                out.append(_BOM)
                pos += 3
            place.at_start = False
        step_to = pos  # tokens before this are taken one by one (a run that was not inert)
        while pos < n and place.pending:
            if pos >= step_to:
                run = _INERT_RUN.match(buf, pos).end()  # type: ignore[union-attr]
                if run > pos:
                    if self._inert(buf, pos, run):
                        out.append(buf[pos:run])
                        self._raw_ended = False
                        pos = run
                        continue
                    step_to = run
            lt = buf.find(b"<", pos)
            if lt != pos:  # text: the first non-space character starts the body
                stop = n if lt < 0 else lt
                m = NON_SPACE.search(buf, pos, stop)
                if m is not None and place.text() is _BODY_BEFORE:
                    out.append(buf[pos:m.start()])
                    self._place_before(_BODY_BEFORE, out)
                    return m.start(), False
                out.append(buf[pos:stop])
                pos = stop
                continue
            if buf.startswith(b"<!--", pos):
                return self._comment_start(buf, pos, out, final)
            m = _TAG_NAMED.match(buf, pos)
            if m is not None:
                self._raw_ended = False
                self._pre_body_tag(m.group(0), m.group(2).lower(), bool(m.group(1)), out, pos)
                pos = m.end()
                if self._raw_end is not None or self._plaintext:
                    return pos, False
                continue
            pos, wait = self._pre_body_other(buf, pos, out, final)
            if wait:
                return pos, True
        return pos, False

    def _pre_body_tag(self, tag: bytes, name: bytes, end: bool, out: list[bytes], at: int) -> None:
        act = self._place.end_tag(name) if end else self._place.start_tag(name)
        if act is not _NOTHING:  # the common case (meta, link, title, ...) stays cheap
            self._place_before(act, out)
        if end:
            self._end_tag(name, tag, out)
            return
        self._any_start_tag(name, tag, out, at)
        if act is _BODY_AFTER:
            out.append(self._inject_body())

    def _pre_body_other(self, buf: bytes, pos: int, out: list[bytes], final: bool) -> tuple[int, bool]:
        """At a '<' that is not a complete tag: a bogus comment or doctype, "</>", a '<' that is
        text, or a token not finished yet. At EOF the injections go before an unfinished tag (the
        tokenizer drops it) or after a bogus comment closed as the tokenizer closes it."""
        n = len(buf)
        nxt = buf[pos + 1:pos + 2]
        after = buf[pos + 2:pos + 3]
        if not final and n - pos <= MAX_CARRY and (nxt == b"" or (nxt == b"/" and after == b"")):
            return pos, True  # "<" or "</" cut at the chunk's end
        tag = nxt.isalpha() or (nxt == b"/" and after.isalpha())
        if tag or nxt in (b"!", b"?") or (nxt == b"/" and after not in (b">", b"")):
            close = buf.find(b">", pos) if not tag else -1
            if close >= 0:
                out.append(buf[pos:close + 1])
                return close + 1, False
            if not final and n - pos <= MAX_CARRY:
                return pos, True
            if final:  # end it as EOF does, for finish() to inject after; or inject before it
                rest = buf[pos:]
                if self._place.noscript:
                    out.append(rest)  # raw text to the browser: finish() ends the <noscript>
                elif not tag:
                    out.append(rest + b">")  # a bogus comment or doctype
                elif self._raw_ended:
                    out.append(rest + _tag_closer(rest))  # the end tag of a raw-text element
                else:  # EOF inside a tag: the tokenizer drops it; the injections go before it
                    out.append(b"</template>" * self._place.templates)
                    self._place.templates = 0
                    self._place.pending = False
                    self._place_before(_BODY_BEFORE, out)
                    out.append(rest)
                return n, False
        elif nxt == b"/" and after == b">":  # "</>" is no token at all
            out.append(b"</>")
            return pos + 3, False
        # a '<' that is text (or a hostile tag longer than we hold): text starts the body
        if self._place.text() is _BODY_BEFORE:
            self._place_before(_BODY_BEFORE, out)
        out.append(b"<")
        return pos + 1, False

    def _place_before(self, act: Act, out: list[bytes]) -> None:
        if act is not _NOTHING:
            out.append(self._inject_head())
        if act is _BODY_BEFORE:
            out.append(self._inject_body())


def _tag_closer(tag: bytes) -> bytes:
    """What ends an unfinished tag: '>' or, inside a quoted attribute value, the quote first."""
    for closer in (b">", b'">', b"'>"):
        if TAG_AT.fullmatch(tag + closer):
            return closer
    return b">"
