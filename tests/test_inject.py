"""Where the injections land, judged by a spec parser (html5lib) as the oracle; see tests/support/tagsoup.py."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gateway.inject import Act, Placement, comment_closer
from gateway.rewrite import HtmlRewriter, RewritePlan
from tests.support.tagsoup import PIECES, TAILS, OracleError, check, has_body, injections, rewrite

# A script left "double escaped" at EOF before any body cannot be ended without adding script
# text: such a page gets the guard but no banner (see README known limits); tested by hand below.
PROPERTY_TAILS = tuple(t for t in TAILS if t != b"<script><!--<script>x")
DOCS = st.builds(lambda parts, tail: b"".join(parts) + tail,
                 st.lists(st.sampled_from(PIECES), max_size=25), st.sampled_from(PROPERTY_TAILS))


@settings(max_examples=400, deadline=None)
@given(DOCS)
def test_tree_kept_and_banner_whole(doc: bytes) -> None:
    """Origin tree == gateway tree minus what we injected, and the banner is whole in <body>."""
    try:
        assume(has_body(doc))  # a frameset document has no body: see test_frameset_gets_the_guard_only
        kept, whole = check(doc, rewrite(doc))
    except OracleError:
        assume(False)  # html5lib's own template bugs: no verdict on this one
    assert kept, doc
    assert whole, doc


@settings(max_examples=300, deadline=None)
@given(DOCS, st.lists(st.integers(1, 30), min_size=1, max_size=12))
def test_chunks_never_change_the_placement(doc: bytes, sizes: list[int]) -> None:
    assert rewrite(doc, sizes * (len(doc) // max(1, sum(sizes)) + 1)) == rewrite(doc)


def test_frameset_gets_the_guard_only() -> None:
    head, body = injections()
    doc = b"<!DOCTYPE html><html><head><title>f</title></head><frameset cols=50%,50%><frame src=/a></frameset></html>"
    out = rewrite(doc)
    kept, whole = check(doc, out)
    assert kept and not whole
    assert out.count(head) == 1 and body not in out
    assert out.index(head) < out.index(b"<frameset")


# Real pages, as sites write them; each is cut at every byte and must come out the same.
PAGES = [
    b"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Shop</title>\n"
    b"<link rel=\"stylesheet\" href=\"/s.css\">\n<script async src=\"https://www.googletagmanager.com/gtag/js?id=G\">"
    b"</script>\n<script>window.dataLayer=[];function gtag(){dataLayer.push(arguments)}</script>\n"
    b"<noscript><img height=1 width=1 src=\"https://hm.baidu.com/tr?id=1\"></noscript>\n</head>\n"
    b"<body class=\"home\">\n<header><nav><ul><li><a href=/>Home</a><li><a href=/p>Products</a></ul></nav></header>\n"
    b"<main><h1>Hello &amp; welcome</h1><form action=/s><input name=q><select name=c><option>a<option>b</select>"
    b"<button>Go</button></form>\n<table><tr><td>1<td>2</table><p>Price <b>10 <i>EUR</b> only</i>\n"
    b"<svg viewBox=\"0 0 1 1\"><title>logo</title><circle r=1/></svg></main>\n"
    b"<footer><!-- </body> --><p>&copy; 2026</footer>\n</body>\n</html>\n",
    b"<p>A page without html, head or body tags, <b>unclosed <select><option>to the end",
    b"<!doctype html><title>t</title><template id=row><tr><td>x</template><script>var a='</body>';</script>"
    b"<table><tbody><tr><td>cell",
    b"\xef\xbb\xbf<!DOCTYPE html><html><head><style>body{}</style></head><body><plaintext><b>all text</body>",
]


@pytest.mark.parametrize("page", PAGES, ids=["shop", "no-tags", "template-table", "plaintext"])
def test_real_pages_at_every_cut(page: bytes) -> None:
    whole = rewrite(page)
    assert check(page, whole) == (True, True)
    for cut in range(1, len(page)):
        assert rewrite(page, [cut]) == whole, cut
    assert rewrite(page, [1] * len(page)) == whole


def plain() -> RewritePlan:
    return RewritePlan((), b"<!--H-->", lambda _cs: b"<!--B-->")


def run(doc: bytes) -> bytes:
    r = HtmlRewriter(plain())
    return r.feed(doc) + r.finish()


@pytest.mark.parametrize(("doc", "expected"), [
    # the body starts: explicit, by text, by a tag that does not belong in <head>, by an end tag
    (b"<html><head></head><body class=x>a", b"<html><head><!--H--></head><body class=x><!--B-->a"),
    (b"<title>t</title>  hello", b"<title>t</title>  <!--H--><!--B-->hello"),
    (b"<meta charset=utf-8><div>", b"<meta charset=utf-8><!--H--><!--B--><div>"),
    # a byte order mark is the decoder's: before it the doctype would come after content (quirks mode)
    (b"\xef\xbb\xbf<!DOCTYPE html><p>", b"\xef\xbb\xbf<!DOCTYPE html><!--H--><!--B--><p>"),
    (b"\xef\xbb", b"<!--H--><!--B-->\xef\xbb"),
    (b"<head></head></br>", b"<head><!--H--></head><!--B--></br>"),
    (b"<head></head><noscript>x</noscript>", b"<head><!--H--></head><!--B--><noscript>x</noscript>"),
    # a <template> and a <noscript> in <head>: the guard goes before them, nothing in them starts the body
    (b"<head><template><p>x</template></head><body>y",
     b"<head><!--H--><template><p>x</template></head><body><!--B-->y"),
    (b"<head><noscript><img src=/p.gif></noscript></head>b",
     b"<head><!--H--><noscript><img src=/p.gif></noscript></head><!--B-->b"),
    # EOF before the body: close what EOF would close, the same way, then inject
    (b"<head><template><p>x", b"<head><!--H--><template><p>x</template><!--B-->"),
    (b"<title>x", b"<title>x</title><!--H--><!--B-->"),
    (b"<title>a</title ", b"<title>a</title ><!--H--><!--B-->"),
    (b"<title>a</title x='", b"<title>a</title x=''><!--H--><!--B-->"),
    (b"<!-- x -", b"<!-- x --><!--H--><!--B-->"),
    (b"<!-- x --!", b"<!-- x --!><!--H--><!--B-->"),
    (b"<!DOCTYPE html", b"<!DOCTYPE html><!--H--><!--B-->"),
    (b"<?php", b"<?php><!--H--><!--B-->"),
    # EOF inside a tag: the tokenizer drops it; the injections go before, never into it
    (b'<meta charset = "', b'<!--H--><!--B--><meta charset = "'),
    (b"<head><link rel=x", b"<head><!--H--><!--B--><link rel=x"),
    (b"foo</xmp", b"<!--H--><!--B-->foo</xmp"),
    (b"<head><template><p a=", b"<head><!--H--><template></template><!--B--><p a="),
    (b"<noscript><p a=", b"<!--H--><noscript><p a=</noscript><!--B-->"),
    (b"<noscript><!x", b"<!--H--><noscript><!x</noscript><!--B-->"),
    (b"</", b"<!--H--><!--B--></"),
    # a script left double escaped cannot be ended without adding to its text: guard only
    (b"<script><!--<script>x", b"<!--H--><script><!--<script>x"),
    # a frameset page has no body
    (b"<head></head><frameset><frame></frameset>", b"<head><!--H--></head><frameset><frame></frameset>"),
])
def test_placement(doc: bytes, expected: bytes) -> None:
    assert run(doc) == expected


def test_placement_states() -> None:
    p = Placement()
    assert p.start_tag(b"meta") is Act.NOTHING and p.start_tag(b"script") is Act.HEAD_BEFORE
    assert p.start_tag(b"template") is Act.HEAD_BEFORE and p.start_tag(b"body") is Act.NOTHING
    assert p.text() is Act.NOTHING and p.end_tag(b"template") is Act.NOTHING and p.pending
    assert p.end_tag(b"p") is Act.NOTHING and p.end_tag(b"body") is Act.BODY_BEFORE and not p.pending


@pytest.mark.parametrize("content", [b"", b"-", b"--", b"---", b"x", b"x-", b"x--", b"x--!", b"x--!-",
                                     b"<", b"<!", b"<!-", b"<!--", b"<!--!", b"a-!", b"--!x"])
def test_comment_closer_keeps_the_text(content: bytes) -> None:
    """What EOF makes of `<!--content` is what the closer makes of it (html5lib as the oracle)."""
    import html5lib

    def comment(doc: bytes) -> str:
        parsed = html5lib.parse(doc.decode(), treebuilder="dom")
        return str(parsed.childNodes[0].data)

    assert comment(b"<!--" + content + comment_closer(content[-3:])) == comment(b"<!--" + content)


def test_a_run_of_head_tags_is_still_looked_at() -> None:
    """Head tags pass in runs; a run holding a blocked URL, a charset or a nonce is taken tag by tag."""
    head = (b"<!doctype html><html><head>\n" + b'<meta name="x" content="y">\n' * 5
            + b'<link rel=preload as=script href="https://hm.baidu.com/hm.js">\n'
            + b'<meta http-equiv=content-type content="text/html; charset=gbk"></head><body>\xd6\xd0')
    p = RewritePlan((("hm.baidu.com", "personalization"),), b"<!--H-->", lambda cs: "横幅".encode(cs))
    r = HtmlRewriter(p)
    out = r.feed(head) + r.finish()
    assert b'<link rel=preload as=script data-href="https://hm.baidu.com/hm.js" data-consent' in out
    assert out.endswith("<body>横幅".encode("gbk") + b"\xd6\xd0")
    for cut in range(1, len(head)):
        r = HtmlRewriter(p)
        assert r.feed(head[:cut]) + r.feed(head[cut:]) + r.finish() == out, cut
