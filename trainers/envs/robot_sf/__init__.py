"""``env.backend: robot_sf``: envs built by Robot SF itself, through its own public functions.

Robot SF (GPL-3.0, not on PyPI) is optional: this package imports it only when an env is built, and fails with
:class:`RobotSFNotInstalled` (saying how to install it) where it is missing. The modules, each with one job:

* :mod:`.imports`: the lazy import of Robot SF and the install hint;
* :mod:`.overrides`: ``env_overrides`` applied to a Robot SF config the way its PPO trainer applies them, except
  that a key the installed Robot SF lacks is an error instead of being dropped;
* :mod:`.scenarios`: scenario matrices through ``load_scenarios`` and ``build_robot_config_from_scenario``;
* :mod:`.factory`: ``make_robot_env`` for one scenario, Robot SF's ``ScenarioSampler`` + ``ScenarioSwitchingEnv``
  for a matrix with hold-outs, Dreamer's flattened keys;
* :mod:`.wrappers`: seeded resets, orch's ``info`` keys, and the action rescaling that lets a policy trained on the
  embedded simulator's ``Box(-1, 1)`` drive Robot SF's raw action space.
"""

from __future__ import annotations

from typing import Any

from trainers.envs.robot_sf.imports import INSTALL_HINT, RobotSFNotInstalled, robot_sf_available

__all__ = ["INSTALL_HINT", "RobotSFNotInstalled", "make_robot_sf_env", "robot_sf_available"]


def make_robot_sf_env(*args: Any, **kwargs: Any) -> Any:
    """See :func:`trainers.envs.robot_sf.factory.make_robot_sf_env` (imported on first use: it needs gymnasium)."""
    from trainers.envs.robot_sf.factory import make_robot_sf_env as make

    return make(*args, **kwargs)
