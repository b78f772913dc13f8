"""Round-brush strokes on a bool mask, and the RGBA overlay that shows a mask.

Coordinates are *pixel-index* coordinates: the centre of pixel ``(row, col)`` is
the point ``(x=col, y=row)``. A pixel is painted when its centre lies within
``radius`` of the segment (an exact test, so tests can predict every pixel).
Each call touches only the segment's bounding box grown by the radius, so the
work per mouse move is proportional to the brush area, never to the image.

:func:`polyline_cover` is the cheap, inexact counterpart: a superset of a
stroke's pixels, to bound what a widget repaints, never to paint the mask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from .box import Box

Point = tuple[float, float]


def segment_box(shape: tuple[int, int], p0: Point, p1: Point, radius: float) -> Box | None:
    """Pixels that a stroke from ``p0`` to ``p1`` may touch, clipped to ``shape``; None if outside."""
    h, w = shape
    r = max(float(radius), 0.0)
    x0 = max(0, math.ceil(min(p0[0], p1[0]) - r))
    x1 = min(w, math.floor(max(p0[0], p1[0]) + r) + 1)
    y0 = max(0, math.ceil(min(p0[1], p1[1]) - r))
    y1 = min(h, math.floor(max(p0[1], p1[1]) + r) + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    return Box(y0, x0, y1, x1)


def segment_footprint(box: Box, p0: Point, p1: Point, radius: float) -> np.ndarray:
    """Bool array of ``box``'s shape: pixel centres within ``radius`` of the segment."""
    y0, x0, y1, x1 = box
    ys = np.arange(y0, y1, dtype=np.float64)[:, None]
    xs = np.arange(x0, x1, dtype=np.float64)[None, :]
    ax, ay = float(p0[0]), float(p0[1])
    dx, dy = float(p1[0]) - ax, float(p1[1]) - ay
    length2 = dx * dx + dy * dy
    t: float | np.ndarray
    if length2 == 0.0:
        t = 0.0
    else:  # projection of each pixel centre onto the segment, clamped to its ends
        t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / length2, 0.0, 1.0)
    ex = xs - (ax + t * dx)
    ey = ys - (ay + t * dy)
    r = max(float(radius), 0.0)
    return ex * ex + ey * ey <= r * r


def stamp_segment(
    mask: np.ndarray, p0: Point, p1: Point, radius: float, value: bool = True
) -> tuple[Box | None, np.ndarray | None]:
    """Set every pixel within ``radius`` of the segment ``p0``–``p1`` to ``value``, in place.

    Returns ``(box, changed)``: the dirty box and a bool array of its shape marking
    the pixels whose value actually flipped (what undo needs); ``(None, None)`` if
    the stroke misses the mask. A click is a segment with ``p0 == p1`` (a disk).
    """
    box = segment_box(mask.shape[:2], p0, p1, radius)
    if box is None:
        return None, None
    crop = mask[box.slices]
    changed = segment_footprint(box, p0, p1, radius)
    changed &= crop != value
    crop[changed] = value
    return box, changed


#: OpenCV's largest line thickness, and a coordinate bound that keeps 4 fractional bits in int32.
_MAX_THICKNESS = 32767
_MAX_COORD = 1 << 20


def polyline_cover(
    shape: tuple[int, int], points: Sequence[Point], radius: float
) -> tuple[Box, np.ndarray] | None:
    """A superset of the pixels whose centre lies within ``radius`` of the polyline ``points``.

    Returns ``(box, cover)``: the bounding box (clipped to ``shape``) and a bool
    array of its shape, or None if the polyline's reach misses ``shape``. One
    point is a disk. Drawn by OpenCV as a thick polyline about 1.5 px wider than
    asked (checked against the exact distance in the tests), so its cost is the
    box's area in C, not one pass per segment.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return None
    h, w = shape
    pad = math.ceil(max(float(radius), 0.0)) + 2
    x0 = max(0, math.floor(pts[:, 0].min()) - pad)
    x1 = min(w, math.ceil(pts[:, 0].max()) + pad + 1)
    y0 = max(0, math.floor(pts[:, 1].min()) - pad)
    y1 = min(h, math.ceil(pts[:, 1].max()) + pad + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    box = Box(y0, x0, y1, x1)
    thickness = 2 * (pad - 2) + 3
    local = pts - (x0, y0)
    if thickness > _MAX_THICKNESS or np.abs(local).max() > _MAX_COORD:
        return box, np.ones((y1 - y0, x1 - x0), dtype=bool)  # beyond OpenCV's range: all of the box
    if len(local) == 1:
        local = np.repeat(local, 2, axis=0)  # OpenCV draws nothing for a one-point polyline
    crop = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    fixed = np.round(local * 16).astype(np.int32)  # 4 fractional bits (shift=4)
    cv2.polylines(crop, [fixed], False, 1, thickness=thickness, lineType=cv2.LINE_8, shift=4)
    return box, crop.view(bool)


def overlay_rgba(
    mask_crop: np.ndarray, color: tuple[int, int, int] = (255, 0, 80), opacity: float = 0.5
) -> np.ndarray:
    """``(h, w, 4)`` uint8: ``color`` at ``opacity`` where the mask is True, transparent elsewhere."""
    out = np.zeros((*mask_crop.shape[:2], 4), dtype=np.uint8)
    out[mask_crop] = (*color, int(round(float(np.clip(opacity, 0.0, 1.0)) * 255)))
    return out


def mask_runs(mask_crop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs of True pixels: ``(rows, starts, lengths)`` int32 arrays.

    Drawing these as 1-pixel-high rectangles reproduces the crop exactly, with no
    image to encode or decode: the cheap way to echo a brush stroke.
    """
    h = mask_crop.shape[0]
    padded = np.zeros((h, mask_crop.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask_crop
    step = np.diff(padded, axis=1)
    rows, starts = np.nonzero(step == 1)
    _, ends = np.nonzero(step == -1)
    return rows.astype(np.int32), starts.astype(np.int32), (ends - starts).astype(np.int32)
