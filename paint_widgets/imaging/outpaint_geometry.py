"""Outcrop and outpaint geometry: where the picture goes and which pixels get painted.

Pure numpy. Every function returns a canvas (``uint8`` RGB) and a paint mask
(``float32``, ``1.0 = paint``); generation, infill and the seam pass work on those.

- **Outcrop** (``!fix img --outcrop top 128 right 64``) grows the canvas. Each
  amount is rounded *up* to a multiple of 64 so the canvas stays on the latent grid.
- **Outpaint** (``-D top 64``) keeps the canvas size and shifts the picture away
  from the direction; the strip it leaves behind is painted and the opposite strip
  falls off. No rounding (the size does not change).
- **Transparent borders** (an RGBA ``-I``): the paint mask is just the alpha.
"""

from __future__ import annotations

import operator

import numpy as np
from PIL import Image

from ..errors import InvalidInputError
from ..io import MAX_PIXELS, load_image
from ..requests import DIRECTIONS
from .box import Box
from .masks import mask_from_alpha

#: Outcrop amounts are rounded up to a multiple of this (the latent grid x 8).
GRID = 64


def as_image_array(image: np.ndarray | Image.Image, *, what: str = "image") -> np.ndarray:
    """``image`` as a ``uint8`` ``(H, W, 3|4)`` array; anything else goes through ``io.load_image``."""
    if (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] in (3, 4)
    ):
        return image
    return np.asarray(load_image(image, what=what))


def _as_int(value: object, name: str) -> int:
    if isinstance(value, bool):
        raise InvalidInputError(f"{name} must be a whole number of pixels, not {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidInputError(f"{name} must be a whole number of pixels, not {value!r}") from None


def round_up_64(px: int) -> int:
    """Round a margin up to the next multiple of 64 (0 stays 0, 100 -> 128, 64 -> 64)."""
    px = _as_int(px, "outcrop amount")
    if px < 0:
        raise InvalidInputError(f"outcrop amount must be 0 or more pixels, not {px}")
    return -(-px // GRID) * GRID


def _paint_from_alpha(image: np.ndarray) -> np.ndarray:
    """Paint mask of the picture itself: its transparency (zeros when it has no alpha)."""
    return mask_from_alpha(image).astype(np.float32, copy=False)


def outcrop_canvas(
    image: np.ndarray | Image.Image,
    top: int = 0,
    right: int = 0,
    bottom: int = 0,
    left: int = 0,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Grow the canvas by the margins (each rounded up to 64) for an outcrop.

    Returns ``(canvas_rgb, paint_mask, (y, x))``: the picture's RGB sits unchanged at
    offset ``(y, x) = (top, left)`` (rounded); the new margins are black in
    ``canvas_rgb`` (infill them before generating) and 1.0 in ``paint_mask``. If the
    picture has alpha, its transparency is painted too (``1 - alpha/255``).
    Example: 512x512 with top 128, right 64, bottom 64 -> 576 wide x 704 high.
    """
    arr = as_image_array(image)
    t, r, b, lft = (round_up_64(v) for v in (top, right, bottom, left))
    h, w = arr.shape[:2]
    new_h, new_w = h + t + b, w + lft + r
    if new_h * new_w > MAX_PIXELS:
        raise InvalidInputError(
            f"outcrop would make a {new_w}x{new_h} canvas, over the {MAX_PIXELS / 1e6:.0f} Mpx "
            "limit; extend by less, or in several steps on a smaller image"
        )
    canvas = np.zeros((new_h, new_w, 3), dtype=np.uint8)
    canvas[t : t + h, lft : lft + w] = arr[..., :3]
    paint = np.ones((new_h, new_w), dtype=np.float32)
    paint[t : t + h, lft : lft + w] = _paint_from_alpha(arr)
    return canvas, paint, (t, lft)


def _shift_pixels(direction: str, pixels: int | None, h: int, w: int) -> int:
    """Validated shift for :func:`outpaint_canvas` (default: half the image along the axis)."""
    if direction not in DIRECTIONS:
        raise InvalidInputError(
            f"unknown outpaint direction {direction!r}; choose one of: {', '.join(DIRECTIONS)}"
        )
    size = h if direction in ("top", "bottom") else w
    axis = "height" if direction in ("top", "bottom") else "width"
    px = size // 2 if pixels is None else _as_int(pixels, "outpaint pixels")
    if px <= 0 or px >= size:
        raise InvalidInputError(
            f"outpaint {direction} needs 1 to {size - 1} pixels (the image {axis} is {size}), "
            f"not {px}"
        )
    return px


def outpaint_canvas(
    image: np.ndarray | Image.Image,
    direction: str,
    pixels: int | None = None,
) -> tuple[np.ndarray, np.ndarray, Box]:
    """Shift the picture away from ``direction`` by ``pixels`` on a same-size canvas.

    ``direction='top', pixels=64``: the picture moves down 64 rows, the top 64 rows
    are new (black, paint 1.0) and the bottom 64 rows of the original fall off.
    ``pixels`` defaults to half the image height (top/bottom) or width (left/right),
    as InvokeAI's ``-D`` does. Returns ``(canvas_rgb, paint_mask, kept_region)``;
    ``kept_region`` is the :class:`Box` of canvas pixels that hold the original
    (transparent ones included: those are painted too, as in :func:`outcrop_canvas`).
    """
    arr = as_image_array(image)
    h, w = arr.shape[:2]
    px = _shift_pixels(direction, pixels, h, w)
    dy = {"top": px, "bottom": -px}.get(direction, 0)
    dx = {"left": px, "right": -px}.get(direction, 0)
    dst = Box(max(dy, 0), max(dx, 0), h + min(dy, 0), w + min(dx, 0))
    src = (slice(dst.top - dy, dst.bottom - dy), slice(dst.left - dx, dst.right - dx))
    canvas = np.zeros((h, w, 3), dtype=np.uint8)
    canvas[dst.top : dst.bottom, dst.left : dst.right] = arr[src][..., :3]
    paint = np.ones((h, w), dtype=np.float32)
    paint[dst.top : dst.bottom, dst.left : dst.right] = _paint_from_alpha(arr)[src]
    return canvas, paint, dst


def transparent_border_mask(rgba: np.ndarray) -> np.ndarray:
    """Paint mask of an ``-I`` image with transparent borders: ``1 - alpha/255``.

    An image without alpha gives all zeros (nothing to paint).
    """
    return _paint_from_alpha(np.asarray(rgba))


def is_outpainting(rgba: np.ndarray) -> bool:
    """True if a fully transparent pixel touches the image border.

    That is what makes an ``-I`` image an outpaint rather than an inpaint: the
    transparency reaches outside the picture. (InvokeAI itself switched to its
    infill path on *any* transparency; we use the narrower rule to pick defaults
    such as infill and the seam pass, and paint every transparent pixel either way.)
    """
    arr = np.asarray(rgba)
    if arr.ndim != 3 or arr.shape[2] != 4 or arr.size == 0:
        return False
    alpha = arr[..., 3]
    edges = (alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1])
    return bool(any((edge == 0).any() for edge in edges))
