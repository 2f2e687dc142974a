"""The one rich Console pair (stdout for results, stderr for warnings) and the house-style table."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["ByteProgress", "err_console", "make_table", "out_console"]

out_console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def make_table(*columns: str, title: str | None = None) -> Table:
    """A table in orch's style: bold header, no box clutter, columns in the given order."""
    table = Table(title=title, header_style="bold", box=None, pad_edge=False, show_edge=False)
    for column in columns:
        table.add_column(column)
    return table


class ByteProgress:
    """A bytes progress bar on stderr, shown only on a terminal (``orch archive``); a no-op otherwise.

    It implements the ``start/advance/finish`` calls that domain code makes (``orchestrator.archive.ArchiveProgress``).
    """

    def __init__(self) -> None:
        self._progress: Any = None
        self._task: Any = None

    def start(self, label: str, total: int) -> None:
        if not err_console.is_terminal:
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), console=err_console, transient=True,
        )  # fmt: skip
        self._progress.start()
        self._task = self._progress.add_task(label, total=total or None)

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = self._task = None
