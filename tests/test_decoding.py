from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.decoding import BodyTooLarge, make_decoder
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


@pytest.mark.parametrize("coding,compress", [(b"gzip", gzip.compress), (b"br", brotli.compress),
                                             (b"deflate", zlib.compress)])
def test_bomb_is_capped_without_expanding(coding: bytes, compress: object) -> None:
    bomb = compress(b"\0" * (50 * 1024 * 1024))  # type: ignore[operator]
    assert len(bomb) < 200_000
    with pytest.raises(BodyTooLarge):
        decode_all(coding, bomb, limit=1024 * 1024, step=len(bomb))


@pytest.mark.parametrize("coding", [b"gzip", b"br", b"deflate"])
def test_corrupt_data_is_a_clear_error(coding: bytes) -> None:
    with pytest.raises(UpstreamBodyError):
        decode_all(coding, b"this is not compressed at all" * 10)


def test_unknown_coding() -> None:
    assert make_decoder(b"zstd", 1000) is None
    assert make_decoder(b"gzip, br", 1000) is None
