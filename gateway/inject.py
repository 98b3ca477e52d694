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

from enum import Enum

from gateway.htmltokens import TAG_AT


class Act(Enum):
    NOTHING = 0
    HEAD_BEFORE = 1  # the head config goes before this token
    BODY_BEFORE = 2  # the body starts with this token: head config and banner before it
    BODY_AFTER = 3  # an explicit <body>: head config before it, banner right after it


# The members as plain module names: `Act.NOTHING` is an enum class attribute lookup, several per
# token before the body (gateway.rewrite reads them too) and nine times the cost of a global.
NOTHING, HEAD_BEFORE, BODY_BEFORE, BODY_AFTER = Act.NOTHING, Act.HEAD_BEFORE, Act.BODY_BEFORE, Act.BODY_AFTER

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
    name: HEAD_BEFORE if name in _HEAD_TRIGGERS else NOTHING
    for name in _HEAD_ELEMENTS - {b"template", b"noscript"}
}


class Placement:
    """The tree builder's view before the body, as far as placing the injections needs it."""

    def __init__(self) -> None:
        self.pending = True  # the body has not started yet: the banner is still to place
        self.frameset = False
        self.templates = 0  # open <template> elements: their content is inert, nothing starts the body
        self.noscript = False  # inside a <noscript> in <head>: raw text for a browser that runs scripts
        self._after_head = False

    def text(self) -> Act:
        """Non-space text (spaces never start the body)."""
        if self.templates or self.noscript:
            return NOTHING
        self.pending = False
        return BODY_BEFORE

    def start_tag(self, name: bytes) -> Act:
        if self.templates:
            self.templates += name == b"template"
            return NOTHING
        if self.noscript:
            return NOTHING
        act = _HEAD_START.get(name)
        if act is not None:
            return act
        if name in _HEAD_ELEMENTS and not (name == b"noscript" and self._after_head):
            if name == b"template":
                self.templates = 1
            elif name == b"noscript":
                self.noscript = True
            return HEAD_BEFORE if name in _HEAD_TRIGGERS else NOTHING
        self.pending = False
        if name == b"frameset":
            self.frameset = True  # no body will ever come: the guard only
            return HEAD_BEFORE
        return BODY_AFTER if name == b"body" else BODY_BEFORE

    def end_tag(self, name: bytes) -> Act:
        if self.templates:
            self.templates -= name == b"template"
            return NOTHING
        if self.noscript:
            self.noscript = name != b"noscript"
            return NOTHING
        if name == b"head":
            self._after_head = True
            return HEAD_BEFORE
        if name in _BODY_END_TAGS:
            self.pending = False
            return BODY_BEFORE
        return NOTHING


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


def tag_closer(tag: bytes) -> bytes:
    """What ends an unfinished tag: '>' or, inside a quoted attribute value, the quote first."""
    for closer in (b">", b'">', b"'>"):
        if TAG_AT.fullmatch(tag + closer):
            return closer
    return b">"
