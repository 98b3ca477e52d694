"""The streaming HTML rewriter: neutralise tracker tags, inject the banner, keep every other byte.

A DOM round trip would re-serialise the site's page; instead the page is cut into tokens at byte
level, with carry-over between chunks, and every byte is written back as it came except the tags
this module edits. The find/decide seam:
- gateway/htmltokenizer.py finds the tokens (it follows the HTML tokenizer's states, so a
  `</body>` inside a comment, a script string or an attribute is not the end of the body, and a
  `<script>` in an attribute value is not a script), and the resource tags (img, source, link
  rel=preload, ...) holding a blocked URL: the browser's preload scanner fetches those before any
  script can stop them, so this cannot be left to the guard script;
- this module (the editor) decides per token: gateway/neutralise.py whether a tag is held and how it
  is written, the page's <meta> charset and Content-Security-Policy (nonces for what we inject),
  inline scripts held to their end to look inside, and before the body gateway/inject.py's
  `Placement` says where the head config and the banner go.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import replace

from gateway.csp import nonces_for
from gateway.decoding import normalise_charset
from gateway.htmltokenizer import (
    COMMENT,
    END,
    EOF_BOGUS,
    EOF_RAW_END,
    LT,
    PASSED,
    PLAINTEXT,
    RAW,
    RAW_CLOSE,
    RAW_TEXT,
    RESOURCE,
    RUN,
    SCRIPT_DOUBLE,
    START,
    TEXT,
    Token,
    Tokenizer,
)
from gateway.htmltokens import MAX_CARRY, NON_SPACE
from gateway.inject import BODY_AFTER, BODY_BEFORE, NOTHING, Act, Placement, comment_closer, tag_closer
from gateway.neutralise import Neutraliser, RewritePlan, RewriteStats, attributes

__all__ = ["MAX_CARRY", "HtmlRewriter", "RewritePlan", "RewriteStats", "normalise_charset"]
_META_CHARSET = re.compile(rb"charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
MAX_INLINE_SCRIPT = 512 * 1024  # inline script body we hold to check for tracker loaders
_EDITED = frozenset({b"meta", b"script", b"iframe"})  # start tags _start_tag may change or read


class HtmlRewriter:
    def __init__(self, plan: RewritePlan, *, exact: bool = False) -> None:
        """exact: the tokenizer never takes the walk's fast path (gateway.htmltokenizer). The output
        is the same (the tests compare both); it is the reference, and slower."""
        self.plan = plan
        self.stats = RewriteStats()
        self._holds = Neutraliser(plan, self.stats)  # what is held, and how (gateway/neutralise.py)
        self._tok = Tokenizer(self._holds.trackers, exact=exact, patterns=self._holds.patterns)
        self._state = self._tok.state  # the tokenizer's; `tags` is ours to set: until the body starts
        self._charset = plan.charset
        self._policies = plan.policies
        self._held_tag: bytes | None = None  # start tag of an inline script being inspected
        self._held_body: list[bytes] = []
        self._held_len = 0
        self._place = Placement()

    # --- public -------------------------------------------------------------------------

    def use_charset(self, charset: str) -> None:
        """The body was transcoded: the banner is encoded for this, whatever a <meta> says."""
        self._charset = charset

    def feed(self, data: bytes) -> bytes:
        carry = self._state.carry
        return self._scan(carry + data if carry else data, final=False)

    def finish(self) -> bytes:
        out = self._scan(self._state.carry, final=True)
        tail = []
        if self._held_tag is not None:
            tail.append(self._held_tag)
            tail.extend(self._held_body)
            self._held_tag = None
        st = self._state
        if self._place.pending and st.mode != PLAINTEXT:
            # The page ended before its body started (a head only, or nothing). EOF inside a
            # comment, a raw-text element or a template ends it for the browser too; close it the
            # same way so the banner is markup, not comment or script text, then add the body.
            if self._place.noscript:
                tail.append(b"</noscript>")  # all raw text to the browser, whatever we made of it
            elif st.mode == COMMENT:
                tail.append(comment_closer(st.comment_tail))
            elif st.mode == RAW:
                if st.raw_name == b"script" and st.script == SCRIPT_DOUBLE:
                    return out + b"".join(tail)  # no end tag ends it without adding script text
                tail.append(b"</" + st.raw_name + b">")
            tail.append(b"</template>" * self._place.templates)
            tail.append(self._inject_head())
            tail.append(self._inject_body())
        return out + b"".join(tail)

    # --- tokens -------------------------------------------------------------------------

    def _scan(self, buf: bytes, final: bool) -> bytes:
        out: list[bytes] = []
        tokens = self._tok.tokens(buf, final)
        if self._place.pending:
            self._before_body(tokens, buf, out)  # takes the tokens until the body starts
        for kind, start, end, name in tokens:  # the rest: after the body starts
            if kind <= PASSED:  # text, comments, end tags, markup
                out.append(buf[start:end])
            elif kind == START:
                self._start_tag(name, buf[start:end], out)
            elif kind == RESOURCE:
                out.append(self._holds.resource_tag(name, buf[start:end]))
            elif kind == RAW_TEXT or kind == RAW_CLOSE:
                self._raw(kind, buf[start:end], out)
        return b"".join(out)

    def _before_body(self, tokens: Iterator[Token], buf: bytes, out: list[bytes]) -> None:
        """Until the body starts: `Placement` sees every token the tree builder does, and the
        injections go between tokens, never into one (gateway/inject.py says where). One loop,
        no call per token: a head is a few dozen tokens, and this is most of its cost."""
        place = self._place
        for kind, start, end, name in tokens:
            if kind == START or kind == RESOURCE:
                act = place.start_tag(name)
                if act is not NOTHING:
                    self._place_before(act, out)
                if kind == RESOURCE:
                    out.append(self._holds.resource_tag(name, buf[start:end]))
                elif name in _EDITED:
                    self._start_tag(name, buf[start:end], out)
                else:
                    out.append(buf[start:end])
                if act is BODY_AFTER:
                    out.append(self._inject_body())
            elif kind == RUN:
                if self._inert(start, end):
                    out.append(buf[start:end])
                else:
                    self._run(buf, start, end, out)
            elif kind == END:
                act = place.end_tag(name)
                if act is not NOTHING:
                    self._place_before(act, out)
                out.append(buf[start:end])
            elif kind == TEXT:  # the first non-space character starts the body
                m = NON_SPACE.search(buf, start, end)
                if m is not None and place.text() is BODY_BEFORE:
                    out.append(buf[start:m.start()])  # the rest comes again, after the body started
                    self._place_before(BODY_BEFORE, out)
                else:
                    out.append(buf[start:end])
            elif kind == RAW_TEXT or kind == RAW_CLOSE:
                self._raw(kind, buf[start:end], out)
            elif kind == LT:  # a '<' that is text: it starts the body
                if place.text() is BODY_BEFORE:
                    self._place_before(BODY_BEFORE, out)
                out.append(b"<")
            elif kind <= PASSED:  # comments, markup
                out.append(buf[start:end])
            else:
                self._at_eof(kind, buf[start:end], out)
            if not place.pending:
                self._state.tags = False  # the tokenizer goes on with the tokens that matter only
                return

    def _run(self, buf: bytes, start: int, end: int, out: list[bytes]) -> None:
        """A run of head tags with a charset, a nonce or a blocked URL in it, tag by tag. Nothing in
        a run changes `Placement` (htmltokenizer.RUN): it is not asked."""
        for kind, s, e, name in self._tok.run_tokens(buf, start, end):
            if kind == START:
                self._start_tag(name, buf[s:e], out)
            elif kind == RESOURCE:
                out.append(self._holds.resource_tag(name, buf[s:e]))
            else:
                out.append(buf[s:e])

    def _at_eof(self, kind: int, rest: bytes, out: list[bytes]) -> None:
        """Before the body, the page ended inside a token: end it as EOF does, for finish() to
        inject after; or, EOF inside a tag (the tokenizer drops it), inject before it."""
        place = self._place
        if place.noscript:
            out.append(rest)  # raw text to the browser: finish() ends the <noscript>
        elif kind == EOF_BOGUS:
            out.append(rest + b">")  # a bogus comment or doctype
        elif kind == EOF_RAW_END:
            out.append(rest + tag_closer(rest))  # the end tag of a raw-text element
        else:
            out.append(b"</template>" * place.templates)
            place.templates = 0
            place.pending = False
            self._place_before(BODY_BEFORE, out)
            out.append(rest)

    def _place_before(self, act: Act, out: list[bytes]) -> None:
        if act is not NOTHING:
            out.append(self._inject_head())
            if act is BODY_BEFORE:
                out.append(self._inject_body())

    def _inert(self, start: int, end: int) -> bool:
        """No tag in this run of head tags needs looking at (a charset, a nonce, a blocked URL)."""
        low = self._tok.low
        return not ((self._charset is None and low.find(b"charset", start, end) >= 0)
                    or (self.plan.with_nonces is not None and low.find(b"nonce-", start, end) >= 0)
                    or self._tok.hit_in(start, end))

    def _raw(self, kind: int, text: bytes, out: list[bytes]) -> None:
        """Raw text (RAW_TEXT), or its last part (RAW_CLOSE): a held inline script is judged then."""
        if self._held_tag is None:
            out.append(text)
            return
        self._held_body.append(text)
        self._held_len += len(text)
        if self._held_len > MAX_INLINE_SCRIPT:
            # Too long to inspect: let it through unchanged rather than hold the page.
            out.append(self._held_tag)
            out.extend(self._held_body)
            self._held_tag, self._held_body, self._held_len = None, [], 0
        elif kind == RAW_CLOSE:
            body = b"".join(self._held_body)
            tag = self._held_tag
            self._held_tag, self._held_body, self._held_len = None, [], 0
            out.append(self._holds.inline_script(tag, body))
            out.append(body)

    # --- tags ---------------------------------------------------------------------------

    def _start_tag(self, name: bytes, tag: bytes, out: list[bytes]) -> None:
        if name == b"meta":
            if self._charset is None:
                m = _META_CHARSET.search(tag)
                if m:
                    self._charset = normalise_charset(m.group(1))
            if self.plan.with_nonces is not None and b"nonce-" in tag:
                self._meta_policy(tag)
            out.append(tag)
            return
        if name == b"script" or name == b"iframe":
            rewritten = self._holds.script_or_iframe(name, tag, out)
            if rewritten is None:  # an inline script: held to its end, to look inside
                self._held_tag = tag
                return
            tag = rewritten
        out.append(tag)  # the tokenizer follows raw text and <plaintext> itself

    def _meta_policy(self, tag: bytes) -> None:
        attrs = attributes(tag, len(b"meta") + 1)
        if attrs.get(b"http-equiv", b"").strip().lower() != b"content-security-policy":
            return
        assert self.plan.with_nonces is not None
        policy = html.unescape(attrs.get(b"content", b"").decode("latin-1"))
        self._policies = (*self._policies, policy)
        head, body = self.plan.with_nonces(nonces_for(self._policies))
        self.plan = replace(self.plan, head_html=head, body_html=body)

    def _inject_head(self) -> bytes:
        if self.stats.head_injected:
            return b""
        self.stats.head_injected = True
        return self.plan.head_html

    def _inject_body(self) -> bytes:
        if self.stats.body_injected:
            return b""
        self.stats.body_injected = True
        return self.plan.body_html(self._charset or "utf-8")
