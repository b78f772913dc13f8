"""What tuning a text mask's threshold needs at a glance, drawn with matplotlib.

Three panels: the image with the selection at the current threshold, the heatmap
with that threshold's outline, and the share of the image selected as the threshold
moves, with the current threshold marked. A steep part of that curve is where a
small change of threshold changes the mask a lot; a flat part is a safe place.
Uses matplotlib's object API (no pyplot state), so it is safe from any thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .text_mask import TextMask

#: Thresholds at which the coverage curve is sampled.
CURVE_POINTS = 201


def coverage_curve(heatmap: np.ndarray, points: int = CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """``(thresholds, share)``: the share of pixels with ``heatmap >= t`` for ``points`` values of ``t`` in [0, 1].

    One sort of the heatmap, then a binary search per threshold: exact, and cheap at
    any image size.
    """
    values = np.sort(np.asarray(heatmap, dtype=np.float32).ravel())
    thresholds = np.linspace(0.0, 1.0, points, dtype=np.float32)
    below = np.searchsorted(values, thresholds, side="left")
    return thresholds, 1.0 - below / max(values.size, 1)


def plot_text_mask(tm: TextMask, threshold: float | None = None, *,
                   figsize: tuple[float, float] = (12.0, 3.8), max_side: int = 512) -> Figure:
    """A matplotlib Figure of ``tm`` at ``threshold`` (default: its own): image, heatmap, coverage curve."""
    from matplotlib.figure import Figure

    t = tm.threshold if threshold is None else float(threshold)
    selection = np.asarray(tm.preview(t, max_side=max_side))
    heat = _small(tm.heatmap, selection.shape[:2])
    fig = Figure(figsize=figsize, layout="constrained")
    ax_image, ax_heat, ax_curve = fig.subplots(1, 3, width_ratios=[1, 1, 1.1])
    ax_image.imshow(selection)
    ax_image.set_title(f"selected at {t:.2f}: {tm.coverage(t):.1%}")
    shown = ax_heat.imshow(heat, cmap="magma", vmin=0.0, vmax=1.0)
    if heat.min() < t <= heat.max():
        ax_heat.contour(heat, levels=[t], colors=["#00e5ff"], linewidths=1.2)
    ax_heat.set_title(f"heatmap {tm.prompt!r}, outline at {t:.2f}")
    fig.colorbar(shown, ax=ax_heat, fraction=0.046, pad=0.02)
    for ax in (ax_image, ax_heat):
        ax.set_xticks([])
        ax.set_yticks([])
    thresholds, share = coverage_curve(tm.heatmap)
    ax_curve.plot(thresholds, share * 100.0, color="#333")
    ax_curve.axvline(t, color="#00a0b0", linestyle="--")
    ax_curve.plot([t], [tm.coverage(t) * 100.0], "o", color="#00a0b0")
    ax_curve.set_xlim(0.0, 1.0)
    ax_curve.set_ylim(0.0, 100.0)
    ax_curve.set_xlabel("threshold")
    ax_curve.set_ylabel("% of the image selected")
    ax_curve.set_title("more mask below, less above")
    ax_curve.grid(alpha=0.3)
    return fig


def figure_png(fig: Any, dpi: int = 80) -> bytes:
    """``fig`` rendered as PNG bytes (for an ``ipywidgets.Image``), without pyplot."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _small(heatmap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    if heatmap.shape == shape:
        return heatmap
    return cv2.resize(heatmap, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
