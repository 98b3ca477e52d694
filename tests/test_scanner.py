"""The compiled scanner and its pure-Python twin give the same output, byte for byte.

Hypothesis feeds both the same pages, cut into arbitrary chunks, hostile ones included, through the
whole rewriter; and the bare `walk` the same bytes and states, so a difference shows where it is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import _scan_py, scanner
from gateway.rewrite import HtmlRewriter, RewritePlan
from tests.support.tagsoup import PIECES, TAILS

ROOT = Path(__file__).resolve().parent.parent
BLOCKED = (("www.googletagmanager.com", "personalization"), ("hm.baidu.com", "analytics"), ("px.ads", "ads"))
HOSTILE = (
    b"<!--", b"<!-- x", b"--!>", b"-->", b"<!-->", b'"', b"'", b"=", b'<a title="', b"<a title='x", b"<a b=c<d",
    b'<p x="<script>">', b"<div data-x='<script src=//hm.baidu.com/a.js>'>", b"<img alt=<script src=x>",
    b"\x00", b"<\x00script>", b"<scr\x00ipt>", b"<" * 64, b"<<<<script>", b"</body", b"</BODY >", b"<BoDy>",
    b"<script>", b"</script>", b"<script><!--<script>", b"<meta charset=gbk>", b"<plaintext>", b"<?", b"</ ",
    b"<img src=https://hm.baidu.com/p.gif>", b"<link href='//px.ads/x'>", b"hm.baidu.com", b"<a href=hm.baidu.com>",
    b"<iframe src=https://www.googletagmanager.com/ns.html>", b"\t\n\f\r ", b"/>", b"<a =x>", b"<a ==>",
)
# the bytes the tokenizer cares about, densely: quotes, '=', '<', names, dashes, whitespace, NUL
SOUP = st.lists(st.sampled_from([b"<", b">", b"=", b'"', b"'", b" ", b"a", b"/", b"!", b"-", b"\x00", b"<script>",
                                 b"<body>", b"<p ", b"hm.baidu.com"]), max_size=40).map(b"".join)
FRAGMENT = st.sampled_from(PIECES + TAILS + HOSTILE) | st.binary(max_size=12) | SOUP
SIZES = st.lists(st.integers(1, 64), min_size=1, max_size=8)


@pytest.fixture(scope="module")
def both() -> Iterator[dict[str, scanner.Walk]]:
    found = scanner.available()
    assert "compiled" in found, "the C extension is not built: pip install -e . compiles it"
    yield found


def rewrite_with(walk: scanner.Walk, html: bytes, sizes: list[int], blocked: tuple[tuple[str, str], ...]) -> bytes:
    chosen = scanner.walk
    scanner.walk = walk
    try:
        r = HtmlRewriter(RewritePlan(blocked, b"<!--H-->", lambda cs: b"<!--B-->", None))
        out, pos, i = [], 0, 0
        while pos < len(html):
            n = sizes[i % len(sizes)]
            out.append(r.feed(html[pos:pos + n]))
            pos, i = pos + n, i + 1
        return b"".join(out) + r.finish()
    finally:
        scanner.walk = chosen


@settings(max_examples=400, deadline=None)
@given(st.lists(FRAGMENT, max_size=40), SIZES, st.booleans())
def test_the_rewriter_gives_the_same_bytes_with_either_scanner(
        both: dict[str, scanner.Walk], parts: list[bytes], sizes: list[int], rules: bool) -> None:
    html = b"".join(parts)
    blocked = BLOCKED if rules else ()
    expected = rewrite_with(both["python"], html, sizes, blocked)
    assert rewrite_with(both["compiled"], html, sizes, blocked) == expected
    assert rewrite_with(both["compiled"], html, [len(html) or 1], blocked) == rewrite_with(
        both["python"], html, [len(html) or 1], blocked)


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=200) | SOUP | st.lists(FRAGMENT, max_size=20).map(b"".join), st.data())
def test_walk_steps_agree_from_any_state(both: dict[str, scanner.Walk], buf: bytes, data: st.DataObject) -> None:
    """The bare walk, from arbitrary (valid) states, including ones the rewriter never makes."""
    n = len(buf)
    pos = data.draw(st.integers(0, n))
    if data.draw(st.booleans()):  # as the rewriter starts a walk
        known, checked, cand = pos, pos, -2
        hit = data.draw(st.sampled_from([-1, n]) | st.integers(pos, n))
    else:
        known = data.draw(st.integers(0, n))
        checked = data.draw(st.integers(0, n + 1))
        cand = data.draw(st.sampled_from([-2, -1]) | st.integers(0, max(n - 1, 0)).filter(lambda c: c < n))
        hit = data.draw(st.integers(-1, n))
    final = data.draw(st.booleans())
    low = buf.lower()
    args = (buf, low, pos, checked, known, cand, hit, final)
    assert both["compiled"](*args) == both["python"](*args)


# The compiled walk reads 64-byte blocks into bit masks (the last < 64 bytes one at a time),
# pops the '=' of a block before its '<', and drops a hidden '<' found from an '=' after the
# block's candidate: every piece here goes across those edges, with text or tags around it.
EDGE_PIECES = (
    b"<script>", b"</body>", b"</HEAD\t", b"<!--", b"<!-", b"<!", b"<", b"<s", b"<title ", b"<noframes/",
    b"<meta>", b"<plaintext>", b"<iframe", b'<a title="x<y">', b"<a b=c<d>", b"<p x='<'>", b'x="', b"<a href='x",
    b"= <", b'="', b"=\t'<", b'<p a="=">x<b>', b"<script> <a title='<'>", b'<a x="<script>">',
    # a name in a long tag: the walk resumes at its end, a block or more after what it checked
    b"<a b<script" + b" c" * 40 + b"><script>", b"<a b<script c=d<e" + b" f" * 70 + b"><script>",
)


@pytest.mark.parametrize("piece", EDGE_PIECES)
def test_walks_agree_across_block_edges(both: dict[str, scanner.Walk], piece: bytes) -> None:
    for fill in (b"a", b'<a href="/x" class=y>', b"= ", b"\"<"):
        for offset in range(0, 136):
            pad = (fill * (offset // len(fill) + 1))[:offset]
            for tail in (b"", b" <b>text</b>" * 6):
                buf = pad + piece + tail
                n = len(buf)
                for pos in {0, offset, offset + len(piece)}:
                    for hit in {-1, n, offset + len(piece) // 2}:
                        if hit != -1 and hit < pos:
                            continue
                        for final in (False, True):
                            args = (buf, buf.lower(), pos, pos, pos, -2, hit, final)
                            assert both["compiled"](*args) == both["python"](*args), args


@settings(max_examples=600, deadline=None)
@given(st.integers(0, 130), st.lists(FRAGMENT, max_size=30).map(b"".join), st.data())
def test_walk_steps_agree_on_shifted_pages(both: dict[str, scanner.Walk], shift: int, body: bytes,
                                           data: st.DataObject) -> None:
    """The same soup at every alignment to the compiled walk's 64-byte blocks, as the rewriter walks it."""
    buf = b'<p class="x">' * (shift // 13) + b"t" * (shift % 13) + body
    n = len(buf)
    pos = data.draw(st.integers(0, n))
    hit = data.draw(st.sampled_from([-1, n]) | st.integers(pos, n))
    args = (buf, buf.lower(), pos, pos, pos, -2, hit, data.draw(st.booleans()))
    assert both["compiled"](*args) == both["python"](*args)


@pytest.mark.parametrize("page", [
    b"<" * 200_000 + b"<body>x",
    b"<!--" + b"<script>" * 10_000,
    b"<a title='" + b"<script>" * 10_000,
    b'<p x="' + b"=a" * 50_000 + b"<body>",
    b"=a" * 100_000 + b"<script>x</script>",
    b"\x00<\x00" * 50_000,
    b"<a b=" + b"hm.baidu.com " * 10_000 + b"><body>",
])
def test_long_hostile_pages_agree(both: dict[str, scanner.Walk], page: bytes) -> None:
    for sizes in ([len(page)], [4096], [7, 1000]):
        for blocked in ((), BLOCKED):
            assert rewrite_with(both["compiled"], page, sizes, blocked) == rewrite_with(
                both["python"], page, sizes, blocked)


def test_the_compiled_walk_refuses_bad_state(both: dict[str, scanner.Walk]) -> None:
    walk = both["compiled"]
    for args in ((b"ab", b"ab", 3, 0, 0, -2, -1, False), (b"ab", b"a", 0, 0, 0, -2, -1, False),
                 (b"ab", b"ab", 0, 0, 0, 2, -1, False), (b"ab", b"ab", 0, 0, 0, -2, 3, False)):
        with pytest.raises(ValueError):
            walk(*args)
    with pytest.raises(TypeError):
        walk("ab", "ab", 0, 0, 0, -2, -1, False)  # type: ignore[arg-type]


def test_the_pure_twin_passes_the_rewriter_suites() -> None:
    """CI switch: the pure-Python fallback runs the rewriter and injection suites on its own."""
    env = {**os.environ, "CONSENT_GATEWAY_PURE_PYTHON": "1"}
    probe = subprocess.run([sys.executable, "-c", "from gateway import scanner; print(scanner.IMPLEMENTATION)"],
                           env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "python"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           "tests/test_rewrite.py", "tests/test_inject.py"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_the_twin_is_the_reference() -> None:
    assert scanner.available()["python"] is _scan_py.walk
    assert scanner.IMPLEMENTATION in ("compiled", "python")
