"""The archive's own checksum, carried inside the archive as a final zstd skippable frame.

The manifest inside an archive cannot hold the archive's sha256, and the manifest beside it may not travel with
it. So the last 92 bytes of every orch archive are a skippable frame (decompressors ignore it) holding the sha256 of
every byte before it. ``verify`` then detects a flipped byte anywhere, even in a zstd header field that does not
change the decompressed data, and even when the archive is alone.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

__all__ = ["TRAILER_LEN", "make_trailer", "read_trailer"]

_MAGIC = 0x184D2A5E  # one of the 16 zstd skippable-frame magic numbers
_PREFIX = b"orch-archive-sha256:"
_PAYLOAD_LEN = len(_PREFIX) + 64
TRAILER_LEN = 8 + _PAYLOAD_LEN


def make_trailer(hexdigest: str) -> bytes:
    """The skippable frame recording ``hexdigest`` (the sha256 of the archive bytes before it)."""
    payload = _PREFIX + hexdigest.encode("ascii")
    assert len(payload) == _PAYLOAD_LEN, "sha256 hex digests are 64 characters"
    return struct.pack("<II", _MAGIC, len(payload)) + payload


def read_trailer(path: str | os.PathLike[str]) -> str | None:
    """The sha256 the archive's trailer records, or None when the file ends in anything else."""
    p = Path(path)
    size = p.stat().st_size
    if size < TRAILER_LEN:
        return None
    with open(p, "rb") as handle:
        handle.seek(size - TRAILER_LEN)
        tail = handle.read(TRAILER_LEN)
    magic, length = struct.unpack("<II", tail[:8])
    payload = tail[8:]
    if magic != _MAGIC or length != _PAYLOAD_LEN or not payload.startswith(_PREFIX):
        return None
    digest = payload[len(_PREFIX) :].decode("ascii", errors="replace")
    return digest if all(c in "0123456789abcdef" for c in digest) else None
