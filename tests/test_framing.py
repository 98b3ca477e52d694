"""Response-head checks on their own (the hostile suite drives them through a real gateway)."""

from __future__ import annotations

import pytest

from gateway.errors import UpstreamUnavailable
from gateway.framing import check_status, response_head
from gateway.types import Headers

PLAIN: Headers = [(b"content-type", b"text/html"), (b"content-length", b"12"), (b"connection", b"keep-alive")]


def test_the_common_head_is_passed_on_as_it_is() -> None:
    head = response_head(200, PLAIN)
    assert head.headers is PLAIN and not head.until_eof


def test_every_field_any_connection_header_names_is_dropped() -> None:
    raw: Headers = [(b"connection", b"X-A, keep-alive"), (b"x-a", b"1"), (b"connection", b"x-b"), (b"x-b", b"2"),
                    (b"keep-alive", b"timeout=5"), (b"x-c", b"3")]
    assert response_head(200, raw).headers == [(b"x-c", b"3")]


@pytest.mark.parametrize(("codings", "until_eof"),
                         [(b"chunked", False), (b"identity", True), (b"identity, chunked", False)])
def test_only_a_final_chunked_ends_a_body_before_eof(codings: bytes, until_eof: bool) -> None:
    assert response_head(200, [(b"transfer-encoding", codings)]).until_eof is until_eof


def test_a_content_coding_used_as_transfer_coding_becomes_the_content_encoding() -> None:
    head = response_head(200, [(b"transfer-encoding", b"gzip, chunked"), (b"etag", b'"v1"')])
    assert head.headers == [(b"etag", b'W/"v1"'), (b"content-encoding", b"gzip")]


@pytest.mark.parametrize("raw", [
    [(b"transfer-encoding", b"gzip, br, chunked")],
    [(b"transfer-encoding", b"compress, chunked")],
    [(b"transfer-encoding", b"gzip, chunked"), (b"content-encoding", b"br")],
])
def test_codings_that_cannot_be_described_are_refused(raw: Headers) -> None:
    with pytest.raises(UpstreamUnavailable):
        response_head(200, raw)


@pytest.mark.parametrize("status", [204, 304])
def test_bodiless_statuses_lose_their_length(status: int) -> None:
    head = response_head(status, [(b"content-length", b"5"), (b"etag", b'"v"')])
    assert head.headers == [(b"etag", b'"v"')] and not head.until_eof


@pytest.mark.parametrize("status", [0, 99, 101, 600, 999])
def test_statuses_refused(status: int) -> None:
    with pytest.raises(UpstreamUnavailable):
        check_status(status)
