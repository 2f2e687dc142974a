"""Robot kinematics: differential drive, bicycle and holonomic, each mapping an action in [-1, 1]^2 to its limits.

* differential_drive: action = (linear speed, angular speed) commands. Forward-only robots map a0 in [-1, 1] to
  [0, max_linear_speed]; with ``allow_backwards`` to [-max, max]. Unicycle integration.
* bicycle: action = (acceleration, steering angle) scaled by max_accel and max_steer; speed clipped to
  [0 or -max_velocity, max_velocity]; kinematic bicycle with ``wheelbase``.
* holonomic: action = (vx, vy) in the world frame, norm clipped to max_linear_speed; heading follows motion.
"""

from __future__ import annotations

import math

import numpy as np

from trainers.envs.crowdnav.settings import RobotSettings

__all__ = ["RobotState", "max_speed"]


def max_speed(settings: RobotSettings) -> float:
    """Top linear speed of the robot (normalises drive_state speeds)."""
    return settings.max_velocity if settings.type == "bicycle" else settings.max_linear_speed


class RobotState:
    """Pose (x, y, theta) and current velocity (linear, angular) of one robot."""

    def __init__(self, settings: RobotSettings) -> None:
        self.settings = settings
        self.pos = np.zeros(2)
        self.theta = 0.0
        self.v = 0.0  # linear speed along heading (holonomic: speed magnitude)
        self.omega = 0.0
        self.vel = np.zeros(2)  # world-frame velocity

    def reset(self, pos: np.ndarray, theta: float) -> None:
        self.pos = np.asarray(pos, dtype=np.float64).copy()
        self.theta = float(theta)
        self.v = 0.0
        self.omega = 0.0
        self.vel = np.zeros(2)

    def step(self, action: np.ndarray, dt: float) -> None:
        """Apply one clipped action for ``dt`` seconds."""
        s = self.settings
        a0 = min(1.0, max(-1.0, float(action[0])))
        a1 = min(1.0, max(-1.0, float(action[1])))
        if s.type == "differential_drive":
            v = a0 * s.max_linear_speed if s.allow_backwards else (a0 + 1.0) * 0.5 * s.max_linear_speed
            omega = a1 * s.max_angular_speed
            self.theta = _wrap(self.theta + omega * dt)
            self.v, self.omega = v, omega
            self.vel = np.array([v * math.cos(self.theta), v * math.sin(self.theta)])
        elif s.type == "bicycle":
            v_min = -s.max_velocity if s.allow_backwards else 0.0
            v = min(s.max_velocity, max(v_min, self.v + a0 * s.max_accel * dt))
            steer = a1 * s.max_steer
            omega = v / s.wheelbase * math.tan(steer)
            self.theta = _wrap(self.theta + omega * dt)
            self.v, self.omega = v, omega
            self.vel = np.array([v * math.cos(self.theta), v * math.sin(self.theta)])
        else:  # holonomic
            vx, vy = a0 * s.max_linear_speed, a1 * s.max_linear_speed
            speed = math.hypot(vx, vy)
            if speed > s.max_linear_speed:
                vx, vy = vx * s.max_linear_speed / speed, vy * s.max_linear_speed / speed
                speed = s.max_linear_speed
            new_theta = math.atan2(vy, vx) if speed > 1e-3 else self.theta
            self.omega = _wrap(new_theta - self.theta) / dt
            self.theta, self.v = new_theta, speed
            self.vel = np.array([vx, vy])
        self.pos = self.pos + self.vel * dt


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi
