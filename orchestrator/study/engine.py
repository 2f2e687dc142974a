"""Optuna, opened the one way orch uses it: a journal file per study, the configured sampler and pruner.

Optuna does all of the searching: its samplers propose, its pruners decide, its journal storage records every trial
(append-only lines, written under Optuna's own file lock, which works on NFS and Lustre where SQLite's does not).
orch adds nothing to the algorithms; it only builds them from the study definition. Each ask gets a sampler seeded
from the study's seed and the number of trials so far, so a study run by one worker repeats exactly, and parallel
workers (asking one after another under the study lock) never draw the same point.

Optuna is imported here and only here (lazily by callers): ``orch validate`` never pays for it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.study.config import StudyDefinition
from orchestrator.study.store import JOURNAL, StudyError

__all__ = [
    "create_or_load",
    "load",
    "make_pruner",
    "make_sampler",
    "open_storage",
    "quiet",
    "require_optuna",
    "reseed",
]

_LOG_LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "SUCCESS": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}


def require_optuna(command: str = "orch study") -> None:
    """Optuna is an optional part of orch (the ``study`` extra): say how to install it instead of a traceback."""
    from orchestrator.extras import require_extra

    require_extra("study", command)


def quiet(level: str = "WARNING") -> None:
    """Optuna's logger at the study's ``log_level``; its experimental-feature warnings off."""
    import warnings

    require_optuna()

    import optuna

    optuna.logging.set_verbosity(_LOG_LEVELS.get(level.upper(), logging.WARNING))
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def open_storage(folder: Path) -> Any:
    """The study's journal storage (``<folder>/journal.log``)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(Path(folder) / JOURNAL)))


def make_sampler(definition: StudyDefinition, *, trials_so_far: int = 0) -> Any:
    """The definition's sampler, seeded for the next ask (study seed + trials so far)."""
    import optuna

    settings = dict(definition.sampler)
    kind = settings.pop("type", "tpe")
    seed = int(settings.pop("seed", definition.seed)) + int(trials_so_far)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    settings.setdefault("constant_liar", True)
    return optuna.samplers.TPESampler(seed=seed, **settings)


def make_pruner(pruner: Mapping[str, Any]) -> Any:
    """Optuna's pruner of that type with those settings (Optuna's defaults for the others)."""
    import optuna

    settings = dict(pruner)
    kind = settings.pop("type", "median")
    classes = {
        "median": optuna.pruners.MedianPruner,
        "percentile": optuna.pruners.PercentilePruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "none": optuna.pruners.NopPruner,
    }
    if kind == "percentile":
        settings.setdefault("percentile", 25.0)
    try:
        return classes[kind](**settings)
    except (KeyError, TypeError, ValueError) as exc:
        raise StudyError(f"pruner {dict(pruner)}: {exc}") from None


def create_or_load(folder: Path, definition: StudyDefinition) -> Any:
    """The study in ``folder``'s journal, created with the definition's direction if it is not there yet."""
    import optuna

    quiet(definition.log_level)
    direction: Any = definition.direction  # "maximize" | "minimize" (the study schema's enum)
    return optuna.create_study(
        storage=open_storage(folder),
        study_name=definition.name,
        direction=direction,
        sampler=make_sampler(definition),
        pruner=make_pruner(definition.pruner),
        load_if_exists=True,
    )


def load(folder: Path, definition: StudyDefinition) -> Any:
    """The existing study of ``folder`` (its journal must hold it)."""
    import optuna

    quiet(definition.log_level)
    try:
        return optuna.load_study(
            study_name=definition.name,
            storage=open_storage(folder),
            sampler=make_sampler(definition),
            pruner=make_pruner(definition.pruner),
        )
    except KeyError:
        raise StudyError(f"{folder / JOURNAL} holds no study {definition.name!r}") from None


def reseed(study: Any, definition: StudyDefinition) -> None:
    """Give ``study`` a sampler seeded for its next ask."""
    study.sampler = make_sampler(definition, trials_so_far=len(study.get_trials(deepcopy=False)))
