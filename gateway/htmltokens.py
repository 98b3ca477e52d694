"""The HTML tokenizer's tag syntax, as byte patterns: shared by the rewriter's scanner and the
placement of the injections (gateway/inject.py)."""

from __future__ import annotations

import re

DELIM = rb"[\t\n\f\r />]"
# The rest of a tag after its name, quote-aware as in the HTML tokenizer's attribute states. Once a
# name is followed by '=', a value must follow: an unclosed quote leaves the tag incomplete.
TAG_REST = (
    rb"(?:[\t\n\f\r /]++"
    rb"|(?:=|[^\t\n\f\r />=])[^\t\n\f\r />=]*+"
    rb"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+\"|'[^']*+'|(?![\"'])[^\t\n\f\r >]*+)|(?![\t\n\f\r ]*+=))"
    rb")*+>"
)
# A complete ordinary tag from its '<', quote-aware: where it really ends.
TAG_AT = re.compile(rb"</?[A-Za-z][^\t\n\f\r />]*+" + TAG_REST)
NON_SPACE = re.compile(rb"[^\t\n\f\r ]")  # not HTML whitespace
MAX_CARRY = 256 * 1024  # longest tag or comment head we hold back while waiting for its end
