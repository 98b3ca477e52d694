from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.csp import NO_NONCES, Nonces, header_policies, nonces_for
from gateway.types import Headers


def csp(*values: str) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"text/html")] + [(b"content-security-policy", v.encode("latin-1")) for v in values]


def page_nonces(headers: Headers) -> Nonces:
    """What the proxy computes for a response: the nonces its enforced policies need."""
    return nonces_for(header_policies(headers))


def test_no_policy_or_no_nonce() -> None:
    assert page_nonces(csp()) is NO_NONCES
    assert page_nonces(csp("script-src 'self' https://cdn.example; style-src 'self'")) == Nonces()
    assert page_nonces([(b"content-security-policy-report-only", b"script-src 'nonce-abc'")]) == Nonces()


def test_strict_policy() -> None:
    got = page_nonces(csp("script-src 'nonce-r4nd0m+/=' 'strict-dynamic'; style-src 'self' 'nonce-st_yle-1'"))
    assert got == Nonces(script="r4nd0m+/=", style="st_yle-1")


def test_directive_precedence_and_case() -> None:
    assert page_nonces(csp("DEFAULT-SRC 'nonce-d'")) == Nonces("d", "d")
    assert page_nonces(csp("default-src 'nonce-d'; script-src 'self'")) == Nonces(None, "d")
    assert page_nonces(csp("script-src 'nonce-s'; script-src-elem 'nonce-e'")).script == "e"
    assert page_nonces(csp("script-src 'nonce-first'; script-src 'nonce-second'")).script == "first"


def test_every_enforced_policy_must_accept_the_nonce() -> None:
    two_headers = page_nonces(csp("script-src 'nonce-a' 'nonce-b'", "script-src 'nonce-b'"))
    one_header = page_nonces(csp("script-src 'nonce-a' 'nonce-b', script-src 'nonce-b'"))
    assert two_headers.script == one_header.script == "b"
    assert page_nonces(csp("script-src 'nonce-a'", "img-src 'self'")).script == "a"


def test_nonces_that_could_break_out_of_an_attribute_are_refused() -> None:
    for bad in ("'nonce-a\" onload=\"x'", "'nonce-'", "nonce-abc", "'nonce-a b'", "'nonce-<x>'", "'nonce-" + "a" * 300):
        assert page_nonces(csp(f"script-src {bad}")).script is None, bad


@given(st.text(max_size=300))
def test_any_header_gives_a_safe_answer(text: str) -> None:
    got = page_nonces(csp(text.encode("utf-8", "replace").decode("latin-1")))
    for nonce in (got.script, got.style):
        assert nonce is None or all(c.isalnum() or c in "+/_=-" for c in nonce)
