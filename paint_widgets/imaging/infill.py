"""Infill: give the holes of an image plausible pixels before (or instead of) generation.

Outpainting starts from a canvas whose new area is empty; diffusion at strength
0.9 keeps some of what is there, so the hole is first filled from the rest of the
picture. Also the no-weights object-removal engine. Methods (``--infill_method``):

- ``patchmatch``: PatchMatch (Barnes et al. 2009), with pypatchmatch (InvokeAI's, an
  optional wheel) where it loads, each at a bounded working size, because its time
  grows with the image and the hole it is given (25-50 s on a 2048² photo):

  - small thin holes (at most :data:`PYPM_MAX_HOLE` px, none more than
    ``2 * PM_PEEL_RADIUS`` px from a known pixel: most object removal): pypatchmatch on
    a window around each piece of the hole (:mod:`.infill_pypm`), then one polishing
    pass of ours (:func:`_polish`: every hole pixel copied from a known one, which also
    drops the stray 0/255 pixels pypatchmatch leaves on sharp textures);
  - thicker or bigger holes (a 128 px square, outcrop borders): our own vectorised
    numpy PatchMatch, coarse to fine with Wexler-style EM voting
    (:func:`_own_patchmatch`), whose coarsest level (at most :data:`PM_START_HOLE`
    hole px) pypatchmatch fills, in bands side by side (:func:`_pypm_start`); the
    finer levels are refined near the hole's edge.

  The big array steps run on a few threads (:mod:`.threaded`); the pixels never depend
  on how many.

  Where the wheel is missing or ``infill_pypm.ENABLED`` is ``False``, ours does it all
  (onion-peel start). Figures: ``benchmarks/bench_infill_quality.py``.
- ``telea``: OpenCV's fast-marching inpaint; big holes are filled on a downscaled
  copy and upsampled, to stay fast (the result is smooth anyway).
- ``tile``: random opaque ``tile_size`` tiles copied from the unmasked area.
- ``color``: one flat colour, given or the mean of the unmasked pixels.
- ``auto`` (``infill()`` only): ``telea`` for thin holes (scratches, strokes, seams: at
  most ``2 * AUTO_THIN`` px across), ``patchmatch`` for anything thicker. On thin holes
  both are invisible and Telea is ~100x faster; from ~16 px on Telea smears (streaks
  and a blurred cross, though its seam ratio and PSNR look good: both reward blur), while
  PatchMatch keeps texture and beats or matches pypatchmatch's seam and PSNR
  (``benchmarks/bench_infill_quality.py``). ``tile`` and ``color`` are never picked.

Every method fills every hole pixel (``mask > 0``) and returns every other pixel
bit-identical; what was under the hole does not affect the result. Results are
deterministic: ``seed=None`` means seed 0.
When nothing is known (the whole mask is hole) there is nothing to copy from: every
method returns flat ``color``, or mid grey ``(128, 128, 128)`` without one.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np
from PIL import Image, ImageColor

from ..errors import InvalidInputError
from ..requests import INFILL_METHODS
from . import infill_pypm, threaded
from .masks import as_paint_mask
from .outpaint_geometry import as_image_array

RGB = tuple[int, int, int]

#: Fill used when the mask leaves no known pixel to copy from.
MID_GREY: RGB = (128, 128, 128)
#: Methods :func:`infill` takes (the table's ``--infill_method`` choices; ``auto`` picks by the hole).
METHODS = INFILL_METHODS
#: ``auto`` picks Telea for holes at most this many px from a known pixel, else PatchMatch.
AUTO_THIN = 8
#: Telea on more hole pixels than this runs on a downscaled copy.
TELEA_MAX_HOLE = 1 << 18
TELEA_RADIUS = 3

# PatchMatch tuning (see _patchmatch, _pyramid, _onion_peel and _EM).
PM_PATCH = 5  # patch side (px)
PM_ITERS = 4  # EM iterations per fully searched level
PM_PEEL_RADIUS = 24.0  # the coarsest level's hole is this thick (px) or a little more ...
PM_PEEL_HOLE = 1 << 14  # ... with at most this many pixels
PM_START_HOLE = 1 << 16  # ... or this many, where pypatchmatch fills it (see _pypm_start)
#: pypatchmatch starts the pyramid only where the coarsest hole has at most this many
#: pixels: it costs ~40 us a hole pixel, and on a thick border (a 128 px outcrop of a
#: 2048² image: ~61k coarse hole px) it would take half of a budget of a fifth of its
#: own whole-image time; there the onion peel starts, as without the wheel.
PM_START_BUDGET = 1 << 15
PM_START_PASSES = 1  # PatchMatch passes that find the sources of pypatchmatch's start
PM_START_ITERS = 1  # EM iterations on a level pypatchmatch filled (it has converged there)
PM_PEEL_PAIRS = 1 << 24  # onion peel: (hole pixel, source) pairs compared at most
PM_PEEL_CHUNK = 1 << 22  # onion peel: pairs compared at once
PM_MIN_SIDE = 16  # no level has a side shorter than this (unless the image has)
PM_WORK_PIXELS = 1 << 16  # finer levels with more targets are searched near the edge only
PM_BAND = 6  # how far from the hole's edge those levels search (px)
PM_FINE_RADIUS = 4  # and their random search radius (px)
PM_MARGIN = 8  # padding of a level's working copy: the longest propagation jump
PM_CHUNK = 1 << 16  # hole pixels per chunk of a vote
PM_CONTEXT = 3.0  # a small hole searches only this many hole sides around it ...
PM_CONTEXT_MIN = 64  # ... and at least this many px (object removal: nearby is alike)
#: Holes of at most this many pixels, thinner than ``2 * PM_PEEL_RADIUS`` from a known
#: pixel, go to pypatchmatch on windows where it loads (see infill_pypm and _patchmatch).
PYPM_MAX_HOLE = 1 << 16
#: PatchMatch passes of the polish that follows pypatchmatch (see _polish).
PYPM_POLISH_PASSES = 1


def infill(
    image: np.ndarray | Image.Image,
    mask: np.ndarray | Image.Image,
    method: str = "patchmatch",
    *,
    tile_size: int = 32,
    seed: int | None = None,
    color: Sequence[int] | str | None = None,
) -> np.ndarray:
    """Fill the hole (``mask > 0``) of ``image``; returns ``uint8`` RGB ``(H, W, 3)``.

    ``image``: ``uint8`` RGB/RGBA array (alpha is ignored: pass the hole as ``mask``)
    or anything :func:`paint_widgets.io.load_image` takes. ``mask``: bool or float
    paint mask of the same size (see :func:`masks.as_paint_mask`). ``color``: an RGB
    triple or a colour name / ``#rrggbb`` for ``method='color'`` (and the all-hole
    case). ``method``: one of :data:`METHODS`; ``auto`` is :func:`auto_method`'s
    choice. A mask without a hole returns a copy of the image.
    """
    if method not in METHODS:
        raise InvalidInputError(
            f"unknown infill method {method!r}; choose one of: {', '.join(METHODS)}"
        )
    tile_size = _check_int(tile_size, "tile_size", low=1)
    rng = np.random.default_rng(0 if seed is None else _check_int(seed, "seed", low=0))
    rgb_fill = _parse_color(color)
    rgb = np.ascontiguousarray(as_image_array(image)[..., :3])
    hole = as_paint_mask(mask, rgb.shape[:2]) > 0
    out = rgb.copy()
    if not hole.any():
        return out
    if hole.all():
        out[...] = rgb_fill or MID_GREY
        return out
    if method == "auto":
        method = auto_method(hole)
    known = (~hole).view(np.uint8)
    # what was under the hole must not matter (OpenCV's Telea peeks at it)
    src = cv2.bitwise_and(rgb, rgb, mask=known)
    fillers: dict[str, Callable[[], np.ndarray]] = {
        "patchmatch": lambda: _patchmatch(src, hole, rng),
        "telea": lambda: _telea(src, hole),
        "tile": lambda: _tile(src, hole, tile_size, rng),
        "color": lambda: _flat(src, rgb_fill or _mean_color(src, known)),
    }
    cv2.copyTo(np.ascontiguousarray(fillers[method]()), hole.view(np.uint8), out)
    return out


def auto_method(hole: np.ndarray) -> str:
    """What ``method='auto'`` uses for this bool hole: ``telea`` when no hole pixel is
    more than :data:`AUTO_THIN` px (chessboard) from a known one, else ``patchmatch``."""
    return "telea" if _hole_radius(hole) <= AUTO_THIN else "patchmatch"


# --- parameters -----------------------------------------------------------------


def _check_int(value: object, name: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InvalidInputError(f"{name} must be a whole number >= {low}, not {value!r}")
    return int(value)


def _parse_color(color: Sequence[int] | str | None) -> RGB | None:
    """``None``, a colour name / ``#rrggbb``, or three integers 0..255 -> an RGB triple."""
    if color is None:
        return None
    if isinstance(color, str):
        try:
            return ImageColor.getrgb(color)[:3]
        except ValueError:
            raise InvalidInputError(f"unknown colour {color!r}; use a name or #rrggbb") from None
    values = list(np.asarray(color).ravel()) if np.ndim(color) else []
    if len(values) != 3 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v <= 255
        for v in values
    ):
        raise InvalidInputError(f"colour must be three integers 0..255 (R, G, B), not {color!r}")
    return (int(values[0]), int(values[1]), int(values[2]))


