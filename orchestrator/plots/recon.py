"""Real against decoded observations of a Dreamer run: an image strip and a short animation.

The trainer saves ``recon.npz`` in the run directory (``trainers/dreamerv3/recon.py``): arrays ``real`` and
``decoded`` of one shape, ``(T, D)`` vectors or ``(T, C, H, W)`` images (``(B, T, C, H, W)``: the first sequence is
drawn), optional scalar ``step``. Vector observations are drawn
as heat maps (time down, feature across) with the absolute error beside them; images (``(T, H, W)``,
``(T, H, W, C)`` or ``(T, C, H, W)``) as a strip of frames, real above decoded. The animation is a GIF written with
imageio when it is installed, else with Pillow (which matplotlib already needs).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RECON_FILES", "find_recon", "load_recon", "write_recon_views"]

RECON_FILES = ("recon.npz", "plots/recon.npz")
_MAX_FRAMES = 16


def find_recon(run_dir: str | os.PathLike[str]) -> Path | None:
    """The run's reconstruction file, or None when the run saved none."""
    for name in RECON_FILES:
        path = Path(run_dir) / name
        if path.is_file():
            return path
    return None


def load_recon(path: Path) -> tuple[np.ndarray, np.ndarray, int | None] | None:
    """``(real, decoded, step)`` with the batch axis dropped; None when the file lacks either array."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if "real" not in data or "decoded" not in data:
                return None
            real, decoded = np.asarray(data["real"], dtype=np.float32), np.asarray(data["decoded"], dtype=np.float32)
            step = int(data["step"]) if "step" in data and np.asarray(data["step"]).size == 1 else None
    except (OSError, ValueError):
        return None
    if real.shape != decoded.shape or real.ndim < 2:
        return None
    if real.ndim == 5:
        real, decoded = real[0], decoded[0]  # (B, T, C, H, W) -> first sequence
    return real, decoded, step


def _frames(array: np.ndarray) -> np.ndarray:
    """``(T, H, W)`` grey frames from image-like arrays (channels averaged; channel-first detected)."""
    if array.ndim == 3:
        return array
    if array.shape[1] in (1, 2, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 1, -1)
    return array.mean(axis=-1)


def _normalise(frames: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((frames - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)


def write_recon_views(run_dir: Path, out: Path, *, tag: str | None = None) -> list[Path]:
    """Write ``<out stem>-recon[-tag].png`` (strip) and ``.gif`` (animation) when the run saved reconstructions."""
    path = find_recon(run_dir)
    loaded = load_recon(path) if path else None
    if loaded is None:
        return []
    real, decoded, step = loaded
    stem = out.with_suffix("")
    base = Path(f"{stem}-recon-{tag}" if tag else f"{stem}-recon")
    strip = base.with_suffix(".png")
    _write_strip(real, decoded, step, strip)
    files = [strip]
    gif = _write_animation(real, decoded, base.with_suffix(".gif"))
    if gif:
        files.append(gif)
    return files


def _write_strip(real: np.ndarray, decoded: np.ndarray, step: int | None, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from manifests import atomic_path

    title = "real vs decoded" + (f" (step {step})" if step is not None else "")
    if real.ndim == 2:  # vectors: time x features
        flat_r, flat_d = real.reshape(real.shape[0], -1), decoded.reshape(decoded.shape[0], -1)
        lo, hi = float(min(flat_r.min(), flat_d.min())), float(max(flat_r.max(), flat_d.max()))
        fig, axes = plt.subplots(1, 3, figsize=(13, 4), squeeze=False)
        for ax, data, name in zip(
            axes[0], (flat_r, flat_d, np.abs(flat_r - flat_d)), ("real", "decoded", "|error|"), strict=True
        ):
            image = ax.imshow(data, aspect="auto", cmap="viridis", vmin=None if name == "|error|" else lo, vmax=None)
            ax.set_title(name)
            ax.set_xlabel("feature")
            ax.set_ylabel("time step")
            fig.colorbar(image, ax=ax, fraction=0.046)
    else:
        fr, fd = _frames(real)[:_MAX_FRAMES], _frames(decoded)[:_MAX_FRAMES]
        lo, hi = float(min(fr.min(), fd.min())), float(max(fr.max(), fd.max()))
        n = fr.shape[0]
        fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.6), squeeze=False)
        for t in range(n):
            for row, frames in enumerate((fr, fd)):
                axes[row][t].imshow(_normalise(frames[t], lo, hi), cmap="gray", vmin=0, vmax=1)
                axes[row][t].set_xticks([])
                axes[row][t].set_yticks([])
            axes[0][t].set_title(f"t={t}", fontsize="small")
        axes[0][0].set_ylabel("real")
        axes[1][0].set_ylabel("decoded")
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def _animation_frames(real: np.ndarray, decoded: np.ndarray) -> list[np.ndarray]:
    """uint8 frames, real left and decoded right, scaled up so a viewer can see them."""
    if real.ndim == 2:
        side = int(np.ceil(np.sqrt(real.shape[1])))
        pad = side * side - real.shape[1]
        real = np.pad(real, ((0, 0), (0, pad))).reshape(-1, side, side)
        decoded = np.pad(decoded, ((0, 0), (0, pad))).reshape(-1, side, side)
    fr, fd = _frames(real), _frames(decoded)
    lo, hi = float(min(fr.min(), fd.min())), float(max(fr.max(), fd.max()))
    scale = max(1, 96 // max(fr.shape[1], 1))
    frames = []
    for t in range(fr.shape[0]):
        pair = np.concatenate([_normalise(fr[t], lo, hi), np.ones((fr.shape[1], 2)), _normalise(fd[t], lo, hi)], 1)
        big = np.kron(pair, np.ones((scale, scale)))
        frames.append((big * 255).astype(np.uint8))
    return frames


def _write_animation(real: np.ndarray, decoded: np.ndarray, out: Path) -> Path | None:
    frames = _animation_frames(real, decoded)
    if not frames:
        return None
    from manifests import atomic_path

    with atomic_path(out) as tmp:
        try:
            # optional dependency, present or not: imported by name so type checking does not depend on it
            imageio: Any = importlib.import_module("imageio.v2")
            imageio.mimsave(tmp, frames, format="GIF", duration=0.2)
        except ImportError:
            from PIL import Image

            images: list[Any] = [Image.fromarray(f) for f in frames]
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=200, loop=0)
    return out
