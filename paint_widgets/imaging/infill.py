"""Infill: give the holes of an image plausible pixels before (or instead of) generation.

Outpainting starts from a canvas whose new area is empty; diffusion at strength
0.9 keeps some of what is there, so the hole is first filled from the rest of the
picture. Also the no-weights object-removal engine. Methods (``--infill_method``):

- ``patchmatch``: our own vectorised numpy PatchMatch (Barnes et al. 2009, with
  Wexler-style EM voting on a pyramid), see :func:`_patchmatch`. The prebuilt
  ``pypatchmatch`` wheel (InvokeAI's) loads offline here but takes ~6 s at 512x512
  and ~33 s at 2048x2048 with a 128-px border hole, and is not a dependency; this
  one takes a fraction of a second (``benchmarks/bench_imaging_outpaint.py``).
- ``telea``: OpenCV's fast-marching inpaint; big holes are filled on a downscaled
  copy and upsampled, to stay fast (the result is smooth anyway).
- ``tile``: random opaque ``tile_size`` tiles copied from the unmasked area.
- ``color``: one flat colour, given or the mean of the unmasked pixels.

Every method fills every hole pixel (``mask > 0``) and returns every other pixel
bit-identical; what was under the hole does not affect the result. Results are
deterministic: ``seed=None`` means seed 0.
When nothing is known (the whole mask is hole) there is nothing to copy from: every
method returns flat ``color``, or mid grey ``(128, 128, 128)`` without one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np
from PIL import Image, ImageColor

from ..errors import InvalidInputError
from ..requests import INFILL_METHODS
from .masks import as_paint_mask
from .outpaint_geometry import as_image_array

RGB = tuple[int, int, int]

#: Fill used when the mask leaves no known pixel to copy from.
MID_GREY: RGB = (128, 128, 128)
#: Telea on more hole pixels than this runs on a downscaled copy.
TELEA_MAX_HOLE = 1 << 18
TELEA_RADIUS = 3

# PatchMatch tuning: the search runs on a copy of about PM_WORK_PIXELS pixels and
# the result is copied back from the full-resolution picture block by block.
PM_WORK_PIXELS = 160 * 160
PM_MIN_SIDE = 24
PM_PATCH = 5
PM_ITERS = 4


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
    case). A mask without a hole returns a copy of the image.
    """
    if method not in INFILL_METHODS:
        raise InvalidInputError(
            f"unknown infill method {method!r}; choose one of: {', '.join(INFILL_METHODS)}"
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
        # contiguous, so that img.reshape(-1, 3) is a view the vote can write through
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
    """Where a source patch may be centred: its whole patch known, else just its centre."""
    inner = np.zeros_like(level.known)
    inner[r : level.h - r, r : level.w - r] = True
    full = np.zeros_like(level.known)
    if level.h > 2 * r and level.w > 2 * r:
        full[r : level.h - r, r : level.w - r] = _known_windows(level.known, 2 * r + 1)
    for candidate in (full, level.known & inner, level.known):
        if candidate.any():
            return candidate
    return candidate


def _descriptors(img: np.ndarray, r: int) -> np.ndarray:
    """``(H*W, 3*p*p)`` float32: every pixel's patch (edge-padded), one row each."""
    padded = np.pad(img, ((r, r), (r, r), (0, 0)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (2 * r + 1, 2 * r + 1), axis=(0, 1))
    return windows.reshape(img.shape[0] * img.shape[1], -1).astype(np.float32)


class _Field:
    """The nearest-neighbour field of one level's hole pixels (flat source indices)."""

    def __init__(self, level: _Level, nnf: np.ndarray | None, rng: np.random.Generator) -> None:
        self.level, self.rng, self.r = level, rng, PM_PATCH // 2
        self.eligible = _eligible(level, self.r).ravel()
        self.pool = np.flatnonzero(self.eligible)
        self.idx = np.flatnonzero(level.hole)
        self.hy, self.hx = np.divmod(self.idx, level.w)
        self.nnf = self._random(self.idx.size) if nnf is None else nnf
        bad = ~self.eligible[self.nnf]
        self.nnf[bad] = self._random(int(bad.sum()))
        self.dist = np.zeros(self.idx.size, dtype=np.float32)

    def _random(self, n: int) -> np.ndarray:
        return self.pool[self.rng.integers(0, self.pool.size, size=n)]

    def full(self) -> np.ndarray:
        """``(H*W,)`` source index of every pixel: identity outside the hole."""
        out = np.arange(self.level.h * self.level.w)
        out[self.idx] = self.nnf
        return out

    def iterate(self) -> None:
        """One PatchMatch pass (jump-flood propagation + random search), then a vote."""
        desc = _descriptors(self.level.img, self.r)
        target = desc[self.idx]
        self.dist = _ssd(desc[self.nnf], target)
        self._propagate(desc, target)
        self._search(desc, target)
        self._vote()

    def _try(self, desc: np.ndarray, target: np.ndarray, cy: np.ndarray, cx: np.ndarray) -> None:
        h, w = self.level.h, self.level.w
        ok = (cy >= 0) & (cy < h) & (cx >= 0) & (cx < w)
        cand = np.where(ok, cy * w + cx, 0)
        ok &= self.eligible[cand]
        d = _ssd(desc[cand], target)
        better = ok & (d < self.dist)
        self.nnf[better], self.dist[better] = cand[better], d[better]

    def _propagate(self, desc: np.ndarray, target: np.ndarray) -> None:
        h, w = self.level.h, self.level.w
        for jump in (4, 2, 1):
            for ey, ex in ((0, jump), (0, -jump), (jump, 0), (-jump, 0)):
                ny, nx = np.clip(self.hy + ey, 0, h - 1), np.clip(self.hx + ex, 0, w - 1)
                sy, sx = np.divmod(self.full()[ny * w + nx], w)
                self._try(desc, target, sy - (ny - self.hy), sx - (nx - self.hx))

    def _search(self, desc: np.ndarray, target: np.ndarray) -> None:
        w, n = self.level.w, self.idx.size
        radius = max(self.level.h, w) // 2
        while radius >= 1:
            sy, sx = np.divmod(self.nnf, w)
            jitter = self.rng.integers(-radius, radius + 1, size=(2, n))
            self._try(desc, target, sy + jitter[0], sx + jitter[1])
            radius //= 2
        sy, sx = np.divmod(self._random(n), w)
        self._try(desc, target, sy, sx)

    def _vote(self) -> None:
        """Each hole pixel becomes the mean of what the hole-centred patches over it say."""
        level, r = self.level, self.r
        h, w = level.h, level.w
        flat = level.img.reshape(-1, 3)
        src_y, src_x = np.divmod(self.full(), w)
        hole = level.hole.ravel()
        acc = np.zeros((self.idx.size, 3), dtype=np.float32)
        count = np.zeros(self.idx.size, dtype=np.float32)
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                cy, cx = self.hy - dy, self.hx - dx
                ok = (cy >= 0) & (cy < h) & (cx >= 0) & (cx < w)
                c = np.where(ok, cy * w + cx, 0)
                ok &= hole[c]
                sy = np.clip(src_y[c] + dy, 0, h - 1)
                sx = np.clip(src_x[c] + dx, 0, w - 1)
                acc += flat[sy * w + sx] * ok[:, None]
                count += ok
        flat[self.idx] = acc / count[:, None]


def _ssd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    diff = a - b
    return np.einsum("ij,ij->i", diff, diff)


def _pyramid(work: _Level) -> list[_Level]:
    """Working level first, then halvings while the sides stay >= PM_MIN_SIDE and known."""
    levels = [work]
    while min(levels[-1].h, levels[-1].w) >= 2 * PM_MIN_SIDE:
        coarse = _downsample(levels[-1], 2)
        if not coarse.known.any():
            break
        levels.append(coarse)
    return levels


def _init_coarsest(level: _Level) -> None:
    """Start the coarsest hole from Telea, so the first patch distances mean something."""
    img = np.clip(np.rint(level.img), 0, 255).astype(np.uint8)
    filled = cv2.inpaint(img, level.hole.astype(np.uint8), TELEA_RADIUS, cv2.INPAINT_TELEA)
    level.img[level.hole] = filled[level.hole]


def _upsample_nnf(coarse: _Field, fine: _Level) -> np.ndarray:
    """Each fine hole pixel starts from 2x its coarse pixel's source (+ its offset in the block)."""
    cw = coarse.level.w
    hy, hx = np.divmod(np.flatnonzero(fine.hole), fine.w)
    sy, sx = np.divmod(coarse.full()[(hy // 2) * cw + hx // 2], cw)
    fy = np.clip(2 * sy + hy % 2, 0, fine.h - 1)
    fx = np.clip(2 * sx + hx % 2, 0, fine.w - 1)
    return fy * fine.w + fx


def _patchmatch(rgb: np.ndarray, hole: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Vectorised PatchMatch infill (numpy only).

    1. Downscale by an integer factor ``s`` to about :data:`PM_WORK_PIXELS` pixels
       (known-weighted block means; a block is hole if any pixel in it is).
    2. Build a pyramid of halvings; start the coarsest hole from Telea.
    3. At each level, coarse to fine: :data:`PM_ITERS` passes of PatchMatch over
       5x5 patch descriptors (jump-flood propagation at 4, 2, 1 px in four
       directions, random search with halving radius, one global random guess)
       each followed by an EM vote; the field is upsampled to the next level.
    4. Copy every full-resolution hole pixel from the full-resolution picture through
       the working level's field, ``s`` x ``s`` blocks at a time, so the texture is
       sharp. Sources are fully known blocks, so only known pixels are copied.
    Falls back to Telea if the working level has no fully known block.
    """
    h, w = hole.shape
    s = max(1, math.ceil(math.sqrt(h * w / PM_WORK_PIXELS)))
    full = _Level(rgb.astype(np.float32), hole, ~hole)
    work = _downsample(full, s) if s > 1 else full
    if not work.known.any():
        return _telea(rgb, hole)
    levels = _pyramid(work)
    _init_coarsest(levels[-1])
    field: _Field | None = None
    for level in reversed(levels):
        field = _Field(level, None if field is None else _upsample_nnf(field, level), rng)
        if level is not levels[-1]:
            flat = level.img.reshape(-1, 3)
            flat[field.idx] = flat[field.nnf]
        for _ in range(PM_ITERS):
            field.iterate()
    assert field is not None
    src_y, src_x = np.divmod(field.full().reshape(work.h, work.w), work.w)
    return _copy_blocks(rgb, src_y * s, src_x * s, s)
