"""Request bodies: Content-Length or chunked transfer coding, then the content coding, within limits."""

from __future__ import annotations

from io import BufferedIOBase

from marketintel.store.endpoint.codecs import DECODERS, CodecError, Decoder
from marketintel.store.endpoint.errors import ClickHouseError

READ_SIZE = 1 << 20


class BodyReader:
    """Read a request body as decoded bytes.

    Parameters
    ----------
    rfile : io.BufferedIOBase
        The connection's buffered input.
    headers : dict[str, str]
        Request headers, lower-case names.
    max_bytes : int
        Largest body accepted [bytes], counted after decompression (and before, for the raw stream).
    """

    def __init__(self, rfile: BufferedIOBase, headers: dict[str, str], max_bytes: int) -> None:
        self._rfile = rfile
        self._max = max_bytes
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        if length is not None and not self._chunked:
            try:
                self._remaining = int(length)
            except ValueError:
                raise ClickHouseError.named("BAD_ARGUMENTS", f"Invalid Content-Length {length!r}") from None
            if self._remaining > max_bytes:
                raise _too_large(self._remaining, max_bytes)
        else:
            self._remaining = 0 if not self._chunked else -1
        self._chunk_left = 0
        self._raw_eof = self._remaining == 0
        encoding = headers.get("content-encoding", "").strip().lower()
        self._decoder: Decoder | None = None
        if encoding and encoding != "identity":
            factory = DECODERS.get(encoding)
            if factory is None:
                raise ClickHouseError.named(
                    "UNKNOWN_FORMAT",
                    f"Unknown Content-Encoding {encoding!r}; supported: {', '.join(sorted(DECODERS))}",
                )
            self._decoder = factory()
        self.raw_bytes = 0
        self.decoded_bytes = 0
        self.consumed = False  # whether the whole raw body was read (the connection can be reused)

    def _read_raw(self) -> bytes:
        if self._raw_eof:
            return b""
        if not self._chunked:
            data = self._rfile.read(min(READ_SIZE, self._remaining))
            if not data:
                raise ClickHouseError.named("CANNOT_READ_ALL_DATA", "Client closed the connection mid-body")
            self._remaining -= len(data)
            if self._remaining == 0:
                self._raw_eof = True
            return data
        if self._chunk_left == 0:
            line = self._rfile.readline(1024)
            if not line:
                raise ClickHouseError.named("CANNOT_READ_ALL_DATA", "Client closed the connection mid-body")
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise ClickHouseError.named(
                    "BAD_ARGUMENTS", f"Invalid chunk size line {line[:40]!r}"
                ) from None
            if size == 0:
                while True:  # trailers, up to the empty line
                    trailer = self._rfile.readline(65536)
                    if trailer in (b"\r\n", b"\n", b""):
                        break
                self._raw_eof = True
                return b""
            self._chunk_left = size
        data = self._rfile.read(min(READ_SIZE, self._chunk_left))
        if not data:
            raise ClickHouseError.named("CANNOT_READ_ALL_DATA", "Client closed the connection mid-chunk")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._rfile.readline(16)  # CRLF after the chunk
        return data

    def read(self) -> bytes:
        """Return the next piece of decoded body; ``b""`` at the end.

        Raises
        ------
        ClickHouseError
            QUERY_IS_TOO_LARGE beyond ``max_bytes``, CANNOT_DECOMPRESS on a corrupt body,
            CANNOT_READ_ALL_DATA when the client goes away mid-body.
        """
        while True:
            raw = self._read_raw()
            self.raw_bytes += len(raw)
            if self.raw_bytes > self._max:
                raise _too_large(self.raw_bytes, self._max)
            if not raw:
                self.consumed = True
                if self._decoder is not None:
                    try:
                        self._decoder.finish()
                    except CodecError as exc:
                        raise ClickHouseError.named("CANNOT_DECOMPRESS", str(exc)) from None
                return b""
            if self._decoder is None:
                out = raw
            else:
                try:
                    out = self._decoder.feed(raw)
                except CodecError as exc:
                    raise ClickHouseError.named("CANNOT_DECOMPRESS", str(exc)) from None
            self.decoded_bytes += len(out)
            if self.decoded_bytes > self._max:
                raise _too_large(self.decoded_bytes, self._max)
            if out:
                return out


def _too_large(size: int, limit: int) -> ClickHouseError:
    return ClickHouseError.named(
        "QUERY_IS_TOO_LARGE",
        f"Request body is too large: more than {limit} bytes (read {size}). Split the insert into smaller "
        "requests, or raise the limit with `mi store serve --max-request-bytes`",
    )
