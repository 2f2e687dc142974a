"""Pictures of runs: learning curves with seed bands, Dreamer world-model panels, real vs decoded observations."""

from orchestrator.plots.curves import PlotResult as PlotResult
from orchestrator.plots.curves import plot_runs as plot_runs

__all__ = ["PlotResult", "plot_runs"]
