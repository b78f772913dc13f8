"""Drive a MaskPainter as its frontend would: the messages ipycanvas delivers."""

from __future__ import annotations

import numpy as np

from paint_widgets.widgets.mask_painter import MaskPainter


def image(h: int = 384, w: int = 512, alpha: bool = False) -> np.ndarray:
    """A random uint8 picture, RGB or RGBA."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (h, w, 4 if alpha else 3), dtype=np.uint8)


def send(painter: MaskPainter, event: str, **content: object) -> None:
    """Deliver a frontend message exactly as ipycanvas does (MultiCanvas → last layer)."""
    painter.canvas[-1]._handle_frontend_event(None, {"event": event, **content}, [])


def drag(painter: MaskPainter, points: list[tuple[float, float]]) -> None:
    """Mouse down at the first point, moves through the rest, up at the last."""
    send(painter, "mouse_down", x=points[0][0], y=points[0][1])
    for x, y in points[1:]:
        send(painter, "mouse_move", x=x, y=y)
    send(painter, "mouse_up", x=points[-1][0], y=points[-1][1])
