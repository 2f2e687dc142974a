"""The root of orch's error tree and its exit codes, defined once for every layer.

Every expected failure anywhere in orch (a bad config, an unreadable ``run.json``, a run that failed, a damaged
archive) is an :class:`OrchError` subclass that carries its :class:`ExitCode`; ``orchestrator/cli.py`` turns it into
one line per problem and that code, and anything else into exit code 1 with a traceback file. The tree starts here,
in the bottom layer, so that a manifest error is an orch error like any other (``orchestrator.errors`` holds the
rest of the tree and re-exports these names).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import ClassVar

__all__ = ["ExitCode", "ManifestError", "OrchError"]


class ExitCode(enum.IntEnum):
    """What ``orch`` exits with; the README's table of exit codes lists the same ones."""

    OK = 0  # the command did what was asked
    INTERNAL = 1  # a fault in orch itself: a traceback file is written and its path printed
    USAGE = 2  # bad input (a config, a name, an option, a file): one line per problem, nothing changed
    FAILED = 3  # the command ran and says no: a run failed, a gate failed, an archive is damaged, some runs were not
    # cancelled, resumed or synced, a scenario failed its check
    INTERRUPTED = 130  # Ctrl-C (the shell's convention for SIGINT)


class OrchError(Exception):
    """Base of every error orch reports to a person; ``exit_code`` says how ``orch`` ends (bad input by default)."""

    exit_code: ClassVar[ExitCode] = ExitCode.USAGE

    def __init__(self, problems: str | Sequence[str] = ""):
        self.problems = [problems] if isinstance(problems, str) else [str(p) for p in problems]
        super().__init__("; ".join(self.problems))

    def lines(self) -> list[str]:
        """The lines to print, one per problem."""
        return list(self.problems)


class ManifestError(OrchError):
    """A manifest could not be read, or does not follow its schema. The message names the file and the field."""
