"""Tag soup, and a spec parser (html5lib) as the oracle for what the rewriter adds to a page.

The property, for any document: parse what the site sent and what the gateway sent; take the
gateway's tree minus the nodes it injected; that must equal the site's tree. And the banner must be
whole: the markup we inject for the body, parsed on its own, must appear as direct children of the
page's <body>. Used by tests/test_inject.py (hypothesis) and bench/fidelity.py (a seeded corpus).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import html5lib

from gateway.banner import Banner
from gateway.config import parse_config
from gateway.consent import ConsentCodec
from gateway.rewrite import HtmlRewriter, RewritePlan
from tests.conftest import config_text

HTML_NS = None  # html5lib leaves HTML elements without a namespace when asked to
Token = tuple[Any, ...]  # (depth, kind, namespace, name, attributes or text)

# Pieces of a page. Unclosed formatting and form elements, tables, templates, select, foreign
# content, raw-text elements, comments and bogus comments, frames: what the tree builder reorders.
# html5lib 1.1 does not implement <template> parsing (it treats one in <head> as starting the body,
# and its content as ordinary children), so templates come after text here, where the body has
# started either way; tests/test_inject.py checks templates in <head> against the spec by hand.
PIECES: tuple[bytes, ...] = (
    b"<!DOCTYPE html>", b'<!doctype html PUBLIC "-//W3C//DTD HTML 4.01//EN">', b"<html>", b"<html lang=en>",
    b"<head>", b"</head>", b"<body>", b"<body class=x>", b"</body>", b"</html>", b"\n", b"  ", b"\t\n",
    b'<meta charset="utf-8">', b"<title>T &amp; </body> x</title>", b"<link rel=stylesheet href=/s.css>",
    b"<style>p{} </style>", b"<script>var a='</body>' < 1;</script>", b"<script src=/a.js></script>",
    b"<base href=/>", b"<noscript><img src=/p.gif></noscript>", b"x<template><p>t</template>", b"x<template>",
    b"</template>", b"hello", b"a < b", b"&amp;", b"&nbsp", b"<p>", b"</p>", b"<div>", b"</div>", b"<b>",
    b"</b>", b"<i>", b"<a href=/x>", b"</a>", b"<span title='a>b'>", b"<ul><li>", b"<li>", b"<form>", b"</form>",
    b"<input name=q>", b"<input type=hidden>", b"<button>", b"</button>", b"<select>", b"<option>",
    b"</select>", b"<optgroup>", b"<textarea>", b"</textarea>", b"<table>", b"<tr>", b"<td>", b"</td>",
    b"<caption>", b"</table>", b"<tbody>", b"<col>", b"<svg>", b"</svg>", b"<math>", b"<mi>", b"</math>",
    b"<foreignObject>", b"<desc>", b"<circle/>", b"<annotation-xml encoding=text/html>", b"<xmp>", b"</xmp>",
    b"<iframe>", b"</iframe>", b"<noembed>", b"</noembed>", b"<noframes>", b"</noframes>", b"<plaintext>",
    b"<frameset>", b"<frame>", b"</frameset>", b"<nobr>", b"<h1>", b"<pre>", b"<listing>", b"<image>",
    b"<marquee>", b"<object>", b"<applet>", b"<dd>", b"<dt>", b"<hr>", b"<br>", b"</br>", b"<![CDATA[x]]>",
    b"<!-- c -->", b"<!---->", b"<!-->", b"<?php x ?>", b"<!x>", b"</1>", b"</>", b"<! doctype>", b"<em>",
    b"<font color=red>", b"<s>", b"<img src=/i.png>", b"<label>", b"<details><summary>s", b"<dialog>",
    b"<script src=https://hm.baidu.com/hm.js></script>", b"<img src=https://hm.baidu.com/p.gif>",
)
# How a document may end: inside every kind of token.
TAILS: tuple[bytes, ...] = (
    b"", b'<meta charset = "', b"<div class='x", b"<p a=", b"<p", b"<", b"</", b"</xmp", b"</div ", b"<!--",
    b"<!-- x", b"<!-- x -", b"<!-- x --", b"<!-- x --!", b"<!-- <!-", b"<!-- <!--", b"<!-", b"<!", b"<!x",
    b"<?x", b"</1x", b"<!DOCTYPE html", b"<![CDATA[x", b"<script>x", b"<script><!--<script>x", b"<style>x",
    b"<title>x", b"<title>a</title ", b"<textarea>x", b"foo</xmp", b"<xmp>foo</xmp", b"&amp", b"&#x",
    b"<noscript>x", b"x<template>", b"x<template><style>x", b"<svg><title>x", b"<script>a</script",
)


def soup(rng: random.Random, max_pieces: int = 25) -> bytes:
    parts = [rng.choice(PIECES) for _ in range(rng.randint(0, max_pieces))]
    if rng.random() < 0.4:
        parts.append(rng.choice(TAILS))
    return b"".join(parts)


@lru_cache(maxsize=1)
def injections() -> tuple[bytes, bytes]:
    """The gateway's real head config and banner (undecided visitor, English)."""
    config = parse_config(config_text("http://127.0.0.1:1", Path("/tmp/tagsoup-unused.db")))
    banner = Banner(config)
    state = ConsentCodec(config).undecided(False)  # what the gateway gives a first visit
    return banner.head_html(state), banner.body_html("en", state, "/", show=True).encode("utf-8")


def plan(blocked: tuple[tuple[str, str], ...] = ()) -> RewritePlan:
    head, body = injections()
    return RewritePlan(blocked, head, lambda _cs: body)


