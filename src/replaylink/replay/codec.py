"""Gzip in and out: a bounded streaming decompress (gzip bombs stop early), one compress."""

from __future__ import annotations

import gzip
import zlib

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 64 * 1024


class TooLarge(Exception):
    """The decompressed data would exceed the limit."""


class Corrupt(Exception):
    """Not valid gzip (or truncated)."""


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress every gzip member of ``data``, never producing more than ``limit`` bytes.

    Memory stays within ``limit`` plus one chunk whatever the ratio: a bomb is refused after
    inflating at most ``limit`` bytes.
    """
    out: list[bytes] = []
    size = 0
    rest = data
    try:
        while rest:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            pending = rest
            while not inflater.eof:
                chunk = inflater.decompress(pending, min(_CHUNK, limit - size + 1))
                size += len(chunk)
                if size > limit:
                    raise TooLarge
                out.append(chunk)
                pending = inflater.unconsumed_tail
                if not pending and not chunk and not inflater.eof:  # an empty member ends at once
                    raise Corrupt("the gzip data is truncated")
            rest = inflater.unused_data
    except zlib.error as exc:
        raise Corrupt(f"the gzip data is invalid ({exc})") from None
    return b"".join(out)


def compress(data: bytes) -> bytes:
    """Gzip once for storage (level 6, no timestamp: the same input gives the same bytes)."""
    return gzip.compress(data, compresslevel=6, mtime=0)
