"""``orch study CONFIG``: create or continue a study and queue its workers as one job array.

Everything is checked before anything is written: the study file (``orchestrator.study.config``), the cluster
profile. Then, under the study lock: ``study.json`` is created (or, for a study that exists, compared with this
file: what it optimises must be the same; ``trials``, ``parallel``, pruner and sampler may change), the journal's
study created or loaded, the trials of dead workers failed and asked again, and as many workers queued as the study
still needs (``parallel``, at most the trials left, less the workers of earlier submissions still pending or
running). Running it again after every worker was killed continues the same study.
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from manifests import utc_now
from orchestrator.launch.backend import backend_class, make_backend
from orchestrator.launch.clusters import ClusterProfile, load_cluster, split_cluster_overrides
from orchestrator.launch.rundir import artifact_root
from orchestrator.launch.runspec import RunSpec, utc_stamp
from orchestrator.launch.secrets import redacted_profile
from orchestrator.study.config import StudyDefinition, load_study
from orchestrator.study.store import STUDY_JSON, StudyError, read_study, study_dir, study_lock, update_study
from orchestrator.study.trials import fail_stale, tally

__all__ = ["StudyLaunch", "prepare_study", "start_study"]

WORKER_CLASS = "orchestrator.study.worker:StudyWorker"
JOBS = ".jobs"
# What may differ between two submissions of one study (the rest is the study's identity: definition_hash).
_MAY_CHANGE = ("trials", "parallel", "pruner", "sampler", "enqueue", "max_failed_trials", "log_level", "seed", "notes")


@dataclass
class StudyLaunch:
    """What ``orch study`` did (or, with dry_run, would do)."""

    name: str
    folder: Path
    trainer: str
    cluster: str
    backend: str
    artifact_root: Path
    trials: int
    created: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    workers: list[dict[str, Any]] = field(default_factory=list)
    alive_workers: list[str] = field(default_factory=list)
    failed_stale: list[int] = field(default_factory=list)
    dry_run: bool = False
    script: str | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def next_commands(self) -> list[str]:
        if self.dry_run:
            return []
        root = (
            ""
            if self.artifact_root == artifact_root(None)
            else f" --artifact-root {shlex.quote(str(self.artifact_root))}"
        )
        return [
            f"orch status {self.name}{root}",
            f"orch study best {self.name}{root}",
            f"orch plot {self.name} --out {self.name}.png{root}",
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "study": self.name,
            "folder": str(self.folder),
            "trainer": self.trainer,
            "cluster": self.cluster,
            "backend": self.backend,
            "artifact_root": str(self.artifact_root),
            "trials": self.trials,
            "created": self.created,
            "counts": self.counts,
            "workers": self.workers,
            "alive_workers": self.alive_workers,
            "failed_stale": self.failed_stale,
            "dry_run": self.dry_run,
            "script": self.script,
            "warnings": self.warnings,
            "notes": self.notes,
            "next": self.next_commands(),
        }


def _throttle(profile: ClusterProfile) -> int | None:
    """How many jobs of one submission the profile runs at once (None: no limit)."""
    if profile.array_parallelism:
        return int(profile.array_parallelism)
    if profile.backend == "local":
        from orchestrator.launch.local import default_parallelism

        return default_parallelism(profile.cpus_per_task)
    return None


def _worker_specs(definition: StudyDefinition, folder: Path, count: int) -> list[RunSpec]:
    from trainers.registry import get_trainer

    entry = get_trainer(definition.trainer)
    return [
        RunSpec(
            run_id=f"{definition.name}-worker{i}",
            run_dir=folder,
            trainer=definition.trainer,
            name=definition.name,
            seed=None,
            config_hash=definition.definition_hash(),
            resolved={},
            sweep_id=definition.name,
            trainer_entry={"spec_module": entry.spec_module, "entry_point": entry.entry_point},
            job_class=WORKER_CLASS,
        )
        for i in range(count)
    ]


def start_study(
    config: Path,
    *,
    cluster: str | None = None,
    overrides: Sequence[str] = (),
    root: Path | str | None = None,
    dry_run: bool = False,
    strict: bool = False,
) -> StudyLaunch:
    """Check the study file and profile, create or continue the study, and queue the workers it needs."""
    config_overrides, cluster_overrides = split_cluster_overrides(overrides)
    definition, warnings = load_study(config, overrides=config_overrides, strict=strict)
    profile = load_cluster(cluster, cluster_overrides)
    _check_can_run(profile, dry_run)
    base = artifact_root(root)
    folder = study_dir(base, definition.name)
    workers = definition.workers(_throttle(profile))
    at_once = min(workers, profile.array_parallelism) if profile.array_parallelism else workers
    profile = dataclasses.replace(profile, array_parallelism=at_once)
    launch = StudyLaunch(definition.name, folder, definition.trainer, profile.name, profile.backend, base,
                         definition.trials, dry_run=dry_run, warnings=list(warnings))  # fmt: skip
    if at_once < workers:
        launch.notes.append(
            f"cluster profile {profile.name} runs at most {at_once} jobs at once: {workers - at_once} of the {workers} "
            "workers wait in the queue"
        )
    backend = make_backend(profile, base / JOBS / definition.name / utc_stamp())
    backend.check()
    if dry_run:
        launch.script = backend.preview(_worker_specs(definition, folder, workers))
        launch.created = not (folder / STUDY_JSON).exists()
        return launch
    with study_lock(folder):
        launch.created = _create_or_check(folder, definition, Path(config))
        study = _open(folder, definition, launch.created)
        launch.failed_stale = fail_stale(study, base, folder)
        launch.counts = tally(study)
        launch.alive_workers = _alive_workers(read_study(folder))
        left = definition.trials - launch.counts["finished"]
        wanted = min(workers, left) - len(launch.alive_workers)
        if left <= 0:
            launch.notes.append(f"study {definition.name} has its {definition.trials} trials; nothing to queue")
        elif wanted <= 0:
            launch.notes.append(
                f"{len(launch.alive_workers)} worker(s) of this study are still pending or running; nothing to queue"
            )
        else:
            _queue(launch, backend, profile, _worker_specs(definition, folder, wanted))
    return launch


def _check_can_run(profile: ClusterProfile, dry_run: bool) -> None:
    """Refuse, before anything is written, a backend that cannot run workers, or an install that lacks Optuna (or,
    for workers on this machine, the trainers)."""
    if profile.backend not in ("local", "slurm"):
        raise StudyError(f"cluster profile {profile.name}: a study runs its workers on a local or slurm backend")
    if dry_run:
        return
    from orchestrator.study.engine import require_optuna

    require_optuna()
    if profile.backend == "local":  # the workers train here
        from orchestrator.extras import require_extra

        require_extra("train", "orch study on the local backend")


def _queue(launch: StudyLaunch, backend: Any, profile: ClusterProfile, specs: list[RunSpec]) -> None:
    """Submit the workers as one array and record the submission in ``study.json`` (the caller holds the lock)."""
    handles = backend.submit(specs)
    launch.workers = [
        {"job_id": h.job_id, "array_id": h.array_id, "stdout": h.stdout, "stderr": h.stderr} for h in handles
    ]
    entry = {
        "at": utc_now(),
        "by": "orch study",
        "backend": profile.backend,
        "cluster": profile.name,
        "profile": redacted_profile(profile),
        "workdir": str(backend.workdir),
        "submit_host": socket.gethostname(),
        "max_requeues": profile.max_requeues,
        "workers": len(handles),
        "job_ids": [h.job_id for h in handles],
        "stdout": [h.stdout for h in handles],
    }
    update_study(launch.folder, lambda data: data["submissions"].append(entry))


def prepare_study(
    config: Path, *, root: Path | str | None = None, overrides: Sequence[str] = (), strict: bool = False
) -> tuple[StudyDefinition, Path]:
    """Create (or check and continue) the study of ``config`` without queueing workers: for a worker run in this
    process (tests, a debugger). Returns the definition and the study folder."""
    definition, _ = load_study(config, overrides=overrides, strict=strict)
    folder = study_dir(artifact_root(root), definition.name)
    with study_lock(folder):
        created = _create_or_check(folder, definition, Path(config))
        _open(folder, definition, created)
    return definition, folder


def _create_or_check(folder: Path, definition: StudyDefinition, config: Path) -> bool:
    """Write ``study.json`` for a new study (True), or check that this file continues the existing one and record
    what may change (False). A different objective, space or trainer config is a different study: refused."""
    document = definition.to_json()
    if not (folder / STUDY_JSON).exists():
        update_study(folder, lambda data: data.update(name=definition.name, definition=document), create=True)
        if config.is_file():
            shutil.copyfile(config, folder / "config.yaml")
        return True
    stored = StudyDefinition.from_json(read_study(folder)["definition"])
    if stored.definition_hash() != definition.definition_hash():
        fields = [
            f.name
            for f in dataclasses.fields(StudyDefinition)
            if f.name not in (*_MAY_CHANGE, "config_path", "files", "name", "trial_name")
            and getattr(stored, f.name) != getattr(definition, f.name)
        ]
        raise StudyError(
            f"study {definition.name} in {folder} was created with another {', '.join(fields) or 'definition'}; "
            "a study's trials must be comparable: give this search another study_name (or restore the file)"
        )

    def change(data: dict[str, Any]) -> None:
        data["definition"] = {**data["definition"], **{k: document[k] for k in _MAY_CHANGE}}
        data["definition"]["config_path"] = document["config_path"]

    update_study(folder, change)
    return False


def _open(folder: Path, definition: StudyDefinition, created: bool) -> Any:
    from orchestrator.study import engine

    study = engine.create_or_load(folder, definition)
    if created:
        for params in definition.enqueue:
            study.enqueue_trial(dict(params), skip_if_exists=True)
    return study


def _alive_workers(manifest: dict[str, Any]) -> list[str]:
    """Job ids of earlier submissions' workers that are still pending or running (asked now)."""
    alive: list[str] = []
    for submission in manifest.get("submissions") or ():
        ids = [str(j) for j in submission.get("job_ids") or () if j]
        if not ids:
            continue
        backend = backend_class(str(submission.get("backend") or "local"))
        if backend.unreachable(submission) is not None:
            raise StudyError(
                f"workers of study {manifest.get('name')} were queued from {submission.get('submit_host')}: "
                "run orch study there (their processes are not visible from here)"
            )
        try:
            answer = backend.alive(ids)
        except OSError as exc:
            raise StudyError(f"cannot ask the scheduler whether earlier workers still run ({exc}); try again") from None
        alive += [j for j in ids if answer.get(j)]
    return alive
