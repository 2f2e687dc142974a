"""Which optional part of orch a command needs, and the one line that says how to install it.

``pip install orch`` is the light core (validate, status, logs, cancel, resume, archive, sync, submit): what a login
node needs. Training, plots and studies are extras (pyproject ``[project.optional-dependencies]``, the same names);
a command that needs one checks for it first and, without it, stops with exit code 2 and the install command,
instead of an ImportError deep inside a trainer.
"""

from __future__ import annotations

import importlib.util

from orchestrator.errors import MissingExtra

__all__ = ["EXTRAS", "missing_modules", "require_extra"]

# extra -> the modules it installs that orch imports (the distributions are listed in pyproject.toml)
EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("torch", "stable_baselines3", "gymnasium", "tensorboard", "wandb"),
    "plot": ("matplotlib",),
    "study": ("optuna",),
}


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def require_extra(extra: str, command: str) -> None:
    """Raise :class:`MissingExtra` naming the install command when ``command`` cannot run without ``extra``."""
    missing = missing_modules(extra)
    if missing:
        raise MissingExtra(
            f"{command} needs orch's {extra} extra ({', '.join(missing)} not installed): pip install 'orch[{extra}]'"
        )
