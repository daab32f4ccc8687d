"""HTTP content codings the way ClickHouse speaks them: lz4 and zstd frames, gzip, deflate, brotli.

Request bodies (``Content-Encoding``) may hold several concatenated frames: clickhouse-connect compresses
each insert block as a complete lz4 frame. Responses are compressed as one stream, flushed per chunk so a
client can decode rows as they arrive.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Protocol

import lz4.frame
from backports import zstd

try:  # brotli is optional, as in ClickHouse builds without it
    import brotli as _brotli  # type: ignore[import-not-found,import-untyped,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None


class Decoder(Protocol):
    """Incremental decompressor of a possibly multi-frame stream."""

    def feed(self, data: bytes) -> bytes:
        """Decompress the next piece of input."""

    def finish(self) -> None:
        """Check that the input ended on a frame boundary."""


class Encoder(Protocol):
    """Incremental compressor producing one stream."""

    def compress(self, data: bytes | memoryview) -> bytes:
        """Compress and flush a piece of output, so that the client can decode it now."""

    def finish(self) -> bytes:
        """End the stream."""


class CodecError(ValueError):
    """The body is not valid data in its declared content coding."""


class _FrameDecoder:
    """Decode concatenated frames, starting a fresh decompressor after each frame's end."""

    def __init__(self, factory: Callable[[], object], name: str) -> None:
        self._factory = factory
        self._name = name
        self._d: object | None = None
        self._in_frame = False

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        while data:
            if self._d is None:
                self._d = self._factory()
            d = self._d
            try:
                out += d.decompress(data)  # type: ignore[attr-defined]
            except Exception as exc:  # lz4/zstd/zlib raise their own error types
                raise CodecError(f"{self._name} body is corrupt: {exc}") from None
            self._in_frame = True
            if getattr(d, "eof", False):
                data = bytes(getattr(d, "unused_data", None) or b"")
                self._d = None
                self._in_frame = False
            else:
                data = b""
        return bytes(out)

    def finish(self) -> None:
        if self._in_frame:
            raise CodecError(f"{self._name} body ends inside a frame (truncated request?)")


def _gzip_d() -> object:
    return zlib.decompressobj(wbits=47)  # gzip or zlib header, detected


def _deflate_d() -> object:
    return zlib.decompressobj(wbits=15)


DECODERS: dict[str, Callable[[], Decoder]] = {
    "lz4": lambda: _FrameDecoder(lz4.frame.LZ4FrameDecompressor, "lz4"),
    "zstd": lambda: _FrameDecoder(zstd.ZstdDecompressor, "zstd"),
    "gzip": lambda: _FrameDecoder(_gzip_d, "gzip"),
    "x-gzip": lambda: _FrameDecoder(_gzip_d, "gzip"),
    "deflate": lambda: _FrameDecoder(_deflate_d, "deflate"),
}
if _brotli is not None:  # pragma: no cover - depends on the environment
    DECODERS["br"] = lambda: _FrameDecoder(_brotli.Decompressor, "br")


class _Lz4Encoder:
    def __init__(self) -> None:
        self._c = lz4.frame.LZ4FrameCompressor(auto_flush=True)
        self._started = False

    def compress(self, data: bytes | memoryview) -> bytes:
        head = b""
        if not self._started:
            head = self._c.begin()
            self._started = True
        return head + bytes(self._c.compress(data))

    def finish(self) -> bytes:
        head = b"" if self._started else self._c.begin()
        return head + bytes(self._c.flush())


class _ZstdEncoder:
    def __init__(self) -> None:
        self._c = zstd.ZstdCompressor(level=1)

    def compress(self, data: bytes | memoryview) -> bytes:
        return bytes(self._c.compress(data, zstd.ZstdCompressor.FLUSH_BLOCK))

    def finish(self) -> bytes:
        return bytes(self._c.flush(zstd.ZstdCompressor.FLUSH_FRAME))


class _ZlibEncoder:
    def __init__(self, wbits: int) -> None:
        self._c = zlib.compressobj(level=3, wbits=wbits)

    def compress(self, data: bytes | memoryview) -> bytes:
        return self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._c.flush(zlib.Z_FINISH)


ENCODERS: dict[str, Callable[[], Encoder]] = {
    "lz4": _Lz4Encoder,
    "zstd": _ZstdEncoder,
    "gzip": lambda: _ZlibEncoder(31),
    "deflate": lambda: _ZlibEncoder(15),
}


def choose_encoding(accept_encoding: str | None) -> str | None:
    """Pick the first coding in the client's ``Accept-Encoding`` that the endpoint can produce."""
    if not accept_encoding:
        return None
    for part in accept_encoding.split(","):
        name, _, params = part.strip().partition(";")
        name = name.strip().lower()
        if params.replace(" ", "") in ("q=0", "q=0.0"):
            continue
        if name in ENCODERS:
            return name
    return None
