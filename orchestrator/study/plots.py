"""``orch plot STUDY --out FILE``: Optuna's own matplotlib figures of a study.

Three files next to ``--out`` (``<stem>_history.png``, ``<stem>_intermediate.png``, ``<stem>_importances.png``):
the optimisation history (each trial's value and the best so far), the intermediate values (every trial's objective
at each evaluation, pruned trials ending where they were stopped) and the parameter importances (fANOVA when
scikit-learn is installed, Optuna's PED-ANOVA otherwise). A figure that cannot be drawn yet (importances need two
complete trials) is named with the reason instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.study.config import StudyDefinition
from orchestrator.study.store import StudyError, read_study

__all__ = ["StudyPlots", "plot_study"]


@dataclass
class StudyPlots:
    files: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _importance_evaluator() -> Any:
    import importlib.util

    import optuna

    if importlib.util.find_spec("sklearn") is None:  # fANOVA, Optuna's default, needs scikit-learn
        return optuna.importance.PedAnovaImportanceEvaluator()
    return None


def plot_study(folder: Path, out: Path) -> StudyPlots:
    """Write the study's figures next to ``out``; raises :class:`StudyError` when the study has no trial yet."""
    from orchestrator.extras import require_extra
    from orchestrator.study.engine import require_optuna

    require_extra("plot", "orch plot")
    require_optuna("orch plot STUDY")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vis

    from orchestrator.study import engine

    definition = StudyDefinition.from_json(read_study(folder)["definition"])
    study = engine.load(folder, definition)
    if not study.get_trials(deepcopy=False):
        raise StudyError(f"study {definition.name} has no trials yet; nothing to plot")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.with_suffix("") if out.suffix else out
    figures: dict[str, Callable[[], Any]] = {
        "history": lambda: vis.plot_optimization_history(study, target_name=definition.metric),
        "intermediate": lambda: vis.plot_intermediate_values(study),
        "importances": lambda: vis.plot_param_importances(
            study, evaluator=_importance_evaluator(), target_name=definition.metric
        ),
    }
    result = StudyPlots()
    for label, draw in figures.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                axes = draw()
            except (ValueError, RuntimeError, ZeroDivisionError) as exc:
                result.skipped[label] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                plt.close("all")
                continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        figure.suptitle(
            f"study {definition.name}: {definition.direction} {definition.metric} ({definition.objective_mode})"
        )
        path = Path(f"{stem}_{label}.png")
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        result.files.append(path)
    return result
