"""The orch exception tree. Messages are for a person: what is wrong and how to fix it.

``cli.py`` turns :class:`OrchError` into a one-line message and exit code 2; anything else is an internal fault
(exit 1). Library code never exits.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ArchiveError",
    "ConfigError",
    "ConfigIssue",
    "EnvError",
    "LaunchError",
    "OrchError",
    "RunRefError",
    "StatusError",
]


class OrchError(Exception):
    """Base of every error orch reports to a user (exit code 2)."""

    def lines(self) -> list[str]:
        """The lines to print, one per problem."""
        return [str(self)]


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
