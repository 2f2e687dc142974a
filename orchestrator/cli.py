"""The ``orch`` command line: the only module that imports typer.

Each command parses its options, calls one domain function, and renders the result. Domain code raises
:class:`~orchestrator.errors.OrchError`; :func:`main` turns it into one line per problem and the error's exit code
(:class:`~orchestrator.errors.ExitCode`: 2 bad input, 3 an outcome that says no; no traceback). Anything else is an
internal fault: exit 1, traceback written to a file whose path is printed.
Heavy modules are imported inside command bodies so ``orch validate``/``status``/``archive`` stay fast.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from orchestrator import __version__
from orchestrator.errors import ExitCode, OrchError

# Help panels, in the order they are shown.
PANEL_CONFIG = "Config"
PANEL_RUN = "Run"
PANEL_INSPECT = "Inspect"
PANEL_ARCHIVE = "Archive"
PANEL_ENV = "Environment"

app = typer.Typer(
    name="orch",
    help="Validate, run, submit, watch and archive PPO-expert and DreamerV3 training runs.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"orch {__version__}")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """orch: one entry point for training runs, on a laptop or a Slurm cluster."""


# Shared option and argument types (declared once, used by every command).
ConfigPathsArg = Annotated[list[Path], typer.Argument(help="One or more config YAML files.", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a key: --set key.path=value (value parsed as YAML). Repeatable."),
]
ArtifactRootOpt = Annotated[
    Path | None,
    typer.Option("--artifact-root", help="Where run directories live (default: $ORCH_ARTIFACT_ROOT, else ./output)."),
]


# ----------------------------------------------------------------------------------------------------- commands
# Each command group below is kept together; add new commands next to their group.


# ------------------------------------------------------------------------------------------------ config
StrictOpt = Annotated[bool, typer.Option("--strict", help="Treat warnings (migrations, not-applicable keys) as errors")]
ResolveOpt = Annotated[bool, typer.Option("--resolve", help="Print the resolved config and observation signature.")]


@app.command("validate", rich_help_panel=PANEL_CONFIG)
def validate_command(
    configs: ConfigPathsArg,
    resolve: ResolveOpt = False,
    json_output: JsonOpt = False,
    strict: StrictOpt = False,
    overrides: SetOpt = None,
) -> None:
    """Check config files (trainer configs and cluster profiles): exit 0 valid, 2 invalid, 1 internal fault."""
    from orchestrator.config import check_config
    from orchestrator.config.report import resolved_tables, validation_document, verdict_line

    reports = [check_config(path, overrides=overrides or (), strict=strict) for path in configs]
    for warning in (w for r in reports for w in r.warnings):
        print(f"warning: {warning}", file=sys.stderr)
    if json_output:
        import json

        print(json.dumps(validation_document(reports), indent=2, default=str))
    for report in [] if json_output else reports:
        for issue in report.issues:
            print(f"error: {issue.format()}", file=sys.stderr)
        print(verdict_line(report))
        if resolve and report.resolved is not None:
            from orchestrator.console import out_console

            for table in resolved_tables(report.resolved):
                out_console.print(table)
    raise typer.Exit(ExitCode.OK if all(r.valid for r in reports) else ExitCode.USAGE)


# ------------------------------------------------------------------------------------------------ run / submit
ClusterOpt = Annotated[
    str | None,
    typer.Option("--cluster", "-c", help="Cluster profile name or YAML path (default: local). See docs/launch.md."),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show what would run; queue and write nothing real.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Run this seed (default: the config's first seed).")]


def _artifact_root(path: Path | None) -> Path:
    from orchestrator.launch.rundir import artifact_root

    return artifact_root(path)


@app.command("run", rich_help_panel=PANEL_RUN)
def run_command(
    config: Annotated[Path | None, typer.Argument(help="Config YAML.", show_default=False)] = None,
    overrides: SetOpt = None,
    seed: SeedOpt = None,
    artifact_root: ArtifactRootOpt = None,
    dry_run: DryRunOpt = False,
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Continue this run directory from its newest checkpoint.")
    ] = None,
    strict: StrictOpt = False,
) -> None:
    """Run one config here, in the foreground (exit 0 completed, 3 failed); --resume RUN_DIR continues a run."""
    from orchestrator.errors import RunFailed
    from orchestrator.launch.submit import resume_run, run_one

    if (config is None) == (resume is None):
        raise typer.BadParameter("give a CONFIG to run, or --resume RUN_DIR (not both)")
    try:
        if resume is not None:
            outcome = resume_run(resume)
        else:
            assert config is not None  # guaranteed by the check above
            outcome = run_one(config, overrides=overrides or (), seed=seed, root=artifact_root, dry_run=dry_run,
                              strict=strict)  # fmt: skip
    except RunFailed as failed:  # the line that says where the run is comes first, then the error
        _echo_outcome(failed.outcome)
        raise
    _echo_outcome(outcome)


def _echo_outcome(outcome: Any) -> None:
    if outcome is not None:
        note = " (dry run, temporary artifact root)" if outcome.dry_run else ""
        typer.echo(f"run {outcome.run_id}: {outcome.status}{note} -> {outcome.run_dir}")


@app.command("submit", rich_help_panel=PANEL_RUN)
def submit_command(
    configs: ConfigPathsArg,
    cluster: ClusterOpt = None,
    overrides: SetOpt = None,
    grid: Annotated[
        list[str] | None, typer.Option("--grid", help="Sweep a key: --grid key.path=v1,v2 (repeatable: product).")
    ] = None,
    sweep: Annotated[Path | None, typer.Option("--sweep", help="YAML with grid: and/or points: to sweep.")] = None,
    dry_run: DryRunOpt = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until every run ended; exit 3 if any did not complete.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Submit again runs identical to earlier ones.")] = False,
    artifact_root: ArtifactRootOpt = None,
    json_output: JsonOpt = False,
    strict: StrictOpt = False,
    runs_per_job: Annotated[
        int | None,
        typer.Option("--runs-per-job", help="Train N runs in one process of one job (= --set cluster.runs_per_job=N)."),
    ] = None,
) -> None:
    """Queue every config x seed x grid point as one job array (local processes or a Slurm cluster)."""
    from orchestrator.launch.submit import submit
    from orchestrator.views import submit_table

    overrides = [*(overrides or ()), *([f"cluster.runs_per_job={runs_per_job}"] if runs_per_job is not None else [])]
    result = submit(configs, cluster=cluster, overrides=overrides, grid=grid or (), sweep_file=sweep,
                    dry_run=dry_run, force=force, root=artifact_root, strict=strict)  # fmt: skip
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if json_output:
        typer.echo(json.dumps(result.to_json(), indent=2, default=str))
    elif dry_run:
        typer.echo(result.script or "")
        typer.echo(json.dumps(result.resolved, indent=2, default=str))
        typer.echo(f"dry run: {len(result.runs)} run(s) in {max(result.arrays, 1)} job(s)/array(s), nothing queued")
    else:
        _print_wide(submit_table(result))
        typer.echo(f"submitted {len(result.runs)} run(s) as sweep {result.sweep_id} on {result.cluster}")
        for line in result.next_commands():
            typer.echo(f"  next: {line}")
    if wait and not dry_run:
        _wait_and_exit(result.artifact_root, result.sweep_id)


def _wait_and_exit(root: Path, sweep_id: str) -> None:
    from orchestrator.status import wait_for

    def show(report: Any) -> None:
        counts: dict[str, int] = {}
        for row in report.runs:
            counts[row.status] = counts.get(row.status, 0) + 1
        typer.echo("waiting: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), err=True)

    report = wait_for(root, sweep_id, on_update=show)
    ended_badly = [r for r in report.runs if r.status != "completed"]
    if ended_badly:
        from orchestrator.errors import RunFailed

        raise RunFailed([f"{r.run_id} {r.status}: {r.error or 'did not complete'}" for r in ended_badly])


# ------------------------------------------------------------------------------------------------ study
def _group_defaulting_to(command: str) -> type[typer.core.TyperGroup]:
    """A command group whose first argument, when it names none of its subcommands, goes to ``command``: so
    `orch study CONFIG` means `orch study start CONFIG` and `orch archive RUN...` `orch archive create RUN...` (a run
    named like a subcommand needs the explicit one)."""

    class DefaultingGroup(typer.core.TyperGroup):
        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # ctx: click's Context (typer vendors click)
            if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
                args = [command, *args]
            return super().parse_args(ctx, args)

    return DefaultingGroup


study_app = typer.Typer(
    name="study",
    cls=_group_defaulting_to("start"),
    help="Hyperparameter studies with Optuna: orch study CONFIG [--cluster NAME] starts or continues one; "
    "orch study best STUDY prints the best parameters as a config. Watch with orch status STUDY.",
    no_args_is_help=True,
)
app.add_typer(study_app, name="study", rich_help_panel=PANEL_RUN)
StudyArg = Annotated[str, typer.Argument(help="Study name (its folder under <artifact_root>/studies/) or folder.")]


@study_app.command("start")
def study_start_command(
    config: Annotated[Path, typer.Argument(help="Study file (trials, metric, ... over a base_config).")],
    cluster: ClusterOpt = None,
    overrides: SetOpt = None,
    artifact_root: ArtifactRootOpt = None,
    dry_run: DryRunOpt = False,
    json_output: JsonOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Create or continue the study and queue its workers as one job array; each worker runs trials as runs."""
    from orchestrator.study.launch import start_study
    from orchestrator.study.views import launch_lines

    launch = start_study(config, cluster=cluster, overrides=overrides or (), root=artifact_root, dry_run=dry_run,
                         strict=strict)  # fmt: skip
    for warning in launch.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if json_output:
        typer.echo(json.dumps(launch.to_json(), indent=2, default=str))
    elif dry_run:
        typer.echo(launch.script or "")
        typer.echo(f"dry run: study {launch.name}, nothing written or queued")
    else:
        for line in launch_lines(launch):
            typer.echo(line)


