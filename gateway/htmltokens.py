"""The HTML tokenizer's tag syntax, as byte patterns: gateway/htmltokenizer.py's, and those it
shares with the scanner's walk (gateway/_scan_py.py) and the placement of the injections."""

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

# --- gateway/htmltokenizer.py ------------------------------------------------------------

SPECIAL = rb"script|iframe|style|textarea|title|xmp|noembed|noframes|plaintext|body|meta"
END_SPECIAL = rb"body|html|head"
RESOURCE_NAMES = frozenset({b"img", b"source", b"video", b"audio", b"embed", b"input", b"track", b"object",
                            b"link"})
_RESOURCE = b"|".join(sorted(RESOURCE_NAMES))
RAW_END = {
    name: re.compile(rb"</(?i:" + name + rb")(?=" + DELIM + rb")")
    for name in (b"script", b"style", b"textarea", b"title", b"xmp", b"noembed", b"noframes", b"iframe")
}


def _boring(stop: bytes) -> re.Pattern[bytes]:
    """Text and tags up to the next comment, end tag of `END_SPECIAL`, or start tag named in `stop`."""
    return re.compile(
        rb"(?:[^<]++"
        rb"|<(?=[^A-Za-z/!?])"
        rb"|<(?!(?i:" + stop + rb")" + DELIM + rb")[A-Za-z][^\t\n\f\r />]*+" + TAG_REST +
        rb"|</(?!(?i:" + END_SPECIAL + rb")" + DELIM + rb")[A-Za-z][^\t\n\f\r />]*+" + TAG_REST +
        rb"|<(?:\?|/(?![A-Za-z])|!(?!--))[^>]*+>"
        rb")*+"
    )


BORING = _boring(SPECIAL)
RESOURCE_TAG = re.compile(rb"<((?i:" + _RESOURCE + rb"))(?=" + DELIM + rb")" + TAG_REST)
# the exact slow path, stopping at resource tags too when there is something to look for in them
BORING_OR_RESOURCE = _boring(SPECIAL + b"|" + _RESOURCE)
INTERESTING = re.compile(
    rb"(<!--)"
    rb"|<((?i:" + SPECIAL + rb"))(?=" + DELIM + rb")" + TAG_REST +
    rb"|</((?i:" + END_SPECIAL + rb"))(?=" + DELIM + rb")" + TAG_REST
)
COMMENT_CLOSE = re.compile(rb"--!?>")
SCRIPT_TOKENS = re.compile(rb"<!--|-->|</?(?i:script)(?=" + DELIM + rb")")
# Before the body: a run of whole tokens that change nothing for the tree builder there (spaces,
# head tags that hold no text, end tags other than the ones Placement reads, doctypes and bogus
# comments). RUN is one token, so a head costs a few regex matches, not one per tag.
INERT_RUN = re.compile(
    rb"(?:[\t\n\f\r ]++"
    rb"|<(?i:html|head|base|basefont|bgsound|link|meta)(?=" + DELIM + rb")" + TAG_REST +
    rb"|</(?!(?i:head|body|html|br|template|noscript)" + DELIM + rb")[A-Za-z][^\t\n\f\r />]*+" + TAG_REST +
    rb"|<(?:!(?!--)|\?|/(?![A-Za-z>]))[^>]*+>"
    rb")*+"
)
SPACES = re.compile(rb"[\t\n\f\r ]++")
BOGUS = re.compile(rb"<[^>]*+>")
# TAG_AT with its end-tag slash and its name as groups: one match per tag, no second for the name
TAG_NAMED = re.compile(rb"<(/?)([A-Za-z][^\t\n\f\r />]*+)" + TAG_REST)
assert TAG_NAMED.pattern.replace(b"(/?)(", b"/?").replace(b"*+)", b"*+", 1) == TAG_AT.pattern
