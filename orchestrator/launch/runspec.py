"""What one run is before it exists: its id, its folder, its resolved config, and the fingerprint that spots reruns.

run_id = ``<UTC yyyymmddTHHMMSSZ>-<name>-<short hash>[-s<seed>]``: sortable by time, readable by name, distinct per
resolved config (the hash) and per seed. A sweep id names one submission the same way, without the seed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunSpec", "fingerprint", "make_run_id", "make_sweep_id", "slugify", "utc_stamp"]

SHORT_HASH = 8
_SLUG = re.compile(r"[^A-Za-z0-9._]+")


def utc_stamp(when: _dt.datetime | None = None) -> str:
    """``yyyymmddTHHMMSSZ`` in UTC."""
    moment = when or _dt.datetime.now(_dt.UTC)
    return moment.astimezone(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def slugify(name: str, *, max_len: int = 48) -> str:
    """A name safe in a folder name and a scheduler job name: letters, digits, ``.``, ``_``; the rest become ``-``."""
    slug = _SLUG.sub("-", name).strip("-.") or "run"
    return slug[:max_len].rstrip("-.") or "run"


def make_run_id(name: str, config_hash: str, seed: int | None, *, when: _dt.datetime | None = None) -> str:
    """``<UTC stamp>-<name>-<short hash>[-s<seed>]``."""
    base = f"{utc_stamp(when)}-{slugify(name)}-{config_hash[:SHORT_HASH]}"
    return base if seed is None else f"{base}-s{seed}"


def make_sweep_id(names: list[str], hashes: list[str], *, when: _dt.datetime | None = None) -> str:
    """One id per submission: ``<UTC stamp>-<first name>[+N]-<hash of every config hash>``."""
    digest = hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()
    unique = list(dict.fromkeys(names))
    label = slugify(unique[0]) + (f"+{len(unique) - 1}" if len(unique) > 1 else "")
    return f"{utc_stamp(when)}-{label}-{digest[:SHORT_HASH]}"


def fingerprint(config_hash: str, seed: int | None, code: Mapping[str, Any], diff_sha256: str | None) -> str:
    """Identity of "this resolved config, this seed, this code": two runs with equal fingerprints are the same run."""
    payload = {
        "config_hash": config_hash,
        "seed": seed,
        "git_commit": code.get("git_commit"),
        "git_dirty": code.get("git_dirty"),
        "diff_sha256": diff_sha256,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to create one run directory and hand its job to a backend."""

    run_id: str
    run_dir: Path
    trainer: str
    name: str
    seed: int | None
    config_hash: str
    resolved: Mapping[str, Any]
    config_path: Path | None = None
    grid_point: Mapping[str, Any] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    sweep_id: str | None = None
    fingerprint: str = ""
    trainer_entry: Mapping[str, str] = field(default_factory=dict)
    resume: bool = False  # the run directory exists: continue it from its newest complete checkpoint (orch resume)
    # The job's class as "module:Class" (None: the job entry, RunJob); a study's workers are jobs of another kind.
    job_class: str | None = None
