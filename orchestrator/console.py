"""The one rich Console pair (stdout for results, stderr for warnings) and the house-style table."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

__all__ = ["err_console", "make_table", "out_console"]

out_console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def make_table(*columns: str, title: str | None = None) -> Table:
    """A table in orch's style: bold header, no box clutter, columns in the given order."""
    table = Table(title=title, header_style="bold", box=None, pad_edge=False, show_edge=False)
    for column in columns:
        table.add_column(column)
    return table
