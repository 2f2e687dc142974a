"""Run and policy manifest models.

They are plain dataclasses that mirror ``schemas/run_manifest.schema.json`` and ``schemas/policy_manifest.schema.json``.
``to_dict`` gives the JSON document; ``from_dict`` rebuilds the object and keeps unknown keys of newer writers in
``extra`` instead of dropping them.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

__all__ = [
    "ACTIVE_STATES",
    "RESUMABLE_STATES",
    "RUN_STATES",
    "TERMINAL_STATES",
    "ArchiveRecord",
    "Attempt",
    "CheckpointRecord",
    "PolicyManifest",
    "RunManifest",
    "RunState",
    "utc_now",
]

RunState = Literal["pending", "running", "completed", "failed", "preempted", "cancelled"]
RUN_STATES: tuple[str, ...] = ("pending", "running", "completed", "failed", "preempted", "cancelled")
# A run in one of these has ended: nothing will write to it again unless it is resumed.
TERMINAL_STATES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
# Not ended: waiting, training, or waiting to be requeued (a job may still come and write).
ACTIVE_STATES: frozenset[str] = frozenset(RUN_STATES) - TERMINAL_STATES
# Ended without completing: orch resume puts such a run back, and the same config may be submitted again.
RESUMABLE_STATES: frozenset[str] = frozenset({"failed", "cancelled"})

_T = TypeVar("_T", bound="_Model")


def utc_now() -> str:
    """ISO-8601 UTC timestamp with a timezone, the one format every manifest uses."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class _Model:
    """to_dict/from_dict for flat dataclasses whose nested values are JSON already or other _Models."""

    _nested: ClassVar[dict[str, type]] = {}
    _nested_lists: ClassVar[dict[str, type]] = {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name == "extra":
                continue
            if isinstance(value, _Model):
                value = value.to_dict()
            elif isinstance(value, list) and value and isinstance(value[0], _Model):
                value = [v.to_dict() for v in value]
            elif isinstance(value, dict) and value and isinstance(next(iter(value.values())), _Model):
                value = {k: v.to_dict() for k, v in value.items()}
            out[f.name] = value
        extra = getattr(self, "extra", None)
        if extra:
            for key, value in extra.items():
                out.setdefault(key, value)
        return out

    @classmethod
    def from_dict(cls: type[_T], data: dict[str, Any]) -> _T:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key not in names or key == "extra":
                extra[key] = value
                continue
            if key in cls._nested and isinstance(value, dict):
                value = cls._nested[key].from_dict(value)  # type: ignore[attr-defined]
            elif key in cls._nested_lists and isinstance(value, list):
                value = [cls._nested_lists[key].from_dict(v) for v in value]  # type: ignore[attr-defined]
            kwargs[key] = value
        if "extra" in names:
            kwargs["extra"] = extra
        return cls(**kwargs)


@dataclass
class Attempt(_Model):
    """One execution of a run: the first start, and each requeue after preemption or a time limit."""

    job_id: str | None = None
    node: str | None = None
    start: str | None = None
    end: str | None = None
    state: str = "running"
    reason: str | None = None


@dataclass
class CheckpointRecord(_Model):
    """A checkpoint file written by a trainer, relative to the run directory."""

    path: str
    step: int
    sha256: str
    kind: str = "step"  # step | best | final
    metrics: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=utc_now)


@dataclass
class ArchiveRecord(_Model):
    """Where and when a run was archived."""

    path: str
    sha256: str
    created_at: str = field(default_factory=utc_now)


@dataclass
class RunManifest(_Model):
    """``run.json``: everything needed to know what a run is, where it stands, and how to reproduce it."""

    SCHEMA_VERSION: ClassVar[int] = 1
    _nested_lists: ClassVar[dict[str, type]] = {
        "attempts": Attempt,
        "checkpoints": CheckpointRecord,
        "archives": ArchiveRecord,
    }

    run_id: str
    trainer: str
    name: str
    status: RunState = "pending"
    schema_version: int = 1
    created_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)
    started_at: str | None = None
    ended_at: str | None = None
    dry_run: bool = False
    seed: int | None = None
    config_path: str | None = None
    config_hash: str | None = None
    sweep_id: str | None = None
    grid_point: dict[str, Any] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)  # git_commit, git_dirty, diff_file
    versions: dict[str, str] = field(default_factory=dict)  # python, orch, torch, stable_baselines3, ...
    host: dict[str, Any] = field(default_factory=dict)  # hostname, platform, cpus, gpu
    scheduler: dict[str, Any] = field(default_factory=dict)  # backend, cluster, job_id, log paths
    attempts: list[Attempt] = field(default_factory=list)
    requeue_count: int = 0
    progress: dict[str, Any] = field(default_factory=dict)  # step, total_steps, updated_at
    metrics: dict[str, Any] = field(default_factory=dict)  # latest evaluation / iteration metrics
    checkpoints: list[CheckpointRecord] = field(default_factory=list)
    tracking: dict[str, Any] = field(default_factory=dict)  # tensorboard_dir, wandb_run_id, wandb_mode
    policy_manifest: str | None = None
    archives: list[ArchiveRecord] = field(default_factory=list)
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def touch(self) -> None:
        """Stamp ``updated_at``; every writer calls it before saving."""
        self.updated_at = utc_now()


@dataclass
class PolicyManifest(_Model):
    """``policy.json``: a trained policy as upstream's expert manifest describes it, plus what makes it loadable.

    The first nine fields are Robot SF's expert policy manifest. The rest pin the policy to the observation contract
    it was trained on (a policy trained on one key set cannot load on another), to its checkpoint bytes and to the
    code and config that made it.
    """

    policy_id: str
    version: str
    seeds: list[int]
    scenario_profile: list[str]
    metrics: dict[str, dict[str, Any]]
    checkpoint_path: str
    config_manifest: str
    validation_state: str = "draft"  # draft | approved | superseded | synthetic
    created_at: str = field(default_factory=utc_now)
    schema_version: int = 1
    trainer: str = ""
    run_id: str = ""
    observation_signature: dict[str, Any] = field(default_factory=dict)
    action_space: dict[str, Any] = field(default_factory=dict)
    checkpoint_sha256: str = ""
    config_hash: str = ""
    git_commit: str | None = None
    git_dirty: bool | None = None
    versions: dict[str, str] = field(default_factory=dict)
    metrics_best: dict[str, dict[str, Any]] = field(default_factory=dict)
    dry_run: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
