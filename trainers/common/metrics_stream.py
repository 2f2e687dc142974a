"""``metrics.jsonl`` and ``episodes.jsonl``: one JSON object per line, flushed as written.

``orch status`` tails these files for live progress, so every line is complete when it lands (one ``write`` of the
whole line, then flush). Non-finite floats become ``null`` so that every line is strict JSON.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from manifests.io import read_jsonl  # the reader lives with the other file readers; re-exported for trainers

__all__ = ["JsonlWriter", "read_jsonl", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Plain JSON types: numpy and torch scalars unwrapped, NaN/inf turned into None."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    elif hasattr(value, "tolist"):
        return to_jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


class JsonlWriter:
    """Append JSON lines to a file; ``fsync_every`` > 0 also fsyncs every N lines (cheap durability for status)."""

    def __init__(self, path: str | os.PathLike[str], *, fsync_every: int = 0, add_time: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: TextIO = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._fsync_every = fsync_every
        self._count = 0
        self._add_time = add_time

    def write(self, record: dict[str, Any]) -> None:
        """Write one record as a line and flush it."""
        if self._add_time and "time" not in record:
            record = {**record, "time": time.time()}
        self._handle.write(json.dumps(to_jsonable(record), allow_nan=False, sort_keys=False) + "\n")
        self._handle.flush()
        self._count += 1
        if self._fsync_every and self._count % self._fsync_every == 0:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
