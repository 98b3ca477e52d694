from __future__ import annotations

import gzip
import tracemalloc
import zlib

import brotli
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.decoding import BodyTooLarge, Utf16Transcoder, make_decoder
from gateway.errors import UpstreamBodyError


def decode_all(coding: bytes, data: bytes, limit: int = 10 * 1024 * 1024, step: int = 1000) -> bytes:
    d = make_decoder(coding, limit)
    assert d is not None
    out = []
    for i in range(0, len(data), step):
        out += d.decode(data[i:i + step])
    out += d.flush()
    return b"".join(out)


@given(st.binary(max_size=5000))
def test_roundtrips(body: bytes) -> None:
    assert decode_all(b"gzip", gzip.compress(body)) == body
    assert decode_all(b"deflate", zlib.compress(body)) == body
    raw = zlib.compressobj(wbits=-15)
    assert decode_all(b"deflate", raw.compress(body) + raw.flush()) == body
    assert decode_all(b"br", brotli.compress(body)) == body
    assert decode_all(b"identity", body) == body


def _bomb(coding: bytes, megabytes: int) -> bytes:
    """`megabytes` MB of zeros, compressed a megabyte at a time (never held whole)."""
    zeros = b"\0" * (1024 * 1024)
    if coding == b"br":
        b = brotli.Compressor(quality=5)
        return b"".join(b.process(zeros) for _ in range(megabytes)) + b.finish()
    c = zlib.compressobj(9, zlib.DEFLATED, 31 if coding == b"gzip" else 15)
    return b"".join(c.compress(zeros) for _ in range(megabytes)) + c.flush()


@pytest.mark.parametrize("coding,megabytes", [(b"gzip", 100), (b"br", 100), (b"deflate", 200)])
def test_bomb_is_capped_without_expanding(coding: bytes, megabytes: int) -> None:
    """The promise is about memory: decoding stops near the cap, it does not expand the bomb and
    then complain. Measured with tracemalloc (zlib's and brotli's buffers are Python bytes)."""
    bomb = _bomb(coding, megabytes)
    assert len(bomb) < 500_000
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLarge):
            decode_all(coding, bomb, limit=1024 * 1024, step=len(bomb))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"decoding a {megabytes} MB bomb under a 1 MB cap peaked at {peak} bytes"


@pytest.mark.parametrize("coding", [b"gzip", b"br", b"deflate"])
def test_corrupt_data_is_a_clear_error(coding: bytes) -> None:
    with pytest.raises(UpstreamBodyError):
        decode_all(coding, b"this is not compressed at all" * 10)


def test_unknown_coding() -> None:
    assert make_decoder(b"zstd", 1000) is None
    assert make_decoder(b"gzip, br", 1000) is None


@pytest.mark.parametrize("coding", [b"gzip", b"x-gzip", b" GZip ", b"deflate", b"DEFLATE", b"br", b" BR",
                                    b"", b"identity", b" Identity "])
def test_codings_by_name(coding: bytes) -> None:
    body = b"<p>" + b"page " * 200 + b"</p>"
    name = coding.strip().lower()
    packed = {b"gzip": gzip.compress, b"x-gzip": gzip.compress, b"deflate": zlib.compress,
              b"br": brotli.compress}.get(name, lambda b: b)(body)
    assert decode_all(coding, packed) == body


@pytest.mark.parametrize("coding", [b"gzip", b"deflate", b"raw", b"br", b""])
def test_cap_is_exact(coding: bytes) -> None:
    body = bytes(range(256)) * 400  # 102400 bytes, decoded in more than one step
    if coding == b"raw":
        c = zlib.compressobj(wbits=-15)
        packed, coding = c.compress(body) + c.flush(), b"deflate"
    else:
        packed = {b"gzip": gzip.compress, b"deflate": zlib.compress, b"br": brotli.compress}.get(
            coding, lambda b: b)(body)
    assert decode_all(coding, packed, limit=len(body)) == body  # exactly at the cap: allowed
    with pytest.raises(BodyTooLarge, match=f"exceeds {len(body) - 1} bytes"):
        decode_all(coding, packed, limit=len(body) - 1)
    for step in (1, 7, 100):  # however the body arrives
        assert decode_all(coding, packed, limit=len(body), step=step) == body


def test_flush_counts_against_the_cap() -> None:
    body = b"a" * 70_000
    packed = zlib.compress(body)
    d = make_decoder(b"deflate", len(body) - 10)
    assert d is not None
    out = d.decode(packed[:-8])  # zlib holds back what it has not yet emitted until flush
    with pytest.raises(BodyTooLarge):
        out += d.decode(packed[-8:])
        out += d.flush()
    d = make_decoder(b"gzip", 100)
    assert d is not None and d.flush() == []


