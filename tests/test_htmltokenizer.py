"""The tokenizer driven directly: token kinds and positions, chunk boundaries, hostile input, and
that the tokens cover the input exactly, whatever the chunking (gateway/htmltokenizer.py).

The rewriter's suites (tests/test_rewrite.py, tests/test_inject.py) check what is written for the
tokens; here only what is found. Every test runs once per scanner implementation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.htmltokenizer import (
    COMMENT_END,
    COMMENT_START,
    COMMENT_TEXT,
    END,
    EOF_BOGUS,
    EOF_RAW_END,
    EOF_TAG,
    LT,
    MARKUP,
    RAW_CLOSE,
    RAW_TEXT,
    RESOURCE,
    RUN,
    START,
    TEXT,
    WHOLE_COMMENT,
    Tokenizer,
)
from gateway.htmltokens import MAX_CARRY, RESOURCE_NAMES
from gateway.neutralise import RESOURCE_ATTRS
from gateway.trackers import TrackerRules
from tests.test_scanner import FRAGMENT, HOSTILE

pytestmark = pytest.mark.usefixtures("scanner_impl")
RULES = TrackerRules((("hm.baidu.com", "analytics"),), frozenset({"analytics"}))
Seen = tuple[int, bytes, bytes]  # kind, the token's bytes, name


def tokenize(data: bytes, sizes: list[int] | None = None, *, tags: bool = False, exact: bool = False,
             rules: TrackerRules = RULES) -> list[Seen]:
    """Feed `data` in chunks of `sizes` (cycled; None: whole), then EOF, as the rewriter does: the
    tokens of each buffer, checked to cover it up to what is held back (`state.carry`)."""
    t = Tokenizer(rules, exact=exact)
    t.state.tags = tags
    chunks = [data] if not sizes else []
    pos, i = 0, 0
    while sizes and pos < len(data):
        chunks.append(data[pos:pos + sizes[i % len(sizes)]])
        pos, i = pos + sizes[i % len(sizes)], i + 1
    seen: list[Seen] = []
    for chunk, final in [(c, False) for c in chunks] + [(b"", True)]:
        buf = t.state.carry + chunk
        tokens = list(t.tokens(buf, final))
        assert [s for _, s, _, _ in tokens] == [0, *[e for _, _, e, _ in tokens]][:len(tokens)], "contiguous"
        assert (tokens[-1][2] if tokens else 0) + len(t.state.carry) == len(buf), "and the carry is the rest"
        assert not final or not t.state.carry
        seen += [(k, buf[s:e], name) for k, s, e, name in tokens]
    return seen


def merged(seen: list[Seen]) -> list[Seen]:
    """Chunking cuts text, runs, comments and raw text where it likes: join those pieces (a '<'
    held back at a chunk's end may come as text of its own after the body: join that too; a
    comment cut by chunks is a WHOLE_COMMENT again once joined)."""
    out: list[Seen] = []
    joins = {(TEXT, TEXT), (RUN, RUN), (COMMENT_START, COMMENT_TEXT), (COMMENT_START, COMMENT_END),
             (COMMENT_TEXT, COMMENT_TEXT), (COMMENT_TEXT, COMMENT_END), (RAW_TEXT, RAW_TEXT), (RAW_TEXT, RAW_CLOSE)}
    for kind, raw, name in seen:
        kind = TEXT if kind == LT else kind
        if out and (out[-1][0], kind) in joins:
            out[-1] = (WHOLE_COMMENT if kind == COMMENT_END else kind, out[-1][1] + raw, name)
        else:
            out.append((kind, raw, name))
    return out


def test_comments_in_every_form() -> None:
    doc = b"<p>a<!-- x </body> --><!--><!---><!-- y --!>b"
    assert tokenize(doc) == [
        (TEXT, b"<p>a", b""), (WHOLE_COMMENT, b"<!-- x </body> -->", b""), (WHOLE_COMMENT, b"<!-->", b""),
        (WHOLE_COMMENT, b"<!--->", b""), (WHOLE_COMMENT, b"<!-- y --!>", b""), (TEXT, b"b", b""),
    ]
    # across buffers: its start, text and end
    cut = tokenize(doc[:22], [8])
    assert [k for k, _, _ in cut] == [TEXT, COMMENT_START, COMMENT_TEXT, COMMENT_END]
    assert merged(cut) == tokenize(doc[:22])
    # unterminated: the comment runs to EOF
    for sizes in (None, [1], [3]):
        assert merged(tokenize(b"<!-- x -", sizes)) == [(COMMENT_TEXT, b"<!-- x -", b"")]


def test_raw_text_and_the_end_tag_after_it() -> None:
    doc = b"<style>p{} </body></style ><textarea><b></textarea><title>t</title>"
    assert tokenize(doc) == [
        (START, b"<style>", b"style"), (RAW_CLOSE, b"p{} </body>", b"style"),
        (TEXT, b"</style ><textarea>"[:9], b""),  # the end tag is an ordinary tag, passed as text
        (START, b"<textarea>", b"textarea"), (RAW_CLOSE, b"<b>", b"textarea"), (TEXT, b"</textarea>", b""),
        (START, b"<title>", b"title"), (RAW_CLOSE, b"t", b"title"), (TEXT, b"</title>", b""),
    ]
    # before the body the end tags are tokens of their own (in a RUN: they change nothing there)
    assert tokenize(b"<title>t</title>", tags=True) == [
        (START, b"<title>", b"title"), (RAW_CLOSE, b"t", b"title"), (RUN, b"</title>", b"")]


@pytest.mark.parametrize(("script", "text"), [
    (b"<script>a</script>", b"a"),
    (b"<script><!--<script>x</script>y</script>", b"<!--<script>x</script>y"),  # double escaped
    (b"<script><!--x--></script>", b"<!--x-->"),
    (b"<script><!--></script>", b"<!-->"),  # "<!-->" closes at once: no escape
    (b"<script><!---></script>", b"<!--->"),
    (b"<script><!--<script>--></script>", b"<!--<script>-->"),  # "-->" leaves both escapes
    (b"<SCRIPT>'</scripty>'</Script\t>", b"'</scripty>'"),
])
def test_script_data_escape_states(script: bytes, text: bytes) -> None:
    close = script[len(b"<script>") + len(text):]
    for sizes in (None, [1], [2, 3], [7]):
        assert merged(tokenize(script + b"<b>", sizes)) == [
            (START, script[:8], b"script"), (RAW_CLOSE, text, b"script"), (TEXT, close + b"<b>", b"")], sizes


def test_a_script_left_double_escaped_runs_to_eof() -> None:
    t = Tokenizer(RULES)
    t.state.tags = False
    list(t.tokens(b"<script><!--<script>x", True))
    assert (t.state.mode, t.state.raw_name, t.state.script) == (2, b"script", 2)


def test_tags_split_across_chunks_at_every_offset() -> None:
    doc = (b"\xef\xbb\xbf<!DOCTYPE html><html><head><meta charset=utf-8><title>a</title>"
           b"<link rel=preload href='https://hm.baidu.com/x.js'><script src=/a.js></script>"
           b"<script>if (a<b) x='</p>'</script><!--c--><template><p a='>'></template></head>"
           b"<body class=\"x > y\"><img src=//hm.baidu.com/p.gif alt=x><iframe src=/f></iframe>"
           b"<meta content='x'><plaintext></body>")
    for tags in (True, False):
        whole = merged(tokenize(doc, tags=tags))
        assert b"".join(raw for _, raw, _ in whole) == doc
        for cut in range(1, len(doc)):
            assert merged(tokenize(doc, [cut, len(doc)], tags=tags)) == whole, (tags, cut)
        assert merged(tokenize(doc, [1], tags=tags)) == whole
    kinds = [(k, name) for k, _, name in merged(tokenize(doc, tags=True)) if k in (START, END, RESOURCE)]
    assert kinds[:2] == [(START, b"title"), (START, b"script")]  # the <link> is in a RUN: see run_tokens
    assert (END, b"head") in kinds and (RESOURCE, b"img") in kinds and kinds[-1] == (START, b"plaintext")
    after = [(k, raw) for k, raw, _ in merged(tokenize(doc))]
    assert (RESOURCE, b"<img src=//hm.baidu.com/p.gif alt=x>") in after
    assert after[-1] == (RAW_TEXT, b"</body>")  # <plaintext>: everything after it is text


def test_before_the_body_runs_and_markup() -> None:
    doc = b"\xef\xbb\xbf<!doctype html>\n<html><head><meta charset=utf-8></>x<?pi?>"
    assert tokenize(doc, tags=True) == [
        (MARKUP, b"\xef\xbb\xbf", b""), (RUN, b"<!doctype html>\n<html><head><meta charset=utf-8>", b""),
        (MARKUP, b"</>", b""), (TEXT, b"x", b""), (RUN, b"<?pi?>", b"")]
    t = Tokenizer(RULES)
    run = b"<html> <meta charset=x><!x></p><link href=//hm.baidu.com/a><link href=/b>"
    list(t.tokens(b"." + run, True))  # the buffer the positions are in
    assert [(k, (b"." + run)[s:e], n) for k, s, e, n in t.run_tokens(b"." + run, 1, len(run) + 1)] == [
        (START, b"<html>", b"html"), (TEXT, b" ", b""), (START, b"<meta charset=x>", b"meta"), (MARKUP, b"<!x>", b""),
        (END, b"</p>", b"p"), (RESOURCE, b"<link href=//hm.baidu.com/a>", b"link"), (START, b"<link href=/b>", b"link")]


@pytest.mark.parametrize(("doc", "last"), [
    (b"<head><link rel=x", (EOF_TAG, b"<link rel=x")),
    (b"<title>a</title x='", (EOF_RAW_END, b"</title x='")),
    (b"<!DOCTYPE html", (EOF_BOGUS, b"<!DOCTYPE html")),
    (b"<a b='>", (EOF_TAG, b"<a b='>")),  # an unclosed quote: the tag never ends
])
def test_eof_inside_a_token_before_the_body(doc: bytes, last: Seen) -> None:
    assert tokenize(doc, tags=True)[-1][:2] == last
    assert tokenize(doc, [1], tags=True)[-1][:2] == last


def test_after_the_body_an_unfinished_tag_at_eof_is_text() -> None:
    # held back while more may come; at EOF the HTML tokenizer drops it, the rewriter passes it on
    assert tokenize(b"x<script a='", [100]) == [(TEXT, b"x", b""), (LT, b"<", b""), (TEXT, b"script a='", b"")]


@pytest.mark.parametrize("tags", [False, True])
def test_hostile_input(tags: bool) -> None:
    for doc in (b"\x00<\x00script>\x00<scr\x00ipt>" * 100, b"<a title='" + b"<script>" * 1000,
                b"<!--" + b"-" * 1000, b'<p x="' + b"=a" * 5000, b"<" * 20_000):
        for sizes in (None, [4096], [7, 1000]):
            assert b"".join(raw for _, raw, _ in tokenize(doc, sizes, tags=tags)) == doc


def test_a_megabyte_of_lt() -> None:
    doc = b"<" * 1_000_000
    assert merged(tokenize(doc)) == [(TEXT, doc, b"")]
    seen = tokenize(doc, [65536])
    assert b"".join(raw for _, raw, _ in seen) == doc and len(seen) < 100


def test_a_tag_longer_than_the_carry_is_text() -> None:
    doc = b"<div title='" + b"x" * (MAX_CARRY + 10)
    seen = tokenize(doc, [4096])
    assert seen[0] == (LT, b"<", b"") and b"".join(raw for _, raw, _ in seen) == doc


def test_the_resource_names_are_the_neutralisers() -> None:
    assert set(RESOURCE_ATTRS) == RESOURCE_NAMES


@settings(max_examples=300, deadline=None)
@given(st.lists(FRAGMENT | st.sampled_from(HOSTILE), max_size=30), st.lists(st.integers(1, 64), min_size=1, max_size=8),
       st.booleans(), st.booleans())
def test_the_tokens_cover_the_input_exactly(parts: list[bytes], sizes: list[int], tags: bool, exact: bool) -> None:
    """No byte lost or duplicated, for any chunking, in either granularity, fast path or exact."""
    doc = b"".join(parts)
    seen = tokenize(doc, sizes, tags=tags, exact=exact)
    assert b"".join(raw for _, raw, _ in seen) == doc
    assert b"".join(raw for _, raw, _ in tokenize(doc, tags=tags, exact=exact)) == doc
