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

Its time also grows with the hole pixels (~70 µs each), so a big fill can be cut
into :func:`bands` run side by side (:mod:`.threaded`; the native call releases the
GIL): two bands of an outcrop's coarse level take about half the time of one call on
two cores. The band count follows the hole, never the cores, so the pixels do too.

The library keeps its seed process-wide (``set_random_seed`` applies to every
later call; each call then runs on its own generator seeded from it). Setting the
seed and inpainting happen under one lock, so concurrent ``infill`` calls from
threads stay deterministic; the seed is left at the last one set, so any other
caller of pypatchmatch in the process should set its own.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from types import ModuleType

import cv2
import numpy as np

from . import threaded

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
#: :func:`inpaint` with ``banded=True`` gives each band about this many hole pixels ...
BAND_HOLE = 1 << 14
#: ... in at most this many bands ...
MAX_BANDS = 4
#: ... each reaching this many px into its neighbours (filled there too, then dropped).
BAND_OVERLAP = 32

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


def inpaint(rgb: np.ndarray, hole: np.ndarray, seed: int, *, banded: bool = False) -> np.ndarray:
    """pypatchmatch on the whole of ``rgb`` (``uint8`` RGB), ``hole`` bool; seeded.

    ``banded``: cut the image into :func:`bands` filled side by side (each band's own
    rows or columns kept), for big holes whose every band keeps known pixels (a border,
    a coarse level); a hole filling a whole band would leave it nothing to copy from.
    Raises RuntimeError where the library is missing or fails.
    """
    cuts = bands(hole) if banded else []
    if len(cuts) < 2 or any(hole[reach].all() for _, reach in cuts):
        return inpaint_each([(rgb, hole)], seed)[0]
    outs = inpaint_each([(rgb[reach], hole[reach]) for _, reach in cuts], seed)
    out = np.array(rgb, dtype=np.uint8, copy=True)
    for (own, reach), filled in zip(cuts, outs, strict=True):
        inner = tuple(slice(o.start - r.start, o.stop - r.start) for o, r in zip(own, reach, strict=True))
        out[own] = filled[inner]
    return out


def inpaint_each(jobs: Sequence[tuple[np.ndarray, np.ndarray]], seed: int) -> list[np.ndarray]:
    """pypatchmatch on each ``(rgb, hole)``, all from ``seed``, side by side on the
    :mod:`.threaded` pool (the native call releases the GIL); same pixels as one by one.

    Raises RuntimeError where the library is missing or fails.
    """
    lib = _library()
    if lib is None:
        raise RuntimeError("pypatchmatch is not available")

    def fill(job: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        rgb, hole = job
        mask = np.ascontiguousarray(hole, dtype=np.uint8)  # non-zero = fill here, like ours
        out = lib.inpaint(np.ascontiguousarray(rgb), mask, patch_size=PATCH_SIZE)
        return np.asarray(out, dtype=np.uint8)

    with _LOCK:  # the seed is process-wide: set it and use it in one step
        lib.set_random_seed(seed % 2**32)
        with threaded.workers(min(len(jobs), threaded.THREADS)):
            return threaded.map_pieces(fill, list(jobs))


def bands(hole: np.ndarray) -> list[tuple[tuple[slice, slice], tuple[slice, slice]]]:
    """``(own, reach)`` windows cutting ``hole``'s image across its longer side into one
    band per :data:`BAND_HOLE` hole pixels (at most :data:`MAX_BANDS`): each band keeps
    its ``own`` pixels of a fill of its ``reach``, :data:`BAND_OVERLAP` px wider on
    each inner side. One band (the whole image) for small holes."""
    n = max(1, min(MAX_BANDS, math.ceil(int(hole.sum()) / BAND_HOLE)))
    h, w = hole.shape
    axis = 0 if h >= w else 1
    size = hole.shape[axis]
    n = min(n, max(1, size // (2 * BAND_OVERLAP)))
    cuts = [round(k * size / n) for k in range(n + 1)]
    out = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        own, reach = slice(a, b), slice(max(0, a - BAND_OVERLAP), min(size, b + BAND_OVERLAP))
        every = slice(0, w if axis == 0 else h)
        out.append(((own, every), (reach, every)) if axis == 0 else ((every, own), (every, reach)))
    return out


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