def test_raw_deflate_is_told_from_zlib_by_its_first_bytes() -> None:
    body = b"<p>hello</p>" * 50
    raw = zlib.compressobj(wbits=-15)
    packed = raw.compress(body) + raw.flush()
    for step in (1, 2, 63, 64, 65, len(packed)):
        assert decode_all(b"deflate", packed, step=step) == body
        assert decode_all(b"deflate", zlib.compress(body), step=step) == body
    d = make_decoder(b"deflate", 1000)
    assert d is not None and d.decode(b"") == [] and d.flush() == []


def transcode(label: bytes, data: bytes, sizes: list[int], coding: bytes = b"") -> tuple[bytes, int]:
    calls = []
    inner = make_decoder(coding, 10 * 1024 * 1024)
    assert inner is not None
    d = Utf16Transcoder(inner, label, lambda: calls.append(1))
    out, pos, i = [], 0, 0
    while pos < len(data):
        n = sizes[i % len(sizes)]
        out += d.decode(data[pos:pos + n])
        pos, i = pos + n, i + 1
    out += d.flush()
    return b"".join(out), len(calls)


class TestUtf16:
    PAGE = "<html><body><p>中文 页面 😀</p></body></html>"

    def test_byte_order_marks_and_labels(self) -> None:
        want = self.PAGE.encode("utf-8")
        assert transcode(b"", b"\xff\xfe" + self.PAGE.encode("utf-16-le"), [7]) == (want, 1)
        assert transcode(b"", b"\xfe\xff" + self.PAGE.encode("utf-16-be"), [1]) == (want, 1)
        assert transcode(b"UTF-16", self.PAGE.encode("utf-16-le"), [3]) == (want, 1)  # WHATWG: LE
        assert transcode(b'"utf-16be"', self.PAGE.encode("utf-16-be"), [5]) == (want, 1)
        # the mark wins over the label, as in browsers
        assert transcode(b"utf-16be", b"\xff\xfe" + self.PAGE.encode("utf-16-le"), [4]) == (want, 1)
        assert transcode(b"utf-16", b"\xef\xbb\xbf" + want, [4]) == (b"\xef\xbb\xbf" + want, 0)

    def test_other_pages_pass_untouched(self) -> None:
        for data in (b"", b"<", b"<p>x</p>", "中文".encode("gbk"), b"\xff"):
            assert transcode(b"utf-8", data, [1]) == (data, 0)

    def test_after_decompression_and_with_broken_tail(self) -> None:
        data = b"\xff\xfe" + self.PAGE.encode("utf-16-le")
        assert transcode(b"", gzip.compress(data), [10], b"gzip") == (self.PAGE.encode("utf-8"), 1)
        out, _ = transcode(b"", data + b"\x00", [10])  # an odd trailing byte: replaced, never raised
        assert out.startswith(self.PAGE.encode("utf-8")) and out.endswith("\ufffd".encode())

    @given(st.text(max_size=300), st.lists(st.integers(1, 9), min_size=1, max_size=5), st.booleans())
    def test_any_text_any_chunking(self, text: str, sizes: list[int], big_endian: bool) -> None:
        codec, bom = ("utf-16-be", b"\xfe\xff") if big_endian else ("utf-16-le", b"\xff\xfe")
        clean = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")  # no lone surrogates
        out, calls = transcode(b"", bom + clean.encode(codec), sizes)
        assert out == clean.encode("utf-8") and calls == 1


def test_errors_say_what_was_wrong() -> None:
    body = b"<p>" + b"page " * 300
    with pytest.raises(UpstreamBodyError, match="upstream body is not valid compressed data"):
        decode_all(b"gzip", zlib.compress(body))  # zlib data labelled gzip: not what was declared
    with pytest.raises(UpstreamBodyError, match="upstream body is not valid brotli"):
        decode_all(b"br", b"\xff" * 100)
    d = make_decoder(b"br", 10_000)
    assert d is not None
    out = d.decode(brotli.compress(body)[:-4])  # a truncated body: what there is, and no error
    assert b"".join(out + d.flush()) == body[:len(b"".join(out))]


class TestUtf16Sniffing:
    def test_first_chunk_bigger_than_a_step(self) -> None:
        page = "<p>" + "页" * 60_000 + "</p>"
        data = gzip.compress(b"\xff\xfe" + page.encode("utf-16-le"))
        assert transcode(b"", data, [len(data)], b"gzip") == (page.encode("utf-8"), 1)

    def test_unknown_labels_are_not_utf16(self) -> None:
        for label in (b"UTF-16X", b"utf-16; x", b"xutf-16"):
            assert transcode(label, "ab".encode("utf-16-le"), [4]) == ("ab".encode("utf-16-le"), 0)

    def test_a_utf8_mark_split_after_two_bytes(self) -> None:
        want = "<p>中</p>".encode()
        assert transcode(b"utf-16", b"\xef\xbb\xbf" + want, [2, 1, 50]) == (b"\xef\xbb\xbf" + want, 0)
