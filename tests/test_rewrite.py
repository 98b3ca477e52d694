from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.csp import Nonces
from gateway.rewrite import MAX_CARRY, HtmlRewriter, RewritePlan, normalise_charset

pytestmark = pytest.mark.usefixtures("scanner_impl")  # every test, once per scanner implementation
BLOCKED = (("www.googletagmanager.com", "personalization"), ("hm.baidu.com", "personalization"))


def plan(blocked: tuple[tuple[str, str], ...] = BLOCKED, head: bytes = b"<!--H-->",
         body: bytes = b"<!--B-->", charset: str | None = None) -> RewritePlan:
    return RewritePlan(blocked, head, lambda cs: body, charset)


def rewrite(html: bytes, sizes: list[int] | None = None, p: RewritePlan | None = None) -> bytes:
    r = HtmlRewriter(p or plan())
    if not sizes:
        return r.feed(html) + r.finish()
    out, pos, i = [], 0, 0
    while pos < len(html):
        n = sizes[i % len(sizes)]
        out.append(r.feed(html[pos:pos + n]))
        pos += n
        i += 1
    return b"".join(out) + r.finish()


class TestInjection:
    def test_at_the_real_body_start(self) -> None:
        # placement changed deliberately (issue 15): the banner opens the body instead of closing it
        html = (b"<html><head><title>a </body> <body> b</title><script>var s='<body></body>';</script></head>"
                b"<body><!-- </body> --><div title=\"</body>\">x</div><textarea></body></textarea></body></html>")
        out = rewrite(html)
        assert out == html.replace(b"<script>", b"<!--H--><script>").replace(b"</head><body>", b"</head><body><!--B-->")

    def test_head_before_first_script(self) -> None:
        out = rewrite(b'<html><head><meta charset="utf-8"><script src="/a.js"></script></head><body></body></html>')
        assert out.index(b"<!--H-->") < out.index(b"<script")
        assert out.index(b"<meta") < out.index(b"<!--H-->")

    def test_no_body_falls_back_to_html_end_then_eof(self) -> None:
        # placement changed deliberately (issue 15): where the body starts without a <body> tag
        assert rewrite(b"<html><p>x</html>") == b"<html><!--H--><!--B--><p>x</html>"
        assert rewrite(b"<p>just a fragment") == b"<!--H--><!--B--><p>just a fragment"
        assert rewrite(b"") == b"<!--H--><!--B-->"

    def test_uppercase_and_odd_whitespace(self) -> None:
        out = rewrite(b"<HTML><BODY>x</BODY\n></HTML>")
        assert out == b"<HTML><!--H--><BODY><!--B-->x</BODY\n></HTML>"

    def test_unclosed_comment_and_script(self) -> None:
        # the banner is already in: nothing is appended, EOF ends them as the site left them
        assert rewrite(b"<body><!-- </body> never closed") == b"<!--H--><body><!--B--><!-- </body> never closed"
        assert rewrite(b"<body><script>x='</body>'") == b"<!--H--><body><!--B--><script>x='</body>'"

    def test_empty_comments(self) -> None:
        assert rewrite(b"<!--><body>a</body>") == b"<!--><!--H--><body><!--B-->a</body>"
        assert rewrite(b"<!---><body>a</body>") == b"<!---><!--H--><body><!--B-->a</body>"

    def test_charset_from_meta_for_banner(self) -> None:
        p = RewritePlan((), b"", lambda cs: "横幅 ✓".encode(cs, "xmlcharrefreplace"))
        out = rewrite('<meta charset="gb2312"><body>中</body>'.encode("gbk"), p=p)
        assert out.decode("gbk").endswith("<body>横幅 &#10003;中</body>")

    def test_normalise_charset(self) -> None:
        assert normalise_charset(b"GB2312") == "gbk"
        assert normalise_charset("ISO-8859-1") == "cp1252"
        assert normalise_charset("utf-16") == "utf-8"
        assert normalise_charset("no-such-charset") is None
        assert normalise_charset(None) is None


