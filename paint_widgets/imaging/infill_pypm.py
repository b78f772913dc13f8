"""pypatchmatch (InvokeAI's PatchMatch) on bounded windows around compact holes.

pypatchmatch's time grows with the whole image it is given (~25-30 s for a 2048²
photo even when the hole is a 64 px square), yet a hole only needs its surroundings:
each connected piece of the hole is filled within a window padded by
:data:`CONTEXT` times its thickness (at least :data:`MIN_PAD` px), which keeps its
quality at a small fraction of its time (``benchmarks/bench_infill_quality.py``).
Windows that would overlap are merged, so every hole pixel is filled exactly once.

Its wheel (manylinux x86_64, a self-contained ``libpatchmatch.so``) is optional:
:func:`available` says whether it loads, and ``infill`` falls back to its own
PatchMatch where it does not, or where :data:`ENABLED` is ``False``.

The library keeps its seed process-wide (``set_random_seed`` applies to every
later call; each call then runs on its own generator seeded from it). Setting the
seed and inpainting happen under one lock, so concurrent ``infill`` calls from
threads stay deterministic; the seed is left at the last one set, so any other
caller of pypatchmatch in the process should set its own.
"""

from __future__ import annotations

import math
import threading
from types import ModuleType

import cv2
import numpy as np

#: ``False`` forces our own PatchMatch even where pypatchmatch loads.
ENABLED = True
#: Patch radius handed to pypatchmatch (7x7 patches), InvokeAI's choice.
PATCH_SIZE = 3
#: A hole piece's window is padded by this many times its thickness ...
CONTEXT = 1.5
#: ... and at least this many px.
MIN_PAD = 64
#: Pieces beyond this many are covered by one window (their bounding box, padded).
MAX_PIECES = 256

Window = tuple[slice, slice]

_LOCK = threading.Lock()
_MODULE: list[ModuleType | None] = []  # [] until the first look, then [module or None]


def _library() -> ModuleType | None:
    """``patchmatch.patch_match`` if its native library loads, else None (looked up once)."""
    if not _MODULE:
        found: ModuleType | None = None
        try:
            from patchmatch import patch_match

            found = patch_match
        except Exception:  # noqa: BLE001 - a missing or broken wheel means "not available"
            pass
        ok = found is not None and getattr(found, "patchmatch_available", False)
        _MODULE.append(found if ok else None)
    return _MODULE[0]


def available() -> bool:
    """Whether ``infill`` will use pypatchmatch: enabled and its native library loads."""
    return ENABLED and _library() is not None


def inpaint(rgb: np.ndarray, hole: np.ndarray, seed: int) -> np.ndarray:
    """pypatchmatch on the whole of ``rgb`` (``uint8`` RGB), ``hole`` bool; seeded.

    Raises RuntimeError where the library is missing or fails.
    """
    lib = _library()
    if lib is None:
        raise RuntimeError("pypatchmatch is not available")
    mask = np.ascontiguousarray(hole, dtype=np.uint8)  # non-zero = fill here, like ours
    with _LOCK:  # the seed is process-wide: set it and use it in one step
        lib.set_random_seed(seed % 2**32)
        out = lib.inpaint(np.ascontiguousarray(rgb), mask, patch_size=PATCH_SIZE)
    return np.asarray(out, dtype=np.uint8)


def windows(hole: np.ndarray) -> list[Window]:
    """Disjoint windows that together hold every pixel of ``hole`` (bool, 2-D).

    Each 8-connected piece gets its bounding box padded by ``CONTEXT`` times its
    thickness (twice its largest chessboard distance to a known pixel), at least
    :data:`MIN_PAD`, clipped to the image; overlapping boxes are merged until none
    overlap.
    """
    h, w = hole.shape
    hole8 = hole.astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(hole8, connectivity=8)
    if n <= 1:
        return []
    dist = cv2.distanceTransform(hole8, cv2.DIST_C, 3)
    if n - 1 > MAX_PIECES:
        ys, xs = np.nonzero(hole)
        stats = np.array([[0] * 5, [xs.min(), ys.min(), np.ptp(xs) + 1, np.ptp(ys) + 1, ys.size]])
        thick = np.array([0.0, 2.0 * float(dist.max())])
    else:
        thick = np.zeros(n, np.float32)
        np.maximum.at(thick, labels[hole], dist[hole])
        thick *= 2.0
    boxes = []
    for (x, y, bw, bh, _), t in zip(stats[1:], thick[1:], strict=True):
        pad = max(MIN_PAD, math.ceil(CONTEXT * float(t)))
        boxes.append((max(0, y - pad), max(0, x - pad), min(h, y + bh + pad), min(w, x + bw + pad)))
    return [np.s_[t:b, left:r] for t, left, b, r in _merge(boxes)]


def _merge(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Replace overlapping ``(top, left, bottom, right)`` boxes by their union, until none overlap."""
    merged = True
    while merged:
        merged = False
        out: list[tuple[int, int, int, int]] = []
        for box in boxes:
            for i, other in enumerate(out):
                if box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]:
                    out[i] = (min(box[0], other[0]), min(box[1], other[1]),
                              max(box[2], other[2]), max(box[3], other[3]))
                    merged = True
                    break
            else:
                out.append(box)
        boxes = out
    return boxes
