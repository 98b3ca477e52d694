"""The pure-Python twin of gateway/_speedups.c: the reference the compiled walk must match byte
for byte, and the fallback on a machine without a compiler. gateway.scanner picks one.

`walk` is the search part of htmltokenizer.Tokenizer._skip_data: from a position in the data state, skip
text and ordinary tags up to the next token that matters, searching only for the names that
matter (`_CANDIDATE`). A name found inside an ordinary tag (in an attribute) is not a token; the
enclosing tag is found from the nearest '<' before it, which is exact unless an attribute value
hides a '<': `_HIDDEN_LT` detects that and the walk answers SLOW, so the caller runs its exact
regex. The blocked URL search stays with the caller: it passes the next hit in, and the walk
stops there (HIT), or asks for a fresh one when it has skipped past it (STALE).

State in and out, so the walk resumes where it stopped: `checked` (bytes before it were searched
for a hidden '<'), `known` (a position known to be in the data state, where the next hit search
starts) and `cand` (the next candidate found, -1 none, -2 not searched yet).
"""

from __future__ import annotations

import re

from gateway.htmltokens import DELIM as _DELIM
from gateway.htmltokens import TAG_AT as _TAG_AT

DONE, SLOW, HIT, STALE = 0, 1, 2, 3
_SPECIAL = rb"script|iframe|style|textarea|title|xmp|noembed|noframes|plaintext|body|meta"
_END_SPECIAL = rb"body|html|head"
# Where a token that matters may start, searched in the lower-cased buffer.
_CANDIDATE = re.compile(
    rb"<(?:!--|(?:" + _SPECIAL + rb")(?=" + _DELIM + rb")|/(?:" + _END_SPECIAL + rb")(?=" + _DELIM + rb"))"
)
# The one thing that can fool the walk: a '<' inside an attribute value.
_HIDDEN_LT = re.compile(rb"=[\t\n\f\r ]*+(?:\"[^\"<]*+<|'[^'<]*+<|[^\t\n\f\r \"'>=<][^\t\n\f\r ><]*+<)")

Step = tuple[int, int, int, int, int, int]


def walk(buf: bytes, low: bytes, pos: int, checked: int, known: int, cand: int, hit: int,
         final: bool) -> Step:
    """Returns (kind, a, b, checked, known, cand). DONE: `a` is where the next token starts (or
    the unfinished tag to hold back). SLOW: a hidden '<'; the caller scans from `pos` exactly.
    HIT: `hit` lies in the tag (a, b) (b = -1: unfinished), or in text when a = -1. STALE: the
    walk skipped past `hit`; search again from `known`. `hit` is the first blocked URL at or
    after `known`, or -1."""
    n = len(buf)
    while True:
        if cand == -2:
            m = _CANDIDATE.search(low, known)
            cand = m.start() if m else -1
        limit = cand if cand >= 0 else n
        h = hit if 0 <= hit < limit else -1
        at = h if h >= 0 else limit
        if at >= checked:
            # up to and including the candidate's own '<', which may be the hidden one
            if _HIDDEN_LT.search(buf, checked, at + 1):
                return SLOW, pos, -1, checked, known, cand
            checked = at + 1
        if h >= 0:
            start, end = _enclosing_tag(buf, known, h)
            return HIT, start, end, checked, known, cand
        if cand < 0:
            return DONE, _data_tail(buf, pos, final), -1, checked, known, cand
        start, end = _enclosing_tag(buf, known, limit)
        if start < 0:
            return DONE, limit, -1, checked, known, cand  # a real token
        if end < 0:
            return DONE, start, -1, checked, known, cand  # inside a tag that has not ended yet
        known, cand = end, -2  # the name was inside an attribute: look further
        if 0 <= hit < known:
            return STALE, -1, -1, checked, known, cand


def _data_tail(buf: bytes, pos: int, final: bool) -> int:
    n = len(buf)
    if final:
        return n
    start, end = _enclosing_tag(buf, pos, n)
    if start >= 0 and end < 0:
        return start  # an unfinished tag may still hide a name in its attributes
    split = buf.rfind(b"<", max(pos, n - 12), n)
    return split if split >= 0 else n  # a name that may be cut at the chunk's end


def _enclosing_tag(buf: bytes, pos: int, at: int) -> tuple[int, int]:
    """The ordinary tag that contains position `at`, as (start, end); (-1, -1) when none does,
    (start, -1) when it is not finished inside `buf`."""
    lt = buf.rfind(b"<", pos, at)
    while lt >= 0:
        nxt = buf[lt + 1:lt + 2]
        if nxt.isalpha() or nxt in (b"!", b"?") or (nxt == b"/" and buf[lt + 2:lt + 3] != b">"):
            break
        lt = buf.rfind(b"<", pos, lt)  # a '<' that starts nothing is text
    if lt < 0:
        return -1, -1
    if nxt.isalpha() or (nxt == b"/" and buf[lt + 2:lt + 3].isalpha()):
        m = _TAG_AT.match(buf, lt)
        end = m.end() if m else -1
    else:  # <!x>, <?x>, </1>: bogus comments end at the first '>'
        gt = buf.find(b">", lt + 1)
        end = gt + 1 if gt >= 0 else -1
    if end < 0:
        return lt, -1
    return (lt, end) if end > at else (-1, -1)
