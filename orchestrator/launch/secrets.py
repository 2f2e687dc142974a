"""Secrets in cluster profiles: which values are secret, and how they are kept out of every file orch writes.

Users put credentials in a profile's ``env:`` (``WANDB_API_KEY`` above all). A variable whose NAME looks like a
secret (it contains key, token, secret, password, passwd, credential or auth) keeps its value out of ``run.json``,
archives, ``--dry-run`` output and the batch script: manifests record the name with the value ``<redacted>``, and
the value travels to the job in the environment of the submitting process (Slurm exports the caller's environment to
the job by default; the local backend passes it to the process it starts). Values of other variables are recorded,
so a run still says which ``OMP_NUM_THREADS`` it had.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "REDACTED",
    "is_secret_name",
    "redact_env",
    "redact_line",
    "redact_overrides",
    "redacted_profile",
    "secret_environment",
    "split_secret_env",
]

REDACTED = "<redacted>"
_SECRET_NAME = re.compile(r"key|token|secret|passw(?:or)?d|credential|auth", re.IGNORECASE)
# NAME=value inside a shell line (export FOO_TOKEN=abc, FOO_KEY="a b" cmd): the value of a secret-looking name.
_ASSIGNMENT = re.compile(r"""(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>"[^"]*"|'[^']*'|\S+)""")


def is_secret_name(name: str) -> bool:
    """True for variable names that usually hold credentials (``WANDB_API_KEY``, ``HF_TOKEN``, ``DB_PASSWORD``)."""
    return bool(_SECRET_NAME.search(name))


def redact_env(env: Mapping[str, Any]) -> dict[str, Any]:
    """The names of every variable, with the values of the secret-looking ones replaced by ``<redacted>``."""
    return {k: (REDACTED if is_secret_name(k) else v) for k, v in env.items()}


def redact_line(line: str) -> str:
    """A shell line with the values of secret-looking assignments replaced (``export HF_TOKEN=abc`` in ``setup:``)."""
    return _ASSIGNMENT.sub(
        lambda m: f"{m.group('name')}={REDACTED}" if is_secret_name(m.group("name")) else m.group(0), line
    )


def split_secret_env(env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(plain, secret) variables of a profile's ``env``: plain ones may be written into a batch script, secret ones
    only passed through the environment."""
    plain = {k: v for k, v in env.items() if not is_secret_name(k)}
    secret = {k: v for k, v in env.items() if is_secret_name(k)}
    return plain, secret


def redacted_profile(profile: Any) -> dict[str, Any]:
    """A cluster profile as ``run.json`` records it: every key, env names kept, secret values redacted."""
    data = dict(profile.to_dict())
    data["env"] = redact_env(data.get("env") or {})
    data["setup"] = [redact_line(str(line)) for line in data.get("setup") or []]
    options = data.get("scheduler_options") or {}
    data["scheduler_options"] = redact_env(options)
    return data


def redact_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``--set cluster.KEY=VALUE`` items as recorded: an ``env`` mapping redacted like a profile's."""
    return {
        key: (redact_env(value) if key == "env" and isinstance(value, Mapping) else value)
        for key, value in redact_env(overrides).items()
    }


@contextlib.contextmanager
def secret_environment(env: Mapping[str, str]) -> Iterator[None]:
    """Put the secret variables of a profile's ``env`` into this process's environment while a job is submitted, so
    the scheduler hands them to the job (Slurm exports the submitter's environment by default) without them being
    written into the batch script; the environment is restored afterwards."""
    _, secret = split_secret_env(env)
    saved = {k: os.environ.get(k) for k in secret}
    os.environ.update(secret)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
