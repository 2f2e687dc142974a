"""Provenance fields of a manifest: code identity (git commit, dirty flag, diff), package versions, host.

Stdlib only: the launcher calls it at submit time and the trainer on the compute node, both without torch.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["allocated_cpus", "allocated_memory_gb", "code_identity", "host_info", "package_versions"]

_DEFAULT_PACKAGES = ("orch", "torch", "stable-baselines3", "gymnasium", "numpy", "submitit", "wandb")


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout


def code_identity(path: str | os.PathLike[str] | None = None, *, diff_to: Path | None = None) -> dict[str, Any]:
    """``{git_commit, git_dirty, diff_file}`` of the repository holding ``path`` (default: this package's source).

    When the tree is dirty and ``diff_to`` is given, ``git diff HEAD`` is saved there so the exact code can be
    rebuilt. Outside a git checkout (an installed wheel) every field is None.
    """
    where = Path(path) if path else Path(__file__).resolve().parent
    if where.is_file():
        where = where.parent
    commit = _git(["rev-parse", "HEAD"], where)
    if commit is None:
        return {"git_commit": None, "git_dirty": None, "diff_file": None}
    status = _git(["status", "--porcelain", "--untracked-files=no"], where) or ""
    dirty = bool(status.strip())
    diff_file = None
    if dirty and diff_to is not None:
        diff = _git(["diff", "HEAD"], where)
        if diff:
            diff_to.parent.mkdir(parents=True, exist_ok=True)
            diff_to.write_text(diff, encoding="utf-8")
            diff_file = diff_to.name
    return {"git_commit": commit.strip(), "git_dirty": dirty, "diff_file": diff_file}


def package_versions(names: tuple[str, ...] = _DEFAULT_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (missing packages left out) plus the Python version."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def allocated_cpus() -> int:
    """CPUs this process may really use: ``SLURM_CPUS_PER_TASK``, else the CPU affinity mask, else the core count."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK")
    if slurm and slurm.isdigit() and int(slurm) > 0:
        return int(slurm)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def allocated_memory_gb() -> float | None:
    """Memory this job may use (GB): Slurm allocation, else cgroup limit, else machine total; None if unknown.

    Total, not available, memory: the answer must not change from one call to the next (it feeds ``num_envs: auto``).
    """
    per_node = os.environ.get("SLURM_MEM_PER_NODE")
    if per_node and per_node.isdigit() and int(per_node) > 0:
        return int(per_node) / 1024
    per_cpu = os.environ.get("SLURM_MEM_PER_CPU")
    if per_cpu and per_cpu.isdigit() and int(per_cpu) > 0:
        return int(per_cpu) * allocated_cpus() / 1024
    total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total = int(line.split()[1]) / 1024**2
                break
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            cgroup = int(limit) / 1024**3
            total = cgroup if total is None else min(total, cgroup)
    except OSError:
        pass
    return total


def host_info() -> dict[str, Any]:
    """Hostname, platform, allocated CPUs and the Slurm job environment if any (no GPU probe: that needs torch)."""
    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python_executable": sys.executable,
        "cpus": allocated_cpus(),
    }
    for key in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_NODELIST"):
        if key in os.environ:
            info[key.lower()] = os.environ[key]
    return info
