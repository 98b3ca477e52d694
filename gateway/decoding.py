"""Decoding of compressed upstream bodies, bounded so a small bomb cannot expand without limit."""

from __future__ import annotations

import zlib
from typing import Protocol

import brotli

from gateway.errors import UpstreamBodyError

STEP = 64 * 1024  # decompress at most this much per call: memory stays flat whatever the ratio


class Decoder(Protocol):
    def decode(self, data: bytes) -> list[bytes]: ...
    def flush(self) -> list[bytes]: ...


class BodyTooLarge(UpstreamBodyError):
    pass


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0

    def spend(self, n: int) -> None:
        self.total += n
        if self.total > self.limit:
            raise BodyTooLarge(f"decoded upstream body exceeds {self.limit} bytes")


class ZlibDecoder:
    def __init__(self, wbits: int, limit: int) -> None:
        self._d = zlib.decompressobj(wbits)
        self._budget = _Budget(limit)
        self._deflate_fallback = wbits == zlib.MAX_WBITS  # some servers send raw deflate
        self._started = False

    def decode(self, data: bytes) -> list[bytes]:
        out = []
        try:
            if not self._started and self._deflate_fallback and data:
                self._started = True
                try:
                    probe = zlib.decompressobj(zlib.MAX_WBITS)
                    probe.decompress(data[:64], 1)
                except zlib.error:
                    self._d = zlib.decompressobj(-zlib.MAX_WBITS)
            chunk = self._d.decompress(data, STEP)
            while chunk:
                self._budget.spend(len(chunk))
                out.append(chunk)
                chunk = self._d.decompress(self._d.unconsumed_tail, STEP)
        except zlib.error as e:
            raise UpstreamBodyError(f"upstream body is not valid compressed data: {e}") from None
        return out

    def flush(self) -> list[bytes]:
        try:
            rest = self._d.flush()
        except zlib.error as e:
            raise UpstreamBodyError(f"upstream body is not valid compressed data: {e}") from None
        self._budget.spend(len(rest))
        return [rest] if rest else []


class BrotliDecoder:
    def __init__(self, limit: int) -> None:
        self._d = brotli.Decompressor()
        self._budget = _Budget(limit)

    def decode(self, data: bytes) -> list[bytes]:
        out = []
        try:
            chunk = self._d.process(data, output_buffer_limit=STEP)
            while True:
                if chunk:
                    self._budget.spend(len(chunk))
                    out.append(chunk)
                if self._d.can_accept_more_data():
                    break
                chunk = self._d.process(b"", output_buffer_limit=STEP)
        except brotli.error as e:
            raise UpstreamBodyError(f"upstream body is not valid brotli: {e}") from None
        return out

    def flush(self) -> list[bytes]:
        return []


class IdentityDecoder:
    def __init__(self, limit: int) -> None:
        self._budget = _Budget(limit)

    def decode(self, data: bytes) -> list[bytes]:
        self._budget.spend(len(data))
        return [data]

    def flush(self) -> list[bytes]:
        return []


def make_decoder(content_encoding: bytes, limit: int) -> Decoder | None:
    """A decoder for the (single) content coding, or None when we cannot decode it."""
    coding = content_encoding.strip().lower()
    if coding in (b"gzip", b"x-gzip"):
        return ZlibDecoder(16 + zlib.MAX_WBITS, limit)
    if coding == b"deflate":
        return ZlibDecoder(zlib.MAX_WBITS, limit)
    if coding == b"br":
        return BrotliDecoder(limit)
    if coding in (b"", b"identity"):
        return IdentityDecoder(limit)
    return None