class TestNeutralise:
    def test_script_src(self) -> None:
        out = rewrite(b'<script async src="https://www.googletagmanager.com/gtag/js?id=G"></script>')
        assert out.startswith(b'<!--H--><script async data-src="https://www.googletagmanager.com/gtag/js?id=G" '
                              b'type="text/plain" data-consent-category="personalization"></script>')

    def test_iframe(self) -> None:
        out = rewrite(b"<body><iframe width=1 src='https://www.googletagmanager.com/ns.html'></iframe></body>")
        assert (b"<iframe width=1 data-src='https://www.googletagmanager.com/ns.html' type=\"text/plain\" "
                b"data-consent-category=\"personalization\"></iframe>") in out

    def test_original_type_is_kept_for_activation(self) -> None:
        out = rewrite(b'<script type="module" src="https://hm.baidu.com/x.js"></script>')
        assert b'data-type="module"' in out and b'type="text/plain"' in out

    def test_uppercase_unquoted_and_entity_encoded(self) -> None:
        assert b"data-consent-category" in rewrite(b"<SCRIPT SRC=https://HM.BAIDU.COM/hm.js></SCRIPT>")
        assert b"data-consent-category" in rewrite(b'<script src="https://hm&#46;baidu.com/hm.js"></script>')

    def test_inline_loader(self) -> None:
        html = (b'<script>var hm=document.createElement("script");hm.src="https://hm.baidu.com/hm.js?x";'
                b"document.head.appendChild(hm);</script>")
        out = rewrite(html, [7])
        assert out.startswith(b'<!--H--><script type="text/plain" data-consent-category="personalization">var hm')

    def test_leaves_other_scripts_and_site_tagged_ones(self) -> None:
        html = (b'<script src="/own.js"></script><script type="application/ld+json">{"u":"hm.baidu.com"}</script>'
                b'<script type="text/plain" data-consent-category="personalization">track()</script>'
                b"<script>console.log(1)</script>")
        assert rewrite(html) == b"<!--H-->" + html + b"<!--B-->"

    def test_script_in_attribute_or_comment_is_not_a_script(self) -> None:
        html = (b'<div data-html="<script src=https://hm.baidu.com/x></script>">a</div>'
                b"<!-- <script src=https://hm.baidu.com/y></script> -->")
        assert rewrite(html) == b"<!--H--><!--B-->" + html

    def test_granted_category_passes(self) -> None:
        html = b'<script src="https://hm.baidu.com/hm.js"></script>'
        assert rewrite(html, p=plan(blocked=())) == b"<!--H-->" + html + b"<!--B-->"


class TestMetaPolicy:
    """A <meta http-equiv=Content-Security-Policy> with a nonce: our injected tags need it too."""

    @staticmethod
    def nonce_plan(policies: tuple[str, ...] = ()) -> tuple[RewritePlan, list[Nonces]]:
        seen: list[Nonces] = []

        def with_nonces(n: Nonces) -> tuple[bytes, Callable[[str], bytes]]:
            seen.append(n)
            tag = (n.script or "-").encode()
            return b"<!--H " + tag + b"-->", lambda cs: b"<!--B " + tag + b"-->"

        return RewritePlan((), b"<!--H-->", lambda cs: b"<!--B-->", None, policies, with_nonces), seen

    def test_meta_nonce_reaches_head_and_body(self) -> None:
        p, seen = self.nonce_plan()
        html = (b"<head><meta http-equiv=\"Content-Security-Policy\" content=\"script-src &#39;nonce-m1&#39;\">"
                b"<script src=/own.js></script></head><body></body>")
        out = rewrite(html, p=p)
        assert out.count(b"<!--H m1-->") == 1 and out.endswith(b"<!--B m1--></body>")
        assert seen == [Nonces(script="m1")]

    def test_meta_and_header_policies_together(self) -> None:
        p, _ = self.nonce_plan(("script-src 'nonce-a' 'nonce-b'",))
        out = rewrite(b"<meta http-equiv=content-security-policy content=\"script-src 'nonce-b'\"><body></body>", p=p)
        assert b"<!--H b-->" in out and b"<!--B b-->" in out

    def test_other_metas_change_nothing(self) -> None:
        p, seen = self.nonce_plan()
        out = rewrite(b"<meta name=description content=\"'nonce-x'\"><body></body>", p=p)
        assert out == b"<meta name=description content=\"'nonce-x'\"><!--H--><body><!--B--></body>" and seen == []


