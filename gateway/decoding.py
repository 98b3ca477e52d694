"""Decoding of compressed upstream bodies, bounded so a small bomb cannot expand without limit."""

from __future__ import annotations

import codecs
import zlib
from collections.abc import Callable
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
        self._head = b""

    def decode(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        try:
            if not self._started and self._deflate_fallback:
                data = self._head + data
                if len(data) < 2:  # a zlib header is two bytes: until then raw deflate looks the same
                    self._head = data
                    return out
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
        # The decoder can say it wants input while output is still pending (brotli 1.2): drain it,
        # or a page whose last chunk decodes past STEP loses its tail.
        out = []
        try:
            while not self._d.is_finished():
                chunk = self._d.process(b"", output_buffer_limit=STEP)
                if not chunk:
                    break
                self._budget.spend(len(chunk))
                out.append(chunk)
        except brotli.error as e:
            raise UpstreamBodyError(f"upstream body is not valid brotli: {e}") from None
        return out


class IdentityDecoder:
    def __init__(self, limit: int) -> None:
        self._budget = _Budget(limit)

    def decode(self, data: bytes) -> list[bytes]:
        self._budget.spend(len(data))
        return [data]

    def flush(self) -> list[bytes]:
        return []


_CODINGS = frozenset({b"gzip", b"x-gzip", b"deflate", b"br", b"", b"identity"})


def can_decode(content_encoding: bytes) -> bool:
    """Whether `make_decoder` has a decoder for this coding (the response policy asks, before any body)."""
    return content_encoding.strip().lower() in _CODINGS


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


_BOMS = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}
UTF16_LABELS = {b"utf-16": "utf-16-le", b"utf-16le": "utf-16-le", b"utf-16be": "utf-16-be"}  # WHATWG


class Utf16Transcoder:
    """Turns a UTF-16 page into UTF-8 after decompression, so the byte-level rewriter can read it.

    Whether the page is UTF-16 is known from its first bytes (a byte order mark wins over the
    header, as in browsers) or from the Content-Type label. `on_transcode` is called before the
    first output, while the response head can still change (it must now say charset=utf-8). Other
    pages pass through untouched.
    """

    def __init__(self, inner: Decoder, label: bytes, on_transcode: Callable[[], None]) -> None:
        self._inner = inner
        self._label = label.strip().strip(b"\"'").lower()
        self._on_transcode = on_transcode
        self._head = b""
        self._sniffed = False
        self._codec: codecs.IncrementalDecoder | None = None

    def decode(self, data: bytes) -> list[bytes]:
        return self._out(self._inner.decode(data), final=False)

    def flush(self) -> list[bytes]:
        return self._out(self._inner.flush(), final=True)

    def _out(self, pieces: list[bytes], final: bool) -> list[bytes]:
        if not self._sniffed:
            self._head += b"".join(pieces)
            if len(self._head) < 3 and not final:  # a UTF-8 mark is three bytes and wins over a label
                return []
            pieces, self._head = [self._head], b""
            self._sniff(pieces[0])
            if self._codec is not None and pieces[0][:2] in (b"\xff\xfe", b"\xfe\xff"):
                pieces = [pieces[0][2:]]  # the mark itself; the output carries no BOM
        if self._codec is None:
            return pieces
        out = [self._codec.decode(p).encode("utf-8") for p in pieces]
        if final:
            out.append(self._codec.decode(b"", final=True).encode("utf-8"))
        return [o for o in out if o]

    def _sniff(self, first: bytes) -> None:
        self._sniffed = True
        codec = _BOMS.get(first[:2]) or UTF16_LABELS.get(self._label)
        if first[:3] == b"\xef\xbb\xbf":
            codec = None  # a UTF-8 mark wins over a UTF-16 label too
        if codec is not None:
            self._codec = codecs.getincrementaldecoder(codec)("replace")
            self._on_transcode()
        else:  # nearly every page: the rest goes straight to the inner decoder
            self.decode = self._inner.decode  # type: ignore[method-assign]
            self.flush = self._inner.flush  # type: ignore[method-assign]


# WHATWG: these labels mean a superset; the banner must be encoded as the browser will decode.
_CHARSET_ALIASES = {
    "gb2312": "gbk", "x-gbk": "gbk", "gb_2312-80": "gbk", "iso-8859-1": "cp1252", "latin1": "cp1252",
    "us-ascii": "cp1252", "ascii": "cp1252", "utf-16": "utf-8", "utf-16le": "utf-8", "utf-16be": "utf-8",
}


def normalise_charset(label: str | bytes | None) -> str | None:
    if not label:
        return None
    if isinstance(label, bytes):
        label = label.decode("ascii", "replace")
    label = label.strip().strip("\"'").lower()
    label = _CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None
