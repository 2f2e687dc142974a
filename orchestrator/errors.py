"""The orch exception tree. Messages are for a person: what is wrong and how to fix it.

The root, :class:`OrchError`, and the exit codes (:class:`ExitCode`) live in ``manifests.errors`` so that every layer
raises into one tree; this module adds the orchestrator's errors and re-exports the root. Each class carries its exit
code: bad input is 2 (the default), an outcome that says no is 3 (:class:`OutcomeError` and its subclasses).
``cli.py`` turns an :class:`OrchError` into one line per problem and its code; anything else is an internal fault
(exit 1). Library code never exits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from manifests.errors import ExitCode as ExitCode
from manifests.errors import ManifestError as ManifestError
from manifests.errors import OrchError as OrchError

__all__ = [
    "ArchiveDamaged",
    "ArchiveError",
    "ConfigError",
    "ConfigIssue",
    "EnvCheckFailed",
    "EnvError",
    "ExitCode",
    "GateFailed",
    "LaunchError",
    "ManifestError",
    "MissingExtra",
    "NotAllDone",
    "OrchError",
    "OutcomeError",
    "RunFailed",
    "RunRefError",
    "StatusError",
]


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file, located precisely enough for an editor to jump to it."""

    file: str
    line: int | None
    key_path: str
    message: str
    hint: str | None = None
    column: int | None = None

    def format(self) -> str:
        """``file:line: key.path: message (hint)``, the one format every config error uses."""
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        key = self.key_path or "<root>"
        text = f"{where}: {key}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(OrchError):
    """A config file is invalid. Carries every issue found, not only the first."""

    def __init__(self, issues: list[ConfigIssue] | ConfigIssue):
        self.issues = [issues] if isinstance(issues, ConfigIssue) else list(issues)
        super().__init__("; ".join(i.format() for i in self.issues))

    def lines(self) -> list[str]:
        return [i.format() for i in self.issues]


class LaunchError(OrchError):
    """A run could not be created, submitted, resumed or cancelled."""


class StatusError(OrchError):
    """Run directories or scheduler state could not be read."""


class RunRefError(StatusError):
    """A word on the command line names no run, or several where it must name one (``orchestrator.runref``)."""


class EnvError(OrchError):
    """A scenario matrix or map cannot be used by ``orch env`` (missing file, bad scenario, unreadable SVG)."""


class ArchiveError(OrchError):
    """An archive could not be written, verified or restored safely."""


class MissingExtra(OrchError):
    """A command needs an optional part of orch that is not installed (``pip install 'orch[train]'``)."""


# ------------------------------------------------------------------------------------------------ exit code 3
class OutcomeError(OrchError):
    """The command ran and its answer is no. Exit code 3, distinct from bad input (2) and a fault in orch (1)."""

    exit_code: ClassVar[ExitCode] = ExitCode.FAILED


class RunFailed(OutcomeError):
    """A run (``orch run``) or a waited-for submission (``orch submit --wait``) ended failed or cancelled.

    ``outcome`` is what ``orch run`` reports about the run (its id, directory and status), when there is one run.
    """

    def __init__(self, problems: str | Sequence[str], *, outcome: Any = None):
        super().__init__(problems)
        self.outcome = outcome


class NotAllDone(OutcomeError):
    """Some of the runs named were not cancelled, resumed or synced (each is named, with why)."""


class GateFailed(OutcomeError):
    """A validation gate ran and at least one of its checks failed."""


class ArchiveDamaged(OutcomeError):
    """``orch archive verify`` read an archive and found it damaged or tampered with."""


class EnvCheckFailed(OutcomeError):
    """``orch env check`` ran every scenario and at least one failed."""
