"""The find half of the HTML rewriter: bytes and an explicit state in, token positions out.

`Tokenizer.tokens(buf, final)` follows the HTML tokenizer's states where they decide what is a real
tag: data, comments (with the "<!-->" forms), raw-text elements (script, style, textarea, ...) with
the script data escaped and double-escaped states, and plaintext. It yields a `Token` per token
that matters and covers every byte of `buf` exactly once, in order; it edits nothing and calls
nothing back. gateway.rewrite (the editor) decides what to write for each token.

Two granularities, chosen by the caller through `TokenizerState.tags`:
- before the body (`tags` true), every tag is a token, so the tree builder's view can be followed
  (gateway.inject.Placement); runs of tokens that cannot change that view come as one RUN token;
- after it, only the tokens that matter (comments, the raw-text and special start tags, the end
  tags of body/html/head, and resource tags that hold a blocked URL); everything between is one
  TEXT token. `gateway.scanner.walk` (compiled, or its pure-Python twin) finds those; the blocked
  URL search (the operator's substrings and the catalog's pass) is done here, once per buffer.
  `exact=True` finds them with the exact tag-by-tag regexes instead (the reference; slower).

A token not finished at the end of a buffer is held back (`TokenizerState.carry`, at most
MAX_CARRY bytes) and comes with the next one. Possessive quantifiers keep the patterns linear.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from gateway import scanner
from gateway.htmltokens import (
    BOGUS,
    BORING,
    BORING_OR_RESOURCE,
    COMMENT_CLOSE,
    INERT_RUN,
    INTERESTING,
    MAX_CARRY,
    NON_SPACE,
    RAW_END,
    RESOURCE_NAMES,
    RESOURCE_TAG,
    SCRIPT_TOKENS,
    SPACES,
    TAG_NAMED,
)
from gateway.trackers import TrackerRules, first_at_or_after

# Token kinds. A token is (kind, start, end, name): buf[start:end]; `name` is a tag's name lower-cased
# (for RAW_CLOSE the element's), else b"".
TEXT = 0  # text; after the body also the ordinary tags in it
LT = 1  # a '<' that starts no token (or starts one never finished): text
END = 2  # an end tag (after the body: body, html, head)
WHOLE_COMMENT = 3  # a comment from its "<!--" to its end, "<!-->" and "<!--->" included
COMMENT_START = 4  # "<!--" of a comment that goes on past the buffer
COMMENT_TEXT = 5  # comment text, the comment goes on
COMMENT_END = 6  # the rest of a comment, its "-->" included
MARKUP = 7  # changes nothing: a byte order mark, a doctype, a bogus comment, "</>"
START = 8  # a start tag (after the body: only the special names, see htmltokens.SPECIAL)
RESOURCE = 9  # a start tag of an element that fetches as the page parses, holding a blocked URL
RAW_TEXT = 10  # text of a raw-text element (or of <plaintext>, to the end), the element goes on
RAW_CLOSE = 11  # the last text of a raw-text element: its end tag starts at `end`
RUN = 12  # before the body: a run of whole tokens that change nothing there (see `run_tokens`)
EOF_TAG = 13  # before the body, at EOF: an unfinished tag, which the HTML tokenizer drops
EOF_RAW_END = 14  # the same, the end tag of the raw-text element that just ended
EOF_BOGUS = 15  # before the body, at EOF: an unfinished doctype or bogus comment
PASSED = MARKUP  # after the body, the kinds up to this one are written as they are (one comparison)
# Held back to the next buffer: not a token (yielding one cost 3% of a chunk); the rest of a
# buffer after its last token is `TokenizerState.carry`. The steps return this kind to say so.
INCOMPLETE = 16
Token = tuple[int, int, int, bytes]

DATA, COMMENT, RAW, PLAINTEXT = 0, 1, 2, 3  # TokenizerState.mode
SCRIPT_DATA, SCRIPT_ESCAPED, SCRIPT_DOUBLE = 0, 1, 2  # TokenizerState.script

_STATEFUL = frozenset({*RAW_END, b"plaintext"})  # start tags after which the state changes (_enter)
_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class TokenizerState:
    """Everything carried from one buffer to the next."""

    carry: bytes = b""  # the start of a token not finished in the last buffer
    mode: int = DATA  # DATA, COMMENT, RAW (raw_name says which element) or PLAINTEXT (to the end)
    raw_name: bytes = b""
    script: int = SCRIPT_DATA  # inside a script: data, escaped ("<!--") or double escaped
    comment_tail: bytes = b""  # a comment's last three bytes so far (how to close it at EOF)
    raw_ended: bool = False  # the token here is the end tag of a raw-text element
    at_start: bool = True  # nothing seen yet: a byte order mark here is the decoder's
    tags: bool = True  # set by the caller: every tag is a token (before the body), or only those that matter


class Tokenizer:
    def __init__(self, trackers: TrackerRules, *, exact: bool = False,
                 patterns: tuple[bytes, ...] | None = None) -> None:
        """trackers: what a resource tag is looked at for; patterns: its operator substrings encoded,
        when the caller has them already (a rewriter is built per page). exact: never take the
        walk's fast path; the tokens are the same (the tests compare both); the reference, slower."""
        self.state = TokenizerState()
        self.exact = exact
        self.trackers = trackers
        self.patterns = tuple(p.encode("latin-1") for p, _ in trackers.blocked) if patterns is None else patterns
        self.searching = bool(trackers)  # anything to hold, so URLs in the page are looked for
        self.low = b""  # the current buffer lower-cased (ASCII only: offsets stay the same)

    # set per buffer by tokens()
    _catalog_starts: list[int]  # withheld catalog patterns' starts in it (one pass)
    _hits: list[int]  # each operator pattern's next occurrence (see _next_hit)

    def tokens(self, buf: bytes, final: bool) -> Iterator[Token]:
        """The tokens of `buf` (the last buffer's `state.carry`, then new bytes) in order, covering it
        up to what is held back (the new `state.carry`). Run it to its end before the next buffer (the
        state, carry included, is updated as tokens are taken). Between two tokens the caller may
        clear `state.tags` (the body started): the tokens after are the coarse ones. Cleared on a
        TEXT token, the caller takes that token only to its first non-space byte, where the body
        starts: the tokens after start there. (The walk's guess that an attribute value hides a
        '<' reads the text before a tag, so where it starts shows in the output; it always started
        there.)"""
        st = self.state
        n = len(buf)
        self.low = low = buf.lower()
        self._hits = [-2] * len(self.patterns)
        self._catalog_starts = self.trackers.catalog_starts(low)
        st.carry = b""
        pos = 0
        if st.at_start and n:
            if not final and n < 3 and _BOM.startswith(buf):
                st.carry = buf  # the byte order mark may go on
                return
            st.at_start = False
            if buf.startswith(_BOM):  # the decoder's, not text (the banner before it: quirks mode)
                yield MARKUP, 0, 3, b""
                pos = 3
        while pos < n:
            mode = st.mode
            if mode == DATA:
                if st.tags:
                    # Before the body, every tag: inline, as a head is a few dozen tokens and the calls
                    # per token would be a good part of its cost. The rest is in _tag_other.
                    run = INERT_RUN.match(buf, pos).end()  # type: ignore[union-attr]
                    if run > pos:
                        st.raw_ended = False
                        yield RUN, pos, run, b""
                        pos = run
                        continue
                    lt = buf.find(b"<", pos)
                    if lt != pos:
                        stop = n if lt < 0 else lt
                        yield TEXT, pos, stop, b""
                        if st.tags:
                            pos = stop
                        else:  # the caller took it to its first non-space byte: the body starts there
                            pos = NON_SPACE.search(buf, pos, stop).start()  # type: ignore[union-attr]
                        continue
                    m = TAG_NAMED.match(buf, pos)
                    if m is not None:  # as _tag, inline
                        st.raw_ended = False
                        name = m.group(2).lower()
                        end = m.end()
                        if m.group(1):
                            yield END, pos, end, name
                        elif name in RESOURCE_NAMES and self.searching and self.hit_in(pos, end):
                            yield RESOURCE, pos, end, name
                        else:
                            if name in _STATEFUL:
                                self._enter(name)
                            yield START, pos, end, name
                        pos = end
                        continue
                    tok = self._tag_other(buf, pos, final)
                else:
                    end = self._skip_data(buf, low, pos, final)
                    if end > pos:
                        yield TEXT, pos, end, b""
                        pos = end
                        if pos >= n:
                            break
                    m = INTERESTING.match(buf, pos)  # what the walk stopped at (inline: once per chunk)
                    if m is None:
                        if not final and n - pos <= MAX_CARRY and not (self.searching and RESOURCE_TAG.match(buf, pos)):
                            break  # an unfinished tag: held back for the rest
                        tok = self._data_other(buf, pos, final)
                    elif m.group(1):  # as below for COMMENT_START, inline: pages have many comments
                        stop = self._comment_open(buf, pos, final)
                        if stop == -2:
                            break
                        if stop < 0:
                            yield COMMENT_START, pos, pos + 4, b""
                            st.mode = COMMENT
                            st.comment_tail = b""
                            pos += 4
                        else:
                            yield WHOLE_COMMENT, pos, stop, b""
                            pos = stop
                        continue
                    elif m.group(2):
                        name = m.group(2).lower()
                        if name in _STATEFUL:
                            self._enter(name)
                        tok = START, pos, m.end(), name
                    else:
                        tok = END, pos, m.end(), m.group(3).lower()
            elif mode == COMMENT:
                tok = self._comment_step(buf, pos, final)
            elif mode == RAW:
                tok = self._raw_step(buf, pos, final)
            else:
                tok = RAW_TEXT, pos, n, b""
            kind = tok[0]
            if kind == COMMENT_START:
                stop = self._comment_open(buf, pos, final)
                if stop == -2:
                    break
                if stop < 0:  # the comment goes on past this buffer
                    yield tok
                    st.mode = COMMENT
                    st.comment_tail = b""
                    pos += 4
                    continue
                tok = WHOLE_COMMENT, pos, stop, b""
            elif kind == INCOMPLETE:
                break
            yield tok
            pos = tok[2]
            if kind == RAW_TEXT or kind == COMMENT_TEXT:
                break  # the element or comment goes on: what is left waits for the next buffer
        if pos < n:
            st.carry = buf[pos:]  # no token: yielding one cost 3% of a chunk's time

    def run_tokens(self, buf: bytes, start: int, end: int) -> Iterator[Token]:
        """The tokens in a RUN token buf[start:end]: TEXT (spaces), START, END, RESOURCE, MARKUP.
        None of them changes this tokenizer's state, so the caller may take a run whole or this way."""
        pos = start
        while pos < end:
            m = SPACES.match(buf, pos, end)
            if m is not None:
                yield TEXT, pos, m.end(), b""
            elif (m := TAG_NAMED.match(buf, pos, end)) is not None:
                yield self._tag(m, pos)
            else:
                m = BOGUS.match(buf, pos, end)
                assert m is not None, "not a run"
                yield MARKUP, pos, m.end(), b""
            pos = m.end()

    def hit_in(self, start: int, end: int) -> bool:
        """A blocked URL substring or withheld catalog pattern lies in the buffer's [start, end),
        from this buffer's catalog pass when that gives the same answer (`TrackerRules.token_local`)."""
        low = self.low
        for p in self.patterns:  # a loop, not any() over a generator: this runs per head tag
            if low.find(p, start, end) >= 0:
                return True
        if not self.trackers.token_local:
            return bool(self.trackers.catalog_starts(low[start:end]))
        return bool(self._catalog_starts) and first_at_or_after(self._catalog_starts, start, end) >= 0

    # --- the states -----------------------------------------------------------------------

    def _enter(self, name: bytes) -> None:
        """After a start tag: the raw-text elements and <plaintext> change the tokenizer's state."""
        if name in RAW_END:
            self.state.mode, self.state.raw_name, self.state.script = RAW, name, SCRIPT_DATA
        elif name == b"plaintext":
            self.state.mode = PLAINTEXT

    def _tag(self, m: re.Match[bytes], pos: int) -> Token:
        """A complete tag matched by TAG_NAMED at `pos`."""
        name = m.group(2).lower()
        end = m.end()
        if m.group(1):
            return END, pos, end, name
        if name in RESOURCE_NAMES and self.searching and self.hit_in(pos, end):
            return RESOURCE, pos, end, name  # only a tag holding a blocked URL is parsed
        return START, pos, end, name

    def _tag_other(self, buf: bytes, pos: int, final: bool) -> Token:
        """At a '<' that is not a complete tag, before the body: a comment, a bogus comment or doctype,
        "</>", a '<' that is text, or a token not finished yet (held back; at EOF, an EOF_ kind)."""
        if buf.startswith(b"<!--", pos):
            return COMMENT_START, pos, pos + 4, b""
        n = len(buf)
        nxt = buf[pos + 1:pos + 2]
        after = buf[pos + 2:pos + 3]
        if not final and n - pos <= MAX_CARRY and (nxt == b"" or (nxt == b"/" and after == b"")):
            return INCOMPLETE, pos, n, b""  # "<" or "</" cut at the chunk's end
        tag = nxt.isalpha() or (nxt == b"/" and after.isalpha())
        if tag or nxt in (b"!", b"?") or (nxt == b"/" and after not in (b">", b"")):
            close = buf.find(b">", pos) if not tag else -1
            if close >= 0:
                return MARKUP, pos, close + 1, b""
            if not final and n - pos <= MAX_CARRY:
                return INCOMPLETE, pos, n, b""
            if final:
                kind = EOF_BOGUS if not tag else EOF_RAW_END if self.state.raw_ended else EOF_TAG
                return kind, pos, n, b""
        elif nxt == b"/" and after == b">":  # "</>" is no token at all
            return MARKUP, pos, pos + 3, b""
        return LT, pos, pos + 1, b""  # a '<' that is text (or a hostile tag longer than we hold)

    def _data_other(self, buf: bytes, pos: int, final: bool) -> Token:
        """After the body, at a '<' the walk stopped at that is no token that matters and is not held
        back: a resource tag holding a blocked URL, or (at EOF, or too long) a '<' that is text."""
        if self.searching:
            r = RESOURCE_TAG.match(buf, pos)
            if r is not None:
                return RESOURCE, pos, r.end(), r.group(1).lower()
        return LT, pos, pos + 1, b""  # EOF inside a tag, or a hostile tag longer than we hold

    def _comment_open(self, buf: bytes, pos: int, final: bool) -> int:
        """At a "<!--": where the comment ends when that is in `buf` ("<!-->" and "<!--->" are
        complete, empty comments), -1 when it goes on past `buf`, -2 when the next buffer must say
        whether it is "<!-->"."""
        p = pos + 4
        if buf.startswith(b">", p):
            return p + 1
        if buf.startswith(b"->", p):
            return p + 2
        if len(buf) - p < 2 and not final:
            return -2
        m = COMMENT_CLOSE.search(buf, p)
        return m.end() if m is not None else -1

    def _comment_step(self, buf: bytes, pos: int, final: bool) -> Token:
        """Inside a comment: to its end (then out of it), or as far as this buffer allows."""
        st = self.state
        m = COMMENT_CLOSE.search(buf, pos)
        if m is None:
            n = len(buf)
            cut = n if final else n - min(n - pos, 3)  # a split "--!>" must survive to the next buffer
            st.comment_tail = (st.comment_tail + buf[max(pos, cut - 3):cut])[-3:]
            return (COMMENT_TEXT, pos, cut, b"") if cut > pos else (INCOMPLETE, pos, n, b"")
        st.mode = DATA
        return COMMENT_END, pos, m.end(), b""

    def _raw_step(self, buf: bytes, pos: int, final: bool) -> Token:
        """Inside a raw-text element: its text up to its end tag (RAW_CLOSE, the end tag is then
        read in the data state), or as far as this buffer allows (RAW_TEXT)."""
        st = self.state
        n = len(buf)
        if st.raw_name == b"script":
            end, cut = self._script_end(buf, pos, final)
        else:
            m = RAW_END[st.raw_name].search(buf, pos)
            end = m.start() if m else -1
            cut = n - (0 if final else min(n - pos, 10))  # "</noframes" is the longest end
        if end < 0:
            return (RAW_TEXT, pos, cut, b"") if cut > pos else (INCOMPLETE, pos, n, b"")
        st.mode = DATA
        st.raw_ended = True
        return RAW_CLOSE, pos, end, st.raw_name

    def _script_end(self, buf: bytes, pos: int, final: bool) -> tuple[int, int]:
        """Where a script's text ends, following the tokenizer's script data states: inside
        `<!--`, a `<script` starts a "double escaped" stretch whose `</script` does not end the
        element (old `document.write('<script ...></script>')` loaders). Returns (the end tag's
        position or -1, how far the text is known to be script text)."""
        n = len(buf)
        p = pos
        state = self.state.script
        while True:
            m = SCRIPT_TOKENS.search(buf, p)
            if m is None:
                break
            token = m.group(0).lower()
            if token == b"<!--":
                if state == SCRIPT_DATA:
                    after = buf[m.end():m.end() + 2]
                    if len(after) < 2 and not final and after in (b"", b"-"):
                        self.state.script = state
                        return -1, m.start()  # "<!-->" or not: the next chunk says
                    if after[:1] == b">" or after == b"->":  # "<!-->", "<!--->": closed at once
                        p = m.end() + (1 if after[:1] == b">" else 2)
                        continue
                    state = SCRIPT_ESCAPED  # longer dash runs end at their "-->", found next
            elif token == b"-->":
                state = SCRIPT_DATA
            elif token.startswith(b"</"):
                if state != SCRIPT_DOUBLE:
                    self.state.script = SCRIPT_DATA
                    return m.start(), m.start()
                state = SCRIPT_ESCAPED
            elif state == SCRIPT_ESCAPED:  # "<script"
                state = SCRIPT_DOUBLE
            p = m.end()
        self.state.script = state
        # a token may be cut at the chunk's end: "</script" and its delimiter, or "<!--"
        return -1, n if final else max(p, n - 9)

    # --- after the body: the fast path ----------------------------------------------------

    def _skip_data(self, buf: bytes, low: bytes, pos: int, final: bool) -> int:
        """From `pos` (in the data state), the position of the next token that matters.

        Text and ordinary tags are skipped by `scanner.walk` (compiled, or its pure-Python twin;
        gateway/_scan_py.py says how that stays exact). What needs Python stays here: the blocked
        URL substrings, searched for from where the walk knows the data state goes on, and the
        exact (slower) `BORING` regex for a stretch where an attribute value hides a '<'. A
        blocked URL inside a resource tag makes that tag the token.
        """
        if self.exact:
            b = (BORING_OR_RESOURCE if self.searching else BORING).match(buf, pos)
            return b.end() if b else pos
        n = len(buf)
        hit = self._next_hit(low, pos, n) if self.searching else -1
        checked = known = pos
        cand = -2
        walk = scanner.walk
        while True:
            kind, start, end, checked, known, cand = walk(buf, low, pos, checked, known, cand, hit, final)
            if kind == scanner.DONE:
                return start
            if kind == scanner.SLOW:  # a '<' hidden in an attribute value: this stretch exactly
                b = (BORING_OR_RESOURCE if self.searching else BORING).match(buf, pos)
                return b.end() if b else pos
            if kind == scanner.HIT:
                if start >= 0 and (end < 0 or RESOURCE_TAG.match(low, start, end)):
                    return start  # a resource tag to look at, or one not finished yet
                # in text, or in a tag that fetches nothing; either way the data state goes on from
                # there, so later hits never walk back over this stretch (hits in text are unbounded)
                known = end if start >= 0 else hit + 1
            hit = self._next_hit(low, known, n) if self.searching else -1

    def _next_hit(self, low: bytes, start: int, end: int) -> int:
        """The first blocked URL substring or withheld catalog pattern in low[start:end], or -1.
        Each operator pattern's next occurrence is remembered for the rest of this buffer, so no
        byte is searched twice; the catalog's were all found in one pass (`_catalog_starts`)."""
        first = first_at_or_after(self._catalog_starts, start, end) if self._catalog_starts else -1
        hits = self._hits
        for i, pattern in enumerate(self.patterns):
            h = hits[i]
            if h != -1 and h < start:  # -1: none left in this buffer; below start: search on
                h = hits[i] = low.find(pattern, start)
            if 0 <= h < end and (first < 0 or h < first):
                first = h
        return first