# --- color, tile, telea ------------------------------------------------------------


def _mean_color(rgb: np.ndarray, known: np.ndarray) -> RGB:
    """Rounded per-channel mean of the pixels where ``known`` (uint8) is non-zero."""
    mean = cv2.mean(rgb, mask=known)
    return (round(mean[0]), round(mean[1]), round(mean[2]))


def _flat(rgb: np.ndarray, fill: RGB) -> np.ndarray:
    return np.full(rgb.shape, fill, dtype=np.uint8)


def _known_windows(known: np.ndarray, size: int) -> np.ndarray:
    """``(H-size+1, W-size+1)`` bool: the ``size`` x ``size`` window there is all known."""
    holes = cv2.integral((~known).astype(np.uint8))
    sums = holes[size:, size:] - holes[:-size, size:] - holes[size:, :-size] + holes[:-size, :-size]
    return sums == 0


def _tile(
    rgb: np.ndarray, hole: np.ndarray, tile_size: int, rng: np.random.Generator
) -> np.ndarray:
    """Cover the image with a grid of random fully known tiles (seeded).

    Tiles are taken at any position where a whole tile is known; when no tile of
    ``tile_size`` fits in the known area the size halves until one does (1 always fits).
    """
    h, w = hole.shape
    size = min(tile_size, h, w)
    starts = np.flatnonzero(_known_windows(~hole, size))
    while starts.size == 0:
        size = max(1, size // 2)
        starts = np.flatnonzero(_known_windows(~hole, size))
    grid_h, grid_w = -(-h // size), -(-w // size)
    picks = starts[rng.integers(0, starts.size, size=grid_h * grid_w)]
    top, left = np.divmod(picks.reshape(grid_h, grid_w), w - size + 1)
    return _copy_blocks(rgb, top, left, size)


def _copy_blocks(rgb: np.ndarray, top: np.ndarray, left: np.ndarray, size: int) -> np.ndarray:
    """Tile ``rgb``'s shape with ``size`` x ``size`` blocks; block (i, j) is the one of
    ``rgb`` whose top-left pixel is ``(top[i, j], left[i, j])`` (edge blocks are cropped)."""
    h, w = rgb.shape[:2]
    map_y = np.repeat(np.repeat(top, size, axis=0), size, axis=1)[:h, :w]
    map_x = np.repeat(np.repeat(left, size, axis=0), size, axis=1)[:h, :w]
    map_y = (map_y + (np.arange(h) % size)[:, None]).astype(np.float32)
    map_x = (map_x + (np.arange(w) % size)[None, :]).astype(np.float32)
    return cv2.remap(rgb, map_x, map_y, cv2.INTER_NEAREST)


def _telea(rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``cv2.inpaint`` (Telea); holes over :data:`TELEA_MAX_HOLE` pixels run downscaled."""
    factor = math.sqrt(int(hole.sum()) / TELEA_MAX_HOLE)
    if factor > 1.0:
        filled = _telea_downscaled(rgb, hole, factor)
        if filled is not None:
            return filled
    return cv2.inpaint(rgb, hole.astype(np.uint8), TELEA_RADIUS, cv2.INPAINT_TELEA)


def _telea_downscaled(rgb: np.ndarray, hole: np.ndarray, factor: float) -> np.ndarray | None:
    """Telea on a copy ``factor`` times smaller, upsampled; None if nothing known survives.

    A small pixel is known only if all of its area is (known-weighted area means).
    """
    h, w = hole.shape
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    known = (~hole).astype(np.float32)
    area = cv2.resize(known, size, interpolation=cv2.INTER_AREA)
    small_hole = area < 0.999
    if small_hole.all():
        return None
    total = cv2.resize(rgb * known[..., None], size, interpolation=cv2.INTER_AREA)
    mean = total / np.maximum(area, 1e-6)[..., None]
    small = np.clip(np.rint(mean), 0, 255).astype(np.uint8)
    filled = cv2.inpaint(small, small_hole.astype(np.uint8), TELEA_RADIUS, cv2.INPAINT_TELEA)
    return cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)


# --- patchmatch ----------------------------------------------------------------------

class _Level:
    """One pyramid level: image (float32), hole, known (both bool; neither = padding)."""

    def __init__(self, img: np.ndarray, hole: np.ndarray, known: np.ndarray) -> None:
        self.img = np.ascontiguousarray(img, dtype=np.float32)
        self.hole, self.known = hole, known
        self.h, self.w = hole.shape


def _downsample(level: _Level, f: int) -> _Level:
    """Block means of known pixels over ``f`` x ``f`` blocks (edge-padded to a multiple of f).

    A coarse pixel is hole if any of its block is, known only if all of it is. With
    an integer factor OpenCV's area resize is the exact block mean.
    """
    pad = ((0, -level.h % f), (0, -level.w % f))
    img = np.pad(level.img, (*pad, (0, 0)), mode="edge")
    hole = np.pad(level.hole, pad).astype(np.float32)
    known = np.pad(level.known, pad).astype(np.float32)
    size = (img.shape[1] // f, img.shape[0] // f)

    def area(a: np.ndarray) -> np.ndarray:
        return cv2.resize(a, size, interpolation=cv2.INTER_AREA)

    weight = area(known)
    known_mean = area(img * known[..., None]) / np.maximum(weight, 1e-12)[..., None]
    mean = np.where(weight[..., None] > 0, known_mean, area(img))
    return _Level(mean, area(hole) > 0, weight > 1.0 - 0.5 / (f * f))


def _eligible(level: _Level, r: int) -> np.ndarray:
    """Where a source patch may be centred: its whole ``2r+1`` square inside and known."""
    out = np.zeros((level.h, level.w), bool)
    if level.h > 2 * r and level.w > 2 * r:
        out[r : level.h - r, r : level.w - r] = _known_windows(level.known, 2 * r + 1)
    return out


def _hole_radius(hole: np.ndarray) -> float:
    """How thick the hole is: the largest chessboard distance from a hole pixel to a known one."""
    return float(cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_C, 3).max())


def _pyramid(full: _Level, r: int, max_hole: int) -> list[_Level]:
    """Full resolution first, then halvings while the hole is at least
    ``2 * PM_PEEL_RADIUS`` px thick or has more than ``max_hole`` pixels, the
    sides stay >= ``2 * PM_MIN_SIDE`` and the coarser level still has a known patch."""
    levels = [full]
    radius, holes = _hole_radius(full.hole), int(full.hole.sum())
    while (radius >= 2 * PM_PEEL_RADIUS or holes > max_hole) and min(
        levels[-1].h, levels[-1].w
    ) >= 2 * PM_MIN_SIDE:
        coarse = _downsample(levels[-1], 2)
        if not _eligible(coarse, r).any():
            break
        levels.append(coarse)
        radius, holes = radius / 2, int(coarse.hole.sum())
    return levels


def _pypm_start(level: _Level, r: int, rng: np.random.Generator) -> np.ndarray | None:
    """Fill the coarsest hole with pypatchmatch; returns each hole pixel's source.

    pypatchmatch's time grows with the pixels it fills, so it runs on the coarsest
    level only (at most :data:`PM_START_HOLE` hole pixels), where it picks which
    structures carry on into the hole better than :func:`_onion_peel` does; our EM
    then takes the fill up to full resolution (no upsampled pixels are pasted, so no
    block edges). The sources are found by :data:`PM_START_PASSES` PatchMatch passes
    over its fill. Same return as :func:`_onion_peel`; None where pypatchmatch fails.
    """
    missing = level.hole | ~level.known
    small = np.clip(np.rint(level.img), 0, 255).astype(np.uint8)
    small[missing] = 0
    try:
        filled = infill_pypm.inpaint(small, missing, int(rng.integers(0, 2**32)), banded=True)
    except RuntimeError:
        return None
    level.img[level.hole] = filled[level.hole]
    em = _EM(level, rng, coarsest=True)
    em.init_random()
    for _ in range(PM_START_PASSES):
        em.search()
    sy, sx = np.divmod(em.nnf[em.is_hole].astype(np.int64), em.wp)
    return np.stack([sy - em.m, sx - em.m], axis=1)


def _onion_peel(level: _Level, r: int, rng: np.random.Generator) -> np.ndarray:
    """Fill the coarsest hole from its edge inwards; returns each hole pixel's source.

    Layer by layer (by distance to the known area), every hole pixel takes the centre
    of the wholly known patch most like its own over the pixels known or filled so far
    (exact search through :data:`PM_PEEL_PAIRS` pixel-source pairs at most, in chunks
    of :data:`PM_PEEL_CHUNK`: the sources are a seeded sample when there are more).
    Structures that reach the hole's edge carry on into it, which the blurred start of
    a plain EM would lose. Returns
    ``(y, x)`` per hole pixel, in the row-major order of ``np.nonzero(level.hole)``.
    """
    sy, sx = np.nonzero(_eligible(level, r))
    n_hole = int(level.hole.sum())
    if sy.size * n_hole > PM_PEEL_PAIRS:
        keep = np.sort(rng.choice(sy.size, size=max(1, PM_PEEL_PAIRS // n_hole), replace=False))
        sy, sx = sy[keep], sx[keep]
    dy, dx = (a.ravel() for a in np.mgrid[-r : r + 1, -r : r + 1])
    src = level.img[sy[:, None] + dy, sx[:, None] + dx]  # (m, K, 3)
    src_sq = (src * src).sum(-1)  # (m, K)
    src = src.reshape(sy.size, -1)
    centre = level.img[sy, sx]
    layer = cv2.distanceTransform(level.hole.astype(np.uint8), cv2.DIST_C, 3)
    valid = ~level.hole
    img = level.img
    h, w = level.h, level.w
    found = np.zeros((h, w, 2), np.int64)
    for d in np.unique(layer[level.hole]):
        py, px = np.nonzero(level.hole & (layer == d))
        yy = np.clip(py[:, None] + dy, 0, h - 1)
        xx = np.clip(px[:, None] + dx, 0, w - 1)
        v = valid[yy, xx].astype(np.float32)  # (n, K)
        t = (img[yy, xx] * v[..., None]).reshape(py.size, -1)  # zero where not yet known
        best = np.empty(py.size, np.int64)
        step = max(1, PM_PEEL_CHUNK // sy.size)
        for a in range(0, py.size, step):
            # masked SSD = sum v*t^2 - 2 (v*t).s + v.s^2; the first term is the same for all s
            dist = v[a : a + step] @ src_sq.T - 2 * (t[a : a + step] @ src.T)
            best[a : a + step] = np.argmin(dist, axis=1)
        img[py, px] = centre[best]
        valid[py, px] = True
        found[py, px] = np.stack([sy[best], sx[best]], axis=1)
    return found[level.hole]


def _ssd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    diff = a - b
    return np.einsum("ij,ij->i", diff, diff)


class _EM:
    """PatchMatch and EM voting on one level (Wexler et al. 2007, Barnes et al. 2009).

    Works in flat indices of a copy of the level padded by :data:`PM_MARGIN` pixels
    (edge-replicated), so a patch or a propagation step never leaves the array.
    *Targets* are the pixels whose patch overlaps the hole (the hole and a ring of
    known pixels ``r`` wide around it); each has a source, the centre of a wholly
    known patch. The coarsest level and levels with at most :data:`PM_WORK_PIXELS`
    targets are searched in full; bigger ones, whose field comes from the coarser
    level, only within :data:`PM_BAND` px of the hole's edge, where the known pixels
    pin the fill down (inside, the upsampled field already copies coherent texture).
    ``edge_only`` refines near the edge at any size (above a pypatchmatch start, whose
    structure the full search would only trade for our coarser one).
    """

    def __init__(self, level: _Level, rng: np.random.Generator, *, coarsest: bool,
                 edge_only: bool = False) -> None:
        r = PM_PATCH // 2
        m = max(r, PM_MARGIN)
        self.level, self.rng, self.m = level, rng, m
        h, w = level.h, level.w
        self.wp = w + 2 * m
        self.padded = cv2.copyMakeBorder(level.img, m, m, m, m, cv2.BORDER_REPLICATE)
        self.flat = self.padded.reshape(-1, 3)
        eligible = np.zeros(self.padded.shape[:2], bool)
        eligible[m : m + h, m : m + w] = _eligible(level, r)
        self.eligible = eligible.ravel()
        self.pool = np.flatnonzero(self.eligible).astype(np.int32)
        hole8 = level.hole.astype(np.uint8)
        target = cv2.dilate(hole8, np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
        self.ty, self.tx = np.nonzero(target)
        self.t = ((self.ty + m) * self.wp + (self.tx + m)).astype(np.int32)
        n = self.t.size
        self.tidx = np.full(self.eligible.size, -1, np.int32)
        self.tidx[self.t] = np.arange(n, dtype=np.int32)
        self.is_hole = level.hole[self.ty, self.tx]
        self.holes = self.t[self.is_hole]
        dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
        self.offsets = [int(o) for o in (dy * self.wp + dx).ravel()]
        self.patch = np.array(self.offsets, np.int32)
        self.full_search = coarsest or (n <= PM_WORK_PIXELS and not edge_only)
        if self.full_search:
            self.searched = np.arange(n)
            self.radius = max(h, w) // 2
            self.jumps: tuple[int, ...] = (8, 4, 2, 1)
        else:
            edge = cv2.distanceTransform(hole8, cv2.DIST_L1, 3)[self.ty, self.tx]
            self.searched = np.flatnonzero(edge <= PM_BAND)
            self.radius = PM_FINE_RADIUS
            self.jumps = (2, 1)
        self.nnf = np.zeros(n, np.int32)
        self.dist = np.zeros(n, np.float32)

    # -- the field

    def _random(self, n: int) -> np.ndarray:
        return self.pool[self.rng.integers(0, self.pool.size, size=n)]

    def init_random(self) -> None:
        """Every target from a random source (the start of :func:`_polish`)."""
        self.nnf = self._random(self.t.size)

    def init_coarsest(self, sources: np.ndarray) -> None:
        """Hole targets from ``sources`` (``(y, x)`` per hole pixel, row-major), the ring at random."""
        self.nnf = self._random(self.t.size)
        self.nnf[self.is_hole] = (sources[:, 0] + self.m) * self.wp + sources[:, 1] + self.m

    def init_from(self, coarse: _EM) -> None:
        """Each target starts from twice its coarse pixel's source plus its offset in the
        block, and each hole pixel from its source's value (a copy: coherent where the
        field is)."""
        j = coarse.tidx[(self.ty // 2 + coarse.m) * coarse.wp + (self.tx // 2 + coarse.m)]
        sy, sx = np.divmod(coarse.nnf[np.maximum(j, 0)].astype(np.int64), coarse.wp)
        fy = np.clip(2 * (sy - coarse.m) + self.ty % 2 + self.m, 0, None)
        fx = np.clip(2 * (sx - coarse.m) + self.tx % 2 + self.m, 0, self.wp - 1)
        cand = np.clip(np.where(j >= 0, fy * self.wp + fx, 0), 0, self.eligible.size - 1)
        bad = ~self.eligible[cand]
        cand[bad] = self._random(int(bad.sum()))
        self.nnf = cand.astype(np.int32)
        self.flat[self.holes] = self.flat[self.nnf[self.is_hole]]
        self._refresh_padding()

    def _patches(self, centres: np.ndarray) -> np.ndarray:
        """``(len(centres), 3 * PM_PATCH**2)``: the patch around each flat index."""
        return np.take(self.flat, centres[:, None] + self.patch, axis=0).reshape(centres.size, -1)

    def search(self) -> None:
        """One PatchMatch pass over the searched targets on the current fill: jump-flood
        propagation in four directions, random search with halving radius (and one
        guess anywhere on fully searched levels)."""
        s = self.searched
        t = self.t[s]
        target = self._patches(t)
        self.dist[s] = self._distances(self.nnf[s], target)
        for jump in self.jumps:
            for e in (jump, -jump, jump * self.wp, -jump * self.wp):
                j = self.tidx[t + e]
                self._try(s, target, np.where(j >= 0, self.nnf[np.maximum(j, 0)] - e, 0))
        radius = self.radius
        while radius >= 1:
            jy, jx = self.rng.integers(-radius, radius + 1, size=(2, s.size))
            self._try(s, target, self.nnf[s] + jy * self.wp + jx)
            radius //= 2
        if self.full_search:
            self._try(s, target, self._random(s.size))

    def _distances(self, centres: np.ndarray, target: np.ndarray) -> np.ndarray:
        """SSD of the patch at each of ``centres`` to its row of ``target``, in row pieces
        side by side (:mod:`.threaded`): the bulk of a search."""
        parts = threaded.row_slices(centres.size)
        if len(parts) == 1:
            return _ssd(self._patches(centres), target)
        return np.concatenate(threaded.map_pieces(
            lambda p: _ssd(self._patches(centres[p]), target[p]), parts))

    def _try(self, s: np.ndarray, target: np.ndarray, cand: np.ndarray) -> None:
        cand = np.clip(cand, 0, self.eligible.size - 1)
        ok = self.eligible[cand]
        cand = np.where(ok, cand, self.pool[0])
        d = self._distances(cand, target)
        better = ok & (d < self.dist[s])
        k = s[better]
        self.nnf[k], self.dist[k] = cand[better], d[better]

    # -- the fill

    def _votes(self, holes: np.ndarray, o: int) -> tuple[np.ndarray, np.ndarray]:
        """What the target at ``-o`` from each hole pixel says of it, and whether there is one."""
        j = self.tidx[holes - o]
        return np.take(self.flat, self.nnf[np.maximum(j, 0)] + o, axis=0), j >= 0

    def _chunks(self) -> list[slice]:
        """The hole pixels in pieces of at most :data:`PM_CHUNK`, at least one per thread."""
        n = self.holes.size
        size = max(1, min(PM_CHUNK, -(-n // threaded.threads_here())))
        return [slice(a, a + size) for a in range(0, n, size)]

    def vote(self) -> None:
        """Each hole pixel becomes the mean of what the target patches over it say
        (votes come from sources, wholly known patches, so the pieces are independent)."""

        def mean(piece: slice) -> np.ndarray:
            holes = self.holes[piece]
            acc = np.zeros((holes.size, 3), np.float32)
            count = np.zeros(holes.size, np.float32)
            for o in self.offsets:
                votes, ok = self._votes(holes, o)
                acc += votes * ok[:, None]
                count += ok
            return acc / count[:, None]

        pieces = self._chunks()
        for piece, values in zip(pieces, threaded.map_pieces(mean, pieces), strict=True):
            self.flat[self.holes[piece]] = values
        self._refresh_padding()

    def _refresh_padding(self) -> None:
        p, m = self.padded, self.m
        p[:m] = p[m]
        p[-m:] = p[-m - 1]
        p[:, :m] = p[:, m : m + 1]
        p[:, -m:] = p[:, -m - 1 : -m]

    def result(self) -> np.ndarray:
        """``(hole pixels, 3)``: of each hole pixel's votes, the one nearest their mean.

        As smooth as the mean where the overlapping patches disagree, but sharp (no
        blur) and every value a known pixel's; where they agree it is their value
        (found from the field alone, without reading a colour).
        """
        planes = [np.ascontiguousarray(self.flat[:, c]) for c in range(3)]

        def nearest(piece: slice) -> np.ndarray:
            holes = self.holes[piece]
            n = holes.size
            out = np.empty((n, 3), np.float32)
            src = np.empty((len(self.offsets), n), np.int32)  # where each vote comes from
            ok = np.empty((len(self.offsets), n), bool)
            for k, o in enumerate(self.offsets):
                j = self.tidx[holes - o]
                src[k], ok[k] = self.nnf[np.maximum(j, 0)] + o, j >= 0
            centre = src[len(self.offsets) // 2]  # the pixel's own target always votes
            mixed = np.flatnonzero(((src != centre) & ok).any(0))
            for c, plane in enumerate(planes):
                out[:, c] = plane[centre]
            if mixed.size == 0:
                return out
            src, okf = src[:, mixed], ok[:, mixed].astype(np.float32)
            count = okf.sum(0)
            votes = [plane[src] for plane in planes]  # 3 x (K, m)
            d = np.zeros(src.shape, np.float32)
            for v in votes:
                e = v - (v * okf).sum(0) / count
                d += e * e
            d[okf == 0] = np.inf
            best, cols = d.argmin(0), np.arange(mixed.size)
            for c, v in enumerate(votes):
                out[mixed, c] = v[best, cols]
            return out

        pieces = self._chunks()
        if not pieces:
            return np.empty((0, 3), np.float32)
        return np.concatenate(threaded.map_pieces(nearest, pieces))


def _patchmatch(rgb: np.ndarray, hole: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Where pypatchmatch loads: small thin holes (at most :data:`PYPM_MAX_HOLE` px, all
    within ``2 * PM_PEEL_RADIUS`` px of a known one) on its windows, anything thicker or
    bigger by ours from its start on a coarse level; ours alone where it does not load.

    Why thickness: pypatchmatch's time per hole pixel is ~40 us at full size, so a thick
    hole (a 128 px square) is 4x cheaper filled at half size and refined near its edge
    by ours, and scores better there (benchmarks/RESULTS.md). The big array steps run on
    :mod:`.threaded`'s pool (the same pixels on any number of cores).
    """
    thin = int(hole.sum()) <= PYPM_MAX_HOLE and _hole_radius(hole) < 2 * PM_PEEL_RADIUS
    with threaded.workers():
        if thin and infill_pypm.available():
            # a copy of the generator: a fallback to ours gives what forcing ours gives
            out = _pypatchmatch(rgb, hole, copy.deepcopy(rng))
            if out is not None:
                return out
        return _own_patchmatch(rgb, hole, rng)


def _pypatchmatch(rgb: np.ndarray, hole: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """Each window of :func:`infill_pypm.windows` filled by pypatchmatch, then polished.

    None (use ours) where a window holds no wholly known ``PM_PATCH``² patch to polish
    from (pypatchmatch's raw fill is not trusted there) or the library fails.
    """
    r = PM_PATCH // 2
    seed = int(rng.integers(0, 2**32))
    wins = infill_pypm.windows(hole)
    if not all(_eligible(_Level(rgb[w], hole[w], ~hole[w]), r).any() for w in wins):
        return None
    try:
        fills = infill_pypm.inpaint_each([(rgb[w], hole[w]) for w in wins], seed)
    except RuntimeError:
        return None
    out = rgb.copy()
    for win, filled in zip(wins, fills, strict=True):
        out[win] = _polish(filled, hole[win], rng)
    return out


def _polish(fill: np.ndarray, hole: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Re-copy every hole pixel of ``fill`` from known ones, guided by ``fill`` itself.

    :data:`PYPM_POLISH_PASSES` PatchMatch passes from a random field over the
    ``PM_PATCH``² patches of ``fill`` that overlap the hole, then each hole pixel takes
    its vote nearest their mean (:meth:`_EM.result`). Keeps pypatchmatch's structure,
    removes the out-of-gamut pixels it leaves on sharp textures, and makes every value
    a known pixel's. Needs a wholly known patch in ``fill``.
    """
    em = _EM(_Level(fill, hole, ~hole), rng, coarsest=True)
    em.init_random()
    for _ in range(PYPM_POLISH_PASSES):
        em.search()
    out = fill.copy()
    out.reshape(-1, 3)[np.flatnonzero(hole)] = np.rint(em.result()).astype(np.uint8)
    return out


def _own_patchmatch(rgb: np.ndarray, hole: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multi-scale PatchMatch infill with EM voting (numpy and OpenCV only).

    0. A hole much smaller than the image is filled within a crop around it, padded
       by :data:`PM_CONTEXT` times its size (at least :data:`PM_CONTEXT_MIN` px).
    1. A pyramid of halvings (known-weighted block means; a coarse pixel is hole if any
       of its block is) down to where the hole is about :data:`PM_PEEL_RADIUS` px
       thick and has at most :data:`PM_PEEL_HOLE` pixels, or :data:`PM_START_HOLE`
       where pypatchmatch loads (:func:`_pyramid`).
    2. The coarsest hole is filled by pypatchmatch where it loads (:func:`_pypm_start`),
       else (or where it fails) from its edge inwards (:func:`_onion_peel`).
    3. Coarse to fine, each level starts from the coarser field (upsampled) and runs
       :data:`PM_ITERS` EM iterations (one on levels refined only near the edge, see
       :class:`_EM`; :data:`PM_START_ITERS` on the level pypatchmatch filled, and after
       its start every finer level is refined near the edge only):
       PatchMatch over ``PM_PATCH``² patches, then every hole pixel becomes the mean
       of the overlapping patches' votes.
    4. At full resolution each hole pixel takes its vote nearest that mean: sharp, no
       block edges, every value copied from a known pixel.
    Falls back to Telea when no ``PM_PATCH``² patch is wholly known.
    """
    r = PM_PATCH // 2
    ys, xs = np.nonzero(hole)
    pad = max(PM_CONTEXT_MIN, math.ceil(PM_CONTEXT * max(np.ptp(ys), np.ptp(xs)) + 1))
    top, left = max(0, int(ys.min()) - pad), max(0, int(xs.min()) - pad)
    crop = np.s_[top : int(ys.max()) + pad + 1, left : int(xs.max()) + pad + 1]
    if hole[crop].size < hole.size and _eligible(_Level(rgb[crop], hole[crop], ~hole[crop]), r).any():
        out = rgb.copy()
        out[crop] = _own_patchmatch(rgb[crop], hole[crop], rng)
        return out
    full = _Level(rgb.astype(np.float32), hole, ~hole)
    if not _eligible(full, r).any():
        return _telea(rgb, hole)
    start = infill_pypm.available()
    levels = _pyramid(full, r, PM_START_HOLE if start else PM_PEEL_HOLE)
    if start and int(levels[-1].hole.sum()) > PM_START_BUDGET:
        start = False
        levels = _pyramid(full, r, PM_PEEL_HOLE)
    # on a copy of the generator: where it fails, the onion peel runs as without it
    sources = _pypm_start(levels[-1], r, copy.deepcopy(rng)) if start else None
    started = sources is not None
    if sources is None:
        sources = _onion_peel(levels[-1], r, rng)
    em: _EM | None = None
    for level in reversed(levels):
        fine = _EM(level, rng, coarsest=em is None, edge_only=started)
        iters = PM_ITERS if fine.full_search else 1
        if em is None:
            fine.init_coarsest(sources)
            iters = PM_START_ITERS if started else iters
        else:
            fine.init_from(em)
        em = fine
        for i in range(iters):
            if i:
                em.vote()
            em.search()
    assert em is not None
    out = rgb.copy()
    out.reshape(-1, 3)[np.flatnonzero(hole)] = np.rint(em.result()).astype(np.uint8)
    return out