def rewrite(doc: bytes, sizes: Iterable[int] | None = None, p: RewritePlan | None = None) -> bytes:
    r = HtmlRewriter(p or plan())
    if sizes is None:
        return r.feed(doc) + r.finish()
    out, pos = [], 0
    for n in sizes:
        out.append(r.feed(doc[pos:pos + n]))
        pos += n
    return b"".join(out) + r.feed(doc[pos:]) + r.finish()


class OracleError(Exception):
    """html5lib 1.1 itself failed (an internal assertion, in its incomplete <template> support)."""


def _parse(doc: bytes, fragment: bool = False) -> list[Token]:
    parser = html5lib.HTMLParser(tree=html5lib.getTreeBuilder("etree"), namespaceHTMLElements=False)
    if doc.startswith(b"\xef\xbb\xbf"):
        doc = doc[3:]  # the decoder takes a byte order mark, not the tokenizer (encoding sniffing)
    text = doc.decode("utf-8", "replace")
    try:
        tree = parser.parseFragment(text, container="body") if fragment else parser.parse(text, scripting=True)
    except AssertionError as e:
        raise OracleError(repr(doc[:200])) from e
    tokens: list[Token] = []
    depth = 0
    for t in html5lib.getTreeWalker("etree")(tree):
        kind = t["type"]
        if kind in ("Characters", "SpaceCharacters"):
            if tokens and tokens[-1][1] == "text" and tokens[-1][0] == depth:
                tokens[-1] = (depth, "text", None, None, tokens[-1][4] + t["data"])
            else:
                tokens.append((depth, "text", None, None, t["data"]))
        elif kind == "StartTag" or kind == "EmptyTag":
            attrs = tuple(sorted((k[1], v) for k, v in t["data"].items()))
            tokens.append((depth, "start", t.get("namespace"), t["name"], attrs))
            if kind == "StartTag":
                depth += 1
        elif kind == "EndTag":
            depth -= 1
            tokens.append((depth, "end", t.get("namespace"), t["name"], None))
        elif kind == "Comment":
            tokens.append((depth, "comment", None, None, t["data"]))
        elif kind == "Doctype":
            tokens.append((depth, "doctype", None, t["name"], (t.get("publicId"), t.get("systemId"))))
    return tokens


def _injected(token: Token) -> bool:
    if token[1] != "start":
        return False
    attrs = dict(token[4])
    name = token[3]
    return ((name == "script" and (attrs.get("id") == "consent-gateway-config"
                                   or "/_consent/static/" in attrs.get("src", "")))
            or (name == "link" and "/_consent/static/" in attrs.get("href", ""))
            or (name == "div" and attrs.get("id") == "consent-banner")
            or (name == "a" and "cg-reopen" in attrs.get("class", "")))


def _without_injected(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if _injected(t):
            i += 1
            # skip to the matching end at the same depth (void elements have none)
            while i < len(tokens) and tokens[i][0] > t[0]:
                i += 1
            if i < len(tokens) and tokens[i][1] == "end" and tokens[i][0] == t[0] and tokens[i][3] == t[3]:
                i += 1
            continue
        if t[1] == "text" and out and out[-1][1] == "text" and out[-1][0] == t[0]:
            out[-1] = (t[0], "text", None, None, out[-1][4] + t[4])
        else:
            out.append(t)
        i += 1
    return out


def _banner_whole(tokens: list[Token], body_html: bytes) -> bool:
    """The banner, parsed alone, appears as whole direct children of the HTML <body>."""
    expected = _parse(body_html, fragment=True)
    for i, t in enumerate(tokens):
        if t[1] == "start" and t[3] == "body" and t[2] == HTML_NS and t[0] == 1:
            base = t[0] + 1
            shifted = [(d + base, *rest) for d, *rest in expected]
            for j in range(i + 1, len(tokens) - len(shifted) + 1):
                if tokens[j][0] < base:
                    break
                if tokens[j:j + len(shifted)] == shifted:
                    return True
            return False
    return False


def _head_whole(tokens: list[Token], head_html: bytes) -> bool:
    """The config and guard scripts are live HTML elements: not text, not in a template or svg."""
    expected = [t[1:] for t in _parse(head_html, fragment=True) if t[1] == "start"]
    live = []
    stack: list[Token] = []
    for t in tokens:
        if t[1] == "end":
            del stack[t[0]:]
            continue
        if t[1] == "start":
            del stack[t[0]:]
            inert = any(a[3] == "template" or a[2] != HTML_NS for a in stack)
            if _injected(t) and t[2] == HTML_NS and not inert:
                live.append(t[1:])
            stack.append(t)
    return all(e in live for e in expected)


def check(origin: bytes, out: bytes, head_html: bytes | None = None, body_html: bytes | None = None
          ) -> tuple[bool, bool]:
    """(the site's tree is kept, the banner and head config are whole) for one page."""
    if head_html is None or body_html is None:
        head_html, body_html = injections()
    theirs = _parse(origin)
    ours = _parse(out)
    kept = _without_injected(ours) == _without_injected(theirs)
    whole = _banner_whole(ours, body_html) and _head_whole(ours, head_html)
    return kept, whole


def has_body(doc: bytes) -> bool:
    """False for a frameset document: html5lib gives it no <body> to put a banner in."""
    return not any(t[1] == "start" and t[3] == "frameset" and t[0] == 1 for t in _parse(doc))


def describe(doc: bytes) -> str:
    """A short printable form of a document for failure reports."""
    return doc.decode("latin-1")[:300]
