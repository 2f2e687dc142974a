"""Robot kinematics, as Robot SF's robot models move (``robot_sf/robot/*_drive.py``).

An action in ``[-1, 1]^2`` is first mapped affinely onto Robot SF's raw action space for the robot type
(:func:`action_bounds`), so a policy sees the same dynamics on both backends and only needs its actions rescaled:

* differential drive: the raw action is a *change* of (linear, angular) speed per step, in
  ``[min_linear_speed, max_linear_speed] x [-max_angular_speed, max_angular_speed]`` (``min_linear_speed`` is 0, or
  ``-max_linear_speed`` with ``allow_backwards``); the new speeds are clipped to the same ranges. A forward-only
  robot therefore never slows down by itself: as in Robot SF, its smallest change is 0. Position and heading use
  the mean of the old and new wheel speeds (midpoint integration).
* bicycle: (acceleration, steering angle), clipped to ``max_accel`` and ``max_steer``; speed clipped to
  ``[0 or -max_velocity, max_velocity]``; the position moves with the speed before the step.
* holonomic: world-frame (vx, vy), each within ``max_linear_speed`` and the norm capped; heading follows motion.

``speed_pair`` is what Robot SF reports as the robot's ``current_speed`` (drive_state and SocNav ``robot_speed``):
(linear, angular) for differential drive and holonomic, and (speed, heading) for the bicycle, Robot SF's own
convention.
"""

from __future__ import annotations

import math

import numpy as np

from trainers.envs.crowdnav.settings import RobotSettings

__all__ = ["RobotState", "action_bounds", "max_speed", "speed_bounds"]


def max_speed(settings: RobotSettings) -> float:
    """Top linear speed of the robot."""
    return settings.max_velocity if settings.type == "bicycle" else settings.max_linear_speed


def action_bounds(settings: RobotSettings) -> tuple[np.ndarray, np.ndarray]:
    """Robot SF's raw action space ``(low, high)`` for this robot."""
    if settings.type == "differential_drive":
        low = [-settings.max_linear_speed if settings.allow_backwards else 0.0, -settings.max_angular_speed]
        high = [settings.max_linear_speed, settings.max_angular_speed]
    elif settings.type == "bicycle":
        low, high = [-settings.max_accel, -settings.max_steer], [settings.max_accel, settings.max_steer]
    else:
        low, high = [-settings.max_linear_speed] * 2, [settings.max_linear_speed] * 2
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def speed_bounds(settings: RobotSettings) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of :meth:`RobotState.speed_pair` (Robot SF's robot observation space, drive_state's divisor)."""
    if settings.type == "differential_drive":
        low = [-settings.max_linear_speed if settings.allow_backwards else 0.0, -settings.max_angular_speed]
        high = [settings.max_linear_speed, settings.max_angular_speed]
    elif settings.type == "bicycle":
        low = [-settings.max_velocity if settings.allow_backwards else 0.0, -settings.max_steer]
        high = [settings.max_velocity, settings.max_steer]
    else:
        low, high = (
            [-settings.max_linear_speed, -settings.max_angular_speed],
            [
                settings.max_linear_speed,
                settings.max_angular_speed,
            ],
        )
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


class RobotState:
    """Pose (x, y, theta) and speeds of one robot; ``theta`` is not wrapped (as in Robot SF's odometry)."""

    def __init__(self, settings: RobotSettings) -> None:
        self.settings = settings
        self._low, self._high = action_bounds(settings)
        self.pos = np.zeros(2)
        self.theta = 0.0
        self.v = 0.0  # linear speed along the heading (holonomic: speed magnitude)
        self.omega = 0.0
        self.vel = np.zeros(2)  # world-frame velocity

    @property
    def heading(self) -> float:
        """``theta`` wrapped to [-pi, pi)."""
        return _wrap(self.theta)

    def reset(self, pos: np.ndarray, theta: float) -> None:
        self.pos = np.asarray(pos, dtype=np.float64).copy()
        self.theta = float(theta)
        self.v = 0.0
        self.omega = 0.0
        self.vel = np.zeros(2)

    def raw_action(self, action: np.ndarray) -> np.ndarray:
        """The normalised action mapped onto Robot SF's raw action space."""
        flat = np.asarray(action, dtype=np.float64).reshape(-1)
        a0, a1 = min(1.0, max(-1.0, float(flat[0]))), min(1.0, max(-1.0, float(flat[1])))
        low, high = self._low, self._high
        return np.array(
            [low[0] + (a0 + 1.0) * 0.5 * (high[0] - low[0]), low[1] + (a1 + 1.0) * 0.5 * (high[1] - low[1])]
        )

    def speed_pair(self) -> tuple[float, float]:
        """Robot SF's ``current_speed``: (linear, angular), or (speed, heading) for the bicycle."""
        if self.settings.type == "bicycle":
            return self.v, self.theta
        return self.v, self.omega

    def step(self, action: np.ndarray, dt: float) -> None:
        """Apply one normalised action for ``dt`` seconds."""
        s = self.settings
        raw = self.raw_action(action)
        if s.type == "differential_drive":
            v_min = -s.max_linear_speed if s.allow_backwards else 0.0
            v = min(s.max_linear_speed, max(v_min, self.v + raw[0]))
            omega = min(s.max_angular_speed, max(-s.max_angular_speed, self.omega + raw[1]))
            distance = 0.5 * (self.v + v) * dt
            theta = self.theta + 0.5 * (self.omega + omega) * dt
            middle = 0.5 * (self.theta + theta)
            self.pos = self.pos + distance * np.array([math.cos(middle), math.sin(middle)])
            self.theta, self.v, self.omega = theta, v, omega
            self.vel = np.array([v * math.cos(theta), v * math.sin(theta)])
        elif s.type == "bicycle":
            accel = min(s.max_accel, max(-s.max_accel, raw[0]))
            v_min = -s.max_velocity if s.allow_backwards else 0.0
            v = min(s.max_velocity, max(v_min, self.v + dt * accel))
            steer = min(s.max_steer, max(-s.max_steer, raw[1]))
            omega = v * math.tan(steer) / s.wheelbase
            self.pos = self.pos + self.v * dt * np.array([math.cos(self.theta), math.sin(self.theta)])
            self.theta = _wrap(self.theta + omega * dt)
            self.v, self.omega = v, omega
            self.vel = np.array([v * math.cos(self.theta), v * math.sin(self.theta)])
        else:  # holonomic, Robot SF's vx_vy command mode
            vx = min(s.max_linear_speed, max(-s.max_linear_speed, raw[0]))
            vy = min(s.max_linear_speed, max(-s.max_linear_speed, raw[1]))
            speed = math.hypot(vx, vy)
            if speed > s.max_linear_speed:
                vx, vy = vx * s.max_linear_speed / speed, vy * s.max_linear_speed / speed
                speed = s.max_linear_speed
            if speed > 1e-9:
                self.theta = math.atan2(vy, vx)
            self.v, self.omega = speed, 0.0
            self.vel = np.array([vx, vy])
            self.pos = self.pos + self.vel * dt


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi
