"""A trial's score: each objective mode over an evaluation series, safety constraints, the penalty."""

from __future__ import annotations

import pytest

from orchestrator.study.objective import (
    check_constraints,
    default_direction,
    penalized,
    reduce_series,
    trainer_metrics,
)

SERIES = [(300, 0.5), (100, 0.1), (200, 0.9), (400, 0.3)]  # any order: sorted by step


@pytest.mark.parametrize(
    ("mode", "window", "expected"),
    [
        ("final_eval", 3, 0.3),
        ("last_n_mean", 3, (0.9 + 0.5 + 0.3) / 3),
        ("last_n_mean", 1, 0.3),
        ("episodic_snqi", 2, (0.5 + 0.3) / 2),
        ("best_checkpoint", 3, 0.9),
        # trapezoids over 100..400: (0.1+0.9)/2*100 + (0.9+0.5)/2*100 + (0.5+0.3)/2*100 = 160, / 300
        ("auc", 3, 160 / 300),
    ],
)
def test_each_objective_mode(mode: str, window: int, expected: float) -> None:
    assert reduce_series(SERIES, mode=mode, window=window) == pytest.approx(expected)


def test_best_checkpoint_follows_the_direction_and_empty_series_score_nothing() -> None:
    assert reduce_series(SERIES, mode="best_checkpoint", window=1, direction="minimize") == 0.1
    assert reduce_series([], mode="final_eval", window=1) is None
    assert reduce_series([(5, 2.0)], mode="auc", window=1) == 2.0
    assert reduce_series([(1, float("nan")), (2, 4.0)], mode="last_n_mean", window=3) == 4.0
    with pytest.raises(ValueError, match="unknown objective mode"):
        reduce_series(SERIES, mode="median", window=1)


def test_constraints_reduce_like_the_objective() -> None:
    series = {"success_rate": [(1, 0.2), (2, 0.8), (3, 0.4)], "collision_rate": [(1, 0.5), (2, 0.05), (3, 0.3)]}
    final = check_constraints(series, {"collision_rate": 0.1}, metric="success_rate", mode="final_eval", window=1,
                              direction="maximize")  # fmt: skip
    assert not final.feasible and final.violations["collision_rate"] == pytest.approx(0.2)
    # best_checkpoint: the collision rate at the objective's best evaluation (step 2), which is within bounds
    best = check_constraints(series, {"collision_rate": 0.1}, metric="success_rate", mode="best_checkpoint",
                             window=1, direction="maximize")  # fmt: skip
    assert best.feasible and best.values == {"collision_rate": 0.05}
    missing = check_constraints(series, {"comfort_exposure": 0.2}, metric="success_rate", mode="final_eval",
                                window=1, direction="maximize")  # fmt: skip
    assert missing.missing == ("comfort_exposure",) and "not reported" in missing.describe()


def test_penalty_is_against_the_direction() -> None:
    series = {"m": [(1, 1.0)], "collision_rate": [(1, 0.3)]}
    feasibility = check_constraints(series, {"collision_rate": 0.1}, metric="m", mode="final_eval", window=1,
                                    direction="maximize")  # fmt: skip
    assert penalized(1.0, feasibility, "maximize") == pytest.approx(1.0 - 1_000_000 - 1_000 * 0.2)
    assert penalized(1.0, feasibility, "minimize") == pytest.approx(1.0 + 1_000_000 + 1_000 * 0.2)


def test_directions_and_metric_tables_match_the_trainers() -> None:
    from trainers.ppo_expert.evaluation import EVAL_METRICS

    assert default_direction("collision_rate") == "minimize" and default_direction("comfort_exposure") == "minimize"
    assert default_direction("eval_episode_return") == "maximize"
    assert trainer_metrics("ppo_expert") == EVAL_METRICS and trainer_metrics("dreamerv3") == ("eval_return",)
