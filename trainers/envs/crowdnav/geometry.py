"""Wall segments with their per-map constants precomputed, for the per-step distance queries.

Pedestrian wall forces and robot collisions both need, every step, the offset of points from the nearest point of
every segment; the segment starts, directions and inverse squared lengths are fixed per map, so they are computed once.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Segments"]


class Segments:
    """(S, 4) rows ``x0, y0, x1, y1`` and the queries on them."""

    def __init__(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
        self.rows = rows
        self.ax, self.ay = rows[:, 0], rows[:, 1]
        self.ex, self.ey = rows[:, 2] - rows[:, 0], rows[:, 3] - rows[:, 1]
        length2 = self.ex**2 + self.ey**2
        self.inv_length2 = np.divide(1.0, length2, out=np.zeros_like(length2), where=length2 > 1e-12)

    def __len__(self) -> int:
        return len(self.rows)

    def offsets(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, S) x and y of each point minus the nearest point of each segment (points given as (N,) x and y)."""
        dx = px[:, None] - self.ax
        dy = py[:, None] - self.ay
        t = np.minimum(np.maximum((dx * self.ex + dy * self.ey) * self.inv_length2, 0.0), 1.0)
        return dx - t * self.ex, dy - t * self.ey

    def min_distance2(self, point: np.ndarray) -> float:
        """Squared distance from one point to the nearest segment (inf without segments)."""
        if not len(self.rows):
            return float("inf")
        wx, wy = self.offsets(np.asarray(point[:1], dtype=np.float64), np.asarray(point[1:2], dtype=np.float64))
        return float((wx * wx + wy * wy).min())