class TestScriptEscapes:
    """The tokenizer's script data states: inside "<!--", a "<script" makes the next "</script" text."""

    def test_old_document_write_loader_is_one_script(self) -> None:
        script = (b"<script><!--\ndocument.write('<script src=\"https://hm.baidu.com/hm.js\"></script>');"
                  b"\n//--></script>")
        out = rewrite(b"<html><body>" + script + b"<p>after</p></body></html>")
        # held and inspected as a whole, neutralised as a whole, and its text left exactly as it was
        assert b'<script type="text/plain" data-consent-category="personalization">' + script[8:] in out
        assert out.startswith(b"<html><!--H--><body><!--B--><script ") and out.endswith(b"<p>after</p></body></html>")

    def test_body_end_inside_a_double_escaped_script_is_text(self) -> None:
        html = b"<body><script><!--<script></script></body>--></script><p>x</p></body>"
        assert rewrite(html, p=plan(blocked=())) == (
            b"<!--H--><body><!--B--><script><!--<script></script></body>--></script><p>x</p></body>")

    def test_escapes_that_close_at_once_and_ordinary_ends(self) -> None:
        for text in (b"<!-->", b"<!--->", b"<!---->", b"a<!--b-->c", b"<!-- <script> --> x"):
            html = b"<body><script>" + text + b"</script><p>x</p></body>"
            out = rewrite(html, p=plan(blocked=()))
            assert out.endswith(b"</script><p>x</p></body>") and out.count(b"<!--B-->") == 1, text
        # escaped but not double escaped: the first </script> ends it
        out = rewrite(b"<body><script><!-- x </script><p>y</p></body>", p=plan(blocked=()))
        assert out.endswith(b"</script><p>y</p></body>")

    def test_chunk_splits_inside_the_escape_tokens(self) -> None:
        html = b"<body><script><!--<script></script>--></script><!--x--></body>"
        whole = rewrite(html, p=plan(blocked=()))
        for size in (1, 2, 3, 5):
            assert rewrite(html, [size], plan(blocked=())) == whole


class TestResources:
    """Pixels and other tags that fetch as the page parses: the preload scanner beats any script."""

    def test_pixel(self) -> None:
        out = rewrite(b'<body><img src="https://hm.baidu.com/hm.gif?si=1&amp;x=2" width=1 alt=""></body>')
        assert out.startswith(b'<!--H--><body><!--B--><img data-src="https://hm.baidu.com/hm.gif?si=1&amp;x=2" width=1 '
                              b'alt="" data-consent-category="personalization">')
        assert b" src=" not in out and b"text/plain" not in out

    def test_each_element_keeps_its_own_type(self) -> None:
        out = rewrite(b"<picture><source type=image/webp srcset='https://hm.baidu.com/a.webp 2x'>"
                      b"<img src=/own.png srcset='/own@2x.png 2x'></picture>"
                      b'<input type="image" src="https://hm.baidu.com/b.png">'
                      b'<link rel="preload" as="script" href="https://www.googletagmanager.com/gtm.js?id=1">'
                      b'<video poster="https://hm.baidu.com/p.jpg" src="/own.mp4"></video><br/>'
                      b'<IMG SRC="HTTPS://HM.BAIDU.COM/C.GIF"/>')
        assert (b"<source type=image/webp data-srcset='https://hm.baidu.com/a.webp 2x' "
                b'data-consent-category="personalization">') in out
        assert b"<img src=/own.png srcset='/own@2x.png 2x'>" in out
        assert b'<input type="image" data-src="https://hm.baidu.com/b.png" data-consent-category=' in out
        assert b'<link rel="preload" as="script" data-href="https://www.googletagmanager.com/gtm.js?id=1" ' in out
        # every URL the element fetches waits, its own ones too: a video is one decision
        assert b'<video data-poster="https://hm.baidu.com/p.jpg" data-src="/own.mp4" data-consent' in out
        assert b'<IMG data-SRC="HTTPS://HM.BAIDU.COM/C.GIF" data-consent-category="personalization" />' in out

    def test_only_fetching_attributes_of_fetching_elements(self) -> None:
        html = (b'<body><a href="https://hm.baidu.com/">link</a><img src=/own.png alt="hm.baidu.com logo">'
                b"<p>we use hm.baidu.com</p><!-- <img src=https://hm.baidu.com/x.gif> -->"
                b"<textarea><img src=https://hm.baidu.com/y.gif></textarea></body>")
        assert rewrite(html) == b"<!--H-->" + html.replace(b"<body>", b"<body><!--B-->")

    def test_a_site_value_cannot_shadow_ours(self) -> None:
        out = rewrite(b'<img data-src="/decoy.png" data-consent-category="identity" src="https://hm.baidu.com/x">')
        assert out.startswith(b'<!--H--><!--B--><img data-src="https://hm.baidu.com/x" '
                              b'data-consent-category="personalization">')

    def test_split_across_chunks_and_granted(self) -> None:
        html = b'<body><p>a</p><img alt="x" src="https://hm.baidu.com/hm.gif"></body>'
        whole = rewrite(html)
        assert b'data-src="https://hm.baidu.com/hm.gif"' in whole
        for size in (1, 3, 7, 20):
            assert rewrite(html, [size]) == whole
        assert rewrite(html, p=plan(blocked=())) == b"<!--H-->" + html.replace(b"<body>", b"<body><!--B-->")

    def test_hidden_lt_before_a_pixel_takes_the_exact_path(self) -> None:
        out = rewrite(b'<body><div title="a<b">x</div><img src="https://hm.baidu.com/p.gif"></body>')
        assert b'<img data-src="https://hm.baidu.com/p.gif" data-consent-category' in out


class TestHostile:
    def test_tag_longer_than_carry_passes_through(self) -> None:
        html = b'<div title="' + b"a" * (MAX_CARRY + 10) + b'">x</div><body></body>'
        out = rewrite(html, [65536])
        assert out.replace(b"<!--H-->", b"").replace(b"<!--B-->", b"") == html

    def test_nul_and_garbage(self) -> None:
        html = b"\x00<\x00script>\xff\xfe</bo\x00dy><</>< />"
        assert rewrite(html) == b"<!--H--><!--B-->" + html  # a NUL is text: the body starts there


# A small HTML grammar: realistic fragments in random order, to check the streaming invariants.
FRAGMENTS = st.sampled_from([
    b"<html>", b"<head>", b"</head>", b"<body>", b"</body>", b"</html>", b"<p>text</p>", b"<!-- c </body> -->",
    b"<script>var a = '</body>' < 1;</script>", b'<script src="https://hm.baidu.com/hm.js"></script>',
    b'<script async src="/own.js"></script>', b"<iframe src='https://www.googletagmanager.com/ns'></iframe>",
    b'<div title="a > b <script>">x</div>', b"<style>p{}</style>", b"<title>t</title>", b"<textarea><b></textarea>",
    b"<meta charset=utf-8>", b"<!doctype html>", b"a < b", b"<br/>", b"<img src=x.png alt='<'>", b"\xe4\xb8\xad",
    b"<SCRIPT>x</SCRIPT>", b"<!---->", b"<?pi?>", b"</>", b"<!x>",
    b"<a data-x='<p><script src=https://hm.baidu.com/a></script></body>'>l</a>", b"<a title=x<script>y>",
    b"<div title=\"<!--\">", b"<p class=\"a\" id='b' hidden>", b'<iframe src="/own"></iframe>', b"<body class=x>",
    b"<meta content='text/html; charset=gbk' http-equiv=content-type>", b"</head >", b"< body>", b"<div\n>",
    b'<img src="https://hm.baidu.com/hm.gif" alt=x>', b"<IMG SRC=https://HM.baidu.com/p width=1/>",
    b"<picture><source srcset='https://www.googletagmanager.com/a.webp'><img src=/own.png></picture>",
    b'<a href="https://hm.baidu.com/">hm.baidu.com</a>', b'<img title="<x" src="https://hm.baidu.com/q">',
    b'<link rel=preload href="https://www.googletagmanager.com/gtm.js">', b"<img alt='hm.baidu.com' src=/o>",
    b"<script><!--<script></script></body>--></script>", b"<script><!--></body></script>", b"<script><!--",
    b"<script>a<!--b<SCRIPT>c</script>d-->e</script>", b"<!--->", b"-->", b"<script><!--->x</script>",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(FRAGMENTS, max_size=30), st.lists(st.integers(1, 40), min_size=1, max_size=8))
def test_chunking_never_changes_the_output(parts: list[bytes], sizes: list[int]) -> None:
    html = b"".join(parts)
    assert rewrite(html, sizes) == rewrite(html)


@settings(max_examples=300, deadline=None)
@given(st.lists(FRAGMENTS, max_size=30))
def test_without_rules_only_the_injections_are_added(parts: list[bytes]) -> None:
    html = b"".join(parts)
    out = rewrite(html, p=plan(blocked=()))
    # at EOF an unclosed comment or raw-text element is closed before the banner
    out = out.replace(b"<!--H-->", b"", 1).replace(b"<!--B-->", b"", 1)
    closers = (b"-->", b"</script>", b"</style>", b"</title>", b"</textarea>", b"</iframe>")
    assert out == html or any(out == html + closer for closer in closers)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(1, 100), min_size=1, max_size=5))
def test_arbitrary_bytes_never_raise_and_keep_bytes(data: bytes, sizes: list[int]) -> None:
    out = rewrite(data, sizes, plan(blocked=()))
    assert out.replace(b"<!--H-->", b"", 1).replace(b"<!--B-->", b"", 1).startswith(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(FRAGMENTS, max_size=30), st.lists(st.integers(1, 40), min_size=1, max_size=8))
def test_fast_path_agrees_with_the_exact_scanner(parts: list[bytes], sizes: list[int]) -> None:
    """The fast path must give exactly what the exact (slow) tag-by-tag scanner gives."""
    import re

    from gateway import _scan_py, scanner

    html = b"".join(parts)
    fast = rewrite(html, sizes)
    original, walk = _scan_py._HIDDEN_LT, scanner.walk
    _scan_py._HIDDEN_LT = re.compile(b"")  # "always suspicious": forces the exact path everywhere
    scanner.walk = _scan_py.walk
    try:
        exact = rewrite(html, sizes)
    finally:
        _scan_py._HIDDEN_LT, scanner.walk = original, walk
    assert fast == exact


def test_blocked_urls_in_text_cost_linear_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """User text that repeats a blocked host (a comment, say) must not make each hit rescan the page."""
    from gateway import _scan_py as module
    from gateway import scanner

    scanned = 0
    original = module._enclosing_tag
    monkeypatch.setattr(scanner, "walk", module.walk)  # counted in the twin; the C follows the same steps

    def counting(buf: bytes, pos: int, at: int) -> tuple[int, int]:
        nonlocal scanned
        scanned += at - pos  # the stretch rfind may walk back over
        return original(buf, pos, at)

    monkeypatch.setattr(module, "_enclosing_tag", counting)
    html = b"<body><p>" + b"see hm.baidu.com " * 20_000 + b"</p><img src=https://hm.baidu.com/x.gif></body>"
    out = rewrite(html)
    assert b"<img data-src=https://hm.baidu.com/x.gif" in out
    assert scanned <= 2 * len(html)