@study_app.command("best")
def study_best_command(
    study: StudyArg,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the config here (default: print it).")] = None,
    artifact_root: ArtifactRootOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """The best trial's parameters as a ready-to-run config (the study's trainer config with them set)."""
    from orchestrator.study.report import best_config

    text, summary = best_config(_study_folder(_artifact_root(artifact_root), study))
    if out is not None:
        from manifests import atomic_write_text

        atomic_write_text(out, text)
        summary["out"] = str(out)
    if json_output:
        typer.echo(json.dumps(summary, indent=2, default=str))
    elif out is not None:
        typer.echo(f"best trial {summary['trial']} ({summary['metric']} = {summary['value']:.6g}) -> {out}")
    else:
        typer.echo(text, nl=False)


def _study_word(root: Path, words: list[str] | None) -> Path | None:
    """The study folder a single command-line word names (a study name or folder), else None (it names runs)."""
    if not words or len(words) != 1:
        return None
    from orchestrator.study.store import find_study

    return find_study(root, words[0])


def _study_folder(root: Path, word: str) -> Path:
    from orchestrator.study.store import StudyError, find_study

    folder = find_study(root, word)
    if folder is None:
        raise StudyError(f"no study {word!r} under {root / 'studies'} (and no study folder of that name)")
    return folder


def _study_status(root: Path, word: str, *, json_output: bool, watch: bool) -> None:
    from orchestrator.study.report import collect_study
    from orchestrator.study.views import study_renderables

    folder = _study_folder(root, word)
    if json_output:
        typer.echo(json.dumps(collect_study(folder, root=root).to_json(), indent=2, default=str))
        return
    if watch:
        _watch(lambda: study_renderables(collect_study(folder, root=root)))
        return
    report = collect_study(folder, root=root)
    from orchestrator.console import err_console

    for message in report.messages:
        err_console.print(f"warning: {message}", markup=False, highlight=False)
    for part in study_renderables(report):
        _print_wide(part)


# ------------------------------------------------------------------------------------------------ inspect runs
StallAfterOpt = Annotated[
    float, typer.Option("--stall-after", help="Minutes without progress before STALLED (at least).")
]
StallFactorOpt = Annotated[
    float, typer.Option("--stall-factor", help="...or this many median progress intervals, if longer.")
]
RunRefArg = Annotated[str, typer.Argument(help="Run id (or a unique prefix of one), or a run directory.")]
RunRefsArg = Annotated[
    list[str], typer.Argument(help="Runs: run id, unique prefix of one, sweep id, or path.", show_default=False)
]


@app.command("status", rich_help_panel=PANEL_INSPECT)
def status_command(
    targets: Annotated[
        list[str] | None,
        typer.Argument(help="Runs or sweeps: id, unique prefix, sweep id, path (default: the newest submission)."),
    ] = None,
    all_runs: Annotated[bool, typer.Option("--all", help="Every run under the artifact root.")] = False,
    state: Annotated[
        list[str] | None, typer.Option("--state", help="Only runs in this state (repeatable; 'stalled' too).")
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh a live table until Ctrl-C.")] = False,
    json_output: JsonOpt = False,
    stall_after: StallAfterOpt = 10.0,
    stall_factor: StallFactorOpt = 3.0,
    metric: Annotated[str | None, typer.Option("--metric", help="Metric to show (default: picked per run).")] = None,
    artifact_root: ArtifactRootOpt = None,
) -> None:
    """A row per run: state (STALLED too), job, progress, rate, ETA, latest metric; seeds grouped. Exit 0, 2 bad run."""
    from orchestrator.status import StallPolicy, collect_status

    root = _artifact_root(artifact_root)
    if _study_word(root, targets):
        _study_status(root, (targets or [""])[0], json_output=json_output, watch=watch)
        return
    policy = StallPolicy.from_minutes(stall_after, stall_factor)

    def report() -> Any:
        return collect_status(root, targets or None, all_runs=all_runs, states=state or (), stall=policy, metric=metric)

    if json_output:
        typer.echo(json.dumps(report().to_json(), indent=2, default=str))
    elif watch:
        _watch_status(report)
    else:
        _print_status(report())


def _print_wide(renderable: Any) -> None:
    """Full width on a terminal; wide when piped, so that ids are never cut in logs and scripts."""
    from rich.console import Console

    from orchestrator.console import out_console

    console = out_console if out_console.is_terminal else Console(width=max(out_console.width, 240), soft_wrap=True)
    console.print(renderable)


def _status_renderables(report: Any) -> list[Any]:
    from rich.text import Text

    from orchestrator.views import groups_table, resume_lines, status_table, sync_lines

    parts: list[Any] = [status_table(report)]
    groups = groups_table(report)
    if groups is not None:
        parts.append(groups)
    if not report.runs:
        parts.append(f"no runs under {report.artifact_root} match")
    parts += [Text(line) for line in resume_lines(report) + sync_lines(report)]
    return parts


def _print_status(report: Any) -> None:
    from orchestrator.console import err_console

    for message in report.messages:
        err_console.print(f"warning: {message}", markup=False, highlight=False)
    for part in _status_renderables(report):
        _print_wide(part)


def _watch_status(make_report: Callable[[], Any], interval_s: float = 2.0) -> None:
    def parts() -> list[Any]:
        report = make_report()
        return [*_status_renderables(report), *(f"[yellow]warning: {m}[/]" for m in report.messages)]

    _watch(parts, interval_s)


def _watch(make_parts: Callable[[], list[Any]], interval_s: float = 2.0) -> None:
    """Redraw ``make_parts()`` every ``interval_s`` until Ctrl-C (``--watch``)."""
    import time

    from rich.console import Group
    from rich.live import Live

    from orchestrator.console import out_console

    def frame() -> Any:
        return Group(*make_parts(), f"[dim]refreshing every {interval_s:.0f}s; Ctrl-C stops[/]")

    with Live(frame(), console=out_console, auto_refresh=False) as live:
        try:
            while True:
                time.sleep(interval_s)
                live.update(frame(), refresh=True)
        except KeyboardInterrupt:  # the way out of --watch: not an error
            return


@app.command("logs", rich_help_panel=PANEL_INSPECT)
def logs_command(
    run: RunRefArg,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing as the run writes, until it ends.")
    ] = False,
    stderr: Annotated[bool, typer.Option("--stderr", help="Show the error stream instead of the output.")] = False,
    attempt: Annotated[int | None, typer.Option("--attempt", help="Attempt K (1 = first; default: latest).")] = None,
    artifact_root: ArtifactRootOpt = None,
) -> None:
    """Print a run's output (per attempt; requeues start a new attempt). Exit 0, 2 unknown run or attempt."""
    from orchestrator.logs import follow_log, locate_log, read_log

    source = locate_log(_artifact_root(artifact_root), run, stderr=stderr, attempt=attempt)
    origin = "scheduler log" if source.from_scheduler else f"attempt {source.attempt} of {max(source.attempts, 1)}"
    typer.echo(f"==> {source.path} ({origin}) <==", err=True)
    if not follow:
        sys.stdout.write(read_log(source))
        return
    for chunk in follow_log(source, follow_attempts=attempt is None):
        sys.stdout.write(chunk)
        sys.stdout.flush()


@app.command("cancel", rich_help_panel=PANEL_RUN)
def cancel_command(
    targets: RunRefsArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (only a terminal is asked anyway).")] = False,
    artifact_root: ArtifactRootOpt = None,
) -> None:
    """Stop a run or every run of a sweep; mark cancelled only those stopped. Exit 0, 1 declined, 2 bad name, 3 left."""
    from orchestrator.cancel import cancel_runs, plan_cancel
    from orchestrator.runref import resolve_runs

    study = _study_word(_artifact_root(artifact_root), targets)
    if study is not None:
        _cancel_study(_artifact_root(artifact_root), study, yes=yes)
        return
    runs, ended = plan_cancel(resolve_runs(_artifact_root(artifact_root), targets))
    if not runs:
        typer.echo(f"nothing to cancel: {len(ended)} run(s) already ended")
        return
    if not yes and sys.stdin.isatty():
        typer.confirm(f"cancel {len(runs)} run(s) ({', '.join(t.run_id for t in runs[:3])}...)?", abort=True)
    result = cancel_runs(runs)
    finished = f"; {len(result.skipped)} finished first" if result.skipped else ""
    typer.echo(f"cancelled {len(result.cancelled)} run(s); {len(ended)} had already ended{finished}")
    if not result.complete:
        from orchestrator.errors import NotAllDone

        left = [f"{run_id} is still running: {why}" for run_id, why in result.left_running.items()]
        raise NotAllDone([*left, f"not cancelled: {len(result.left_running)} run(s) left running"])


def _cancel_study(root: Path, folder: Path, *, yes: bool) -> None:
    from orchestrator.study.cancel import cancel_study

    if not yes and sys.stdin.isatty():
        typer.confirm(f"stop every worker of study {folder.name}?", abort=True)
    result = cancel_study(root, folder)
    typer.echo(
        f"study {result.name}: stopped {len(result.stopped)} worker job(s), {len(result.runs_cancelled)} trial run(s) "
        f"cancelled; orch study CONFIG continues it (their trials are asked again)"
    )
    if result.left_running:
        from orchestrator.errors import NotAllDone

        raise NotAllDone([f"{job_id} is still running: {why}" for job_id, why in result.left_running.items()])


@app.command("resume", rich_help_panel=PANEL_RUN)
def resume_command(
    targets: Annotated[
        list[str] | None, typer.Argument(help="Runs: run id, unique prefix, sweep id, path. With --stalled: optional.")
    ] = None,
    cluster: Annotated[
        str | None, typer.Option("--cluster", "-c", help="Another cluster profile (default: the one in run.json).")
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Change the profile: --set cluster.time_min=2880. Repeatable.")
    ] = None,
    stalled: Annotated[
        bool, typer.Option("--stalled", help="Restart the runs shown STALLED (cancel, then resume); cron-safe.")
    ] = False,
    stall_after: StallAfterOpt = 10.0,
    stall_factor: StallFactorOpt = 3.0,
    artifact_root: ArtifactRootOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Resubmit failed, cancelled, timed-out or vanished runs: newest checkpoint, same run dir and W&B run."""
    from orchestrator.launch.clusters import split_cluster_overrides
    from orchestrator.resume import restart_stalled, resume_runs
    from orchestrator.runref import resolve_runs
    from orchestrator.status import StallPolicy

    root = _artifact_root(artifact_root)
    config_overrides, cluster_overrides = split_cluster_overrides(overrides or ())
    if config_overrides:
        raise typer.BadParameter("a resumed run keeps its config; --set takes only cluster.KEY=VALUE here")
    policy = StallPolicy.from_minutes(stall_after, stall_factor)
    if stalled:
        result = restart_stalled(root, targets, stall=policy, cluster=cluster, cluster_overrides=cluster_overrides)
    elif not targets:
        raise typer.BadParameter("name the runs to resume (run id, prefix, sweep id, path), or pass --stalled")
    else:
        dirs = resolve_runs(root, targets)
        result = resume_runs(dirs, root=root, cluster=cluster, cluster_overrides=cluster_overrides)
    _print_resume(result, json_output, stalled)


def _print_resume(result: Any, json_output: bool, stalled: bool) -> None:
    if json_output:
        doc = {k: getattr(result, k) for k in ("resumed", "refused", "skipped", "clusters")}
        typer.echo(json.dumps({"schema_version": 1, **doc}, indent=2))
    else:
        for run_id, job_id in result.resumed.items():
            typer.echo(f"resumed {run_id} as job {job_id} on {result.clusters.get(run_id)}")
        for run_id, why in result.skipped.items():
            typer.echo(f"skipped {run_id}: {why}")
        if not (result.resumed or result.refused or result.skipped):
            typer.echo("no stalled runs" if stalled else "nothing to resume")
    for note in result.notes:
        typer.echo(f"warning: {note}", err=True)
    if result.refused:  # some resumed: the outcome is partly no (3); none resumed: every name was refused (2)
        from orchestrator.errors import LaunchError, NotAllDone

        refused = [f"{run_id} not resumed: {why}" for run_id, why in result.refused.items()]
        raise NotAllDone(refused) if result.resumed else LaunchError(refused)


@app.command("sync", rich_help_panel=PANEL_RUN)
def sync_command(
    targets: RunRefsArg,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be uploaded; upload nothing.")] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds one run's upload may take before it counts as failed.")
    ] = 900.0,
    artifact_root: ArtifactRootOpt = None,
) -> None:
    """Upload offline W&B runs (compute nodes log offline): one W&B run per orch run. Exit 0, 2 bad input, 3 failed."""
    import math

    from orchestrator.runref import resolve_runs
    from orchestrator.sync import plan_sync, sync_runs, wandb_sync_command

    if not math.isfinite(timeout) or timeout <= 0:
        raise OrchError(f"--timeout must be a positive number of seconds, got {timeout}")
    items = plan_sync(resolve_runs(_artifact_root(artifact_root), targets))
    if dry_run:
        for item in items:
            typer.echo(f"{item.run_id}: {len(item.files)} file(s) to upload")
            if item.files:
                typer.echo("  " + " ".join(wandb_sync_command(item)))
        return
    result = sync_runs(items, timeout_s=timeout)
    for run_id, count in result.synced.items():
        typer.echo(f"synced {run_id}: {count} file(s)")
    typer.echo(f"{len(result.synced)} run(s) synced, {len(result.nothing)} had nothing to upload")
    if result.failed:
        from orchestrator.errors import NotAllDone

        raise NotAllDone([f"{run_id} not synced: {why}" for run_id, why in result.failed.items()])


# ------------------------------------------------------------------------------------------------ eval / bench
@app.command("eval", rich_help_panel=PANEL_INSPECT)
def eval_command(
    run: RunRefArg,
    episodes: Annotated[int, typer.Option("--episodes", "-n", help="Episodes to play.")] = 10,
    stochastic: Annotated[bool, typer.Option("--stochastic", help="Sample actions, not the greedy mode.")] = False,
    json_out: JsonOpt = False,
    artifact_root: ArtifactRootOpt = None,
) -> None:
    """Play a trained run's policy; write eval/<time>/trajectories.jsonl and summary.json. Exit 0, 2 bad run."""
    from orchestrator.evaluation import evaluate_run

    summary = evaluate_run(_artifact_root(artifact_root), run, episodes=episodes, stochastic=stochastic)
    if json_out:
        typer.echo(json.dumps(summary))
        return
    ret = summary["episode_return"]
    where = f"{summary['checkpoint_kind']} checkpoint, step {summary['checkpoint_step']}"
    typer.echo(f"{summary['episodes']} episodes ({where}): return mean {ret['mean']:.3f}, median {ret['median']:.3f}")
    typer.echo(f"trajectories: {summary['trajectories']}\nsummary: {summary['summary']}")


@app.command("bench", rich_help_panel=PANEL_INSPECT)
def bench_command(
    trainer: Annotated[str, typer.Argument(help="Trainer to benchmark (dreamerv3).")],
    size: Annotated[str | None, typer.Option("--size", help="Paper model size XS|S|M|L|XL (default: R).")] = None,
    updates: Annotated[int, typer.Option("--updates", help="Timed updates.")] = 3,
    threads: Annotated[int, typer.Option("--threads", help="torch threads.")] = 2,
) -> None:
    """Time the learner: prints ONE JSON object (env steps/s, updates/s, replay, world-model, actor-critic ms)."""
    from orchestrator.evaluation import bench_trainer

    typer.echo(json.dumps(bench_trainer(trainer, size=size, updates=updates, threads=threads)))


# ---------------------------------------------------------------------------------------------- validate
PANEL_VALIDATE = "Validate"

gate_app = typer.Typer(
    name="gate",
    help="Validation gates: freeze baselines, compare runs with them, run the CPU and GPU gate suites.",
    no_args_is_help=True,
)
app.add_typer(gate_app, name="gate", rich_help_panel=PANEL_VALIDATE)

RunPathsArg = Annotated[
    list[str], typer.Argument(help="Runs: run id, unique prefix of one, sweep id, run directory or a folder of them.")
]


def _run_dirs(words: list[str], artifact_root: Path | None) -> list[Path]:
    from orchestrator.runref import resolve_runs

    return resolve_runs(_artifact_root(artifact_root), words)


TolOpt = Annotated[
    list[str] | None,
    typer.Option("--tol", help="Tolerance override: key=value or metric.key=value (rtol=0.2). Repeatable."),
]
BaselinesDirOpt = Annotated[
    Path | None,
    typer.Option("--baselines-dir", help="Where baselines live (default: $ORCH_BASELINES_DIR, else baselines/)."),
]


def _print_gate(passed: bool, verdict: str, summary: object, *, quiet: bool) -> None:
    from orchestrator.console import out_console

    if not quiet:
        out_console.print_json(json.dumps(summary, default=str))
    out_console.print(verdict, markup=False, highlight=False)
    if not passed:
        from orchestrator.errors import GateFailed

        raise GateFailed(f"the runs did not pass the gate: {verdict.splitlines()[-1]}")


@gate_app.command("baseline")
def gate_baseline_command(
    runs: RunPathsArg,
    name: Annotated[str, typer.Option("--name", help="Baseline name: stored as baselines/NAME.json.")],
    gate: Annotated[str | None, typer.Option("--gate", help="dreamer_standing_still|dreamer_full|ppo.")] = None,
    tol: TolOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing baseline (on purpose).")] = False,
    baselines_dir: BaselinesDirOpt = None,
    artifact_root: ArtifactRootOpt = None,
) -> None:
    """Freeze medians of a gate's key metrics over step ranges of RUNS (seeds of one config) as a baseline."""
    from orchestrator.gate.baseline import create_baseline
    from orchestrator.gate.profiles import parse_tolerance_overrides

    command = "orch gate baseline " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else None
    path, doc = create_baseline(
        _run_dirs(runs, artifact_root), name=name, gate=gate, tolerances=parse_tolerance_overrides(tol), force=force,
        directory=baselines_dir, command=command,
    )  # fmt: skip
    ranges = sum(len(m["ranges"]) for m in doc["metrics"].values())
    typer.echo(f"baseline {name} ({doc['gate']}, {len(doc['runs'])} run(s), {ranges} step ranges) -> {path}")


@gate_app.command("compare")
def gate_compare_command(
    runs: RunPathsArg,
    baseline: Annotated[str, typer.Option("--baseline", help="Baseline name (or path to its JSON).")],
    tol: TolOpt = None,
    baselines_dir: BaselinesDirOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the verdict line.")] = False,
    artifact_root: ArtifactRootOpt = None,
) -> None:
    """Check RUNS against a baseline: JSON summary, then one PASS/FAIL line; exit 3 on failure."""
    from orchestrator.gate.compare import compare_with_baseline
    from orchestrator.gate.profiles import parse_tolerance_overrides

    result = compare_with_baseline(
        _run_dirs(runs, artifact_root),
        baseline=baseline,
        overrides=parse_tolerance_overrides(tol),
        directory=baselines_dir,
    )
    _print_gate(result.passed, result.verdict, result.summary, quiet=quiet)


WorkdirOpt = Annotated[Path | None, typer.Option("--workdir", help="Keep the gate's runs here (default: a tmp dir).")]
RecordOpt = Annotated[
    bool, typer.Option("--record-baseline", help="Store the standing-still run as the baseline (refresh on purpose).")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the PASS/FAIL/SKIP lines.")]


def _part_printer(quiet: bool) -> Callable[[Any], None]:
    def show(part: Any) -> None:
        from orchestrator.console import out_console

        if not quiet:
            out_console.print_json(json.dumps(part.to_json(), default=str))
        out_console.print(part.line, markup=False, highlight=False)

    return show


def _end_suite(suite: Any) -> None:
    """The suite's verdict line; a failed suite ends with exit code 3."""
    verdict = suite.verdict.splitlines()[-1]
    typer.echo(verdict)
    if not suite.passed:
        from orchestrator.errors import GateFailed

        raise GateFailed(f"gate {suite.suite} failed: {', '.join(p.name for p in suite.parts if p.status == 'fail')}")


@gate_app.command("cpu")
def gate_cpu_command(workdir: WorkdirOpt = None, record: RecordOpt = False, quiet: QuietOpt = False) -> None:
    """Dreamer math + RSSM tests, a 1-2 update CPU train smoke, a deterministic standing-still run vs its baseline."""
    from orchestrator.gate.gates import run_cpu_gate

    suite = run_cpu_gate(workdir=workdir, record=record, on_part=_part_printer(quiet))
    _end_suite(suite)


@gate_app.command("gpu")
def gate_gpu_command(workdir: WorkdirOpt = None, record: RecordOpt = False, quiet: QuietOpt = False) -> None:
    """CUDA smoke, standing-still and task gates, no device-to-host copies in an update, replay pointer stability."""
    from orchestrator.gate.gates import run_gpu_gate

    suite = run_gpu_gate(workdir=workdir, record=record, on_part=_part_printer(quiet))
    _end_suite(suite)


@app.command("plot", rich_help_panel=PANEL_VALIDATE)
def plot_command(
    runs: RunPathsArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")],
    metric: Annotated[list[str] | None, typer.Option("--metric", "-m", help="Metric to draw. Repeatable.")] = None,
    x: Annotated[str, typer.Option("--x", help="x axis: env_steps or wall_time.")] = "env_steps",
    artifact_root: ArtifactRootOpt = None,
) -> None:
    """Learning curves (seeds as mean and 95% band, configs overlaid); Dreamer runs add world-model panels.
    A study name draws its optimisation history, intermediate values and parameter importances."""
    from orchestrator.plots import plot_runs

    study = _study_word(_artifact_root(artifact_root), runs)
    if study is not None:
        from orchestrator.study.plots import plot_study

        drawn = plot_study(study, out)
        for path in drawn.files:
            typer.echo(f"wrote {path}")
        for label, why in drawn.skipped.items():
            typer.echo(f"not drawn: {label}: {why}", err=True)
        return
    result = plot_runs(_run_dirs(runs, artifact_root), out=out, metrics=metric, x_axis=x)
    for path in result.files:
        typer.echo(f"wrote {path}")
    if result.skipped:
        typer.echo(f"no data to draw for: {', '.join(result.skipped)}", err=True)


# ----------------------------------------------------------------------------------------------- archive
# `orch archive RUN...` is short for `orch archive create RUN...` (_group_defaulting_to).
archive_app = typer.Typer(
    name="archive",
    cls=_group_defaulting_to("create"),
    help="Checksummed .tar.zst archives of runs: create (orch archive RUN... --dest DIR), verify, restore, list.",
    no_args_is_help=True,
)
app.add_typer(archive_app, name="archive", rich_help_panel=PANEL_ARCHIVE)


class CheckpointsChoice(StrEnum):
    all = "all"
    best = "best"
    final = "final"
    none = "none"


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # pragma: no cover


@archive_app.command("create")
def archive_create_command(
    runs: Annotated[list[str], typer.Argument(help="Run directories, run ids, sweep folders or sweep ids.")],
    dest: Annotated[Path, typer.Option("--dest", help="Folder to write <run_id>.tar.zst and its manifest into.")],
    checkpoints: Annotated[
        CheckpointsChoice, typer.Option("--checkpoints", help="Which checkpoints to take (with their sidecars).")
    ] = CheckpointsChoice.all,
    include_wandb: Annotated[bool, typer.Option("--include-wandb", help="Also archive wandb/.")] = False,
    level: Annotated[int, typer.Option("--level", min=1, max=22, help="zstd compression level.")] = 3,
    allow_running: Annotated[
        bool, typer.Option("--allow-running", help="Archive running runs too (only complete checkpoints).")
    ] = False,
    artifact_root: ArtifactRootOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write one checksummed .tar.zst per run (or per run of a sweep), a manifest beside it; record it in run.json."""
    from orchestrator.archive import ArchiveOptions, archive_runs, default_artifact_root, resolve_targets
    from orchestrator.console import ByteProgress, err_console, out_console

    root = default_artifact_root(artifact_root)
    options = ArchiveOptions(
        dest=dest, checkpoints=checkpoints.value, include_wandb=include_wandb, level=level, allow_running=allow_running
    )
    study = _study_word(root, runs)
    if study is not None:  # a study: its journal and every trial's run in one archive
        from orchestrator.study.archive import archive_study
        from orchestrator.study.store import study_runs

        results = [archive_study(study, study_runs(root, study), options, ByteProgress())]
    else:
        results = archive_runs(resolve_targets(runs, root), options, ByteProgress())
    for r in results:
        for warning in r.warnings + r.notes:
            err_console.print(f"warning: {warning}", markup=False, highlight=False)
    if json_out:
        out_console.print_json(data=[r.to_json() for r in results])
        return
    for r in results:
        ratio = f"{_human(r.total_size)} -> {_human(r.size)}"
        left = f", {len(r.left_out)} left out (see {r.manifest_path.name})" if r.left_out else ""
        typer.echo(f"archived {r.run_id} -> {r.archive} ({r.files} files, {ratio}, {r.seconds:.1f} s{left})")


@archive_app.command("verify")
def archive_verify_command(
    archives: Annotated[list[Path], typer.Argument(help="Archive files (.tar.zst).")],
    json_out: JsonOpt = False,
) -> None:
    """Recompute every checksum; report missing, changed and extra files. Exit 3 when any archive is damaged."""
    from orchestrator.archive import verify_archive
    from orchestrator.console import ByteProgress, out_console

    reports = [verify_archive(a, ByteProgress()) for a in archives]
    if json_out:
        out_console.print_json(data=[r.to_json() for r in reports])
    for r in reports:
        if r.ok and not json_out:
            typer.echo(f"ok {r.archive} ({r.run_id}, {r.files} files)")
    damaged = [line for r in reports for line in r.lines()]
    if damaged:
        from orchestrator.errors import ArchiveDamaged

        raise ArchiveDamaged(damaged)


@archive_app.command("restore")
def archive_restore_command(
    archive: Annotated[Path, typer.Argument(help="Archive file (.tar.zst).")],
    into: Annotated[Path, typer.Option("--into", help="Folder to restore into: the run becomes INTO/<run_id>/.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing run folder of that name.")] = False,
) -> None:
    """Unpack an archive safely, checking every checksum; the run appears only when all of it verifies."""
    from orchestrator.archive import restore_archive
    from orchestrator.console import ByteProgress

    result = restore_archive(archive, into, force=force, progress=ByteProgress())
    verb = "replaced" if result.replaced else "restored"
    typer.echo(f"{verb} {result.run_id} -> {result.target} ({result.files} files, {_human(result.total_size)})")


@archive_app.command("list")
def archive_list_command(
    folder: Annotated[Path, typer.Argument(help="Folder holding archives (an --dest of orch archive).")],
    json_out: JsonOpt = False,
) -> None:
    """Run id, trainer, status, best metric, size and date of every archive in FOLDER."""
    from orchestrator.archive import list_archives
    from orchestrator.console import make_table, out_console

    rows = list_archives(folder)
    if json_out:
        out_console.print_json(data=[r.to_json() for r in rows])
        return
    table = make_table("run id", "trainer", "status", "best metric", "size", "date", "archive")
    for r in rows:
        name = r.archive.name + (f" ({r.problem})" if r.problem else "")
        date = r.created_at[:16].replace("T", " ")
        table.add_row(r.run_id, r.trainer, r.status, r.best_metric, _human(r.size), date, name)
    out_console.print(table)


# ----------------------------------------------------------------------------------------------- environment
env_app = typer.Typer(
    name="env", help="Look at and check scenario matrices, on the embedded simulator or Robot SF.", no_args_is_help=True
)
app.add_typer(env_app, name="env", rich_help_panel=PANEL_ENV)
ScenarioFileArg = Annotated[Path, typer.Argument(help="A scenario matrix YAML (Robot SF format).", show_default=False)]
BackendOpt = Annotated[str, typer.Option("--backend", help="embedded (orch's simulator) or robot_sf (Robot SF).")]


@env_app.command("check")
def env_check_command(
    scenario_file: ScenarioFileArg,
    steps: Annotated[int, typer.Option("--steps", help="Random-action steps per scenario.")] = 200,
    contract: Annotated[str, typer.Option("--contract", help="socnav_grid or drive_state_rays.")] = "socnav_grid",
    backend: BackendOpt = "embedded",
    json_out: JsonOpt = False,
) -> None:
    """Run every scenario with random actions: loaded, steps/s, space == contract, episodes, collisions."""
    from orchestrator.console import make_table, out_console
    from orchestrator.envtools import check_scenarios

    results = check_scenarios(scenario_file, steps=steps, contract=contract, backend=backend)
    if json_out:
        out_console.print_json(data={"ok": all(r.ok for r in results), "scenarios": [r.to_json() for r in results]})
    else:
        table = make_table("scenario", "ok", "peds", "steps/s", "space", "episodes", "collisions", "error")
        for r in results:
            row = (r.scenario, "yes" if r.ok else "NO", str(r.pedestrians), f"{r.steps_per_s:.0f}")
            table.add_row(*row, "ok" if r.space_ok else "MISMATCH", str(r.episodes), str(r.collisions), r.error)
        out_console.print(table)
    failed = [r for r in results if not r.ok]
    if failed:
        from orchestrator.errors import EnvCheckFailed

        raise EnvCheckFailed([f"scenario {r.scenario} failed its check: {r.error or 'see the table'}" for r in failed])


@env_app.command("preview")
def env_preview_command(
    scenario_file: ScenarioFileArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")],
    scenario: Annotated[str | None, typer.Option("--scenario", help="Scenario name (default: the first).")] = None,
    backend: BackendOpt = "embedded",
) -> None:
    """Draw a scenario's map, routes, pedestrians and robot beside the robot's occupancy grid."""
    from orchestrator.envtools import preview

    typer.echo(f"wrote {preview(scenario_file, out, scenario=scenario, backend=backend)}")


# ------------------------------------------------------------------------------------------------ entry point
def _report_internal_fault(exc: BaseException) -> int:
    fd, path = tempfile.mkstemp(prefix="orch-crash-", suffix=".txt")
    with os.fdopen(fd, "w") as handle:
        traceback.print_exception(exc, file=handle)
    print(f"orch: internal error: {type(exc).__name__}: {exc} (traceback in {path})", file=sys.stderr)
    return ExitCode.INTERNAL


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run the app and map errors to exit codes (:class:`ExitCode`, in the README)."""
    try:
        app(args=argv, prog_name="orch", standalone_mode=True)
    except SystemExit as exc:  # typer/click end every command this way; usage errors come as code 2
        code = exc.code
        return code if isinstance(code, int) else (ExitCode.OK if code is None else ExitCode.INTERNAL)
    except OrchError as exc:
        for line in exc.lines():
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:
        return _report_internal_fault(exc)
    return ExitCode.OK


def run() -> None:
    """Console-script wrapper that exits with :func:`main`'s code."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
